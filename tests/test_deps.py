"""lessonlib with only its core dependencies: every module imports, and a missing extra is named.

A fresh virtual environment gets exactly the distributions that pyproject's
core ``dependencies`` need (their closure, read from the installed metadata),
linked from this venv rather than downloaded again, plus lessonlib itself.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
import venv
from importlib import metadata
from pathlib import Path

import pytest
from conftest import ROOT
from packaging.requirements import Requirement

from lessonlib._deps import require

MODULES = sorted(p.stem for p in (ROOT / "lessonlib").glob("*.py") if p.stem != "__init__")


def _core_closure() -> set[str]:
    """Distribution names that the core dependencies need, transitively (no extras)."""
    core = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    env = {"extra": ""}
    seen, stack = set(), [Requirement(r).name for r in core]
    while stack:
        name = stack.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in seen:
            continue
        seen.add(key)
        for text in metadata.distribution(name).requires or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate(env):
                stack.append(req.name)
    return seen


@pytest.fixture(scope="module")
def core_venv(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("core-venv")
    venv.create(root, with_pip=False)
    python = root / "bin" / "python"
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               capture_output=True, text=True, check=True).stdout.strip())
    for name in _core_closure():
        dist = metadata.distribution(name)
        base = Path(dist.locate_file(""))
        tops = {Path(str(f)).parts[0] for f in dist.files or []}
        for top in tops:
            src = base / top
            if top in ("..", "bin") or not src.exists() or (site / top).exists():
                continue
            (site / top).symlink_to(src)
    (site / "lessonlib-checkout.pth").write_text(str(ROOT) + "\n")
    return python


def _run(python: Path, code: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["NUMBA_ENABLE_CUDASIM"] = "1"
    return subprocess.run([str(python), "-c", code], capture_output=True, text=True, env=env, timeout=300,
                          cwd=str(ROOT.parent))


def test_core_install_has_no_extra(core_venv):
    proc = _run(core_venv, "import importlib.util as u; print([m for m in ('sklearn', 'tqdm', 'IPython', 'pytest', "
                           "'myst_nb') if u.find_spec(m)])")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"  # the environment really is core-only


def test_every_module_imports_with_the_core_dependencies(core_venv):
    code = "import importlib\n" + "".join(f"importlib.import_module('lessonlib.{m}')\n" for m in MODULES) + "print('ok')"
    proc = _run(core_venv, code)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]


def test_a_missing_extra_is_named(core_venv):
    proc = _run(core_venv, "from lessonlib._deps import require\nrequire('sklearn.cluster', 'bench', 'comparing with scikit-learn')")
    assert proc.returncode != 0
    assert "comparing with scikit-learn needs sklearn" in proc.stderr
    assert "pip install 'lessonlib[bench]'" in proc.stderr


def test_require_imports_what_is_there_and_keeps_other_errors():
    assert require("json", "bench", "x").dumps([]) == "[]"
    with pytest.raises(ModuleNotFoundError, match=r"testing needs no_such_pkg_xyz.*lessonlib\[test\]"):
        require("no_such_pkg_xyz.sub", "test", "testing")


def test_every_extra_is_pinned_in_requirements():
    """requirements.txt pins every distribution that an extra names (the book and tests use them all)."""
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    pinned = {Requirement(line).name.lower() for line in (ROOT / "requirements.txt").read_text().splitlines()
              if line.strip() and not line.startswith("#")}
    missing = {Requirement(r).name.lower() for group, reqs in extras.items() if group != "gpu" for r in reqs} \
        - pinned - {"lessonlib"}
    assert not missing, f"extras not pinned in requirements.txt: {sorted(missing)}"


def _requirement_groups() -> dict[str, list[Requirement]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    groups = {"core": [Requirement(r) for r in project["dependencies"]]}
    groups.update({g: [Requirement(r) for r in reqs] for g, reqs in project["optional-dependencies"].items()
                   if g.startswith("gpu")})
    return groups


def _bounds(req: Requirement) -> tuple[set[str], set[str]]:
    ops = {s.operator for s in req.specifier}
    return ops & {">=", ">"}, ops & {"<", "<="}


def test_core_and_gpu_dependencies_are_ranges_not_pins():
    """A library declares ranges (so it installs beside the torch a reader has); requirements.txt pins the book."""
    for group, reqs in _requirement_groups().items():
        assert reqs, group
        for req in reqs:
            ops = {s.operator for s in req.specifier}
            assert not ops & {"==", "===", "~="}, f"{group}: {req} is pinned to one release"
            lower, upper = _bounds(req)
            assert lower and upper, f"{group}: {req} needs a floor and an upper bound"


def test_the_ranges_hold_the_pinned_and_the_tested_releases():
    """requirements.txt's pins lie in the ranges, and torch's floor is 2.11, the oldest torch the tests ran under."""
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            req = Requirement(line)
            pins[req.name.lower()] = next(iter(req.specifier)).version
    for req in _requirement_groups()["core"]:
        assert req.specifier.contains(pins[req.name.lower()]), f"requirements.txt pins {req.name} outside {req}"
    (torch,) = [r for r in _requirement_groups()["core"] if r.name == "torch"]
    assert torch.specifier.contains("2.11.0") and not torch.specifier.contains("2.10.99")
    assert not torch.specifier.contains("3.0.0")
