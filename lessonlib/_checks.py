"""Input checks with one wording, for every public function of lessonlib.

The rule, as the package docstring states it: ``TypeError`` for the wrong kind
of object, ``ValueError`` for a wrong value or shape; each message names the
argument, what was expected and what came.
"""

from __future__ import annotations

import math
import numbers


def _got(value) -> str:
    return f"got {value!r}" if isinstance(value, (numbers.Number, str, type(None))) else f"got {type(value).__name__}"


def integer(name: str, value, *, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an int (a bool is not one), within ``[low, high]`` where given."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, {_got(value)}")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f">= {low}" if high is None else f"<= {high}" if low is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be an int {bounds}, got {value!r}")
    return value


def real(name: str, value, *, low: float | None = None, strict: bool = False) -> float:
    """``value`` as a finite float, ``> low`` (``strict``) or ``>= low`` where given."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, {_got(value)}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if low is not None and (value <= low if strict else value < low):
        raise ValueError(f"{name} must be a number {'>' if strict else '>='} {low:g}, got {value!r}")
    return value


def seed(value, name: str = "seed") -> int:
    """A random seed: an int in ``[0, 2**32)``."""
    return integer(name, value, low=0, high=2**32 - 1)


def text(name: str, value, *, empty: bool = False) -> str:
    """``value`` as a str, non-empty unless ``empty``."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, {_got(value)}")
    if not empty and not value.strip():
        raise ValueError(f"{name} must not be empty")
    return value


def boolean(name: str, value) -> bool:
    """``value`` as a bool (numpy's bool too); anything else is a ``TypeError``."""
    if not isinstance(value, (bool, __import__("numpy").bool_)):
        raise TypeError(f"{name} must be True or False, {_got(value)}")
    return bool(value)
