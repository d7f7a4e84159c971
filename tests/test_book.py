"""Tests of lessonlib.book, the set-up cell every chapter starts with."""
import random

import numpy as np
import pytest
import torch

from lessonlib import book, hardware


def test_seed_everything_repeats_every_generator():
    def draw():
        return random.random(), np.random.rand(), torch.rand(3).tolist()

    book.seed_everything(7)
    first = draw()
    book.seed_everything(7)
    assert draw() == first
    book.seed_everything(8)
    assert draw() != first


@pytest.mark.parametrize("seed, error", [(-1, ValueError), (2**32, ValueError), (1.5, TypeError), ("1", TypeError),
                                         (True, TypeError)])
def test_seed_everything_rejects(seed, error):
    with pytest.raises(error, match="seed must be an int"):
        book.seed_everything(seed)


def test_setup_returns_report_and_sets_plot_defaults():
    import matplotlib as mpl

    report = book.setup()
    assert report == hardware.report()
    assert mpl.rcParams["savefig.facecolor"] == "white"


def test_table_is_captioned_themed_and_reproducible():
    import pandas as pd

    frame = pd.DataFrame({"a": [1.23456, None], "b": ["x", "y"]})
    shown = book.table(frame, caption="Cap", formats={"a": "{:.2f}"}, hide_index=True)
    again = book.table(frame, caption="Cap", formats={"a": "{:.2f}"}, hide_index=True)
    html = shown._repr_html_()
    assert html == again._repr_html_() and repr(shown) == repr(again)
    assert "<caption>Cap</caption>" in html and 'class="dataframe"' in html and "1.23" in html
    assert " at 0x" not in repr(shown) and repr(shown).startswith("Cap\n")
    assert html != book.table(frame.assign(a=[2.0, 3.0]), caption="Cap")._repr_html_()
    with pytest.raises(TypeError, match="frame must be a pandas DataFrame"):
        book.table([1, 2])


def test_table_text_is_formatted_as_the_page():
    import pandas as pd

    from lessonlib.timing import format_seconds

    frame = pd.DataFrame({"median (s)": [0.429787, 3.2e-6], "b": ["x", None]})
    shown = book.table(frame, formats={"median (s)": format_seconds}, hide_index=True, units=True)
    lines = repr(shown).splitlines()
    assert lines[0].split() == ["median", "b"]  # the unit is in the values, so the header drops "(s)"
    assert lines[1].split() == ["430", "ms", "x"] and lines[2].split()[:2] == ["3.2", "µs"]
    assert "430 ms" in shown._repr_html_() and ">median<" in shown._repr_html_()


def test_require_gpu_stops_a_gpu_build_without_a_gpu(monkeypatch):
    from lessonlib import book, hardware

    monkeypatch.setenv("LESSONLIB_REQUIRE_GPU", "1")
    monkeypatch.setattr(hardware, "driver_version", lambda: "123.45")
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match=r"LESSONLIB_REQUIRE_GPU=1 but torch sees no CUDA device.*driver: 123\.45.*R580"):
        book.setup()
    monkeypatch.setenv("LESSONLIB_REQUIRE_GPU", "0")
    assert book.setup()["CPU"]  # not required: the CPU build goes on


def test_driver_version_without_nvidia_smi(monkeypatch):
    import shutil

    from lessonlib import hardware

    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert hardware.driver_version() == "unknown (nvidia-smi not found)"
