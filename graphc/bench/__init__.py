"""``graphc bench``: graphc timed against its interpreter, NumPy by hand and the peers a
user would otherwise pick (JAX, PyTorch, PyTensor), on the workloads W1-W5 and S.

The modules: ``workloads`` (each workload's data), ``peer_*`` (each system's version of
the workloads, behind ``peers``), ``harness`` (interleaved timing, result checks,
tables), ``selftest`` (NumPy by hand against finite differences), ``scaling`` (S),
``cold_start``, ``machine`` (what the figures depend on), ``plots`` and ``run`` (the
command).

BLAS settings are part of a measurement, and OpenBLAS reads them once, when it is
loaded (with NumPy). ``bench_environ`` gives the settings the benchmarks pin;
``graphc bench`` runs in a fresh process with them when the current one lacks them.
Nothing here changes the environment at import.
"""

from __future__ import annotations

import platform
from collections.abc import Mapping

CORETYPE_DEFAULT = "Haswell"


def bench_environ(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` with the benchmarks' defaults for what the user left unset.

    - ``OPENBLAS_CORETYPE=Haswell`` (x86-64 only): NumPy's and SciPy's OpenBLAS copies
      run the same kernels whatever CPU they detect.
    - ``OPENBLAS_THREAD_TIMEOUT=4``: two OpenBLAS copies share the process (NumPy's;
      SciPy's, which graphc's and PyTensor's Numba code call). An idle copy's workers
      spin ~0.1 s after a call by default, stealing a core from the system timed next
      (NumPy's W1 ran 2x slower right after PyTensor); with 4 they sleep at once.
    - With ``OMP_NUM_THREADS=1`` (which binds OpenBLAS, Numba and torch), XLA is told
      the same through ``XLA_FLAGS``: it ignores OMP_NUM_THREADS.
    """
    env = dict(environ)
    if platform.machine().lower() in ("x86_64", "amd64"):
        env.setdefault("OPENBLAS_CORETYPE", CORETYPE_DEFAULT)
    env.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
    single = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    if env.get("OMP_NUM_THREADS") == "1" and single not in env.get("XLA_FLAGS", ""):
        env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} {single}".strip()
    return env
