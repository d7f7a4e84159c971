"""The first cell of every chapter (:func:`setup`: the CUDA target, every random generator seeded,
plotting defaults, so two builds of a page agree but for times), and the book's captioned tables.
"""

from __future__ import annotations

import hashlib
import os
import random

from . import _checks, hardware

REQUIRE_GPU_ENV = "LESSONLIB_REQUIRE_GPU"

SEED = 42


def seed_everything(seed: int = SEED) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and CUDA)."""
    seed = _checks.seed("seed", seed)
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # seeds every CUDA device too


def require_gpu() -> None:
    """Raise ``RuntimeError``, naming what is missing, unless torch and Numba can both use a GPU (a GPU
    build, ``LESSONLIB_REQUIRE_GPU=1``, fails so rather than fall back to the simulator).
    """
    import torch

    problems = []
    if not torch.cuda.is_available():
        problems.append("torch sees no CUDA device")
    if hardware.cuda_simulator_active():
        problems.append("Numba is on its CUDA simulator (NUMBA_ENABLE_CUDASIM is set)")
    elif not hardware.numba_cuda_available():
        problems.append("Numba's CUDA target is unavailable (is the gpu extra installed?)")
    if problems:
        raise RuntimeError(f"{REQUIRE_GPU_ENV}=1 but {'; '.join(problems)}. torch {torch.__version__} is built for "
                           f"CUDA {torch.version.cuda or 'none (a CPU build)'}; NVIDIA driver: "
                           f"{hardware.driver_version()}. torch 2.13's CUDA 13.0 build needs driver R580 or newer.")


def setup(seed: int = SEED) -> dict[str, str]:
    """Prepare a chapter's kernel (CUDA target, seeds, plot defaults; with ``LESSONLIB_REQUIRE_GPU=1``,
    :func:`require_gpu` first) and return the hardware report.
    """
    hardware.use_cuda_simulator()
    if os.environ.get(REQUIRE_GPU_ENV, "0") not in ("", "0"):
        require_gpu()
    seed_everything(seed)
    import matplotlib as mpl

    mpl.rcParams.update({"figure.figsize": (6, 3.5), "figure.dpi": 80, "savefig.dpi": 80, "axes.grid": True,
                         "grid.alpha": 0.3,
                         "figure.constrained_layout.use": True,  # labels stay inside the saved image, animations too
                         "figure.facecolor": "white", "savefig.facecolor": "white"})  # readable in dark mode too
    return hardware.report()


class Table:
    """A captioned table, HTML (``styler``) on a page and plain text on the command line, its values
    formatted alike ("430 ms", not 0.429787) in every build.
    """

    def __init__(self, frame, styler, caption: str, text: str | None = None):
        from pandas.io.formats.style import Styler

        self.frame, self.caption = _checks.frame("frame", frame), _checks.text("caption", caption, empty=True)
        self.styler = _checks.instance("styler", styler, Styler, "a pandas Styler (DataFrame.style)")
        self.text = frame.to_string() if text is None else _checks.text("text", text, empty=True)

    def _repr_html_(self) -> str:
        return self.styler.to_html()

    def __repr__(self) -> str:
        return f"{self.caption}\n{self.text}" if self.caption else self.text


def _as_text(frame, formats, hide_index: bool, units: bool) -> str:
    """``frame`` as aligned plain text, each value formatted as on the page."""
    import pandas as pd

    per_column = formats if isinstance(formats, dict) else dict.fromkeys(frame.columns, formats)
    shown = frame.copy()
    for c, f in per_column.items():
        if f is None or c not in frame:
            continue
        fn = f.format if isinstance(f, str) else f

        def one(v, fn=fn):
            if v is None or (isinstance(v, float) and pd.isna(v)):
                return ""
            try:
                return fn(v)
            except (TypeError, ValueError):  # a text cell under a numeric format: shown as it is
                return str(v)

        shown[c] = [one(v) for v in frame[c]]
    if units:
        shown.columns = [str(c).removesuffix(" (s)") for c in shown.columns]
    return shown.to_string(index=not hide_index)


def table(frame, *, caption: str = "", formats=None, hide_index: bool = False, units: bool = False) -> Table:
    """Show the DataFrame ``frame`` as a captioned Table whose HTML ids come from its content, not chance.
    ``formats`` go to ``Styler.format`` (missing values blank); with ``units`` the values carry their
    unit ("430 ms"), so the headers drop " (s)".
    """
    _checks.frame("frame", frame)
    _checks.text("caption", caption, empty=True)
    _checks.boolean("hide_index", hide_index)
    _checks.boolean("units", units)
    if formats is not None and not (isinstance(formats, (str, dict)) or callable(formats)):
        raise TypeError(f"formats must be a format string, a callable or a dict of them, got {type(formats).__name__}")
    styler = frame.style
    if formats is not None:
        styler = styler.format(formats, na_rep="")
    # the index's name would take a header row of its own, empty but for that name
    styler = styler.hide(axis="index") if hide_index else styler.hide(axis="index", names=True)
    if units:
        styler = styler.relabel_index([str(c).removesuffix(" (s)") for c in frame.columns], axis=1)
    uid = hashlib.sha1((frame.to_csv() + caption).encode()).hexdigest()[:12]
    styler = styler.set_caption(caption).set_uuid(uid).set_table_attributes('class="dataframe"')
    return Table(frame, styler, caption, _as_text(frame, formats, hide_index, units))
