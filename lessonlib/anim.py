"""Matplotlib animations as self-contained HTML for the book: ``FuncAnimation`` and ``to_jshtml``
with capped size, no CDN link and a name that is the same build after build.

The chapter "Mean shift" teaches ``FuncAnimation``; "How the book runs" says what :func:`animate`
adds to it and why.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Callable, Iterable

from . import _checks

_CDN_LINK = re.compile(r'<link rel="stylesheet"\s+href="https?://[^"]*font-awesome[^"]*">\s*')
_ID = re.compile(r"(?<=_anim_img)[0-9a-f]{32}")
_NFRAMES = re.compile(r"var frames = new Array\((\d+)\);")


def _frame_count(frames) -> int:
    if isinstance(frames, int) and not isinstance(frames, bool):
        n = frames
    elif isinstance(frames, Iterable) and hasattr(frames, "__len__"):
        n = len(frames)
    else:
        raise TypeError(f"frames must be a positive int or a sized sequence, got {frames!r}")
    if n < 1:
        raise ValueError(f"frames must give at least one frame, got {n}")
    return n


def animate(fig, update: Callable, frames, interval: int = 200, *, alt: str = "Animation",
            caption: str | None = None, dpi: int = 72, max_frames: int = 60, max_mb: float = 1.0,
            default_mode: str = "loop"):
    """Turn ``update(frame)`` over ``frames`` into a playable HTML animation.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure ``update`` draws on; closed afterwards, so the notebook does not show it too.
    update : callable
        ``update(frame)`` redraws ``fig`` for one frame.
    frames : int or sequence
        Number of frames (``update`` gets 0..frames-1) or the values to pass.
    interval : int, default 200
        Milliseconds between frames.
    alt : str, default "Animation"
        Text alternative, for screen readers.
    caption : str, optional
        Visible caption under the player; by default ``alt``.
    dpi : int, default 72
    max_frames : int, default 60
    max_mb : float, default 1.0
        Refuse more frames, or more megabytes of HTML, than these.
    default_mode : {"loop", "once", "reflect"}
        What the player does at the last frame.

    Returns
    -------
    IPython.display.HTML
        The player (frames, slider, play/pause buttons) in a ``<figure>`` with its caption.
    """
    import matplotlib as mpl
    import matplotlib.pyplot as plt
    from IPython.display import HTML
    from matplotlib.animation import FuncAnimation
    from matplotlib.figure import Figure

    if not isinstance(fig, Figure):
        raise TypeError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
    _checks.callable_("update", update)
    n = _frame_count(frames)
    _checks.integer("max_frames", max_frames, low=1)
    if n > max_frames:
        raise ValueError(f"{n} frames exceeds max_frames={max_frames}; every frame is embedded "
                         "in the page, so use fewer frames (or raise max_frames deliberately)")
    _checks.integer("interval", interval, low=1)  # milliseconds
    _checks.integer("dpi", dpi, low=1)
    _checks.positive("max_mb", max_mb)
    _checks.text("alt", alt)
    caption = alt if caption is None else _checks.text("caption", caption)
    _checks.choice("default_mode", default_mode, ("loop", "once", "reflect"))

    try:
        anim = FuncAnimation(fig, update, frames=frames, interval=interval, repeat=True)
        # Let matplotlib embed a little more than our limit, so that an oversized
        # animation is caught below with a clear error rather than truncated.
        with mpl.rc_context({"animation.embed_limit": 2 * max_mb, "savefig.dpi": dpi}):
            out = anim.to_jshtml(default_mode=default_mode)
    finally:
        plt.close(fig)

    out = _CDN_LINK.sub("", out)
    got = int(_NFRAMES.search(out).group(1))
    if got != n:
        raise ValueError(f"only {got} of {n} frames fit in the embed limit; lower dpi={dpi} "
                         "or the frame count")
    size_mb = len(out.encode()) / 2**20
    if size_mb > max_mb:
        raise ValueError(f"animation is {size_mb:.2f} MB, over max_mb={max_mb}; lower dpi={dpi} "
                         f"or the frame count ({n})")
    # Name the player after its content: same animation, same HTML, build after build.
    old = _ID.search(out).group(0)
    new = hashlib.sha1(out.replace(old, "").encode()).hexdigest()[:32]
    out = out.replace(old, new)
    out = out.replace(f'<img id="_anim_img{new}">', f'<img id="_anim_img{new}" alt="{html.escape(alt)}">')
    return HTML(f'<figure class="lessonlib-animation">\n{out}\n'
                f"<figcaption>{html.escape(caption)}</figcaption>\n</figure>")
