"""What the workspace (graphc.codegen.memory) buys, measured: ``python -m graphc.bench.workspace``.

- ``--workloads W4,W1,W2``: the time per call of forward+backward with the workspace
  and without it (``gc.compile(..., workspace=False)``: every intermediate a fresh
  ``np.empty`` per call), the two functions called alternately in the same process,
  round after round; medians of wall-clock and CPU time per call, and their ratio.
- ``--rss``: RSS after the first 1,000 and after 1,000,000 calls of a small compiled
  function (W3's sigmoid neuron widened to arrays, so that it has a workspace).
- ``--peak W6``: the process's peak RSS (``ru_maxrss``) after three calls of W6 in
  float32, in a fresh process per system (graphc with and without the workspace, JAX).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import numpy as np


def _functions(workload: str, dtype: np.dtype) -> tuple[object, object, tuple]:
    import graphc as gc
    from graphc.bench.peer_graphc import LOSSES, _inputs, _prepare
    from graphc.bench.workloads import WORKLOADS

    spec = WORKLOADS[workload]
    data = spec.make_data(dtype, np.random.default_rng(0))
    made = []
    for workspace in (True, False):
        nodes = _inputs(data)
        loss = LOSSES[workload](nodes)
        outputs = [loss, *gc.grad(loss, [nodes[w] for w in spec.wrt])]
        made.append(gc.compile([nodes[k] for k in data], outputs, workspace=workspace))
    return made[0], made[1], _prepare(data)


def compare(workload: str, dtype: np.dtype, rounds: int, seconds: float) -> dict:
    """Per-call times with and without the workspace, interleaved: each round times a
    batch of calls of one, then of the other (which goes first alternates)."""
    with_ws, without, args = _functions(workload, dtype)
    a, b = with_ws(*args), without(*args)
    for x, y in zip(a, b):  # the same results, to the bit
        assert np.array_equal(np.asarray(x), np.asarray(y)), workload
    start = time.perf_counter()
    with_ws(*args)
    per_call = max(time.perf_counter() - start, 1e-6)
    calls = max(1, int(seconds / rounds / 2 / per_call))
    times: dict[str, list[float]] = {"workspace": [], "fresh": [], "workspace_cpu": [], "fresh_cpu": []}
    for r in range(rounds):
        order = [("workspace", with_ws), ("fresh", without)]
        for name, f in order if r % 2 == 0 else order[::-1]:
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(calls):
                f(*args)
            times[f"{name}_cpu"].append((time.process_time() - cpu) / calls)
            times[name].append((time.perf_counter() - wall) / calls)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"workload": workload, "dtype": np.dtype(dtype).name, "rounds": rounds, "calls_per_round": calls,
            "workspace_us": med["workspace"] * 1e6, "fresh_us": med["fresh"] * 1e6,
            "ratio": med["workspace"] / med["fresh"],
            "workspace_cpu_us": med["workspace_cpu"] * 1e6, "fresh_cpu_us": med["fresh_cpu"] * 1e6,
            "ratio_cpu": med["workspace_cpu"] / med["fresh_cpu"],
            "workspace_bytes": with_ws.memory.bytes()["workspace"]}


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def rss(calls: int) -> dict:
    """RSS after 1,000 calls and after ``calls`` calls of a small function with a workspace."""
    import graphc as gc

    w, x = gc.input("w", shape=(3,)), gc.input("x", shape=("N", 3))
    out = gc.sigmoid(x @ w)
    f = gc.compile([w, x], [gc.sum(out), *gc.grad(gc.sum(out * out), [w, x])])
    args = np.array([-0.2, -0.39, 0.2]), np.random.default_rng(0).standard_normal((4, 3))
    for _ in range(1000):
        f(*args)
    first = _rss()
    start = time.perf_counter()
    for _ in range(calls - 1000):
        f(*args)
    return {"calls": calls, "rss_after_1000_mb": first / 2**20, "rss_after_all_mb": _rss() / 2**20,
            "growth_mb": (_rss() - first) / 2**20, "seconds": time.perf_counter() - start,
            "workspace_bytes": f.memory.bytes(N=4)["workspace"]}


_PEAK = """
import resource, sys
import numpy as np
system = sys.argv[1]
from graphc.bench.workloads import WORKLOADS
data = WORKLOADS["W6"].make_data(np.dtype("float32"), np.random.default_rng(0))
if system == "jax":
    from graphc.bench import peer_jax as peer
    parts = peer.parts("W6", np.dtype("float32"))
    fn, args = parts.define_forward_backward(), parts.prepare(data)
else:
    import graphc as gc
    from graphc.bench.peer_graphc import LOSSES, _inputs, _prepare
    nodes = _inputs(data)
    loss = LOSSES["W6"](nodes)
    f = gc.compile([nodes[k] for k in data], [loss, *gc.grad(loss, [nodes[w] for w in WORKLOADS["W6"].wrt])],
                   workspace=system == "graphc")
    args = _prepare(data)
    fn = lambda a: f(*a)
for _ in range(3):
    fn(args)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def peak(systems: list[str]) -> dict:
    """Peak RSS (MB) of a fresh process making three W6 f32 calls, per system."""
    out = {}
    for system in systems:
        done = subprocess.run([sys.executable, "-c", _PEAK, system], capture_output=True, text=True, check=True)
        out[system] = float(done.stdout.split()[-1])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m graphc.bench.workspace", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workloads", default="W4", help="comma-separated, e.g. W4,W1,W2 ('' for none)")
    parser.add_argument("--dtype", default="float64")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--seconds", type=float, default=20.0, help="time per workload, both variants")
    parser.add_argument("--rss", type=int, default=0, metavar="CALLS", help="measure RSS over CALLS calls")
    parser.add_argument("--peak", default="", help="systems for W6's peak RSS: graphc,graphc-fresh,jax")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)
    results: dict = {"compare": [], "rss": None, "peak": None}
    for w in filter(None, args.workloads.split(",")):
        r = compare(w, np.dtype(args.dtype), args.rounds, args.seconds)
        results["compare"].append(r)
        print(f"{w} {r['dtype']}: workspace {r['workspace_us']:.1f} us, fresh {r['fresh_us']:.1f} us, "
              f"ratio {r['ratio']:.3f} (CPU: {r['workspace_cpu_us']:.1f} / {r['fresh_cpu_us']:.1f} us, "
              f"ratio {r['ratio_cpu']:.3f}); {args.rounds} rounds of {r['calls_per_round']} calls; "
              f"workspace {r['workspace_bytes']} bytes", flush=True)
    if args.rss:
        results["rss"] = r = rss(args.rss)
        print(f"RSS after 1,000 calls {r['rss_after_1000_mb']:.1f} MB, after {r['calls']:,} "
              f"{r['rss_after_all_mb']:.1f} MB: {r['growth_mb']:+.2f} MB ({r['seconds']:.1f} s)", flush=True)
    if args.peak:
        results["peak"] = r = peak(args.peak.split(","))
        print("W6 f32 peak RSS (3 calls): " + ", ".join(f"{k} {v:.0f} MB" for k, v in r.items()), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
