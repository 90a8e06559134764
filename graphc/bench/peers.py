"""The peers a graphc user would otherwise pick, behind one interface.

``PEERS[peer](workload_name, dtype)`` defines the workload's graph in that peer,
runs it once on sample data to measure graph definition -> first result (which is
when JIT systems compile), and returns a ``PeerImpl``; or ``None``, with a printed
note, when the peer's package is not importable.

Conventions shared by every peer:
- ``prepare`` converts the NumPy data once, outside timing;
- ``forward(prepared)`` returns the loss, computed to completion (JAX is blocked on);
- ``forward_backward(prepared)`` returns ``(loss, grads)``, grads a tuple in the
  workload's ``wrt`` order, each with the shape of its input;
- float32 data is computed in float32 throughout (checked by the harness).

Peers: ``numpy`` (by hand, the baseline), ``jax`` (jit of value_and_grad, x64 on),
``torch`` (eager autograd), ``torch-compile`` (``torch.compile``, inductor),
``pytensor`` (mode="NUMBA"); and graphc itself: ``graphc`` (the Numba backend) and
``interpret`` (its interpreter, the baseline a compiled graph must beat).
"""

from __future__ import annotations

import importlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from graphc.bench.workloads import WORKLOADS, Data

Fn = Callable[[object], object]  # called with what the peer's prepare returned


@dataclass
class PeerImpl:
    forward: Fn
    forward_backward: Fn
    prepare: Callable[[Data], object]
    compile_seconds: float  # fwd+bwd: graph definition -> first result
    forward_compile_seconds: float = math.nan  # the same for the forward-only function


@dataclass
class PeerParts:
    """What a peer module provides for one workload; ``peers`` does the timing."""

    prepare: Callable[[Data], object]  # what the functions take (a dict of arrays, a tuple, ...)
    define_forward: Callable[[], Fn]  # builds (and, where the peer does so, compiles) the graph
    define_forward_backward: Callable[[], Fn]


# Each peer module has `parts(workload_name, dtype, **options) -> PeerParts`; a peer is
# a module and the options it is called with.
PEER_MODULES: dict[str, tuple[str, dict]] = {
    "numpy": ("graphc.bench.peer_numpy", {}),
    "graphc": ("graphc.bench.peer_graphc", {"backend": "numba"}),
    "interpret": ("graphc.bench.peer_graphc", {"backend": "interpret"}),
    "jax": ("graphc.bench.peer_jax", {}),
    "torch": ("graphc.bench.peer_torch", {}),
    "torch-compile": ("graphc.bench.peer_torch", {"compiled": True}),
    "pytensor": ("graphc.bench.peer_pytensor", {}),
}

_missing_noted: set[str] = set()


def _import_peer(peer: str) -> object | None:
    try:
        return importlib.import_module(PEER_MODULES[peer][0])
    except ImportError as exc:  # the peer's package (jax, torch, pytensor) is optional
        if peer not in _missing_noted:
            _missing_noted.add(peer)
            tqdm.write(f"note: peer {peer!r} skipped: {exc}")
        return None


def _first_result(define: Callable[[], Fn], prepared: object) -> tuple[Fn, float]:
    """Define the function and run it once: the JIT's cold cost, seen by a user."""
    start = time.perf_counter()
    fn = define()
    fn(prepared)
    return fn, time.perf_counter() - start


def build_peer(peer: str, workload: str, dtype: np.dtype) -> PeerImpl | None:
    module = _import_peer(peer)
    if module is None:
        return None
    try:
        parts: PeerParts = module.parts(workload, np.dtype(dtype), **PEER_MODULES[peer][1])  # type: ignore[attr-defined]
    except NotImplementedError as exc:
        tqdm.write(f"note: peer {peer!r} skipped for {workload}: {exc}")
        return None
    # Sample data only feeds the first call; same shapes and dtypes as the timed data,
    # so no peer recompiles later.
    prepared = parts.prepare(WORKLOADS[workload].make_data(np.dtype(dtype), np.random.default_rng(0)))
    # fwd+bwd first: any one-time cost of the peer (lazy imports, backend start-up)
    # then lands on the headline figure, the cold one a user meets first.
    forward_backward, seconds = _first_result(parts.define_forward_backward, prepared)
    forward, forward_seconds = _first_result(parts.define_forward, prepared)
    return PeerImpl(forward, forward_backward, parts.prepare, seconds, forward_seconds)


def _factory(peer: str) -> Callable[[str, np.dtype], PeerImpl | None]:
    def make(workload: str, dtype: np.dtype) -> PeerImpl | None:
        return build_peer(peer, workload, dtype)

    make.__name__ = f"make_{peer}"
    return make


PEERS: dict[str, Callable[[str, np.dtype], PeerImpl | None]] = {name: _factory(name) for name in PEER_MODULES}
