"""graphc bench: every workload x system x {fwd, fwd+bwd} x {f64, f32}, timed.

Every system's loss and gradients are checked against NumPy by hand before it is
timed; a system that disagrees is reported WRONG and not timed. Systems whose
package is missing are skipped with a note. Tables give the median time per call
and its ratio to NumPy by hand and to graphc's interpreter; --json keeps every
figure with the machine it was measured on; --plot draws them (the plot extra).

    graphc bench --quick
    graphc bench --workloads W1,S --systems graphc,interpret,numpy --json out/w1.json --plot out/
"""

from __future__ import annotations

import argparse
import atexit
import datetime
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

import graphc
from graphc.bench import bench_environ, busy, harness, machine, scaling, selftest
from graphc.bench.harness import Row
from graphc.bench.peers import PEERS, PeerImpl
from graphc.bench.workloads import WORKLOADS

DTYPES = {"f64": np.dtype(np.float64), "f32": np.dtype(np.float32)}
MODES = ("fwd", "fwd+bwd")
WORKLOAD_NAMES = [*WORKLOADS, "S", "WIDE"]
QUICK_SKIPS = {"W5_28x28"}  # --quick without --workloads: its cold compile alone takes ~25 s
SLOW_COMPILERS = {"torch-compile", "pytensor"}  # --quick without --systems leaves them out
PLOT_FORMATS = ("png", "svg")
JSON_FORMAT = 1  # bumped when the JSON's layout changes


def _names(allowed: Sequence[str]) -> Callable[[str], list[str]]:
    """argparse type: a comma-separated subset of `allowed`, in the order given."""

    def parse(text: str) -> list[str]:
        names = [n for n in text.split(",") if n]
        unknown = [n for n in names if n not in allowed]
        if unknown:
            raise argparse.ArgumentTypeError(f"unknown {unknown}; choose from {','.join(allowed)}")
        if not names:
            raise argparse.ArgumentTypeError("empty list")
        return names

    return parse


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(n) for n in text.split(",") if n]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return sizes


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``graphc bench`` (also ``python -m graphc.bench``)."""
    p.add_argument("--workloads", type=_names(WORKLOAD_NAMES), metavar="W1,S,...",
                   help=f"comma-separated, from {','.join(WORKLOAD_NAMES)} (default: all; with --quick all but "
                        f"{','.join(sorted(QUICK_SKIPS))})")
    p.add_argument("--systems", type=_names(list(PEERS)), metavar="graphc,numpy,...",
                   help=f"comma-separated, from {','.join(PEERS)} (default: every one installed; with --quick "
                        f"not {','.join(sorted(SLOW_COMPILERS))}). numpy always runs: it is the reference")
    p.add_argument("--dtypes", type=_names(list(DTYPES)), default=list(DTYPES), metavar="f64,f32")
    p.add_argument("--modes", type=_names(MODES), default=list(MODES), metavar="fwd,fwd+bwd")
    p.add_argument("--rounds", type=int, help="interleaved rounds, samples per case (default 15; --quick 5)")
    p.add_argument("--min-time", type=float, help="seconds per sample (default 0.02; --quick 0.005)")
    p.add_argument("--pause", type=float,
                   help=f"seconds of rest before each sample, so that the threads of the case before it go idle, "
                        f"then as long untimed as timed (default {harness.PAUSE}; --quick 0)")
    p.add_argument("--sizes", type=_sizes, metavar="10,100,...",
                   help=f"S's chain lengths (default {','.join(map(str, scaling.SIZES))}; "
                        f"--quick {','.join(map(str, scaling.QUICK_SIZES))})")
    p.add_argument("--wide-sizes", type=_sizes, metavar="10,100,...",
                   help=f"WIDE's input counts (default {','.join(map(str, scaling.WIDE_SIZES))}; "
                        f"--quick {','.join(map(str, scaling.WIDE_QUICK_SIZES))})")
    p.add_argument("--seed", type=int, default=1, help="seed of the timed data")
    p.add_argument("--quick", action="store_true", help="a smoke run in a few minutes, not a measurement")
    p.add_argument("--json", type=Path, metavar="PATH", help="write every figure and the machine's description")
    p.add_argument("--plot", type=Path, metavar="DIR", help="write plots to DIR (needs matplotlib: the plot extra)")
    p.add_argument("--plot-format", type=_names(PLOT_FORMATS), default=["png"], metavar="png,svg")
    p.add_argument("--busy", type=int, default=0, metavar="K",
                   help="also time every case with K cores kept busy by spinning processes (rows 'busy K')")
    p.add_argument("--no-selftest", action="store_true", help="skip the finite-difference check of NumPy by hand")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (it shows only on a terminal)")
    p.add_argument("--pytensor-cold", action="store_true",
                   help="give PyTensor an empty compile cache (cold compile times)")
    p.add_argument("--cold", action="store_true",
                   help="compile from empty caches: graphc's kernels, PyTensor's and torch inductor's go to fresh "
                        "temporary directories, deleted at exit (implies --pytensor-cold)")


def settle(args: argparse.Namespace) -> argparse.Namespace:
    """Fill the defaults that depend on --quick."""
    args.rounds = args.rounds or (5 if args.quick else 15)
    args.min_time = args.min_time or (0.005 if args.quick else 0.02)
    if args.pause is None:
        args.pause = 0.0 if args.quick else harness.PAUSE
    args.sizes = args.sizes or list(scaling.QUICK_SIZES if args.quick else scaling.SIZES)
    args.wide_sizes = args.wide_sizes or list(scaling.WIDE_QUICK_SIZES if args.quick else scaling.WIDE_SIZES)
    if args.workloads is None:
        args.workloads = [w for w in WORKLOAD_NAMES if not (args.quick and w in QUICK_SKIPS)]
    if args.systems is None:
        args.systems = [s for s in PEERS if not (args.quick and s in SLOW_COMPILERS)]
    return args


def _empty_cache_dir(prefix: str) -> str:
    """A fresh directory, deleted when this process exits."""
    path = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def _use_empty_pytensor_cache() -> None:
    # Must run before PyTensor is imported: it reads its flags once.
    flags = os.environ.get("PYTENSOR_FLAGS", "")
    os.environ["PYTENSOR_FLAGS"] = f"{flags},base_compiledir={_empty_cache_dir('pytensor-cold-')}".lstrip(",")


def _use_empty_caches() -> None:
    """--cold: every compiler that keeps code on disk starts from nothing. Set in this
    process's environment before any peer is imported (torch reads its variable then);
    graphc reads GRAPHC_CACHE_DIR at each compile, and S's processes inherit it (S
    compiles in its own empty directory anyway)."""
    _use_empty_pytensor_cache()
    os.environ["GRAPHC_CACHE_DIR"] = _empty_cache_dir("graphc-cold-")
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = _empty_cache_dir("torchinductor-cold-")


Status = Callable[[str], None]


def _checked_impls(workload: str, dtype: np.dtype, systems: list[str], data: dict,
                   status: Status) -> dict[str, tuple[PeerImpl, dict]]:
    """Build each system, and keep only those that reproduce NumPy by hand."""
    wrt = WORKLOADS[workload].wrt
    reference = PEERS["numpy"](workload, dtype)
    assert reference is not None
    ref = reference.forward_backward(reference.prepare(data))
    ok: dict[str, tuple[PeerImpl, dict]] = {}
    for system in systems:
        status(f"{system}: compiling")
        impl = reference if system == "numpy" else PEERS[system](workload, dtype)
        if impl is None:
            continue
        prepared = impl.prepare(data)
        problems = harness.check_forward_backward(impl.forward_backward(prepared), ref, wrt, dtype)  # type: ignore[arg-type]
        problems += harness.compare("forward loss", impl.forward(prepared), ref[0], dtype)  # type: ignore[index]
        if problems:
            tqdm.write(f"  WRONG {system} {workload} {dtype}: " + "; ".join(problems))
            ok[system] = (impl, {})  # kept only to report it; never timed
        else:
            ok[system] = (impl, prepared)
    return ok


def measure(workload: str, dtype_name: str, args: argparse.Namespace, systems: list[str],
            status: Status = lambda _: None) -> list[Row]:
    """Compile-time and run-time rows of one workload in one dtype, for every system."""
    dtype = DTYPES[dtype_name]
    data = WORKLOADS[workload].make_data(dtype, np.random.default_rng(args.seed))
    impls = _checked_impls(workload, dtype, systems, data, status)
    rows = []
    for system, (impl, _) in impls.items():
        rows.append(Row(workload, dtype_name, "compile fwd+bwd", system, impl.compile_seconds))
        rows.append(Row(workload, dtype_name, "compile fwd", system, impl.forward_compile_seconds))
    for mode in args.modes:
        status(f"timing {mode}")
        cases = {}
        for system, (impl, prepared) in impls.items():
            if not prepared:
                rows.append(Row(workload, dtype_name, mode, system, math.nan, note="WRONG"))
                continue
            fn = impl.forward if mode == "fwd" else impl.forward_backward
            cases[system] = lambda fn=fn, prepared=prepared: fn(prepared)
        samples = harness.time_interleaved_samples(cases, rounds=args.rounds, min_time=args.min_time,
                                                   pause=args.pause)
        for system, s in samples.items():
            rows.append(Row(workload, dtype_name, mode, system, float(np.median(s)), harness.spread(s),
                            p90=harness.p90(s)))
        if args.busy:  # the same cases right after, with cores taken
            status(f"timing {mode} with {args.busy} core(s) kept busy")
            with busy.spinning(args.busy):
                samples = harness.time_interleaved_samples(cases, rounds=args.rounds, min_time=args.min_time,
                                                           pause=args.pause)
            for system, s in samples.items():
                rows.append(Row(workload, dtype_name, f"{mode} busy {args.busy}", system, float(np.median(s)),
                                harness.spread(s), p90=harness.p90(s)))
    return rows


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Measure what ``args`` asks for, printing progress and tables; the JSON-ready results."""
    started = datetime.datetime.now(datetime.timezone.utc)
    clock = time.perf_counter()
    info = machine.describe()
    print(machine.summary(info))
    result: dict[str, Any] = {"format": JSON_FORMAT, "graphc": graphc.__version__, "started": started.isoformat(),
                              "argv": sys.argv, "settings": _settings(args), "machine": info, "selftest": None,
                              "rows": [], "scaling": [], "wide": [], "durations": {}, "seconds": None}
    workloads = [w for w in args.workloads if w not in ("S", "WIDE")]
    if workloads and not args.no_selftest:
        errors = selftest.run_all(workloads)
        result["selftest"] = errors
        print("NumPy by hand vs finite differences: " + ("OK" if not errors else "FAILED\n" + "\n".join(errors)))
        if errors:
            return result
    systems = ["numpy", *(s for s in args.systems if s != "numpy")]
    tasks = [(w, d) for w in workloads for d in args.dtypes]
    sizes = args.sizes if "S" in args.workloads else []
    wide_sizes = args.wide_sizes if "WIDE" in args.workloads else []
    rows: list[Row] = result["rows"]
    durations: dict[str, float] = result["durations"]  # wall seconds of each case: where a run's time goes
    with tqdm(total=len(tasks) + len(sizes) + len(wide_sizes), unit="case", disable=args.no_progress or None,
              file=sys.stderr, dynamic_ncols=True) as bar:
        for workload, dtype_name in tasks:
            case = f"{workload} {dtype_name}"
            _progress(bar, case)
            t = time.perf_counter()
            rows += measure(workload, dtype_name, args, systems, status=bar.set_postfix_str)
            durations[case] = time.perf_counter() - t
            bar.update()
        for label, key, ns, measure_one in (("S", "scaling", sizes, scaling.measure),
                                             ("WIDE", "wide", wide_sizes, scaling.measure_wide)):
            for n in ns:
                case = f"{label} n={n}"
                _progress(bar, case)
                bar.set_postfix_str("compiling cold and warm, in fresh processes")
                t = time.perf_counter()
                result[key].append(measure_one(n, args.rounds, args.min_time))
                durations[case] = time.perf_counter() - t
                bar.update()
    info["load_after"] = machine.load()
    print_tables(rows, result["scaling"], cold=args.cold, wide=result["wide"])
    result["seconds"] = time.perf_counter() - clock
    print(f"\n{machine.load_text(info['load_after'])} at the end; "
          f"timing loop overhead {harness.format_seconds(harness.call_overhead())}/call")
    print(duration_text(result["seconds"], durations))
    return result


def duration_text(total: float, durations: dict[str, float], longest: int = 3) -> str:
    """How long the run took, and its longest cases."""
    slow = sorted(durations.items(), key=lambda item: -item[1])[:longest]
    cases = ", ".join(f"{case} {harness.format_seconds(seconds)}" for case, seconds in slow)
    return f"took {total / 60:.1f} min" + (f"; longest cases: {cases}" if cases else "")


def _progress(bar: tqdm, case: str) -> None:
    """The case being measured: in the bar, or a line when there is no bar (no terminal)."""
    bar.set_description(case)
    if bar.disable:
        print(f"measuring {case} ...", flush=True)


def print_tables(rows: list[Row], scaled: list[dict[str, Any]], cold: bool = False,
                 wide: Sequence[dict[str, Any]] = ()) -> None:
    timed = [r for r in rows if not r.mode.startswith("compile")]
    if timed:
        harness.print_table(timed, baseline="numpy", title="Median time per call, and its ratio to NumPy by hand")
        for baseline, name in (("interpret", "graphc's interpreter"), ("jax", "JAX jit")):
            if any(r.system == baseline and not math.isnan(r.seconds) for r in timed):
                harness.print_table(timed, baseline=baseline, title=f"The same, as ratios to {name}")
    compiled = [r for r in rows if r.mode.startswith("compile")]
    if compiled:
        harness.print_table(compiled, baseline=None,
                            title="Graph definition -> first result (one run each; "
                                  f"{'empty disk caches' if cold else 'disk caches as found'})")
    if scaled:
        print("\nS: a chain of n elementwise ops and its gradient (cold: empty cache; warm: from the disk cache; "
              f"run: one call, N={scaling.ROWS})")
        print("\n".join(scaling.format_rows(scaled)))
    if wide:
        print("\nWIDE: n inputs of (N, 8), a loss and its n gradients (cold: empty cache, wall and CPU; warm: "
              f"from the disk cache; run: one call, N={scaling.ROWS})")
        print("\n".join(scaling.format_wide_rows(list(wide))))


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "func"}


def failed(result: dict[str, Any]) -> bool:
    """Whether graphc itself went wrong: the NumPy reference's self-test, a graphc system
    disagreeing with it, or S or WIDE compiled disagreeing with its interpreted self."""
    return bool(result["selftest"]) or any(
        row.note == "WRONG" and row.system in ("graphc", "interpret") for row in result["rows"]) or any(
        s.get("problems") for s in (*result["scaling"], *result.get("wide", ())))


def write_outputs(result: dict[str, Any], args: argparse.Namespace) -> None:
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        rows = [asdict(r) for r in result["rows"]]
        text = json.dumps(_null_nans(result | {"rows": rows}), indent=1, default=_jsonable, allow_nan=False)
        args.json.write_text(text + "\n")
        print(f"wrote {args.json}")
    if args.plot:
        from graphc.bench import plots

        for path in plots.write_all(result["rows"], result["scaling"], args.plot, args.plot_format):
            print(f"wrote {path}")


def _null_nans(value: Any) -> Any:
    """NaN (not measured) as null: strict JSON has no NaN."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _null_nans(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_null_nans(v) for v in value]
    return value


def _jsonable(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m graphc.bench``: measure in this process."""
    parser = argparse.ArgumentParser(prog="graphc bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    args = settle(parser.parse_args(argv))
    if args.plot:
        check_plot_extra(parser)
    if args.cold:
        _use_empty_caches()
    elif args.pytensor_cold:
        _use_empty_pytensor_cache()
    result = run(args)
    write_outputs(result, args)
    return 1 if failed(result) else 0


def check_plot_extra(parser: argparse.ArgumentParser) -> None:
    """Fail before measuring, not after, when --plot cannot be honoured."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        parser.error("--plot needs matplotlib: pip install 'graphc[plot]'")


def launch(argv: Sequence[str]) -> int:
    """``graphc bench``: OpenBLAS reads its settings when NumPy loads, which has happened
    in this process; where ``bench_environ`` adds to the environment, measure in a fresh
    process that has them from the start."""
    env = bench_environ(os.environ)
    if env == dict(os.environ):
        return main(argv)
    return subprocess.call([sys.executable, "-m", "graphc.bench", *argv], env=env)
