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
