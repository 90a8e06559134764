"""W1 to W6, declared exactly as the benchmarks declare them: the compiled function
equals the interpreter (1e-12 relative in float64), and the loss and gradients match
NumPy by hand (graphc/bench/peer_numpy.py)."""

from __future__ import annotations

import numpy as np
import pytest

from graphc.bench import peer_numpy
from graphc.bench.peer_graphc import parts
from graphc.bench.workloads import WORKLOADS

CASES = ["W1", "W2", "W3_add_mul", "W3_neuron", "W4", "W5_8x8", "W6_8x8"]
RTOL = {"float64": 1e-12, "float32": 2e-5}


def relative_error(got, want) -> float:
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return float(np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-30))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("workload", CASES)
def test_compiled_equals_interpreted_and_numpy(workload, dtype):
    dtype = np.dtype(dtype)
    data = WORKLOADS[workload].make_data(dtype, np.random.default_rng(3))
    results = {}
    for backend in ("numba", "interpret"):
        p = parts(workload, dtype, backend=backend)
        loss, grads = p.define_forward_backward()(p.prepare(data))
        assert np.asarray(loss).dtype == dtype and all(g.dtype == dtype for g in grads)
        results[backend] = [loss, *grads]
    by_hand = peer_numpy.parts(workload, dtype)
    loss, grads = by_hand.define_forward_backward()(by_hand.prepare(data))
    for got, interpreted, numpy in zip(results["numba"], results["interpret"], [loss, *grads]):
        assert np.shape(got) == np.shape(interpreted) == np.shape(numpy)
        assert relative_error(got, interpreted) <= RTOL[dtype.name]
        assert relative_error(got, numpy) <= (1e-10 if dtype == np.float64 else 1e-4)
