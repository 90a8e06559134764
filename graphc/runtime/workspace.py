"""Each thread's workspace of a compiled function, and ``f.memory``, what it needs.

A kernel with a memory plan (graphc.codegen.memory) takes its workspace, a uint8
array, as its last argument and returns it last: the same array, or a larger one
when this call's sizes need more. The caller keeps it in a ``threading.local``, so
each Python thread calling the function has a workspace of its own (the kernels run
without the GIL: two threads must never share one) and a thread's workspace goes
with the thread. After ``fork`` the child's thread keeps its copy, which no other
process sees. A workspace only grows; ``f.memory.release()`` drops every thread's.

``f.memory`` reports the bytes as formulas in the named dims (they hold for any call)
and, given the dims, as numbers: ``f.memory.bytes(N=64)``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from graphc.codegen.memory import ALIGN, MemoryPlan, bound_dims, formula, monomial
from graphc.ir.node import Node


class Workspaces(threading.local):
    """One workspace per thread; an empty one until the thread's first call."""

    ws = np.empty(0, dtype=np.uint8)  # never written: a kernel grows it (to a new array) before use


class Memory:
    """What a compiled function's calls take besides their arguments and results.

    ``workspace``: the bytes of a thread's workspace (the intermediates, sharing
    buffers where their lifetimes allow), a formula in the named dims; the array is
    ALIGN - 1 bytes longer, to start its slots on a 64-byte boundary.
    ``tape`` (``gc.compile_grad``): the bytes of the arrays a tape keeps between
    forward and backward. ``plans``: each kernel's plan (None without one).
    """

    def __init__(self, plans: Mapping[str, MemoryPlan | None], tape: Sequence[Node], fixed: Mapping[str, int],
                 release: Callable[[], None], current: Callable[[], np.ndarray | None]) -> None:
        self.plans = dict(plans)
        self._tape = [monomial(n.shape, n.dtype.itemsize) for n in tape if n.shape != ()]
        self._has_tape = bool(tape)
        self._fixed, self._release, self._current = dict(fixed), release, current

    @property
    def workspace(self) -> str:
        """A thread's workspace bytes as a formula: the largest kernel's (they share it)."""
        texts = [p.formula() for p in self.plans.values() if p is not None]
        return texts[0] if len(texts) == 1 else f"max({', '.join(texts)})" if texts else "0"

    @property
    def tape(self) -> str | None:
        if not self._has_tape:
            return None
        terms: dict[tuple[str, ...], int] = {}
        for coef, names in self._tape:
            terms[names] = terms.get(names, 0) + coef
        return formula(terms)

    def bytes(self, **dims: int) -> dict[str, int]:
        """The workspace's and the tape's bytes for these named dims (those bound at
        declaration are known): ``{"workspace": ..., "tape": ...}`` (no "tape" for
        ``gc.compile``)."""
        needed = {n for p in self.plans.values() if p is not None for n in p.names()}
        needed |= {n for _, names in self._tape for n in names}
        sizes = bound_dims("memory.bytes", needed, dims, self._fixed)
        ws = max((p.workspace_bytes(sizes) for p in self.plans.values() if p is not None), default=0)
        out = {"workspace": ws}
        if self._has_tape:
            out["tape"] = sum(coef * _product(names, sizes) for coef, names in self._tape)
        return out

    def allocated(self) -> int:
        """The bytes of the calling thread's workspace now (0 before its first call)."""
        ws = self._current()
        return 0 if ws is None else int(ws.nbytes)

    def release(self) -> None:
        """Drop every thread's workspace: the next call in each thread allocates anew."""
        self._release()

    def __repr__(self) -> str:
        tape = "" if self.tape is None else f", tape {self.tape} bytes"
        return f"<graphc memory: workspace {self.workspace} bytes per thread (+{ALIGN - 1} to align){tape}>"


def _product(names: tuple[str, ...], sizes: Mapping[str, int]) -> int:
    out = 1
    for n in names:
        out *= sizes[n]
    return out
