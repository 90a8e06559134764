"""The PyTensor peer's graphs (graphc/bench/peer_pytensor.py) compute what NumPy by hand
computes, loss and gradients, including W5's and W6's convolutions written as im2col.

They run on PyTensor's Python linker: the benchmark's Numba mode compiles the same graphs
for minutes (W6 alone), which belongs in ``graphc bench``, not in the suite."""

from __future__ import annotations

import numpy as np
import pytest

from graphc.bench import harness, peer_numpy
from graphc.bench.workloads import WORKLOADS

pytensor = pytest.importorskip("pytensor")
from graphc.bench import peer_pytensor  # noqa: E402  (only with PyTensor installed)

PYTHON_LINKER = pytensor.compile.Mode(linker="py", optimizer="fast_compile")  # no C, no Numba


@pytest.mark.parametrize("workload", ["W1", "W5_8x8", "W6_8x8"])
def test_pytensor_graphs_match_numpy_by_hand(workload):
    dtype = np.dtype(np.float64)
    data = WORKLOADS[workload].make_data(dtype, np.random.default_rng(5))
    peer = peer_pytensor.parts(workload, dtype, mode=PYTHON_LINKER)
    got = peer.define_forward_backward()(peer.prepare(data))
    forward = peer.define_forward()(peer.prepare(data))
    by_hand = peer_numpy.parts(workload, dtype)
    want = by_hand.define_forward_backward()(by_hand.prepare(data))
    assert harness.check_forward_backward(got, want, WORKLOADS[workload].wrt, dtype) == []
    assert harness.compare("forward loss", forward, want[0], dtype) == []


def test_every_workload_has_a_pytensor_graph():
    assert set(peer_pytensor.LOSSES) == set(WORKLOADS)
