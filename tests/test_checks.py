"""The shared input checks, and a sweep of bad input over the public API.

The sweep's property: called with one argument replaced by junk, a public
function either accepts it (a reasonable alternative, such as a list for a
tensor) or raises ``TypeError``/``ValueError`` whose message names that
argument. Nothing else may come out (no ``AttributeError`` from deep inside
torch), and the other inputs are not mutated.
"""

from __future__ import annotations

import copy
import math
from functools import partial

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lessonlib import _checks, book, calculus, cluster, data, inverse, kernels, lsh, matmul, meanshift, timing
from lessonlib.bench import matmul as bench_matmul


def test_integer_rule():
    assert _checks.integer("n", np.int64(3), low=1) == 3
    for bad in (2.5, "3", True, None):
        with pytest.raises(TypeError, match="n must be an int"):
            _checks.integer("n", bad)
    with pytest.raises(ValueError, match=r"n must be an int in \[1, 5\], got 9"):
        _checks.integer("n", 9, low=1, high=5)
    with pytest.raises(ValueError, match="n must be an int <= 5"):
        _checks.integer("n", 9, high=5)


def test_real_rule():
    assert _checks.real("x", 2) == 2.0
    with pytest.raises(TypeError, match="x must be a number, got None"):
        _checks.real("x", None)
    with pytest.raises(TypeError, match="x must be a number, got list"):
        _checks.real("x", [1.0])
    with pytest.raises(ValueError, match="x must be finite"):
        _checks.real("x", math.inf)
    with pytest.raises(ValueError, match="x must be a positive number, got 0"):  # one wording: positive() says it too
        _checks.real("x", 0, low=0, strict=True)
    with pytest.raises(ValueError, match="x must be a positive number, got -1.5"):
        _checks.positive("x", -1.5)
    with pytest.raises(ValueError, match="x must be a number > 1, got 1.0"):
        _checks.real("x", 1.0, low=1, strict=True)
    assert _checks.real("x", 0, low=0) == 0.0


def test_seed_and_text_rules():
    assert _checks.seed("seed", 0) == 0 and _checks.seed("seed", 2**32 - 1) == 2**32 - 1
    with pytest.raises(ValueError, match="random_state must be an int in"):
        _checks.seed("random_state", 2**32)
    with pytest.raises(TypeError, match="caption must be a str"):
        _checks.text("caption", 3)
    with pytest.raises(ValueError, match="caption must not be empty"):
        _checks.text("caption", "  ")
    assert _checks.text("caption", "", empty=True) == ""


def test_matrix_and_matmul_operand_rules():
    a, b = _checks.matmul_operands(np.ones((2, 3), dtype=np.float32), [[1.0], [2.0], [3.0]], convert=True)
    assert isinstance(a, torch.Tensor) and a.shape == (2, 3) and b.shape == (3, 1)
    with pytest.raises(ValueError, match="a and b must share a dtype"):
        _checks.matmul_operands(np.ones((2, 3)), [[1.0], [2.0], [3.0]], convert=True)
    with pytest.raises(TypeError, match="x must be a torch.Tensor, got ndarray"):
        _checks.matrix("x", np.ones((2, 2)))  # no conversion unless asked
    with pytest.raises(ValueError, match=r"x.shape\[1\] \(3\) must equal w.shape\[0\] \(2\)"):
        _checks.matmul_operands(torch.ones(2, 3), torch.ones(2, 2), ("x", "w"))
    assert torch.isnan(_checks.matrix("x", torch.full((2, 2), math.nan))).all()  # NaN is float arithmetic's business


def test_method_and_choice_rules():
    cpu = torch.zeros(1, 1)
    assert _checks.method("method", "auto", cpu) == "fused" and _checks.method("method", "tensor", cpu) == "tensor"
    with pytest.raises(TypeError, match="method must be a str"):
        _checks.method("method", 1, cpu)
    with pytest.raises(ValueError, match="how must be 'auto', 'tensor' or 'fused', got 'fast'"):
        _checks.method("how", "fast", cpu)
    assert _checks.choice("kernel", "b", ("a", "b")) == "b"
    with pytest.raises(TypeError, match="kernel must be a str, one of 'a', 'b'; got None"):
        _checks.choice("kernel", None, ("a", "b"))
    with pytest.raises(ValueError, match="kernel must be one of 'a', 'b'; got 'c'"):
        _checks.choice("kernel", "c", ("a", "b"))


JUNK = [None, "x", "", 2.5, -1, 0, True, math.nan, math.inf, [], [1, 2], {}, object(),
        np.zeros(0), np.ones((2, 2)), torch.empty(0), torch.zeros(3, dtype=torch.int64),
        torch.full((2, 2), math.nan)]


def _frame():
    return pd.DataFrame({"a": [1.0, 2.0]})


def _timings():
    return [timing.Timing("a", (2.0,), 1), timing.Timing("b", (1.0,), 1)]


# function, valid keyword arguments (made fresh per call), the arguments to replace with junk
CASES = [
    (timing.format_seconds, lambda: {"s": 1.5}, ["s"]),
    (timing.format_ratio, lambda: {"x": 2.0}, ["x"]),
    (timing.timed, lambda: {"fn": math.pi.__abs__}, ["fn"]),
    (timing.bench, lambda: {"fn": math.pi.__abs__, "name": "s", "warmup": 1, "repeat": 1, "number": 1, "min_time": 0.001,
                            "max_time": 1.0, "sync": "block"},
     ["fn", "name", "warmup", "repeat", "number", "min_time", "max_time", "sync"]),
    (timing.ladder, lambda: {"timings": _timings(), "flops": 1.0, "nbytes": 1.0, "work": None, "work_unit": "row",
                             "notes": None, "caption": "c"},
     ["timings", "flops", "nbytes", "work", "work_unit", "notes", "caption"]),
    (timing.measured_caption, lambda: {"text": "t", "measured": None}, ["text", "measured"]),
    (book.seed_everything, lambda: {"seed": 1}, ["seed"]),
    (book.table, lambda: {"frame": _frame(), "caption": "c", "formats": None, "hide_index": False},
     ["frame", "caption", "formats", "hide_index"]),
    (data.mnist_like, lambda: {"n_train": 3, "n_valid": 2, "seed": 0}, ["n_train", "n_valid", "seed"]),
    (data.shapes_dataset, lambda: {"n": 2, "size": 16, "seed": 0}, ["n", "size", "seed"]),
    (data.git_blob_id, lambda: {"data": b"abc"}, ["data"]),
]


def _pts(n=12, d=2):
    return torch.rand(n, d, generator=torch.Generator().manual_seed(n * d)) * 4


def _axes():
    """Fresh axes on one reused Agg figure, so the sweep opens no window and piles up no figures."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(num="checks sweep")
    fig.clf()  # colour bars included
    return fig.add_subplot()


def _tiny_model():
    torch.manual_seed(0)
    return inverse.MiniCLIP(dim=4)


_MODEL = _tiny_model()
_INDEX = lsh.build(_pts(20, 3), n_tables=2, n_hashes=2)


def tokenize(words, captions):
    """The Tokenizer, built and called: junk goes to either argument."""
    return inverse.Tokenizer(words)(captions)


def encode_image(images):
    return _MODEL.encode_image(images)


def diff_at(f, x):
    """``calculus.diff(f)(x)``."""
    return calculus.diff(f)(x)


def dual(a, b):
    return calculus.Dual(a, b)


_E = torch.nn.functional.normalize(torch.rand(3, 4, generator=torch.Generator().manual_seed(1)), dim=1)

# the sweep of issue 15's modules: (function, valid keyword arguments, the arguments to replace with junk)
CASES += [
    (meanshift.sample, lambda: {"centroid": torch.zeros(2), "n_samples": 3}, ["centroid", "n_samples"]),
    (meanshift.make_clusters, lambda: {"n_clusters": 2, "n_samples": 3, "seed": 0}, ["n_clusters", "n_samples", "seed"]),
    (meanshift.gaussian, lambda: {"d": torch.rand(4), "bw": 2.5}, ["d", "bw"]),
    (meanshift.tri, lambda: {"d": torch.rand(4), "i": 8.0}, ["d", "i"]),
    (meanshift.one_update, lambda: {"X": _pts(), "kernel": partial(meanshift.gaussian, bw=2.5)}, ["X", "kernel"]),
    (meanshift.meanshift, lambda: {"data": _pts(), "bw": 2.5, "iters": 1, "kernel": meanshift.gaussian},
     ["data", "bw", "iters", "kernel"]),
    (meanshift.meanshift_batched, lambda: {"data": _pts(), "bw": 2.5, "iters": 1, "bs": 5, "kernel": meanshift.gaussian},
     ["data", "bw", "iters", "bs", "kernel"]),
    (meanshift.meanshift_fast, lambda: {"data": _pts(), "bw": 2.5, "iters": 1, "cutoff": 4.0, "cell": 0.5,
                                        "max_cells": 100_000},
     ["data", "bw", "iters", "cutoff", "cell", "max_cells"]),
    (meanshift.cluster_labels, lambda: {"shifted": _pts(), "tol": 1.0}, ["shifted", "tol"]),
    (meanshift.plot_data, lambda: {"centroids": _pts(2), "data": _pts(), "n_samples": 6, "ax": _axes(),
                                   "size": 4.0}, ["centroids", "data", "n_samples", "size"]),
    (meanshift.plot_step, lambda: {"X": _pts(), "x": _pts()[0], "kernel": partial(meanshift.gaussian, bw=2.5),
                                   "window": 3.0, "ax": _axes()}, ["X", "x", "kernel", "window"]),
    (tokenize, lambda: {"words": ["a", "red"], "captions": ["a red"]}, ["words", "captions"]),
    (encode_image, lambda: {"images": torch.rand(1, 3, 16, 16)}, ["images"]),
    (inverse.clip_loss, lambda: {"image_emb": _E.clone(), "text_emb": _E.clone(), "logit_scale": torch.tensor(1.0),
                                 "same": None},
     ["image_emb", "text_emb", "logit_scale", "same"]),
    (inverse.interrogate, lambda: {"image_embedding": _E[0].clone(), "word_lists": {"s": ["red"], "t": ["circle"]},
                                   "model": _MODEL, "template": "a {}"},
     ["image_embedding", "word_lists", "model", "template"]),
    (inverse.invert, lambda: {"encoder": _MODEL.encode_image, "target": _E[0].clone(), "steps": 1, "lr": 0.1,
                              "init": torch.rand(3, 16, 16), "prior": None, "original": None},
     ["encoder", "target", "steps", "lr", "init", "prior", "original"]),
    (inverse.train_miniclip, lambda: {"n_train": 4, "epochs": 1, "bs": 2, "dim": 2, "lr": 3e-3, "seed": 0},
     ["n_train", "epochs", "bs", "dim", "lr", "seed"]),
    (inverse.retrieval_accuracy, lambda: {"model": _MODEL, "images": torch.rand(2, 3, 16, 16),
                                          "captions": ["a small red circle", "a big blue square"]},
     ["model", "images", "captions"]),
    *[(f, lambda: {"a": torch.rand(2, 3), "b": torch.rand(3, 2)}, ["a", "b"])
      for f in (matmul.matmul_loops, matmul.matmul_njit, matmul.matmul_elementwise, matmul.matmul_broadcast,
                matmul.matmul_einsum, matmul.einsum_expand)],
    (matmul.dist_b, lambda: {"a": torch.rand(2, 3), "b": torch.rand(4, 3)}, ["a", "b"]),
    (matmul.pairwise_dist, lambda: {"x": torch.rand(3), "X": torch.rand(4, 3)}, ["x", "X"]),
    (calculus.slope, lambda: {"f": np.sin, "t1": 0.0, "t2": 1.0}, ["f", "t1", "t2"]),
    (calculus.derivative, lambda: {"f": np.sin, "x": 1.0, "d": 1e-3, "method": "central"}, ["f", "x", "d", "method"]),
    (diff_at, lambda: {"f": calculus.sin, "x": 1.0}, ["f", "x"]),
    (dual, lambda: {"a": 1.0, "b": 2.0}, ["a", "b"]),
    (cluster.kmeans, lambda: {"X": _pts(), "k": 2, "iters": 3, "seed": 0, "init": None, "method": "auto"},
     ["X", "k", "iters", "seed", "init", "method"]),
    (cluster.kmeans_plusplus, lambda: {"X": _pts(), "k": 2, "seed": 0}, ["X", "k", "seed"]),
    (cluster.inertia, lambda: {"X": _pts(), "centroids": _pts(2)}, ["X", "centroids"]),
    (cluster.dbscan, lambda: {"X": _pts(), "eps": 0.5, "min_samples": 2, "pairs": None, "method": "auto"},
     ["X", "eps", "min_samples", "pairs", "method"]),
    (cluster.radius_pairs, lambda: {"X": _pts(), "eps": 0.5, "block": 4}, ["X", "eps", "block"]),
    (cluster.sq_dists, lambda: {"X": _pts(), "C": _pts(3)}, ["X", "C"]),
    (cluster.components, lambda: {"n": 4, "i": torch.tensor([0, 2]), "j": torch.tensor([1, 3])}, ["n", "i", "j"]),
    (cluster.kmeans_step, lambda: {"X": _pts(), "C": _pts(3)}, ["X", "C"]),
    (cluster.dbscan_dense, lambda: {"X": _pts(), "eps": 0.5, "min_samples": 2}, ["X", "eps", "min_samples"]),
    (lsh.hash_codes, lambda: {"X": _pts(20, 3), "proj": torch.rand(2, 3, 2), "shift": torch.rand(2, 1, 2), "width": 1.0},
     ["X", "proj", "shift", "width"]),
    (lsh.candidates, lambda: {"codes": torch.zeros(2, 5, 3, dtype=torch.long), "q_codes": torch.ones(2, 4, 3, dtype=torch.long)},
     ["codes", "q_codes"]),
    (lsh.keys, lambda: {"index": _INDEX, "Q": _pts(3, 3)}, ["index", "Q"]),
    (kernels.blocks_per_grid, lambda: {"n_rows": 3, "n_cols": 5, "tpb": 2}, ["n_rows", "n_cols", "tpb"]),
    (kernels.launch_config, lambda: {"kernel": "tiled", "m": 3, "n": 5, "tpb": 2}, ["kernel", "tpb"]),
    (kernels.get_kernel, lambda: {"kernel": "coalesced", "tpb": 16}, ["kernel", "tpb"]),
    (kernels.tile_loads, lambda: {"m": 5, "n_k": 9, "n": 7, "tpb": 4, "block": (1, 0)},
     ["m", "n_k", "n", "tpb", "block"]),
    (kernels.plot_tile_loads, lambda: {"m": 5, "n_k": 9, "n": 7, "tpb": 4, "block": (1, 0)},
     ["m", "n_k", "n", "tpb", "block"]),
    (kernels.plot_warp_reads, lambda: {"m": 20, "n_k": 9, "n": 10, "k": 2, "tpb": 16}, ["m", "n_k", "n", "k", "tpb"]),
    (lsh.build, lambda: {"X": _pts(20, 3), "n_tables": 2, "n_hashes": 2, "width": 1.0, "seed": 0},
     ["X", "n_tables", "n_hashes", "width", "seed"]),
    (lsh.query, lambda: {"index": _INDEX, "Q": _pts(3, 3), "k": 2, "chunk": 2, "method": "auto"},
     ["index", "Q", "k", "chunk", "method"]),
    (lsh.radius_pairs, lambda: {"index": _INDEX, "eps": 0.5, "chunk": 4}, ["index", "eps", "chunk"]),
    (lsh.exact_knn, lambda: {"X": _pts(20, 3), "Q": _pts(3, 3), "k": 2, "chunk": 2}, ["X", "Q", "k", "chunk"]),
    (lsh.recall, lambda: {"found": torch.zeros(3, 2, dtype=torch.long), "exact": torch.ones(3, 2, dtype=torch.long)},
     ["found", "exact"]),
    (bench_matmul.matmul_ladder, lambda: {"x": torch.rand(2, 3), "w": torch.rand(3, 2), "slow_rows": 1}, ["x", "w"]),
    (data.cluster_data, lambda: {"what": "dbscan", "n": 10, "seed": 0}, ["what", "n", "seed"]),
]

# arguments a function changes by design (one_update moves the points in place)
MUTATES = {meanshift.one_update: {"X"}}


def _snapshot(value):
    if isinstance(value, torch.Tensor):
        return value.clone()
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, pd.DataFrame):
        return value.copy()
    return None


def _same(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return torch.equal(torch.nan_to_num(a), torch.nan_to_num(b))
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b, equal_nan=True)
    if isinstance(a, pd.DataFrame):
        return a.equals(b)
    return True


@pytest.mark.parametrize("fn, valid, args", CASES,
                         ids=[f"{c[0].__module__.split('.')[-1]}.{c[0].__qualname__}" for c in CASES])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_bad_input_is_refused_by_name_or_accepted(fn, valid, args, data):
    arg = data.draw(st.sampled_from(args), label="argument")
    junk = copy.deepcopy(data.draw(st.sampled_from(JUNK), label="junk"))  # a function may move it in place
    kwargs = valid()
    kwargs[arg] = junk
    before = {k: _snapshot(v) for k, v in kwargs.items()}
    try:
        fn(**kwargs)
    except (TypeError, ValueError) as exc:
        assert arg in str(exc), f"{fn.__qualname__}({arg}={junk!r}) raised {type(exc).__name__} without naming {arg}: {exc}"
    except Exception as exc:  # noqa: BLE001 - the property: nothing else comes out
        pytest.fail(f"{fn.__qualname__}({arg}={junk!r}) raised {type(exc).__name__}: {exc}")
    for k, v in kwargs.items():
        if before[k] is not None and k not in MUTATES.get(fn, ()):
            assert _same(v, before[k]), f"{fn.__qualname__} mutated {k}"


# ---------------------------------------------------------------- one validation layer

# Private names one lessonlib module may take from another: none (lessonlib.bench calls _checks too).
KNOWN_PRIVATE_USES: set[tuple[str, str, str]] = set()
SHARED_OK = {"_checks", "_deps"}


def _private_uses(path):
    """``(module, name)`` for every private name one lessonlib file takes from another lessonlib module.

    Both ``from .X import _name`` (anywhere, also inside functions) and ``X._name`` where ``X`` was
    imported with ``from . import X`` count.
    """
    import ast

    tree = ast.parse(path.read_text(), str(path))
    siblings, found = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level >= 1:
            if node.module:  # from .X import a, b
                mod = node.module.split(".")[-1]
                found |= {(mod, a.name) for a in node.names if a.name.startswith("_") and mod not in SHARED_OK}
            else:  # from . import X, Y
                siblings |= {a.asname or a.name for a in node.names}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in siblings \
                and node.value.id not in SHARED_OK and node.attr.startswith("_") and not node.attr.startswith("__"):
            found.add((node.value.id, node.attr))
    return found


def test_no_module_takes_a_private_name_from_another_but_the_shared_checks():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    files = sorted((root / "lessonlib").rglob("*.py"))
    assert len(files) > 10
    used, wrong = set(), []
    for path in files:
        rel = path.relative_to(root).with_suffix("").as_posix()
        for mod, name in sorted(_private_uses(path)):
            allowed = [k for k in KNOWN_PRIVATE_USES if rel.startswith(k[0]) and k[1:] == (mod, name)]
            used.update(allowed)
            if not allowed:
                wrong.append(f"{rel}.py uses {mod}.{name}")
    assert not wrong, "only lessonlib._checks and lessonlib._deps are shared; move these there:\n" + "\n".join(wrong)
    assert used == KNOWN_PRIVATE_USES, f"no longer used, remove from KNOWN_PRIVATE_USES: {KNOWN_PRIVATE_USES - used}"


def test_the_private_use_finder_sees_both_spellings(tmp_path):
    p = tmp_path / "m.py"
    p.write_text("from . import _checks, matmul\nfrom .cluster import _sq_dists, kmeans\n"
                 "def f(x):\n    from .lsh import _keys\n    return matmul._check_matmul(x, x), _checks.points('x', x)\n")
    assert _private_uses(p) == {("cluster", "_sq_dists"), ("lsh", "_keys"), ("matmul", "_check_matmul")}


def test_seconds_rule():
    assert _checks.seconds("t", {"a": 1.0, "b": 2.0}, ("a",)) == {"a": 1.0, "b": 2.0}
    with pytest.raises(TypeError, match=r"t\['b'\] must be a number"):  # every value is checked
        _checks.seconds("t", {"a": 1.0, "b": "1 s"}, ("a",))
    with pytest.raises(TypeError, match="t must be a dict of row name to seconds"):
        _checks.seconds("t", [1.0], ())
    with pytest.raises(ValueError, match=r"t is missing the rows \['b'\]"):
        _checks.seconds("t", {"a": 1.0}, ("a", "b"))
    with pytest.raises(ValueError, match=r"t\['a'\] must be a positive number, got 0.0"):
        _checks.seconds("t", {"a": 0.0}, ("a",))
    with pytest.raises(ValueError, match=r"t names 'c', which is not one of \['a', 'b'\]"):
        _checks.seconds("t", {"c": 1.0}, among=("a", "b"))
    with pytest.raises(ValueError, match=r"t\['b'\] must be a positive number"):
        _checks.seconds("t", {"a": 1.0, "b": -1.0}, among=("a", "b"))
