import math

import numpy as np
from functools import partial

import pytest
import torch
from sklearn.metrics import adjusted_rand_score

from lessonlib.meanshift import (
    broadcast_layout,
    cluster_labels,
    gaussian,
    make_clusters,
    meanshift,
    meanshift_batched,
    meanshift_fast,
    norm,
    one_update,
    plot_broadcast,
    plot_data,
    plot_func,
    plot_step,
    step_parts,
    sample,
    tri,
    true_labels,
)


@pytest.fixture(scope="module")
def lecture():
    centroids, data = make_clusters()
    return centroids, data.double(), true_labels(6, 250)


def _random_blobs(seed, n_clusters=4, n=90):
    g = torch.Generator().manual_seed(seed)
    centres = torch.rand(n_clusters, 2, generator=g, dtype=torch.float64) * 60 - 30
    pts = centres.repeat_interleave(n, 0) + torch.randn(n_clusters * n, 2, generator=g, dtype=torch.float64) * 1.5
    return pts


def test_make_clusters_matches_the_lecture_recipe_and_keeps_global_rng():
    state = torch.random.get_rng_state()
    centroids, data = make_clusters(6, 250, seed=42)
    assert torch.equal(torch.random.get_rng_state(), state)
    torch.manual_seed(42)
    expected = torch.rand(6, 2) * 70 - 35
    torch.testing.assert_close(centroids, expected)
    assert data.shape == (1500, 2)
    # each block of 250 rows is centred on its centroid (sd √5 ≈ 2.24, so the mean is within ~0.5)
    assert (data.view(6, 250, 2).mean(1) - centroids).abs().max() < 0.6
    assert torch.equal(make_clusters(6, 250, seed=42)[1], data)


def test_sample_has_variance_five():
    torch.manual_seed(0)
    pts = sample(torch.tensor([1.0, -2.0]), 20_000)
    torch.testing.assert_close(pts.mean(0), torch.tensor([1.0, -2.0]), atol=0.1, rtol=0)
    torch.testing.assert_close(pts.var(0), torch.tensor([5.0, 5.0]), atol=0.25, rtol=0)


def test_gaussian_is_the_normal_density():
    d = torch.linspace(-4, 4, 9, dtype=torch.float64)
    expected = torch.distributions.Normal(0.0, 2.5).log_prob(d).exp()
    torch.testing.assert_close(gaussian(d, 2.5), expected)


def test_tri_is_a_clamped_line():
    d = torch.tensor([0.0, 2.0, 8.0, 10.0])
    torch.testing.assert_close(tri(d, 8), torch.tensor([1.0, 0.75, 0.0, 0.0]))


@pytest.mark.parametrize("p", [1, 2, 3, math.inf])
def test_norm_matches_torch(p):
    v = torch.randn(7, 5, dtype=torch.float64)
    torch.testing.assert_close(norm(v, p), torch.linalg.vector_norm(v, ord=p, dim=-1))


def test_loop_equals_batched_with_batch_size_one(lecture):
    _, data, _ = lecture
    pts = data[::10]  # 150 points keep the loop version quick
    torch.testing.assert_close(meanshift(pts), meanshift_batched(pts, bs=1))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_versions_agree_on_random_data(seed):
    pts = _random_blobs(seed)
    loop = meanshift(pts)
    all_at_once = meanshift_batched(pts, bs=len(pts))
    fast = meanshift_fast(pts)
    # batches update in place in order, so batch size changes the path a little
    assert (meanshift_batched(pts, bs=37) - loop).abs().max() < 0.25
    assert (all_at_once - loop).abs().max() < 0.25
    # the grid version approximates the all-at-once update: stated tolerance 0.05·bw
    assert (fast - all_at_once).abs().max() < 0.05 * 2.5


def _reference_meanshift(data, weight, iters, bs):
    """Blurring mean shift written out with numpy, one point at a time.

    Points are taken ``bs`` at a time, in order: each point of a group moves to
    the ``weight``-weighted mean of all points as they stand before the group,
    and the group is written back before the next one (bs=1: every point sees
    the ones before it already moved; bs >= n: all move at once).
    """
    X = np.array(data, dtype=np.float64)
    n = len(X)
    for _ in range(iters):
        for start in range(0, n, bs):
            moved = []
            for i in range(start, min(start + bs, n)):
                dist = np.sqrt(((X - X[i]) ** 2).sum(axis=1))
                w = weight(dist)
                moved.append((w[:, None] * X).sum(axis=0) / w.sum())
            X[start:start + len(moved)] = moved
    return X


def _np_gaussian(d, bw):
    return np.exp(-d**2 / (2 * bw**2)) / (bw * np.sqrt(2 * np.pi))


def _np_tri(d, bw):
    return np.maximum(bw - d, 0.0) / bw  # 1 at the point, falling to 0 at distance bw


@pytest.mark.parametrize("kernel, np_kernel, bw", [(gaussian, _np_gaussian, 2.5), (tri, _np_tri, 8.0)],
                         ids=["gaussian", "tri"])
def test_meanshift_and_batched_match_a_plain_numpy_loop(kernel, np_kernel, bw):
    pts = _random_blobs(3, n_clusters=3, n=29)  # 87 points: not a multiple of the batch sizes below
    assert len(pts) % 20 and len(pts) % 50
    weight = partial(np_kernel, bw=bw)
    ref_seq = _reference_meanshift(pts.numpy(), weight, iters=3, bs=1)
    np.testing.assert_allclose(meanshift(pts, bw=bw, iters=3, kernel=kernel).numpy(), ref_seq, rtol=0, atol=1e-9)
    np.testing.assert_allclose(meanshift_batched(pts, bw=bw, iters=3, bs=1, kernel=kernel).numpy(), ref_seq,
                               rtol=0, atol=1e-9)
    for bs in (20, 50, len(pts)):
        ref = _reference_meanshift(pts.numpy(), weight, iters=3, bs=bs)
        out = meanshift_batched(pts, bw=bw, iters=3, bs=bs, kernel=kernel)
        np.testing.assert_allclose(out.numpy(), ref, rtol=0, atol=1e-9, err_msg=f"bs={bs}")
    # the points did move: the comparison is not between two copies of the input
    assert np.abs(ref_seq - pts.numpy()).max() > 0.1


def test_fast_matches_batched_on_the_lecture_data(lecture):
    _, data, _ = lecture
    # one step at a time: each step depends only on the points (the grid is anchored on them), so
    # k one-step calls are iters=k; checked after 1, 2 and 5 steps
    fast, exact = data, data
    for step in range(1, 6):
        fast, exact = meanshift_fast(fast, iters=1), meanshift_batched(exact, bs=len(data), iters=1)
        if step in (1, 2, 5):
            assert (fast - exact).abs().max() < 0.02 * 2.5, step  # the tolerance the chapter states
    one_step = partial(meanshift_fast, iters=1)
    assert torch.equal(meanshift_fast(data, iters=2), one_step(one_step(data)))


def test_fast_converges_to_batched_as_the_grid_refines(lecture):
    _, data, _ = lecture
    exact = meanshift_batched(data[::3], bs=len(data), iters=2)
    # a wide cutoff leaves only the grid's error, which is second order in the cell size
    errs = [(meanshift_fast(data[::3], iters=2, cell=c, cutoff=6) - exact).abs().max().item() for c in (0.5, 0.25, 0.125)]
    assert errs[0] > errs[1] > errs[2]
    assert errs[1] / errs[2] > 2.5  # second order in the cell size: halving h quarters the error


@pytest.mark.parametrize("fn", [meanshift, meanshift_batched, meanshift_fast], ids=lambda f: f.__name__)
def test_translation_equivariance(fn, lecture):
    _, data, _ = lecture
    pts = data[::10]
    shift = torch.tensor([13.7, -42.1], dtype=torch.float64)
    torch.testing.assert_close(fn(pts + shift), fn(pts) + shift, atol=1e-6, rtol=0)


def test_cluster_labels_recover_the_truth(lecture):
    _, data, truth = lecture
    shifted = meanshift_batched(data)
    centres, labels = cluster_labels(shifted, tol=1.0)
    assert adjusted_rand_score(truth, labels) >= 0.99
    assert len(centres) == 6
    assert torch.bincount(labels).tolist() == sorted(torch.bincount(labels).tolist(), reverse=True)
    for k in range(len(centres)):
        torch.testing.assert_close(centres[k], shifted[labels == k].mean(0))


def test_cluster_labels_on_fast_output_recover_the_truth(lecture):
    _, data, truth = lecture
    _, labels = cluster_labels(meanshift_fast(data))
    assert adjusted_rand_score(truth, labels) >= 0.99


def test_one_update_moves_points_in_place():
    X = torch.tensor([[0.0, 0.0], [1.0, 0.0], [10.0, 10.0]])
    before = X.clone()
    one_update(X, partial(gaussian, bw=1.0))
    assert not torch.equal(X, before)
    assert X[0, 0] > 0 and X[1, 0] < 1  # the close pair moved towards each other


NAN = torch.tensor([[0.0, 1.0], [float("nan"), 2.0]])


@pytest.mark.parametrize("fn", [meanshift, meanshift_batched, meanshift_fast], ids=lambda f: f.__name__)
@pytest.mark.parametrize(
    "data, kwargs, match",
    [
        (torch.ones(5, 2), {"bw": 0}, "bw must be a positive number, got 0"),
        (torch.ones(5, 2), {"bw": -1.0}, "bw must be a positive number"),
        (torch.ones(5), {}, r"data must be 2-D \(n_samples, n_features\), got shape \(5,\)"),
        (torch.ones(0, 2), {}, r"data is empty: shape \(0, 2\)"),
        (NAN, {}, "data has NaN or infinite values, first at row 1"),
        (torch.ones(5, 2, dtype=torch.int64), {}, "data must be floating point"),
        (torch.ones(5, 2), {"iters": -1}, r"iters must be an int in \[1, 10000\]"),
    ],
)
def test_bad_input(fn, data, kwargs, match):
    with pytest.raises(ValueError, match=match):
        fn(data, **kwargs)


def test_fast_is_two_d_only_and_guards_its_grid():
    with pytest.raises(ValueError, match=r"data must hold 2-D points, shape \(n, 2\); got shape \(4, 3\)"):
        meanshift_fast(torch.ones(4, 3))
    with pytest.raises(ValueError, match="raise cell"):
        meanshift_fast(torch.tensor([[0.0, 0.0], [1e6, 1e6]]), max_cells=10_000)
    with pytest.raises(ValueError, match="cell must be a positive number"):
        meanshift_fast(torch.ones(4, 2), cell=0)
    with pytest.raises(ValueError, match="raise cell"):  # refused before the 8e9 taps are allocated
        meanshift_fast(torch.ones(4, 2), cell=1e-9)
    with pytest.raises(TypeError, match="cell must be a number, got None"):
        meanshift_fast(torch.ones(4, 2), cell=None)


def test_helpers_take_arrays_and_refuse_what_they_cannot_use():
    X = np.array([[0.0, 0.0], [1.0, 0.0], [5.0, 5.0]])
    expected = torch.from_numpy(X.copy())
    one_update(expected, partial(gaussian, bw=2.5))
    one_update(X, partial(gaussian, bw=2.5))  # a numpy array moves in place, as a tensor does
    np.testing.assert_allclose(X, expected.numpy())
    with pytest.raises(ValueError, match="X must be floating point"):  # it used to truncate silently
        one_update(torch.ones(3, 2, dtype=torch.int64), partial(gaussian, bw=2.5))
    with pytest.raises(TypeError, match="X must be a torch.Tensor or a numpy array"):
        one_update([[0.0, 0.0]], partial(gaussian, bw=2.5))
    with pytest.raises(TypeError, match="kernel must be callable"):
        one_update(torch.ones(3, 2), None)
    assert torch.allclose(gaussian([0.0, 1.0], 2.0), gaussian(torch.tensor([0.0, 1.0]), 2.0))
    assert torch.equal(tri(np.array([0.0, 4.0, 9.0]), 8), torch.tensor([1.0, 0.5, 0.0], dtype=torch.float64))
    with pytest.raises(ValueError, match="d must hold distances >= 0"):  # weights above 1 before
        tri(torch.tensor([-1.0]), 8)
    with pytest.raises(TypeError, match="d must be"):
        gaussian(None, 2.0)
    with pytest.raises(ValueError, match="d must not hold NaN"):
        gaussian(torch.tensor([0.0, math.nan]), 2.0)
    with pytest.raises(TypeError, match="seed must be an int"):
        make_clusters(2, 5, seed=2.5)
    a = meanshift(X.copy(), iters=1)
    assert torch.equal(a, meanshift(torch.from_numpy(X.copy()), iters=1))
    c = sample(np.array([1.0, 2.0]), 3)
    assert c.shape == (3, 2)


def test_other_validation():
    with pytest.raises(ValueError, match="bs must be an int >= 1"):
        meanshift_batched(torch.ones(4, 2), bs=0)
    with pytest.raises(ValueError, match="bw must be a positive number"):
        gaussian(torch.ones(3), 0.0)
    with pytest.raises(ValueError, match="i must be a positive number"):
        tri(torch.ones(3), -2)
    with pytest.raises(ValueError, match="p must be a number >= 1"):
        norm(torch.ones(3), 0.5)
    with pytest.raises(TypeError, match="p must be a number >= 1"):
        norm(torch.ones(3), "2")
    with pytest.raises(TypeError, match="v must be a torch.Tensor, a numpy array or a list, got None"):
        norm(None)
    assert float(norm([3.0, 4.0])) == 5.0  # a list is converted
    with pytest.raises(TypeError, match="f must be callable"):
        plot_func(None)
    with pytest.raises(ValueError, match="tol must be a positive number"):
        cluster_labels(torch.ones(3, 2), tol=0)
    with pytest.raises(ValueError, match=r"shifted has NaN"):
        cluster_labels(NAN)
    with pytest.raises(ValueError, match=r"centroid must be a tensor of shape \(2,\)"):
        sample(torch.ones(3), 5)
    with pytest.raises(ValueError, match="n_clusters must be an int in"):
        make_clusters(0)


def test_plots_draw():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    centroids, data = make_clusters(3, 20)
    ax = plot_data(centroids, data, 20)
    assert len(ax.collections) == 3 and len(ax.lines) == 6
    ax2 = plot_func(partial(gaussian, bw=2.5))
    assert len(ax2.lines) == 1
    big = plot_data(centroids, data, 20, size=40)
    assert [c.get_sizes().tolist() for c in big.collections] == [[40.0]] * 3
    assert ax.collections[0].get_sizes().tolist() == [1.0]  # the default: the lecture's 1-point dots
    with pytest.raises(ValueError, match="size must be a positive number"):
        plot_data(centroids, data, 20, size=0)
    with pytest.raises(ValueError, match=r"stop \(0\) must be greater than start \(1\)"):
        plot_func(torch.exp, 1, 0)
    with pytest.raises(ValueError, match=r"centroids must hold 2-D points, shape \(n, 2\), as data has"):
        plot_data(centroids[:, :1], data, 20)
    with pytest.raises(ValueError, match="centroids must be 2-D"):
        plot_data(centroids[0], data, 20)
    with pytest.raises(ValueError, match=r"data has 60 points, fewer than 3 centroids × n_samples \(21\)"):
        plot_data(centroids, data, 21)
    plt.close("all")


# ---------------------------------------------------------------- the loop's cost (lessonlib.bench)
# These check what the measurements count and refuse, never how fast anything is.

from lessonlib.bench.meanshift import (  # noqa: E402
    meanshift_loop_overhead,
    per_call_overhead,
    torch_calls,
)


def test_triangular_kernel_finds_the_gaussian_clusters(lecture):
    # the lecture: swapping in the triangle gives the same clusters
    _, data, truth = lecture
    _, gauss = cluster_labels(meanshift_batched(data, bs=len(data)))
    _, triangle = cluster_labels(meanshift_batched(data, bw=8, bs=len(data), kernel=tri))
    assert adjusted_rand_score(gauss.numpy(), triangle.numpy()) == 1.0
    assert adjusted_rand_score(truth.numpy(), triangle.numpy()) > 0.95


def test_torch_calls_counts_each_operation_once():
    a, b = torch.randn(3, 2), torch.randn(3, 2)
    assert torch_calls(lambda: (a * b).sum()) == (2, ["mul", "sum"])
    assert torch_calls(lambda: a.shape) == (0, [])  # reading an attribute is no operation
    n, names = torch_calls(lambda: [x + 1 for x in a])
    assert names.count("add") == 3 and n == 3 + names.count("dim") + names.count("unbind")  # iterating: dim, unbind


def test_torch_calls_rejects_a_non_callable():
    with pytest.raises(TypeError, match="fn must be callable"):
        torch_calls(3)


def test_loop_overhead_counts_one_update_per_point(lecture):
    _, data, _ = lecture
    # an independent count: one point step of the loop, written out here
    x, X = data[0], data.clone()
    n_ops, _ = torch_calls(lambda: X.__setitem__(0, (gaussian(norm(x - X), 2.5)[:, None] * X).sum(0)
                                                   / gaussian(norm(x - X), 2.5).sum()))
    out = meanshift_loop_overhead(1.0, 1e-6, data, iters=5)
    assert out["steps"] == 5 * len(data)
    # the written-out step computes the weights twice, one_update once
    assert out["ops_per_step"] == n_ops - len(torch_calls(lambda: gaussian(norm(x - X), 2.5))[1])
    assert out["explained_s"] == pytest.approx(out["ops"] * 1e-6)
    assert out["fraction"] == pytest.approx(out["explained_s"] / 1.0)


@pytest.mark.parametrize("kwargs, err, match", [
    (dict(loop_s=0.0), ValueError, "loop_s must be a positive number, got 0.0"),
    (dict(overhead_s=-1.0), ValueError, "overhead_s must be a positive number, got -1.0"),
    (dict(iters=0), ValueError, "iters must be an int >= 1, got 0"),
    (dict(data=[[1.0, 2.0]]), TypeError, "data must be a torch.Tensor, got list"),
])
def test_loop_overhead_validates(lecture, kwargs, err, match):
    args = dict(loop_s=1.0, overhead_s=1e-6, data=lecture[1][:10], iters=5) | kwargs
    with pytest.raises(err, match=match):
        meanshift_loop_overhead(args.pop("loop_s"), args.pop("overhead_s"), args.pop("data"), **args)


def test_per_call_overhead_is_a_timing_of_a_tiny_op():
    t = per_call_overhead(repeat=2)
    assert t.repeat <= 2 and "torch.mul" in t.name
    with pytest.raises(ValueError, match="repeat"):
        per_call_overhead(repeat=0)


def test_fast_convolutions_run_in_full_float32_and_leave_the_setting_alone(monkeypatch):
    """cuDNN's TF32 would cut float32 to a 10-bit mantissa on a GPU; each convolution asks for IEEE float32."""
    from lessonlib import meanshift as ms

    seen = []
    real = torch.nn.functional.conv1d

    def spy(*args, **kwargs):
        seen.append(torch.backends.cudnn.conv.fp32_precision)
        return real(*args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "conv1d", spy)
    before = torch.backends.cudnn.conv.fp32_precision
    ms.meanshift_fast(torch.randn(200, 2, generator=torch.Generator().manual_seed(0)) * 5, bw=2.0, iters=1)
    assert seen and set(seen) == {"ieee"}
    assert torch.backends.cudnn.conv.fp32_precision == before


@pytest.mark.gpu
def test_fast_on_cuda_matches_the_cpu(lecture):
    _, data, _ = lecture
    cpu = meanshift_fast(data, iters=5)
    gpu = meanshift_fast(data.cuda(), iters=5).cpu()
    torch.testing.assert_close(gpu, cpu, rtol=0, atol=1e-3)


# ---------------------------------------------------------------- teaching pictures


@pytest.mark.parametrize("a, b", [((1500,), (1500, 2)), ((1500, 1), (1500, 2)), ((5, 1500, 1), (1500, 2)),
                                  ((3, 1), (1, 4)), ((2, 3), (4, 3)), ((7,), (7,))])
def test_broadcast_layout_agrees_with_numpy(a, b):
    rows, result, stretched, clash = broadcast_layout(a, b)
    try:
        expected = np.broadcast_shapes(a, b)
    except ValueError:
        expected = None
    assert result == expected
    rank = max(len(a), len(b))
    assert rows == [(None,) * (rank - len(a)) + a, (None,) * (rank - len(b)) + b]
    if expected is not None:  # an axis stretches exactly where numpy's broadcast_to repeats it
        for shape, flags in zip((a, b), stretched):
            padded = (1,) * (rank - len(shape)) + shape
            assert flags == tuple(p == 1 and e != 1 for p, e in zip(padded, expected))
        assert not any(clash)
    else:
        assert any(clash)


def test_broadcast_layout_marks_the_clash_of_the_lecture_error():
    _, result, stretched, clash = broadcast_layout((1500,), (1500, 2))
    assert result is None and clash == (False, True) and stretched[0] == (True, False)
    with pytest.raises(ValueError, match="at least two shapes"):
        broadcast_layout((3,))
    with pytest.raises(TypeError, match=r"shapes\[1\] must be a tuple"):
        broadcast_layout((3,), 3)


def test_plot_broadcast_draws_one_box_per_axis_and_the_result():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = plot_broadcast(torch.zeros(1500, 1), torch.zeros(1500, 2), names=["w", "X"])
    texts = [t.get_text() for t in ax.texts]
    assert len(ax.patches) == 6  # two arrays and the result, two axes each
    assert "1 → 2" in texts and texts.count("1500") == 3 and "result" in texts
    plt.close(ax.figure)
    ax = plot_broadcast(torch.zeros(1500), torch.zeros(1500, 2))
    assert len(ax.patches) == 4 and "result" not in [t.get_text() for t in ax.texts]  # a clash: no result row
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="names must hold one str per array"):
        plot_broadcast(torch.zeros(2), torch.zeros(2), names=["a"])
    with pytest.raises(TypeError, match=r"arrays\[0\] must be a tensor"):
        plot_broadcast([1, 2], torch.zeros(2))


def test_step_parts_match_a_plain_loop():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(37, 2)) * 3
    x = X[4]
    bw = 1.7
    w = np.array([np.exp(-0.5 * (np.hypot(*(x - p)) / bw) ** 2) / (bw * np.sqrt(2 * np.pi)) for p in X])
    want = sum(wi * p for wi, p in zip(w, X)) / w.sum()
    weight, mean, new_x = step_parts(torch.from_numpy(X), torch.from_numpy(x),
                                               lambda d: gaussian(d, bw))
    np.testing.assert_allclose(weight.numpy(), w, rtol=1e-12)
    np.testing.assert_allclose(mean.numpy(), X.mean(0), rtol=1e-12)
    np.testing.assert_allclose(new_x.numpy(), want, rtol=1e-12)
    with pytest.raises(ValueError, match=r"x must be one point of shape \(2,\)"):
        step_parts(torch.from_numpy(X), torch.zeros(3), lambda d: d)
    with pytest.raises(TypeError, match="kernel must be callable"):
        step_parts(torch.from_numpy(X), torch.from_numpy(x), None)


def test_plot_step_draws_the_arrow_from_x_to_the_weighted_mean():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    X = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [9.0, 9.0]], dtype=torch.float64)
    kernel = lambda d: tri(d, 3.0)  # noqa: E731 - weights 1, 2/3, 1/3, 0 for the first point
    ax = plot_step(X, X[0], kernel, window=4)
    arrow = ax.texts[0]
    want = np.array([2 / 3 * 1.0, 1 / 3 * 2.0]) / 2.0  # the weighted mean, by hand
    np.testing.assert_allclose(arrow.xy, want)
    np.testing.assert_allclose(arrow.xyann, [0.0, 0.0])
    # relative to the heaviest neighbour (2/3), x's own weight capped at 1: 1, 1, 1/2, 0
    sizes = ax.collections[0].get_sizes()
    np.testing.assert_allclose(sorted(sizes), sorted(2 + 60 * np.array([1, 1, 1 / 2, 0])))
    np.testing.assert_allclose(sorted(ax.collections[0].get_array()), [0, 1 / 2, 1, 1])
    # the close-up is centred on the middle of the arrow
    np.testing.assert_allclose(ax.get_xlim(), want[0] / 2 + np.array([-4, 4]))
    np.testing.assert_allclose(ax.get_ylim(), want[1] / 2 + np.array([-4, 4]))
    plt.close(ax.figure)
    # no neighbour within reach: the colours fall back to x's own weight, never a division by 0
    lone = plot_step(X, X[3], kernel)
    np.testing.assert_allclose(sorted(lone.collections[0].get_array()), [0, 0, 0, 1])
    plt.close(lone.figure)
    with pytest.raises(ValueError, match="window must be a positive number"):
        plot_step(X, X[0], kernel, window=0)
