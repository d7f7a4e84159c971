import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from lessonlib.anim import animate  # noqa: E402


def _sine(frames=5, **kw):
    fig, ax = plt.subplots(figsize=(2, 1.5))
    x = np.linspace(0, 6, 40)
    (line,) = ax.plot(x, np.sin(x))
    html = animate(fig, lambda i: line.set_ydata(np.sin(x + i)), frames, alt="A moving sine", **kw)
    return fig, html.data


def test_all_frames_embedded_and_figure_closed():
    fig, out = _sine(frames=7)
    assert "var frames = new Array(7);" in out
    assert len(re.findall(r"data:image/png;base64", out)) == 7
    assert not plt.fignum_exists(fig.number)


def test_offline_safe_and_accessible():
    _, out = _sine()
    assert "http://" not in out and "https://" not in out
    assert 'alt="A moving sine"' in out
    assert 'title="Play"' in out and 'class="fa fa-play"' in out  # the theme's Font Awesome draws it


def test_same_animation_same_html():
    assert _sine()[1] == _sine()[1]


def test_different_animations_get_different_ids():
    a, b = _sine(frames=3)[1], _sine(frames=4)[1]
    ida = re.search(r"_anim_img([0-9a-f]+)", a).group(1)
    idb = re.search(r"_anim_img([0-9a-f]+)", b).group(1)
    assert ida != idb


def test_sequence_of_frames():
    fig, ax = plt.subplots(figsize=(2, 1.5))
    seen = []
    animate(fig, seen.append, ["a", "b", "c"])
    assert {"a", "b", "c"} <= set(seen)


def test_too_heavy_is_refused_not_truncated():
    with pytest.raises(ValueError, match="lower dpi"):
        _sine(frames=20, dpi=300, max_mb=0.2)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"frames": 0}, "at least one frame"),
        ({"frames": 100}, "exceeds max_frames=60"),
        ({"frames": 3, "interval": 0}, "interval must be an int >= 1, got 0"),
        ({"frames": 3, "dpi": 0}, "dpi must be an int >= 1, got 0"),
        ({"frames": 3, "max_mb": 0}, "max_mb must be a positive number, got 0"),
        ({"frames": 3, "default_mode": "bounce"}, "default_mode must be"),
    ],
)
def test_validation(kwargs, match):
    fig, _ = plt.subplots()
    with pytest.raises(ValueError, match=match):
        animate(fig, lambda i: None, **kwargs)
    plt.close(fig)


def test_rejects_non_figure_and_non_callable():
    with pytest.raises(TypeError, match="fig must be a matplotlib Figure"):
        animate("fig", lambda i: None, 3)
    fig, _ = plt.subplots()
    with pytest.raises(TypeError, match="update must be callable"):
        animate(fig, None, 3)
    for kwargs, match in (({"interval": 2.5}, "interval must be an int, got 2.5"), ({"dpi": "72"}, "dpi must be an int"),
                          ({"frames": True}, "frames must be a positive int"), ({"alt": 3}, "alt must be a str"),
                          ({"default_mode": None}, "default_mode must be a str")):
        with pytest.raises(TypeError, match=match):
            animate(fig, lambda i: None, **({"frames": 3, "alt": "a"} | kwargs))
    plt.close(fig)


def test_player_has_a_visible_caption_defaulting_to_alt():
    _, out = _sine()
    assert out.startswith('<figure class="lessonlib-animation">')
    assert out.rstrip().endswith("<figcaption>A moving sine</figcaption>\n</figure>")
    fig, ax = plt.subplots(figsize=(2, 1.5))
    out = animate(fig, lambda i: None, 2, alt="dots", caption="Two <frames>").data
    assert "<figcaption>Two &lt;frames&gt;</figcaption>" in out and 'alt="dots"' in out


@pytest.mark.parametrize("kw, match", [({"alt": ""}, "alt must not be empty"),
                                       ({"caption": "  "}, "caption must not be empty")])
def test_empty_alt_or_caption_is_rejected(kw, match):
    fig, ax = plt.subplots(figsize=(2, 1.5))
    with pytest.raises(ValueError, match=match):
        animate(fig, lambda i: None, 2, **kw)
