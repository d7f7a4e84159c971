"""Encoders lose information: a tiny CLIP, trained in seconds, and attempts to run it backwards.

Taught by the chapter "CLIP and inverse problems". CLIP maps an image and its
caption to nearby points of one embedding space. Its image encoder squeezes
thousands of pixel values into a few numbers, so it has no inverse: many
images share one embedding. This module makes that concrete at a size that
trains on a laptop CPU:

- :class:`MiniCLIP` and :func:`train_miniclip` -- a small image encoder and
  text encoder trained with CLIP's symmetric contrastive loss on
  :func:`lessonlib.data.shapes_dataset`;
- :func:`retrieval_accuracy` -- zero-shot: pick each image's caption among all
  possible captions;
- :func:`invert` -- gradient descent on pixels until the embedding matches;
- :func:`interrogate` -- what the "CLIP interrogator" does: score every caption
  built from word lists and keep the best. It retrieves; it does not invert.
"""

from __future__ import annotations

import itertools
import math
import time

import torch
from torch import nn
from torch.nn import functional as F

from .data import COLOURS, SHAPES, SIZES, shapes_dataset

PAD, UNK = "<pad>", "<unk>"


class Tokenizer:
    """Words to integer ids; words it has not seen become ``<unk>``."""

    def __init__(self, words):
        self.vocab = [PAD, UNK] + sorted(set(words) - {PAD, UNK})
        self.index = {w: i for i, w in enumerate(self.vocab)}

    def __call__(self, captions: list[str]) -> torch.Tensor:
        if isinstance(captions, str) or not all(isinstance(c, str) for c in captions):
            raise ValueError("captions must be a list of strings")
        if not captions:
            raise ValueError("captions is empty")
        ids = [[self.index.get(w, 1) for w in c.lower().replace(",", " ").split()] for c in captions]
        width = max(1, max(len(i) for i in ids))
        return torch.tensor([i + [0] * (width - len(i)) for i in ids], dtype=torch.long)


def caption_words() -> list[str]:
    """Every word a caption can use: "a", then the sizes, colours and shapes (the tokenizer's vocabulary)."""
    return ["a", *SIZES, *COLOURS, *SHAPES]


def all_captions() -> list[str]:
    """Every caption the shapes data set can have: "a {size} {colour} {shape}"."""
    return [f"a {s} {c} {sh}" for s, c, sh in itertools.product(SIZES, COLOURS, SHAPES)]


class MiniCLIP(nn.Module):
    """A small CLIP: a CNN for images, averaged word embeddings for text, one shared space.

    Parameters
    ----------
    dim : int, default 32
        Size of the shared embedding space.
    image_size : int, default 32
    """

    def __init__(self, dim: int = 32, image_size: int = 32):
        super().__init__()
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 2:
            raise ValueError(f"dim must be an int >= 2, got {dim!r}")
        self.tokenizer = Tokenizer(caption_words())
        self.image_size = image_size
        self.image_encoder = nn.Sequential(
            nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, dim),
        )
        self.word_embedding = nn.Embedding(len(self.tokenizer.vocab), 64, padding_idx=0)
        self.text_projection = nn.Sequential(nn.ReLU(), nn.Linear(64, dim))
        self.logit_scale = nn.Parameter(torch.tensor(math.log(10.0)))  # learnt temperature

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """Unit-length embeddings, shape (n, dim), of images of shape (n, 3, H, W)."""
        if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must have shape (n, 3, H, W), got {tuple(getattr(images, 'shape', ()))}")
        return F.normalize(self.image_encoder(images), dim=-1)

    def encode_text(self, captions: list[str]) -> torch.Tensor:
        """Unit-length embeddings, shape (n, dim), of a list of captions."""
        ids = self.tokenizer(captions)
        emb = self.word_embedding(ids)
        mask = (ids > 0).unsqueeze(-1).float()
        pooled = (emb * mask).sum(1) / mask.sum(1).clamp_min(1)  # mean over the real words
        return F.normalize(self.text_projection(pooled), dim=-1)


def clip_loss(image_emb: torch.Tensor, text_emb: torch.Tensor, logit_scale: torch.Tensor,
              same: torch.Tensor | None = None) -> torch.Tensor:
    """CLIP's symmetric contrastive (InfoNCE) loss: each image should pick its own caption, and vice versa.

    ``same``, an (n, n) boolean matrix, marks pairs with identical captions:
    those count as correct for each other (a small data set repeats captions).
    """
    if image_emb.shape != text_emb.shape or image_emb.ndim != 2:
        raise ValueError(f"embeddings must both be (n, dim), got {tuple(image_emb.shape)} and {tuple(text_emb.shape)}")
    n = len(image_emb)
    if same is None:
        same = torch.eye(n, dtype=torch.bool)
    if same.shape != (n, n):
        raise ValueError(f"same must be ({n}, {n}), got {tuple(same.shape)}")
    logits = logit_scale.exp() * image_emb @ text_emb.T  # (n, n) similarities
    target = same.float() / same.float().sum(1, keepdim=True)  # spread over equal captions
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target.T / target.T.sum(1, keepdim=True))) / 2


def train_miniclip(n_train: int = 4000, *, epochs: int = 10, bs: int = 100, dim: int = 32,
                   lr: float = 3e-3, seed: int = 0):
    """Train a :class:`MiniCLIP` on the shapes data set.

    Returns
    -------
    model : MiniCLIP
        In eval mode.
    history : list of float
        The loss after every batch.
    """
    for name, v, low in (("n_train", n_train, 2), ("epochs", epochs, 1), ("bs", bs, 2)):
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            raise ValueError(f"{name} must be an int >= {low}, got {v!r}")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr!r}")
    torch.manual_seed(seed)
    images, captions, _ = shapes_dataset(n_train, seed=seed)
    model = MiniCLIP(dim=dim)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    history = []
    model.train()
    for _ in range(epochs):
        order = torch.randperm(n_train)
        for i in range(0, n_train - bs + 1, bs):
            idx = order[i : i + bs]
            caps = [captions[j] for j in idx.tolist()]
            same = torch.tensor([[a == b for b in caps] for a in caps])
            loss = clip_loss(model.encode_image(images[idx]), model.encode_text(caps), model.logit_scale, same)
            opt.zero_grad()
            loss.backward()
            opt.step()
            history.append(loss.item())
    return model.eval(), history


@torch.no_grad()
def retrieval_accuracy(model: MiniCLIP, images: torch.Tensor, captions: list[str]) -> float:
    """Zero-shot accuracy: how often an image's most similar caption, among all 24, is its own."""
    if len(images) != len(captions):
        raise ValueError(f"{len(images)} images but {len(captions)} captions")
    candidates = all_captions()
    sims = model.encode_image(images) @ model.encode_text(candidates).T
    picked = [candidates[i] for i in sims.argmax(1).tolist()]
    return sum(p == c for p, c in zip(picked, captions)) / len(captions)


def _tv(x: torch.Tensor) -> torch.Tensor:
    """Total variation: how much neighbouring pixels differ (small for flat, clean images)."""
    return (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean()


def invert(encoder, target: torch.Tensor, *, steps: int = 300, lr: float = 0.1, init: torch.Tensor,
           prior: float | None = None, original: torch.Tensor | None = None):
    """Find an image whose embedding matches ``target``, by gradient descent on its pixels.

    Parameters
    ----------
    encoder : callable
        Images (n, 3, H, W) to unit embeddings (n, dim), e.g. ``model.encode_image``.
    target : torch.Tensor of shape (dim,)
        The embedding to reach.
    steps : int, default 300
    lr : float, default 0.1
        Adam's step size, on the pixels' logits (pixels stay in (0, 1)).
    init : torch.Tensor of shape (3, H, W)
        Starting image, values in (0, 1).
    prior : float, optional
        Weight of a total-variation penalty that favours flat, clean images.
    original : torch.Tensor of shape (3, H, W), optional
        If given, the history records the distance to it.

    Returns
    -------
    image : torch.Tensor of shape (3, H, W)
    history : list of (float, float)
        (cosine between embedding and target, RMS pixel distance to ``original``,
        or to ``init`` without one) after each step.
    """
    if not isinstance(target, torch.Tensor) or target.ndim != 1:
        raise ValueError(f"target must be a 1-D embedding, got shape {tuple(getattr(target, 'shape', ()))}")
    if not isinstance(init, torch.Tensor) or init.ndim != 3 or init.shape[0] != 3:
        raise ValueError(f"init must have shape (3, H, W), got {tuple(getattr(init, 'shape', ()))}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an int >= 1, got {steps!r}")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr!r}")
    if prior is not None and not prior >= 0:
        raise ValueError(f"prior must be >= 0, got {prior!r}")
    ref = (original if original is not None else init).detach()
    if ref.shape != init.shape:
        raise ValueError(f"original has shape {tuple(ref.shape)}, init {tuple(init.shape)}")
    target = F.normalize(target.detach(), dim=0)
    z = torch.logit(init.detach().clamp(1e-3, 1 - 1e-3)).requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    history = []
    for _ in range(steps):
        x = torch.sigmoid(z)
        cos = (encoder(x[None])[0] * target).sum()
        loss = 1 - cos + (prior * _tv(x) if prior else 0.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            x = torch.sigmoid(z)
            history.append(((encoder(x[None])[0] * target).sum().item(),
                            (x - ref).pow(2).mean().sqrt().item()))
    return torch.sigmoid(z).detach(), history


@torch.no_grad()
def interrogate(image_embedding: torch.Tensor, word_lists: dict, *, model: MiniCLIP, template: str = "a {}"):
    """The CLIP interrogator's method: try every caption built from word lists, keep the best.

    Parameters
    ----------
    image_embedding : torch.Tensor of shape (dim,)
    word_lists : dict of str to list of str
        E.g. ``{"size": [...], "colour": [...], "shape": [...], "style": [...]}``;
        one word from each list, in order, fills the template.
    model : MiniCLIP
        Encodes the candidate captions.
    template : str, default "a {}"

    Returns
    -------
    best : str
        The highest-scoring caption.
    scores : list of (str, float)
        Every caption with its cosine similarity, best first.
    """
    if not isinstance(image_embedding, torch.Tensor) or image_embedding.ndim != 1:
        raise ValueError(f"image_embedding must be 1-D, got shape {tuple(getattr(image_embedding, 'shape', ()))}")
    if not isinstance(word_lists, dict) or not word_lists:
        raise ValueError("word_lists must be a non-empty dict of lists of words")
    for key, words in word_lists.items():
        if not words or not all(isinstance(w, str) for w in words):
            raise ValueError(f"word_lists[{key!r}] must be a non-empty list of strings")
    captions = [template.format(" ".join(combo)) for combo in itertools.product(*word_lists.values())]
    sims = (model.encode_text(captions) @ F.normalize(image_embedding, dim=0)).tolist()
    scores = sorted(zip(captions, sims), key=lambda cs: -cs[1])
    return scores[0][0], scores


def timed(fn, *args, **kwargs):
    """``(result, seconds)`` of one call: for reporting a training run's wall time."""
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0
