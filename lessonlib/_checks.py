"""Input checks with one wording, for every public function: ``TypeError`` for the wrong kind of object,
``ValueError`` for a wrong value or shape; each message names the argument, what was expected and
what came.
"""

from __future__ import annotations

import math
import numbers
import os
from pathlib import Path


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
        rule = "a positive number" if strict and low == 0 else f"a number {'>' if strict else '>='} {low:g}"
        raise ValueError(f"{name} must be {rule}, got {value!r}")
    return value


def seed(name: str, value) -> int:
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


def positive(name: str, value) -> float:
    """A finite number > 0 ("must be a positive number", the one wording of that rule)."""
    return real(name, value, low=0, strict=True)


def callable_(name: str, value):
    """Anything callable; else a ``TypeError``."""
    if not callable(value):
        raise TypeError(f"{name} must be callable, {_got(value)}")
    return value


def sequence(name: str, value, *, item=None, empty: bool = False) -> list:
    """``value`` as a list: a sequence (list, tuple, range or array, never a str), non-empty unless
    ``empty``; ``item(f"{name} entries", entry)`` checks each entry, e.g. ``lambda n, v: integer(n, v, low=1)``.
    """
    from collections.abc import Sequence

    if isinstance(value, (str, bytes)) or not (isinstance(value, Sequence) or hasattr(value, "__array__")):
        raise TypeError(f"{name} must be a sequence (a list or tuple), {_got(value)}")
    if not empty and len(value) == 0:
        raise ValueError(f"{name} must not be empty")
    return [item(f"{name} entries", v) for v in value] if item is not None else list(value)


def tensor(name: str, value, *, convert: bool = True):
    """``value`` as a ``torch.Tensor``: a numpy array shares its memory and dtype, a list or tuple of numbers
    takes torch's default float dtype (only a tensor with ``convert=False``); else a ``TypeError``.
    """
    import numpy as np
    import torch

    if isinstance(value, torch.Tensor):
        return value
    if convert and isinstance(value, np.ndarray):
        if value.dtype == object or value.dtype.kind not in "biuf":
            raise TypeError(f"{name} must hold numbers, got a numpy array of {value.dtype}")
        return torch.from_numpy(value) if value.flags.writeable else torch.as_tensor(value.copy())
    if convert and isinstance(value, (list, tuple)):
        try:
            return torch.as_tensor(value, dtype=torch.get_default_dtype())
        except (TypeError, ValueError, RuntimeError) as exc:
            raise TypeError(f"{name} must be a tensor, a numpy array or a (nested) list of numbers: {exc}") from None
    kinds = "a torch.Tensor, a numpy array or a list" if convert else "a torch.Tensor"
    raise TypeError(f"{name} must be {kinds}, {_got(value)}")


def points(name: str, value, *, dims: int | None = None, convert: bool = True, like: str | None = None):
    """A 2-D, non-empty, finite floating-point tensor (n, d), with ``d == dims`` (those of ``like``) where given."""
    t = tensor(name, value, convert=convert)
    if t.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape {tuple(t.shape)}")
    if t.shape[0] == 0 or t.shape[1] == 0:
        raise ValueError(f"{name} is empty: shape {tuple(t.shape)}")
    if dims is not None and t.shape[1] != dims:
        also = f", as {like} has" if like else ""
        raise ValueError(f"{name} must hold {dims}-D points, shape (n, {dims}){also}; got shape {tuple(t.shape)}")
    if not t.is_floating_point():
        raise ValueError(f"{name} must be floating point, got {t.dtype}")
    bad = (~__import__("torch").isfinite(t)).any(dim=1).nonzero()
    if len(bad):
        raise ValueError(f"{name} has NaN or infinite values, first at row {bad[0, 0].item()}")
    return t


def matrix(name: str, value, *, convert: bool = False):
    """``value`` as a non-empty 2-D floating-point tensor (a numpy array or list too where ``convert``);
    NaN and infinity pass through, as float arithmetic lets them in the matrix-product rungs.
    """
    t = tensor(name, value, convert=convert)
    shape = tuple(t.shape)
    if t.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got {t.ndim}-D with shape {shape}")
    if not t.is_floating_point():
        raise ValueError(f"{name} must be floating point, got {t.dtype} with shape {shape}")
    if 0 in shape:
        raise ValueError(f"{name} has an empty dimension: shape {shape}")
    return t


def same_kind(a, b, names=("a", "b")) -> None:
    """Two tensors that share a dtype and a device."""
    an, bn = names
    if a.dtype != b.dtype:
        raise ValueError(f"{an} and {bn} must share a dtype, got {a.dtype} and {b.dtype}")
    if a.device != b.device:
        raise ValueError(f"{an} and {bn} must be on one device, got {a.device} and {b.device}")


def matmul_operands(a, b, names=("a", "b"), *, convert: bool = False):
    """``(a, b)`` as tensors for which ``a @ b`` makes sense: 2-D floats, inner sizes equal, one dtype and device."""
    an, bn = names
    a = matrix(an, a, convert=convert)
    b = matrix(bn, b, convert=convert)
    if a.shape[1] != b.shape[0]:
        raise ValueError(
            f"{an}.shape[1] ({a.shape[1]}) must equal {bn}.shape[0] ({b.shape[0]}): "
            f"cannot multiply {tuple(a.shape)} by {tuple(b.shape)}"
        )
    same_kind(a, b, names)
    return a, b


def method(name: str, value, X) -> str:
    """Resolve a ``method`` argument: "auto" is the fused loop on the CPU and the tensor version elsewhere."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str ('auto', 'tensor' or 'fused'), {_got(value)}")
    if value not in ("auto", "tensor", "fused"):
        raise ValueError(f"{name} must be 'auto', 'tensor' or 'fused', got {value!r}")
    if value == "fused" and X.device.type != "cpu":
        raise ValueError(f"{name} 'fused' runs on the CPU only; X is on {X.device}")
    if value == "auto":
        return "fused" if X.device.type == "cpu" else "tensor"
    return value


def mapping(name: str, value, keys=(), *, item=None, among=None, empty: bool = True, of: str = "") -> dict:
    """``value``, a dict holding the keys ``keys`` (with ``among``, no others; non-empty unless ``empty``),
    each value checked by ``item(f"{name}[{key!r}]", value)``; ``of``: what it maps, for the message.
    """
    if not isinstance(value, dict):
        raise TypeError(f"{name} must be a dict{' of ' + of if of else ''}, {_got(value)}")
    missing = [k for k in keys if k not in value]
    if missing:
        raise ValueError(f"{name} is missing the keys {missing}")
    if not empty and not value:
        raise ValueError(f"{name} must not be empty")
    for k in value:
        if among is not None and k not in among:
            raise ValueError(f"{name} names {k!r}, which is not one of {list(among)}")
        if item is not None:
            item(f"{name}[{k!r}]", value[k])
    return value


def seconds(name: str, value, keys=(), *, among=None, zero: bool = False, empty: bool = True) -> dict:
    """A dict of row name to seconds, each positive (or 0 with ``zero``), as :func:`mapping` checks it."""
    return mapping(name, value, keys, among=among, empty=empty, of="row name to seconds",
                   item=lambda n, v: real(n, v, low=0, strict=not zero))


def instance(name: str, value, kind, what: str = ""):
    """``value``, an instance of the class ``kind`` (or of one of a tuple of them); else a ``TypeError``."""
    if not isinstance(value, kind):
        raise TypeError(f"{name} must be {what or 'a ' + kind.__name__}, {_got(value)}")
    return value


def frame(name: str, value, columns=(), *, empty: bool = False):
    """``value``, a pandas DataFrame holding ``columns``, with rows unless ``empty``."""
    instance(name, value, __import__("pandas").DataFrame, "a pandas DataFrame")
    missing = [c for c in columns if c not in value]
    if missing:
        raise ValueError(f"{name} is missing the columns {missing}")
    if not empty and value.empty:
        raise ValueError(f"{name} is empty: shape {value.shape}")
    return value


def path(name: str, value):
    """``value``, a non-empty str or an ``os.PathLike``, as a ``pathlib.Path``."""
    instance(name, value, (str, os.PathLike), "a str or a pathlib.Path")
    return Path(text(name, value) if isinstance(value, str) else value)


def fields(record, *, zero=(), empty=(), choices=None) -> None:
    """Check each field of the dataclass ``record`` by its annotation: a str non-empty (unless its default is
    "" or it is named in ``empty``), one of ``choices[field]`` where given; an int >= 1 (>= 0 if named in
    ``zero``, or with ``zero=True``); a float finite and > 0; a bool; an instance of a class; ``X | None``
    lets None through.
    """
    import dataclasses
    import typing

    hints = typing.get_type_hints(type(record))
    for f in dataclasses.fields(record):
        name, value, args = f"{type(record).__name__}.{f.name}", getattr(record, f.name), typing.get_args(hints[f.name])
        kind = args[0] if args else hints[f.name]
        if value is None and type(None) in args:
            continue
        if f.name in (choices or {}):
            choice(name, value, choices[f.name])
        elif kind is str:
            text(name, value, empty=f.default == "" or f.name in empty)
        elif kind is int:
            integer(name, value, low=0 if zero is True or f.name in zero else 1)
        else:
            {float: positive, bool: boolean}.get(kind, lambda n, v: instance(n, v, kind))(name, value)


def choice(name: str, value, options) -> str:
    """``value``, a str among ``options``: ``TypeError`` for another kind, ``ValueError`` for another str."""
    listed = ", ".join(map(repr, options))
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, one of {listed}; {_got(value)}")
    if value not in options:
        raise ValueError(f"{name} must be one of {listed}; got {value!r}")
    return value


def axes(name: str, value):
    """``value``, None or a matplotlib Axes to draw on; else a ``TypeError``."""
    if value is not None:
        instance(name, value, __import__("matplotlib.axes", fromlist=["Axes"]).Axes, "None or a matplotlib Axes")
    return value
