"""Your own graph timed compiled against interpreted: a layer, its loss and gradients.

    python examples/benchmark_vs_interpreter.py [--quick]
"""

import sys
import timeit
from functools import partial

import numpy as np

import graphc as gc

n = 64 if "--quick" in sys.argv else 512
x, w = gc.input("x", shape=("N", n)), gc.input("w", shape=(n, n))
loss = gc.sum(gc.tanh(x @ w) ** 2)
args = np.random.default_rng(0).standard_normal((256, n)), np.random.default_rng(1).standard_normal((n, n)) / n**0.5
per_call = {}
for backend in ("numba", "interpret"):
    f = gc.compile([x, w], [loss, *gc.grad(loss, [w])], backend=backend)
    f(*args)  # the first call compiles (or loads the kernel from the disk cache)
    calls, seconds = timeit.Timer(partial(f, *args)).autorange()
    per_call[backend] = seconds / calls
    print(f"{backend:>9}: {per_call[backend] * 1e6:9.1f} us per call of loss and dloss/dw, x {args[0].shape}")
print(f"compiled is {per_call['interpret'] / per_call['numba']:.1f}x faster than interpreted")
