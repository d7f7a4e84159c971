"""k-means and DBSCAN with tensors: the lecture's clustering homework, on any device.

Taught by the chapter "Homework: k-means, DBSCAN and LSH". Both algorithms
are written with whole-tensor operations (broadcasting, a matrix product,
scatter-reductions), so the same code runs on a CPU or, with the data on
``cuda``, on a GPU. Both are checked against scikit-learn.

- :func:`kmeans` -- Lloyd's algorithm: assign each point to its nearest
  centroid, move each centroid to the mean of its points, repeat;
- :func:`kmeans_plusplus` -- the usual seeding: spread-out first centroids;
- :func:`inertia` -- the sum of squared distances k-means makes small;
- :func:`dbscan` -- density-based clusters of any shape, with noise;
- :func:`radius_pairs` -- every pair of points within ``eps``, the neighbour
  search behind :func:`dbscan`, by broadcasting over blocks of nearby points.
"""

from __future__ import annotations

import torch

from .meanshift import _check_count, _check_points, _check_positive

# ---------------------------------------------------------------- k-means


def _sq_dists(X: torch.Tensor, C: torch.Tensor) -> torch.Tensor:
    """Squared distances (n, k) as |x|² - 2 x·c + |c|²: the cross term is one matrix product."""
    d2 = (X * X).sum(1, keepdim=True) - 2 * X @ C.T + (C * C).sum(1)
    return d2.clamp_min_(0)  # rounding can make a tiny distance negative


def _assign(X: torch.Tensor, C: torch.Tensor, block: int = 1 << 16):
    """Nearest centroid of every point, and its squared distance, ``block`` rows at a time."""
    labels = torch.empty(len(X), dtype=torch.long, device=X.device)
    best = torch.empty(len(X), dtype=X.dtype, device=X.device)
    for i in range(0, len(X), block):
        best[i : i + block], labels[i : i + block] = _sq_dists(X[i : i + block], C).min(1)
    return labels, best


def inertia(X: torch.Tensor, centroids: torch.Tensor) -> float:
    """Sum of squared distances from each point to its nearest centroid.

    This is what k-means makes small, and what scikit-learn's ``KMeans.inertia_`` reports.
    """
    _check_points(X, "X")
    _check_points(centroids, "centroids", dims=X.shape[1])
    return float(_assign(X, centroids.to(X))[1].sum())


def kmeans_plusplus(X: torch.Tensor, k: int, *, seed: int = 0) -> torch.Tensor:
    """Pick ``k`` rows of ``X`` as first centroids, far apart (k-means++).

    The first is uniform; each next one is drawn with probability proportional
    to its squared distance from the nearest centroid chosen so far.

    Returns
    -------
    torch.Tensor of shape (k, n_features)

    References
    ----------
    Arthur and Vassilvitskii, "k-means++: the advantages of careful seeding", SODA 2007.
    """
    _check_points(X, "X")
    _check_count("k", k, 1)
    if k > len(X):
        raise ValueError(f"k ({k}) must be at most the number of points ({len(X)})")
    _check_count("seed", seed, 0)
    gen = torch.Generator().manual_seed(seed)  # on the CPU, so every device draws the same rows
    first = int(torch.randint(len(X), (1,), generator=gen))
    chosen = [first]
    d2 = _sq_dists(X, X[first : first + 1])[:, 0]
    for _ in range(1, k):
        p = d2.double().cpu()
        # all points coincide with chosen centroids: fall back to uniform choice
        nxt = int(torch.multinomial(p / p.sum() if p.sum() > 0 else torch.ones_like(p), 1, generator=gen))
        chosen.append(nxt)
        d2 = torch.minimum(d2, _sq_dists(X, X[nxt : nxt + 1])[:, 0])
    return X[chosen].clone()


def kmeans(
    X: torch.Tensor,
    k: int,
    *,
    iters: int = 100,
    seed: int = 0,
    init: torch.Tensor | None = None,
):
    """Lloyd's k-means: split ``X`` into ``k`` clusters around their means.

    Each iteration assigns every point to its nearest centroid (all n × k
    squared distances at once, the cross term as a matrix product) and moves
    every centroid to the mean of its points (one ``index_add_``). It stops
    after ``iters`` iterations or as soon as no point changes cluster.

    Parameters
    ----------
    X : torch.Tensor of shape (n_samples, n_features)
        On any device; the work happens there.
    k : int
        Number of clusters, 1 <= k <= n_samples.
    iters : int, default 100
        Most iterations to run; 0 only assigns points to ``init``.
    seed : int, default 0
        Seed for :func:`kmeans_plusplus` when ``init`` is not given.
    init : torch.Tensor of shape (k, n_features), optional
        Starting centroids. Pass the same ones to scikit-learn's
        ``KMeans(init=..., n_init=1)`` to compare the two from one start.

    Returns
    -------
    centroids : torch.Tensor of shape (k, n_features)
    labels : torch.Tensor of int64, shape (n_samples,)
        Index of each point's nearest final centroid.

    Notes
    -----
    O(iters · n · k · d) work, O(n · k) memory in blocks of 65,536 rows.
    A cluster that loses all its points keeps its old centroid (scikit-learn
    moves it to a far point instead); with k-means++ seeding this is rare.
    """
    _check_points(X, "X")
    _check_count("k", k, 1)
    if k > len(X):
        raise ValueError(f"k ({k}) must be at most the number of points ({len(X)})")
    _check_count("iters", iters, 0)
    if init is None:
        C = kmeans_plusplus(X, k, seed=seed)
    else:
        _check_points(init, "init", dims=X.shape[1])
        if len(init) != k:
            raise ValueError(f"init has {len(init)} centroids but k is {k}")
        C = init.to(X).clone()
    labels, _ = _assign(X, C)
    for _ in range(iters):
        sums = torch.zeros_like(C).index_add_(0, labels, X)
        counts = torch.bincount(labels, minlength=k)
        filled = counts > 0
        C[filled] = sums[filled] / counts[filled, None].to(X.dtype)  # empty clusters stay put
        new, _ = _assign(X, C)
        if torch.equal(new, labels):
            break
        labels = new
    return C, labels


# ---------------------------------------------------------------- DBSCAN


def _block_sq_dists(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """All squared distances (a, b) from differences, exact for duplicates (no |x|²-2x·y+|y|² rounding)."""
    if A.shape[1] <= 8:  # few features: one broadcast (a, 1) - (1, b) per feature beats a tiny-axis sum
        return sum((A[:, k, None] - B[None, :, k]) ** 2 for k in range(A.shape[1]))
    return ((A[:, None, :] - B[None, :, :]) ** 2).sum(-1)  # (a, 1, d) - (1, b, d)


def radius_pairs(X: torch.Tensor, eps: float, *, block: int = 128):
    """Every ordered pair (i, j) of rows of ``X`` with ``|X[i] - X[j]| <= eps``, self-pairs included.

    Comparing all n² pairs wastes nearly all the work when ``eps`` is small.
    Here the points are sorted into columns of width ``eps`` along the first
    axis, and by the second coordinate inside each column. A neighbour of a
    point lies in the same column or the next one on either side, no more than
    ``eps`` away along the second axis: in the sorted order that is three
    contiguous runs. So each block of up to ``block`` points from one column
    is compared, by broadcasting, only with those three runs.

    Parameters
    ----------
    X : torch.Tensor of shape (n_samples, n_features)
    eps : float
        Neighbourhood radius (Euclidean), > 0.
    block : int, default 128
        Points per block; memory is O(block · candidates · n_features).

    Returns
    -------
    i, j : torch.Tensor of int64, each of shape (n_pairs,)
        Row indices into ``X``; the relation is symmetric and contains (i, i).

    Notes
    -----
    Exact. For 2-D data the work is about n · (points within a 3·eps × (2·eps
    + block spread) window), far below n² when eps is small; in more dimensions
    only the first two axes prune.
    """
    _check_points(X, "X")
    _check_positive("eps", eps)
    _check_count("block", block, 1)
    n, dev = len(X), X.device
    x0 = X[:, 0].double()
    col = torch.floor((x0 - x0.min()) / eps).long()
    y = X[:, 1 if X.shape[1] > 1 else 0].double()
    order = torch.argsort(y, stable=True)
    order = order[torch.argsort(col[order], stable=True)]  # by column, then by y inside it
    Xs, cs, ys = X[order], col[order], y[order]
    cols, counts = torch.unique_consecutive(cs, return_counts=True)
    ends = torch.cumsum(counts, 0)
    starts = ends - counts
    # A key that sorts like (column, y): ys is sorted within each column, so
    # searchsorted on it finds the y-window inside any column in one call.
    span = float(ys.max() - ys.min()) + 4 * eps + 1.0
    rank = torch.arange(len(cols), device=dev)
    key = torch.repeat_interleave(rank, counts).double() * span + (ys - ys.min())

    # blocks: runs of at most `block` points inside one column
    per_col = (counts + block - 1) // block
    bcol = torch.repeat_interleave(rank, per_col)
    bstart = starts[bcol] + (torch.arange(len(bcol), device=dev) - torch.repeat_interleave(
        torch.cumsum(per_col, 0) - per_col, per_col)) * block
    bend = torch.minimum(bstart + block, ends[bcol])
    ylo, yhi = ys[bstart] - ys.min() - eps, ys[bend - 1] - ys.min() + eps
    # the key is rounded (to ~1e-16 of its largest value): widen the window by far more
    # than that; the exact distance test below decides
    margin = 1e-12 * (len(cols) + 1) * span
    # neighbouring columns by their column number, not rank: a gap in columns means no neighbours
    pos = {int(c): r for r, c in enumerate(cols.tolist())}
    runs = []
    for offset in (-1, 0, 1):
        nb = torch.tensor([pos.get(c + offset, -1) for c in cols[bcol].tolist()], dtype=torch.long, device=dev)
        ok = nb >= 0
        base = nb.clamp_min(0).double() * span
        lo = torch.where(ok, torch.searchsorted(key, base + ylo - margin), 0)
        hi = torch.where(ok, torch.searchsorted(key, base + yhi + margin, right=True), 0)
        runs.append(list(zip(lo.tolist(), hi.tolist())))
    eps2 = eps * eps
    I, J = [], []
    for b, (s, e) in enumerate(zip(bstart.tolist(), bend.tolist())):
        cand = torch.cat([torch.arange(lo, hi, device=dev) for lo, hi in (r[b] for r in runs) if hi > lo])
        d2 = _block_sq_dists(Xs[s:e], Xs[cand])  # every point of the block against every candidate
        bi, cj = (d2 <= eps2).nonzero(as_tuple=True)
        I.append(bi + s)
        J.append(cand[cj])
    i, j = torch.cat(I), torch.cat(J)
    return order[i], order[j]


def _components(n: int, i: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
    """Label each node with the smallest index in its connected component (edges i--j, either direction).

    Every node starts as its own tree. Each round, for every edge whose ends
    sit in different trees, the larger of the two roots is hooked under the
    smaller (one ``scatter_reduce`` over the edges), then pointer jumping
    (``lab = lab[lab]``) flattens the trees so each node points straight at its
    root. Roots only ever hook under smaller roots, so no cycles form. Edges
    inside one tree are dropped after each round; when none are left, each
    tree is a component.
    """
    lab = torch.arange(n, device=i.device)
    while len(i):
        a, b = lab[i], lab[j]  # the roots at either end
        new = lab.scatter_reduce(0, torch.maximum(a, b), torch.minimum(a, b), reduce="amin")
        while True:  # pointer jumping: each pass halves every path to a root
            jumped = new[new]
            if torch.equal(jumped, new):
                break
            new = jumped
        lab = new
        apart = lab[i] != lab[j]  # only edges between different trees can change anything
        i, j = i[apart], j[apart]
    return lab


def dbscan(X: torch.Tensor, *, eps: float, min_samples: int = 5, pairs=None) -> torch.Tensor:
    """DBSCAN: clusters are regions dense with points; points in sparse regions are noise.

    A point is a **core** point when at least ``min_samples`` points (itself
    included) lie within ``eps`` of it. Core points within ``eps`` of each other
    belong to one cluster. A non-core point within ``eps`` of a core point is a
    **border** point and joins that core point's cluster; every other point is
    **noise**, label -1. These are scikit-learn's rules, including its choice
    for a border point that several clusters reach: clusters are numbered by
    their first core point in data order, and such a point joins the lowest
    numbered one. So the labels equal scikit-learn's, not just up to renaming.

    Parameters
    ----------
    X : torch.Tensor of shape (n_samples, n_features)
    eps : float
        Neighbourhood radius, > 0.
    min_samples : int, default 5
        Points (self included) within ``eps`` that make a core point, >= 1.
    pairs : tuple of two int64 tensors, optional
        The neighbour pairs ``(i, j)`` to use instead of :func:`radius_pairs`,
        for example approximate ones from :func:`lessonlib.lsh.radius_pairs`.
        They must contain every self-pair (i, i); repeats and missing reverse
        pairs (j, i) are taken care of.

    Returns
    -------
    labels : torch.Tensor of int64, shape (n_samples,)
        Cluster 0, 1, ... or -1 for noise.

    Notes
    -----
    After the neighbour search, everything is whole-tensor work on the pairs:
    a ``bincount`` for core points, connected components of the core points by
    min-label propagation, and a ``scatter_reduce`` for border points.
    Memory is O(number of neighbour pairs), as in scikit-learn.

    References
    ----------
    Ester, Kriegel, Sander and Xu, "A density-based algorithm for discovering
    clusters in large spatial databases with noise", KDD 1996.
    """
    _check_points(X, "X")
    _check_positive("eps", eps)
    _check_count("min_samples", min_samples, 1)
    n = len(X)
    if pairs is None:
        i, j = radius_pairs(X, eps)
    else:
        i, j = pairs
        if not (isinstance(i, torch.Tensor) and isinstance(j, torch.Tensor) and i.shape == j.shape and i.ndim == 1):
            raise ValueError("pairs must be two 1-D int64 tensors of the same length")
        if len(i) and (min(int(i.min()), int(j.min())) < 0 or max(int(i.max()), int(j.max())) >= n):
            raise ValueError(f"pairs hold indices outside [0, {n})")
        # as a set of unordered pairs: symmetric, each pair once, whatever the caller passed
        code = torch.unique(torch.cat([i * n + j, j * n + i]).to(X.device))
        i, j = code // n, code % n
    counts = torch.bincount(i, minlength=n)
    if pairs is not None and not bool((torch.bincount(i[i == j], minlength=n) > 0).all()):
        raise ValueError("pairs must contain every self-pair (i, i): a point is its own neighbour")
    core = counts >= min_samples
    labels = torch.full((n,), -1, dtype=torch.long, device=X.device)
    if not bool(core.any()):
        return labels
    both = core[i] & core[j] & (i < j)  # each core-core edge once
    root = _components(n, i[both], j[both])  # core point -> smallest core index of its cluster
    # a border point joins the reachable cluster whose first core point comes first
    border = ~core[i] & core[j]
    big = torch.full((n,), n, dtype=torch.long, device=X.device)
    reach = big.scatter_reduce(0, i[border], root[j[border]], reduce="amin")
    member = torch.where(core, root, reach)
    has = member < n
    # number clusters in order of their first core point, as scikit-learn does
    labels[has] = torch.unique(member[has], return_inverse=True)[1]
    return labels
