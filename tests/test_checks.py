"""The shared input checks, and a sweep of bad input over the public API.

The sweep's property: called with one argument replaced by junk, a public
function either accepts it (a reasonable alternative, such as a list for a
tensor) or raises ``TypeError``/``ValueError`` whose message names that
argument. Nothing else may come out (no ``AttributeError`` from deep inside
torch), and the other inputs are not mutated.
"""

from __future__ import annotations

import atexit
import copy
import dataclasses
import inspect
import math
import shutil
import tempfile
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lessonlib import (_checks, anim, book, calculus, cluster, data, hardware, inverse, kernels, lecture, lsh, matmul,
                       meanshift, ptx, timing)
from lessonlib import bench as bench_registry
from lessonlib.bench import check, claims, cli, gpu, memory, reference
from lessonlib.bench import cluster as bench_cluster
from lessonlib.bench import lsh as bench_lsh
from lessonlib.bench import matmul as bench_matmul
from lessonlib.bench import meanshift as bench_meanshift
from test_bench_reference import hand_made  # tests/ is on sys.path (pytest's prepend import mode)


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


def small_cuda_matmul(a, b, kernel, tpb):
    """``cuda_matmul`` on tiny inputs, without Numba's warning about small grids."""
    with kernels.small_grids():
        return kernels.cuda_matmul(a, b, kernel=kernel, tpb=tpb)


def broadcast_layout(shapes):
    """Junk as the second of two shapes (``*shapes``)."""
    return meanshift.broadcast_layout((3, 1), shapes)


def plot_broadcast(arrays, names, ax):
    """Junk as the second of two arrays (``*arrays``), or as ``names`` or ``ax``."""
    return meanshift.plot_broadcast(torch.rand(3, 1), arrays, names=names, ax=ax)


def _figure():
    from matplotlib.figure import Figure

    return Figure(figsize=(1, 1))


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
    (lsh.LSHIndex, lambda: {f.name: getattr(_INDEX, f.name) for f in dataclasses.fields(lsh.LSHIndex)},
     [f.name for f in dataclasses.fields(lsh.LSHIndex)]),
    (anim.animate, lambda: {"fig": _figure(), "update": lambda i: None, "frames": 2, "interval": 200, "alt": "a",
                            "caption": "c", "dpi": 20, "max_frames": 60, "max_mb": 1.0, "default_mode": "loop"},
     ["fig", "update", "frames", "interval", "alt", "caption", "dpi", "max_frames", "max_mb", "default_mode"]),
    (inverse.plot_two_towers, lambda: {"model": _MODEL, "images": torch.rand(2, 3, 16, 16),
                                       "captions": ["a small red circle", "a large blue square"]},
     ["model", "images", "captions"]),
    (matmul.plot_ikj_box, lambda: {"a": torch.rand(2, 3), "b": torch.rand(3, 2)}, ["a", "b"]),
    *[(f, lambda: {"x": 0.5}, ["x"]) for f in (calculus.sin, calculus.cos, calculus.exp, calculus.log, calculus.sqrt,
                                                calculus.tanh)],
    (kernels.tiled_kernel, lambda: {"tpb": 4, "dtype": np.float32}, ["tpb", "dtype"]),
    (kernels.blocked_kernel, lambda: {"tpb": 4, "tm": 2, "dtype": np.float32}, ["tpb", "tm", "dtype"]),
    (small_cuda_matmul, lambda: {"a": torch.rand(3, 4), "b": torch.rand(4, 2), "kernel": "naive", "tpb": 4},
     ["a", "b", "kernel", "tpb"]),
    (kernels.torch_cuda_matmul, lambda: {"a": torch.rand(2, 3), "b": torch.rand(3, 2)}, ["a", "b"]),
    (kernels.launch_kernel, lambda: {"kernel": lambda g: None, "grid_x": 2, "grid_y": 3, "tpb": 2},
     ["kernel", "grid_x", "grid_y", "tpb"]),
    (kernels.memory_sectors, lambda: {"offsets": [0, 7, 8], "itemsize": 4, "sector_bytes": 32},
     ["offsets", "itemsize", "sector_bytes"]),
    (kernels.warp_cells, lambda: {"mapping": "lecture", "tpb": 16, "warp": 1, "block": (0, 0)},
     ["mapping", "tpb", "warp", "block"]),
    (kernels.warp_addresses, lambda: {"mapping": "lecture", "k": 1, "m": 32, "n_k": 32, "n": 32, "tpb": 16, "warp": 0},
     ["mapping", "k", "m", "n_k", "n", "tpb", "warp"]),
    (kernels.plot_launch_grid, lambda: {"n_rows": 5, "n_cols": 10, "tpb": 4, "ax": _axes()},
     ["n_rows", "n_cols", "tpb", "ax"]),
    (kernels.plot_roofline, lambda: {"products": {"p": {"bytes": 1e6, "flops": 2e6}}, "bandwidth": 4.8e12,
                                     "flops_peak": 67e12, "measured": {"p": 0.01}, "ax": _axes(), "device": "H100"},
     ["products", "bandwidth", "flops_peak", "measured", "ax", "device"]),
    (kernels.plot_ladder, lambda: {"rungs": ["loops", "@"], "series": {"lecture": {"loops": 4000.0, "@": 0.015},
                                                                      "here": {"@": 0.01}}, "ax": _axes()},
     ["rungs", "series", "ax"]),
    (meanshift.true_labels, lambda: {"n_clusters": 2, "n_samples": 3}, ["n_clusters", "n_samples"]),
    (meanshift.norm, lambda: {"v": torch.rand(4), "p": 2.0}, ["v", "p"]),
    (meanshift.plot_func, lambda: {"f": torch.sin, "start": 0.0, "stop": 1.0, "steps": 10, "ax": _axes()},
     ["f", "start", "stop", "steps", "ax"]),
    (meanshift.step_parts, lambda: {"X": _pts(), "x": _pts()[0], "kernel": partial(meanshift.gaussian, bw=2.5)},
     ["X", "x", "kernel"]),
    (broadcast_layout, lambda: {"shapes": (4,)}, ["shapes"]),
    (plot_broadcast, lambda: {"arrays": torch.rand(4), "names": ["a", "b"], "ax": _axes()}, ["arrays", "names", "ax"]),
    (bench_matmul.matmul_ladder, lambda: {"x": torch.rand(2, 3), "w": torch.rand(3, 2), "slow_rows": 1}, ["x", "w"]),
    (data.cluster_data, lambda: {"what": "dbscan", "n": 10, "seed": 0}, ["what", "n", "seed"]),
]

# ---------------------------------------------------------------- the machinery: timing, book, data, hardware,
# lecture, ptx and bench (every public function and class that takes arguments)
TMP = Path(tempfile.mkdtemp(prefix="lessonlib-checks-"))
atexit.register(shutil.rmtree, TMP, True)
BLOB = TMP / "blob.bin"
BLOB.write_bytes(b"abc")
ROOT = TMP / "checkout"  # a checkout with one gpu-marked test, for the GPU check's runner
(ROOT / "tests").mkdir(parents=True)
(ROOT / "tests" / "test_g.py").write_text("import pytest\n\n\n@pytest.mark.gpu\ndef test_g():\n    pass\n")
(ROOT / "pytest.ini").write_text("[pytest]\nmarkers =\n    gpu: needs a GPU\n")
REF = TMP / "reference_gpu.json"
reference.write_reference(hand_made(), REF)
PTXAS_LOG = "ptxas info : Used 32 registers, used 1 barriers, 2048 bytes smem\n0 bytes stack frame, 0 bytes spill loads"
PTX = "\tld.global.f32 %f1, [%rd1];\n\tfma.rn.f32 %f3, %f1, %f2, %f3;\n\tadd.f64 %fd1, %fd1, %fd2;\n"


def _compiled(arch="sm_90"):
    return ptx.Compiled(ptx.BOOK_KERNELS[0], arch, PTX, PTXAS_LOG, ptx.parse_ptxas(PTXAS_LOG), None)


def _ladder():
    return timing.ladder(_timings(), work=[1, 2])


def _t(s=1e-3):
    return timing.Timing("t", (s, 2 * s), 1)


def nvidia_smi(fields):
    """``hardware.nvidia_smi(*fields)``: junk goes to the fields (a list's entries, or one field)."""
    return hardware.nvidia_smi(*(fields if isinstance(fields, list) else [fields]))


def speedup(row, over):
    return _ladder().speedup(row, over=over)


_CPU_ROWS = {k: 1e-3 for k in claims.MATMUL_CPU_ROWS}
_GPU_ROWS = {claims.AS_LECTURED_KERNEL: 1e-3, claims.AS_LECTURED_TORCH: 1e-4}
_KNN = ("n", "LSH query (s)", "brute force (s)", "recall@10")
CASES += [
    (timing.Provenance, lambda: {"machine": "m", "when": "w"}, ["machine", "when"]),
    (timing.Timing, lambda: {"name": "t", "times": (1.0, 2.0), "number": 1, "measured": None},
     ["name", "times", "number", "measured"]),
    (timing.format_rate, lambda: {"x": 2.0}, ["x"]),
    (timing.table_formats, lambda: {"columns": ["a (s)", "× first", "GFLOP/s"]}, ["columns"]),
    (timing.Ladder, lambda: {"frame": _ladder().frame, "caption": "c", "basis": "median (s)", "keys": ["a", "b"],
                             "work": [1.0, 2.0]}, ["frame", "caption", "basis", "keys", "work"]),
    (speedup, lambda: {"row": "b", "over": "a"}, ["row", "over"]),
    (book.setup, lambda: {"seed": 1}, ["seed"]),
    (book.Table, lambda: {"frame": _frame(), "styler": _frame().style, "caption": "c", "text": None},
     ["frame", "styler", "caption", "text"]),
    (data.load_mnist, lambda: {"path": TMP / "absent.pkl.gz"}, ["path"]),
    (data.fetch, lambda: {"url": "https://example.invalid/f", "path": BLOB, "sha256": None,
                          "git_blob": data.git_blob_id(b"abc"), "timeout": 1.0},
     ["url", "sha256", "git_blob", "timeout"]),
    (data.main, lambda: {"argv": ["fetch", "--url", "https://example.invalid/f", "--git-blob",
                                  data.git_blob_id(b"abc"), "--out", str(BLOB)]}, ["argv"]),
    (nvidia_smi, lambda: {"fields": ["name"]}, ["fields"]),
    (hardware.package_version, lambda: {"dist": "numpy"}, ["dist"]),
    (lecture.Figure, lambda: {"value": 1.0, "unit": "s", "what": "w", "source": "transcript", "cite": "", "other": ""},
     ["value", "unit", "what", "source", "cite", "other"]),
    (lecture.figure, lambda: {"key": "kernel"}, ["key"]),
    (ptx.SMLimits, lambda: dataclasses.asdict(ptx.SM_LIMITS["sm_90"]),
     [f.name for f in dataclasses.fields(ptx.SMLimits)]),
    (ptx.peaks, lambda: {"gpu": "H100"}, ["gpu"]),
    (ptx.KernelSpec, lambda: {"label": "l", "kernel": "tiled", "tpb": 16, "dtype": "float32", "tm": None,
                              "fast_fp32": True}, ["label", "kernel", "tpb", "dtype", "tm", "fast_fp32"]),
    (ptx.PtxasInfo, lambda: dataclasses.asdict(ptx.parse_ptxas(PTXAS_LOG)),
     [f.name for f in dataclasses.fields(ptx.PtxasInfo)]),
    (ptx.Compiled, lambda: vars(_compiled()).copy(), ["spec", "arch", "ptx", "ptxas_log", "info", "error"]),
    (ptx.parse_ptxas, lambda: {"log": PTXAS_LOG}, ["log"]),
    (ptx.f64_count, lambda: {"ptx": PTX}, ["ptx"]),
    (ptx.inner_loop, lambda: {"ptx": PTX}, ["ptx"]),
    (ptx.occupancy, lambda: {"registers": 32, "shared_bytes": 2048, "threads_per_block": 256, "arch": "sm_90"},
     ["registers", "shared_bytes", "threads_per_block", "arch"]),
    (ptx.problems, lambda: {"c": _compiled()}, ["c"]),
    (ptx.compile_kernels, lambda: {"specs": ptx.BOOK_KERNELS[:1], "archs": ("sm_90",), "timeout": 600},
     ["specs", "archs"]),
    (ptx.resource_table, lambda: {"compiled": {("naive kernel", a): _compiled(a) for a in ptx.ARCHS},
                                  "archs": ptx.ARCHS}, ["compiled", "archs"]),
    (ptx.roofline, lambda: {"m": 4, "k": 5, "n": 6, "itemsize": 4, "bandwidth": 1e12, "flops_peak": 1e13},
     ["m", "k", "n", "itemsize", "bandwidth", "flops_peak"]),
    (bench_registry.Benchmark, lambda: {"table": "t", "function": "matmul.square_gflops", "chapter": "einsum",
                                        "command": ""}, ["table", "function", "chapter", "command"]),
    (check.gpu_test_files, lambda: {"root": ROOT}, ["root"]),
    (check.run_gpu_tests, lambda: {"out": TMP, "root": ROOT, "files": ["tests/test_g.py"], "timeout": 120},
     ["out", "root", "files", "timeout"]),
    (check.ladder_chart, lambda: {"ref": hand_made()}, ["ref"]),
    (check.summary, lambda: {"ref": hand_made()}, ["ref"]),
    (cli.main, lambda: {"argv": ["claims", str(REF)]}, ["argv"]),
    (claims.Claim, lambda: {"id": "i", "text": "t", "said": "s", "figures": "f", "rule": "r"},
     ["id", "text", "said", "figures", "rule"]),
    (claims.Verdict, lambda: {"claim": claims.GPU_CLAIMS["five_million"], "ratio": 2.0, "held": True, "detail": "d"},
     ["claim", "ratio", "held", "detail"]),
    (claims.matmul_times, lambda: {"cpu_per_row": dict(_CPU_ROWS), "rows": 50_000, "gpu": dict(_GPU_ROWS)},
     ["cpu_per_row", "rows", "gpu"]),
    (claims.matmul_claims, lambda: {"cpu_per_row": dict(_CPU_ROWS), "rows": 50_000, "gpu": dict(_GPU_ROWS)},
     ["cpu_per_row", "rows", "gpu"]),
    (claims.meanshift_claims, lambda: {"cpu": {claims.MEANSHIFT_LOOP: 0.45},
                                       "gpu": {f"GPU, bs = {b}": 1e-3 for b in (5, 64, 1024, 1250)}}, ["cpu", "gpu"]),
    (claims.medians, lambda: {"timings": {"a": _t()}}, ["timings"]),
    (claims.claims_frame, lambda: {"claims": ["five_million"], "measured": None,
                                   "reference": reference.gpu_claims(hand_made())},
     ["claims", "measured", "reference"]),
    (claims.rows_frame, lambda: {"times": {"a": 1e-3}, "what": {"a": "w"}, "iqr": {"a": 0.0}, "lecture_column": "l"},
     ["times", "what", "iqr", "lecture_column"]),
    (bench_cluster.cluster_comparison, lambda: {"sizes": {"kmeans": 50}, "cases": ["k-means, 2-D, k = 8"],
                                                "devices": ["cpu"], "methods": ["fused"], "lsh_params": None,
                                                "repeat": 1, "progress": False},
     ["cases", "devices", "methods", "lsh_params", "repeat", "progress"]),
    (bench_cluster.cluster_goals, lambda: {"table": pd.DataFrame({"case": [], "device": []}),
                                           "crossover": pd.DataFrame(dict(zip(_KNN, [[10], [0.1], [0.2], [0.9]])))},
     ["table", "crossover"]),
    (gpu.roofline_table, lambda: {"model": {"p": ptx.roofline(4, 5, 6)}, "measured": {"p": "1 ms"}, "device": "H100"},
     ["model", "measured", "device"]),
    (gpu.roofline_measured, lambda: {"timings": {"register-blocked kernel": _t(), "torch @ on the GPU": _t()},
                                     "square": {"register-blocked kernel": 1e3, "cuBLAS (TF32 off)": 2e3},
                                     "mnist": "m", "square_name": "s", "n": 64},
     ["timings", "square", "mnist", "square_name", "n"]),
    (bench_lsh.lsh_sweep, lambda: {"X": _pts(30, 3), "Q": _pts(4, 3), "tables": (1,), "n_hashes": 2, "width": 1.0,
                                   "k": 2, "repeat": 1}, ["X", "Q", "tables", "n_hashes", "width", "k", "repeat"]),
    (bench_lsh.lsh_query_time, lambda: {"X": _pts(30, 3), "Q": _pts(4, 3), "n_tables": 2, "n_hashes": 2,
                                        "width": 1.0, "k": 2, "method": "tensor", "repeat": 1},
     ["X", "Q", "n_tables", "n_hashes", "width", "k", "method", "repeat"]),
    (bench_lsh.lsh_crossover, lambda: {"sizes": (10, 20), "params": {"n_tables": 2}, "repeat": 1, "progress": False},
     ["sizes", "params", "repeat", "progress"]),
    (bench_lsh.dbscan_lsh, lambda: {"X": _pts(30, 2), "eps": 0.5, "min_samples": 2, "tables": (1,), "n_hashes": 2,
                                    "width": 0.5, "repeat": 1},
     ["X", "eps", "min_samples", "tables", "n_hashes", "width", "repeat"]),
    (bench_matmul.square_gflops, lambda: {"n": 8, "repeat": 1, "max_time": 0.05}, ["n", "repeat", "max_time"]),
    (bench_matmul.read_speed, lambda: {"x": torch.rand(10), "repeat": 1, "max_time": 0.05},
     ["x", "repeat", "max_time"]),
    (bench_matmul.ladder_rows, lambda: {"table": _ladder()}, ["table"]),
    (bench_matmul.ladder_per_row, lambda: {"table": _ladder()}, ["table"]),
    (bench_meanshift.lecture_points, lambda: {"data": _pts()}, ["data"]),
    (bench_meanshift.cpu_meanshift_timings, lambda: {"data": _pts(), "repeat": 1, "max_time": 0.05},
     ["data", "repeat", "max_time"]),
    (bench_meanshift.meanshift_batch_sweep, lambda: {"data": _pts(), "batch_sizes": (5,), "loop": False, "repeat": 1},
     ["data", "batch_sizes", "loop", "repeat"]),
    (bench_meanshift.torch_calls, lambda: {"fn": partial(torch.ones, 2)}, ["fn"]),
    (bench_meanshift.per_call_overhead, lambda: {"repeat": 1}, ["repeat"]),
    (bench_meanshift.meanshift_loop_overhead, lambda: {"loop_s": 1.0, "overhead_s": 1e-6, "data": _pts(), "iters": 5},
     ["loop_s", "overhead_s", "data", "iters"]),
    (bench_meanshift.meanshift_comparison, lambda: {"sizes": (12,), "bw": 2.5, "batched_max": 100,
                                                    "sklearn_default_max": 100, "repeat": 1, "progress": False},
     ["sizes", "bw", "batched_max", "sklearn_default_max", "repeat", "progress"]),
    (bench_meanshift.scaling_slopes, lambda: {"comparison": pd.DataFrame({"n": [10, 100], "method": ["m", "m"],
                                                                          "median (s)": [0.1, 1.0]})}, ["comparison"]),
    (memory.timed_with_memory, lambda: {"fn": math.pi.__abs__, "repeat": 1, "max_time": 0.05},
     ["fn", "repeat", "max_time"]),
    (reference.validate, lambda: {"report": hand_made(), "source": "the report"}, ["report", "source"]),
    (reference.matmul_reference_times, lambda: {"ref": hand_made()}, ["ref"]),
    (reference.gpu_claims, lambda: {"report": hand_made()}, ["report"]),
    (reference.load_reference, lambda: {"path": REF}, ["path"]),
    (reference.write_reference, lambda: {"report": hand_made(), "path": TMP / "written.json"}, ["report", "path"]),
    (reference.caption, lambda: {"ref": hand_made(), "text": "t"}, ["ref", "text"]),
    (reference.short_label, lambda: {"ref": hand_made()}, ["ref"]),
    (reference.reference_table, lambda: {"ref": hand_made(), "part": "square"}, ["ref", "part"]),
    (reference.ladder_series, lambda: {"cpu_per_row": dict(_CPU_ROWS), "rows": 50_000, "gpu": dict(_GPU_ROWS),
                                       "reference": hand_made()}, ["cpu_per_row", "rows", "gpu", "reference"]),
]
if not hardware.has_cuda():  # with a GPU these run the GPU check and its measurements, minutes each
    CASES += [
        (check.run, lambda: {"out": TMP / "check", "rows": 5, "test_files": None}, ["out", "rows", "test_files"]),
        (check.main, lambda: {"argv": [str(TMP / "check")]}, ["argv"]),
        (gpu.device_bandwidth, lambda: {"nbytes": 1 << 20}, ["nbytes"]),
        (gpu.gpu_matmul_timings, lambda: {"x": torch.rand(4, 3), "w": torch.rand(3, 2), "repeat": 1}, ["x", "w"]),
        (gpu.gpu_square_gflops, lambda: {"n": 64}, ["n"]),
        (gpu.gpu_meanshift_timings, lambda: {"data": _pts(), "batch_sizes": (5,), "repeat": 1, "max_time": 0.1},
         ["data", "batch_sizes"]),
        (gpu.gpu_report, lambda: {"rows": 5, "command": "c", "progress": False, "on_part": None},
         ["rows", "command", "on_part"]),
    ]
# what a function documents for input it cannot refuse up front: a missing file, an argument line argparse
# refuses (SystemExit), no GPU (RuntimeError, where the GPU is checked after the arguments)
RAISES = {data.load_mnist: FileNotFoundError, data.main: SystemExit, cli.main: SystemExit, check.main: SystemExit,
          kernels.torch_cuda_matmul: RuntimeError,
          **dict.fromkeys((gpu.device_bandwidth, gpu.gpu_matmul_timings, gpu.gpu_square_gflops,
                           gpu.gpu_meanshift_timings, gpu.gpu_report), RuntimeError)}

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
def test_bad_input_is_refused_by_name_or_accepted(fn, valid, args, data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a junk str path names a file here
    arg = data.draw(st.sampled_from(args), label="argument")
    junk = copy.deepcopy(data.draw(st.sampled_from(JUNK), label="junk"))  # a function may move it in place
    kwargs = valid()
    kwargs[arg] = junk
    before = {k: _snapshot(v) for k, v in kwargs.items()}
    try:
        fn(**kwargs)
    except RAISES.get(fn, ()):
        pass
    except (TypeError, ValueError) as exc:
        assert arg in str(exc), f"{fn.__qualname__}({arg}={junk!r}) raised {type(exc).__name__} without naming {arg}: {exc}"
    except Exception as exc:  # noqa: BLE001 - the property: nothing else comes out
        pytest.fail(f"{fn.__qualname__}({arg}={junk!r}) raised {type(exc).__name__}: {exc}")
    for k, v in kwargs.items():
        if before[k] is not None and k not in MUTATES.get(fn, ()):
            assert _same(v, before[k]), f"{fn.__qualname__} mutated {k}"


def _changed(value, *where) -> dict:
    """The hand-made reference with the entry at ``where`` set to ``value``."""
    ref = hand_made()
    inner = ref
    for key in where[:-1]:
        inner = inner[key]
    inner[where[-1]] = value
    return ref


def _mnist_file(splits) -> Path:
    import gzip
    import pickle

    path = Path(tempfile.mkstemp(dir=TMP, suffix=".pkl.gz")[1])
    with gzip.open(path, "wb") as f:
        pickle.dump(splits, f)
    return path


_TILED = ("matmul", "gpu", "tiled kernel", "median_s")
_X28 = (np.zeros((2, 28), np.float32), np.zeros(2, np.int64))
# Each input the bad-input sweep found accepted, or refused obscurely, in the machinery, now refused by name
REFUSED = [
    (lambda: check.run_gpu_tests(None), TypeError, "out must be a str or a pathlib.Path, got None"),
    (lambda: check.run_gpu_tests(TMP, root=ROOT, files="abc"), TypeError, "files must be a sequence"),
    (lambda: check.run_gpu_tests(TMP, root=ROOT, timeout=0), ValueError, "timeout must be a positive number, got 0"),
    (lambda: check.run_gpu_tests(TMP, root=3), TypeError, "root must be a str or a pathlib.Path, got 3"),
    (lambda: check.gpu_test_files(TMP / "absent"), ValueError, "root must be a checkout with a tests/ folder"),
    (lambda: check.summary([1]), TypeError, "ref must be a dict"),
    (lambda: check.run(TMP / "check", test_files="abc"), TypeError, "test_files must be a sequence"),
    (lambda: check.main(3), TypeError, "argv must be a sequence"),
    (lambda: reference.validate(_changed(math.nan, *_TILED)), ValueError, "median_s: nan is not a finite number"),
    (lambda: reference.validate(_changed(math.inf, *_TILED)), ValueError, "median_s: inf is not a finite number"),
    (lambda: reference.validate(_changed([[5, 784], [785, 10]], "matmul", "shape")), ValueError,
     "the inner sizes 784 and 785 differ"),
    (lambda: reference.write_reference(_changed(math.nan, *_TILED), TMP / "w.json"), ValueError, "nan is not a finite"),
    (lambda: reference.write_reference(hand_made(), 3), TypeError, "path must be a str or a pathlib.Path, got 3"),
    (lambda: reference.ladder_series(dict(_CPU_ROWS), 50_000, reference="x"), TypeError, "reference must be a dict"),
    (lambda: timing.Timing("t", None, 1), TypeError, "times must be a sequence .*, got None"),
    (lambda: timing.Timing("t", "abc", 1), TypeError, "times must be a sequence .*, got 'abc'"),
    (lambda: timing.Timing("t", (1.0, math.nan), 1), ValueError, "times entries must be finite"),
    (lambda: timing.measured_caption("t", "yesterday"), TypeError, "measured must be a Provenance, got 'yesterday'"),
    (lambda: timing.measured_caption(None), TypeError, "text must be a str, got None"),
    (lambda: timing.format_rate(-1.0), ValueError, "x must be a number >= 0, got -1.0"),
    (lambda: timing.format_rate(math.nan), ValueError, "x must be finite"),
    (lambda: timing.format_rate("1"), TypeError, "x must be a number, got '1'"),
    (lambda: timing.bench(abs, 1, number=10**9), ValueError, r"number must be an int in \[1, 10000000\]"),
    (lambda: timing.table_formats("x"), TypeError, "columns must be a sequence"),
    (lambda: timing.Ladder(_ladder().frame, "c", keys="ab"), TypeError, "keys must be a sequence"),
    (lambda: _ladder().speedup(None), TypeError, "row must be a str"),
    (lambda: book.Table(None, None, None), TypeError, "frame must be a pandas DataFrame, got None"),
    (lambda: book.Table(_frame(), None, "c"), TypeError, "styler must be a pandas Styler"),
    (lambda: book.table(pd.DataFrame()), ValueError, "frame is empty"),
    (lambda: data.load_mnist(3), TypeError, "path must be a str or a pathlib.Path, got 3"),
    (lambda: data.load_mnist(_mnist_file("x")), ValueError, r"path .*: expected \(train, valid"),
    (lambda: data.load_mnist(_mnist_file([_X28, _X28])), ValueError,
     r"path .*: the train split has x \(2, 28\) and y \(2,\); expected x \(n, 784\)"),
    (lambda: data.fetch(path=3, git_blob="0" * 40), TypeError, "path must be a str or a pathlib.Path, got 3"),
    (lambda: data.mnist_like(10**9), ValueError, r"n_train must be an int in \[1, 1000000\]"),
    (lambda: data.shapes_dataset(2, size=10**9), ValueError, r"size must be an int in \[16, 256\]"),
    (lambda: data.main("fetch"), TypeError, "argv must be a sequence"),
    (lambda: claims.claims_frame(["five_million"], measured=[]), ValueError, "measured must not be empty"),
    (lambda: claims.claims_frame(["five_million"], reference=["x"]), TypeError, "reference entries must be a Verdict"),
    (lambda: claims.rows_frame({}, {}), ValueError, "times must not be empty"),
    (lambda: claims.rows_frame({"a": 1.0}, {}, iqr={}), ValueError, r"iqr is missing the keys \['a'\]"),
    (lambda: lecture.Figure(math.nan, "s", "w", "transcript"), ValueError, "Figure.value must be finite"),
    (lambda: lecture.Figure(1.0, "min", "w", "transcript"), ValueError, "Figure.unit must be one of 's', '×'"),
    (lambda: ptx.KernelSpec("l", "fast"), ValueError, "KernelSpec.kernel must be one of"),
    (lambda: ptx.PtxasInfo(-1, 0, 0, 0, 0, 0), ValueError, "PtxasInfo.registers must be an int >= 0"),
    (lambda: claims.Verdict(claims.GPU_CLAIMS["five_million"], math.inf, True, "d"), ValueError, "Verdict.ratio"),
    (lambda: bench_registry.Benchmark("t", 3, "c"), TypeError, "Benchmark.function must be a str"),
    (lambda: bench_cluster.cluster_comparison(devices="cpu"), TypeError, "devices must be a sequence"),
    (lambda: bench_cluster.cluster_comparison(lsh_params={"n_tables": "x"}), TypeError, r"lsh_params\['n_tables'\]"),
    (lambda: ptx.compile_kernels(timeout=math.nan), ValueError, "timeout must be finite"),
    (lambda: ptx.resource_table({}), ValueError, "compiled must not be empty"),
    (lambda: hardware.nvidia_smi(), ValueError, "fields must not be empty"),
    (lambda: gpu.roofline_measured({}, {}, mnist="m", square_name="s"), ValueError, "timings is missing the keys"),
    # the lesson modules
    (lambda: kernels.plot_tile_loads(m=10**9), ValueError, r"m must be an int in \[1, 4096\]"),
    (lambda: kernels.plot_tile_loads(48, 56, 48, block=(10, 10)), ValueError, r"block \(10, 10\) .* lies outside"),
    (lambda: kernels.plot_launch_grid(10**6, 10), ValueError, "n_rows=1000000, .* too many to draw"),
    (lambda: kernels.plot_roofline({f"p{i}": {"bytes": 1.0, "flops": 2.0} for i in range(5)}, bandwidth=1.0,
                                   flops_peak=1.0), ValueError, "products must name at most 4"),
    (lambda: kernels.plot_ladder(["a"], {f"s{i}": {"a": 1.0} for i in range(5)}), ValueError,
     "series must hold at most 4"),
    (lambda: kernels.plot_ladder(["a", "a"], {"s": {"a": 1.0}}), ValueError, "rungs must not repeat"),
    (lambda: kernels.plot_ladder(["a"], {"s": {"a": 1.0}}, ax="x"), TypeError, "ax must be None or a matplotlib Axes"),
    (lambda: kernels.launch_config("tiled", 0, 5), ValueError, "m must be an int >= 1"),
    (lambda: kernels.launch_kernel(abs, 10**9, 1), ValueError, r"grid_x must be an int in \[1, 1000000\]"),
    (lambda: kernels.tiled_kernel(8, {}), ValueError, "dtype must be numpy.float32 or numpy.float64"),
    (lambda: kernels.memory_sectors({}), TypeError, "offsets must be a sequence"),
    (lambda: meanshift.plot_step(_pts(), torch.tensor([math.nan, 1.0]), partial(meanshift.gaussian, bw=2.5)),
     ValueError, "x must be one point .* of finite floats"),
    (lambda: meanshift.plot_step(_pts(), torch.tensor([math.inf, 1.0]), partial(meanshift.gaussian, bw=2.5)),
     ValueError, "x must be one point .* of finite floats"),
    (lambda: meanshift.plot_broadcast(torch.rand(3, 1), torch.rand(4), names="wX"), TypeError,
     "names must be a sequence"),
    (lambda: meanshift.plot_broadcast(torch.rand(3, 1), torch.rand(4), names=3), TypeError, "names must be a sequence"),
    (lambda: meanshift.broadcast_layout((3, 1), ()), ValueError, r"shapes\[1\] must hold at least one axis"),
    (lambda: meanshift.meanshift(_pts(), iters=0), ValueError, r"iters must be an int in \[1, 10000\]"),
    (lambda: meanshift.meanshift_fast(_pts(), iters=10**9), ValueError, r"iters must be an int in \[1, 10000\]"),
    (lambda: meanshift.make_clusters(n_samples=10**9), ValueError, "n_samples must be an int in"),
    (lambda: meanshift.sample(torch.zeros(2, dtype=torch.float16), 3), ValueError, "centroid must be .* float32"),
    (lambda: meanshift.plot_func(torch.sin, steps=10**9), ValueError, "steps must be an int in"),
    (lambda: cluster.components(10**9, torch.tensor([0]), torch.tensor([1])), ValueError, "n must be an int in"),
    (lambda: cluster.components(0, torch.tensor([0]), torch.tensor([1])), ValueError, r"\[0, n\) = \[0, 0\)"),
    (lambda: calculus.log(-1.0), ValueError, "x: log needs a positive argument"),
    (lambda: calculus.sqrt(calculus.Dual(0.0, 1.0)), ValueError, "x: sqrt of a dual number"),
    (lambda: inverse.plot_two_towers(_MODEL, torch.full((2, 3, 16, 16), math.nan), ["a red circle", "a blue square"]),
     ValueError, "images must be finite"),
    (lambda: _MODEL.encode_image(torch.full((1, 3, 16, 16), math.nan)), ValueError, "images must be finite"),
    (lambda: inverse.retrieval_accuracy(_MODEL, torch.full((1, 3, 16, 16), math.inf), ["a red circle"]), ValueError,
     "images must be finite"),
    (lambda: inverse.clip_loss(_E.half(), _E, torch.tensor(1.0)), ValueError, "image_emb and text_emb must share"),
    (lambda: inverse.clip_loss(_E * math.nan, _E, torch.tensor(1.0)), ValueError, "image_emb has NaN"),
    (lambda: inverse.invert(_MODEL.encode_image, _E[0], steps=10**9, init=torch.rand(3, 16, 16)), ValueError,
     r"steps must be an int in \[1, 100000\]"),
    (lambda: inverse.invert(_MODEL.encode_image, _E[0], init=torch.rand(3, 16, 16).half()), ValueError,
     "init must .* float32 or float64"),
    (lambda: inverse.train_miniclip(epochs=10**9), ValueError, r"epochs must be an int in \[1, 10000\]"),
    (lambda: inverse.MiniCLIP(dim=10**9), ValueError, r"dim must be an int in \[2, 4096\]"),
    (lambda: lsh.recall(torch.zeros(0, 2, dtype=torch.long), torch.zeros(0, 2, dtype=torch.long)), ValueError,
     "at least one"),
    (lambda: lsh.build(_pts(20, 3), n_tables=10**9), ValueError, r"n_tables must be an int in \[1, 1024\]"),
    (lambda: lsh.exact_knn(_pts(20, 3).half(), _pts(3, 3), 2), ValueError, "X must be float32 or float64"),
    (lambda: dataclasses.replace(_INDEX, proj=None), TypeError, "LSHIndex.proj must be a torch.Tensor"),
    (lambda: dataclasses.replace(_INDEX, width=math.nan), ValueError, "LSHIndex.width must be finite"),
    (lambda: dataclasses.replace(_INDEX, keys=_INDEX.keys[:, :3]), ValueError, "LSHIndex.keys must be"),
    (lambda: matmul.matmul_njit(torch.rand(2, 3).half(), torch.rand(3, 2).half()), ValueError,
     "float32 or float64 for Numba"),
    (lambda: matmul.pairwise_dist(torch.rand(3).half(), torch.rand(4, 3)), ValueError, "x and X must share a dtype"),
]


def test_reasonable_input_the_sweep_tried_is_drawn():
    """Sizes the warp picture never allocates for, and a point given as a list."""
    import matplotlib.pyplot as plt

    fig = kernels.plot_warp_reads(m=10**9, n_k=10**9, n=10**9)
    ax = meanshift.plot_step(_pts(), [1.0, 2.0], partial(meanshift.gaussian, bw=2.5))
    assert len(fig.axes) == 2 and len(ax.collections) == 1
    plt.close(fig)
    plt.close(ax.figure)


@pytest.mark.parametrize("call, error, match", REFUSED)
def test_each_input_the_sweep_found_is_refused_by_name(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_the_case_list_covers_every_public_function_and_class():
    """Every public function and class that takes arguments is in CASES (itself or through a wrapper), but the
    raw kernels (documented as checking nothing)."""
    import functools
    import importlib
    import pkgutil

    import lessonlib
    import lessonlib.bench

    names = [f"lessonlib.{m.name}" for m in pkgutil.iter_modules(lessonlib.__path__)] + ["lessonlib.bench"] + [
        f"lessonlib.bench.{m.name}" for m in pkgutil.iter_modules(lessonlib.bench.__path__) if m.name != "__main__"]
    covered = {c[0] for c in CASES} | {real for real, wrapper in WRAPPED.items() if wrapper in {c[0] for c in CASES}}
    missing = set()
    for module in map(importlib.import_module, [n for n in names if not n.rpartition(".")[2].startswith("_")]):
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__ or obj in RAW_KERNELS:
                continue
            if inspect.isclass(obj) and not issubclass(obj, Exception) or inspect.isfunction(obj) or isinstance(
                    obj, functools._lru_cache_wrapper):
                if inspect.signature(obj).parameters and obj not in covered:
                    missing.add(f"{module.__name__.removeprefix('lessonlib.')}.{name}")
    assert not missing, f"public functions with no case in CASES: {sorted(missing)}"


# a function in CASES through a wrapper that calls it
WRAPPED = {hardware.nvidia_smi: nvidia_smi, inverse.Tokenizer: tokenize, inverse.MiniCLIP: encode_image,
           calculus.diff: diff_at, calculus.Dual: dual, kernels.cuda_matmul: small_cuda_matmul,
           meanshift.broadcast_layout: broadcast_layout, meanshift.plot_broadcast: plot_broadcast}
RAW_KERNELS = {kernels.matmul_kernel}  # a kernel in plain Python: like a CUDA kernel, it checks nothing


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
    with pytest.raises(ValueError, match=r"t is missing the keys \['b'\]"):
        _checks.seconds("t", {"a": 1.0}, ("a", "b"))
    with pytest.raises(ValueError, match=r"t\['a'\] must be a positive number, got 0.0"):
        _checks.seconds("t", {"a": 0.0}, ("a",))
    with pytest.raises(ValueError, match=r"t names 'c', which is not one of \['a', 'b'\]"):
        _checks.seconds("t", {"c": 1.0}, among=("a", "b"))
    with pytest.raises(ValueError, match=r"t\['b'\] must be a positive number"):
        _checks.seconds("t", {"a": 1.0, "b": -1.0}, among=("a", "b"))
