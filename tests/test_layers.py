"""lessonlib's modules sit in layers: nothing imports upward, and no imports go round in a cycle.

Every import counts, the ones inside functions too, since a function-level
import is how a cycle hides.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "lessonlib"

# The layers, lowest first. A module may import its own layer (without a cycle) or a lower one.
LAYERS = {
    "base": {"__init__", "_checks", "_deps", "hardware", "lecture"},
    "lesson": {"matmul", "kernels", "meanshift", "cluster", "lsh", "calculus", "inverse", "anim", "data"},
    "tools": {"timing", "ptx", "book"},
    "top": {"bench"},
}
RANK = {name: rank for rank, names in enumerate(LAYERS.values()) for name in names}


def imports(root: Path) -> dict[str, set[str]]:
    """``{module: the lessonlib modules it imports}``, names relative to the package (``"bench.claims"``)."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        name = path.relative_to(root).with_suffix("").as_posix().replace("/", ".")
        modules[name.removesuffix(".__init__")] = path
    graph = {}
    for name, path in modules.items():
        package = name.split(".")[:-1] if path.name != "__init__.py" or name == "__init__" else name.split(".")
        found = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets = []
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package[: len(package) - node.level + 1]
                head = base + (node.module.split(".") if node.module else [])
                targets = [".".join(head + [a.name]) for a in node.names] + [".".join(head)]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lessonlib"):
                head = node.module.split(".")[1:]
                targets = [".".join(head + [a.name]) for a in node.names] + [".".join(head)]
            elif isinstance(node, ast.Import):
                targets = [a.name.split(".", 1)[1] for a in node.names if a.name.startswith("lessonlib.")]
            found |= {t for t in targets if t in modules and t != name}
        graph[name] = found
    return graph


def _layer(module: str) -> int:
    return RANK[module.split(".")[0]]


def upward(graph) -> list[str]:
    return sorted(f"{m} imports {t}" for m, ts in graph.items() for t in ts if _layer(t) > _layer(m))


def cycles(graph) -> list[list[str]]:
    """Every cycle found by a depth-first search, each as the path that closes it."""
    found, state = [], {}

    def visit(m, path):
        state[m] = "open"
        for t in sorted(graph.get(m, ())):
            if state.get(t) == "open":
                found.append(path[path.index(t):] + [t])
            elif t not in state:
                visit(t, path + [t])
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    return found


def test_every_module_has_a_layer():
    graph = imports(ROOT)
    assert len(graph) > 20
    assert all(m.split(".")[0] in RANK for m in graph), sorted(m for m in graph if m.split(".")[0] not in RANK)


def test_no_module_imports_upward():
    assert upward(imports(ROOT)) == []


def test_no_import_cycle():
    assert cycles(imports(ROOT)) == []


@pytest.mark.parametrize("where, text, problem", [
    ("kernels.py", "def f():\n    from .ptx import ARCHS\n", "upward"),
    ("hardware.py", "from . import timing\n", "upward"),
    ("timing.py", "def f():\n    import lessonlib.bench.claims\n", "upward"),
    ("bench/claims.py", "def f():\n    from .reference import validate\n", "cycle"),
    ("matmul.py", "from .meanshift import gaussian\n", "cycle"),
])
def test_a_planted_import_is_caught(tmp_path, where, text, problem):
    root = tmp_path / "lessonlib"
    files = {
        "__init__.py": "", "_checks.py": "", "hardware.py": "", "timing.py": "from . import _checks, hardware\n",
        "kernels.py": "from . import _checks, hardware\n", "ptx.py": "def f():\n    from . import kernels\n",
        "matmul.py": "", "meanshift.py": "from .matmul import dist_b\n",
        "bench/__init__.py": "", "bench/claims.py": "from ..timing import format_seconds\n",
        "bench/reference.py": "from .claims import GPU_CLAIMS\nfrom .. import _checks\n",
    }
    for rel, body in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(body)
    graph = imports(root)
    assert upward(graph) == [] and cycles(graph) == []  # the clean tree passes
    (root / where).write_text((root / where).read_text() + text)
    graph = imports(root)
    if problem == "upward":
        assert upward(graph)
    else:
        assert cycles(graph) and not upward(graph)
