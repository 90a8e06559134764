"""graphc's thread policy: how many threads its kernels use, and in which pools.

One count governs everything graphc runs: ``min(GRAPHC_THREADS if set, the cores this
process may use)`` (``os.sched_getaffinity``: a container's or ``taskset``'s limit, not
the machine's core count). ``gc.set_threads(n)`` changes it and ``gc.get_threads()``
reads it back. It bounds two pools:

- **Loop threads.** Long fused loops run their chunks under Numba's TBB threading layer,
  the only layer safe both when kernels are called from several threads at once and
  after a fork. The ``tbb`` wheel puts ``libtbb.so.12`` in ``<prefix>/lib``, which is
  not on the loader's path in a venv, so graphc loads it from there itself before Numba
  looks for it. Where TBB cannot be loaded, or the user chose another layer, long
  loops run serially, with a warning (once) and the reason in ``gc.thread_info()``.
  The pool is started with the thread count; Numba's count is per calling thread, so
  a later ``gc.set_threads`` lowers it for the thread that calls it.
- **BLAS threads.** Where loops run on TBB, the kernels' gemms run there too, cut into
  blocks of rows or columns, each a one-thread gemm (graphc.runtime.blas): one pool
  for all of a kernel's parallel work, whose calling thread runs every block no worker
  has taken, so a busy core delays a gemm by a block at most, not by a scheduler time
  slice. NumPy's own OpenBLAS pool serves the program's NumPy products (and the
  kernels' gemms where TBB is missing): graphc lowers its thread count to its own when
  the backend starts (never raises it: an ``OPENBLAS_NUM_THREADS=1`` stays 1), and
  ``gc.set_threads(n)`` sets it to n.

Chunks are fixed by a loop's size, never by the thread count (see
``graphc.codegen.parallel``), so the count changes speed only, never a result's bits.
"""

from __future__ import annotations

import ctypes
import os
import sys
import warnings

from graphc.errors import ArgumentError

_requested: int | None = None  # gc.set_threads' count
_loops: tuple[bool, str] | None = None  # whether kernels may run loops on threads, and why (not)
_started = False  # the policy is applied to the pools (graphc.runtime.compiled.start_numba)


def cores() -> int:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _from_env() -> int | None:
    text = os.environ.get("GRAPHC_THREADS", "").strip()
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise ArgumentError(f"GRAPHC_THREADS must be a positive integer, got {text!r}")
    return int(text)


def get_threads() -> int:
    """The number of threads graphc's kernels use (loop threads, and BLAS threads they
    call): ``gc.set_threads``' count, else ``GRAPHC_THREADS``, capped by the cores this
    process may use."""
    wanted = _requested if _requested is not None else _from_env()
    return min(wanted, cores()) if wanted is not None else cores()


def set_threads(n: int | None) -> None:
    """Use at most ``n`` threads (capped by the cores this process may use) in graphc's
    loops and in the BLAS pool its kernels call, which NumPy's products share; ``None``
    returns to the default (``GRAPHC_THREADS``, else every core the process may use)."""
    global _requested
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ArgumentError(f"set_threads: n must be a positive integer or None, got {n!r}")
    _requested = n
    if _started:
        _apply(lower_only=False)


def thread_info() -> dict[str, object]:
    """What graphc runs on: its thread count, whether long loops run on threads (and
    why not), the BLAS library its kernels call and that library's thread count."""
    info: dict[str, object] = {"threads": get_threads(), "cores": cores()}
    parallel, reason = loops_parallel()
    info["loops"] = "Numba's TBB threading layer" if parallel else f"serial: {reason}"
    if _started:
        from graphc.runtime import blas

        info["blas"], info["blas_threads"] = blas.LIBRARY, blas.blas_threads()
    return info


def start() -> None:
    """Apply the policy to the pools: called once the Numba backend starts."""
    global _started
    if not _started:
        from graphc.runtime import blas

        _started = True
        _apply(lower_only=True)
        blas.start(threads_run_loops=loops_parallel()[0])


def _apply(lower_only: bool) -> None:
    from graphc.runtime import blas

    n = get_threads()
    current = blas.blas_threads()
    if not lower_only or (current is not None and current > n):
        blas.set_blas_threads(n)
    parallel, _ = loops_parallel()
    if parallel:
        import numba

        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))


def loops_parallel() -> tuple[bool, str]:
    """Whether generated kernels may run loops on threads in this process, and if not,
    why. Decided once: the first call starts Numba's threading layer."""
    global _loops
    if _loops is None:
        _loops = _start_layer()
        if not _loops[0] and get_threads() > 1:
            warnings.warn(f"graphc: long loops run serially: {_loops[1]}", RuntimeWarning, stacklevel=3)
    return _loops


def _start_layer() -> tuple[bool, str]:
    if get_threads() < 2:
        return False, "one thread (GRAPHC_THREADS, gc.set_threads or the CPU affinity)"
    import numba
    from numba.np.ufunc import parallel

    if parallel._is_initialized:  # the program ran a parallel Numba function already
        layer = numba.threading_layer()
        return (True, "") if layer == "tbb" else (False, f"Numba's threading layer is {layer!r}, not 'tbb'")
    if numba.config.THREADING_LAYER not in ("default", "tbb", "safe"):
        return False, f"NUMBA_THREADING_LAYER={numba.config.THREADING_LAYER!r}: only 'tbb' is thread- and fork-safe"
    missing = _load_tbb()
    if missing:
        return False, missing
    if numba.config.THREADING_LAYER == "default":
        numba.config.THREADING_LAYER = "tbb"
    if "NUMBA_NUM_THREADS" not in os.environ:  # the pool's size: graphc's count
        numba.config.NUMBA_NUM_THREADS = get_threads()
    try:
        parallel._launch_threads()
    except (ValueError, ImportError) as e:
        return False, f"Numba could not start its TBB layer ({e})"
    return True, ""


def _load_tbb() -> str:
    """Make TBB importable by Numba; '' on success, else why not."""
    try:
        import numba.np.ufunc.tbbpool  # noqa: F401
        return ""
    except ImportError as e:
        first = str(e)
    names = {"linux": "libtbb.so.12", "darwin": "libtbb.12.dylib"}
    name = names.get("darwin" if sys.platform == "darwin" else "linux")
    for prefix in dict.fromkeys([sys.prefix, sys.exec_prefix, sys.base_prefix]):
        path = os.path.join(prefix, "lib", name)
        if os.path.exists(path):
            try:  # the wheel's library, global so that Numba's tbbpool extension links to it
                ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
                import numba.np.ufunc.tbbpool  # noqa: F401, F811
                return ""
            except (OSError, ImportError) as e:
                return f"TBB at {path} did not load ({e})"
    return f"TBB is not installed (pip install tbb): {first}"
