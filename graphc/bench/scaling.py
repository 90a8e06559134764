"""Workload S: how graphc's stages scale with the size of the graph.

A chain of n elementwise ops (tanh, mul, add, sigmoid, ... in turn) over x of shape
(N, 8), summed, and its gradient. For each n: the time to declare the chain, to build
its backward graph (gc.grad), to run the optimization passes, to compile cold (a fresh
process with an empty cache directory) and to load warm (the same graph in another
fresh process, from that cache), the run time of a call compiled and interpreted
(N = 1000), and the number of nodes. The grad column is the adjoint pass alone, which
must stay linear in n.

Workload WIDE: n inputs x_i of shape (N, 8), h = sum_i tanh(x_i) * x_i, the loss
sum(h * h), and its n gradients: a kernel of n array arguments and n + 1 results (the
issue's target: 2,000 inputs compile cold in 30 s, time linear in n). For each n: the
cold compile in a fresh process (wall and CPU seconds), the warm load, and the run time
compiled and interpreted (N = 1000).

    python -m graphc.bench.scaling              # n = 10, 100, 1000, 5000
    python -m graphc.bench.scaling --n 10 100   # a subset
    python -m graphc.bench.scaling --wide --n 10 100
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

import numpy as np

import graphc as gc
from graphc.bench import harness

SIZES = (10, 100, 1000, 5000)  # 5,000 ops: the target of a cold compile in 10 s (full run only)
QUICK_SIZES = (10, 100)
ROWS = 1000  # N of the timed calls
WIDE_SIZES = (10, 100, 1000, 2000)  # WIDE's input counts (full run)
WIDE_QUICK_SIZES = (10, 100)


def chain(n: int) -> tuple[gc.Node, gc.Node]:
    x = gc.input("x", shape=("N", 8))
    h = x
    for k in range(n):
        step = k % 4
        h = gc.tanh(h) if step == 0 else h * 0.9 if step == 1 else h + 0.1 if step == 2 else gc.sigmoid(h)
    return x, gc.sum(h)


def wide(n: int) -> tuple[list[gc.Node], gc.Node]:
    """WIDE's graph: n inputs of shape (N, 8) and the loss sum((sum_i tanh(x_i) * x_i)^2)."""
    xs = [gc.input(f"x{i}", shape=("N", 8)) for i in range(n)]
    h: Any = 0
    for x in xs:
        h = h + gc.tanh(x) * x
    return xs, gc.sum(h * h)


def stage_times(n: int) -> dict[str, float]:
    """Seconds to declare, differentiate and optimize the chain of n ops, and its node count."""
    from graphc.passes import optimize

    t0 = time.perf_counter()
    x, loss = chain(n)
    t1 = time.perf_counter()
    (dx,) = gc.grad(loss, [x])
    t2 = time.perf_counter()
    optimize([loss, dx])
    t3 = time.perf_counter()
    return {"declare": t1 - t0, "grad": t2 - t1, "passes": t3 - t2, "nodes": len(gc.ir.order([loss, dx]))}


def _in_fresh_process(n: int, rounds: int, min_time: float, workload: str = "S") -> dict[str, Any]:
    """Run in the child: compile (timed from the declared graph to the first result, in
    wall and CPU seconds), then, if rounds > 0, time calls compiled and interpreted and
    compare them. ``workload``: "S" (a chain of n ops) or "WIDE" (n inputs)."""
    gc.warm_up()  # Numba's one-time start-up, before the clock: a fixed cost of any Numba program

    rng = np.random.default_rng(0)
    if workload == "S":
        x, loss = chain(n)
        inputs, names = [x], ["dx"]
    else:
        inputs, loss = wide(n)
        names = [f"dx{i}" for i in range(n)]
    outputs = [loss, *gc.grad(loss, inputs)]
    values = [rng.standard_normal((ROWS, 8)) for _ in inputs]
    t, cpu = time.perf_counter(), time.process_time()
    f = gc.compile(inputs, outputs)
    got = f(*values)
    result: dict[str, Any] = {"compile": time.perf_counter() - t, "compile_cpu": time.process_time() - cpu}
    if rounds:
        g = gc.compile(inputs, outputs, backend="interpret")
        want = g(*values)
        problems = [p for name, a, b in zip(["loss", *names], got, want)
                    for p in harness.compare(name, a, b, np.dtype(np.float64))]
        times = harness.time_interleaved({"graphc": lambda: f(*values), "interpret": lambda: g(*values)},
                                         rounds=rounds, min_time=min_time)
        result |= {"run": times["graphc"], "run_interpret": times["interpret"], "problems": problems}
    return result


def compile_and_run(n: int, cache_dir: str, rounds: int = 0, min_time: float = 0.02,
                    workload: str = "S") -> dict[str, Any]:
    """``_in_fresh_process`` in a new Python process whose kernel cache is ``cache_dir``."""
    code = f"import json; from graphc.bench.scaling import _in_fresh_process as f; " \
           f"print(json.dumps(f({n}, {rounds}, {min_time}, {workload!r})))"
    env = {**os.environ, "GRAPHC_CACHE_DIR": cache_dir}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"{workload} with n={n} failed in its process:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(n: int, rounds: int = 15, min_time: float = 0.02) -> dict[str, Any]:
    """Every figure of S for a chain of n ops (two fresh processes: cold, then warm)."""
    result: dict[str, Any] = {"n": n, **stage_times(n)}
    with tempfile.TemporaryDirectory(prefix="graphc-scaling-") as cache:
        result["compile_cold"] = compile_and_run(n, cache)["compile"]
        warm = compile_and_run(n, cache, rounds, min_time)
    result["compile_warm"] = warm.pop("compile")
    del warm["compile_cpu"]
    return result | warm


def measure_wide(n: int, rounds: int = 15, min_time: float = 0.02) -> dict[str, Any]:
    """Every figure of WIDE for n inputs (two fresh processes: cold, then warm)."""
    with tempfile.TemporaryDirectory(prefix="graphc-wide-") as cache:
        cold = compile_and_run(n, cache, workload="WIDE")
        warm = compile_and_run(n, cache, rounds, min_time, workload="WIDE")
    result = {"n": n, "compile_cold": cold["compile"], "compile_cold_cpu": cold["compile_cpu"],
              "compile_warm": warm.pop("compile")}
    del warm["compile_cpu"]
    return result | warm


def format_wide_rows(results: list[dict[str, Any]]) -> list[str]:
    """The WIDE table: one line per input count."""
    fmt = harness.format_seconds
    lines = [f"{'n':>6} {'cold':>9} {'cold cpu':>9} {'warm':>9} {'run':>9} {'interpret':>9}"]
    for r in results:
        note = "  WRONG: " + "; ".join(r["problems"][:3]) if r.get("problems") else ""
        lines.append(f"{r['n']:>6} {fmt(r['compile_cold']):>9} {fmt(r['compile_cold_cpu']):>9} "
                     f"{fmt(r['compile_warm']):>9} {fmt(r.get('run', np.nan)):>9} "
                     f"{fmt(r.get('run_interpret', np.nan)):>9}{note}")
    return lines


def format_rows(results: list[dict[str, Any]]) -> list[str]:
    """The S table: one line per n."""
    lines = [f"{'n':>6} {'nodes':>6} {'declare':>9} {'grad':>9} {'passes':>9} {'cold':>9} {'warm':>9} "
             f"{'run':>9} {'interpret':>9}"]
    fmt = harness.format_seconds
    for r in results:
        note = "  WRONG: " + "; ".join(r["problems"]) if r.get("problems") else ""
        lines.append(f"{r['n']:>6} {r['nodes']:>6} {fmt(r['declare']):>9} {fmt(r['grad']):>9} {fmt(r['passes']):>9} "
                     f"{fmt(r['compile_cold']):>9} {fmt(r['compile_warm']):>9} {fmt(r.get('run', np.nan)):>9} "
                     f"{fmt(r.get('run_interpret', np.nan)):>9}{note}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="*",
                        help="default: 10, 100, 1000, 5000 (S); 10, 100, 1000, 2000 (WIDE)")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--wide", action="store_true", help="WIDE (n inputs and their gradients) instead of S")
    args = parser.parse_args(argv)
    if args.wide:
        print("\n".join(format_wide_rows([measure_wide(n, args.rounds) for n in args.n or WIDE_SIZES])))
    else:
        print("\n".join(format_rows([measure(n, args.rounds) for n in args.n or SIZES])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
