"""Run every workload x peer x {fwd, fwd+bwd} x {float64, float32} and print the tables.

    python -m benchmarks.run_peers [--workloads W1,W4] [--peers numpy,jax] [--quick] [--busy K]
    python benchmarks/run_peers.py ...

Every peer's loss and gradients are checked against NumPy by hand before it is
timed; a peer that disagrees is reported WRONG and not timed. Peers whose package
is missing are skipped with a note. With ``--busy K`` every case is also timed with K
cores kept busy by spinning processes (benchmarks/busy.py), in rows marked "busy K"
beside the quiet ones. Every cell gives the median and the 90th percentile (p90).
"""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:  # run as a script: make the `benchmarks` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import benchmarks  # noqa: F401  (its __init__ pins OPENBLAS_CORETYPE before NumPy loads)

import argparse  # noqa: E402
import atexit  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402

import numpy as np  # noqa: E402

from benchmarks import busy, harness, selftest  # noqa: E402
from benchmarks.harness import Row  # noqa: E402
from benchmarks.peers import PEERS, PeerImpl  # noqa: E402
from benchmarks.workloads import WORKLOADS  # noqa: E402

DTYPES = {"f64": np.dtype(np.float64), "f32": np.dtype(np.float32)}
MODES = ("fwd", "fwd+bwd")


def _names(allowed: Sequence[str]) -> Callable[[str], list[str]]:
    """argparse type: a comma-separated subset of `allowed`, in the order given."""

    def parse(text: str) -> list[str]:
        names = [n for n in text.split(",") if n]
        unknown = [n for n in names if n not in allowed]
        if unknown:
            raise argparse.ArgumentTypeError(f"unknown {unknown}; choose from {','.join(allowed)}")
        return names

    return parse


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workloads", type=_names(list(WORKLOADS)), default=list(WORKLOADS), help="comma-separated")
    p.add_argument("--peers", type=_names(list(PEERS)), default=list(PEERS), help="comma-separated")
    p.add_argument("--dtypes", type=_names(list(DTYPES)), default=list(DTYPES))
    p.add_argument("--modes", type=_names(MODES), default=list(MODES))
    p.add_argument("--rounds", type=int, default=15, help="interleaved rounds (samples per case)")
    p.add_argument("--min-time", type=float, default=0.02, help="seconds per sample")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--quick", action="store_true", help="5 rounds of 5 ms: a smoke run, not a measurement")
    p.add_argument("--busy", type=int, default=0, metavar="K",
                   help="also time every case with K cores kept busy by spinning processes")
    p.add_argument("--no-selftest", action="store_true", help="skip the finite-difference check of NumPy")
    p.add_argument(
        "--pytensor-cold", action="store_true", help="give PyTensor an empty compile cache (cold compile times)"
    )
    args = p.parse_args(argv)
    if args.quick:
        args.rounds, args.min_time = 5, 0.005
    return args


def _use_empty_pytensor_cache() -> None:
    # Must run before PyTensor is imported: it reads its flags once.
    path = tempfile.mkdtemp(prefix="pytensor-cold-")
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    flags = os.environ.get("PYTENSOR_FLAGS", "")
    os.environ["PYTENSOR_FLAGS"] = f"{flags},base_compiledir={path}".lstrip(",")


def _checked_impls(workload: str, dtype: np.dtype, peers: list[str], data: dict) -> dict[str, tuple[PeerImpl, dict]]:
    """Build each peer, and keep only those that reproduce NumPy by hand."""
    wrt = WORKLOADS[workload].wrt
    reference = PEERS["numpy"](workload, dtype)
    assert reference is not None
    ref_prepared = reference.prepare(data)
    ref = reference.forward_backward(ref_prepared)
    ok: dict[str, tuple[PeerImpl, dict]] = {}
    for peer in peers:
        impl = reference if peer == "numpy" else PEERS[peer](workload, dtype)
        if impl is None:
            continue
        prepared = impl.prepare(data)
        problems = harness.check_forward_backward(impl.forward_backward(prepared), ref, wrt, dtype)  # type: ignore[arg-type]
        problems += harness.compare("forward loss", impl.forward(prepared), ref[0], dtype)  # type: ignore[index]
        if problems:
            print(f"  WRONG {peer} {workload} {dtype}: " + "; ".join(problems))
            ok[peer] = (impl, {})  # kept only to report it; never timed
        else:
            ok[peer] = (impl, prepared)
    return ok


def measure(workload: str, dtype_name: str, args: argparse.Namespace, peers: list[str]) -> list[Row]:
    dtype = DTYPES[dtype_name]
    data = WORKLOADS[workload].make_data(dtype, np.random.default_rng(args.seed))
    impls = _checked_impls(workload, dtype, peers, data)
    rows = [Row(workload, dtype_name, "compile", peer, impl.compile_seconds) for peer, (impl, _) in impls.items()]
    for mode in args.modes:
        cases = {}
        for peer, (impl, prepared) in impls.items():
            if not prepared:
                rows.append(Row(workload, dtype_name, mode, peer, float("nan"), note="WRONG"))
                continue
            fn = impl.forward if mode == "fwd" else impl.forward_backward
            cases[peer] = lambda fn=fn, prepared=prepared: fn(prepared)
        samples = harness.time_interleaved_samples(cases, rounds=args.rounds, min_time=args.min_time)
        for peer, s in samples.items():
            rows.append(Row(workload, dtype_name, mode, peer, float(np.median(s)), harness.spread(s),
                            p90=harness.p90(s)))
        if args.busy:  # the same cases right after, with cores taken
            with busy.spinning(args.busy):
                samples = harness.time_interleaved_samples(cases, rounds=args.rounds, min_time=args.min_time)
            for peer, s in samples.items():
                rows.append(Row(workload, dtype_name, f"{mode} busy {args.busy}", peer, float(np.median(s)),
                                harness.spread(s), p90=harness.p90(s)))
    return rows


def _versions() -> str:
    found = []
    for module in ("jax", "torch", "pytensor", "numba"):
        loaded = sys.modules.get(module)  # None where an import was blocked
        if loaded is not None:
            found.append(f"{module} {loaded.__version__}")
    torch = sys.modules.get("torch")
    if torch is not None:
        found.append(f"torch threads {torch.get_num_threads()}")
    return ", ".join(found) or "no optional peers loaded"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.pytensor_cold:
        _use_empty_pytensor_cache()
    print(harness.environment_report())
    if not args.no_selftest:
        errors = selftest.run_all()
        print("numpy baseline vs finite differences: " + ("OK" if not errors else "FAILED"))
        if errors:
            print("\n".join(errors))
            return 1
    peers = ["numpy", *(p for p in args.peers if p != "numpy")]
    rows: list[Row] = []
    for workload in args.workloads:
        for dtype_name in args.dtypes:
            print(f"measuring {workload} {dtype_name} ...", flush=True)
            rows += measure(workload, dtype_name, args, peers)
    print(f"\n{harness.load_report()}")
    print(f"{_versions()}; timing loop overhead {harness.format_seconds(harness.call_overhead())}/call")
    timed = [r for r in rows if r.mode != "compile"]
    harness.print_table(timed, baseline="numpy", title="Median time per call")
    if any(r.system == "jax" and not math.isnan(r.seconds) for r in timed):
        harness.print_table(timed, baseline="jax", title="The same, as ratios to JAX jit (W2 and W4's targets)")
    cache = "empty cache" if args.pytensor_cold else "PyTensor disk cache as found"
    harness.print_table(
        [r for r in rows if r.mode == "compile"],
        baseline=None,
        title=f"Graph definition -> first result, fwd+bwd (one run each; {cache})",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
