"""The ``graphc`` console script.

    graphc demo                      the lecture's graphs and W1, compiled vs interpreted
    graphc show FILE.py:NAME         a graph of yours, forward and backward, as text or a picture
    graphc bench                     graphc against its interpreter, NumPy by hand and the peers
    graphc cache info | clear        the disk cache of compiled kernels
"""

from __future__ import annotations

import argparse
import datetime
import inspect
import os
import runpy
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import graphc as gc
from graphc import demo
from graphc.bench import run as bench


class CommandError(Exception):
    """A command cannot do what it was asked; the message says why."""


# -- graphc show -----------------------------------------------------------------------------
def load_outputs(target: str) -> list[gc.Node]:
    """``FILE.py:NAME``: the node NAME of the file, or what the function NAME returns when
    called without arguments (a node or a sequence of nodes)."""
    file, sep, name = target.rpartition(":")
    if not sep or not file or not name:
        raise CommandError(f"expected FILE.py:NAME, got {target!r}")
    path = Path(file)
    if not path.is_file():
        raise CommandError(f"no file {file}")
    sys.path.insert(0, str(path.resolve().parent))  # as `python FILE.py` would: its neighbours import
    try:
        namespace = runpy.run_path(str(path), run_name="__graphc_show__")
    finally:
        sys.path.remove(str(path.resolve().parent))
    if name not in namespace:
        found = sorted(k for k, v in namespace.items() if isinstance(v, gc.Node) or
                       (callable(v) and getattr(v, "__module__", None) == "__graphc_show__"))
        raise CommandError(f"{file} defines no {name!r}; its nodes and functions: {', '.join(found) or 'none'}")
    value = namespace[name]
    if callable(value) and not isinstance(value, gc.Node):
        required = [p.name for p in inspect.signature(value).parameters.values()
                    if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        if required:
            raise CommandError(f"{name} in {file} needs arguments ({', '.join(required)}); graphc show calls it "
                               "with none: give them defaults, or name a node")
        value = value()
    outputs = [value] if isinstance(value, gc.Node) else list(value) if isinstance(value, (list, tuple)) else None
    if not outputs or not all(isinstance(v, gc.Node) for v in outputs):
        raise CommandError(f"{name} in {file} is not a graphc node, a sequence of nodes, or a function returning one "
                           f"(got {type(value).__name__})")
    return outputs


def with_gradients(outputs: list[gc.Node], grad: str | None) -> list[gc.Node]:
    """The outputs and the gradients of the first one w.r.t. the inputs named in ``grad``
    (comma-separated); with ``grad`` None, w.r.t. every float input when the first output
    is a scalar and the outputs hold no gradient yet."""
    nodes = gc.ir.order(outputs)
    inputs = {n.name: n for n in nodes if n.op == "input"}
    if grad is None:
        if outputs[0].shape != () or any(n.role == "backward" for n in nodes):
            return outputs
        wrt = [n for n in inputs.values() if n.dtype.kind == "f"]
    else:
        names = [v for v in grad.split(",") if v]
        missing = [v for v in names if v not in inputs]
        if missing:
            raise CommandError(f"--grad: the graph has no input {', '.join(missing)}; its inputs: {', '.join(inputs)}")
        wrt = [inputs[v] for v in names]
    return [*outputs, *gc.grad(outputs[0], wrt)] if wrt else outputs


def write_picture(outputs: list[gc.Node], path: Path, fmt: str) -> str:
    """An SVG or PNG of the graph: Graphviz's ``dot`` when it is on PATH, else ``gc.draw``
    (networkx and matplotlib). Returns what drew it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    dot = shutil.which("dot")
    if dot:
        subprocess.run([dot, f"-T{fmt}", "-o", str(path)], input=gc.to_dot(*outputs), text=True, check=True)
        return "Graphviz dot"
    try:
        gc.draw(*outputs, path=path)
    except gc.GraphError as e:  # no matplotlib
        raise CommandError(f"--{fmt} needs Graphviz's dot on PATH or matplotlib (pip install 'graphc[plot]'); "
                           f"--dot writes the DOT text ({e})") from None
    return "gc.draw (networkx and matplotlib)"


def show(args: argparse.Namespace) -> int:
    outputs = with_gradients(load_outputs(args.target), "" if args.no_grad else args.grad)
    if args.optimized:
        from graphc.passes import optimize

        outputs = optimize(outputs)
        print("# after the optimization passes (simplification, constant folding, CSE): what gets compiled")
    print(gc.show(*outputs))
    for fmt in ("dot", "svg", "png"):
        path = getattr(args, fmt)
        if path is None:
            continue
        if fmt == "dot":
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(gc.to_dot(*outputs))
            print(f"wrote {path}")
        else:
            print(f"wrote {path} (drawn by {write_picture(outputs, path, fmt)})")
    return 0


# -- graphc cache ----------------------------------------------------------------------------
def cache_entries(directory: Path) -> dict[str, list[Path]]:
    """The cache's files grouped by kernel: ``graphc_<key>.py``, what Numba caches for it
    (``__pycache__/graphc_<key>.*``) and unfinished writes (``.graphc_<key>.*``)."""
    groups: dict[str, list[Path]] = {}
    if directory.is_dir():
        for path in directory.rglob("*graphc_*"):
            name = path.name.lstrip(".")
            if path.is_file() and name.startswith("graphc_"):
                groups.setdefault(name.split(".")[0], []).append(path)
    return groups


def _size(files: Sequence[Path]) -> int:
    return sum(f.stat().st_size for f in files)


def _age(files: Sequence[Path]) -> float:
    """When the entry was last written (its newest file)."""
    return max(f.stat().st_mtime for f in files)


def _when(timestamp: float) -> str:
    days = (time.time() - timestamp) / 86400
    stamp = datetime.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")
    return f"{stamp} ({days:.1f} days ago)"


def _megabytes(n: int) -> str:
    return f"{n / 1e6:.2f} MB"


def cache(args: argparse.Namespace) -> int:
    from graphc.runtime.cache import cache_dir

    directory = cache_dir()
    entries = cache_entries(directory)
    if args.cache_command == "info":
        files = [f for group in entries.values() for f in group]
        print(f"graphc kernel cache: {directory}" + ("" if directory.is_dir() else " (does not exist yet)"))
        print(f"  kernels: {len(entries)} ({len(files)} files, {_megabytes(_size(files))})")
        if entries:
            ages = sorted(_age(g) for g in entries.values())
            print(f"  oldest:  {_when(ages[0])}")
            print(f"  newest:  {_when(ages[-1])}")
        blas = sorted((directory / "blas").glob("*")) if (directory / "blas").is_dir() else []
        if blas:  # the one-thread copy of NumPy's OpenBLAS that the kernels' gemms call (graphc.runtime.blas)
            print(f"  blas:    {', '.join(f.name for f in blas)} ({_megabytes(_size(blas))}: "
                  "the kernels' one-thread BLAS; `clear` keeps it)")
        print("  ($GRAPHC_CACHE_DIR moves it; `graphc cache clear` empties it)")
        return 0
    cutoff = time.time() - args.older_than * 86400 if args.older_than is not None else None
    removed = [g for g in entries.values() if cutoff is None or _age(g) < cutoff]
    freed = _size([f for g in removed for f in g])
    for group in removed:
        for f in group:
            f.unlink(missing_ok=True)
    older = "" if cutoff is None else f" older than {args.older_than:g} days"
    print(f"removed {len(removed)} kernels{older} ({_megabytes(freed)}) from {directory}; "
          f"{len(entries) - len(removed)} kept")
    return 0


# -- the command line ------------------------------------------------------------------------
def _days(text: str) -> float:
    try:
        days = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of days, got {text!r}") from None
    if days < 0:
        raise argparse.ArgumentTypeError(f"expected a number of days >= 0, got {text}")
    return days


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="graphc", description="graphc: a static-graph compiler with symbolic backprop. "
        "Start with: graphc demo")
    parser.add_argument("--version", action="version", version=f"graphc {gc.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo_cmd = commands.add_parser("demo", help="the lecture's graphs and W1: backward graphs, compiled vs "
                                   "interpreted, a training run", description=demo.__doc__)
    demo_cmd.add_argument("--backend", choices=["numba", "interpret"], default="numba",
                          help="the backend of the compiled side (default: numba)")
    demo_cmd.add_argument("--dot", metavar="DIR", type=Path, help="also write each graph as a Graphviz DOT file in DIR")
    demo_cmd.add_argument("--no-progress", action="store_true", help="no progress bar (it shows only on a terminal)")

    show_cmd = commands.add_parser(
        "show", help="print (or draw) the forward and backward graph of a node in your file",
        description="Import FILE.py, take NAME (a graphc node, a list of nodes, or a function returning them, "
        "called without arguments) and print its graph, one line per node, backward nodes with their gate "
        "pattern. A scalar first output is differentiated w.r.t. every float input unless --grad or --no-grad "
        "says otherwise.")
    show_cmd.add_argument("target", metavar="FILE.py:NAME")
    grads = show_cmd.add_mutually_exclusive_group()
    grads.add_argument("--grad", metavar="VAR,...", help="differentiate the first output w.r.t. these inputs")
    grads.add_argument("--no-grad", action="store_true", help="the forward graph only")
    show_cmd.add_argument("--optimized", action="store_true", help="after the optimization passes: what is compiled")
    for fmt, what in (("dot", "Graphviz DOT text"), ("svg", "an SVG picture"), ("png", "a PNG picture")):
        show_cmd.add_argument(f"--{fmt}", metavar="OUT", type=Path, help=f"also write the graph as {what} to OUT")

    bench_cmd = commands.add_parser("bench", help="time graphc against its interpreter, NumPy by hand and the peers",
                                    description=bench.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    bench.add_arguments(bench_cmd)

    cache_cmd = commands.add_parser("cache", help="the disk cache of compiled kernels: info, clear",
                                    description="The kernel cache: $GRAPHC_CACHE_DIR, else the user's cache "
                                    "directory.")
    cache_commands = cache_cmd.add_subparsers(dest="cache_command", metavar="info|clear", required=True)
    cache_commands.add_parser("info", help="location, kernel count, size, oldest and newest",
                              description="Location, kernel count, size, oldest and newest entry.")
    clear_cmd = cache_commands.add_parser("clear", help="delete cached kernels",
                                          description="Delete cached kernels (all, or those older than DAYS); "
                                          "they are compiled again when next used.")
    clear_cmd.add_argument("--older-than", type=_days, metavar="DAYS", help="only kernels last written before then")
    return parser


def _is_backend_module(name: str | None) -> bool:
    """Whether a missing module is numba (or llvmlite) or graphc's numba runtime itself."""
    root = (name or "").split(".")[0]
    return root in ("numba", "llvmlite") or (name or "").startswith("graphc.runtime")


def _dispatch(args: argparse.Namespace, argv: list[str]) -> int:
    if args.command == "demo":
        return demo.demo(args.backend, args.dot, progress=not args.no_progress)
    if args.command == "show":
        return show(args)
    if args.command == "cache":
        return cache(args)
    return bench.launch(argv[argv.index("bench") + 1:])


def main(argv: Sequence[str] | None = None) -> int:
    """The ``graphc`` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return _dispatch(args, argv)
    except ModuleNotFoundError as exc:
        if args.command != "demo" or not _is_backend_module(exc.name):  # a bug: keep the traceback
            raise
        print(f"graphc demo: the {args.backend} backend cannot be loaded: {exc}\n"
              "  (try: graphc demo --backend interpret)", file=sys.stderr)
        return 1
    except (gc.GraphcError, CommandError) as exc:
        kind = "" if isinstance(exc, CommandError) else f"{type(exc).__name__}: "
        print(f"graphc {args.command}: {kind}{exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `graphc demo | head`: the reader left, which is not an error
        sys.stdout = open(os.devnull, "w")  # so the final flush at exit is quiet
        return 0


if __name__ == "__main__":
    sys.exit(main())
