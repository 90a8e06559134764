"""Benchmarks for graphc and the peers a user would otherwise pick.

Importing this package pins ``OPENBLAS_CORETYPE`` (default ``Haswell``) so all
comparisons run the same OpenBLAS kernels. OpenBLAS reads the variable only when
it is loaded, so this has to happen before NumPy is imported. That is why it
sits here: ``python -m benchmarks.run_peers`` and ``import benchmarks.x`` both
run it first.
"""

import os
import sys

CORETYPE_DEFAULT = "Haswell"

# Remember whether NumPy was already loaded: then setting the variable here has
# no effect, and the harness says so rather than reporting a value it ignored.
NUMPY_PRELOADED = "numpy" in sys.modules
os.environ.setdefault("OPENBLAS_CORETYPE", CORETYPE_DEFAULT)

# Two OpenBLAS copies share this process (NumPy's; SciPy's, which PyTensor's Numba
# code calls). After a call, OpenBLAS workers spin for 2**28 cycles (~0.1 s) by
# default, so in interleaved timing one system's idle workers steal a core from
# the next system's BLAS: NumPy's W1 ran 2x slower right after PyTensor. 2**4
# cycles lets them sleep at once; measured alone, neither gets slower.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

# OMP_NUM_THREADS=1 already binds OpenBLAS (NumPy, and SciPy's BLAS under
# PyTensor's Numba code), Numba and torch (benchmarks.peer_torch); XLA ignores it,
# so it is told the same here, before JAX can load. On a loaded shared machine a
# 2-thread BLAS waits on a descheduled thread, and 1 thread everywhere is fairer.
if os.environ.get("OMP_NUM_THREADS") == "1" and "jax" not in sys.modules:
    _single = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_single}".strip()
