import numpy as np
import pytest
import torch
from sklearn.datasets import make_blobs
from sklearn.neighbors import NearestNeighbors

from lessonlib import lsh
from lessonlib.cluster import dbscan, radius_pairs


@pytest.fixture(scope="module")
def blobs():
    X = torch.from_numpy(make_blobs(3001, centers=10, n_features=8, random_state=0)[0])
    return X[:2900], X[2900:]


def test_exact_knn_matches_scikit_learn(blobs):
    X, Q = blobs
    dist, idx = lsh.exact_knn(X, Q, 7, chunk=33)
    ref_d, ref_i = NearestNeighbors(n_neighbors=7).fit(X.numpy()).kneighbors(Q.numpy())
    np.testing.assert_allclose(dist.numpy(), ref_d, rtol=1e-9)
    np.testing.assert_array_equal(idx.numpy(), ref_i)


def test_keys_follow_the_hash_formula_point_by_point(blobs):
    X, Q = blobs
    index = lsh.build(X, n_tables=3, n_hashes=4, width=2.5, seed=2)
    k = lsh.keys(index, Q[:20])
    assert k.shape == (3, 20) and k.dtype == torch.int64
    P = 2**31 - 1
    proj, shift, mix = index.proj.numpy(), index.shift.numpy(), index.mix.tolist()
    for m in range(20):
        q = Q[m].numpy()
        for t in range(3):
            key = 0
            for h in range(4):
                col = t * 4 + h  # table t owns hashes t*4 .. t*4+3
                piece = int(np.floor((float(np.dot(q, proj[:, col])) + float(shift[col])) / 2.5))
                key = (key + (piece % P) * mix[h]) % P  # Python ints: no overflow
            assert int(k[t, m]) == key, (m, t)
    # a point shares every bucket with itself, and the index's tables hold exactly these keys, sorted
    torch.testing.assert_close(index.keys, torch.sort(lsh.keys(index, X), dim=1).values)


def test_keys_refuse_bad_input(blobs):
    X, Q = blobs
    index = lsh.build(X[:100], n_tables=2, n_hashes=2)
    with pytest.raises(TypeError, match="index must be an LSHIndex"):
        lsh.keys(X, Q)
    with pytest.raises(ValueError, match="Q must hold 8-D points"):
        lsh.keys(index, Q[:, :3])
    with pytest.raises(TypeError, match="Q must be a torch.Tensor"):
        lsh.keys(index, None)


def test_query_returns_true_distances_nearest_first(blobs):
    X, Q = blobs
    index = lsh.build(X, n_tables=6, n_hashes=3, width=6.0, seed=1)
    dist, idx, scanned = lsh.query(index, Q, 10, chunk=17)
    found = idx >= 0
    assert found.any()
    torch.testing.assert_close(dist[found], (X[idx[found]] - Q.repeat_interleave(10, 0).view(-1, 10, 8)[found]).norm(dim=1))
    assert (dist[:, 1:] >= dist[:, :-1]).all()
    assert ((scanned >= found.sum(1)) & (scanned <= len(X))).all()


def test_one_huge_bucket_gives_the_exact_answer(blobs):
    X, Q = blobs
    index = lsh.build(X, n_tables=1, n_hashes=2, width=1e6)  # every point in the same bucket
    dist, idx, scanned = lsh.query(index, Q, 10)
    exact_d, exact = lsh.exact_knn(X, Q, 10)
    assert lsh.recall(idx, exact) == 1.0
    torch.testing.assert_close(dist, exact_d)
    assert (scanned == len(X)).all()


def test_more_tables_find_more_neighbours(blobs):
    X, Q = blobs
    _, exact = lsh.exact_knn(X, Q, 10)
    recalls, scans = [], []
    for n_tables in (1, 4, 16):
        _, idx, scanned = lsh.query(lsh.build(X, n_tables=n_tables, n_hashes=4, width=4.0, seed=2), Q, 10)
        recalls.append(lsh.recall(idx, exact))
        scans.append(float(scanned.float().mean()))
    # tables are nested (the first tables of a bigger index are those of the smaller one): never fewer
    assert recalls[0] <= recalls[1] <= recalls[2] and scans[0] <= scans[1] <= scans[2]
    assert recalls[2] > recalls[0]


def test_tiny_buckets_leave_missing_neighbours_marked():
    X = torch.arange(20, dtype=torch.float64).view(10, 2)
    dist, idx, scanned = lsh.query(lsh.build(X, width=1e-3), X[:3] + 0.5, 4)
    assert (idx == -1).all() and torch.isinf(dist).all() and (scanned == 0).all()


def test_recall_counts_hits_and_misses():
    exact = torch.tensor([[0, 1, 2], [3, 4, 5]])
    found = torch.tensor([[2, 0, -1], [5, 9, 8]])
    assert lsh.recall(found, exact) == pytest.approx(3 / 6)


def test_lsh_radius_pairs_are_a_subset_and_complete_with_one_bucket():
    X = torch.from_numpy(make_blobs(600, centers=3, random_state=1)[0])
    exact = set(zip(*(t.tolist() for t in radius_pairs(X, eps=0.4))))
    some = set(zip(*(t.tolist() for t in lsh.radius_pairs(lsh.build(X, n_tables=2, width=0.5), eps=0.4, chunk=64))))
    assert some <= exact and len(some) < len(exact)
    assert all((i, i) in some for i in range(len(X)))
    full = lsh.radius_pairs(lsh.build(X, n_tables=1, width=1e6), eps=0.4)
    assert set(zip(*(t.tolist() for t in full))) == exact


def test_dbscan_with_enough_tables_matches_exact_dbscan():
    X = torch.from_numpy(make_blobs(800, centers=4, cluster_std=0.5, random_state=2)[0])
    exact = dbscan(X, eps=0.3, min_samples=5)
    pairs = lsh.radius_pairs(lsh.build(X, n_tables=12, n_hashes=2, width=1.0), eps=0.3)
    approx = dbscan(X, eps=0.3, min_samples=5, pairs=pairs)
    assert torch.equal(approx, exact)


def test_build_is_reproducible_and_seed_matters():
    X = torch.randn(100, 4, generator=torch.Generator().manual_seed(0))
    a, b, c = lsh.build(X, seed=5), lsh.build(X, seed=5), lsh.build(X, seed=6)
    assert torch.equal(a.keys, b.keys) and torch.equal(a.order, b.order)
    assert not torch.equal(a.keys, c.keys)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda X: lsh.build(X, n_tables=0), "n_tables must be an int in \\[1, 1024\\], got 0"),
        (lambda X: lsh.build(X, n_hashes=-2), "n_hashes must be an int in \\[1, 64\\], got -2"),
        (lambda X: lsh.build(X, width=0.0), "width must be a positive number, got 0.0"),
        (lambda X: lsh.build(X[0]), r"X must be 2-D \(n_samples, n_features\), got shape \(3,\)"),
        (lambda X: lsh.build(X[:0]), r"X is empty"),
        (lambda X: lsh.query(lsh.build(X), X[:, :2]), r"Q must hold 3-D points"),
        (lambda X: lsh.query(lsh.build(X), X, 0), r"k must be an int in \[1, 40\], got 0"),
        (lambda X: lsh.radius_pairs(lsh.build(X), eps=-0.1), "eps must be a positive number, got -0.1"),
        (lambda X: lsh.exact_knn(X, X, 41), r"k must be an int in \[1, 40\], got 41"),
        (lambda X: lsh.query(lsh.build(X), X[:3], 41), r"k must be an int in \[1, 40\], got 41"),
        (lambda X: lsh.query(lsh.build(X), X[:3], 41, method="tensor"), r"k must be an int in \[1, 40\], got 41"),
        (lambda X: lsh.recall(torch.zeros(3, 2), torch.zeros(3, 2, dtype=torch.long)), "found must be a 2-D integer"),
        (lambda X: lsh.recall(torch.zeros(3, 2, dtype=torch.long), torch.zeros(4, 2, dtype=torch.long)),
         "must have the same queries"),
    ],
)
def test_bad_input_raises(call, match):
    X = torch.randn(40, 3, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match=match):
        call(X)


def test_wrong_kinds_are_type_errors_and_arrays_are_accepted():
    X = torch.randn(40, 3, generator=torch.Generator().manual_seed(0))
    with pytest.raises(TypeError, match="index must be an LSHIndex"):
        lsh.query("index", X)
    with pytest.raises(TypeError, match="seed must be an int"):
        lsh.build(X, seed=2.5)
    with pytest.raises(TypeError, match="found must be"):
        lsh.recall(None, torch.zeros(3, 2, dtype=torch.long))
    assert torch.equal(lsh.exact_knn(X.numpy(), X[:4].numpy(), 3)[1], lsh.exact_knn(X, X[:4], 3)[1])


def test_nan_query_is_rejected():
    X = torch.randn(40, 3)
    Q = X[:5].clone()
    Q[3, 0] = float("inf")
    with pytest.raises(ValueError, match="Q has NaN or infinite values, first at row 3"):
        lsh.query(lsh.build(X), Q)


@pytest.mark.gpu
def test_lsh_on_the_gpu_equals_the_cpu(blobs):
    X, Q = blobs
    cpu = lsh.query(lsh.build(X, n_tables=8, width=6.0), Q, 10)
    gpu = lsh.query(lsh.build(X.cuda(), n_tables=8, width=6.0), Q.cuda(), 10)
    assert lsh.recall(gpu[1].cpu(), cpu[1]) > 0.99


def test_more_tables_extend_fewer_tables():
    X = torch.randn(50, 3, generator=torch.Generator().manual_seed(0))
    small, big = lsh.build(X, n_tables=2, seed=4), lsh.build(X, n_tables=5, seed=4)
    assert torch.equal(big.keys[:2], small.keys) and torch.equal(big.proj[:, : 2 * 4], small.proj)


def test_fused_and_tensor_queries_agree(blobs):
    X, Q = blobs
    index = lsh.build(X, n_tables=6, n_hashes=3, width=6.0, seed=1)
    fd, fi, fs = lsh.query(index, Q, 10, method="fused")
    td, ti, ts = lsh.query(index, Q, 10, method="tensor")
    assert torch.equal(fi, ti) and torch.equal(fs, ts)
    torch.testing.assert_close(fd, td)
    assert fd.dtype == X.dtype


def test_fused_query_drops_repeats_across_tables_on_many_points():
    # 20,000 points; 3 tables that each put every point in one bucket: every candidate comes three
    # times, and the answer must be the exact one with each point measured once
    X = torch.from_numpy(make_blobs(20_000, centers=20, n_features=5, random_state=3)[0]).float()
    Q = X[:200] + 0.01
    dist, idx, scanned = lsh.query(lsh.build(X, n_tables=3, n_hashes=1, width=1e7), Q, 10, method="fused")
    ref_d, ref_i = NearestNeighbors(n_neighbors=10).fit(X.double().numpy()).kneighbors(Q.double().numpy())
    np.testing.assert_array_equal(idx.numpy(), ref_i)
    np.testing.assert_allclose(dist.numpy(), ref_d, rtol=1e-5)
    assert (scanned == len(X)).all()


def test_exact_knn_bounds_its_chunk_on_large_data():
    # 40,000 points: a chunk of 1,024 queries would be 41 million distances; it is split and still exact
    g = torch.Generator().manual_seed(0)
    X = torch.rand(40_000, 3, generator=g, dtype=torch.float64)
    Q = torch.rand(1_100, 3, generator=g, dtype=torch.float64)
    dist, idx = lsh.exact_knn(X, Q, 5)
    ref_d, ref_i = NearestNeighbors(n_neighbors=5).fit(X.numpy()).kneighbors(Q.numpy())
    np.testing.assert_array_equal(idx.numpy(), ref_i)
    np.testing.assert_allclose(dist.numpy(), ref_d, rtol=1e-9)


def test_query_rejects_an_unknown_method(blobs):
    X, Q = blobs
    with pytest.raises(ValueError, match="method must be 'auto', 'tensor' or 'fused'"):
        lsh.query(lsh.build(X), Q, method="gpu")


def test_fused_query_takes_half_precision_data(blobs):
    X, Q = blobs
    index = lsh.build(X.half(), n_tables=4, width=6.0)
    dist, idx, _ = lsh.query(index, Q.half(), 5, method="fused")
    _, ref, _ = lsh.query(index, Q.half(), 5, method="tensor")
    assert lsh.recall(idx, ref) > 0.95 and dist.dtype == torch.float32


def test_query_returns_distances_first_like_kneighbors(blobs):
    # an index whose one bucket holds every point: the approximate answer is the exact one, in kneighbors' order
    X, Q = blobs
    got = lsh.query(lsh.build(X, n_tables=1, n_hashes=1, width=1e7), Q[:30], 5)
    ref_d, ref_i = NearestNeighbors(n_neighbors=5).fit(X.numpy()).kneighbors(Q[:30].numpy())
    np.testing.assert_allclose(got[0].numpy(), ref_d, rtol=1e-9)
    np.testing.assert_array_equal(got[1].numpy(), ref_i)


def test_radius_pairs_takes_eps_by_keyword_only():
    X = torch.randn(30, 2, generator=torch.Generator().manual_seed(0))
    with pytest.raises(TypeError):
        lsh.radius_pairs(lsh.build(X), 0.3)  # eps is keyword-only, as in dbscan


def test_query_refuses_more_neighbours_than_points():
    X = torch.randn(7, 3)
    index = lsh.build(X, n_tables=2)
    with pytest.raises(ValueError, match=r"k must be an int in \[1, 7\], got 8"):
        lsh.query(index, X[:2], 8)
    assert lsh.query(index, X[:2], 7)[0].shape == (2, 7)  # all seven is fine


# ---------------------------------------------------------------- the chapter's two lines


def _lines(t, d, h, width, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(t, d, h, generator=g, dtype=torch.float64), torch.rand(t, 1, h, generator=g,
                                                                               dtype=torch.float64) * width


def test_hash_codes_follow_the_formula_point_by_point(blobs):
    X, _ = blobs
    proj, shift = _lines(3, 8, 2, 4.0)
    codes = lsh.hash_codes(X[:30], proj, shift, width=4.0)
    assert codes.shape == (3, 30, 2) and codes.dtype == torch.int64
    for t in range(3):
        for i in range(30):
            for h in range(2):
                dot = sum(float(X[i, f]) * float(proj[t, f, h]) for f in range(8))
                assert int(codes[t, i, h]) == int(np.floor((dot + float(shift[t, 0, h])) / 4.0)), (t, i, h)


def test_candidates_match_a_plain_loop():
    g = torch.Generator().manual_seed(1)
    codes, q_codes = torch.randint(0, 3, (4, 50, 2), generator=g), torch.randint(0, 3, (4, 7, 2), generator=g)
    got = lsh.candidates(codes, q_codes)
    assert got.shape == (7, 50) and got.dtype == torch.bool
    for m in range(7):
        for j in range(50):
            shared = any(codes[t, j].tolist() == q_codes[t, m].tolist() for t in range(4))
            assert bool(got[m, j]) == shared, (m, j)


def test_candidates_are_the_buckets_of_the_index(blobs):
    """The chapter's two lines, with the index's own lines, find exactly the points the index scans."""
    X, Q = blobs
    T, H, d = 5, 3, X.shape[1]
    index = lsh.build(X, n_tables=T, n_hashes=H, width=6.0, seed=3)
    proj = index.proj.T.reshape(T, H, d).transpose(1, 2)  # table t owns the columns t*H .. t*H + H - 1
    shift = index.shift.view(T, 1, H)
    cand = lsh.candidates(lsh.hash_codes(X, proj, shift, width=6.0), lsh.hash_codes(Q, proj, shift, width=6.0))
    _, _, scanned = lsh.query(index, Q, 5)
    assert torch.equal(cand.sum(1), scanned)


@pytest.mark.parametrize("call, error, match", [
    (lambda X, p, s: lsh.hash_codes(X, p[:, :2], s, width=1.0), ValueError, r"proj must be a float tensor \(n_tables, 3"),
    (lambda X, p, s: lsh.hash_codes(X, p, s[:, :, :1], width=1.0), ValueError, r"shift must be a float tensor \(2, 1, 4\)"),
    (lambda X, p, s: lsh.hash_codes(X, p, s, width=0.0), ValueError, "width must be a positive number"),
    (lambda X, p, s: lsh.hash_codes(X, None, s, width=1.0), TypeError, "proj must be a torch.Tensor"),
    (lambda X, p, s: lsh.candidates(torch.zeros(2, 5, 4), torch.zeros(2, 3, 4)), ValueError,
     "codes must be an integer tensor"),
    (lambda X, p, s: lsh.candidates(torch.zeros(2, 5, 4, dtype=torch.long), torch.zeros(3, 3, 4, dtype=torch.long)),
     ValueError, "must have the same tables and hashes"),
])
def test_hash_codes_and_candidates_refuse_bad_input(call, error, match):
    X = torch.randn(40, 3, generator=torch.Generator().manual_seed(0))
    proj, shift = _lines(2, 3, 4, 1.0)
    with pytest.raises(error, match=match):
        call(X, proj, shift)
