"""Multi-threaded fused loops: when a kernel may use them and how many chunks they take.

A long elementwise loop (W2's million elements: sigmoid, tanh and their gradients) is
bound by arithmetic, not memory, so it runs faster on every core; XLA splits such
loops across its thread pool as well. The code generator splits a long 1-D or flat
loop into one contiguous chunk per thread under ``numba.prange``, and combines the
chunks' partial reductions in chunk order, so a result does not depend on which
thread ran which chunk.

Only a thread-safe and fork-safe threading layer may run them: graphc's kernels are
called from several threads at once (``compile_grad`` promises it), and a user's
program may fork. Numba's default choice can fall back to its "workqueue" layer,
which aborts the process on concurrent launches, or to GNU OpenMP, which aborts a
forked child; so graphc asks for TBB (the ``tbb`` package) and, where TBB cannot be
loaded or the user chose another layer, generates serial loops only.
"""

from __future__ import annotations

import os

import numba

MIN_ELEMENTS = 1 << 16  # below this a loop runs serially: a parallel launch costs ~6 µs
# ... and below this much work: elements x (ops per element, each counting its
# Op.cost; ~0.3 ns an op): about 2.5 ms serially, so a call gains
# a millisecond or more for the parallel form's extra compile time
MIN_WORK = 1 << 23
_available: bool | None = None


def available() -> bool:
    """Whether generated kernels may contain parallel loops in this process."""
    global _available
    if _available is None:
        _available = _choose_layer()
    return _available


def threads() -> int:
    """The chunk count of a long loop: Numba's thread count when the source is generated
    (a constant of the source, so of its cache key; a later numba.set_num_threads only
    changes how many threads share the chunks)."""
    return numba.config.NUMBA_NUM_THREADS


def _choose_layer() -> bool:
    if os.environ.get("GRAPHC_THREADS") == "1" or numba.config.NUMBA_NUM_THREADS < 2:
        return False  # an opt-out (e.g. under an outer process pool), or nothing to gain
    from numba.np.ufunc import parallel

    if not parallel._is_initialized and numba.config.THREADING_LAYER == "default":
        numba.config.THREADING_LAYER = "tbb"  # the user did not choose one: ask for TBB
        try:
            parallel._launch_threads()
        except (ValueError, ImportError):  # TBB is not installed: serial loops only
            numba.config.THREADING_LAYER = "default"
            return False
    try:
        return numba.threading_layer() == "tbb"
    except ValueError:  # the user's own choice of layer, not started yet
        return numba.config.THREADING_LAYER in ("tbb", "safe")
