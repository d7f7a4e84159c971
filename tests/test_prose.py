"""No measured number typed into a chapter's prose.

A time ("12 ms", "0.4 s", "3 seconds") or a speed-up ("40×") written by hand
in a chapter goes stale the day the machine or the code changes. Measured
quantities are glued from the run that made them (``{glue:text}`` roles). This
test reads every chapter's prose, leaving out code cells, fenced code and
directive options, math, inline code and roles, and fails on a number followed
by a unit of time or a speed-up sign. A line that names its source (the
lecture, its transcript or the course notebook) may quote that source's
figures.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "book").glob("*.md"))

# a number: 5, 5,000, 0.25, 1e-3; "a number of" is not one
_NUM = r"(?<![\w.])\d[\d,]*(?:\.\d+)?(?:e-?\d+)?"
_TIME_UNIT = (
    r"(?:\s?(?:ms|µs|μs|ns)\b"  # 12 ms, 12ms
    r"|\s+s\b(?!-)"  # 0.4 s (a space is required: "1990s" is a decade)
    r"|\s+(?:nano|micro|milli)?seconds?\b"
    r"|\s+minutes?\b)"
)
# "40×" or "40 × faster" is a speed-up; "70 × 70" and "784×10" are shapes or products
_SPEEDUP = r"(?:\s?×(?!\s?[\d(]))|(?:\s?x\s+(?:faster|slower)\b)|(?:\s+times\s+(?:faster|slower)\b)"
PATTERN = re.compile(rf"(?:≈|~|about\s)?{_NUM}(?:{_TIME_UNIT}|{_SPEEDUP})")
# a line that names the source of its figures
ATTRIBUTED = re.compile(r"\b(lecture|transcript|notebook)", re.IGNORECASE)

_CODE_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*(\{[\w:-]+\})?")
_COLON_FENCE = re.compile(r"^(\s*)(:{3,})\s*(\{[\w:-]+\})?")
# directives whose body is prose, not code; every other fenced block is left out
_PROSE_DIRECTIVES = {
    "{note}", "{tip}", "{warning}", "{important}", "{caution}", "{admonition}", "{margin}",
    "{sidebar}", "{seealso}", "{hint}", "{attention}", "{dropdown}", "{epigraph}", "{topic}",
}


def prose_lines(text: str):
    """Yield ``(line number, prose)`` for a MyST notebook, with code, math and roles blanked out."""
    lines = text.splitlines()
    i, n = 0, len(lines)
    if lines and lines[0].strip() == "---":  # front matter
        i = 1
        while i < n and lines[i].strip() != "---":
            i += 1
        i += 1
    fences: list[tuple[str, bool]] = []  # open fences: (closing marker, is its body prose?)
    in_math = in_comment = False
    while i < n:
        line, number = lines[i], i + 1
        i += 1
        stripped = line.strip()
        if in_comment:
            in_comment = "-->" not in line
            continue
        if in_math:
            in_math = not stripped.endswith("$$")
            continue
        if fences:
            marker, prose = fences[-1]
            if stripped == marker:
                fences.pop()
                continue
            if not prose:
                continue
        m = _CODE_FENCE.match(line) or _COLON_FENCE.match(line)
        if m and (not fences or fences[-1][1]):
            marker, directive = m.group(2), m.group(3)
            prose = directive in _PROSE_DIRECTIVES
            fences.append((marker, prose))
            if prose:  # skip the directive's options: a yaml block or ":key: value" lines
                if i < n and lines[i].strip() == "---":
                    i += 1
                    while i < n and lines[i].strip() != "---":
                        i += 1
                    i += 1
                while i < n and re.match(r"^\s*:[\w-]+:", lines[i]):
                    i += 1
            continue
        if stripped.startswith("<!--"):
            in_comment = "-->" not in stripped
            continue
        if stripped.startswith("$$"):
            in_math = not (len(stripped) > 2 and stripped.endswith("$$"))
            continue
        if stripped.startswith("+++") or stripped.startswith("(") and stripped.endswith(")="):
            continue  # cell breaks and labels
        yield number, _blank_inline(line)


def _blank_inline(line: str) -> str:
    """Blank roles ({glue:text}`x`), inline code and inline math, so only words remain."""
    line = re.sub(r"\{[\w:-]+\}`[^`]*`", " GLUED ", line)
    line = re.sub(r"(`+)[^`]*?\1", " CODE ", line)
    line = re.sub(r"\$[^$]+\$", " MATH ", line)
    return line


def _paragraphs(text: str):
    """Runs of consecutive prose lines: lists of ``(line number, prose)``."""
    run, last = [], None
    for number, line in prose_lines(text):
        if run and (number != last + 1 or not line.strip()):
            yield run
            run = []
        if line.strip():
            run.append((number, line))
        last = number
    if run:
        yield run


_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")


def typed_numbers(text: str) -> list[tuple[int, str, str]]:
    """``(line number, match, line)`` for each unattributed time or speed-up typed in prose.

    A figure counts as attributed when its line, or the sentence it sits in,
    names the lecture, its transcript or the course notebook.
    """
    found = []
    for para in _paragraphs(text):
        joined, starts = "", []
        for _, line in para:
            starts.append(len(joined))
            joined += line.strip() + " "
        for (number, line), start in zip(para, starts):
            if ATTRIBUTED.search(line):
                continue
            for m in PATTERN.finditer(line.strip()):
                at = start + m.start()
                ends = [e.end() for e in _SENTENCE_END.finditer(joined)]
                begin = max([e for e in ends if e <= at], default=0)
                end = min([e for e in ends if e > at + len(m.group(0))], default=len(joined))
                if not ATTRIBUTED.search(joined[begin:end]):
                    found.append((number, m.group(0).strip(), line.strip()))
    return found


# --- the checker itself: it must catch a planted line, and let the allowed ones through

@pytest.mark.parametrize(
    "line",
    [
        "The loop took 415 ms here.",
        "It ran in 0.4 s on this machine.",
        "Broadcasting was about 5,000× faster.",
        "That is 12µs per call.",
        "einsum was 3 times faster than broadcasting.",
        "It trains in 45 seconds.",
        "a 40x faster version",
    ],
)
def test_checker_catches_a_typed_number(line):
    text = f"# Title\n\nSome prose.\n\n{line}\n"
    found = typed_numbers(text)
    assert [n for n, *_ in found] == [5], found


@pytest.mark.parametrize(
    "line",
    [
        "The loop took {glue:text}`loop_ms:.0f` ms.",
        "The lecture's loop took 415 ms.",
        "In the course notebook the loop takes 415 ms.",
        "As the course notebook\nshows, its loop takes 415 ms, which is slow.",
        "Six centres in a 70 × 70 square, a 784×10 matrix, 5 × 1,500 distances.",
        "The 1990s, five steps, 2.5 bandwidths, a 2048² product at 12 GFLOP/s.",
        "Inline code `timeit: 3 ms` and math $t = 3\\,\\mathrm{ms}$ are not prose.",
    ],
)
def test_checker_lets_allowed_lines_through(line):
    assert typed_numbers(f"# Title\n\n{line}\n") == []


def test_attribution_reaches_its_own_sentence_only():
    text = "# T\n\nThe lecture timed the loop.\nIt took 415 ms here.\n\nThe notebook ran\nit in 415 ms.\n"
    assert [(n, m) for n, m, _ in typed_numbers(text)] == [(4, "415 ms")]


def test_checker_skips_code_math_and_front_matter():
    text = "\n".join([
        "---", "title: 3 ms", "---",
        "```{code-cell} ipython3", "print('took 3 ms')", "```",
        "$$", "t = 5 s", "$$",
        "```{literalinclude} ../x.py", ":caption: 9 ms", "```",
        ":::{note}", "Inside a note, 7 ms is prose.", ":::",
    ])
    found = typed_numbers(text)
    assert [(n, m) for n, m, _ in found] == [(14, "7 ms")]


# --- the book

@pytest.mark.parametrize("chapter", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_no_measured_number_typed_in_prose(chapter):
    found = typed_numbers(chapter.read_text(encoding="utf-8"))
    if found:
        where = "\n".join(f"  book/{chapter.name}:{n}: {m!r} in: {line}" for n, m, line in found)
        pytest.fail(
            f"{len(found)} number(s) with a time unit or speed-up sign typed into the prose of "
            f"book/{chapter.name}:\n{where}\n"
            "Glue a measured value from the run that produced it ({glue:text}`name`), or, for a "
            "figure quoted from the lesson, name its source (the lecture, transcript or course "
            "notebook) on the same line.",
            pytrace=False,
        )


# --- each lecture claim the book checks has its verdict on the built page

# page -> (claim, pattern the built text must match); the verdict words come from glue
VERDICTS = {
    "meanshift": [
        ("loop against batched", r"The best batched setting, bs = [^,]+, was (faster|no faster) than the loop"),
        # the CPU sweep is this machine's result; "bigger is better" is a GPU claim, judged on a GPU only
        ("this CPU's batch sizes", r"[\d.]+ times faster than batches of 5"),
        ("the triangle gives the same clusters", r"so the lecture’s claim (held|did not hold) here"),
        ("per-call overhead", r"One tiny operation cost [\d.]+ µs\. A point step is \d+ operations"),
    ],
    "einsum": [
        ("broadcasting is 5,000 times faster", r"from broadcasting (held|did not hold) here"),
        ("einsum is much faster than broadcasting", r"[Tt]hat claim (held|did not hold) here"),
        ("einsum is about as fast as @", r"we say\) (held|did not hold)"),
    ],
}


def page_text(html: str) -> str:
    """The visible text of a built page, whitespace collapsed."""
    from html.parser import HTMLParser

    class _Text(HTMLParser):
        def __init__(self):
            super().__init__()
            self.parts, self.skip = [], 0

        def handle_starttag(self, tag, attrs):
            self.skip += tag in ("script", "style")

        def handle_endtag(self, tag):
            self.skip -= tag in ("script", "style") and self.skip > 0

        def handle_data(self, data):
            if not self.skip:
                self.parts.append(data)

    p = _Text()
    p.feed(html)
    return re.sub(r"\s+", " ", " ".join(p.parts))


def missing_verdicts(page: str, html: str) -> list[str]:
    text = page_text(html)
    return [claim for claim, pattern in VERDICTS[page] if not re.search(pattern, text)]


def test_missing_verdicts_detects_a_page_without_them():
    assert missing_verdicts("einsum", "<p>nothing measured here</p>") == [c for c, _ in VERDICTS["einsum"]]


@pytest.mark.book
@pytest.mark.parametrize("page", sorted(VERDICTS))
def test_lecture_claims_have_verdicts_on_the_built_page(built_site, page):
    missing = missing_verdicts(page, (built_site / "book" / f"{page}.html").read_text(encoding="utf-8"))
    assert not missing, f"book/{page}.html lacks the measured verdict for: {', '.join(missing)}"
