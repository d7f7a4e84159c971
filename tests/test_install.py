"""lessonlib as a reader installs it: its wheel beside another torch, and a downloaded notebook outside the repository.

- The wheel goes into a throwaway venv that already holds a torch (a minimal
  distribution with only its metadata, as fast as it is offline): pip must keep
  a torch inside lessonlib's range, even with a newer one on offer, and replace one
  outside it.
- A chapter's notebook, as the site offers it for download (its first cell from
  ``book/_ext/reader_cell.py``), is executed with nbclient in an empty folder by a
  venv whose lessonlib is nowhere but what that first cell installs from the wheel.
  Every cell must pass; a planted relative path must fail there.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import venv
import zipfile
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT, book_ext
from packaging.requirements import Requirement

CHAPTER = "book/calculus"  # the cheapest lesson chapter to run


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def lessonlib_wheel(tmp_path_factory) -> Path:
    """lessonlib's wheel, built from a copy of the package (the checkout gets no build folders)."""
    src, out = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("wheel")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "lessonlib", src / "lessonlib", ignore=shutil.ignore_patterns("__pycache__"))
    # With this venv's setuptools if it can build a wheel; if not (none, as in Python 3.12's venvs, or
    # 3.11's bundled 65.5 without the wheel package), pip fetches the build-system's setuptools>=68.
    for flags in (["--no-build-isolation"], []):
        proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", *flags, "-w", str(out),
                               str(src)], capture_output=True, text=True, timeout=300, env=_clean_env())
        if proc.returncode == 0:
            break
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (wheel,) = out.glob("lessonlib-*.whl")
    return wheel


# --- The wheel keeps the torch it finds ---------------------------------------------------------

def _core() -> list[Requirement]:
    return [Requirement(r) for r in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]]


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            req = Requirement(line)
            (spec,) = req.specifier
            pins[req.name.lower()] = spec.version
    return pins


def _fake_installed(site: Path, name: str, version: str) -> None:
    """A distribution pip sees as installed: metadata only, no code."""
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "INSTALLER").write_text("pip\n")
    (info / "RECORD").write_text(f"{info.name}/METADATA,,\n{info.name}/INSTALLER,,\n{info.name}/RECORD,,\n")


def _fake_wheel(folder: Path, name: str, version: str) -> Path:
    """A minimal wheel of ``name`` ``version`` (pure Python, one empty module)."""
    dist = f"{name.replace('-', '_')}-{version}"
    files = {
        f"{name.replace('-', '_')}/__init__.py": b"",
        f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist}.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(
        f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}\n"
        for path, data in files.items()) + f"{dist}.dist-info/RECORD,,\n"
    wheel = folder / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for path, data in files.items():
            z.writestr(path, data)
        z.writestr(f"{dist}.dist-info/RECORD", record)
    return wheel


def _installed_torch_after_install(tmp_path: Path, wheel: Path, torch: str) -> tuple[str, str]:
    """Install lessonlib's wheel where ``torch`` (and the other core dependencies) are installed.

    The only other torch on offer is a newer 2.13.0; pip reaches no index and reads
    no configuration. Returns torch's version afterwards and pip's output.
    """
    root = tmp_path / "venv"
    venv.create(root, with_pip=False)
    python = root / "bin" / "python"
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               capture_output=True, text=True, check=True).stdout.strip())
    pins = _pins()
    for req in _core():
        _fake_installed(site, req.name, torch if req.name == "torch" else pins[req.name.lower()])
    offered = tmp_path / "offered"
    offered.mkdir()
    _fake_wheel(offered, "torch", "2.13.0")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-index", "--find-links", str(offered),
         str(wheel)],
        capture_output=True, text=True, timeout=120, env=_clean_env(PIP_CONFIG_FILE=os.devnull),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    version = subprocess.run([python, "-c", "from importlib.metadata import version; print(version('torch'))"],
                             capture_output=True, text=True, check=True, env=_clean_env()).stdout.strip()
    return version, proc.stdout


@pytest.mark.parametrize("torch", ["2.11.0", "2.12.1", "2.99.0"])
def test_the_wheel_keeps_a_supported_torch(tmp_path, lessonlib_wheel, torch):
    kept, log = _installed_torch_after_install(tmp_path, lessonlib_wheel, torch)
    assert kept == torch, log
    assert "Successfully installed lessonlib" in log


@pytest.mark.parametrize("torch", ["2.10.0", "3.0.0"])
def test_the_wheel_replaces_a_torch_outside_its_range(tmp_path, lessonlib_wheel, torch):
    """The same install does replace a torch that lessonlib's range leaves out: the check above can fail."""
    replaced, log = _installed_torch_after_install(tmp_path, lessonlib_wheel, torch)
    assert replaced == "2.13.0", log


# --- A downloaded notebook, run where there is no checkout ---------------------------------------

RUNNER = r"""
import json, sys
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

nb = nbformat.read(sys.argv[1], as_version=4)
error = None
try:
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": sys.argv[2]}}).execute()
except CellExecutionError as exc:
    error = f"{exc.ename}: {exc.evalue}"
nbformat.write(nb, sys.argv[3])
print(json.dumps({"error": error, "python": sys.executable}))
"""


@pytest.fixture(scope="module")
def reader_venv(tmp_path_factory) -> Path:
    """A fresh venv with this venv's packages but no lessonlib (linked, outside it, as system site-packages are).

    pip treats them as installed outside its environment, so it never removes or
    changes them. The editable lessonlib (its ``.pth`` file, finder and metadata)
    is left out, and a kernel spec makes the notebook's kernel this venv's Python.
    """
    tmp = tmp_path_factory.mktemp("reader")
    root, deps = tmp / "venv", tmp / "deps"
    venv.create(root, with_pip=False)
    deps.mkdir()
    here = Path(sysconfig.get_paths()["purelib"])
    for entry in here.iterdir():
        if "lessonlib" in entry.name.lower() or entry.name == "__pycache__":
            continue
        (deps / entry.name).symlink_to(entry.resolve())
    python = root / "bin" / "python"
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "reader-deps.pth").write_text(f"import site; site.addsitedir({str(deps)!r})\n")
    kernels = root / "share" / "jupyter" / "kernels" / "python3"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3", "language": "python"}))
    return root


def _downloaded_notebook(wheel: Path):
    """The chapter's notebook as the site offers it, its first cell installing lessonlib from ``wheel``."""
    from myst_nb.core.read import read_myst_markdown_notebook

    path = ROOT / f"{CHAPTER}.md"
    nb = nbformat.from_dict(read_myst_markdown_notebook(path.read_text(), path=path))
    return book_ext("lessonlib_book").with_reader_cell(nb, "", "", source=str(wheel))


def _run_outside(venv_root: Path, nb, tmp_path: Path) -> tuple[dict, object]:
    """Execute ``nb`` with ``venv_root``'s Python in an empty folder; returns the runner's report and the result."""
    folder = tmp_path / "downloads"
    folder.mkdir()
    notebook = folder / "calculus.ipynb"
    nbformat.write(nb, notebook)
    out = tmp_path / "executed.ipynb"
    env = _clean_env(
        PATH=f"{venv_root / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        JUPYTER_PATH=str(venv_root / "share" / "jupyter"),
        IPYTHONDIR=str(tmp_path / "ipython"),
        PIP_NO_INDEX="1",  # everything lessonlib needs is here already; the wheel is a file
    )
    proc = subprocess.run([str(venv_root / "bin" / "python"), "-c", RUNNER, str(notebook), str(folder), str(out)],
                          capture_output=True, text=True, timeout=900, cwd=folder, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert sorted(p.name for p in folder.iterdir()) == ["calculus.ipynb"], "the run wrote beside the notebook"
    return json.loads(proc.stdout.strip().splitlines()[-1]), nbformat.read(out, as_version=4)


def _text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")


@pytest.mark.book
def test_a_downloaded_chapter_runs_outside_the_repository(reader_venv, lessonlib_wheel, tmp_path):
    nb = _downloaded_notebook(lessonlib_wheel)
    nb.cells.append(nbformat.v4.new_code_cell("import lessonlib, torch\nprint(lessonlib.__file__)\nprint(torch.__file__)"))
    report, done = _run_outside(reader_venv, nb, tmp_path)
    assert report["error"] is None, report
    assert Path(report["python"]).parent == reader_venv / "bin"
    errors = [o for c in done.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    code = [c for c in done.cells if c.cell_type == "code"]
    assert all(c.get("execution_count") for c in code), "a cell did not run"
    first = _text(code[0])
    assert f"installed from {lessonlib_wheel}" in first and "torch " in first and " kept" in first, first
    assert "may not work" not in first  # this venv's torch lies in lessonlib's range
    lessonlib_file, torch_file = _text(code[-1]).split()
    assert Path(lessonlib_file).is_relative_to(reader_venv), lessonlib_file  # the wheel's copy, not the checkout
    assert not Path(lessonlib_file).resolve().is_relative_to(ROOT)
    assert not Path(torch_file).is_relative_to(reader_venv)  # torch was not reinstalled


@pytest.mark.book
def test_a_relative_path_fails_outside_the_repository(reader_venv, lessonlib_wheel, tmp_path):
    """A cell that reads a file beside the chapter's source works in the checkout only: the run above would catch it."""
    assert (ROOT / "book" / "calculus.md").is_file()  # where chapters execute in a checkout (book/), it is there
    nb = _downloaded_notebook(lessonlib_wheel)
    reader = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    nb.cells.insert(reader + 1, nbformat.v4.new_code_cell('from pathlib import Path\nPath("calculus.md").read_text()[:10]'))
    report, done = _run_outside(reader_venv, nb, tmp_path)
    assert report["error"] and report["error"].startswith("FileNotFoundError"), report
    assert "calculus.md" in report["error"]
