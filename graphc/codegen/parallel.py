"""Multi-threaded fused loops: when a kernel may use them and how its chunks are cut.

A long elementwise loop (W2's million elements: sigmoid, tanh and their gradients) is
bound by arithmetic, not memory, so it runs faster on every core; XLA splits such
loops across its thread pool as well. The code generator cuts a long 1-D or flat loop
into contiguous chunks and calls a helper per chunk, under ``numba.prange`` where
threads are available (``graphc.runtime.threads``), else in a plain loop; it combines
the chunks' partial reductions in chunk order. The chunks are fixed by the loop's
size alone, never by the thread count, so a result has the same bits with 1, 2 or any
number of threads, and with or without a threading layer.
"""

from __future__ import annotations

MIN_ELEMENTS = 1 << 16  # below this a loop runs serially: a parallel launch costs ~6 µs
# ... and below this much work: elements x (ops per element, each counting its
# Op.cost; ~0.3 ns an op): about 2.5 ms serially, so a call gains
# a millisecond or more for the parallel form's extra compile time
MIN_WORK = 1 << 23
CHUNK_ELEMENTS = 1 << 16  # a chunk's least length (chunks are as equal as can be): W2 has 15


def available() -> bool:
    """Whether generated kernels may run loops on threads in this process."""
    from graphc.runtime import threads

    return threads.loops_parallel()[0]


def chunks(size: int) -> int:
    """How many chunks a long loop of ``size`` elements is cut into: a function of the
    size only."""
    return max(1, size // CHUNK_ELEMENTS)
