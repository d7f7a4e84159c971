"""Reproducible outputs: every page with code, executed again from scratch, gives the build's outputs.

All but the measurements (cells tagged 'timing', left out of the fresh run unless
a later cell needs what they compute) and the cells that describe the machine.
Each page is one test, run in a fresh kernel.
"""

from __future__ import annotations

import ast

import nbformat
import pytest
from conftest import ROOT, code_pages

pytestmark = pytest.mark.book


def _comparable(nb) -> list:
    """Outputs of every cell not tagged 'timing' or 'machine', without run counters.

    'timing' cells print measured times; 'machine' cells describe the build
    machine (its name, the time of the build, nvidia-smi), which differs
    between two runs on a GPU runner by design.
    """
    cells = []
    for cell in nb.cells:
        if cell.cell_type != "code" or {"timing", "machine"} & set(cell.metadata.get("tags", [])):
            continue
        outs = []
        for out in cell.get("outputs", []):
            out = {k: out[k] for k in ("output_type", "name", "text", "data", "ename", "evalue") if k in out}
            if outs and out["output_type"] == "stream" and outs[-1]["output_type"] == "stream" \
                    and outs[-1]["name"] == out["name"]:
                outs[-1]["text"] += out["text"]  # how a stream is split into messages is timing, not output
            else:
                outs.append(out)
        cells.append((cell.source, outs))
    return cells


CODE_PAGES = code_pages()


def _built_notebook(page: str):
    """The outputs the strict build published for ``page``: from the execution cache, or as executed."""
    from jupyter_cache import get_cache
    from myst_nb.core.read import read_myst_markdown_notebook

    path = ROOT / f"{page}.md"
    nb = read_myst_markdown_notebook(path.read_text(), path=path)
    (cache_dir,) = (ROOT / "_build/.jupyter_cache").iterdir()
    cache = get_cache(cache_dir)
    try:
        record = cache.match_cache_notebook(nb)
    except KeyError:  # a page that always executes (the status page) is never cached
        built = nbformat.read(ROOT / "_build/jupyter_execute" / f"{page}.ipynb", as_version=4)
        assert any(c.get("outputs") for c in built.cells if c.cell_type == "code"), f"{page}: no outputs"
        return nb, built, 0.0
    return nb, cache.get_cache_bundle(record.pk).nb, record.data.get("execution_seconds") or 0.0


def _names(source: str) -> tuple[set[str], set[str]]:
    """The names a cell's code binds and the names it reads (IPython ``%``/``!`` lines read as nothing)."""
    tree = ast.parse("\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))))
    bound, read = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
    return bound, read


def without_measurements(cells: list) -> list:
    """``cells`` less each 'timing' cell that binds no name a later cell kept reads.

    A timing cell's outputs are measurements, never compared; what a fresh run
    must reproduce are the other outputs, and a measurement that one of them
    depended on (through a name, the random state, a setting) would show as a
    difference. A timing cell that also computes something later cells use
    (a trained model, say) stays.
    """
    needed, kept = set(), []
    for cell in reversed(cells):
        if cell.cell_type == "code":
            bound, read = _names(cell.source)
            if "timing" in cell.metadata.get("tags", []) and not bound & needed:
                continue
            needed |= read
        kept.append(cell)
    return kept[::-1]


def _fresh_run(page: str):
    """``page`` executed again from scratch, in a fresh kernel, without its measurements."""
    from myst_nb.core.read import read_myst_markdown_notebook
    from nbclient import NotebookClient

    path = ROOT / f"{page}.md"
    nb = nbformat.from_dict(read_myst_markdown_notebook(path.read_text(), path=path))
    nb.cells = without_measurements(nb.cells)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    return nb


@pytest.mark.parametrize("page", CODE_PAGES)
def test_fresh_run_reproduces_the_build(built_site, page):
    """Run the page again from scratch, without its measurements: every non-timing output equals the built one."""
    fresh, built = _fresh_run(page), _built_notebook(page)[1]
    for (source, new), (_, old) in zip(_comparable(fresh), _comparable(built), strict=True):
        assert new == old, f"outputs differ in the cell starting {source.splitlines()[0]!r}:\n{new!r:.1500}\n!=\n{old!r:.1500}"


def test_fresh_runs_leave_out_only_the_measurements_nothing_needs():
    cell = nbformat.v4.new_code_cell
    cells = [
        cell("import torch\nx = torch.ones(3)"),
        cell("model, t = train(x)\nprint(t)", metadata={"tags": ["timing"]}),  # model is read below: kept
        cell("%%time\nslow = bench(x)\nprint(slow)", metadata={"tags": ["timing"]}),  # read only by a timing cell
        cell("from lessonlib import timing as tm\nprint(tm, slow)", metadata={"tags": ["timing", "remove-cell"]}),
        nbformat.v4.new_markdown_cell("The model: {glue:text}`t`"),
        cell("print(model(x))"),
    ]
    kept = without_measurements(cells)
    assert [c.source.split("\n")[0] for c in kept] == ["import torch", "model, t = train(x)",
                                                       "The model: {glue:text}`t`", "print(model(x))"]
    assert without_measurements(kept) == kept and len(cells) == 6  # the input list is not changed
    assert _comparable(nbformat.v4.new_notebook(cells=kept)) == _comparable(nbformat.v4.new_notebook(cells=cells))


def test_determinism_check_leaves_out_machine_cells_and_nothing_else():
    """Two runs on a GPU runner print different nvidia-smi lines; only cells tagged 'machine' may differ."""
    def notebook(smi: str, result: str):
        nb = nbformat.v4.new_notebook()
        machine = nbformat.v4.new_code_cell("print(nvidia_smi())", metadata={"tags": ["machine"]})
        machine.outputs = [nbformat.v4.new_output("stream", name="stdout", text=smi)]
        plain = nbformat.v4.new_code_cell("print(answer)")
        plain.outputs = [nbformat.v4.new_output("stream", name="stdout", text=result)]
        nb.cells = [machine, plain]
        return nb

    first = notebook("NVIDIA H200, 580.65.06, 143771 MiB, 31 C\n", "42\n")
    later = notebook("NVIDIA H200, 580.65.06, 143771 MiB, 35 C\n", "42\n")
    assert _comparable(first) == _comparable(later)
    assert _comparable(first) != _comparable(notebook("NVIDIA H200, 580.65.06, 143771 MiB, 31 C\n", "43\n"))
