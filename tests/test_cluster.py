import numpy as np
import pytest
import torch
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from sklearn.cluster import DBSCAN, KMeans
from sklearn.datasets import make_blobs, make_circles, make_moons
from sklearn.neighbors import NearestNeighbors

from lessonlib.cluster import (components, dbscan, dbscan_dense, inertia, kmeans, kmeans_plusplus, kmeans_step,
                               radius_pairs, sq_dists)


def _with_noise(X, n_noise, seed):
    rng = np.random.default_rng(seed)
    lo, hi = X.min(0) - 0.5, X.max(0) + 0.5
    return np.vstack([X, rng.uniform(lo, hi, size=(n_noise, X.shape[1]))])


def _datasets():
    """(name, X, eps, min_samples): shapes k-means gets wrong, noise, duplicates, 1-D and 3-D."""
    moons = make_moons(1003, noise=0.07, random_state=1)[0]
    circles = make_circles(997, noise=0.05, factor=0.45, random_state=2)[0]
    blobs = make_blobs(801, centers=5, cluster_std=0.6, random_state=3)[0]
    dup = np.repeat(make_blobs(150, centers=3, random_state=4)[0], 3, axis=0)  # every point three times
    rng = np.random.default_rng(5)
    return [
        ("moons+noise", _with_noise(moons, 60, 0), 0.1, 6),
        ("circles+noise", _with_noise(circles, 40, 1), 0.08, 5),
        ("blobs+noise", _with_noise(blobs, 100, 2), 0.5, 8),
        ("blobs, eps small: mostly noise", blobs, 0.12, 7),
        ("duplicates", dup, 0.4, 4),
        ("duplicates, min_samples=3 so a lone triple is a cluster", dup, 0.05, 3),
        ("min_samples=1: no noise", _with_noise(moons, 30, 3), 0.05, 1),
        ("1-D", rng.normal(size=(301, 1)) * np.repeat([1.0], 1), 0.05, 4),
        ("3-D", make_blobs(500, centers=4, n_features=3, random_state=6)[0], 0.7, 5),
        ("5-D", make_blobs(400, centers=3, n_features=5, random_state=7)[0], 1.5, 5),
    ]


METHODS = ["tensor", "fused"]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name, X, eps, min_samples", _datasets(), ids=[d[0] for d in _datasets()])
def test_dbscan_labels_equal_scikit_learn(name, X, eps, min_samples, method):
    expected = DBSCAN(eps=eps, min_samples=min_samples).fit(X).labels_
    got = dbscan(torch.from_numpy(X), eps=eps, min_samples=min_samples, method=method)
    # the same numbers, not just the same partition: clusters in order of their first core point
    np.testing.assert_array_equal(got.numpy(), expected)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dbscan_equals_scikit_learn_on_random_seeds_in_float32(seed, method):
    X = _with_noise(make_moons(700 + 37 * seed, noise=0.08, random_state=seed)[0], 50, seed).astype(np.float32)
    expected = DBSCAN(eps=0.09, min_samples=5).fit(X).labels_
    np.testing.assert_array_equal(dbscan(torch.from_numpy(X), eps=0.09, min_samples=5, method=method).numpy(), expected)


def test_fused_dbscan_with_thousands_of_candidates_per_point_equals_scikit_learn():
    # eps 0.3 on dense moons: each point has about a thousand neighbours, and border points
    # reached by both moons' clusters once the noise thins them out
    X = _with_noise(make_moons(6000, noise=0.06, random_state=3)[0], 300, 4)
    for eps, ms in ((0.3, 10), (0.15, 60)):
        expected = DBSCAN(eps=eps, min_samples=ms).fit(X).labels_
        got = dbscan(torch.from_numpy(X), eps=eps, min_samples=ms, method="fused").numpy()
        np.testing.assert_array_equal(got, expected)
        assert len(set(expected)) >= 2


@pytest.mark.parametrize("method", METHODS)
def test_dbscan_border_point_joins_the_first_cluster_like_scikit_learn(method):
    # two clumps of six points, and one point midway within eps of two points of each clump
    left = np.array([[0.0, 0.0], [0.1, 0.0], [0.0, 0.1], [0.1, 0.1], [0.03, 0.05], [0.0, 0.05]])
    right = left * [-1, 1] + [2.0, 0]  # the mirror image about x = 1
    X = np.vstack([right, [[1.0, 0.05]], left])  # the clump listed first is on the right
    expected = DBSCAN(eps=0.95, min_samples=6).fit(X).labels_
    got = dbscan(torch.from_numpy(X), eps=0.95, min_samples=6, method=method).numpy()
    np.testing.assert_array_equal(got, expected)
    assert got[6] == 0 and set(got) == {0, 1}  # 5 neighbours, not core; both clusters reach it; joins 0


@pytest.mark.parametrize("method", METHODS)
def test_dbscan_with_no_core_point_is_all_noise(method):
    X = torch.arange(10, dtype=torch.float64)[:, None] * 10
    assert (dbscan(X, eps=1.0, min_samples=2, method=method) == -1).all()


@pytest.mark.parametrize("n, d, block", [(257, 2, 128), (130, 2, 7), (99, 3, 16), (50, 1, 5), (1, 2, 128), (64, 9, 10)])
def test_radius_pairs_equal_brute_force(n, d, block):
    g = torch.Generator().manual_seed(n)
    X = torch.rand(n, d, generator=g, dtype=torch.float64) * 3
    X[n // 2 :: 7] = X[0].clone()  # some duplicates
    eps = 0.4
    i, j = radius_pairs(X, eps=eps, block=block)
    got = set(zip(i.tolist(), j.tolist()))
    expected = {(a, b) for a, b in (torch.cdist(X, X) <= eps).nonzero().tolist()}
    assert got == expected
    assert len(got) == len(i)  # no pair twice


def test_radius_pairs_match_scikit_learn_radius_neighbors():
    X = make_blobs(500, centers=3, random_state=0)[0]
    i, j = radius_pairs(torch.from_numpy(X), eps=0.3)
    nbrs = NearestNeighbors(radius=0.3).fit(X).radius_neighbors(X, return_distance=False)
    expected = sorted((a, int(b)) for a, row in enumerate(nbrs) for b in row)
    assert sorted(zip(i.tolist(), j.tolist())) == expected


@pytest.mark.parametrize("seed", [0, 1])
def test_components_match_scipy(seed):
    g = torch.Generator().manual_seed(seed)
    n = 300
    i = torch.randint(n, (250,), generator=g)
    j = torch.randint(n, (250,), generator=g)
    lab = components(n, i, j)  # one direction per edge is enough
    k, ref = connected_components(coo_matrix((np.ones(250), (i.numpy(), j.numpy())), shape=(n, n)), directed=False)
    # same partition, and each label is the smallest index of its component
    assert len(lab.unique()) == k
    for c in range(k):
        members = np.flatnonzero(ref == c)
        assert (lab[members] == members.min()).all()


def test_components_of_a_graph_without_edges_and_with_lists():
    assert components(4, torch.empty(0, dtype=torch.long), torch.empty(0, dtype=torch.long)).tolist() == [0, 1, 2, 3]
    assert components(5, np.array([3, 4]), np.array([1, 3])).tolist() == [0, 1, 2, 1, 1]  # 1-3-4 under 1


@pytest.mark.parametrize("args, error, match", [
    ((2.0, [0], [1]), TypeError, "n must be an int, got 2.0"),
    ((3, None, [1]), TypeError, "i must be a torch.Tensor"),
    ((3, torch.tensor([0.0]), torch.tensor([1.0])), ValueError, "i must be a 1-D tensor of integer node indices"),
    ((3, torch.tensor([[0]]), torch.tensor([1])), ValueError, "i must be a 1-D tensor"),
    ((3, torch.tensor([0, 1]), torch.tensor([1])), ValueError, "i and j must be edges on one device: same length"),
    ((3, torch.tensor([0]), torch.tensor([3])), ValueError, r"node indices in \[0, n\) = \[0, 3\)"),
    ((3, torch.tensor([-1]), torch.tensor([0])), ValueError, r"node indices in \[0, n\) = \[0, 3\)"),
])
def test_components_refuses_bad_input(args, error, match):
    with pytest.raises(error, match=match):
        components(*args)


@pytest.mark.parametrize("dtype, shift", [(torch.float32, 0.0), (torch.float64, 0.0),
                                          (torch.float32, 1e4), (torch.float64, 1e8)])  # far from the origin too
def test_sq_dists_match_a_plain_loop(dtype, shift):
    g = torch.Generator().manual_seed(3)
    X, C = torch.randn(37, 5, generator=g, dtype=dtype) * 4, torch.randn(6, 5, generator=g, dtype=dtype)
    X, C = X + shift, C + shift
    ref = np.array([[sum((float(x[f]) - float(c[f])) ** 2 for f in range(5)) for c in C] for x in X])
    d2 = sq_dists(X, C)
    assert d2.shape == (37, 6) and d2.dtype == dtype
    np.testing.assert_allclose(d2.numpy(), ref, rtol=1e-4 if dtype == torch.float32 else 1e-10, atol=1e-4)
    assert (sq_dists(X, X).diagonal() >= 0).all()  # rounding never gives a negative distance
    np.testing.assert_allclose(sq_dists(X.numpy(), C.numpy()).numpy(), ref, rtol=1e-4, atol=1e-4)  # converted


@pytest.mark.parametrize("args, error, match", [
    ((None, torch.ones(2, 2)), TypeError, "X must be a torch.Tensor"),
    ((torch.ones(3, 2), "c"), TypeError, "C must be a torch.Tensor"),
    ((torch.ones(3), torch.ones(2, 2)), ValueError, "X must be 2-D"),
    ((torch.ones(3, 2), torch.ones(2, 3)), ValueError, "C must hold 2-D points, as X has; got shape"),
    ((torch.ones(3, 2), torch.ones(2, 2, dtype=torch.float64)), ValueError, "X and C must share a dtype"),
    ((torch.ones(3, 2, dtype=torch.long), torch.ones(2, 2)), ValueError, "X must be floating point"),
    ((torch.ones(0, 2), torch.ones(2, 2)), ValueError, "X has an empty dimension"),
])
def test_sq_dists_refuses_bad_input(args, error, match):
    with pytest.raises(error, match=match):
        sq_dists(*args)


def test_dbscan_with_given_pairs_equals_dbscan_with_exact_pairs_and_symmetrises_them():
    X = torch.from_numpy(_with_noise(make_moons(400, noise=0.06, random_state=0)[0], 20, 0))
    i, j = radius_pairs(X, eps=0.1)
    one_way = i <= j  # only half of the pairs, each once: dbscan adds the reverse ones
    assert torch.equal(dbscan(X, eps=0.1, min_samples=5, pairs=(i[one_way], j[one_way])),
                       dbscan(X, eps=0.1, min_samples=5))


# ---------------------------------------------------------------- k-means


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("seed, n, k, d", [(0, 1003, 5, 2), (1, 777, 8, 5), (2, 500, 3, 16)])
def test_kmeans_from_the_same_init_matches_scikit_learn(seed, n, k, d, method):
    X = make_blobs(n, centers=k, n_features=d, cluster_std=2.0, random_state=seed)[0]
    Xt = torch.from_numpy(X)
    init = kmeans_plusplus(Xt, k, seed=seed)
    ref = KMeans(k, init=init.numpy(), n_init=1, max_iter=300, tol=0, algorithm="lloyd").fit(X)
    C, labels = kmeans(Xt, k, iters=300, init=init, method=method)
    assert inertia(Xt, C) <= ref.inertia_ * (1 + 1e-9)
    np.testing.assert_allclose(C.numpy(), ref.cluster_centers_, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(labels.numpy(), ref.labels_)


def test_fused_kmeans_with_many_points_and_iterations_matches_scikit_learn():
    # 30,000 points, k = 20 in 6-D, overlapping blobs: dozens of iterations in which Hamerly's
    # bounds skip most points; the result must still be Lloyd's, step for step
    X = make_blobs(30_000, centers=20, n_features=6, cluster_std=3.0, random_state=11)[0]
    Xt = torch.from_numpy(X)
    init = kmeans_plusplus(Xt, 20, seed=5)
    ref = KMeans(20, init=init.numpy(), n_init=1, max_iter=300, tol=0, algorithm="lloyd").fit(X)
    C, labels = kmeans(Xt, 20, iters=300, init=init, method="fused")
    assert ref.n_iter_ >= 20
    np.testing.assert_allclose(C.numpy(), ref.cluster_centers_, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(labels.numpy(), ref.labels_)


SHIFTED = [(np.float32, 1e3), (np.float32, 1e4), (np.float64, 1e7), (np.float64, 1e8)]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype, shift", SHIFTED, ids=[f"{np.dtype(t).name}+{s:g}" for t, s in SHIFTED])
def test_kmeans_far_from_the_origin_matches_scikit_learn(dtype, shift, method):
    # |x|² - 2x·c + |c|² cancels far from the origin, unless the points are centred first
    X = (make_blobs(2000, centers=5, random_state=0)[0] + shift).astype(dtype)
    Xt = torch.from_numpy(X)
    init = kmeans_plusplus(Xt, 5, seed=0)
    ref = KMeans(5, init=init.numpy(), n_init=1, max_iter=300, tol=0, algorithm="lloyd").fit(X)
    C, labels = kmeans(Xt, 5, iters=300, init=init, method=method)
    np.testing.assert_array_equal(labels.numpy(), ref.labels_)
    for centroids in (C.numpy(), ref.cluster_centers_):  # inertia against a float64 reference from differences
        d2 = ((X.astype(np.float64)[:, None, :] - centroids.astype(np.float64)[None, :, :]) ** 2).sum(-1)
        assert inertia(Xt, torch.from_numpy(centroids)) == pytest.approx(d2.min(1).sum(), rel=1e-6)


@pytest.mark.parametrize("dtype, shift", [(torch.float32, 0.0), (torch.float32, 1e4), (torch.float64, 0.0),
                                          (torch.float64, 1e8)])
def test_inertia_of_points_on_their_own_centroids_is_zero(dtype, shift):
    X = torch.from_numpy(make_blobs(300, centers=4, random_state=0)[0] + shift).to(dtype)
    assert inertia(X, X) == 0.0
    assert inertia(X, X[:7]) > 0


def test_inertia_equals_scikit_learn_score():
    X = make_blobs(300, centers=4, random_state=0)[0]
    ref = KMeans(4, n_init=1, random_state=0).fit(X)
    assert inertia(torch.from_numpy(X), torch.from_numpy(ref.cluster_centers_)) == pytest.approx(-ref.score(X), rel=1e-12)


def test_kmeans_plusplus_picks_distinct_rows_reproducibly():
    X = torch.from_numpy(make_blobs(200, centers=6, random_state=1)[0])
    C = kmeans_plusplus(X, 6, seed=3)
    assert torch.equal(C, kmeans_plusplus(X, 6, seed=3))
    rows = [int((X == c).all(1).nonzero()[0, 0]) for c in C]
    assert len(set(rows)) == 6


@pytest.mark.parametrize("shift", [0.0, 1e8])
def test_kmeans_plusplus_never_picks_a_point_already_covered(shift):
    # after a first pick at the origin, the other origin point has weight 0: the far one must come next
    X = torch.tensor([[0.0, 0.0], [0.0, 0.0], [10.0, 0.0]], dtype=torch.float64) + shift
    for seed in range(20):
        C = kmeans_plusplus(X, 2, seed=seed)
        assert sorted((C[:, 0] - shift).tolist()) == [0.0, 10.0]


def test_kmeans_plusplus_on_identical_points_still_returns_k_rows():
    X = torch.ones(5, 2, dtype=torch.float64)
    assert torch.equal(kmeans_plusplus(X, 3), torch.ones(3, 2, dtype=torch.float64))


@pytest.mark.parametrize("method", METHODS)
def test_kmeans_zero_iterations_only_assigns(method):
    X = torch.tensor([[0.0, 0], [0.2, 0], [5, 5], [5.2, 5]])
    init = torch.tensor([[0.0, 0], [5.0, 5]])
    C, labels = kmeans(X, 2, iters=0, init=init, method=method)
    assert torch.equal(C, init) and labels.tolist() == [0, 0, 1, 1]
    C, _ = kmeans(X, 2, iters=1, init=init, method=method)
    torch.testing.assert_close(C, torch.tensor([[0.1, 0], [5.1, 5]]))
    assert C.dtype == X.dtype


@pytest.mark.parametrize("method", METHODS)
def test_kmeans_empty_cluster_keeps_its_centroid(method):
    X = torch.tensor([[0.0, 0], [1.0, 0]])
    init = torch.tensor([[0.5, 0], [100.0, 100]])  # the far centroid gets no points
    C, labels = kmeans(X, 2, init=init, method=method)
    assert torch.isfinite(C).all() and torch.equal(C[1], init[1]) and labels.tolist() == [0, 0]


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda X: kmeans(X, 31), r"k must be an int in \[1, 30\], got 31"),
        (lambda X: kmeans(X, 0), r"k must be an int in \[1, 30\], got 0"),
        (lambda X: kmeans(X, 2, iters=-1), "iters must be an int >= 0"),
        (lambda X: kmeans(X, 2, init=torch.zeros(3, 2)), "init has 3 centroids but k is 2"),
        (lambda X: kmeans(X, 2, init=torch.zeros(2, 3)), r"init must hold 2-D points"),
        (lambda X: kmeans(X[:, 0], 2), r"X must be 2-D \(n_samples, n_features\), got shape \(30,\)"),
        (lambda X: kmeans(X[:0], 1), r"X is empty: shape \(0, 2\)"),
        (lambda X: kmeans_plusplus(X, 31), r"k must be an int in \[1, 30\], got 31"),
        (lambda X: dbscan(X, eps=0), "eps must be a positive number, got 0"),
        (lambda X: dbscan(X, eps=-1.0), "eps must be a positive number, got -1.0"),
        (lambda X: dbscan(X, eps=float("nan")), "eps must be finite, got nan"),
        (lambda X: dbscan(X, eps=0.5, min_samples=0), "min_samples must be an int >= 1, got 0"),
        (lambda X: dbscan(X[None], eps=0.5), r"X must be 2-D .* got shape \(1, 30, 2\)"),
        (lambda X: dbscan(X.long(), eps=0.5), "X must be floating point"),
        (lambda X: dbscan(X, eps=0.5, pairs=(torch.arange(3), torch.arange(4))),
         r"pairs\[0\] and pairs\[1\] must be edges on one device: same length, got 3 and 4"),
        (lambda X: dbscan(X, eps=0.5, pairs=(torch.zeros(2, 2, dtype=torch.long),) * 2),
         r"pairs\[0\] must be a 1-D tensor of integer node indices"),
        (lambda X: dbscan(X, eps=0.5, pairs=(torch.tensor([0, 30]), torch.tensor([0, 1]))),
         r"node indices in \[0, n\) = \[0, 30\)"),
        (lambda X: dbscan(X, eps=0.5, pairs=(torch.tensor([0, 1]), torch.tensor([1, 0]))), "every self-pair"),
        (lambda X: radius_pairs(X, eps=0.5, block=0), "block must be an int >= 1"),
        (lambda X: kmeans(X, 2, method="numba"), "method must be 'auto', 'tensor' or 'fused', got 'numba'"),
        (lambda X: inertia(X, torch.zeros(2, 3)), "centroids must hold 2-D points"),
    ],
)
def test_bad_input_raises(call, match):
    X = torch.rand(30, 2, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match=match):
        call(X)


def test_method_of_the_wrong_kind_is_a_type_error():
    X = torch.rand(30, 2)
    with pytest.raises(TypeError, match="method must be a str"):
        dbscan(X, eps=0.5, method=None)
    with pytest.raises(TypeError, match="min_samples must be an int, got 2.5"):
        dbscan(X, eps=0.5, min_samples=2.5)
    with pytest.raises(TypeError, match="X must be a torch.Tensor, a numpy array or a list, got None"):
        dbscan(None, eps=0.5)
    with pytest.raises(TypeError, match="seed must be an int"):
        kmeans(X, 2, seed=2.5)
    with pytest.raises(TypeError, match="pairs must be a tuple"):
        dbscan(X, eps=0.5, pairs=torch.arange(3))


def test_arrays_are_accepted_and_float_pairs_refused():
    X = torch.rand(30, 2, generator=torch.Generator().manual_seed(0))
    assert torch.equal(dbscan(X.numpy(), eps=0.2), dbscan(X, eps=0.2))
    assert torch.equal(kmeans(X.tolist(), 3)[1], kmeans(X, 3)[1])
    i, j = radius_pairs(X, eps=0.2)
    assert torch.equal(dbscan(X, eps=0.2, pairs=(i.numpy(), j.numpy())), dbscan(X, eps=0.2, pairs=(i, j)))
    float_pairs = r"pairs\[0\] must be a 1-D tensor of integer node indices, got torch.float32"
    with pytest.raises(ValueError, match=float_pairs):  # bincount failed before
        dbscan(X, eps=0.2, pairs=(i.float(), j.float()))


@pytest.mark.parametrize("fn", [lambda X: kmeans(X, 2), lambda X: dbscan(X, eps=0.5),
                                lambda X: kmeans(X, 2, method="tensor"), lambda X: dbscan(X, eps=0.5, method="tensor")])
def test_nan_is_rejected_with_its_row(fn):
    X = torch.rand(30, 2)
    X[17, 1] = float("nan")
    with pytest.raises(ValueError, match="X has NaN or infinite values, first at row 17"):
        fn(X)


@pytest.mark.gpu
def test_cluster_on_the_gpu_equals_the_cpu():
    X = torch.from_numpy(_with_noise(make_moons(3001, noise=0.07, random_state=0)[0], 100, 0))
    np.testing.assert_array_equal(dbscan(X.cuda(), eps=0.08, min_samples=6).cpu().numpy(),  # the tensor path
                                  DBSCAN(eps=0.08, min_samples=6).fit(X.numpy()).labels_)
    init = kmeans_plusplus(X, 4)
    C, labels = kmeans(X.cuda(), 4, init=init.cuda())
    C0, labels0 = kmeans(X, 4, init=init, method="tensor")
    torch.testing.assert_close(C.cpu(), C0)
    assert torch.equal(labels.cpu(), labels0)


def test_radius_pairs_with_many_thin_columns_and_far_offset_data():
    # eps tiny against the extent, data far from the origin: each pair of twins alone in its column
    g = torch.Generator().manual_seed(7)
    X = torch.rand(400, 2, generator=g, dtype=torch.float64) * torch.tensor([1.0, 1e-4]) + 1e3
    X[200:] = X[:200] + torch.tensor([0.0, 5e-7])  # each point has a twin just above it
    eps = 1e-6
    got = set(zip(*(t.tolist() for t in radius_pairs(X, eps=eps))))
    d2 = ((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)  # from differences: cdist's matmul path rounds at 1e3
    expected = {(a, b) for a, b in (d2 <= eps**2).nonzero().tolist()}
    assert got == expected and len(expected) >= 800


def test_radius_pairs_takes_eps_by_keyword_only_as_dbscan_does():
    X = torch.randn(30, 2, generator=torch.Generator().manual_seed(0))
    with pytest.raises(TypeError):
        radius_pairs(X, 0.3)
    with pytest.raises(TypeError):
        dbscan(X, 0.3)


# ---------------------------------------------------------------- the chapter's short versions


def _step_by_loop(X, C):
    """One k-means step, point by point and cluster by cluster, in Python floats."""
    labels = [min(range(len(C)), key=lambda j: sum((a - b) ** 2 for a, b in zip(x, C[j]))) for x in X]
    new = []
    for j, c in enumerate(C):
        members = [x for x, lab in zip(X, labels) if lab == j]
        new.append([sum(col) / len(members) for col in zip(*members)] if members else list(c))
    return new, labels


@pytest.mark.parametrize("n, k, d, shift", [(97, 4, 2, 0.0), (250, 7, 3, 0.0), (61, 3, 5, 1e6)])
def test_kmeans_step_matches_a_plain_loop(n, k, d, shift):
    g = torch.Generator().manual_seed(n)
    X = torch.randn(n, d, generator=g, dtype=torch.float64) * 3 + shift
    C = X[torch.randperm(n, generator=g)[:k]].clone()
    C[-1] = X.max(0).values + 100  # far from every point: a cluster that stays empty
    before = C.clone()
    new, labels = kmeans_step(X, C)
    ref_new, ref_labels = _step_by_loop(X.tolist(), C.tolist())
    assert labels.tolist() == ref_labels and labels.dtype == torch.int64
    np.testing.assert_allclose(new.numpy(), np.array(ref_new), rtol=1e-12, atol=1e-9)
    assert torch.equal(new[-1], C[-1]) and torch.equal(C, before)  # the empty one stays put; C not mutated


@pytest.mark.parametrize("seed", [0, 1])
def test_kmeans_steps_match_scikit_learn_from_the_same_start(seed):
    X = make_blobs(600, centers=5, n_features=3, cluster_std=2.0, random_state=seed)[0]
    start = X[:5].copy()
    C = torch.from_numpy(start)
    for _ in range(3):
        C, _labels = kmeans_step(torch.from_numpy(X), C)
    ref = KMeans(5, init=start, n_init=1, max_iter=3, tol=0, algorithm="lloyd").fit(X)
    np.testing.assert_allclose(C.numpy(), ref.cluster_centers_, rtol=0, atol=1e-9)


@pytest.mark.parametrize("name, X, eps, min_samples", _datasets(), ids=[d[0] for d in _datasets()])
def test_dbscan_dense_labels_equal_scikit_learn(name, X, eps, min_samples):
    expected = DBSCAN(eps=eps, min_samples=min_samples).fit(X).labels_
    np.testing.assert_array_equal(dbscan_dense(torch.from_numpy(X), eps=eps, min_samples=min_samples).numpy(),
                                  expected)


def test_dbscan_dense_in_float32_with_no_core_point_and_on_lists():
    X = _with_noise(make_moons(500, noise=0.08, random_state=4)[0], 30, 4).astype(np.float32)
    expected = DBSCAN(eps=0.09, min_samples=5).fit(X).labels_
    np.testing.assert_array_equal(dbscan_dense(torch.from_numpy(X), eps=0.09, min_samples=5).numpy(), expected)
    assert (dbscan_dense(X[:50].tolist(), eps=1e-6, min_samples=2) == -1).all()  # all noise


@pytest.mark.parametrize("call, error, match", [
    (lambda X: kmeans_step(X, X[:3, :1]), ValueError, r"C must hold 2-D points, shape \(n, 2\), as X has"),
    (lambda X: kmeans_step(X, None), TypeError, "C must be a torch.Tensor"),
    (lambda X: kmeans_step(X, X[:3].double()), ValueError, "X and C must share a dtype"),
    (lambda X: kmeans_step(X[0], X[:2]), ValueError, "X must be 2-D"),
    (lambda X: dbscan_dense(X, eps=0), ValueError, "eps must be a positive number, got 0"),
    (lambda X: dbscan_dense(X, eps=0.5, min_samples=0), ValueError, "min_samples must be an int >= 1"),
    (lambda X: dbscan_dense(X.long(), eps=0.5), ValueError, "X must be floating point"),
])
def test_short_versions_refuse_bad_input(call, error, match):
    X = torch.rand(30, 2, generator=torch.Generator().manual_seed(0))
    with pytest.raises(error, match=match):
        call(X)
