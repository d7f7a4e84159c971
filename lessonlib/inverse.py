"""Encoders lose information: a tiny CLIP, trained in seconds, and attempts to run it backwards.

Taught by the chapter "CLIP and inverse problems": :class:`MiniCLIP`, :func:`invert`
(gradient descent on pixels), and :func:`interrogate`, which retrieves rather than inverts.
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn
from torch.nn import functional as F

from . import _checks
from .data import COLOURS, SHAPES, SIZES, shapes_dataset


class Tokenizer:
    """Words to integer ids; words it has not seen become ``<unk>``."""

    def __init__(self, words):
        words = list(words) if isinstance(words, (set, frozenset)) else words
        words = _checks.sequence("words", words, item=_checks.text)  # never a str's letters
        self.vocab = ["<pad>", "<unk>"] + sorted(set(words) - {"<pad>", "<unk>"})
        self.index = {w: i for i, w in enumerate(self.vocab)}

    def __call__(self, captions: list[str]) -> torch.Tensor:
        captions = _checks.sequence("captions", captions, item=_checks.text)
        ids = [[self.index.get(w, 1) for w in c.lower().replace(",", " ").split()] for c in captions]
        width = max(1, max(len(i) for i in ids))
        return torch.tensor([i + [0] * (width - len(i)) for i in ids], dtype=torch.long)


def all_captions() -> list[str]:
    """Every caption the shapes data set can have: "a {size} {colour} {shape}"."""
    return [f"a {s} {c} {sh}" for s, c, sh in itertools.product(SIZES, COLOURS, SHAPES)]


class MiniCLIP(nn.Module):
    """A small CLIP: a CNN for images, averaged word embeddings for text, one space of ``dim`` (2 to 4,096)."""

    def __init__(self, dim: int = 32):
        super().__init__()
        _checks.integer("dim", dim, low=2, high=4096)
        self.tokenizer = Tokenizer(["a", *SIZES, *COLOURS, *SHAPES])  # every word a caption can use
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
        images = _checks.tensor("images", images)
        if images.ndim != 4 or images.shape[1] != 3 or 0 in images.shape:
            raise ValueError(f"images must have shape (n, 3, H, W), none of them 0, got {tuple(images.shape)}")
        if not images.is_floating_point() or not bool(torch.isfinite(images).all()):
            raise ValueError(f"images must be finite floating point, values in [0, 1], got {images.dtype}"
                             + (" with NaN or infinity" if images.is_floating_point() else ""))
        weight = self.image_encoder[0].weight
        return F.normalize(self.image_encoder(images.to(weight.dtype)), dim=-1)

    def encode_text(self, captions: list[str]) -> torch.Tensor:
        """Unit-length embeddings, shape (n, dim), of a list of captions."""
        ids = self.tokenizer(captions)
        emb = self.word_embedding(ids)
        mask = (ids > 0).unsqueeze(-1).float()
        pooled = (emb * mask).sum(1) / mask.sum(1).clamp_min(1)  # mean over the real words
        return F.normalize(self.text_projection(pooled), dim=-1)


def _check_clip_loss_args(image_emb, text_emb, logit_scale, same):
    """:func:`clip_loss`'s arguments, checked, as tensors."""
    image_emb = _checks.matrix("image_emb", image_emb, convert=True)
    text_emb = _checks.matrix("text_emb", text_emb, convert=True)
    if image_emb.shape != text_emb.shape:
        raise ValueError(f"image_emb and text_emb must both be (n, dim), got {tuple(image_emb.shape)} and "
                         f"{tuple(text_emb.shape)}")
    _checks.same_kind(image_emb, text_emb, ("image_emb", "text_emb"))
    for name, t in (("image_emb", image_emb), ("text_emb", text_emb)):
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name} has NaN or infinite values")
    if not isinstance(logit_scale, torch.Tensor):
        logit_scale = torch.tensor(_checks.real("logit_scale", logit_scale), dtype=image_emb.dtype)
    elif logit_scale.ndim != 0 or not logit_scale.is_floating_point() or not bool(torch.isfinite(logit_scale).all()):
        raise ValueError(f"logit_scale must be one finite float (a number or a 0-d tensor), got shape "
                         f"{tuple(logit_scale.shape)} {logit_scale.dtype}")
    if same is None:  # clip_loss puts the identity in its place
        return image_emb, text_emb, logit_scale, None
    n = len(image_emb)
    same = _checks.tensor("same", same)
    if same.dtype != torch.bool or same.shape != (n, n):
        raise ValueError(f"same must be an ({n}, {n}) bool matrix, got {same.dtype}, {same.shape}")
    if not bool(same.any(0).all() and same.any(1).all()):  # an empty row would divide 0 by 0: NaN
        raise ValueError("same must have a True entry in every row and every column (each pair matches itself)")
    return image_emb, text_emb, logit_scale, same


def clip_loss(image_emb: torch.Tensor, text_emb: torch.Tensor,
              logit_scale: torch.Tensor,
              same: torch.Tensor | None = None) -> torch.Tensor:
    """CLIP's symmetric contrastive (InfoNCE) loss: each image should pick its own caption, and vice versa.

    ``same``, an (n, n) boolean matrix, marks pairs with identical captions:
    those count as correct for each other (a small data set repeats captions).
    ``logit_scale`` is a 0-d tensor or a number.
    """
    image_emb, text_emb, logit_scale, same = _check_clip_loss_args(image_emb, text_emb, logit_scale, same)
    if same is None:  # all captions differ: each image matches only its own
        same = torch.eye(len(image_emb), dtype=torch.bool)
    logits = logit_scale.exp() * image_emb @ text_emb.T  # [i, j]: image i, caption j
    right = same.to(logits.dtype)  # 1 where caption j describes image i
    # rows: which caption is this image's? columns: which image is this caption's?
    by_image = F.cross_entropy(logits, right / right.sum(1, keepdim=True))
    by_caption = F.cross_entropy(logits.T, right.T / right.T.sum(1, keepdim=True))
    return (by_image + by_caption) / 2


def train_miniclip(n_train: int = 4000, *, epochs: int = 10, bs: int = 100, dim: int = 32,
                   lr: float = 3e-3, seed: int = 0):
    """Train a :class:`MiniCLIP` on the shapes data set.

    Returns the model, in eval mode, and the loss after every batch. At most 100,000 images,
    10,000 epochs and ``dim`` 4,096.
    """
    _checks.integer("n_train", n_train, low=2, high=100_000)
    _checks.integer("epochs", epochs, low=1, high=10_000)
    _checks.integer("bs", bs, low=2, high=n_train)  # a larger batch would never be drawn
    _checks.integer("dim", dim, low=2, high=4096)
    _checks.positive("lr", lr)
    _checks.seed("seed", seed)
    torch.manual_seed(seed)
    images, captions, _ = shapes_dataset(n_train, seed=seed)
    model = MiniCLIP(dim=dim)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    history = []
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
    """How often an image's most similar caption, among all 24, is its own."""
    if not isinstance(model, MiniCLIP):
        raise TypeError(f"model must be a MiniCLIP, got {type(model).__name__}")
    images = _checks.tensor("images", images)
    captions = _checks.sequence("captions", captions, item=_checks.text)
    if len(images) != len(captions):
        raise ValueError(f"images and captions must pair up, got {len(images)} images but "
                         f"{len(captions)} captions")
    candidates = all_captions()
    sims = model.encode_image(images) @ model.encode_text(candidates).T
    picked = [candidates[i] for i in sims.argmax(1).tolist()]
    return sum(p == c for p, c in zip(picked, captions)) / len(captions)


def _tv(x: torch.Tensor) -> torch.Tensor:
    """Total variation: how much neighbouring pixels differ (small for flat, clean images)."""
    return ((x[..., 1:, :] - x[..., :-1, :]).abs().mean()
            + (x[..., :, 1:] - x[..., :, :-1]).abs().mean())


def _check_invert_args(encoder, target, steps, lr, init, prior, original):
    """:func:`invert`'s arguments, checked; returns ``(target, init, original)`` as tensors (``original`` may be None)."""
    _checks.callable_("encoder", encoder)
    target = _checks.tensor("target", target)
    if target.ndim != 1 or len(target) == 0 or not target.is_floating_point() or not bool(torch.isfinite(target).all()):
        raise ValueError(f"target must be a 1-D finite float embedding, got shape {tuple(target.shape)} {target.dtype}")
    if not bool(target.any()):
        raise ValueError("target must not be all zeros: it has no direction")

    def image(name, t):
        t = _checks.tensor(name, t)
        if t.ndim != 3 or t.shape[0] != 3 or 0 in t.shape or t.dtype not in (torch.float32, torch.float64) \
                or not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name} must have shape (3, H, W) and hold finite float32 or float64 in [0, 1], "
                             f"got {tuple(t.shape)} {t.dtype}")
        return t

    init = image("init", init)
    _checks.integer("steps", steps, low=1, high=100_000)
    _checks.positive("lr", lr)
    if prior is not None:
        _checks.real("prior", prior, low=0)
    if original is not None:
        original = image("original", original)
        if original.shape != init.shape:
            raise ValueError(f"original has shape {tuple(original.shape)}, init {tuple(init.shape)}")
    with torch.no_grad():
        out = encoder(init.detach().clamp(0, 1)[None])
    if not isinstance(out, torch.Tensor) or out.shape != (1, len(target)):
        raise ValueError(f"target has {len(target)} values but the encoder gives embeddings of shape "
                         f"{tuple(getattr(out, 'shape', ()))} for one image")
    return target, init, original


def invert(encoder, target: torch.Tensor, *, steps: int = 300, lr: float = 0.1,
           init: torch.Tensor, prior: float | None = None,
           original: torch.Tensor | None = None):
    """Find an image whose embedding matches ``target``, by gradient descent on its pixels.

    Parameters
    ----------
    encoder : callable
        Images (n, 3, H, W) to embeddings (n, dim), e.g. ``model.encode_image``.
    target : torch.Tensor of shape (dim,)
    steps, lr : int and float, default 300 and 0.1
        Adam's steps (at most 100,000), and its step size on the pixels' logits.
    init, original : torch.Tensor of shape (3, H, W)
        The starting image, values in (0, 1), and optionally the one to measure distances to.
    prior : float, optional
        Weight of a total-variation penalty; None or 0 for none.

    Returns
    -------
    image : torch.Tensor of shape (3, H, W)
    history : list of (float, float)
        After each step, the cosine to ``target`` and the RMS pixel distance
        to ``original`` (or ``init``).
    """
    target, init, original = _check_invert_args(encoder, target, steps, lr, init, prior, original)
    # what the distances in history are to
    ref = (init if original is None else original).detach()
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


def _check_interrogate_args(image_embedding, word_lists, model, template):
    """:func:`interrogate`'s arguments, checked; returns ``image_embedding`` as a tensor."""
    if not isinstance(model, MiniCLIP):
        raise TypeError(f"model must be a MiniCLIP, got {type(model).__name__}")
    image_embedding = _checks.tensor("image_embedding", image_embedding)
    dim = model.text_projection[-1].out_features
    if image_embedding.shape != (dim,) or not image_embedding.is_floating_point() \
            or not bool(torch.isfinite(image_embedding).all()):
        raise ValueError(f"image_embedding must be a finite 1-D float embedding, shape ({dim},), "
                         f"got shape {tuple(image_embedding.shape)} {image_embedding.dtype}")
    image_embedding = image_embedding.to(model.text_projection[-1].weight.dtype)  # any float dtype
    if not isinstance(word_lists, dict):
        raise TypeError(f"word_lists must be a dict of lists of words, got {type(word_lists).__name__}")
    if not word_lists:
        raise ValueError("word_lists must be a non-empty dict of lists of words")
    for key, words in word_lists.items():  # a sequence, never a bare string read letter by letter
        _checks.sequence(f"word_lists[{key!r}]", words, item=_checks.text)
    _checks.text("template", template)
    if template.count("{}") != 1:
        raise ValueError(f"template must hold exactly one '{{}}' for the words, got {template!r}")
    return image_embedding


@torch.no_grad()
def interrogate(image_embedding: torch.Tensor, word_lists: dict, *, model: MiniCLIP,
                template: str = "a {}"):
    """The CLIP interrogator's method: try every caption built from word lists, keep the best.

    Parameters
    ----------
    image_embedding : torch.Tensor of shape (dim,)
    word_lists : dict of str to list of str
        One word from each list, in order, fills the template.
    model : MiniCLIP
    template : str, default "a {}"

    Returns
    -------
    best : str
    scores : list of (str, float)
        Every caption with its cosine similarity, best first.
    """
    image_embedding = _check_interrogate_args(image_embedding, word_lists, model, template)
    captions = [template.format(" ".join(combo))
                for combo in itertools.product(*word_lists.values())]
    sims = (model.encode_text(captions) @ F.normalize(image_embedding, dim=0)).tolist()
    scores = sorted(zip(captions, sims), key=lambda cs: -cs[1])
    return scores[0][0], scores


def _place_captions(fig, ax, labels):
    """Lift each label above any label it would cover, and widen ``ax``'s limits until all fit inside."""
    starts = [label.xyann for label in labels]
    for _ in range(4):  # widening moves the points apart: lay out again
        for label, start in zip(labels, starts):
            label.xyann = start
        fig.canvas.draw()
        renderer, placed = fig.canvas.get_renderer(), []
        for label in sorted(labels, key=lambda t: t.get_window_extent(renderer).y0):
            for other in placed:  # lower labels first: each one climbs over those it meets
                box = label.get_window_extent(renderer)
                if box.overlaps(other):
                    label.xyann = (label.xyann[0], label.xyann[1] + (other.y1 + 2 - box.y0) * 72 / fig.dpi)
            placed.append(label.get_window_extent(renderer))
        frame = ax.get_window_extent(renderer)
        left, right = frame.x0 + 4 - min(b.x0 for b in placed), max(b.x1 for b in placed) + 4 - frame.x1
        top = max(b.y1 for b in placed) + 4 - frame.y1
        if max(left, right, top) <= 0:
            return
        (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
        dx, dy = 1.5 * (x1 - x0) / frame.width, 1.5 * (y1 - y0) / frame.height  # data per pixel, and more
        ax.set(xlim=(x0 - max(left, 0) * dx, x1 + max(right, 0) * dx), ylim=(y0, y1 + max(top, 0) * dy))


@torch.no_grad()
def plot_two_towers(model: MiniCLIP, images: torch.Tensor, captions: list[str]):
    """Draw CLIP's idea from a trained model: two encoders, one space, the matched diagonal.

    Parameters
    ----------
    model : MiniCLIP
    images : torch.Tensor of shape (n, 3, H, W), 2 <= n <= 12
    captions : list of str
        ``captions[i]`` describes ``images[i]``; all different.

    Returns
    -------
    matplotlib.figure.Figure
        ``fig.axes[2].images[0]`` is the similarity matrix.
    """
    import matplotlib.pyplot as plt
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage

    if not isinstance(model, MiniCLIP):
        raise TypeError(f"model must be a MiniCLIP, got {type(model).__name__}")
    images = _checks.tensor("images", images)
    if images.ndim != 4 or images.shape[1] != 3 or not 2 <= len(images) <= 12:
        raise ValueError(f"images must have shape (n, 3, H, W) with n from 2 to 12, got {tuple(images.shape)}")
    captions = _checks.sequence("captions", captions, item=_checks.text, empty=True)
    if len(set(captions)) != len(captions) or len(captions) != len(images):  # one diagonal
        raise ValueError(f"captions must have one caption per image, and all differ: {len(images)} "
                         f"images, {len(captions)} captions, {len(set(captions))} different")
    n = len(images)
    img_emb, txt_emb = model.encode_image(images).float(), model.encode_text(captions).float()
    sims = (img_emb @ txt_emb.T).numpy()
    both = torch.cat([img_emb, txt_emb])
    centred = both - both.mean(0)
    xy = (centred @ torch.linalg.svd(centred, full_matrices=False).Vh[:2].T).numpy()
    pix = images.permute(0, 2, 3, 1).clamp(0, 1).numpy()

    fig = plt.figure(figsize=(9.5, 9.2), layout="constrained")
    axes = fig.subplot_mosaic([["tow", "space"], ["sim", "sim"]], width_ratios=[1, 1.7], height_ratios=[1, 1.25])
    ax_tow, ax_sp, ax_sim = axes["tow"], axes["space"], axes["sim"]
    ax_tow.set(xlim=(0, 1), ylim=(0, 1))
    ax_tow.set_title("two encoders", fontsize=12)
    ax_tow.axis("off")
    for y, (label, colour) in zip((0.72, 0.28), (("image\nencoder", "tab:blue"), ("text\nencoder", "tab:orange"))):
        ax_tow.annotate("", (0.33, y), (0.22, y), arrowprops={"arrowstyle": "-|>"})
        ax_tow.annotate(label, (0.86, 0.5), (0.54, y), ha="center", va="center", fontsize=11,
                        bbox={"boxstyle": "round", "fc": "white", "ec": colour, "lw": 2},
                        arrowprops={"arrowstyle": "-|>", "color": colour})
    ax_tow.text(0.94, 0.5, "one\nspace", ha="center", va="center", fontsize=11, fontweight="bold")
    ax_tow.add_artist(AnnotationBbox(OffsetImage(pix[0], zoom=1.2), (0.1, 0.72), frameon=False))
    ax_tow.text(0.1, 0.28, "“" + captions[0].replace(" ", "\n", 2) + "”", ha="center", va="center", fontsize=10)

    labels = []
    for i in range(n):
        (xi, yi), (xt, yt) = xy[i], xy[n + i]
        ax_sp.plot([xi, xt], [yi, yt], color="grey", lw=1, zorder=1)
        ax_sp.add_artist(AnnotationBbox(OffsetImage(pix[i], zoom=0.75), (xi, yi), frameon=True, zorder=2,
                                        bboxprops={"ec": "tab:blue", "lw": 1}, pad=0.1))
        ax_sp.plot(xt, yt, "x", color="tab:orange", ms=9, mew=2, zorder=3)
        left = xi > xt  # the caption on the side away from its image
        labels.append(ax_sp.annotate(captions[i].removeprefix("a "), (xt, yt), textcoords="offset points",
                                     xytext=(-16 if left else 16, 0), ha="right" if left else "left", va="center",
                                     fontsize=10, color="tab:orange", zorder=4))
    ax_sp.margins(0.15)
    ax_sp.set(xticks=[], yticks=[])
    ax_sp.set_title("one space, seen along its 2 main directions:\neach image (framed) lands by its caption (×)",
                    fontsize=11)

    shown = ax_sim.imshow(sims, cmap="viridis", vmin=-1, vmax=1)
    for i in range(n):
        ax_sim.add_patch(plt.Rectangle((i - 0.5, i - 0.5), 1, 1, fill=False, ec="white", lw=2))
        for j in range(n):
            ax_sim.text(j, i, f"{sims[i, j]:.2f}", ha="center", va="center", fontsize=10,
                        color="black" if sims[i, j] > 0.3 else "white")
    ax_sim.set_xticks(range(n), [c.removeprefix("a ") for c in captions], rotation=30, ha="right", fontsize=10)
    ax_sim.set_yticks(range(n), [f"image {i}: {c.removeprefix('a ')}" for i, c in enumerate(captions)], fontsize=10)
    ax_sim.grid(False)
    ax_sim.set_title("cosine similarity of image i and caption j: matched pairs (outlined) score highest", fontsize=11)
    fig.colorbar(shown, ax=ax_sim, fraction=0.046, pad=0.04).ax.tick_params(labelsize=10)
    _place_captions(fig, ax_sp, labels)  # last: once every panel has taken its room
    return fig
