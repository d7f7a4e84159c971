"""lessonlib.lecture: the one table of the lecture's figures, checked against the course notebooks' own
outputs, and the only place in the library and the book where a lecture figure is written."""

import re
from pathlib import Path

import pytest

from lessonlib import lecture
from lessonlib.lecture import FIGURES, figure

ROOT = Path(__file__).resolve().parents[1]


def test_each_figure_reads_as_the_lecture_wrote_it():
    # as printed by the course notebooks' cells (fastai/course22p2 at a63ecb0), and said in the transcript
    assert {k: f.text for k, f in FIGURES.items() if f.source != lecture.TRANSCRIPT} == {
        "loops": "421 ms", "njit": "236 µs", "elementwise": "598 µs", "broadcast_5": "70.1 µs", "broadcast": "663 ms",
        "einsum": "15.1 ms", "torch_cpu": "15.2 ms", "kernel": "3.61 ms", "torch_gpu": "458 µs",
        "meanshift_loop": "452 ms", "meanshift_gpu_bs1250": "2 ms"}
    assert [figure(k).text for k in ("broadcast_speedup", "gpu_over_broadcast", "overall")] == [
        "5,000×", "1,000×", "5 million×"]
    assert str(figure("kernel")) == "3.61 ms (notebook 01_matmul)"
    for f in FIGURES.values():  # each says what it timed, and where it comes from
        assert f.unit in ("s", "×") and f.value > 0 and len(f.what) > 20 and f.source in lecture.SOURCES


def test_where_the_transcript_and_the_notebook_differ_the_entry_says_which_the_book_shows():
    for key in ("broadcast", "meanshift_loop"):
        assert "the book shows the notebook's" in figure(key).other
    assert "600 ms" in figure("broadcast").other and "400 ms" in figure("meanshift_loop").other
    frame = lecture.figures_frame()
    assert list(frame.index) == list(FIGURES) and frame.loc["loops", "source"].startswith("course notebook")
    with pytest.raises(ValueError, match="key must be one of"):
        figure("loop")
    with pytest.raises(TypeError, match="key must be a str"):
        figure(421)


def _forms(f) -> set[str]:
    """The ways a figure could be typed: "421 ms", "421ms"; in code "0.421", "421e-3" (figures of three digits
    or more only: "1e-3" is any millisecond); "5,000×", "5000 times", "5 million"."""
    if f.unit == "×":
        n = f"{f.value:,.0f}"
        return {n + "×", n + " times", n.replace(",", "") + "x", n.replace(",", "") + "×"} | (
            {f"{f.value / 1e6:g} million"} if f.value >= 1e6 else set())
    forms = {f.text, f.text.replace(" ", "")}
    mantissa, unit = f.text.split()
    if len(mantissa.replace(".", "")) >= 3:
        forms.add(mantissa + {"ms": "e-3", "µs": "e-6", "s": ""}[unit])
    if len(f"{f.value:g}".lstrip("0.").replace(".", "")) >= 3:
        forms.add(f"{f.value:g}")
    return forms


def _typed_elsewhere(forms: set[str]) -> list[str]:
    files = [p for p in (ROOT / "lessonlib").rglob("*.py") if p.name != "lecture.py"] + sorted(
        (ROOT / "book").glob("*.md"))
    found = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        for form in forms:
            for m in re.finditer(rf"(?<![\w.,]){re.escape(form)}(?![\w,]|\.\d)", text):
                line = text.count("\n", 0, m.start()) + 1
                found.append(f"{path.relative_to(ROOT)}:{line}: {form!r}")
    return found


def test_no_lecture_figure_is_written_anywhere_else_in_the_library_or_the_book():
    # the transcript's other figures (600 ms, 400 ms, 15 ms), named in the table's notes, count too
    others = {m for f in FIGURES.values() for m in re.findall(r"\d[\d,.]* (?:ms|µs)", f.other)}
    forms = set().union(*map(_forms, FIGURES.values())) | others
    assert _typed_elsewhere(forms) == []


def test_the_search_finds_a_planted_figure(tmp_path, monkeypatch):
    planted = ROOT / "book" / "_planted_lecture_figure.md"
    planted.write_text("The lecture's kernel took 3.61 ms; its loops 421ms; 5,000 times faster.\n")
    try:
        found = _typed_elsewhere(_forms(figure("kernel")) | _forms(figure("loops"))
                                 | _forms(figure("broadcast_speedup")))
    finally:
        planted.unlink()
    assert sorted(f.split(": ", 1)[1] for f in found if "_planted" in f) == ["'3.61 ms'", "'421ms'", "'5,000 times'"]
    assert not _typed_elsewhere({"3.61 ms"})  # and, without it, nothing
