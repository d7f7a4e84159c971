"""The data the chapters compute on: MNIST when it is here, a labelled stand-in when not.

:func:`load_mnist` reads the course's ``mnist.pkl.gz`` and never downloads (the book builds
offline); without the file, chapters use :func:`mnist_like` and say so. :func:`fetch` (``python -m
lessonlib.data fetch``) downloads it once, checksum-checked. Also: the clustering benchmarks' data
and the CLIP chapter's captioned shapes.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import pickle
import sys
import tempfile
import urllib.request
from pathlib import Path

import torch

from . import _checks
from ._deps import require

N_PIXELS = 784

#: Where the course notebook (fastai/course22p2 ``nbs/01_matmul.ipynb``) downloads MNIST from.
MNIST_URL = "https://github.com/mnielsen/neural-networks-and-deep-learning/blob/master/data/mnist.pkl.gz?raw=true"
#: The git object id (:func:`git_blob_id`) of ``data/mnist.pkl.gz`` in that repository, as
#: ``git ls-tree`` prints it: the download is checked against what the repository commits to.
MNIST_GIT_BLOB = "059aba0d982e20e2ac125a3a59d89c3c2cd8b28a"


def default_mnist_path() -> Path:
    """Where :func:`load_mnist` looks: ``$LESSONLIB_DATA/mnist.pkl.gz``, else ``~/.cache/lessonlib/``."""
    root = os.environ.get("LESSONLIB_DATA") or Path.home() / ".cache" / "lessonlib"
    return Path(root) / "mnist.pkl.gz"


def load_mnist(path: str | os.PathLike | None = None):
    """Read the course's ``mnist.pkl.gz`` (default: :func:`default_mnist_path`); never downloads.

    The file is a gzip-compressed pickle (latin-1) of train, valid and test splits; if it is
    absent, ``FileNotFoundError``.

    Returns
    -------
    ((x_train, y_train), (x_valid, y_valid))
        ``x_*`` float32 tensors of shape (n, 784) in [0, 1]; ``y_*`` int64 labels of shape (n,).
    """
    path = _checks.path("path", path) if path is not None else default_mnist_path()
    if not path.is_file():
        raise FileNotFoundError(f"no MNIST file at {path}; put the course's mnist.pkl.gz there "
                                "(or set LESSONLIB_DATA), or use lessonlib.data.mnist_like()")
    try:
        with gzip.open(path, "rb") as f:
            splits = pickle.load(f, encoding="latin-1")
    except (OSError, EOFError, pickle.UnpicklingError) as err:  # gzip.BadGzipFile is an OSError
        raise ValueError(f"path {path} is not a gzip-compressed pickle like the course's mnist.pkl.gz: {err}") from None
    if not (isinstance(splits, (tuple, list)) and len(splits) >= 2):
        raise ValueError(f"path {path}: expected (train, valid[, test]) splits, got {type(splits).__name__}")
    out = []
    for name, split in zip(("train", "valid"), splits[:2]):
        x, y = (torch.as_tensor(v) for v in split)
        if x.ndim != 2 or x.shape[1] != N_PIXELS or y.shape != (x.shape[0],):
            raise ValueError(f"path {path}: the {name} split has x {tuple(x.shape)} and y {tuple(y.shape)}; "
                             f"expected x (n, {N_PIXELS}) and y (n,)")
        out.append((x.float(), y.long()))
    return tuple(out)


def git_blob_id(data: bytes) -> str:
    """The id git gives a file with these bytes (what ``git hash-object`` prints)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    data = bytes(data)
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _check_hex(name: str, value, length: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a hex str, got {type(value).__name__}")
    v = value.strip().lower()
    if len(v) != length or any(ch not in "0123456789abcdef" for ch in v):
        raise ValueError(f"{name} must be {length} hex digits, got {value!r}")
    return v


def fetch(url: str = MNIST_URL, path: str | os.PathLike | None = None, *, sha256: str | None = None,
          git_blob: str | None = None, timeout: float = 120.0) -> Path:
    """Download a data file once (to ``path``, by default :func:`default_mnist_path`), and keep it
    only if its checksum is the pinned one; return its path. A file already there and right is kept.

    Parameters
    ----------
    url : str, default MNIST_URL
    sha256, git_blob : str, optional
        Expected SHA-256 (64 hex digits) or :func:`git_blob_id` (40); for the default ``url``
        and neither, :data:`MNIST_GIT_BLOB`. Another ``url`` needs one (else ``ValueError``).
    """
    _checks.text("url", url)
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"url must be an http(s) address, got {url!r}")
    _checks.real("timeout", timeout, low=0, strict=True)
    sha256, git_blob = _check_hex("sha256", sha256, 64), _check_hex("git_blob", git_blob, 40)
    if sha256 is None and git_blob is None:
        if url != MNIST_URL:
            raise ValueError("give sha256 or git_blob: a download is kept only if its checksum is pinned")
        git_blob = MNIST_GIT_BLOB
    path = _checks.path("path", path) if path is not None else default_mnist_path()

    def problems(data: bytes) -> list[str]:
        got = {"SHA-256": (hashlib.sha256(data).hexdigest(), sha256),
               "git blob id": (git_blob_id(data), git_blob)}
        return [f"{k} {g}, expected {w}" for k, (g, w) in got.items() if w not in (None, g)]

    if path.is_file() and not problems(path.read_bytes()):
        return path
    with urllib.request.urlopen(url, timeout=timeout) as response:  # follows redirects
        data = response.read()
    wrong = problems(data)
    if wrong:
        raise ValueError(f"{url}: checksum mismatch ({'; '.join(wrong)}); the file was not kept")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as tmp:  # then an atomic rename
        tmp.write(data)
    os.replace(tmp.name, path)
    return path


def main(argv: list[str] | None = None) -> int:
    """``python -m lessonlib.data fetch [--url URL --sha256 HEX] [--out PATH]``: download MNIST once."""
    parser = argparse.ArgumentParser(prog="python -m lessonlib.data", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    f = sub.add_parser("fetch", help="download the course's mnist.pkl.gz, checksum-checked")
    f.add_argument("--url", default=MNIST_URL)
    f.add_argument("--sha256")
    f.add_argument("--git-blob")
    f.add_argument("--out", help="destination file (default: $LESSONLIB_DATA/mnist.pkl.gz)")
    args = parser.parse_args(argv if argv is None else _checks.sequence("argv", argv, item=_checks.text, empty=True))
    try:
        path = fetch(args.url, args.out, sha256=args.sha256, git_blob=args.git_blob)
    except (ValueError, OSError) as exc:
        print(f"fetch failed: {exc}", file=sys.stderr)
        return 1
    print(f"{path} ({path.stat().st_size:,} bytes, SHA-256 {hashlib.sha256(path.read_bytes()).hexdigest()})")
    return 0


def mnist_like(n_train: int = 50_000, n_valid: int = 10_000, *, seed: int = 0):
    """Random data shaped like MNIST (by default its sizes; at most 10**6 rows), for when the real file is absent.

    Returns
    -------
    ((x_train, y_train), (x_valid, y_valid))
        ``x_*`` float32 of shape (n, 784), uniform in [0, 1); ``y_*`` int64 in 0..9.
        Not images of digits: good for timing and shapes, not for training.
    """
    _checks.integer("n_train", n_train, low=1, high=10**6)
    _checks.integer("n_valid", n_valid, low=1, high=10**6)
    g = torch.Generator().manual_seed(_checks.seed("seed", seed))
    return tuple((torch.rand(n, N_PIXELS, generator=g), torch.randint(0, 10, (n,), generator=g))
                 for n in (n_train, n_valid))


def lecture_weights() -> torch.Tensor:
    """The lecture's weights: ``torch.manual_seed(1); torch.randn(784, 10)``."""
    return torch.randn(N_PIXELS, 10, generator=torch.Generator().manual_seed(1))


# ---------------------------------------------------------------- shapes with captions
SHAPES = ("circle", "square", "triangle")
COLOURS = {"red": (0.9, 0.15, 0.1), "green": (0.15, 0.75, 0.2), "blue": (0.15, 0.3, 0.95), "yellow": (0.95, 0.85, 0.1)}
SIZES = {"small": (0.16, 0.22), "large": (0.30, 0.38)}  # radius range, as a fraction of the image


def shapes_dataset(n: int, *, size: int = 32, seed: int = 0):
    """``n`` images (at most 100,000) of ``size × size`` pixels (16 to 256), one coloured shape each, with a
    caption such as "a small red circle"; the same ``seed`` gives the same images.

    Returns
    -------
    images : torch.Tensor of shape (n, 3, size, size), float32 in [0, 1]
    captions : list of str
    attributes : dict of str to torch.Tensor of int64, shape (n,)
        Indices into ``SHAPES``, ``COLOURS`` and ``SIZES`` (keys "shape", "colour", "size").
    """
    _checks.integer("n", n, low=1, high=100_000)
    _checks.integer("size", size, low=16, high=256)
    g = torch.Generator().manual_seed(_checks.seed("seed", seed))
    shape = torch.randint(0, len(SHAPES), (n,), generator=g)
    colour = torch.randint(0, len(COLOURS), (n,), generator=g)
    big = torch.randint(0, len(SIZES), (n,), generator=g)
    lo, hi = torch.tensor(list(SIZES.values())).T[:, big]  # each image's radius range
    radius = (lo + (hi - lo) * torch.rand(n, generator=g)) * size
    # centres keep the whole shape inside the image
    cx = radius + (size - 2 * radius) * torch.rand(n, generator=g)
    cy = radius + (size - 2 * radius) * torch.rand(n, generator=g)
    ys, xs = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    dx, dy = xs[None] - cx[:, None, None], ys[None] - cy[:, None, None]
    r = radius[:, None, None]
    masks = torch.stack([
        dx**2 + dy**2 <= r**2,                                  # circle
        (dx.abs() <= 0.8 * r) & (dy.abs() <= 0.8 * r),          # square, about the circle's area
        (dy <= 0.8 * r) & (dy >= -r) & (dx.abs() <= (dy + r) * 0.6),  # triangle, apex up
    ])[shape, torch.arange(n)]
    rgb = torch.tensor(list(COLOURS.values()))[colour]           # (n, 3)
    background = 0.1 + 0.05 * torch.rand(n, 3, 1, 1, generator=g)
    images = torch.where(masks[:, None], rgb[:, :, None, None], background)
    images = (images + 0.03 * torch.randn(images.shape, generator=g)).clamp(0, 1)
    names = list(COLOURS), list(SIZES)
    captions = [f"a {names[1][b]} {names[0][c]} {SHAPES[s]}" for s, c, b in zip(shape.tolist(), colour.tolist(), big.tolist())]
    return images.float(), captions, {"shape": shape, "colour": colour, "size": big}


# ---------------------------------------------------------------- the clustering benchmarks' data
CLUSTER_KINDS = ("kmeans", "kmeans16", "dbscan", "dbscan_blobs", "knn", "knn32")


def cluster_data(what: str, n: int, *, seed: int = 0):
    """The ``n`` points (10 to 10**7) of one clustering benchmark, from scikit-learn's generators.

    Parameters
    ----------
    what : {"kmeans", "kmeans16", "dbscan", "dbscan_blobs", "knn", "knn32"}
        ``kmeans``: 8 blobs in 2-D; ``kmeans16``: 32 blobs in 16-D (both float64, so that two
        programs' labels can be compared one by one); ``dbscan``: two moons, noise 0.06;
        ``dbscan_blobs``: 8 blobs in 2-D; ``knn``: 50 blobs in 16-D; ``knn32``: 100 in 32-D.

    Returns
    -------
    torch.Tensor of shape (n, d), or tuple of (torch.Tensor, torch.Tensor)
        ``X``; for ``knn`` and ``knn32``, ``(X, Q)`` with 1,000 queries from the same blobs.
    """
    _checks.choice("what", what, CLUSTER_KINDS)
    n = _checks.integer("n", n, low=10, high=10**7)
    seed = _checks.seed("seed", seed)
    datasets = require("sklearn.datasets", "bench", "the clustering benchmarks' data")
    if what == "dbscan":
        return torch.from_numpy(datasets.make_moons(n, noise=0.06, random_state=seed)[0]).float()
    if what.startswith("knn"):
        centers, d = (50, 16) if what == "knn" else (100, 32)
        X = datasets.make_blobs(n + 1000, centers=centers, n_features=d, random_state=seed)[0]
        return torch.from_numpy(X[:n]).float(), torch.from_numpy(X[n:]).float()
    centers, d = (32, 16) if what == "kmeans16" else (8, 2)
    X = torch.from_numpy(datasets.make_blobs(n, centers=centers, n_features=d, cluster_std=2.0,
                                             random_state=seed)[0])
    return X.float() if what == "dbscan_blobs" else X  # the k-means sets stay float64


if __name__ == "__main__":
    raise SystemExit(main())
