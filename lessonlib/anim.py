"""Matplotlib animations as self-contained, offline-safe HTML for the book.

The lecture animates mean shift with ``FuncAnimation`` and ``to_jshtml``. That
HTML embeds every frame as a base64 PNG, so frame count and dpi decide the page
weight; :func:`animate` caps both and refuses an animation that would be cut
short or too heavy, instead of silently dropping frames as matplotlib does.

Two fixes make the output fit a static, offline site:

- matplotlib links Font Awesome from a CDN for the play/pause icons; the book's
  theme already ships Font Awesome, so the link is removed;
- matplotlib names each animation with a random UUID; here the name is a hash
  of the content, so two builds of the same page give the same HTML.
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
    if isinstance(frames, bool):
        raise TypeError(f"frames must be a positive int or a non-empty sequence, got {frames!r}")
    if isinstance(frames, int):
        n = frames
    elif isinstance(frames, Iterable) and hasattr(frames, "__len__"):
        n = len(frames)
    else:
        raise TypeError(
            f"frames must be a positive int or a sequence with a length, got {type(frames).__name__}"
        )
    if n < 1:
        raise ValueError(f"frames must give at least one frame, got {n}")
    return n


def animate(
    fig,
    update: Callable,
    frames,
    interval: int = 200,
    *,
    alt: str = "Animation",
    caption: str | None = None,
    dpi: int = 72,
    max_frames: int = 60,
    max_mb: float = 1.0,
    default_mode: str = "loop",
):
    """Turn ``update(frame)`` over ``frames`` into a playable HTML animation.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure ``update`` draws on. It is closed afterwards, so the notebook
        does not also show it as a still image.
    update : callable
        ``update(frame)``: redraws ``fig`` for one frame.
    frames : int or sequence
        Number of frames (``update`` gets 0..frames-1) or the values to pass.
    interval : int, default 200
        Milliseconds between frames.
    alt : str, default "Animation"
        Text alternative for the animation image, for screen readers.
    caption : str, optional
        Visible caption under the player; defaults to ``alt``.
    dpi : int, default 72
        Resolution of each embedded PNG frame.
    max_frames : int, default 60
        Refuse more frames than this (they all end up in the page).
    max_mb : float, default 1.0
        Refuse an animation whose HTML is larger than this many megabytes.
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
    if n > max_frames:
        raise ValueError(
            f"{n} frames exceeds max_frames={max_frames}; every frame is embedded in the "
            "page, so use fewer frames (or raise max_frames deliberately)"
        )
    _checks.integer("interval", interval, low=1)  # milliseconds
    _checks.integer("dpi", dpi, low=1)
    _checks.positive("max_mb", max_mb)
    for name, text in (("alt", alt), ("caption", alt if caption is None else caption)):
        _checks.text(name, text)  # a description of the animation, for readers who cannot see it
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
        raise ValueError(
            f"only {got} of {n} frames fit in the embed limit; lower dpi={dpi} or the frame count"
        )
    size_mb = len(out.encode()) / 2**20
    if size_mb > max_mb:
        raise ValueError(
            f"animation is {size_mb:.2f} MB, over max_mb={max_mb}; lower dpi={dpi} or the frame count ({n})"
        )
    # Name the player after its content: same animation, same HTML, build after build.
    old = _ID.search(out).group(0)
    new = hashlib.sha1(out.replace(old, "").encode()).hexdigest()[:32]
    out = out.replace(old, new)
    out = out.replace(f'<img id="_anim_img{new}">', f'<img id="_anim_img{new}" alt="{html.escape(alt)}">')
    text = html.escape(alt if caption is None else caption)
    return HTML(f'<figure class="lessonlib-animation">\n{out}\n<figcaption>{text}</figcaption>\n</figure>')
