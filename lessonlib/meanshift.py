"""Mean shift clustering, from a loop over points to a grid that avoids quadratic time.

Taught by the chapter "Mean shift". Every point repeatedly moves to the
weighted average of the points around it, with weights that fall off with
distance; points of one cluster all end up at the same place. As in the
lecture, the points that move are also the points averaged ("blurring" mean
shift): each step re-weights the already-shifted data.

- :func:`make_clusters`, :func:`plot_data`, :func:`plot_func` -- data and plots;
- :func:`gaussian`, :func:`tri`, :func:`norm` -- weights and distances;
- :func:`one_update`, :func:`meanshift` -- the loop version, point by point;
- :func:`meanshift_batched` -- a batch of points at a time, by broadcasting and
  a matrix product; runs on whatever device the data is on;
- :func:`meanshift_fast` -- near neighbours only, through a grid: time grows
  with n, not n squared;
- :func:`cluster_labels` -- from converged points to cluster labels;
- :func:`broadcast_layout`, :func:`plot_broadcast`, :func:`step_parts`,
  :func:`plot_step` -- the chapter's pictures: shapes lined up from the right,
  and one step with its weights, its means and its arrow.
"""

from __future__ import annotations

import math
import numbers

import torch
from torch.distributions.multivariate_normal import MultivariateNormal

from . import _checks
from .matmul import dist_b

# ---------------------------------------------------------------- validation


def _check_distances(d, signed: bool = False) -> torch.Tensor:
    """Distances for a kernel: a tensor (a numpy array or list is converted) of real values, >= 0 unless ``signed``."""
    d = _checks.tensor("d", d)
    if d.dtype == torch.bool or d.is_complex():
        raise ValueError(f"d must hold real distances, got {d.dtype}")
    if not signed and not bool((d >= 0).all()):
        raise ValueError("d must hold distances >= 0 (no negative or NaN values)")
    if signed and bool(torch.isnan(d).any()):
        raise ValueError("d must not hold NaN")
    return d


# ---------------------------------------------------------------- data and plots


def sample(centroid: torch.Tensor, n_samples: int) -> torch.Tensor:
    """``n_samples`` points from a 2-D normal around ``centroid`` with variance 5 on each axis.

    Uses torch's global generator; :func:`make_clusters` seeds it.
    """
    centroid = _checks.tensor("centroid", centroid)
    if centroid.shape != (2,) or not centroid.is_floating_point() or not bool(torch.isfinite(centroid).all()):
        raise ValueError(f"centroid must be a tensor of shape (2,), finite floats, got {tuple(centroid.shape)} "
                         f"{centroid.dtype}")
    _checks.integer("n_samples", n_samples, low=1)
    return MultivariateNormal(centroid, torch.diag(torch.tensor([5.0, 5.0], dtype=centroid.dtype))).sample((n_samples,))


def make_clusters(n_clusters: int = 6, n_samples: int = 250, seed: int = 42):
    """The lecture's data: ``n_clusters`` blobs of ``n_samples`` points in 2-D.

    Centroids are uniform in [-35, 35)², as ``torch.rand(n_clusters, 2)*70-35``.
    The global random state is left as it was.

    Returns
    -------
    centroids : torch.Tensor of shape (n_clusters, 2)
    data : torch.Tensor of shape (n_clusters * n_samples, 2)
        Cluster ``i`` is rows ``i*n_samples`` to ``(i+1)*n_samples``.
    """
    _checks.integer("n_clusters", n_clusters, low=1)
    _checks.integer("n_samples", n_samples, low=1)
    seed = _checks.seed("seed", seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        centroids = torch.rand(n_clusters, 2) * 70 - 35
        data = torch.cat([sample(c, n_samples) for c in centroids])
    return centroids, data


def true_labels(n_clusters: int, n_samples: int) -> torch.Tensor:
    """The cluster each row of :func:`make_clusters`'s data came from."""
    _checks.integer("n_clusters", n_clusters, low=1)
    _checks.integer("n_samples", n_samples, low=1)
    return torch.arange(n_clusters).repeat_interleave(n_samples)


def plot_data(centroids, data, n_samples: int, ax=None):
    """Scatter each cluster in its own colour, centroids as a big black X over a small magenta X."""
    import matplotlib.pyplot as plt

    data = _checks.points("data", data, convert=False)
    centroids = _checks.points("centroids", centroids, dims=data.shape[1], like="data")
    _checks.integer("n_samples", n_samples, low=1)
    if data.shape[1] != 2:
        raise ValueError(f"data must hold 2-D points to be drawn, got shape {tuple(data.shape)}")
    if len(centroids) * n_samples > len(data):
        raise ValueError(f"data has {len(data)} points, fewer than {len(centroids)} centroids × n_samples "
                         f"({n_samples}): pass the data make_clusters made with these centroids")
    if ax is None:
        _, ax = plt.subplots()
    for i, centroid in enumerate(centroids):
        pts = data[i * n_samples : (i + 1) * n_samples]
        ax.scatter(pts[:, 0], pts[:, 1], s=1)
        ax.plot(*centroid, markersize=10, marker="x", color="k", mew=5)
        ax.plot(*centroid, markersize=5, marker="x", color="m", mew=2)
    return ax


def plot_func(f, start: float = 0, stop: float = 10, steps: int = 100, ax=None):
    """Plot ``f`` on ``steps`` points from ``start`` to ``stop``."""
    import matplotlib.pyplot as plt

    _checks.callable_("f", f)
    _checks.real("start", start)
    _checks.real("stop", stop)
    if not stop > start:
        raise ValueError(f"stop ({stop}) must be greater than start ({start})")
    _checks.integer("steps", steps, low=2)
    if ax is None:
        _, ax = plt.subplots()
    x = torch.linspace(start, stop, steps)
    ax.plot(x, f(x))
    return ax


# ---------------------------------------------------------------- weights and norms


def gaussian(d: torch.Tensor, bw: float) -> torch.Tensor:
    """Gaussian weight of distance ``d``: exp(-d²/2bw²) / (bw √(2π)).

    ``bw``, the bandwidth, is the standard deviation: how far away a point can
    be and still count.
    """
    d = _check_distances(d, signed=True)  # the density is symmetric: a signed offset is fine
    _checks.positive("bw", bw)
    return torch.exp(-0.5 * (d / bw) ** 2) / (bw * math.sqrt(2 * math.pi))


def tri(d: torch.Tensor, i: float) -> torch.Tensor:
    """Triangular weight: 1 at distance 0, falling linearly to 0 at distance ``i``, 0 beyond."""
    d = _check_distances(d)
    _checks.positive("i", i)
    return (-d + i).clamp_min(0) / i


def norm(v: torch.Tensor, p: float = 2) -> torch.Tensor:
    """The p-norm over the last axis: ``(Σ|v|^p)^(1/p)``; ``p=math.inf`` gives ``max |v|``.

    p=2 is the Euclidean length (the L2 norm; root mean squared error is an L2
    norm scaled by 1/√n); p=1 adds absolute values (L1, the "city block"
    distance; mean absolute error is its scaled form).
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


# ---------------------------------------------------------------- mean shift


def one_update(X: torch.Tensor, kernel) -> None:
    """Move every point of ``X``, in place and in order, to the ``kernel``-weighted mean of ``X``.

    ``kernel(distances)`` gives weights, e.g. ``partial(gaussian, bw=2.5)``.
    Points later in the loop see the earlier ones already moved. ``X`` must be a
    floating-point tensor or numpy array (moved in place; a list could not be).
    """
    if isinstance(X, (list, tuple)):
        raise TypeError("X must be a torch.Tensor or a numpy array, moved in place; got a list")
    X = _checks.points("X", X, convert=True)
    _checks.callable_("kernel", kernel)
    for i, x in enumerate(X):
        dist = norm(x - X)  # x (2,) broadcasts against X (n, 2): no x[None] needed
        weight = kernel(dist)
        X[i] = (weight[:, None] * X).sum(0) / weight.sum()


def meanshift(data: torch.Tensor, *, bw: float = 2.5, iters: int = 5, kernel=gaussian) -> torch.Tensor:
    """Mean shift, one point at a time: the lecture's loop version.

    Parameters
    ----------
    data : torch.Tensor of shape (n_samples, n_features)
    bw : float, default 2.5
        Bandwidth, passed to ``kernel`` as its second argument.
    iters : int, default 5
    kernel : callable, default gaussian
        ``kernel(distances, bw) -> weights``; :func:`gaussian` or :func:`tri`.

    Returns
    -------
    torch.Tensor of shape (n_samples, n_features)
        The shifted points; ``data`` is not changed.

    Notes
    -----
    O(iters · n²) work, n of it in Python loop steps.
    """
    data = _checks.points("data", data, convert=True)
    _checks.positive("bw", bw)
    _checks.integer("iters", iters, low=0)
    _checks.callable_("kernel", kernel)
    X = data.clone()
    for _ in range(iters):
        one_update(X, lambda d: kernel(d, bw))  # kernel(distances, bw), as in meanshift_batched
    return X


def meanshift_batched(
    data: torch.Tensor, *, bw: float = 2.5, iters: int = 5, bs: int = 500, kernel=gaussian
) -> torch.Tensor:
    """Mean shift, ``bs`` points at a time, on whatever device ``data`` is on.

    For a batch ``X[s]`` of shape (bs, d): distances to all n points, ``dist_b(X[s], X)``
    of shape (bs, n); weights of the same shape; then the weighted means are one
    matrix product, ``weight @ X`` (bs, n)@(n, d), divided by each row's total weight.

    Parameters
    ----------
    data : torch.Tensor of shape (n_samples, n_features)
    bw : float, default 2.5
    iters : int, default 5
    bs : int, default 500
        Points per batch. Batches are updated in place one after another, as in
        the loop version; with ``bs >= n`` every point moves at once.
    kernel : callable, default gaussian

    Returns
    -------
    torch.Tensor of shape (n_samples, n_features)

    Notes
    -----
    O(iters · n² · d) work and O(bs · n · d) memory.
    """
    data = _checks.points("data", data, convert=True)
    _checks.positive("bw", bw)
    _checks.integer("iters", iters, low=0)
    _checks.integer("bs", bs, low=1)
    _checks.callable_("kernel", kernel)
    n = len(data)
    X = data.clone()
    for _ in range(iters):
        for i in range(0, n, bs):
            s = slice(i, min(i + bs, n))
            weight = kernel(dist_b(X[s], X), bw)  # (bs, n)
            X[s] = weight @ X / weight.sum(1, keepdim=True)  # (bs, n) @ (n, d): the weighted sums
    return X


def _conv_axis(field: torch.Tensor, taps: torch.Tensor, axis: int) -> torch.Tensor:
    """Correlate each line of a 2-D ``field`` with ``taps`` (odd length, centred) along ``axis``; zero outside.

    On a GPU, cuDNN would run float32 convolutions in TF32 (10-bit mantissa) by
    default; here they run in full float32 ("ieee"), so the error bound of
    :func:`meanshift_fast` holds on every device.
    """
    R = (len(taps) - 1) // 2
    lines = field if axis == 1 else field.T
    conv = torch.backends.cudnn.conv
    before = conv.fp32_precision
    conv.fp32_precision = "ieee"
    try:
        out = torch.nn.functional.conv1d(lines[:, None, :], taps.view(1, 1, -1), padding=R)[:, 0, :]
    finally:
        conv.fp32_precision = before
    return out if axis == 1 else out.T


def _check_grid(data: torch.Tensor, bw: float, cutoff: float, cell: float, max_cells: int) -> None:
    """Refuse, before allocating, taps (2R + 1) or a first grid that would not fit in ``max_cells``."""
    if cutoff / cell > max_cells:
        raise ValueError(f"cutoff/cell = {cutoff / cell:.3g} taps per side, over max_cells={max_cells}; "
                         f"raise cell (now {cell})")
    R = math.ceil(cutoff / cell)
    span = ((data.max(0).values - data.min(0).values) / (cell * bw)).tolist()
    if (span[0] + 2) * (span[1] + 2) > max_cells or 2 * R + 1 > max_cells:
        raise ValueError(
            f"the points span about {span[0] + 2:.3g}×{span[1] + 2:.3g} grid nodes, over max_cells={max_cells}; "
            f"raise cell (now {cell}) or max_cells"
        )


def _grid_shape(i0: torch.Tensor, cell: float, max_cells: int) -> tuple[int, int]:
    """Grid nodes along each axis for points in cells ``i0`` (one beyond the last); refused over ``max_cells``."""
    nx, ny = (int(v) + 2 for v in i0.max(0).values)
    if nx * ny > max_cells:
        raise ValueError(
            f"the points span {nx}×{ny} grid nodes, over max_cells={max_cells}; raise cell (now {cell}) or max_cells"
        )
    return nx, ny


def meanshift_fast(
    data: torch.Tensor,
    *,
    bw: float = 2.5,
    iters: int = 5,
    cutoff: float = 4.0,
    cell: float = 0.125,
    max_cells: int = 50_000_000,
) -> torch.Tensor:
    """Mean shift with a Gaussian kernel in O(n + grid) per step, for 2-D points.

    Every point moves to the Gaussian-weighted mean of the points within
    ``cutoff · bw`` of it (on each axis), all points at once, as
    :func:`meanshift_batched` does with ``bs >= n``, but the sums run over the
    nodes of a grid (spacing ``cell · bw``) instead of over points: each step
    spreads every point's mass over its four grid nodes, convolves the node
    masses with the (separable) Gaussian, and moves each point by the
    interpolated weighted offset. The chapter "Mean shift" derives the error
    bound.

    Parameters
    ----------
    data : torch.Tensor of shape (n_samples, 2)
    bw : float, default 2.5
        Bandwidth of the Gaussian kernel.
    iters : int, default 5
    cutoff : float, default 4.0
        Truncation of the kernel, in bandwidths.
    cell : float, default 0.125
        Grid spacing, in bandwidths.
    max_cells : int, default 50,000,000
        Refuse a grid with more nodes than this (data spread very thinly).

    Returns
    -------
    torch.Tensor of shape (n_samples, 2), on ``data``'s device

    Notes
    -----
    Work per step: O(n) + O(G·(2·cutoff/cell + 1)) for G grid nodes.
    """
    data = _checks.points("data", data, dims=2, convert=True)
    _checks.positive("bw", bw)
    _checks.integer("iters", iters, low=0)
    _checks.positive("cutoff", cutoff)
    _checks.positive("cell", cell)
    _checks.integer("max_cells", max_cells, low=1)
    _check_grid(data, bw, cutoff, cell, max_cells)
    X = data.clone()
    h = cell * bw
    R = math.ceil(cutoff / cell)
    t = torch.arange(-R, R + 1, dtype=X.dtype, device=X.device) * h  # tap offsets
    w = torch.exp(-0.5 * (t / bw) ** 2)  # the Gaussian along one axis
    wt = w * t  # ... times the offset, for the weighted-offset field
    for _ in range(iters):
        origin = X.min(0).values  # grid anchored on the data: moving the data moves the grid
        g = (X - origin) / h  # grid coordinates
        i0 = torch.floor(g).long()
        f = g - i0  # position within the cell, in [0, 1)
        nx, ny = _grid_shape(i0, cell, max_cells)
        # 1. linear binning: each point's mass goes to its 4 surrounding nodes
        mass = torch.zeros(nx * ny, dtype=X.dtype, device=X.device)
        corners = []
        for dx in (0, 1):
            for dy in (0, 1):
                lam = (f[:, 0] if dx else 1 - f[:, 0]) * (f[:, 1] if dy else 1 - f[:, 1])
                idx = (i0[:, 0] + dx) * ny + (i0[:, 1] + dy)
                mass.index_add_(0, idx, lam)
                corners.append((idx, lam))
        mass = mass.view(nx, ny)
        # 2. separable convolutions: D = Σ m w(Δx) w(Δy); M = Σ m w(Δx) w(Δy) (Δx, Δy)
        ax, bx = _conv_axis(mass, w, 0), _conv_axis(mass, wt, 0)
        D = _conv_axis(ax, w, 1).flatten()
        Mx = _conv_axis(bx, w, 1).flatten()
        My = _conv_axis(ax, wt, 1).flatten()
        # 3. interpolate at each point and move it by M/D
        d_pt = sum(lam * D[idx] for idx, lam in corners)
        m_pt = torch.stack([sum(lam * F[idx] for idx, lam in corners) for F in (Mx, My)], dim=1)
        X = X + m_pt / d_pt[:, None]
    return X


def cluster_labels(shifted: torch.Tensor, *, tol: float = 1.0):
    """Group converged points: points within ``tol`` of a cluster's first point share its label.

    Parameters
    ----------
    shifted : torch.Tensor of shape (n_samples, n_features)
        Output of a mean shift.
    tol : float, default 1.0
        Distance within which points count as having reached the same place.

    Returns
    -------
    centroids : torch.Tensor of shape (n_clusters, n_features)
        Mean position of each cluster's points.
    labels : torch.Tensor of int64, shape (n_samples,)
        0 for the largest cluster, 1 for the next, and so on.

    The order is that of :func:`lessonlib.cluster.kmeans` (and of
    scikit-learn's ``k_means`` and ``mean_shift`` functions): centroids first.

    Notes
    -----
    O(n · k) for k clusters: each pass labels every unlabelled point near one seed.
    """
    shifted = _checks.points("shifted", shifted, convert=True)
    _checks.positive("tol", tol)
    n = len(shifted)
    labels = torch.full((n,), -1, dtype=torch.long, device=shifted.device)
    k = 0
    while True:
        free = (labels < 0).nonzero()
        if len(free) == 0:
            break
        seed = shifted[free[0, 0]]
        near = (labels < 0) & (norm(shifted - seed) <= tol)
        labels[near] = k
        k += 1
    sizes = torch.bincount(labels, minlength=k)
    order = torch.argsort(sizes, descending=True, stable=True)
    rank = torch.empty_like(order)
    rank[order] = torch.arange(k, device=shifted.device)
    labels = rank[labels]
    centroids = torch.zeros(k, shifted.shape[1], dtype=shifted.dtype, device=shifted.device)
    centroids.index_add_(0, labels, shifted)
    centroids /= torch.bincount(labels, minlength=k)[:, None].to(shifted.dtype)
    return centroids, labels


# ---------------------------------------------------------------- teaching pictures


def broadcast_layout(*shapes):
    """Line shapes up from the right, as broadcasting does, and say which axes stretch.

    Parameters
    ----------
    *shapes : tuple of int
        Two or more shapes (``tensor.shape`` works).

    Returns
    -------
    rows : list of tuple
        Each shape padded on the left with ``None`` to the longest rank.
    result : tuple of int or None
        The broadcast shape, or None when some axis does not match.
    stretched : list of tuple of bool
        For each shape and axis: True where a size of 1 (or a missing axis)
        is repeated to the result's size.
    clash : tuple of bool
        For each axis: True where the sizes differ and none of them is 1.
    """
    if len(shapes) < 2:
        raise ValueError(f"shapes must hold at least two shapes, got {len(shapes)}")
    clean = []
    for k, shape in enumerate(shapes):
        if not isinstance(shape, (tuple, list, torch.Size)):
            raise TypeError(f"shapes[{k}] must be a tuple of ints, got {type(shape).__name__}")
        clean.append(tuple(_checks.integer(f"shapes[{k}][{a}]", v, low=0) for a, v in enumerate(shape)))
    rank = max(len(s) for s in clean)
    rows = [(None,) * (rank - len(s)) + s for s in clean]
    result, clash = [], []
    for axis in range(rank):
        sizes = {r[axis] for r in rows if r[axis] is not None} - {1}
        clash.append(len(sizes) > 1)
        result.append(sizes.pop() if len(sizes) == 1 else 1)
    stretched = [tuple(not clash[a] and result[a] != 1 and (r[a] is None or r[a] == 1) for a in range(rank))
                 for r in rows]
    return rows, (None if any(clash) else tuple(result)), stretched, tuple(clash)


def plot_broadcast(*arrays, names=None, ax=None):
    """Draw the shapes of ``arrays`` lined up from the right, with the stretched 1s and the result.

    Each array is a row of boxes, one per axis, right-aligned. A box whose
    size 1 (or missing axis, drawn dashed) is repeated is shaded and marked
    "→ n"; an axis whose sizes clash is drawn in red and no result row is drawn.

    Parameters
    ----------
    *arrays : torch.Tensor or numpy.ndarray
        Two or more arrays; only their shapes are drawn.
    names : sequence of str, optional
        A label for each array, e.g. ``["weight[:, None]", "X"]``.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    shapes = []
    for k, a in enumerate(arrays):
        if not hasattr(a, "shape"):
            raise TypeError(f"arrays[{k}] must be a tensor or an array, got {type(a).__name__}")
        shapes.append(tuple(a.shape))
    names = [f"array {k}" for k in range(len(arrays))] if names is None else list(names)
    if len(names) != len(arrays) or not all(isinstance(n, str) for n in names):
        raise ValueError(f"names must hold one str per array ({len(arrays)}), got {names!r}")
    rows, result, stretched, clash = broadcast_layout(*shapes)
    rank = len(clash)
    target = [max((r[a] for r in rows if r[a] is not None), default=1) for a in range(rank)]  # a stretched 1's new size
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
            label = "" if size is None else str(size)
            if stretch[axis]:
                label = f"{label or '·'} → {target[axis]}"
            ax.text(axis * 2.2 + 1, y + 0.4, label, ha="center", va="center", family="monospace")
    if result is not None:
        ax.axhline(-len(rows) + 0.95, xmin=0, xmax=1, color="k", lw=0.8)
    ax.set(xlim=(-4.5, rank * 2.2), ylim=(-len(lines) - 0.5, 1), aspect="equal")
    ax.axis("off")
    return ax


def step_parts(X: torch.Tensor, x: torch.Tensor, kernel):
    """The pieces of one mean shift step for the point ``x``: weights, plain mean and weighted mean.

    Parameters
    ----------
    X : torch.Tensor of shape (n_samples, n_features)
        The points averaged.
    x : torch.Tensor of shape (n_features,)
        The point that moves.
    kernel : callable
        ``kernel(distances) -> weights``, e.g. ``partial(gaussian, bw=2.5)``.

    Returns
    -------
    weight : torch.Tensor of shape (n_samples,)
    mean : torch.Tensor of shape (n_features,)
        The unweighted mean of ``X``.
    new_x : torch.Tensor of shape (n_features,)
        The weighted mean: where ``x`` moves.
    """
    X = _checks.points("X", X, convert=True)
    x = _checks.tensor("x", x)
    if x.shape != (X.shape[1],) or not x.is_floating_point():
        raise ValueError(f"x must be one point of shape ({X.shape[1]},) of floats, got {tuple(x.shape)} {x.dtype}")
    _checks.callable_("kernel", kernel)
    weight = kernel(norm(x - X))
    return weight, X.mean(0), (weight[:, None] * X).sum(0) / weight.sum()


def plot_step(X: torch.Tensor, x: torch.Tensor, kernel, *, window: float | None = None, ax=None):
    """Draw one mean shift step for ``x``: every point sized and coloured by its weight, the plain
    mean, the weighted mean and the arrow along which ``x`` moves.

    Parameters
    ----------
    X, x, kernel
        As for :func:`step_parts`; 2-D points.
    window : float, optional
        Show only the square of half-width ``window`` around ``x`` (a close-up
        of the move); by default all points.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
    """
    import matplotlib.pyplot as plt

    X = _checks.points("X", X, dims=2, convert=True)
    if window is not None:
        _checks.positive("window", window)
    weight, mean, new_x = step_parts(X, x, kernel)
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4.5))
    w = (weight / weight.max()).numpy()
    order = w.argsort()  # heavy points drawn last, on top
    dots = ax.scatter(X[order, 0], X[order, 1], s=2 + 60 * w[order], c=w[order], cmap="viridis", vmin=0, vmax=1)
    ax.figure.colorbar(dots, ax=ax, label="weight ÷ largest weight", shrink=0.8)
    ax.plot(*x.tolist(), "o", ms=9, mfc="none", mec="r", mew=2, label="x, the point that moves")
    ax.plot(*mean.tolist(), "s", ms=9, color="grey", label="unweighted mean")
    ax.plot(*new_x.tolist(), "*", ms=15, color="r", mec="k", label="weighted mean: the new x")
    ax.annotate("", xy=tuple(new_x.tolist()), xytext=tuple(x.tolist()),
                arrowprops=dict(arrowstyle="->", color="r", lw=2))
    if window is not None:
        cx, cy = x.tolist()
        ax.set(xlim=(cx - window, cx + window), ylim=(cy - window, cy + window))
    ax.set(aspect="equal")
    ax.legend(fontsize=8, loc="best")
    return ax
