"""Locality-sensitive hashing: find near neighbours by looking in a few buckets, not at every point.

Taught by the chapter "Homework: k-means, DBSCAN and LSH": random projections
cut into pieces of length ``width`` make the buckets of each table. The chapter
shows :func:`hash_codes` and :func:`candidates`, the idea in two lines. The
library's index (:func:`build`, :func:`query`) sorts each table's bucket keys so
that a query finds its bucket by binary search. On the CPU, :func:`query` runs by
default as one compiled Numba loop over the queries (``method="fused"``); the
whole-tensor version (``method="tensor"``) runs on any device.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numba
import numpy as np
import torch
from numba import njit, prange

from . import _checks

_PRIME = 2**31 - 1  # bucket keys are taken modulo this prime, so products fit in int64
MAX_TABLES, MAX_HASHES = 1024, 64


def hash_codes(X: torch.Tensor, proj: torch.Tensor, shift: torch.Tensor, *,
               width: float) -> torch.Tensor:
    """Which piece of each random line every row of ``X`` falls in: its bucket in every table.

    ``X`` (n, d); ``proj`` (n_tables, d, n_hashes), random directions; ``shift``
    (n_tables, 1, n_hashes), offsets in [0, width). Returns int64 (n_tables, n, n_hashes),
    ``floor((x · a + b) / width)`` for each direction ``a``; two points share a bucket
    of a table when their rows there are equal.
    """
    X = _checks.points("X", X, convert=True)
    proj, shift = _check_lines(proj, shift, X)
    _checks.positive("width", width)
    # (n, d) @ (t, d, h) -> (t, n, h): every point on every line
    return torch.floor((X @ proj + shift) / width).long()


def candidates(codes: torch.Tensor, q_codes: torch.Tensor) -> torch.Tensor:
    """(n_queries, n) bool: does point j share a bucket with query i in at least one table?

    ``codes`` (n_tables, n, n_hashes) and ``q_codes`` (n_tables, n_queries, n_hashes)
    come from :func:`hash_codes` with the same lines.
    """
    codes, q_codes = _check_codes(codes, q_codes)
    # (t, m, 1, h) == (t, 1, n, h) -> (t, m, n, h): a bucket is all h pieces equal
    return (q_codes[:, :, None] == codes[:, None]).all(-1).any(0)


def _check_lines(proj, shift, X):
    """``proj`` (t, d, h) and ``shift`` (t, 1, h) as float tensors of ``X``'s dtype and device."""
    proj, shift = _checks.tensor("proj", proj), _checks.tensor("shift", shift)
    if proj.ndim != 3 or proj.shape[1] != X.shape[1] or 0 in proj.shape or not proj.is_floating_point():
        raise ValueError(f"proj must be a float tensor (n_tables, {X.shape[1]}, n_hashes) for the "
                         f"{X.shape[1]}-D points of X, got {proj.dtype} with shape {tuple(proj.shape)}")
    if shift.shape != (proj.shape[0], 1, proj.shape[2]) or not shift.is_floating_point():
        raise ValueError(f"shift must be a float tensor ({proj.shape[0]}, 1, {proj.shape[2]}), "
                         f"as proj has, got {shift.dtype} with shape {tuple(shift.shape)}")
    for name, t in (("proj", proj), ("shift", shift)):
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name} has NaN or infinite values")
    return proj.to(X), shift.to(X)


def _check_codes(codes, q_codes):
    """Two integer tensors (t, n, h) and (t, m, h) with the same t and h."""
    codes, q_codes = _checks.tensor("codes", codes), _checks.tensor("q_codes", q_codes)
    for name, t in (("codes", codes), ("q_codes", q_codes)):
        if t.ndim != 3 or t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
            raise ValueError(f"{name} must be an integer tensor (n_tables, n, n_hashes) from hash_codes, "
                             f"got {t.dtype} with shape {tuple(t.shape)}")
    if (codes.shape[0], codes.shape[2]) != (q_codes.shape[0], q_codes.shape[2]):
        raise ValueError(f"codes {tuple(codes.shape)} and q_codes {tuple(q_codes.shape)} must have the same "
                         f"tables and hashes (first and last axes)")
    return codes, q_codes.to(codes.device)


@dataclass(frozen=True)
class LSHIndex:
    """Hash tables over ``data``, made by :func:`build`; a bucket is a run of sorted ``keys[t]``."""

    data: torch.Tensor  # (n, d)
    proj: torch.Tensor  # (d, n_tables * n_hashes), random directions
    shift: torch.Tensor  # (n_tables * n_hashes,), uniform in [0, width)
    mix: torch.Tensor  # (n_hashes,), random multipliers that combine hashes into one key
    width: float
    n_tables: int
    n_hashes: int
    keys: torch.Tensor  # (n_tables, n), sorted
    order: torch.Tensor  # (n_tables, n)

    def __post_init__(self):  # every field, by name: a record made by hand is checked as build's is
        n, d = _checks.points("LSHIndex.data", self.data, convert=False).shape
        L = _checks.integer("LSHIndex.n_tables", self.n_tables, low=1, high=MAX_TABLES)
        K = _checks.integer("LSHIndex.n_hashes", self.n_hashes, low=1, high=MAX_HASHES)
        _checks.positive("LSHIndex.width", self.width)
        floats = (torch.float32, torch.float64)
        ints = (torch.int64,)
        for name, shape, kinds in (("proj", (d, L * K), floats), ("shift", (L * K,), floats), ("mix", (K,), ints),
                                   ("keys", (L, n), ints), ("order", (L, n), ints)):
            t = _checks.tensor(f"LSHIndex.{name}", getattr(self, name), convert=False)
            if tuple(t.shape) != shape or t.dtype not in kinds or t.device != self.data.device or \
                    (name == "shift" and t.dtype != self.proj.dtype) or not bool(torch.isfinite(t).all()):
                raise ValueError(f"LSHIndex.{name} must be a finite {' or '.join(map(str, kinds))} tensor of shape "
                                 f"{shape} on {self.data.device}, got {t.dtype} {tuple(t.shape)} on {t.device}")


def keys(index: LSHIndex, Q: torch.Tensor) -> torch.Tensor:
    """The bucket key of every row of ``Q`` (n_queries, n_features) in every table of ``index``.

    Returns an int64 tensor (n_tables, n_queries): ``Σ h_k · mix_k`` modulo a
    prime over the table's hashes ``h(x) = floor((a·x + b) / width)``, one
    number per cell of the table's random grid (equal keys: one bucket).
    """
    _check_index(index)
    Q = _checks.points("Q", Q, dims=index.proj.shape[0], convert=True, like="the index")
    L, K = index.n_tables, index.n_hashes
    # (m, L*K): which piece
    h = torch.floor((Q.to(index.proj) @ index.proj + index.shift) / index.width).long()
    h = torch.remainder(h, _PRIME).view(len(Q), L, K)
    key = torch.zeros(len(Q), L, dtype=torch.long, device=Q.device)
    for k in range(K):  # key = Σ h_k · mix_k  (mod prime); each product < 2^62
        key = torch.remainder(key + h[:, :, k] * index.mix[k], _PRIME)
    return key.T.contiguous()


def build(X: torch.Tensor, *, n_tables: int = 8, n_hashes: int = 4, width: float = 1.0, seed: int = 0) -> LSHIndex:
    """Hash every row of ``X`` into ``n_tables`` tables of ``n_hashes`` hashes each.

    Parameters
    ----------
    X : torch.Tensor of shape (n_samples, n_features)
    n_tables : int, default 8
        More tables: more chances for a true neighbour, more points scanned; at most ``MAX_TABLES``.
    n_hashes : int, default 4
        Hashes per table: smaller buckets, fewer far points; at most ``MAX_HASHES``.
    width : float, default 1.0
        Length of the pieces, in the data's units: wider, higher recall, more points scanned.
    seed : int, default 0
    """
    X = _checks.points("X", X, convert=True)
    _checks.integer("n_tables", n_tables, low=1, high=MAX_TABLES)
    _checks.integer("n_hashes", n_hashes, low=1, high=MAX_HASHES)
    _checks.positive("width", width)
    _checks.seed("seed", seed)
    gen = torch.Generator().manual_seed(seed)  # drawn on the CPU: the same index on every device
    dtype = torch.float64 if X.dtype == torch.float64 else torch.float32
    mix = torch.randint(1, _PRIME, (n_hashes,), generator=gen)
    # table by table, so an index with more tables starts with the same tables as one with fewer
    proj, shift = [], []
    for _ in range(n_tables):
        proj.append(torch.randn(n_hashes, X.shape[1], generator=gen, dtype=dtype))  # 2-stable: Gaussian
        shift.append(torch.rand(n_hashes, generator=gen, dtype=dtype) * width)
    proj, shift, mix = torch.cat(proj).T.to(X.device), torch.cat(shift).to(X.device), mix.to(X.device)
    none = torch.zeros(n_tables, len(X), dtype=torch.long, device=X.device)
    index = LSHIndex(X, proj, shift, mix, float(width), n_tables, n_hashes, none, none)  # no tables yet
    sorted_keys, order = torch.sort(keys(index, X), dim=1, stable=True)
    return replace(index, keys=sorted_keys, order=order)


def _check_index(index) -> None:
    if not isinstance(index, LSHIndex):
        raise TypeError(f"index must be an LSHIndex from lessonlib.lsh.build, got {type(index).__name__}")


def _candidate_pairs(index: LSHIndex, Q: torch.Tensor):
    """Unique (query, point) pairs that share a bucket in at least one table, grouped by query."""
    qk = keys(index, Q)
    n, m = len(index.data), len(Q)
    flat = []
    for t in range(index.n_tables):
        lo = torch.searchsorted(index.keys[t], qk[t])
        hi = torch.searchsorted(index.keys[t], qk[t], right=True)
        size = hi - lo  # bucket size for every query
        qid = torch.repeat_interleave(torch.arange(m, device=Q.device), size)
        within = torch.arange(len(qid), device=Q.device) - torch.repeat_interleave(torch.cumsum(size, 0) - size, size)
        flat.append(qid * n + index.order[t][lo[qid] + within])
    pair = torch.unique(torch.cat(flat))  # sorted: grouped by query; a point in several buckets counts once
    return pair // n, pair % n


@njit(parallel=True, cache=True)
def _query_fused(X, Q, qkeys, keys, order, k, idx, dist, scanned,
                 n_chunks):  # pragma: no cover - compiled
    """For each query: walk its bucket in every table, measure each new point once, keep the k nearest.

    ``stamp[j]``, per chunk of queries, is the last query that measured point j.
    """
    n_tables = keys.shape[0]
    m_all = Q.shape[0]
    size = (m_all + n_chunks - 1) // n_chunks
    for c in prange(n_chunks):
        stamp = np.full(X.shape[0], -1, dtype=np.int64)
        best_d = np.empty(k)
        best_i = np.empty(k, dtype=np.int64)
        for m in range(c * size, min(m_all, (c + 1) * size)):
            best_d[:] = np.inf
            best_i[:] = -1
            seen = 0
            for t in range(n_tables):
                lo = np.searchsorted(keys[t], qkeys[t, m])
                hi = np.searchsorted(keys[t], qkeys[t, m], side="right")
                for r in range(lo, hi):
                    j = order[t, r]
                    if stamp[j] == m:
                        continue
                    stamp[j] = m
                    seen += 1
                    s = 0.0
                    for f in range(X.shape[1]):
                        diff = np.float64(Q[m, f]) - X[j, f]
                        s += diff * diff
                    if s < best_d[k - 1] or (s == best_d[k - 1] and j < best_i[k - 1]):
                        # insert into the sorted list of the k best;
                        # ties: smaller index first
                        pos = k - 1
                        while pos > 0 and (best_d[pos - 1] > s
                                           or (best_d[pos - 1] == s
                                               and best_i[pos - 1] > j)):
                            best_d[pos] = best_d[pos - 1]
                            best_i[pos] = best_i[pos - 1]
                            pos -= 1
                        best_d[pos] = s
                        best_i[pos] = j
            dist[m] = np.sqrt(best_d)
            idx[m] = best_i
            scanned[m] = seen


def query(index: LSHIndex, Q: torch.Tensor, k: int = 10, *, chunk: int = 1024, method: str = "auto"):
    """Approximate ``k`` nearest neighbours of each row of ``Q`` among the indexed points.

    Parameters
    ----------
    index : LSHIndex
    Q : torch.Tensor of shape (n_queries, n_features)
    k : int, default 10
    chunk : int, default 1024
        Queries handled together by "tensor"; memory grows with ``chunk`` × points scanned.
    method : {"auto", "tensor", "fused"}, default "auto"
        "fused" (CPU only; "auto" there): one compiled loop over the queries.

    Returns
    -------
    dist : torch.Tensor of shape (n_queries, k)
        Nearest first, as scikit-learn's ``kneighbors``; ``inf`` where ``idx`` is -1.
    idx : torch.Tensor of int64, shape (n_queries, k)
        Rows of the indexed data; -1 where fewer than ``k`` points shared a bucket.
    scanned : torch.Tensor of int64, shape (n_queries,)
        Distinct points each query measured.
    """
    _check_index(index)
    Q = _checks.points("Q", Q, dims=index.data.shape[1], convert=True, like="the index")
    _checks.integer("k", k, low=1, high=len(index.data))  # k neighbours need k points
    _checks.integer("chunk", chunk, low=1)
    X = index.data
    if _checks.method("method", method, X) == "fused":
        if X.dtype not in (torch.float32, torch.float64):  # half precision: the compiled loop needs float32
            X = X.float()
        qk = keys(index, Q.to(X))
        idx = np.empty((len(Q), k), dtype=np.int64)
        dist = np.empty((len(Q), k))
        scanned = np.empty(len(Q), dtype=np.int64)
        _query_fused(np.ascontiguousarray(X.numpy()), np.ascontiguousarray(Q.to(X).numpy()), qk.numpy(),
                     index.keys.numpy(), index.order.numpy(), k, idx, dist, scanned,
                     max(1, min(len(Q), numba.get_num_threads())))
        return torch.from_numpy(dist).to(X.dtype), torch.from_numpy(idx), torch.from_numpy(scanned)
    out_i, out_d, out_s = [], [], []
    for s in range(0, len(Q), chunk):
        q = Q[s : s + chunk].to(X)
        qi, pj = _candidate_pairs(index, q)
        d = ((q[qi] - X[pj]) ** 2).sum(1).sqrt()
        count = torch.bincount(qi, minlength=len(q))
        width = max(int(count.max()) if len(count) else 0, k)
        # lay each query's candidates out in one padded row, then take the k smallest
        slot = torch.arange(len(qi), device=X.device) - torch.repeat_interleave(torch.cumsum(count, 0) - count, count)
        grid = torch.full((len(q), width), float("inf"), dtype=d.dtype, device=X.device)
        grid[qi, slot] = d
        who = torch.full((len(q), width), -1, dtype=torch.long, device=X.device)
        who[qi, slot] = pj
        dist, pos = grid.topk(k, dim=1, largest=False, sorted=True)
        out_i.append(torch.where(torch.isinf(dist), -1, who.gather(1, pos)))
        out_d.append(dist)
        out_s.append(count)
    return torch.cat(out_d), torch.cat(out_i), torch.cat(out_s)


def radius_pairs(index: LSHIndex, *, eps: float, chunk: int = 1024):
    """Approximate :func:`lessonlib.cluster.radius_pairs`: int64 ``i, j`` of shape (n_pairs,).

    The pairs within ``eps`` that share a bucket in some table, self-pairs
    included: never wrong, but those that share no bucket are missed.
    """
    _check_index(index)
    _checks.positive("eps", eps)
    _checks.integer("chunk", chunk, low=1)
    X = index.data
    I, J = [], []
    for s in range(0, len(X), chunk):
        qi, pj = _candidate_pairs(index, X[s : s + chunk])
        near = ((X[qi + s] - X[pj]) ** 2).sum(1) <= eps * eps
        I.append(qi[near] + s)
        J.append(pj[near])
    return torch.cat(I), torch.cat(J)


def exact_knn(X: torch.Tensor, Q: torch.Tensor, k: int = 10, *, chunk: int = 1024):
    """Exact ``k`` nearest rows of ``X`` for each row of ``Q``: ``cdist`` and ``topk`` in chunks.

    A chunk holds at most ``chunk`` queries and 2^25 distances; ``X`` is float32 or float64. Returns ``dist``
    (n_queries, k), nearest first, and ``idx``, the rows of ``X``, as ``kneighbors`` does.
    """
    X = _checks.points("X", X, convert=True)
    Q = _checks.points("Q", Q, dims=X.shape[1], convert=True, like="X")
    if X.dtype not in (torch.float32, torch.float64):
        raise ValueError(f"X must be float32 or float64 (cdist's types), got {X.dtype}")
    _checks.integer("k", k, low=1, high=len(X))  # k neighbours need k points
    _checks.integer("chunk", chunk, low=1)
    chunk = max(1, min(chunk, (1 << 25) // len(X)))  # at most 2^25 distances (128 MiB in float32) at a time
    parts = [torch.cdist(Q[s : s + chunk].to(X), X).topk(k, dim=1, largest=False, sorted=True)
             for s in range(0, len(Q), chunk)]
    return torch.cat([d for d, _ in parts]), torch.cat([i for _, i in parts])


def recall(found: torch.Tensor, exact: torch.Tensor) -> float:
    """Share of the true neighbours ``exact`` (n_queries, k) that ``found`` lists; -1 is a miss."""
    found, exact = _checks.tensor("found", found), _checks.tensor("exact", exact)
    for name, t in (("found", found), ("exact", exact)):
        if t.ndim != 2 or t.is_floating_point() or t.dtype == torch.bool or t.is_complex():
            raise ValueError(f"{name} must be a 2-D integer tensor (n_queries, k), got {getattr(t, 'shape', t)!r}")
    if found.shape[0] != exact.shape[0] or exact.shape[1] == 0 or found.shape[0] == 0:
        raise ValueError(f"found {tuple(found.shape)} and exact {tuple(exact.shape)} must have the same queries "
                         "(at least one), k >= 1")
    hits = (found[:, :, None] == exact[:, None, :]).any(1)  # (m, k): is each true neighbour found?
    return float(hits.float().mean())
