"""The command line, ``python -m lessonlib.bench {matmul,meanshift,cluster,claims}``: each command
prints the hardware, then runs its benchmarks with a progress bar and prints their tables.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import _checks, book, hardware
from ..timing import format_rate, format_ratio, table_formats

DESCRIPTION = "Benchmarks: the timing tables the book shows, runnable from the command line."


def _print_table(frame, caption: str = "", formats=None) -> None:
    """A table as the book shows it ("430 ms", "1.00×"), as text."""
    print(book.table(frame, caption=caption, formats={**table_formats(frame.columns), **(formats or {})},
                     hide_index=True, units=True))


def _cluster_main(args) -> int:
    from .cluster import CLUSTER_SETUP, cluster_comparison, cluster_goals
    from .lsh import LSH_CROSSOVER_PARAMS, lsh_crossover

    sizes = {"kmeans": args.kmeans, "dbscan": args.dbscan, "dbscan_blobs": args.dbscan_blobs, "knn": args.knn}
    table = cluster_comparison(sizes, repeat=args.repeat, progress=True)
    crossover = lsh_crossover(args.lsh_sizes, repeat=args.repeat, progress=True) if args.lsh_sizes else None
    for what, setup in CLUSTER_SETUP.items():
        print(f"{what}: {setup}")
    cols = ["case", "implementation", "device", "n", "best (s)", "median (s)", "agreement", "value",
            "peak RSS (MiB)", "RSS growth (MiB)", "note"]
    mib = {c: "{:,.0f}".format for c in ("peak RSS (MiB)", "RSS growth (MiB)", "peak RSS brute force (MiB)",
                                          "peak RSS LSH (MiB)")}
    _print_table(table[cols], formats={"n": "{:,}".format, "value": "{:.4g}".format, **mib})
    if crossover is not None:
        _print_table(crossover, f"LSH against brute force, 32-D, 1,000 queries, k = 10, index {LSH_CROSSOVER_PARAMS}:",
                     {"n": "{:,}".format, "recall@10": "{:.3f}".format, "points scanned (%)": "{:.3g}".format, **mib})
    goals = cluster_goals(table, crossover)
    for g in goals.itertuples():
        print(f"{'met:    ' if g.met else 'NOT MET:'} {g.case}: {g.measure} {g.value} (goal {g.goal})")
    return 0 if goals.met.all() else 1


def _claims_main(args) -> int:
    """One line per lecture GPU claim, judged on a reference file the GPU check wrote."""
    from .reference import ReferenceFormatError, gpu_claims, load_reference

    try:
        report = load_reference(args.file)
    except ReferenceFormatError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if report is None:
        print(f"error: no reference file at {args.file}", file=sys.stderr)
        return 2
    p = report["provenance"]
    print(f"reference: {p['gpu']}, driver {p['driver']}, {p['date']}")
    for v in gpu_claims(report):
        print(f"{v.claim.text}: {v}")
    return 0


def _meanshift_main(args) -> int:
    from .meanshift import meanshift_comparison

    table = meanshift_comparison(args.sizes, repeat=args.repeat, batched_max=args.batched_max,
                                 sklearn_default_max=args.batched_max, progress=True)
    _print_table(table, formats={"n": "{:,}".format, "ARI": "{:.4f}".format, "clusters": "{:.0f}".format})
    fast = table[table.method == "meanshift_fast"].set_index("n")["median (s)"]
    skl = table[table.method == "sklearn MeanShift, bin_seeding"].set_index("n")["median (s)"]
    for n in fast.index:
        print(f"n = {n:,}: meanshift_fast is {format_ratio(skl[n] / fast[n])} faster than MeanShift(bin_seeding=True)")
    return 0


def _matmul_main(args) -> int:
    from ._common import mnist_data
    from .matmul import matmul_ladder, square_gflops

    x, w, source = mnist_data(args.rows)
    table = matmul_ladder(x, w, slow_rows=min(5, len(x)), repeat=args.repeat,
                          caption=f"({len(x)} × 784) @ (784 × 10) float32 on {source}")
    peak = square_gflops(args.square, repeat=args.repeat)
    print(table)
    best = float(table.frame["GFLOP/s"].iloc[-1])
    print(f"torch {args.square}² float32 matmul: {format_rate(peak)} GFLOP/s; "
          f"MNIST-shaped @: {format_rate(best)} GFLOP/s = {format_rate(100 * best / peak)}% of it")
    return 0


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive int, got {text}")
    return value


# Each sub-command with its help, then (option, default, help) for each of its options, all positive ints.
COMMANDS = {
    "matmul": ("the matrix-product ladder and this machine's square-matmul GFLOP/s",
               [("--rows", 50_000, "rows of x for the fast rungs"),
                ("--square", 2048, "size of the square matmul for the peak"),
                ("--repeat", 5, "timed samples per rung")]),
    "meanshift": ("mean shift versions against scikit-learn, by data size",
                  [("--sizes", [1_500, 15_000, 100_000, 1_000_000], "numbers of points"),
                   ("--batched-max", 15_000, "largest n for the quadratic methods"),
                   ("--repeat", 3, "timed samples per row")]),
    "cluster": ("k-means, DBSCAN and LSH against scikit-learn, with the goals' verdicts",
                [("--dbscan", 20_000, "points for DBSCAN"), ("--kmeans", 100_000, "points for k-means"),
                 ("--knn", 100_000, "points for the neighbour search"),
                 ("--dbscan-blobs", 100_000, "points for DBSCAN on blobs"),
                 ("--lsh-sizes", [10_000, 30_000, 100_000, 300_000, 1_000_000],
                  "sizes of the 32-D LSH crossover (none to skip it)"),
                 ("--repeat", 3, "timed samples per measurement, best taken")]),
}


def parser() -> argparse.ArgumentParser:
    """The parser of ``python -m lessonlib.bench``: one sub-command per group of benchmarks."""
    p = argparse.ArgumentParser(prog="python -m lessonlib.bench", description=DESCRIPTION)
    sub = p.add_subparsers(dest="what", required=True)
    for name, (text, options) in COMMANDS.items():
        command = sub.add_parser(name, help=text)
        for option, default, help_ in options:
            many = {"nargs": "*" if option == "--lsh-sizes" else "+"} if isinstance(default, list) else {}
            shown = " ".join(map(str, default)) if many else default
            command.add_argument(option, type=_positive_int, default=default, help=f"{help_} (default {shown})",
                                 **many)
    cm = sub.add_parser("claims", help="one line per lecture GPU claim, judged on a reference file")
    cm.add_argument("file", type=Path, nargs="?", default=Path("book/_data/reference_gpu.json"),
                    help="a file written by the GPU check (default book/_data/reference_gpu.json)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run ``python -m lessonlib.bench`` with ``argv`` (default ``sys.argv[1:]``); return the exit status:
    0 on success, 1 from ``cluster`` when a goal is not met, 2 when ``claims`` has no valid file.
    """
    args = parser().parse_args(argv if argv is None else _checks.sequence("argv", argv, item=_checks.text, empty=True))
    print(hardware.label())
    run = {"claims": _claims_main, "cluster": _cluster_main, "meanshift": _meanshift_main, "matmul": _matmul_main}
    return run[args.what](args)
