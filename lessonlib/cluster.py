"""k-means and DBSCAN with tensors, the lecture's clustering homework, on any device.

Taught by the chapter "Homework: k-means, DBSCAN and LSH". The chapter shows the
short versions, :func:`kmeans_step` and :func:`dbscan_dense` (a few tensor lines,
n × k and n × n distances). :func:`kmeans` and :func:`dbscan` are the library's:
whole-tensor operations that never hold n × n (``method="tensor"``, any device)
and compiled Numba loops over the points (``method="fused"``, the CPU default).
"""

from __future__ import annotations

import numba
import numpy as np
import torch
from numba import njit, prange

from . import _checks
from .matmul import dist_b

# ---------------------------------------------------------------- k-means


def kmeans_step(X: torch.Tensor, C: torch.Tensor):
    """One k-means step: each point joins its nearest centroid, each centroid moves to its points' mean.

    ``X`` (n_samples, n_features) and ``C`` (k, n_features) share a dtype and device. Returns the
    new centroids (k, n_features) and the labels (n_samples,), int64, each point's nearest centroid
    in ``C``. A centroid without points stays put. The chapter's version, O(n · k · d) memory;
    :func:`kmeans` runs the steps to the end without it.
    """
    X = _checks.points("X", X, convert=True)
    C = _checks.points("C", C, dims=X.shape[1], convert=True, like="X")
    _checks.same_kind(X, C, ("X", "C"))
    labels = dist_b(X, C).argmin(1)  # (n, k) distances: each point's nearest centroid
    # (n, k) weights: 1 where point i is in cluster j, else 0
    w = (labels[:, None] == torch.arange(len(C), device=X.device)).to(X.dtype)
    count = w.sum(0)[:, None]  # (k, 1): points per cluster
    # a weighted average, as in mean shift: each cluster's mean
    new = w.T @ X / count.clamp_min(1)
    return torch.where(count > 0, new, C), labels


def sq_dists(X: torch.Tensor, C: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distance from every row of ``X`` to every row of ``C``: one matrix product.

    ``X`` (n_samples, n_features) and ``C`` (n_centroids, n_features) share a dtype
    and device; the (n_samples, n_centroids) result is never negative. Both are first
    shifted by the mean of ``C``, so data far from the origin loses no precision; NaN
    passes through (a NaN in ``C``, through that shift, to every distance).
    """
    X = _checks.matrix("X", X, convert=True)
    C = _checks.matrix("C", C, convert=True)
    if C.shape[1] != X.shape[1]:
        raise ValueError(f"C must hold {X.shape[1]}-D points, as X has; got shape {tuple(C.shape)}")
    _checks.same_kind(X, C, ("X", "C"))
    return _sq_dists(X, C)


def _sq_dists(X: torch.Tensor, C: torch.Tensor) -> torch.Tensor:
    """:func:`sq_dists` on inputs already checked: k-means's inner loop."""
    # A shift changes no distance. Measured from the centroids' mean, |x|² and |c|² stay
    # small; far from the origin they would be huge, their difference lost to rounding.
    mid = C.mean(0)
    X, C = X - mid, C - mid
    # |x|² - 2 x·c + |c|², all pairs
    d2 = (X * X).sum(1, keepdim=True) - 2 * X @ C.T + (C * C).sum(1)
    return d2.clamp_min_(0)  # rounding can make a tiny distance negative


def _assign(X: torch.Tensor, C: torch.Tensor, block: int = 1 << 16) -> torch.Tensor:
    """Index of every point's nearest centroid, ``block`` rows at a time."""
    return torch.cat([_sq_dists(X[i : i + block], C).argmin(1) for i in range(0, len(X), block)])


def inertia(X: torch.Tensor, centroids: torch.Tensor) -> float:
    """Sum of squared distances from each point to its nearest centroid (``KMeans.inertia_``).

    The distances are taken from differences, in float64: a point on its centroid adds exactly 0.
    """
    X = _checks.points("X", X, convert=True)
    centroids = _checks.points("centroids", centroids, dims=X.shape[1], convert=True, like="X").to(X)
    nearest = centroids[_assign(X, centroids)]
    return float(((X.double() - nearest.double()) ** 2).sum())


def kmeans_plusplus(X: torch.Tensor, k: int, *, seed: int = 0) -> torch.Tensor:
    """k-means++: ``k`` rows of ``X`` as first centroids, far apart; a (k, n_features) tensor.

    The plain k-means++ of Arthur and Vassilvitskii: one draw per centroid, with
    probability proportional to the squared distance from the rows already chosen
    (scikit-learn's default draws several candidates and keeps the best, "greedy" k-means++).
    """
    X = _checks.points("X", X, convert=True)
    _checks.integer("k", k, low=1, high=len(X))  # k clusters need k points
    return _kmeans_plusplus(X, k, _checks.seed("seed", seed))


def _kmeans_plusplus(X: torch.Tensor, k: int, seed: int) -> torch.Tensor:
    """:func:`kmeans_plusplus` on checked arguments (by it, or by :func:`kmeans`)."""
    gen = torch.Generator().manual_seed(seed)  # on the CPU, so every device draws the same rows
    chosen = [int(torch.randint(len(X), (1,), generator=gen))]
    d2 = _sq_dists(X, X[chosen])[:, 0]
    for _ in range(1, k):
        p = d2.double().cpu()
        # all points coincide with chosen centroids: fall back to uniform choice
        p = p / p.sum() if p.sum() > 0 else torch.ones_like(p)
        chosen.append(int(torch.multinomial(p, 1, generator=gen)))
        d2 = torch.minimum(d2, _sq_dists(X, X[chosen[-1:]])[:, 0])
    return X[chosen].clone()


def _as_numpy(X: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(X.detach().cpu().numpy())


@njit(inline="always")
def _sq(A, p, B, q):  # pragma: no cover - compiled
    """Squared distance from row p of ``A`` to row q of ``B``, from differences."""
    s = 0.0
    for f in range(A.shape[1]):
        diff = A[p, f] - B[q, f]
        s += diff * diff
    return s


@njit(parallel=True, cache=True)
def _lloyd_pass(X, C, labels, upper, lower, moved, others, half,
                sums, counts, changed):  # pragma: no cover - compiled
    """One fused Lloyd step with Hamerly's bounds; updates ``labels``, ``upper`` and ``lower``.

    ``others[j]`` is the largest move among centroids other than j; a label < 0
    means no bounds yet. Chunk t writes its clusters' change of sum and count to
    ``sums[t]``, ``counts[t]``, and its number of moved points to ``changed[t]``.
    """
    n, d = X.shape
    k = C.shape[0]
    n_chunks = len(changed)
    size = (n + n_chunks - 1) // n_chunks
    for t in prange(n_chunks):
        my_sums = np.zeros((k, d))  # this chunk's own sums: no cache line shared
        my_counts = np.zeros(k, dtype=np.int64)
        my_changed = 0
        for i in range(t * size, min(n, (t + 1) * size)):
            a = labels[i]
            full = a < 0
            if not full:
                # margins: rounding never makes a bound wrong
                u = (upper[i] + moved[a]) * (1 + 1e-12)
                lo = (lower[i] - others[a]) * (1 - 1e-12)
                bound = max(half[a], lo)
                # not proven: measure the distance to its own centroid exactly
                if u >= bound:
                    u = np.sqrt(_sq(X, i, C, a)) * (1 + 1e-12)
                    full = u >= bound
                upper[i] = u
                lower[i] = lo
            # all k squared distances, from differences; the first of equal ones wins
            if full:
                best, d1, d2 = 0, np.inf, np.inf
                for j in range(k):
                    s = _sq(X, i, C, j)
                    if s < d1:
                        best, d1, d2 = j, s, d1
                    elif s < d2:
                        d2 = s
                upper[i] = np.sqrt(d1) * (1 + 1e-12)
                lower[i] = np.sqrt(d2) * (1 - 1e-12)
                # the point moves: out of its old cluster's sum, into the new one
                if best != a:
                    my_changed += 1
                    labels[i] = best
                    my_counts[best] += 1
                    for f in range(d):
                        my_sums[best, f] += X[i, f]
                    if a >= 0:
                        my_counts[a] -= 1
                        for f in range(d):
                            my_sums[a, f] -= X[i, f]
        counts[t] = my_counts
        sums[t] = my_sums
        changed[t] = my_changed


def _kmeans_fused(X: torch.Tensor, C: torch.Tensor, iters: int):
    """Lloyd's algorithm as one compiled pass per iteration (:func:`_lloyd_pass`)."""
    Xn = _as_numpy(X.double())  # one compiled version for every dtype; the distances are float64 anyway
    n, k = len(Xn), len(C)
    n_chunks = max(1, min(n // 2048, 8 * numba.get_num_threads()))
    sums = np.empty((n_chunks, k, Xn.shape[1]))
    counts = np.empty((n_chunks, k), dtype=np.int64)
    changed = np.empty(n_chunks, dtype=np.int64)
    labels = np.full(n, -1, dtype=np.int64)
    upper, lower = np.zeros(n), np.zeros(n)

    def step(C, moved):
        gap = np.sqrt(((C[:, None, :] - C[None, :, :]) ** 2).sum(-1))  # k × k distances between centroids
        np.fill_diagonal(gap, np.inf)
        half = gap.min(1) * 0.5 * (1 - 1e-12)  # a point nearer than this to its centroid keeps it
        top = int(np.argmax(moved))
        others = np.full(k, moved[top])  # the largest move among the other centroids
        others[top] = np.delete(moved, top).max(initial=0.0)
        _lloyd_pass(Xn, C, labels, upper, lower, moved, others, half, sums, counts, changed)
        return sums.sum(0), counts.sum(0), int(changed.sum())

    Cn = C.double().numpy().copy()
    total, count, _ = step(Cn, np.zeros(k))
    for _ in range(iters):
        new = Cn.copy()
        filled = count > 0
        new[filled] = total[filled] / count[filled, None]  # empty clusters stay put
        moved = np.sqrt(((new - Cn) ** 2).sum(1)) * (1 + 1e-12)
        Cn = new
        d_total, d_count, moves = step(Cn, moved)
        if moves == 0:
            break
        total += d_total
        count += d_count
    return torch.from_numpy(Cn).to(X.dtype), torch.from_numpy(labels)


def kmeans(X: torch.Tensor, k: int, *, iters: int = 100, seed: int = 0,
           init: torch.Tensor | None = None, method: str = "auto"):
    """Lloyd's k-means: split ``X`` into ``k`` clusters around their means.

    Stops after ``iters`` iterations or as soon as no point changes cluster.
    A cluster that loses all its points keeps its old centroid (scikit-learn
    moves it to a far point instead); with k-means++ seeding this is rare.
    Data far from the origin loses no precision to the arithmetic: the tensor steps
    work on centred points (as scikit-learn's do), the fused ones take each distance
    from differences, in float64.

    Without ``init`` the start is the plain k-means++ of :func:`kmeans_plusplus`, not
    scikit-learn's default greedy variant, and lands in a poorer local minimum more
    often: run several seeds and keep the lowest :func:`inertia` (scikit-learn's ``n_init``).

    Parameters
    ----------
    X : torch.Tensor of shape (n_samples, n_features)
    k : int, 1 <= k <= n_samples
    iters : int, default 100
        Most iterations to run; 0 only assigns points to ``init``.
    seed : int, default 0
        Seed for :func:`kmeans_plusplus` when ``init`` is not given.
    init : torch.Tensor of shape (k, n_features), optional
    method : {"auto", "tensor", "fused"}, default "auto"
        "fused" (CPU only; "auto" there): one compiled loop over the points per
        iteration, in float64, that skips the points that provably keep their
        centroid (Hamerly's bounds); same labels as "tensor", which runs anywhere.

    Returns
    -------
    centroids : torch.Tensor of shape (k, n_features)
    labels : torch.Tensor of int64, shape (n_samples,)
        Index of each point's nearest final centroid.
    """
    X = _checks.points("X", X, convert=True)
    _checks.integer("k", k, low=1, high=len(X))  # k clusters need k points
    _checks.integer("iters", iters, low=0)
    _checks.seed("seed", seed)
    method = _checks.method("method", method, X)
    if init is not None:
        init = _checks.points("init", init, dims=X.shape[1], convert=True, like="X")
        if len(init) != k:
            raise ValueError(f"init has {len(init)} centroids but k is {k}")
    C = _kmeans_plusplus(X, k, seed) if init is None else init.to(X).clone()
    if method == "fused":
        return _kmeans_fused(X, C, iters)
    # The steps on centred points (Cc: the centroids centred too): far from the origin
    # the sums and distances would round away the small differences that decide a label.
    mid = X.mean(0)
    X, Cc = X - mid, C - mid
    labels = _assign(X, Cc)
    for _ in range(iters):
        sums = torch.zeros_like(Cc).index_add_(0, labels, X)
        counts = torch.bincount(labels, minlength=k)
        filled = counts > 0
        # empty clusters stay put
        Cc[filled] = sums[filled] / counts[filled, None].to(X.dtype)
        C[filled] = Cc[filled] + mid  # in the data's own coordinates, for the caller
        new = _assign(X, Cc)
        if torch.equal(new, labels):
            break
        labels = new
    return C, labels


# ---------------------------------------------------------------- DBSCAN


def dbscan_dense(X: torch.Tensor, *, eps: float, min_samples: int = 5) -> torch.Tensor:
    """DBSCAN from the n × n table of neighbours: the chapter's version, O(n²) memory.

    The rules and the labels of :func:`dbscan` and scikit-learn's ``DBSCAN``: int64
    (n_samples,), clusters 0, 1, ... in order of their first core point, -1 for noise.
    """
    X = _checks.points("X", X, convert=True)
    _checks.positive("eps", eps)
    _checks.integer("min_samples", min_samples, low=1)
    n = len(X)
    near = dist_b(X, X) <= eps  # (n, n): who is within eps of whom, itself included
    core = near.sum(1) >= min_samples  # dense enough to grow a cluster
    # each core point starts a group named by its index; n means "no group"
    group = torch.where(core, torch.arange(n, device=X.device), n)
    link = near & core[:, None] & core[None]  # core points within eps of each other
    while True:  # every core point takes the smallest name among its links
        new = torch.where(link, group, n).amin(1)
        if torch.equal(new, group):
            break
        group = new
    # each point takes the smallest group among its core neighbours: a core point
    # keeps its own, a border point joins one, a noise point has none (n)
    group = torch.where(near & core, group, n).amin(1)
    labels = torch.unique(group, return_inverse=True)[1]  # 0, 1, ... by name
    return torch.where(group < n, labels, -1)


def _block_sq_dists(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """All squared distances (a, b) from differences, exact for duplicates (no |x|²-2x·y+|y|² rounding)."""
    if A.shape[1] <= 8:  # few features: one broadcast (a, 1) - (1, b) per feature beats a tiny-axis sum
        return sum((A[:, k, None] - B[None, :, k]) ** 2 for k in range(A.shape[1]))
    return ((A[:, None, :] - B[None, :, :]) ** 2).sum(-1)  # (a, 1, d) - (1, b, d)


def radius_pairs(X: torch.Tensor, *, eps: float, block: int = 128):
    """Every ordered pair (i, j) of rows of ``X`` with ``|X[i] - X[j]| <= eps``, self-pairs included.

    Exact, without n² distances: blocks of points from one column of width
    ``eps`` are compared with three runs of the points sorted by column, then
    by the second axis (only the first two axes prune).

    Parameters
    ----------
    X : torch.Tensor of shape (n_samples, n_features)
    eps : float, > 0
    block : int, default 128
        Points per block; memory is O(block · candidates · n_features).

    Returns
    -------
    i, j : torch.Tensor of int64, each of shape (n_pairs,)
    """
    X = _checks.points("X", X, convert=True)
    _checks.positive("eps", eps)
    _checks.integer("block", block, low=1)
    dev = X.device
    x0 = X[:, 0].double()
    col = torch.floor((x0 - x0.min()) / eps).long()
    y = X[:, 1 if X.shape[1] > 1 else 0].double()
    order = torch.argsort(y, stable=True)
    # by column, then by y inside it
    order = order[torch.argsort(col[order], stable=True)]
    Xs, ys = X[order], y[order]
    cols, counts = torch.unique_consecutive(col[order], return_counts=True)
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
    bstart = starts[bcol] + (
        torch.arange(len(bcol), device=dev)
        - torch.repeat_interleave(torch.cumsum(per_col, 0) - per_col, per_col)) * block
    bend = torch.minimum(bstart + block, ends[bcol])
    ylo, yhi = ys[bstart] - ys.min() - eps, ys[bend - 1] - ys.min() + eps
    # the key is rounded (to ~1e-16 of its largest value): widen the window by far more
    # than that; the exact distance test below decides
    margin = 1e-12 * (len(cols) + 1) * span
    # neighbouring columns by their column number, not rank: a gap in columns means
    # no neighbours
    runs = []
    for offset in (-1, 0, 1):
        want = cols[bcol] + offset
        nb = torch.searchsorted(cols, want).clamp_max(len(cols) - 1)
        ok = cols[nb] == want
        base = nb.double() * span
        lo = torch.where(ok, torch.searchsorted(key, base + ylo - margin), 0)
        hi = torch.where(
            ok, torch.searchsorted(key, base + yhi + margin, right=True), 0)
        runs.append(list(zip(lo.tolist(), hi.tolist())))
    I, J = [], []
    for b, (s, e) in enumerate(zip(bstart.tolist(), bend.tolist())):
        cand = torch.cat([torch.arange(lo, hi, device=dev)
                          for lo, hi in (r[b] for r in runs) if hi > lo])
        # every point of the block against every candidate
        d2 = _block_sq_dists(Xs[s:e], Xs[cand])
        bi, cj = (d2 <= eps * eps).nonzero(as_tuple=True)
        I.append(bi + s)
        J.append(cand[cj])
    return order[torch.cat(I)], order[torch.cat(J)]


def _check_edges(n: int, i, j, names=("i", "j")):
    """``i`` and ``j`` as two 1-D int64 tensors of node indices in [0, n), one edge per position."""
    a, b = names
    i, j = _checks.tensor(a, i), _checks.tensor(b, j)
    for name, t in ((a, i), (b, j)):
        if t.ndim != 1 or t.dtype == torch.bool or t.is_floating_point() or t.is_complex():
            raise ValueError(f"{name} must be a 1-D tensor of integer node indices, got {t.dtype} "
                             f"with shape {tuple(t.shape)}")
    if len(i) != len(j) or i.device != j.device:
        raise ValueError(f"{a} and {b} must be edges on one device: same length, "
                         f"got {len(i)} and {len(j)}")
    if len(i) and (min(int(i.min()), int(j.min())) < 0 or max(int(i.max()), int(j.max())) >= n):
        raise ValueError(f"{a} and {b} must hold node indices in [0, n) = [0, {n})")
    return i.long(), j.long()


def components(n: int, i: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
    """Label each of ``n`` nodes with the smallest node index in its connected component.

    ``i`` and ``j``, int64 of shape (n_edges,), are the edges ``i[e] -- j[e]``,
    one direction each. By label propagation: across each edge the larger root
    hooks under the smaller, then pointer jumping flattens the trees. At most 10^8 nodes.
    """
    _checks.integer("n", n, low=0, high=10**8)
    i, j = _check_edges(n, i, j)
    lab = torch.arange(n, device=i.device)
    while len(i):
        a, b = lab[i], lab[j]  # the roots at either end
        new = lab.scatter_reduce(0, torch.maximum(a, b), torch.minimum(a, b),
                                 reduce="amin")
        while True:  # pointer jumping: each pass halves every path to a root
            jumped = new[new]
            if torch.equal(jumped, new):
                break
            new = jumped
        lab = new
        # only edges between different trees can change anything
        apart = lab[i] != lab[j]
        i, j = i[apart], j[apart]
    return lab


@njit(parallel=True, cache=True)
def _windows(ys, rank, nbr, starts, ends, eps, lo, hi):  # pragma: no cover - compiled
    """Candidates of point p in column offset o: sorted positions ``lo[p, o] <= q < hi[p, o]``."""
    pad = eps * 1e-9  # a hair wider than eps: the exact test decides
    for p in prange(len(ys)):
        for o in range(3):
            lo[p, o] = hi[p, o] = 0
            c = nbr[rank[p], o]
            if c >= 0:
                s, e = starts[c], ends[c]
                lo[p, o] = s + np.searchsorted(ys[s:e], ys[p] - eps - pad)
                hi[p, o] = s + np.searchsorted(ys[s:e], ys[p] + eps + pad, side="right")


@njit(parallel=True, cache=True)
def _count_neighbours(Xs, lo, hi, eps2, counts):  # pragma: no cover - compiled
    """Points within eps of each point, itself included, into ``counts``."""
    for p in prange(len(Xs)):
        c = 0
        for o in range(3):
            for q in range(lo[p, o], hi[p, o]):
                if _sq(Xs, p, Xs, q) <= eps2:
                    c += 1
        counts[p] = c


@njit(inline="always")
def _find(parent, a):  # pragma: no cover - compiled
    while parent[a] != a:
        parent[a] = parent[parent[a]]  # path halving
        a = parent[a]
    return a


@njit(cache=True)
def _union_core(Xs, lo, hi, eps2, core, first,
                parent, root):  # pragma: no cover - compiled
    """Union-find over the core-core edges; ``root[p]`` becomes the smallest ``first`` in p's cluster.

    ``parent`` starts as 0, 1, ..., n - 1. Each edge is visited once, from its earlier end.
    """
    n = len(Xs)
    for p in range(n):
        if not core[p]:
            continue
        for o in range(1, 3):  # column offset -1 holds only earlier points
            start = max(lo[p, o], p + 1) if o == 1 else lo[p, o]
            for q in range(start, hi[p, o]):
                if core[q] and _sq(Xs, p, Xs, q) <= eps2:
                    a, b = _find(parent, p), _find(parent, q)
                    if a != b:
                        if first[a] < first[b]:
                            parent[b] = a
                        else:
                            parent[a] = b
    for p in range(n):
        root[p] = first[_find(parent, p)]


@njit(parallel=True, cache=True)
def _reach(Xs, lo, hi, eps2, core, root, n_out, member):  # pragma: no cover - compiled
    """Each point's cluster key into ``member``: its root if core; else the smallest root among its
    core neighbours; else ``n_out``."""
    for p in prange(len(Xs)):
        if core[p]:
            member[p] = root[p]
            continue
        best = n_out
        for o in range(3):
            for q in range(lo[p, o], hi[p, o]):
                if core[q] and root[q] < best and _sq(Xs, p, Xs, q) <= eps2:
                    best = root[q]
        member[p] = best


def _sorted_columns(X: torch.Tensor, eps: float):
    """Sort the points into columns of width eps (first axis), by the second axis inside each; numpy arrays."""
    Xn = _as_numpy(X.double())
    x0 = Xn[:, 0]
    col = np.floor((x0 - x0.min()) / (eps * (1 + 1e-9))).astype(np.int64)  # a hair wider: rounding never skips one
    y = Xn[:, 1] if Xn.shape[1] > 1 else x0
    order = np.lexsort((y, col))  # by column, then by y inside it
    cols, starts, counts = np.unique(col[order], return_index=True, return_counts=True)
    rank = np.repeat(np.arange(len(cols)), counts)
    nbr = np.empty((len(cols), 3), dtype=np.int64)
    for o in range(3):  # the rank of column c - 1, c, c + 1, if it holds any point
        where = np.minimum(np.searchsorted(cols, cols + o - 1), len(cols) - 1)
        nbr[:, o] = np.where(cols[where] == cols + o - 1, where, -1)
    Xs, ys = np.ascontiguousarray(Xn[order]), np.ascontiguousarray(y[order])
    return Xs, ys, rank, nbr, starts, starts + counts, order


def _dbscan_fused(X: torch.Tensor, eps: float, min_samples: int) -> torch.Tensor:
    """DBSCAN with the neighbour search fused into three compiled sweeps; no pair is ever stored."""
    Xs, ys, rank, nbr, starts, ends, order = _sorted_columns(X, eps)
    n = len(Xs)
    lo, hi = np.empty((n, 3), dtype=np.int64), np.empty((n, 3), dtype=np.int64)
    _windows(ys, rank, nbr, starts, ends, float(eps), lo, hi)
    eps2 = float(eps) * float(eps)
    counts = np.empty(n, dtype=np.int64)
    _count_neighbours(Xs, lo, hi, eps2, counts)
    core = counts >= min_samples
    root = np.empty(n, dtype=np.int64)  # root: smallest original index of the cluster
    _union_core(Xs, lo, hi, eps2, core, order, np.arange(n), root)
    member = np.empty(n, dtype=np.int64)
    _reach(Xs, lo, hi, eps2, core, root, n, member)
    labels = np.full(n, -1, dtype=np.int64)
    has = member < n  # clusters numbered in order of their first core point
    labels[order[has]] = np.unique(member[has], return_inverse=True)[1]
    return torch.from_numpy(labels).to(X.device)


def dbscan(X: torch.Tensor, *, eps: float, min_samples: int = 5, pairs=None,
           method: str = "auto") -> torch.Tensor:
    """DBSCAN: clusters are regions dense with points; points in sparse regions are noise.

    scikit-learn's rules, numbering included: clusters are numbered by their
    first core point, and a border point that several clusters reach joins the
    lowest numbered one. So the labels equal scikit-learn's, not just up to renaming.

    Parameters
    ----------
    X : torch.Tensor of shape (n_samples, n_features)
    eps : float, > 0
    min_samples : int, default 5
        Points (self included) within ``eps`` that make a core point, >= 1.
    pairs : tuple of two int64 tensors, optional
        Neighbour pairs ``(i, j)`` instead of :func:`radius_pairs`'s, e.g. from
        :func:`lessonlib.lsh.radius_pairs`: every (i, i) among them; repeats and
        missing reverses are fine. Given pairs take the tensor path.
    method : {"auto", "tensor", "fused"}, default "auto"
        "fused" (CPU only; "auto" there): three compiled sweeps over the points,
        memory O(n); "tensor" (any device) works on the pairs, memory O(pairs).

    Returns
    -------
    labels : torch.Tensor of int64, shape (n_samples,)
        Cluster 0, 1, ... or -1 for noise.
    """
    X = _checks.points("X", X, convert=True)
    _checks.positive("eps", eps)
    _checks.integer("min_samples", min_samples, low=1)
    method = _checks.method("method", method, X)
    if pairs is not None:
        if not isinstance(pairs, (tuple, list)) or len(pairs) != 2:
            raise TypeError(f"pairs must be a tuple (i, j) of two index tensors, "
                            f"got {type(pairs).__name__}")
        pairs = _check_edges(len(X), *pairs, names=("pairs[0]", "pairs[1]"))
        if not bool((torch.bincount(pairs[0][pairs[0] == pairs[1]], minlength=len(X)) > 0).all()):
            raise ValueError("pairs must contain every self-pair (i, i): a point is its own "
                             "neighbour")
    n = len(X)
    if pairs is None and method == "fused":
        return _dbscan_fused(X, eps, min_samples)
    if pairs is None:
        i, j = radius_pairs(X, eps=eps)
    else:  # as unordered pairs: symmetric, each pair once, whatever the caller passed
        i, j = pairs
        code = torch.unique(torch.cat([i * n + j, j * n + i]).to(X.device))
        i, j = code // n, code % n
    counts = torch.bincount(i, minlength=n)
    core = counts >= min_samples
    labels = torch.full((n,), -1, dtype=torch.long, device=X.device)
    if not bool(core.any()):
        return labels
    both = core[i] & core[j] & (i < j)  # each core-core edge once
    # core point -> smallest core index of its cluster
    root = components(n, i[both], j[both])
    # a border point joins the reachable cluster whose first core point comes first
    border = ~core[i] & core[j]
    big = torch.full((n,), n, dtype=torch.long, device=X.device)
    reach = big.scatter_reduce(0, i[border], root[j[border]], reduce="amin")
    member = torch.where(core, root, reach)
    has = member < n
    # number clusters in order of their first core point, as scikit-learn does
    labels[has] = torch.unique(member[has], return_inverse=True)[1]
    return labels
