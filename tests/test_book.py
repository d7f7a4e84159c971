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


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, "1", True])
def test_seed_everything_rejects(seed):
    with pytest.raises(ValueError, match="seed must be an int"):
        book.seed_everything(seed)


def test_setup_returns_report_and_sets_plot_defaults():
    import matplotlib as mpl

    report = book.setup()
    assert report == hardware.report()
    assert mpl.rcParams["savefig.facecolor"] == "white"
