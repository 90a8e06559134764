"""A workload (W1 by default) from a defined graph to its first result, in a fresh process: cold and warm cache.

Each run is a new Python process with its own GRAPHC_CACHE_DIR: the first run finds it
empty (cold: generate, compile with LLVM, write the cache), the later ones find it full
(warm: read the source, load the machine code). The clock starts after the imports
(``import graphc``, and NumPy and Numba under it, are a fixed cost of any program that
uses graphc and are reported apart) and the graph's declaration, and stops when the
first result is back, as for JAX's jit. The stages inside are reported too, and the
CPU time of the process from start to first result ("its CPU": on a shared machine the
wall clock also counts the time other processes held the cores; the first call's BLAS
and loop threads add to it).

    python -m graphc.bench.cold_start              # graphc and, if installed, JAX
    python -m graphc.bench.cold_start --runs 5
    python -m graphc.bench.cold_start --workload W6
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

_GRAPHC = """
import json, sys, time
t0 = time.perf_counter()
import numpy as np
import graphc as gc
t_import = time.perf_counter() - t0
t0 = time.perf_counter()
gc.warm_up()
t_numba = time.perf_counter() - t0
from graphc.bench.peer_graphc import LOSSES, _inputs
from graphc.bench.workloads import WORKLOADS

spec = WORKLOADS[{workload!r}]
data = spec.make_data(np.dtype("float64"), np.random.default_rng(0))
nodes = _inputs(data)
loss = LOSSES[{workload!r}](nodes)
t, cpu = time.perf_counter(), time.process_time()
grads = gc.grad(loss, [nodes[w] for w in spec.wrt])
f = gc.compile([nodes[k] for k in data], [loss, *grads])
f(*data.values())
total, cpu = time.perf_counter() - t, time.process_time() - cpu
print(json.dumps({{"import": t_import, "numba start": t_numba, "first result": total, "its CPU": cpu,
                  **f.stage_seconds}}))
"""

_JAX = """
import json, sys, time
t0 = time.perf_counter()
import numpy as np
from graphc.bench import peer_jax
t_import = time.perf_counter() - t0
from graphc.bench.workloads import WORKLOADS
parts = peer_jax.parts({workload!r}, np.dtype("float64"))
prepared = parts.prepare(WORKLOADS[{workload!r}].make_data(np.dtype("float64"), np.random.default_rng(0)))
t = time.perf_counter()
fn = parts.define_forward_backward()
fn(prepared)
print(json.dumps({{"import": t_import, "first result": time.perf_counter() - t}}))
"""


def run(template: str, cache_dir: str, workload: str = "W1") -> dict[str, float]:
    env = {**os.environ, "GRAPHC_CACHE_DIR": cache_dir}
    out = subprocess.run([sys.executable, "-c", template.format(workload=workload)], env=env, capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="warm runs after the cold one")
    parser.add_argument("--workload", default="W1", help="a workload of graphc.bench.workloads")
    args = parser.parse_args(argv)
    w = args.workload
    rows = []
    with tempfile.TemporaryDirectory(prefix="graphc-cold-") as cache:
        rows.append(("graphc cold", run(_GRAPHC, cache, w)))
        rows += [("graphc warm", run(_GRAPHC, cache, w)) for _ in range(args.runs)]
    try:
        import jax  # noqa: F401
    except ImportError:
        print("note: JAX not installed, not shown")
    else:
        rows += [("jax (no disk cache)", run(_JAX, "", w)) for _ in range(2)]
    keys = list(dict.fromkeys(k for _, r in rows for k in r))
    print(f"{w + ' f64, fresh process':<22}" + "".join(f"{k:>14}" for k in keys))
    for name, r in rows:
        print(f"{name:<22}" + "".join(f"{r[k]:>13.3f}s" if k in r else f"{'-':>14}" for k in keys))
    return 0


if __name__ == "__main__":
    sys.exit(main())
