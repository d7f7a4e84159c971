import numpy as np
import pytest
import torch

from lessonlib.matmul import (
    dist_b,
    einsum_expand,
    matmul_broadcast,
    matmul_einsum,
    matmul_elementwise,
    matmul_loops,
    matmul_njit,
    pairwise_dist,
)

RUNGS = [matmul_loops, matmul_njit, matmul_elementwise, matmul_broadcast, matmul_einsum]
SHAPES = [(1, 1, 1), (3, 50, 2), (17, 33, 9), (2, 7, 31)]


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(1234)


@pytest.mark.parametrize("rung", RUNGS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("m, k, n", SHAPES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_rungs_agree_with_torch(rung, m, k, n, dtype, gen):
    a = torch.randn(m, k, generator=gen, dtype=dtype)
    b = torch.randn(k, n, generator=gen, dtype=dtype)
    c = rung(a, b)
    assert c.shape == (m, n) and c.dtype == dtype
    tol = 1e-4 if dtype == torch.float32 else 1e-10
    torch.testing.assert_close(c, a @ b, rtol=tol, atol=tol)


def test_einsum_expand_is_the_product_before_the_sum(gen):
    a, b = torch.randn(5, 13, generator=gen), torch.randn(13, 4, generator=gen)
    e = einsum_expand(a, b)
    assert e.shape == (5, 13, 4)
    torch.testing.assert_close(e, a[:, :, None] * b[None, :, :])
    torch.testing.assert_close(e.sum(1), a @ b)


@pytest.mark.parametrize("n, m, d", [(1, 1, 1), (7, 11, 2), (33, 5, 784)])
def test_dist_b_agrees_with_cdist(n, m, d, gen):
    a = torch.randn(n, d, generator=gen, dtype=torch.float64)
    b = torch.randn(m, d, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(dist_b(a, b), torch.cdist(a, b))


def test_dist_b_exact_for_near_points():
    # far from the origin, close to each other: the |a|^2+|b|^2-2ab expansion cancels badly
    a = torch.tensor([[1000.0, 1000.0]])
    b = torch.tensor([[1000.0, 1000.01]])
    assert dist_b(a, b).item() == pytest.approx(0.01, rel=1e-2)
    assert dist_b(a, a).item() == 0.0


def test_pairwise_dist_agrees_with_cdist(gen):
    X = torch.randn(19, 3, generator=gen)
    torch.testing.assert_close(pairwise_dist(X[4], X), torch.cdist(X[4:5], X)[0])


ALL = RUNGS + [einsum_expand]


@pytest.mark.parametrize("f", ALL, ids=lambda f: f.__name__)
@pytest.mark.parametrize(
    "a, b, match",
    [
        (torch.ones(3), torch.ones(3, 2), r"a must be 2-D, got 1-D with shape \(3,\)"),
        (torch.ones(3, 2), torch.ones(2, 2, 1), r"b must be 2-D, got 3-D with shape \(2, 2, 1\)"),
        (torch.ones(3, 4), torch.ones(5, 2), r"a.shape\[1\] \(4\) must equal b.shape\[0\] \(5\): cannot multiply \(3, 4\) by \(5, 2\)"),
        (torch.ones(3, 2, dtype=torch.int64), torch.ones(2, 2), r"a must be floating point, got torch.int64 with shape \(3, 2\)"),
        (torch.ones(0, 2), torch.ones(2, 2), r"a has an empty dimension: shape \(0, 2\)"),
        (torch.ones(3, 2), torch.ones(2, 0), r"b has an empty dimension: shape \(2, 0\)"),
        (torch.ones(3, 2), torch.ones(2, 2, dtype=torch.float64), "must share a dtype"),
    ],
)
def test_bad_input_is_refused_with_shapes(f, a, b, match):
    with pytest.raises(ValueError, match=match):
        f(a, b)


@pytest.mark.parametrize("f", ALL, ids=lambda f: f.__name__)
def test_arrays_and_lists_are_accepted_other_kinds_refused(f):
    a, b = [[1.0, 2.0], [3.0, 4.0]], np.array([[1.0], [2.0]], dtype=np.float32)
    torch.testing.assert_close(f(a, b), f(torch.tensor(a), torch.from_numpy(b)))
    with pytest.raises(TypeError, match="a must be a torch.Tensor, a numpy array or a list, got None"):
        f(None, torch.ones(1, 1))
    with pytest.raises(TypeError, match="b must be"):
        f(torch.ones(1, 1), "b")


@pytest.mark.parametrize(
    "a, b, match",
    [
        (torch.ones(3, 2), torch.ones(4, 3), r"a.shape\[1\] \(2\) must equal b.shape\[1\] \(3\)"),
        (torch.ones(3), torch.ones(4, 3), r"a must be 2-D"),
        (torch.ones(3, 2, dtype=torch.int32), torch.ones(4, 2), "a must be floating point"),
        (torch.ones(3, 2), torch.ones(0, 2), r"b has an empty dimension: shape \(0, 2\)"),
    ],
)
def test_dist_b_refuses(a, b, match):
    with pytest.raises(ValueError, match=match):
        dist_b(a, b)


@pytest.mark.parametrize(
    "x, X, match",
    [
        (torch.ones(1, 2), torch.ones(4, 2),
         r"x must be 1-D \(one point\) and floating point, got torch.float32 with shape \(1, 2\)"),
        (torch.ones(3), torch.ones(4, 2), r"x.shape\[0\] \(3\) must equal X.shape\[1\] \(2\)"),
        (torch.ones(2, dtype=torch.int64), torch.ones(4, 2),
         r"x must be 1-D \(one point\) and floating point, got torch.int64"),
        (torch.ones(2), torch.ones(4), "X must be 2-D"),
    ],
)
def test_pairwise_dist_refuses(x, X, match):
    with pytest.raises(ValueError, match=match):
        pairwise_dist(x, X)


def test_plot_ikj_box_draws_every_product_and_their_sum():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lessonlib.matmul import plot_ikj_box

    g = torch.Generator().manual_seed(3)
    a, b = torch.randn(4, 30, generator=g), torch.randn(30, 7, generator=g)
    fig = plot_ikj_box(a, b)
    slices = fig.axes[0].images[::-1]  # drawn back to front: row 3 first
    assert len(slices) == 4
    an, bn = a.double().numpy(), b.double().numpy()
    for i, im in enumerate(slices):
        want = np.array([[an[i, k] * bn[k, j] for j in range(7)] for k in range(30)])  # a plain loop
        np.testing.assert_allclose(np.asarray(im.get_array()), want, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(fig.axes[1].images[0].get_array()), an @ bn, rtol=1e-6, atol=1e-9)
    plt.close(fig)


def _contrast(rgb1, rgb2) -> float:
    """WCAG 2 contrast ratio of two sRGB colours (1 to 21)."""
    def luminance(rgb):
        c = np.asarray(rgb[:3], dtype=float)
        c = np.where(c <= 0.03928, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
        return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]
    hi, lo = sorted((luminance(rgb1), luminance(rgb2)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_plot_ikj_box_is_readable():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_rgb
    from matplotlib.text import Text

    from lessonlib.matmul import plot_ikj_box

    g = torch.Generator().manual_seed(4)
    a, b = torch.rand(5, 784, generator=g), torch.randn(784, 10, generator=g)  # the chapter's shapes
    fig = plot_ikj_box(a, b)
    fig.canvas.draw()
    shown = [t for t in fig.findobj(Text) if t.get_text().strip() and t.get_visible()]
    assert min(t.get_fontsize() for t in shown) >= 10  # 11 px or more at the book's 80 dpi
    ax_sum = fig.axes[1]
    im = ax_sum.images[0]
    cells = ax_sum.texts
    assert len(cells) == 50
    for t in cells:  # every value stands out from its cell, dark or light
        j, i = (round(v) for v in t.get_position())
        cell = im.cmap(im.norm(im.get_array()[i, j]))
        assert _contrast(cell, to_rgb(t.get_color())) >= 3.5, (i, j, t.get_text())
    assert ax_sum.yaxis.label.get_text() == "i" and ax_sum.yaxis.label.get_rotation() == 0  # never "-"
    plt.close(fig)


def test_plot_ikj_box_refuses_what_it_cannot_draw():
    from lessonlib.matmul import plot_ikj_box

    with pytest.raises(ValueError, match="at most 8 rows"):
        plot_ikj_box(torch.ones(9, 3), torch.ones(3, 2))
    with pytest.raises(ValueError, match="must equal"):
        plot_ikj_box(torch.ones(2, 3), torch.ones(4, 2))
    with pytest.raises(TypeError):
        plot_ikj_box("a", torch.ones(3, 2))
