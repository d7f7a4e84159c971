"""Derivatives as ratios of small numbers: finite differences, and dual numbers that make them exact.

Taught by the chapter "Calculus with infinitesimals". A slope is rise over run
(:func:`slope`); a derivative is the slope over a run so short that it no
longer matters how short (:func:`derivative`, with a small but finite ``d``).
Leibniz's dx, "a really small number", is made exact by **dual numbers**
a + bε with ε² = 0 (:class:`Dual`): in f(x + ε) = f(x) + f′(x)ε every term with
ε² or higher vanishes, so the ε part is exactly f′(x). :func:`diff` uses that
to differentiate any function built from the operations and functions here.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable

from . import _checks


def _check_point(name: str, value):
    """A finite real number, or a float tensor/array of finite values (a list becomes an array)."""
    import numpy as np

    if isinstance(value, (list, tuple)):
        try:
            value = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be a number, a tensor, an array or a list of numbers") from None
    if isinstance(value, np.ndarray) or type(value).__module__.startswith("torch"):
        import torch

        t = torch.as_tensor(value) if isinstance(value, np.ndarray) and value.dtype.kind in "biuf" else value
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must hold numbers, got an array of {value.dtype}")
        if t.numel() == 0:
            raise ValueError(f"{name} is empty")
        if t.dtype == torch.bool or not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name} must hold finite numbers")
        return value
    _checks.real(name, value)
    return value


def slope(f: Callable, t1, t2):
    """Rise over run: ``(f(t2) - f(t1)) / (t2 - t1)``.

    Works on Python numbers and, elementwise, on tensors or arrays.
    """
    _checks.callable_("f", f)
    t1, t2 = _check_point("t1", t1), _check_point("t2", t2)
    run = t2 - t1
    if (run == 0) if isinstance(run, numbers.Number) else bool((run == 0).any()):
        raise ValueError(f"t1 and t2 must differ (run t2 - t1 is 0 at t1={t1!r})")
    return (f(t2) - f(t1)) / run


def derivative(f: Callable, x, *, d: float, method: str = "forward"):
    """Finite-difference estimate of f′(x) with step ``d``.

    Parameters
    ----------
    f : callable
        Works on whatever ``x`` is: a float, or a tensor/array (elementwise).
    x : float or tensor or array
    d : float
        The step, > 0. Too large and the estimate is off by truncation error
        (order d for "forward", d² for "central"); too small and round-off in
        ``f(x + d) - f(x)`` takes over.
    method : {"forward", "central"}
        (f(x+d) - f(x)) / d, or (f(x+d) - f(x-d)) / 2d.
    """
    _checks.callable_("f", f)
    x = _check_point("x", x)
    _checks.positive("d", d)
    if _checks.choice("method", method, ("forward", "central")) == "forward":
        return (f(x + d) - f(x)) / d
    return (f(x + d) - f(x - d)) / (2 * d)


class Dual:
    """A dual number a + bε, where ε is not zero but ε² = 0.

    ``a`` is the real part, ``b`` the infinitesimal part. Arithmetic follows from
    ε² = 0, e.g. (a + bε)(c + dε) = ac + (ad + bc)ε: the product rule. Functions
    extend by their Taylor series cut after the ε term, f(a + bε) = f(a) + f′(a)bε;
    use this module's :func:`sin`, :func:`cos`, :func:`exp`, :func:`log`,
    :func:`sqrt` and :func:`tanh` (``math.sin`` would refuse a Dual, which is
    better than silently dropping its ε part). Comparisons use the real part.
    """

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
        return NotImplemented if o is None else Dual(self.a * o.a, self.a * o.b + self.b * o.a)

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
            raise ValueError(f"x**y with a dual exponent needs x > 0, got real part {self.a}")
        return exp(o * log(self))

    def __rpow__(self, other):
        o = self._lift(other)
        if o is None:
            return NotImplemented
        if o.a <= 0:
            raise ValueError(f"c**x with a dual x needs c > 0, got {o.a}")
        return exp(self * math.log(o.a))

    def _real(self, other):
        o = self._lift(other)
        if o is None:
            raise TypeError(f"cannot compare a Dual with {type(other).__name__}")
        return o.a

    def __eq__(self, other):
        o = self._lift(other)
        return NotImplemented if o is None else self.a == o.a

    def __lt__(self, other):
        return self.a < self._real(other)

    def __le__(self, other):
        return self.a <= self._real(other)

    def __gt__(self, other):
        return self.a > self._real(other)

    def __ge__(self, other):
        return self.a >= self._real(other)

    def __hash__(self):
        return hash(self.a)  # consistent with == on the real part

    def __repr__(self):
        return f"Dual({self.a!r}, {self.b!r})"

    def __str__(self):
        sign = "-" if self.b < 0 else "+"
        return f"{self.a:g} {sign} {abs(self.b):g}ε"


def _unary(name: str, f: Callable, fprime: Callable, domain: Callable | None = None, why: str = ""):
    def g(x):
        if isinstance(x, Dual):
            if domain is not None and not domain(x.a):
                raise ValueError(f"{name} of a dual number needs {why}, got real part {x.a}")
            return Dual(f(x.a), fprime(x.a) * x.b)  # f(a + bε) = f(a) + f'(a) b ε
        _checks.real("x", x)
        if domain is not None and not domain(x):
            raise ValueError(f"{name} needs {why}, got {x}")
        return f(x)

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

    ``diff(f)(x)`` evaluates ``f(Dual(x, 1))`` and returns its ε part, which is
    f′(x) with no step size and no truncation error; only float rounding
    remains. ``f`` must be built from arithmetic and this module's functions.

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
