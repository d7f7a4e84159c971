"""python -m lessonlib.bench: each sub-command at tiny sizes, its output's structure and sanity (never its speed)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from lessonlib import hardware
from lessonlib.bench.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _numbers(text: str) -> list[float]:
    return [float(x.replace(",", "")) for x in re.findall(r"\d[\d,]*\.?\d*", text)]


def test_cli_matmul(capsys):
    assert main(["matmul", "--rows", "40", "--square", "32", "--repeat", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == hardware.label()  # the hardware first
    rungs = [line for line in out if re.match(r"^matmul\w* \(\d+ rows\)", line)]
    assert [r.split(" (")[0] for r in rungs] == ["matmul_loops", "matmul_njit", "matmul_elementwise",
                                                  "matmul_broadcast", "matmul_einsum", "matmul"]
    assert all("(5 rows)" in r for r in rungs[:3]) and all("(40 rows)" in r for r in rungs[3:])
    # as the book prints them: times with their unit and speed-ups with ×, not raw seconds such as 0.000123
    assert all(re.search(r"\d (s|ms|µs|ns) ", r) and re.search(r"\d×", r) for r in rungs), rungs
    assert not any(re.search(r"\b0\.0+\b", r) for r in rungs), rungs  # nothing measured reads as zero
    last = out[-1]
    rate = r"(\d[\d,]*\.?\d*(?:e[-+]\d+)?)"
    m = re.match(rf"torch 32² float32 matmul: {rate} GFLOP/s; MNIST-shaped @: {rate} GFLOP/s = {rate}% of it", last)
    assert m, last
    peak, best, pct = (float(g.replace(",", "")) for g in m.groups())
    # three significant figures, so however fast or slow this machine is, no rate prints as 0
    assert peak > 0 and best > 0 and pct == pytest.approx(100 * best / peak, rel=0.02)


def test_cli_meanshift(capsys):
    assert main(["meanshift", "--sizes", "60", "120", "--batched-max", "60", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == hardware.label()
    assert out.count("meanshift_fast") >= 2 and "not run: quadratic, over 60 points" in out
    ratios = re.findall(r"n = ([\d,]+): meanshift_fast is ([\d.,]+)× faster than MeanShift\(bin_seeding=True\)", out)
    assert [n for n, _ in ratios] == ["60", "120"] and all(float(r.replace(",", "")) > 0 for _, r in ratios)
    assert re.search(r"\d (s|ms|µs) ", out) and "median" in out and "median (s)" not in out  # the book's format


def test_cli_cluster(capsys):
    code = main(["cluster", "--dbscan", "1500", "--kmeans", "2000", "--dbscan-blobs", "2000", "--knn", "3000",
                 "--lsh-sizes", "1000", "--repeat", "1"])
    out = capsys.readouterr().out
    assert out.splitlines()[0] == hardware.label()
    verdicts = [line for line in out.splitlines() if line.startswith(("met:     ", "NOT MET: "))]
    assert len(verdicts) == 2 * 3 + 4 * 2 + 2 * 2  # k-means, DBSCAN, LSH: no crossover goal below 10^6 points
    assert code == (1 if any(v.startswith("NOT MET") for v in verdicts) else 0)
    assert "lessonlib dbscan (fused)" in out and "peak RSS" in out
    assert "LSH against brute force, 32-D" in out
    labels = [v for v in verdicts if "identical labels" in v]  # small data: the same labels as scikit-learn
    assert len(labels) == 6 and all(v.startswith("met:") and "identical labels yes (goal yes)" in v for v in labels)


def test_cli_claims_on_a_sample_file(tmp_path, capsys):
    from lessonlib.bench.claims import GPU_CLAIMS
    from lessonlib.bench.reference import write_reference
    from test_bench_reference import hand_made  # tests/ is on sys.path (pytest's prepend import mode)

    path = write_reference(hand_made(), tmp_path / "ref.json")
    assert main(["claims", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == hardware.label() and lines[1].startswith("reference: ")
    claims = lines[2:]
    assert [c.split(": ")[0] for c in claims] == [c.text for c in GPU_CLAIMS.values()]
    assert all(re.search(r": (held|did not hold): [\d,.]+×", c) for c in claims)


@pytest.mark.parametrize("what", ["matmul", "meanshift", "cluster", "claims"], ids=lambda w: f"{w}-help")  # not "gpu": a marker
def test_python_m_help(what):
    proc = subprocess.run([sys.executable, "-m", "lessonlib.bench", what, "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and f"python -m lessonlib.bench {what}" in proc.stdout


def test_bad_sizes_are_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["matmul", "--rows", "0"])
    assert exc.value.code == 2 and "must be a positive int" in capsys.readouterr().err
