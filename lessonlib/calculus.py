"""Derivatives as ratios of small numbers: finite differences, and dual numbers that make them exact.

Taught by the chapter "Calculus with infinitesimals": :func:`slope`, :func:`derivative`, and
:class:`Dual`, a + bε with ε² = 0, whose ε part :func:`diff` reads off as the exact derivative.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable

import numpy as np
import torch

from . import _checks


def _check_point(name: str, value):
    """A finite real number, or a tensor or array of finite numbers (a list becomes an array)."""
    if not isinstance(value, (list, tuple, np.ndarray, torch.Tensor)):
        _checks.real(name, value)
        return value
    t = _checks.tensor(name, value)  # a list must hold numbers; it becomes a float64 array
    if isinstance(value, (list, tuple)):
        value = np.asarray(value, dtype=float)
        t = torch.from_numpy(value)
    if t.numel() == 0 or t.dtype == torch.bool or not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} must hold finite numbers, got {t.dtype}, shape {tuple(t.shape)}")
    return value


def slope(f: Callable, t1, t2):
    """Rise over run, ``(f(t2) - f(t1)) / (t2 - t1)``, on numbers or elementwise on arrays."""
    _checks.callable_("f", f)
    t1, t2 = _check_point("t1", t1), _check_point("t2", t2)
    run = t2 - t1
    if (run == 0) if isinstance(run, numbers.Number) else bool((run == 0).any()):
        raise ValueError(f"t1 and t2 must differ (run t2 - t1 is 0 at t1={t1!r})")
    return (f(t2) - f(t1)) / run


def derivative(f: Callable, x, *, d: float, method: str = "forward"):
    """Finite-difference estimate of f′(x), at a number or elementwise, with a step ``d`` > 0.

    ``method`` "forward" is (f(x+d) - f(x)) / d, "central" (f(x+d) - f(x-d)) / 2d.
    Truncation error grows with ``d``, round-off as it shrinks.
    """
    _checks.callable_("f", f)
    x = _check_point("x", x)
    _checks.positive("d", d)
    if _checks.choice("method", method, ("forward", "central")) == "forward":
        return (f(x + d) - f(x)) / d
    return (f(x + d) - f(x - d)) / (2 * d)


@functools.total_ordering  # <=, > and >= from == and <
class Dual:
    """A dual number a + bε, where ε is not zero but ε² = 0; comparisons use the real part ``a``."""

    __slots__ = ("a", "b")

    def __init__(self, a, b=0.0):
        _checks.real("a (real part)", a)
        _checks.real("b (infinitesimal part)", b)
        self.a, self.b = float(a), float(b)

    @staticmethod
    def _lift(other):
        if isinstance(other, Dual):
            return other
        if isinstance(other, numbers.Real) and not isinstance(other, bool):
            return Dual(other)
        return None

    def __add__(self, other):
        o = self._lift(other)
        return NotImplemented if o is None else Dual(self.a + o.a, self.b + o.b)

    __radd__ = __add__

    def __neg__(self):
        return Dual(-self.a, -self.b)

    def __pos__(self):
        return self

    def __sub__(self, other):
        o = self._lift(other)
        return NotImplemented if o is None else Dual(self.a - o.a, self.b - o.b)

    def __rsub__(self, other):
        o = self._lift(other)
        return NotImplemented if o is None else o - self

    def __mul__(self, other):
        o = self._lift(other)
        # (a + bε)(c + dε) = ac + (ad + bc)ε + bd ε², and ε² = 0
        return NotImplemented if o is None else Dual(self.a * o.a,
                                                     self.a * o.b + self.b * o.a)

    __rmul__ = __mul__

    def __truediv__(self, other):
        o = self._lift(other)
        if o is None:
            return NotImplemented
        if o.a == 0:
            raise ZeroDivisionError("division by a dual number whose real part is 0")
        # (a + bε)/(c + dε) = a/c + (bc - ad)/c² ε: multiply top and bottom by (c - dε)
        return Dual(self.a / o.a, (self.b * o.a - self.a * o.b) / o.a**2)

    def __rtruediv__(self, other):
        o = self._lift(other)
        return NotImplemented if o is None else o / self

    def __pow__(self, other):
        if isinstance(other, numbers.Real) and not isinstance(other, (bool, Dual)):
            _checks.real("exponent", other)
            if self.a == 0 and other < 1 and other != 0:
                raise ValueError(f"x**{other} has no derivative at x = 0")
            if self.a < 0 and not float(other).is_integer():
                raise ValueError(f"a negative number to the power {other} is not real")
            # d(x^n) = n x^(n-1) dx
            return Dual(self.a**other, other * self.a ** (other - 1) * self.b if other != 0 else 0.0)
        o = self._lift(other)
        if o is None:
            return NotImplemented
        if self.a <= 0:
            raise ValueError(f"x**y with a dual exponent y needs x > 0, got real part {self.a}")
        return exp(o * log(self))

    def __rpow__(self, other):
        o = self._lift(other)
        return NotImplemented if o is None else o**self

    def __eq__(self, other):
        o = self._lift(other)
        return NotImplemented if o is None else self.a == o.a

    def __lt__(self, other):
        o = self._lift(other)
        if o is None:
            raise TypeError(f"cannot compare a Dual with {type(other).__name__}")
        return self.a < o.a

    def __hash__(self):
        return hash(self.a)  # consistent with == on the real part

    def __repr__(self):
        return f"Dual({self.a!r}, {self.b!r})"

    def __str__(self):
        return f"{self.a:g} {'-' if self.b < 0 else '+'} {abs(self.b):g}ε"


def _unary(name: str, f: Callable, fprime: Callable, domain: Callable | None = None, why: str = ""):
    def g(x):
        dual = isinstance(x, Dual)
        a = x.a if dual else _checks.real("x", x)
        if domain is not None and not domain(a):
            raise ValueError(f"x: {name} of a dual number needs {why}, got real part {a}" if dual
                             else f"x: {name} needs {why}, got {x}")
        return Dual(f(a), fprime(a) * x.b) if dual else f(x)  # f(a + bε) = f(a) + f'(a) b ε

    g.__name__ = g.__qualname__ = name
    g.__doc__ = f"{name}(x) for a float or a :class:`Dual` (then with its derivative in the ε part)."
    return g


sin = _unary("sin", math.sin, math.cos)
cos = _unary("cos", math.cos, lambda a: -math.sin(a))
exp = _unary("exp", math.exp, math.exp)
log = _unary("log", math.log, lambda a: 1 / a, lambda a: a > 0, "a positive argument")
sqrt = _unary("sqrt", math.sqrt, lambda a: 0.5 / math.sqrt(a), lambda a: a > 0,
              "a positive argument (at 0 it has no derivative)")
tanh = _unary("tanh", math.tanh, lambda a: 1 - math.tanh(a) ** 2)


def diff(f: Callable) -> Callable:
    """The exact derivative of a scalar function of one variable, by dual numbers.

    ``diff(f)(x)`` is the ε part of ``f(Dual(x, 1))``, ``f`` built from arithmetic and this
    module's functions.

    Examples
    --------
    >>> diff(lambda x: x**3)(2.0)
    12.0
    """
    _checks.callable_("f", f)

    def fprime(x):
        _checks.real("x", x)
        y = f(Dual(x, 1.0))
        if isinstance(y, Dual):
            return y.b
        if isinstance(y, numbers.Real) and not isinstance(y, bool):
            return 0.0  # f ignored its argument: a constant
        raise TypeError(f"f must return a number or a Dual, got {type(y).__name__}")

    fprime.__name__ = f"diff({getattr(f, '__name__', 'f')})"
    return fprime
