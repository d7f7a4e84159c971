import math

import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from lessonlib import calculus as C
from lessonlib.calculus import Dual, derivative, diff, slope

# ---- expression trees, built both as lessonlib functions and as sympy expressions

X = sp.Symbol("x")
UNARY = {"sin": sp.sin, "cos": sp.cos, "exp": sp.exp, "log": sp.log, "sqrt": sp.sqrt, "tanh": sp.tanh}


def _leaf():
    return st.one_of(st.just(("x",)), st.floats(0.5, 3.0).map(lambda c: ("c", round(c, 3))))


def _tree(children):
    return st.one_of(
        st.tuples(st.sampled_from(sorted(UNARY)), children),
        st.tuples(st.sampled_from(["+", "-", "*", "/"]), children, children),
        st.tuples(st.just("pow"), children, st.integers(2, 3)),
    )


TREES = st.recursive(_leaf(), _tree, max_leaves=5)


def _build(t):
    """(python function of x, sympy expression) for a tree."""
    kind = t[0]
    if kind == "x":
        return (lambda x: x), X
    if kind == "c":
        return (lambda x, c=t[1]: c), sp.Float(t[1])
    if kind in UNARY:
        f, e = _build(t[1])
        g = getattr(C, kind)
        return (lambda x, f=f, g=g: g(f(x))), UNARY[kind](e)
    if kind == "pow":
        f, e = _build(t[1])
        return (lambda x, f=f, n=t[2]: f(x) ** n), e ** t[2]
    (f, e), (g, h) = _build(t[1]), _build(t[2])
    op = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "/": lambda a, b: a / b}[kind]
    return (lambda x, f=f, g=g, op=op: op(f(x), g(x))), op(e, h)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(tree=TREES, x=st.floats(0.3, 2.5))
def test_diff_agrees_with_sympy(tree, x):
    f, expr = _build(tree)
    try:
        got = diff(f)(x)
    except (ValueError, ZeroDivisionError, OverflowError):
        assume(False)  # outside a function's domain (log or sqrt of a non-positive value, 1/0)
    exact = sp.diff(expr, X).subs(X, sp.Float(x, 50)).evalf(40)
    assume(exact.is_real and abs(float(exact)) < 1e8)
    assert math.isclose(got, float(exact), rel_tol=1e-12, abs_tol=1e-12)


def test_diff_of_a_polynomial_and_a_constant():
    assert diff(lambda x: x**3)(2.0) == 12.0
    assert diff(lambda x: 5.0)(1.0) == 0.0
    assert diff(lambda x: 3 * x - 1 / x)(2.0) == pytest.approx(3 + 1 / 4)


def test_duals_agree_with_autograd():
    def f_dual(x):
        return C.sin(x) * C.exp(x**2) / (1 + C.tanh(x)) + C.sqrt(x) * C.log(x + 2)

    def f_torch(x):
        return torch.sin(x) * torch.exp(x**2) / (1 + torch.tanh(x)) + torch.sqrt(x) * torch.log(x + 2)

    for x0 in (0.3, 1.0, 1.7):
        x = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
        f_torch(x).backward()
        assert diff(f_dual)(x0) == pytest.approx(x.grad.item(), rel=1e-13)


def test_chain_rule_holds_for_duals():
    g = lambda x: x**2 + 1  # noqa: E731
    f = C.sin
    for x in (0.2, 1.3, -0.7):
        assert diff(lambda t: f(g(t)))(x) == pytest.approx(diff(f)(g(x)) * diff(g)(x), rel=1e-14)


def test_dual_arithmetic_follows_eps_squared_zero():
    a, b = Dual(2.0, 3.0), Dual(5.0, -1.0)
    assert (a * b).a == 10.0 and (a * b).b == 2.0 * -1.0 + 3.0 * 5.0
    q = a / b
    assert q.a == pytest.approx(0.4) and q.b == pytest.approx((3.0 * 5.0 - 2.0 * -1.0) / 25.0)
    assert (a - 1).a == 1.0 and (1 - a).b == -3.0 and (-a).b == -3.0
    p = Dual(3.0, 1.0) ** 2.5
    assert p.a == pytest.approx(3**2.5) and p.b == pytest.approx(2.5 * 3**1.5)
    r = 2 ** Dual(3.0, 1.0)
    assert r.a == pytest.approx(8.0) and r.b == pytest.approx(8 * math.log(2))
    s = Dual(2.0, 1.0) ** Dual(3.0, 0.0)
    assert s.a == pytest.approx(8.0) and s.b == pytest.approx(12.0)


def test_dual_comparisons_use_the_real_part():
    assert Dual(1.0, 5.0) == Dual(1.0, -5.0) == 1.0
    assert Dual(1.0, 9.0) < 2 and Dual(3.0) >= Dual(3.0, -1.0) and Dual(0.5) <= 0.5 and Dual(4.0) > 3
    assert len({Dual(1.0, 2.0), Dual(1.0, 3.0)}) == 1
    assert str(Dual(1.5, -2.0)) == "1.5 - 2ε"


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: C.log(Dual(0.0, 1.0)), ValueError, "log of a dual number needs a positive argument"),
        (lambda: C.log(-1.0), ValueError, "log needs a positive argument"),
        (lambda: C.sqrt(Dual(0.0, 1.0)), ValueError, "at 0 it has no derivative"),
        (lambda: Dual(1.0) / Dual(0.0, 1.0), ZeroDivisionError, "real part is 0"),
        (lambda: Dual(-2.0) ** 0.5, ValueError, "not real"),
        (lambda: Dual(0.0, 1.0) ** 0.5, ValueError, "no derivative at x = 0"),
        (lambda: (-2) ** Dual(1.0, 1.0), ValueError, "exponent y needs x > 0, got real part -2.0"),
        (lambda: Dual(1.0) + "a", TypeError, "unsupported operand"),
        (lambda: Dual(1.0) < "a", TypeError, "cannot compare a Dual with str"),
        (lambda: math.sin(Dual(1.0)), TypeError, "must be real number"),
        (lambda: Dual(float("nan")), ValueError, "must be finite"),
        (lambda: Dual("1"), TypeError, r"a \(real part\) must be a number, got '1'"),
        (lambda: diff(3), TypeError, "f must be callable"),
        (lambda: diff(lambda x: "y")(1.0), TypeError, "must return a number or a Dual"),
        (lambda: diff(C.sin)(float("inf")), ValueError, "x must be finite"),
    ],
)
def test_unsupported_use_is_refused(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_slope_is_rise_over_run():
    assert slope(lambda t: 5 * t, 1.0, 3.0) == 5.0
    t1, t2 = torch.tensor([0.0, 1.0]), torch.tensor([2.0, 3.0])
    torch.testing.assert_close(slope(lambda t: t**2, t1, t2), torch.tensor([2.0, 4.0]))
    with pytest.raises(ValueError, match="t1 and t2 must differ"):
        slope(math.sin, 1.0, 1.0)
    with pytest.raises(ValueError, match="t1 and t2 must differ"):
        slope(torch.sin, t1, torch.tensor([0.0, 2.0]))


def test_derivative_on_floats_and_tensors():
    assert derivative(math.exp, 0.0, d=1e-6) == pytest.approx(1.0, rel=1e-5)
    x = torch.linspace(0, 1, 5, dtype=torch.float64)
    torch.testing.assert_close(derivative(torch.sin, x, d=1e-5, method="central"), torch.cos(x))
    with pytest.raises(ValueError, match="d must be a positive number, got 0"):
        derivative(math.sin, 1.0, d=0.0)
    with pytest.raises(ValueError, match="method must be one of 'forward', 'central'; got 'backward'"):
        derivative(math.sin, 1.0, d=0.1, method="backward")


def test_central_error_falls_fourfold_when_d_halves():
    errs = [abs(derivative(math.sin, 1.0, d=d, method="central") - math.cos(1.0)) for d in (0.1, 0.05, 0.025)]
    assert 3.8 < errs[0] / errs[1] < 4.2 and 3.8 < errs[1] / errs[2] < 4.2
    fwd = [abs(derivative(math.sin, 1.0, d=d) - math.cos(1.0)) for d in (0.01, 0.005)]
    assert 1.9 < fwd[0] / fwd[1] < 2.1  # forward: first order


def test_float32_roundoff_floor_is_higher_than_float64():
    ds = np.logspace(-12, -1, 45)
    best = {}
    for dtype in (np.float32, np.float64):
        x = dtype(1.0)
        errs = [abs(float(derivative(np.sin, x, d=dtype(d))) - math.cos(1.0)) for d in ds]
        best[dtype] = min(errs)
    assert best[np.float32] > 100 * best[np.float64]
