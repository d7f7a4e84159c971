"""Mean shift clustering: a loop over points, a batched matrix product, and a grid.

Taught by the chapter "Mean shift": every point moves, step after step, to the weighted average
of the points around it (the points averaged are the points that move: "blurring" mean shift),
until each cluster has collapsed to one spot. The chapter's pictures are drawn here too.
"""

from __future__ import annotations

import math
import numbers

import torch
from torch.distributions.multivariate_normal import MultivariateNormal

from . import _checks
from .matmul import dist_b


def _check_distances(d, signed: bool = False) -> torch.Tensor:
    """``d`` as a tensor of real distances: >= 0 unless ``signed``, never NaN."""
    d = _checks.tensor("d", d)
    if d.dtype == torch.bool or d.is_complex():
        raise ValueError(f"d must hold real distances, got {d.dtype}")
    if not signed and not bool((d >= 0).all()):
        raise ValueError("d must hold distances >= 0 (no negative or NaN values)")
    if signed and bool(torch.isnan(d).any()):
        raise ValueError("d must not hold NaN")
    return d


MAX_POINTS = 10**7  # the most points sample, make_clusters and true_labels make


def sample(centroid: torch.Tensor, n_samples: int) -> torch.Tensor:
    """``n_samples`` points (global RNG; at most ``MAX_POINTS``) from a 2-D normal at ``centroid``, variance 5."""
    centroid = _checks.tensor("centroid", centroid)
    if centroid.shape != (2,) or centroid.dtype not in (torch.float32, torch.float64) or \
            not bool(torch.isfinite(centroid).all()):
        raise ValueError(f"centroid must be a tensor of shape (2,), finite float32 or float64, got "
                         f"{tuple(centroid.shape)} {centroid.dtype}")
    _checks.integer("n_samples", n_samples, low=1, high=MAX_POINTS)
    return MultivariateNormal(centroid, 5 * torch.eye(2, dtype=centroid.dtype)).sample((n_samples,))


def _check_sizes(n_clusters, n_samples) -> None:
    _checks.integer("n_clusters", n_clusters, low=1, high=MAX_POINTS)
    _checks.integer("n_samples", n_samples, low=1, high=MAX_POINTS)
    if n_clusters * n_samples > MAX_POINTS:
        raise ValueError(f"n_clusters × n_samples must be at most {MAX_POINTS:,}, got {n_clusters * n_samples:,}")


def make_clusters(n_clusters: int = 6, n_samples: int = 250, seed: int = 42):
    """The lecture's data: ``n_clusters`` blobs of ``n_samples`` 2-D points (``MAX_POINTS`` at most); RNG state kept.

    Returns
    -------
    centroids : torch.Tensor of shape (n_clusters, 2)
    data : torch.Tensor of shape (n_clusters * n_samples, 2)
        Cluster ``i`` is rows ``i*n_samples`` to ``(i+1)*n_samples``.
    """
    _check_sizes(n_clusters, n_samples)
    seed = _checks.seed("seed", seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        centroids = torch.rand(n_clusters, 2) * 70 - 35
        data = torch.cat([sample(c, n_samples) for c in centroids])
    return centroids, data


def true_labels(n_clusters: int, n_samples: int) -> torch.Tensor:
    """The cluster each row of :func:`make_clusters`'s data came from."""
    _check_sizes(n_clusters, n_samples)
    return torch.arange(n_clusters).repeat_interleave(n_samples)


def plot_data(centroids, data, n_samples: int, ax=None, *, size: float = 1):
    """Scatter each cluster in its own colour, centroids as a big black X over a small magenta X.

    ``size`` is the markers' area in points²: larger once converged points pile up on one spot.
    """
    import matplotlib.pyplot as plt

    data = _checks.points("data", data, dims=2, convert=False)
    centroids = _checks.points("centroids", centroids, dims=2, like="data")
    _checks.integer("n_samples", n_samples, low=1)
    _checks.positive("size", size)
    _checks.axes("ax", ax)
    if len(centroids) * n_samples > len(data):
        raise ValueError(f"data has {len(data)} points, fewer than {len(centroids)} centroids × n_samples "
                         f"({n_samples}): pass the data make_clusters made with these centroids")
    if ax is None:
        _, ax = plt.subplots()
    for i, centroid in enumerate(centroids):
        pts = data[i * n_samples : (i + 1) * n_samples]
        ax.scatter(pts[:, 0], pts[:, 1], s=size)
        ax.plot(*centroid, markersize=10, marker="x", color="k", mew=5)
        ax.plot(*centroid, markersize=5, marker="x", color="m", mew=2)
    return ax


def plot_func(f, start: float = 0, stop: float = 10, steps: int = 100, ax=None):
    """Plot ``f`` on ``steps`` points (at most a million) from ``start`` to ``stop``."""
    import matplotlib.pyplot as plt

    _checks.callable_("f", f)
    _checks.real("start", start)
    _checks.real("stop", stop)
    if not stop > start:
        raise ValueError(f"stop ({stop}) must be greater than start ({start})")
    _checks.integer("steps", steps, low=2, high=10**6)
    _checks.axes("ax", ax)
    if ax is None:
        _, ax = plt.subplots()
    x = torch.linspace(start, stop, steps)
    ax.plot(x, f(x))
    return ax


def gaussian(d: torch.Tensor, bw: float) -> torch.Tensor:
    """Gaussian weight of distance ``d``, standard deviation ``bw``: exp(-d²/2bw²) / (bw √(2π))."""
    d = _check_distances(d, signed=True)  # the density is symmetric: a signed offset is fine
    _checks.positive("bw", bw)
    return torch.exp(-0.5 * (d / bw) ** 2) / (bw * math.sqrt(2 * math.pi))


def tri(d: torch.Tensor, i: float) -> torch.Tensor:
    """Triangular weight: 1 at distance 0, falling linearly to 0 at distance ``i``, 0 beyond."""
    d = _check_distances(d)
    _checks.positive("i", i)
    return (-d + i).clamp_min(0) / i


def norm(v: torch.Tensor, p: float = 2) -> torch.Tensor:
    """The p-norm over the last axis, ``(Σ|v|^p)^(1/p)``; ``p=math.inf`` gives ``max |v|``.

    Any shape; NaN and infinity in ``v`` pass through, as in float arithmetic (the loops call it per point).
    """
    v = _checks.tensor("v", v)
    if v.ndim == 0 or v.shape[-1] == 0:
        raise ValueError(f"v must have a non-empty last axis, got shape {tuple(v.shape)}")
    if isinstance(p, bool) or not isinstance(p, numbers.Real):
        raise TypeError(f"p must be a number >= 1 (math.inf for the max norm), got {type(p).__name__}")
    if not p >= 1:  # NaN fails too
        raise ValueError(f"p must be a number >= 1 (below 1 it is not a norm), got {p!r}")
    if math.isinf(p):
        return v.abs().amax(-1)
    return (v.abs() ** p).sum(-1) ** (1 / p)


def one_update(X: torch.Tensor, kernel) -> None:
    """Move each point of ``X`` in place, in order, to the ``kernel(dist)``-weighted mean."""
    if isinstance(X, (list, tuple)):
        raise TypeError("X must be a torch.Tensor or a numpy array, moved in place; got a list")
    X = _checks.points("X", X, convert=True)
    _checks.callable_("kernel", kernel)
    for i, x in enumerate(X):
        dist = norm(x - X)  # x (2,) broadcasts against X (n, 2): no x[None] needed
        weight = kernel(dist)
        X[i] = (weight[:, None] * X).sum(0) / weight.sum()


MAX_ITERS = 10_000


def meanshift(data: torch.Tensor, *, bw: float = 2.5, iters: int = 5,
              kernel=gaussian) -> torch.Tensor:
    """Mean shift, one point at a time: the lecture's loop version, O(iters · n²) in n Python steps.

    Parameters
    ----------
    data : torch.Tensor of shape (n_samples, n_features)
    bw : float, default 2.5
    iters : int, default 5
        Steps, at most ``MAX_ITERS``.
    kernel : callable, default gaussian
        ``kernel(distances, bw) -> weights``: :func:`gaussian` or :func:`tri`.

    Returns
    -------
    torch.Tensor of shape (n_samples, n_features)
        The shifted points; ``data`` is not changed.
    """
    data = _checks.points("data", data, convert=True)
    _checks.positive("bw", bw)
    _checks.integer("iters", iters, low=1, high=MAX_ITERS)
    _checks.callable_("kernel", kernel)
    X = data.clone()
    for _ in range(iters):
        # kernel(distances, bw), as in meanshift_batched
        one_update(X, lambda d: kernel(d, bw))
    return X


def meanshift_batched(data: torch.Tensor, *, bw: float = 2.5, iters: int = 5,
                      bs: int = 500, kernel=gaussian) -> torch.Tensor:
    """Mean shift, ``bs`` points at a time, on ``data``'s device.

    O(iters · n² · d) work and O(bs · n · d) memory.

    Parameters
    ----------
    data, bw, iters, kernel
        As for :func:`meanshift`.
    bs : int, default 500
        Points per batch, updated in place one batch after another; ``bs >= n`` moves all at once.

    Returns
    -------
    torch.Tensor of shape (n_samples, n_features)
    """
    data = _checks.points("data", data, convert=True)
    _checks.positive("bw", bw)
    _checks.integer("iters", iters, low=1, high=MAX_ITERS)
    _checks.integer("bs", bs, low=1)
    _checks.callable_("kernel", kernel)
    n = len(data)
    X = data.clone()
    for _ in range(iters):
        for i in range(0, n, bs):
            s = slice(i, min(i + bs, n))
            weight = kernel(dist_b(X[s], X), bw)  # (bs, n)
            # (bs, n) @ (n, d): the weighted sums
            X[s] = weight @ X / weight.sum(1, keepdim=True)
    return X


def _conv_axis(field: torch.Tensor, taps: torch.Tensor, axis: int) -> torch.Tensor:
    """Correlate the 2-D ``field`` along ``axis`` with the centred ``taps``, zero-padded."""
    lines = field if axis == 1 else field.T
    conv = torch.backends.cudnn.conv
    # full float32, not cuDNN's default TF32 (10-bit mantissa): the error bound holds on a GPU too
    before, conv.fp32_precision = conv.fp32_precision, "ieee"
    try:
        out = torch.nn.functional.conv1d(lines[:, None], taps.view(1, 1, -1), padding="same")[:, 0]
    finally:
        conv.fp32_precision = before
    return out if axis == 1 else out.T


def _grid_shape(i0: torch.Tensor, cell: float, max_cells: int) -> tuple[int, int]:
    """Grid nodes along each axis for points in cells ``i0``; refused over ``max_cells``."""
    nx, ny = (int(v) + 2 for v in i0.max(0).values)
    if nx * ny > max_cells:
        raise ValueError(f"the points span {nx}×{ny} grid nodes, over max_cells={max_cells}; "
                         f"raise cell (now {cell}) or max_cells")
    return nx, ny


def meanshift_fast(data: torch.Tensor, *, bw: float = 2.5, iters: int = 5,
                   cutoff: float = 4.0, cell: float = 0.125,
                   max_cells: int = 50_000_000) -> torch.Tensor:
    """Gaussian mean shift of 2-D points, all at once, with sums over a grid instead of over points.

    Approximates :func:`meanshift_batched` with ``bs >= n``, in O(n) + O(G·(2·cutoff/cell + 1)) work
    per step for G grid nodes; the chapter derives the method and its error bound.

    Parameters
    ----------
    data : torch.Tensor of shape (n_samples, 2)
    bw, iters
        As for :func:`meanshift`.
    cutoff : float, default 4.0
        Truncation of the kernel, in bandwidths.
    cell : float, default 0.125
        Grid spacing, in bandwidths.
    max_cells : int, default 50,000,000
        Refuse a grid with more nodes than this (data spread very thinly).

    Returns
    -------
    torch.Tensor of shape (n_samples, 2), on ``data``'s device
    """
    data = _checks.points("data", data, dims=2, convert=True)
    _checks.positive("bw", bw)
    _checks.integer("iters", iters, low=1, high=MAX_ITERS)
    _checks.positive("cutoff", cutoff)
    _checks.positive("cell", cell)
    _checks.integer("max_cells", max_cells, low=1)
    if 2 * cutoff / cell + 1 > max_cells:  # refused before the taps are allocated
        raise ValueError(f"cutoff/cell = {cutoff / cell:.3g} taps per side, over "
                         f"max_cells={max_cells}; raise cell (now {cell})")
    X = data.clone()
    h = cell * bw
    R = math.ceil(cutoff / cell)
    t = torch.arange(-R, R + 1, dtype=X.dtype, device=X.device) * h  # tap offsets
    w = torch.exp(-0.5 * (t / bw) ** 2)  # the Gaussian along one axis
    wt = w * t  # ... times the offset, for the weighted-offset field
    for _ in range(iters):
        # grid anchored on the data: moving the data moves the grid
        origin = X.min(0).values
        g = (X - origin) / h  # grid coordinates
        i0 = torch.floor(g).long()
        f = g - i0  # position within the cell, in [0, 1)
        nx, ny = _grid_shape(i0, cell, max_cells)
        # 1. linear binning: each point's mass goes to its 4 surrounding nodes
        mass = torch.zeros(nx, ny, dtype=X.dtype, device=X.device)
        corners = []
        for dx, dy in ((0, 0), (0, 1), (1, 0), (1, 1)):
            lam = (f[:, 0] if dx else 1 - f[:, 0]) * (f[:, 1] if dy else 1 - f[:, 1])
            # the node's index in the flattened grid
            idx = (i0[:, 0] + dx) * ny + (i0[:, 1] + dy)
            mass.view(-1).index_add_(0, idx, lam)
            corners.append((idx, lam))
        # 2. separable convolutions: D = Σ m w(Δx) w(Δy); M = Σ m w(Δx) w(Δy) (Δx, Δy)
        ax, bx = _conv_axis(mass, w, 0), _conv_axis(mass, wt, 0)
        D = _conv_axis(ax, w, 1).flatten()
        Mx = _conv_axis(bx, w, 1).flatten()
        My = _conv_axis(ax, wt, 1).flatten()
        # 3. interpolate at each point and move it by M/D
        d_pt = sum(lam * D[idx] for idx, lam in corners)
        m_pt = torch.stack([sum(lam * F[idx] for idx, lam in corners)
                            for F in (Mx, My)], dim=1)
        X = X + m_pt / d_pt[:, None]
    return X


def cluster_labels(shifted: torch.Tensor, *, tol: float = 1.0):
    """Group converged points: points within ``tol`` of a cluster's first point share its label.

    Parameters
    ----------
    shifted : torch.Tensor of shape (n_samples, n_features)
    tol : float, default 1.0

    Returns
    -------
    centroids : torch.Tensor of shape (n_clusters, n_features)
        Mean of each cluster's points (centroids first, as in :func:`lessonlib.cluster.kmeans`).
    labels : torch.Tensor of int64, shape (n_samples,)
        0 for the largest cluster, 1 for the next, and so on.
    """
    shifted = _checks.points("shifted", shifted, convert=True)
    _checks.positive("tol", tol)
    labels = torch.full((len(shifted),), -1, dtype=torch.long, device=shifted.device)
    k = 0
    while (labels < 0).any():
        seed = shifted[(labels < 0).nonzero()[0, 0]]
        labels[(labels < 0) & (norm(shifted - seed) <= tol)] = k
        k += 1
    sizes, order = torch.bincount(labels).sort(descending=True, stable=True)
    labels = order.argsort()[labels]  # the inverse permutation: cluster -> its rank by size
    centroids = shifted.new_zeros(k, shifted.shape[1]).index_add_(0, labels, shifted)
    return centroids / sizes[:, None].to(shifted.dtype), labels


def broadcast_layout(*shapes):
    """Line two or more ``shapes`` (tuples of int) up from the right, as broadcasting does.

    Returns
    -------
    rows : list of tuple
        Each shape padded on the left with ``None`` to the longest rank.
    result : tuple of int or None
        The broadcast shape; None where an axis clashes.
    stretched : list of tuple of bool
        Per shape and axis: True where a 1 (or a missing axis) is repeated to the result's size.
    clash : tuple of bool
        Per axis: True where the sizes differ and none of them is 1.
    """
    if len(shapes) < 2:
        raise ValueError(f"shapes must hold at least two shapes, got {len(shapes)}")
    clean = []
    for k, shape in enumerate(shapes):
        if not isinstance(shape, (tuple, list, torch.Size)):
            raise TypeError(f"shapes[{k}] must be a tuple of ints, got {type(shape).__name__}")
        clean.append(tuple(_checks.integer(f"shapes[{k}][{a}]", v, low=0) for a, v in enumerate(shape)))
        if not shape:
            raise ValueError(f"shapes[{k}] must hold at least one axis, got {shape!r}")
    rank = max(len(s) for s in clean)
    rows = [(None,) * (rank - len(s)) + s for s in clean]
    result, clash = [], []
    for axis in range(rank):
        sizes = {r[axis] for r in rows if r[axis] is not None} - {1}
        clash.append(len(sizes) > 1)
        result.append(sizes.pop() if len(sizes) == 1 else 1)
    stretched = [tuple(not clash[a] and result[a] != 1 and r[a] in (None, 1) for a in range(rank))
                 for r in rows]
    return rows, (None if any(clash) else tuple(result)), stretched, tuple(clash)


def plot_broadcast(*arrays, names=None, ax=None):
    """Draw the shapes of ``arrays`` lined up from the right, with the stretched 1s and the result.

    A repeated 1 (a missing axis: dashed) is shaded; a clashing axis is red, with no result row.

    Parameters
    ----------
    *arrays : torch.Tensor or numpy.ndarray
        Two or more arrays of at least one axis; only their shapes are drawn (any values, empty ones too).
    names : sequence of str, optional
        A label for each array, e.g. ``["weight[:, None]", "X"]``.
    ax : matplotlib Axes, optional
        Drawn on and returned; by default a new figure's.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    if len(arrays) < 2:
        raise ValueError(f"arrays: plot_broadcast needs at least two arrays, got {len(arrays)}")
    for k, a in enumerate(arrays):
        if not hasattr(a, "shape"):
            raise TypeError(f"arrays[{k}] must be a tensor or an array, got {type(a).__name__}")
        if len(a.shape) == 0:
            raise ValueError(f"arrays[{k}] must have at least one axis to draw, got shape {tuple(a.shape)}")
    names = [f"array {k}" for k in range(len(arrays))] if names is None else _checks.sequence(
        "names", names, item=_checks.text)
    if len(names) != len(arrays):
        raise ValueError(f"names must hold one str per array ({len(arrays)}), got {names!r}")
    _checks.axes("ax", ax)
    rows, result, stretched, clash = broadcast_layout(*(tuple(a.shape) for a in arrays))
    rank = len(clash)
    target = [max((r[a] for r in rows if r[a] is not None), default=1) for a in range(rank)]
    if ax is None:
        _, ax = plt.subplots(figsize=(2.2 + 1.6 * rank, 0.6 * (len(rows) + 2)))
    lines = list(zip(names, rows, stretched))
    if result is not None:
        lines.append(("result", result, (False,) * rank))
    for r, (name, row, stretch) in enumerate(lines):
        y = -r - (0.3 if name == "result" else 0)
        ax.text(-0.15, y + 0.4, name, ha="right", va="center", family="monospace")
        for axis, size in enumerate(row):
            if size is None and not stretch[axis]:
                continue
            colour = "#f4a6a6" if clash[axis] and name != "result" else "#ffd27f" if stretch[axis] else "white"
            ax.add_patch(Rectangle((axis * 2.2, y), 2, 0.8, facecolor=colour, edgecolor="k",
                                   linestyle="--" if size is None else "-"))
            label = "·" if size is None else str(size)
            label += f" → {target[axis]}" if stretch[axis] else ""
            ax.text(axis * 2.2 + 1, y + 0.4, label, ha="center", va="center", family="monospace")
    if result is not None:
        ax.axhline(-len(rows) + 0.95, xmin=0, xmax=1, color="k", lw=0.8)
    ax.set(xlim=(-4.5, rank * 2.2), ylim=(-len(lines) - 0.5, 1), aspect="equal")
    ax.axis("off")
    return ax


def step_parts(X: torch.Tensor, x: torch.Tensor, kernel):
    """One mean shift step for the point ``x``: its weights, the plain mean and the weighted mean.

    Parameters
    ----------
    X : torch.Tensor of shape (n_samples, n_features)
    x : torch.Tensor of shape (n_features,)
        The point that moves.
    kernel : callable
        ``kernel(distances) -> weights``, e.g. ``partial(gaussian, bw=2.5)``.

    Returns
    -------
    weight, mean, new_x : torch.Tensor of shapes (n_samples,), (n_features,), (n_features,)
        The weights, the plain mean and the weighted mean: where ``x`` moves.
    """
    X = _checks.points("X", X, convert=True)
    x = _checks.tensor("x", x)
    if x.shape != (X.shape[1],) or not x.is_floating_point() or not bool(torch.isfinite(x).all()):
        raise ValueError(f"x must be one point of shape ({X.shape[1]},) of finite floats, got {tuple(x.shape)} "
                         f"{x.dtype}")
    _checks.callable_("kernel", kernel)
    weight = kernel(norm(x - X))
    return weight, X.mean(0), (weight[:, None] * X).sum(0) / weight.sum()


def plot_step(X: torch.Tensor, x: torch.Tensor, kernel, *, window: float | None = None, ax=None):
    """Draw :func:`step_parts`: points sized and coloured by weight, both means, and the move.

    Weights are shown relative to the heaviest neighbour of ``x`` (``x`` itself left out).

    Parameters
    ----------
    X, x, kernel
        As for :func:`step_parts`; 2-D points.
    window : float, optional
        Show only the square of half-width ``window`` centred on the move; by default all points.
    ax : matplotlib Axes, optional
        Drawn on and returned; by default a new figure's.
    """
    import matplotlib.pyplot as plt

    X, x = _checks.points("X", X, dims=2, convert=True), _checks.tensor("x", x)
    if window is not None:
        _checks.positive("window", window)
    _checks.axes("ax", ax)
    weight, mean, new_x = step_parts(X, x, kernel)
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4.5))
    # on the neighbours' scale: x's own weight (distance 0) would dwarf them all
    top = torch.where(norm(X - x) > 0, weight, 0).max()
    w = (weight / (top if top > 0 else weight.max())).clamp(max=1).numpy()
    order = w.argsort()  # heavy points drawn last, on top
    dots = ax.scatter(X[order, 0], X[order, 1], s=2 + 60 * w[order], c=w[order], cmap="viridis", vmin=0, vmax=1)
    ax.figure.colorbar(dots, ax=ax, label="weight ÷ heaviest neighbour's", shrink=0.8)
    ax.plot(*x.tolist(), "o", ms=9, mfc="none", mec="r", mew=2, label="x, the point that moves")
    ax.plot(*mean.tolist(), "s", ms=9, color="grey", label="unweighted mean")
    ax.plot(*new_x.tolist(), "*", ms=15, color="r", mec="k", label="weighted mean: the new x")
    ax.annotate("", xy=tuple(new_x.tolist()), xytext=tuple(x.tolist()),
                arrowprops=dict(arrowstyle="->", color="r", lw=2))
    if window is not None:
        cx, cy = ((x + new_x) / 2).tolist()  # centred on the arrow
        ax.set(xlim=(cx - window, cx + window), ylim=(cy - window, cy + window))
    ax.set(aspect="equal")
    ax.legend(fontsize=9, loc="best")
    return ax
