"""The GPU reference file: its schema, its errors, and how chapters label it (no GPU needed)."""

import copy
import json

import pytest

from lessonlib.bench import reference
from lessonlib.bench.claims import (
    AS_LECTURED_KERNEL,
    AS_LECTURED_TORCH,
    GPU_MATMUL_ROWS,
    GPU_MEANSHIFT_ROWS,
    MEANSHIFT_CPU_ROWS,
    SQUARE_ROWS,
)
from lessonlib.bench.cli import main
from lessonlib.bench.reference import LABEL, ReferenceFormatError, load_reference, validate


def t(seconds, **extra):
    return {"median_s": seconds, "min_s": seconds * 0.9, "iqr_s": seconds * 0.1, "samples": 5, **extra}


def hand_made() -> dict:
    """A small reference of the right shape: the lecture's own figures where it gave them, round numbers elsewhere."""
    gpu = {row: t(1e-4) for row in GPU_MATMUL_ROWS}
    gpu[AS_LECTURED_KERNEL] = t(3.61e-3)
    gpu[AS_LECTURED_TORCH] = t(458e-6)
    ms_gpu = {row: t(1e-3) for row in GPU_MEANSHIFT_ROWS}
    ms_gpu.update({"GPU, bs = 5": t(0.157), "GPU, bs = 64": t(0.013), "GPU, bs = 1024": t(0.0009)})
    return {
        "format": "lessonlib-gpu-reference",
        "version": 1,
        "provenance": {
            "gpu": "Test GPU 80GB", "driver": "580.65.06", "cuda": "13.0", "torch": "2.13.0", "numba": "0.62.1",
            "numba_cuda": "0.30.4", "python": "3.11.7", "cpu": "Test CPU (16 cores)", "date": "2026-01-02 03:04 UTC",
            "command": "python3 -m lessonlib.bench.check _build/gpu-check", "seconds": 150.0,
        },
        "matmul": {
            "shape": [[50000, 784], [784, 10]], "data": "MNIST", "tpb": 16, "host_memory": "Host memory: pageable.",
            "cpu": {"matmul_loops": t(0.421, rows=5), "matmul_broadcast": t(0.663, rows=50000),
                    "matmul_einsum": t(0.0151, rows=50000), "matmul": t(0.0152, rows=50000)},
            "gpu": gpu,
        },
        "meanshift": {"points": 1500, "cpu": {row: t(0.452) for row in MEANSHIFT_CPU_ROWS}, "gpu": ms_gpu},
        "cluster": [{"algorithm": "k-means", "implementation": "lessonlib kmeans", "device": "cuda", "n": 100000,
                     "median (s)": 0.01, "note": ""},
                    {"algorithm": "k-means", "implementation": "skipped", "device": "cpu", "median (s)": None}],
        "device_copy_GBps": 3900.0,
        "square_matmul": {"n": 4096, "GFLOP/s": {row: 1000.0 * (i + 1) for i, row in enumerate(SQUARE_ROWS)}},
    }


def test_the_hand_made_file_follows_the_format_and_reads_back(tmp_path):
    report = hand_made()
    assert validate(report) is report
    path = tmp_path / "ref.json"
    path.write_text(json.dumps(report))
    assert load_reference(path) == report


def test_an_absent_file_is_none_and_the_default_path_is_the_books():
    from pathlib import Path

    from lessonlib.bench.cli import parser

    assert load_reference("/nonexistent/reference_gpu.json") is None
    # chapters execute in book/, the command line runs at the repository's root: both must read one file
    assert Path("book") / reference.DEFAULT_PATH == parser().parse_args(["claims"]).file


def _broken():
    """(name, change to the hand-made report, text the error must contain)."""
    def drop(*path):
        def f(r):
            d = r
            for k in path[:-1]:
                d = d[k]
            del d[path[-1]]
        return f

    def put(value, *path):
        def f(r):
            d = r
            for k in path[:-1]:
                d = d[k]
            d[path[-1]] = value
        return f

    return [
        ("no driver", drop("provenance", "driver"), "provenance: 'driver' is missing"),
        ("driver as a number", put(580, "provenance", "driver"), "provenance.driver: 580 is not a non-empty string"),
        ("a date without a time", put("2026-01-02", "provenance", "date"),
         "provenance.date: '2026-01-02' is not a date like"),
        ("a lecture row missing", drop("matmul", "gpu", AS_LECTURED_TORCH), f"matmul.gpu: {AS_LECTURED_TORCH!r} is missing"),
        ("a negative time", put(-1.0, "matmul", "gpu", "tiled kernel", "median_s"),
         "matmul.gpu.tiled kernel.median_s: -1.0 must be > 0"),
        ("a NaN median", put(float("nan"), "matmul", "gpu", "tiled kernel", "median_s"),
         "matmul.gpu.tiled kernel.median_s: nan is not a finite number"),
        ("an infinite median", put(float("inf"), "meanshift", "cpu", "CPU, loop (as lectured)", "median_s"),
         "meanshift.cpu.CPU, loop (as lectured).median_s: inf is not a finite number"),
        ("a NaN in a cluster row", put(float("nan"), "cluster", 0, "median (s)"),
         "cluster[0].median (s): nan is not a finite number"),
        ("samples as a float", put(2.5, "meanshift", "gpu", "GPU, bs = 5", "samples"),
         "meanshift.gpu.GPU, bs = 5.samples: 2.5 is not an int >= 1"),
        ("an unknown top-level key", put(1, "extra"), "the top level: 'extra' is not a key this format has"),
        ("another format", put("something-else", "format"), "format: 'lessonlib-gpu-reference' was expected"),
        ("version 2", put(2, "version"), "version: 1 was expected, got 2"),
        ("cluster rows not a list", put({"a": 1}, "cluster"), "cluster: dict is not a list"),
        ("a cluster row without its device", drop("cluster", 0, "device"), "cluster[0]: 'device' is missing"),
        ("cuBLAS missing", drop("square_matmul", "GFLOP/s", "cuBLAS (TF32 off)"),
         "square_matmul.GFLOP/s: 'cuBLAS (TF32 off)' is missing"),
        ("a bool for a number", put(True, "device_copy_GBps"), "device_copy_GBps: True is not a finite number"),
        ("a three-part shape", put([[1, 2], [2, 3], [3, 4]], "matmul", "shape"),
         "matmul.shape: [[1, 2], [2, 3], [3, 4]] is not two [rows, columns] pairs"),
        ("inner sizes that differ", put([[50000, 784], [785, 10]], "matmul", "shape"),
         "matmul.shape: [[50000, 784], [785, 10]]: the inner sizes 784 and 785 differ"),
    ]


@pytest.mark.parametrize("name,change,message", _broken(), ids=[b[0] for b in _broken()])
def test_a_broken_report_is_refused_with_what_is_wrong_and_where(tmp_path, name, change, message):
    report = hand_made()
    change(report)
    path = tmp_path / "ref.json"
    with pytest.raises(ReferenceFormatError) as err:  # refused before it is written
        reference.write_reference(report, path)
    assert message in str(err.value) and not path.exists(), str(err.value)
    assert isinstance(err.value, ValueError)
    if "NaN" not in name and "infinite" not in name:  # (JSON has no NaN: json.loads refuses those itself)
        path.write_text(json.dumps(report))
        with pytest.raises(ReferenceFormatError) as err:
            load_reference(path)
        assert str(path) in str(err.value) and message in str(err.value), str(err.value)


def test_not_json_and_nan_are_refused(tmp_path):
    path = tmp_path / "ref.json"
    path.write_text("{not json")
    with pytest.raises(ReferenceFormatError, match="not JSON"):
        load_reference(path)
    path.write_text(json.dumps(hand_made()).replace("3900.0", "NaN"))
    with pytest.raises(ReferenceFormatError, match="NaN is not a number JSON allows"):
        load_reference(path)


def test_validate_leaves_the_report_unchanged_and_checks_its_arguments():
    report = hand_made()
    before = copy.deepcopy(report)
    assert validate(report) is report and report == before
    with pytest.raises(TypeError, match="source must be a str"):
        validate(report, source=3)
    with pytest.raises(TypeError, match="path must be a str or a pathlib.Path"):
        load_reference(3)


def test_write_reference_checks_before_writing(tmp_path):
    path = tmp_path / "sub" / "ref.json"
    bad = hand_made()
    del bad["provenance"]
    with pytest.raises(ReferenceFormatError, match="'provenance' is missing"):
        reference.write_reference(bad, path)
    assert not path.exists()
    assert reference.write_reference(hand_made(), path) == path
    assert load_reference(path) == hand_made()


@pytest.mark.parametrize("part", reference.PARTS)
def test_every_reference_table_is_labelled_with_the_device_and_date(part):
    table = reference.reference_table(hand_made(), part)
    assert table.caption.count(LABEL) == 1
    assert "Test GPU 80GB" in table.caption and "2026-01-02 03:04 UTC" in table.caption
    assert "driver 580.65.06" in table.caption and "python3 -m lessonlib.bench.check" in table.caption
    assert LABEL in table._repr_html_()


def test_the_matmul_reference_puts_each_lecture_figure_beside_its_like_for_like_row():
    frame = reference.reference_table(hand_made(), "matmul").frame
    lecture = frame["lecture (2022, its own GPU)"]
    assert lecture[AS_LECTURED_KERNEL] == "3.61 ms (notebook 01_matmul)"
    assert lecture[AS_LECTURED_TORCH] == "458 µs (notebook 01_matmul)"
    assert (lecture.drop([AS_LECTURED_KERNEL, AS_LECTURED_TORCH]) == "").all()  # no figure beside the other rows
    assert list(frame.index) == list(GPU_MATMUL_ROWS) and frame.loc[AS_LECTURED_KERNEL, "median"] == "3.61 ms"


def test_reference_table_checks_its_arguments():
    with pytest.raises(ValueError, match="part must be one of"):
        reference.reference_table(hand_made(), "everything")
    with pytest.raises(TypeError, match="ref must be a dict"):
        reference.reference_table([], "matmul")
    with pytest.raises(ReferenceFormatError):
        reference.reference_table({"format": "x"}, "matmul")


def test_the_claims_part_judges_every_claim_on_the_reference():
    table = reference.reference_table(hand_made(), "claims")
    assert list(table.frame.columns) == ["the lecture said", "the lecture's figures", "reference GPU"]
    assert table.frame["reference GPU"].str.startswith("held: ").all()  # the lecture's own figures hold its claims


def test_cli_claims_prints_one_line_per_claim(tmp_path, capsys):
    path = tmp_path / "ref.json"
    assert main(["claims", str(path)]) == 2
    assert "no reference file" in capsys.readouterr().err
    path.write_text(json.dumps(hand_made()))
    assert main(["claims", str(path)]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if ": held: " in line or ": did not hold: " in line]
    assert len(lines) == 5
    path.write_text("[]")
    assert main(["claims", str(path)]) == 2
    assert "the top level: list is not an object" in capsys.readouterr().err
