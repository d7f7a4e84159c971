"""book/_ext/reader_cell.py: the first cell of a downloaded notebook decides what to install.

pip is replaced by a recorder here; tests/test_install.py runs the cell for real,
in a venv with no checkout.
"""

from __future__ import annotations

import json
import tomllib
from importlib import metadata

import pytest
from conftest import ROOT, book_ext


rc = book_ext("reader_cell")


def _requires() -> list[str]:
    """lessonlib's requirements as its wheel's metadata lists them (extras as markers)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return list(project["dependencies"]) + [f'{r}; extra == "{group}"'
                                            for group, reqs in project["optional-dependencies"].items() for r in reqs]


def test_the_cell_needs_only_the_standard_library():
    import ast
    import sys

    tree = ast.parse((ROOT / "book/_ext/reader_cell.py").read_text())
    names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert names and names <= set(sys.stdlib_module_names), names - set(sys.stdlib_module_names)
    assert "__future__" not in names  # a future import in a cell would stay on for the notebook's later cells


def test_in_checkout(tmp_path):
    assert rc.in_checkout(ROOT / "book")
    assert not rc.in_checkout(tmp_path)
    for name in ("_toc.yml", "pyproject.toml"):
        (tmp_path / name).write_text("")
    (tmp_path / "deep" / "er").mkdir(parents=True)
    assert not rc.in_checkout(tmp_path / "deep" / "er")  # no lessonlib/ beside them
    (tmp_path / "lessonlib").mkdir()
    assert rc.in_checkout(tmp_path / "deep" / "er")


@pytest.mark.parametrize("cuda, extra", [((13, 0), "gpu"), ((13, 2), "gpu"), ((12, 4), "gpu-cu12"), ((12, 0), "gpu-cu12"),
                                         ((11, 8), None), (None, None)])
def test_gpu_extra_follows_the_drivers_cuda_version(cuda, extra):
    assert rc.gpu_extra(cuda) == extra


def test_the_gpu_extras_bring_numba_cuda_for_their_cuda():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert [r.split("[")[:2] for r in extras["gpu"]] == [["numba-cuda", "cu13]>=0.30.4,<0.31"]]
    assert [r.split("[")[:2] for r in extras["gpu-cu12"]] == [["numba-cuda", "cu12]>=0.30.4,<0.31"]]


def test_driver_version_from_nvidia_smi_when_libcuda_is_missing(monkeypatch):
    def no_lib(name):
        raise OSError(name)

    class Done:
        stdout = "| NVIDIA-SMI 550.54.15    Driver Version: 550.54.15    CUDA Version: 12.4     |"

    monkeypatch.setattr(rc.ctypes, "CDLL", no_lib)
    monkeypatch.setattr(rc.subprocess, "run", lambda *a, **k: Done())
    assert rc.driver_cuda_version() == (12, 4)
    Done.stdout = "no devices"
    assert rc.driver_cuda_version() is None

    def missing(*a, **k):
        raise FileNotFoundError("nvidia-smi")

    monkeypatch.setattr(rc.subprocess, "run", missing)
    assert rc.driver_cuda_version() is None


def test_dependencies_leave_out_the_present_torch_and_other_extras():
    core = rc.dependencies(_requires(), None, keep_torch=True)
    names = [r.split("<")[0].split(">")[0].split("[")[0] for r in core]
    assert "torch" not in names and {"numpy", "numba", "numba-cuda", "pandas", "matplotlib"} <= set(names)
    assert not any("extra" in r or "scikit-learn" in r or "jupyter-book" in r for r in core)
    assert any(r.startswith("torch>=") for r in rc.dependencies(_requires(), None, keep_torch=False))
    gpu = rc.dependencies(_requires(), "gpu", keep_torch=True)
    assert set(gpu) - set(core) == {"numba-cuda[cu13]>=0.30.4,<0.31"}
    assert set(rc.dependencies(_requires(), "gpu-cu12", keep_torch=True)) - set(core) == {"numba-cuda[cu12]>=0.30.4,<0.31"}


@pytest.fixture
def pip_calls(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(rc, "_pip", lambda *args: calls.append(list(args)))
    monkeypatch.chdir(tmp_path)  # no checkout here
    return calls


def test_in_a_checkout_nothing_is_installed(pip_calls, monkeypatch):
    monkeypatch.chdir(ROOT / "book")
    assert rc.prepare("lessonlib @ git+https://github.com/o/r.git@abc", "abc") == \
        "in a checkout of the book: nothing to install"
    assert pip_calls == []


def test_an_installed_lessonlib_from_the_same_commit_stays(pip_calls, monkeypatch):
    monkeypatch.setattr(rc, "installed_commit", lambda: "abc")
    assert "already installed" in rc.prepare("lessonlib @ git+https://github.com/o/r.git@abc", "abc")
    assert pip_calls == []


def test_outside_a_checkout_lessonlib_goes_in_without_its_torch(pip_calls, monkeypatch):
    """Another commit's lessonlib is replaced; the present torch is a constraint; a CUDA 12 driver gets cu12."""
    captured = {}

    def record(*args):
        if "-c" in args:
            captured["constraints"] = open(args[args.index("-c") + 1]).read()
        pip_calls.append(list(args))

    monkeypatch.setattr(rc, "_pip", record)
    monkeypatch.setattr(rc, "installed_commit", lambda: "old")
    monkeypatch.setattr(rc, "driver_cuda_version", lambda: (12, 4))
    monkeypatch.setattr(rc.metadata, "requires", lambda name: _requires())
    source = "lessonlib @ git+https://github.com/o/r.git@abc"
    said = rc.prepare(source, "abc")
    first, second = pip_calls
    assert first == ["--no-deps", "--force-reinstall", source]
    assert captured["constraints"] == f"torch=={metadata.version('torch')}\n"
    assert "numba-cuda[cu12]>=0.30.4,<0.31" in second and not any(a.startswith("torch") for a in second)
    assert f"torch {metadata.version('torch')} kept" in said and "CUDA 12.4 (gpu-cu12 extra)" in said


def test_no_source_and_no_lessonlib_is_a_clear_error(pip_calls, monkeypatch):
    monkeypatch.setattr(rc.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(RuntimeError, match="built with no repository"):
        rc.prepare(None)
    assert pip_calls == []


def test_installed_commit_reads_pips_record(monkeypatch, tmp_path):
    info = tmp_path / "lessonlib-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lessonlib\nVersion: 0.1.0\n")
    (info / "direct_url.json").write_text(json.dumps({"url": "https://github.com/o/r.git",
                                                      "vcs_info": {"vcs": "git", "commit_id": "abc123"}}))
    monkeypatch.setattr(rc.metadata, "distribution", lambda name: metadata.PathDistribution(info))
    assert rc.installed_commit() == "abc123"
    (info / "direct_url.json").unlink()  # installed from a wheel or a folder: no commit recorded
    assert rc.installed_commit() is None


@pytest.mark.parametrize("version, outside", [("2.11.0", False), ("2.13.0+cpu", False), ("2.12.1+cu126", False),
                                              ("2.9.0+cu126", True), ("2.10.99", True), ("3.0.0", True)])
def test_a_kept_torch_outside_the_range_is_named(version, outside):
    spec = rc.outside_range(_requires(), "torch", version)
    assert (spec is not None) == outside
    if outside:
        assert spec == ">=2.11,<3"
    # the same from the wheel's metadata, where setuptools writes the bounds the other way round
    metadata_form = [r.replace("torch>=2.11,<3", "torch<3,>=2.11") for r in _requires()]
    assert (rc.outside_range(metadata_form, "torch", version) == ("<3,>=2.11" if outside else None))


def test_outside_range_reads_only_that_distribution():
    assert rc.outside_range(["torchvision>=0.30", "torch>=2.11,<3"], "torch", "2.12.0") is None
    assert rc.outside_range(["torch>=2.11,<3; extra == 'x'"], "torch", "1.0") is None
