"""The matrix-multiplication ladder, and Einstein summation.

Taught by the chapter "Einstein summation". Every rung, from :func:`matmul_loops`
to :func:`matmul_einsum`, computes ``a @ b`` with one signature, ``f(a, b) -> c``,
so tests and timing tables can loop over them; NaN and infinity pass through
as float arithmetic. :func:`dist_b` reuses the multiply-and-sum for distances.
"""

from __future__ import annotations

import numpy as np
import torch
from numba import njit

from . import _checks


def matmul_loops(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Matrix product with three Python loops.

    Parameters
    ----------
    a, b : torch.Tensor of shapes (ar, ac) and (ac, bc)

    Returns
    -------
    torch.Tensor of shape (ar, bc)
    """
    a, b = _checks.matmul_operands(a, b, convert=True)
    (ar, ac), (_, bc) = a.shape, b.shape
    c = torch.zeros(ar, bc, dtype=a.dtype, device=a.device)
    for i in range(ar):
        for j in range(bc):
            for k in range(ac):
                c[i, j] += a[i, k] * b[k, j]
    return c


@njit
def _dot(x, y):
    total = 0.0
    for k in range(len(x)):
        total += x[k] * y[k]
    return total


def matmul_njit(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Matrix product: Python loops over i and j, a Numba-compiled dot product inside.

    Parameters
    ----------
    a, b : torch.Tensor of shapes (ar, ac) and (ac, bc)

    Returns
    -------
    torch.Tensor of shape (ar, bc), on ``a``'s device (computed with NumPy on the CPU); float32 or float64 only
    """
    a, b = _checks.matmul_operands(a, b, convert=True)
    if a.dtype not in (torch.float32, torch.float64):
        raise ValueError(f"a and b must be float32 or float64 for Numba, got {a.dtype}")
    an, bn = a.detach().cpu().numpy(), b.detach().cpu().numpy()
    (ar, _), (_, bc) = an.shape, bn.shape
    c = np.zeros((ar, bc), dtype=an.dtype)
    for i in range(ar):
        for j in range(bc):
            c[i, j] = _dot(an[i, :], bn[:, j])
    return torch.from_numpy(c).to(a.device)


def matmul_elementwise(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Matrix product: the innermost loop becomes ``(a[i, :] * b[:, j]).sum()``.

    Parameters
    ----------
    a, b : torch.Tensor of shapes (ar, ac) and (ac, bc)

    Returns
    -------
    torch.Tensor of shape (ar, bc)
    """
    a, b = _checks.matmul_operands(a, b, convert=True)
    (ar, _), (_, bc) = a.shape, b.shape
    c = torch.zeros(ar, bc, dtype=a.dtype, device=a.device)
    for i in range(ar):
        for j in range(bc):
            c[i, j] = (a[i, :] * b[:, j]).sum()
    return c


def matmul_broadcast(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Matrix product: one Python loop over rows, broadcasting does the rest.

    Parameters
    ----------
    a, b : torch.Tensor of shapes (ar, ac) and (ac, bc)

    Returns
    -------
    torch.Tensor of shape (ar, bc)
    """
    a, b = _checks.matmul_operands(a, b, convert=True)
    ar, bc = a.shape[0], b.shape[1]
    c = torch.zeros(ar, bc, dtype=a.dtype, device=a.device)
    for i in range(ar):
        # the column a[i, :, None] (ac, 1) broadcasts across b (ac, bc);
        # the sum over k is row i
        c[i] = (a[i, :, None] * b).sum(dim=0)
    return c


def matmul_einsum(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Matrix product as ``torch.einsum('ik,kj->ij', a, b)``.

    Parameters
    ----------
    a, b : torch.Tensor of shapes (ar, ac) and (ac, bc)

    Returns
    -------
    torch.Tensor of shape (ar, bc)
    """
    a, b = _checks.matmul_operands(a, b, convert=True)
    return torch.einsum("ik,kj->ij", a, b)


def einsum_expand(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The products of a matrix multiplication, before the sum: ``'ik,kj->ikj'``.

    Parameters
    ----------
    a, b : torch.Tensor of shapes (ar, ac) and (ac, bc)

    Returns
    -------
    torch.Tensor of shape (ar, ac, bc)
        ``out[i, k, j] == a[i, k] * b[k, j]``; ``out.sum(1)`` is ``a @ b``.
    """
    a, b = _checks.matmul_operands(a, b, convert=True)
    return torch.einsum("ik,kj->ikj", a, b)


def dist_b(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Euclidean distance from every row of ``a`` to every row of ``b``.

    Parameters
    ----------
    a, b : torch.Tensor of shapes (n, d) and (m, d)

    Returns
    -------
    torch.Tensor of shape (n, m)
        ``out[i, j] == ||a[i] - b[j]||``, as ``torch.cdist(a, b)``; NaN and infinity pass through, as in the rungs.
    """
    a, b = _checks.matrix("a", a, convert=True), _checks.matrix("b", b, convert=True)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"a.shape[1] ({a.shape[1]}) must equal b.shape[1] ({b.shape[1]}): points "
                         f"of {tuple(a.shape)} and {tuple(b.shape)} must have as many coordinates")
    _checks.same_kind(a, b)
    diff = a[:, None, :] - b[None, :, :]
    return torch.einsum("ijd,ijd->ij", diff, diff).sqrt()


def pairwise_dist(x: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """Euclidean distance from one point ``x`` to every row of ``X``.

    Parameters
    ----------
    x : torch.Tensor of shape (d,)
    X : torch.Tensor of shape (n, d)

    Returns
    -------
    torch.Tensor of shape (n,)
        NaN and infinity pass through, as in :func:`dist_b`.
    """
    x = _checks.tensor("x", x)
    if x.ndim != 1 or not x.is_floating_point():
        raise ValueError(f"x must be 1-D (one point) and floating point, got {x.dtype} "
                         f"with shape {tuple(x.shape)}")
    X = _checks.matrix("X", X, convert=True)
    if x.shape[0] != X.shape[1]:
        raise ValueError(f"x.shape[0] ({x.shape[0]}) must equal X.shape[1] ({X.shape[1]}): "
                         f"x is {tuple(x.shape)}, X is {tuple(X.shape)}")
    _checks.same_kind(x, X, ("x", "X"))
    return dist_b(x[None], X)[0]


def plot_ikj_box(a: torch.Tensor, b: torch.Tensor):
    """Draw ``einsum('ik,kj->ikj')`` as a box of k × j cards, one per row i, and its sum over k.

    Parameters
    ----------
    a : torch.Tensor of shape (ar, ac), ar <= 8
    b : torch.Tensor of shape (ac, bc), bc <= 16

    Returns
    -------
    matplotlib.figure.Figure
        ``fig.axes[0].images`` are the ``ar`` slices, in order of ``i``;
        ``fig.axes[1].images[0]`` is the product.
    """
    import matplotlib.pyplot as plt

    a, b = _checks.matmul_operands(a, b, convert=True)
    if a.shape[0] > 8 or b.shape[1] > 16:
        raise ValueError(f"a may have at most 8 rows and b at most 16 columns to be drawn, got a {tuple(a.shape)} "
                         f"and b {tuple(b.shape)}")
    box = einsum_expand(a, b).detach().cpu().double().numpy()  # (i, k, j)
    (ar, ac, bc), prod = box.shape, box.sum(1)
    fig, (ax_box, ax_sum) = plt.subplots(1, 2, figsize=(9.5, 4.6), layout="constrained",
                                         gridspec_kw={"width_ratios": [1.25, 1]})
    lim = float(np.abs(box).max()) or 1.0
    w, h, dx, dy = 10.0, 30.0, 3.0, 3.0  # one card's width (j) and height (k), and each card's shift (i)
    for i in range(ar - 1, -1, -1):  # the back card first, so that row 0 is in front
        x0, y0 = i * dx, i * dy
        ax_box.imshow(box[i], extent=(x0, x0 + w, y0, y0 + h), cmap="RdBu", vmin=-lim, vmax=lim,
                      aspect="auto", interpolation="nearest", zorder=ar - i)
        ax_box.add_patch(plt.Rectangle((x0, y0), w, h, fill=False, lw=0.8, zorder=ar - i))
    ax_box.annotate("", xy=(w + (ar - 1) * dx + 0.5, (ar - 1) * dy), xytext=(w + 0.5, 0),
                    arrowprops={"arrowstyle": "->"})
    ax_box.text(w + (ar - 1) * dx / 2 + 1, (ar - 1) * dy / 2 - 1, f"i: {ar}", fontsize=12, va="top")
    ax_box.text(w / 2, -1.5, f"j: {bc}", ha="center", va="top", fontsize=12)
    ax_box.text(-1, h / 2, f"k: {ac:,}", ha="right", va="center", rotation=90, fontsize=12)
    ax_box.set(xlim=(-5, w + ar * dx + 9), ylim=(-6, h + ar * dy + 2))
    ax_box.text(w + ar * dx + 5, (h + ar * dy) / 2, "sum\nover k\n→", ha="center", va="center", fontsize=12)
    ax_box.set_title(f"'ik,kj->ikj': {ar} × {ac:,} × {bc} products a[i,k]·b[k,j]", fontsize=12)
    ax_box.axis("off")

    top = float(np.abs(prod).max()) or 1.0
    shown = ax_sum.imshow(prod, cmap="RdBu", vmin=-top, vmax=top)
    for (i, j), v in np.ndenumerate(prod):  # white digits on the dark cells, black on the light
        ax_sum.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=10,
                    color="white" if np.mean(shown.cmap(shown.norm(v))[:3]) < 0.5 else "black")
    ax_sum.set(xticks=range(bc), yticks=range(ar))
    ax_sum.tick_params(labelsize=11)
    ax_sum.grid(False)
    ax_sum.set_xlabel("j", fontsize=12)
    ax_sum.set_ylabel("i", fontsize=12, rotation=0, labelpad=10)  # upright: never read as "-"
    ax_sum.set_title(f"summed over k: 'ik,kj->ij', {ar} × {bc}", fontsize=12)
    fig.colorbar(shown, ax=ax_sum, fraction=0.03, pad=0.03).ax.tick_params(labelsize=11)
    return fig
