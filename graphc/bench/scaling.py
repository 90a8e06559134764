"""Workload S: how graphc's stages scale with the size of the graph.

A chain of n elementwise ops (tanh, mul, add, sigmoid, ... in turn) over x of shape
(N, 8), summed. For each n it reports the time to declare the chain, to build its
backward graph (gc.grad), to run the optimization passes, to compile cold (a fresh
cache directory) and to load warm (the same source from the disk cache, in a fresh
process), and the number of nodes. The grad column is the adjoint pass alone: the
issue asks it to be linear and well inside a second at n = 10,000.

    python -m benchmarks.scaling            # n = 10, 100, 1000 (+ grad-only 10000)
    python -m benchmarks.scaling --n 10 100  # a subset
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def chain(n: int):
    import graphc as gc

    x = gc.input("x", shape=("N", 8))
    h = x
    for k in range(n):
        step = k % 4
        h = gc.tanh(h) if step == 0 else h * 0.9 if step == 1 else h + 0.1 if step == 2 else gc.sigmoid(h)
    return x, gc.sum(h)


def stage_times(n: int) -> dict[str, float]:
    import graphc as gc
    from graphc.passes import optimize

    t0 = time.perf_counter()
    x, loss = chain(n)
    t1 = time.perf_counter()
    (dx,) = gc.grad(loss, [x])
    t2 = time.perf_counter()
    optimize([loss, dx])
    t3 = time.perf_counter()
    return {"declare": t1 - t0, "grad": t2 - t1, "passes": t3 - t2, "nodes": float(len(gc.ir.order([loss, dx])))}


_COMPILE = """
import sys, time
sys.path.insert(0, {root!r})
from benchmarks.scaling import chain
import numpy as np
import graphc as gc
import numba  # imported before the clock starts: a fixed cost of any Numba program
x, loss = chain({n})
(dx,) = gc.grad(loss, [x])
t = time.perf_counter()
f = gc.compile([x], [loss, dx])
f(np.ones((4, 8)))
print(time.perf_counter() - t)
"""


def compile_seconds(n: int, cache_dir: str) -> float:
    """From a declared graph to its first result, in a fresh process."""
    env = {**os.environ, "GRAPHC_CACHE_DIR": cache_dir}
    out = subprocess.run(
        [sys.executable, "-c", _COMPILE.format(root=str(ROOT), n=n)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="*", default=[10, 100, 1000])
    parser.add_argument("--grad-only", type=int, nargs="*", default=[10000])
    parser.add_argument("--no-compile", action="store_true", help="skip the cold/warm compile columns")
    args = parser.parse_args(argv)
    print(f"{'n':>6} {'nodes':>7} {'declare':>9} {'grad':>9} {'passes':>9} {'cold':>8} {'warm':>8}")
    for n in args.n:
        t = stage_times(n)
        cold = warm = float("nan")
        if not args.no_compile:
            with tempfile.TemporaryDirectory(prefix="graphc-scaling-") as cache:
                cold = compile_seconds(n, cache)
                warm = compile_seconds(n, cache)
        print(
            f"{n:>6} {int(t['nodes']):>7} {t['declare']:>8.4f}s {t['grad']:>8.4f}s {t['passes']:>8.4f}s "
            f"{cold:>7.2f}s {warm:>7.2f}s"
        )
    for n in args.grad_only:
        t = stage_times(n)
        print(
            f"{n:>6} {int(t['nodes']):>7} {t['declare']:>8.4f}s {t['grad']:>8.4f}s {t['passes']:>8.4f}s "
            f"{'-':>8} {'-':>8}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
