"""BLAS gemm for generated kernels: NumPy's own OpenBLAS, so a program has one BLAS pool.

A program that uses graphc also uses NumPy, and NumPy's wheels bundle an OpenBLAS of
their own (``numpy.libs/libscipy_openblas64_*.so``) with its own pool of worker threads.
Numba's np.dot calls SciPy's OpenBLAS instead: a second pool on the same cores, whose
idle workers spin (~0.1 s after each call by default) while the other pool's workers
wait for a core. So the kernels call NumPy's library, through its CBLAS interface
(64-bit integers), and graphc's gemms and the user's NumPy products share one pool.

The kernels call ``gemm_f64`` / ``gemm_f32`` with the arguments of Numba's C helper
``numba_xxgemm`` (column-major, alpha and beta by pointer); these small functions
call the symbols ``graphc_cblas_dgemm`` / ``graphc_cblas_sgemm``, which are registered
with LLVM when this module is imported. They are resolved when a kernel is linked, so
kernels stay disk-cacheable. Where NumPy's OpenBLAS cannot be found (a NumPy built
against another BLAS), the same symbols point at a Numba ``cfunc`` that forwards to
SciPy's BLAS (``numba_xxgemm``): the kernels' machine code is the same either way, and
``LIBRARY`` says which one runs.
"""

from __future__ import annotations

import ctypes
import glob
import os

import llvmlite.binding as llvm
import numba
import numpy as np
from numba import types

_ORDER_COL_MAJOR, _NO_TRANS, _TRANS = 102, 111, 112  # CBLAS enums
_PREFIXES = ("scipy_", "")  # NumPy >= 2 wheels prefix their OpenBLAS symbols with scipy_


def _cblas_gemm_type(dtype: types.Type) -> types.Signature:
    """cblas_xgemm(order, transa, transb, m, n, k, alpha, a*, lda, b*, ldb, beta, c*, ldc), ILP64."""
    ptr, i64, enum = types.CPointer(dtype), types.int64, types.int32
    return types.void(enum, enum, enum, i64, i64, i64, dtype, ptr, i64, ptr, i64, dtype, ptr, i64)


def _xxgemm_type(dtype: types.Type) -> types.Signature:
    """numba_xxgemm's (kind, transa, transb, m, n, k, alpha*, a*, lda, b*, ldb, beta*, c*, ldc)."""
    ptr = types.CPointer(dtype)
    return types.intc(types.char, types.char, types.char, types.intp, types.intp, types.intp,
                      ptr, ptr, types.intp, ptr, types.intp, ptr, ptr, types.intp)


def _numpy_openblas() -> tuple[str, ctypes.CDLL, dict[str, int]] | None:
    """NumPy's bundled OpenBLAS (its path, handle and gemm addresses), if it has one
    with the 64-bit CBLAS interface."""
    root = os.path.dirname(os.path.dirname(np.__file__))
    candidates = glob.glob(os.path.join(root, "numpy.libs", "*openblas64*"))
    candidates += glob.glob(os.path.join(os.path.dirname(np.__file__), ".dylibs", "*openblas64*"))
    for path in sorted(candidates):
        try:
            lib = ctypes.CDLL(path)  # already loaded by NumPy: the same handle, no second copy
        except OSError:
            continue
        for prefix in _PREFIXES:
            try:
                gemms = {k: ctypes.cast(getattr(lib, f"{prefix}cblas_{k}gemm64_"), ctypes.c_void_p).value
                         for k in "ds"}
            except AttributeError:
                continue
            return path, lib, gemms  # type: ignore[return-value]
    return None


def _scipy_forwarder(kind: str, dtype: types.Type) -> int:
    """The address of a cfunc with the CBLAS gemm signature that calls Numba's
    numba_xxgemm (SciPy's BLAS)."""
    xxgemm = types.ExternalFunction("numba_xxgemm", _xxgemm_type(dtype))
    code, np_dtype = ord(kind), np.float64 if kind == "d" else np.float32

    def forward(order, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):  # noqa: N803
        scalars = np.empty(2, dtype=np_dtype)
        scalars[0], scalars[1] = alpha, beta
        ta, tb = 110 if transa == _NO_TRANS else 116, 110 if transb == _NO_TRANS else 116
        xxgemm(code, ta, tb, m, n, k, scalars[0:].ctypes, a, lda, b, ldb, scalars[1:].ctypes, c, ldc)

    return numba.cfunc(_cblas_gemm_type(dtype), nopython=True)(forward).address


def _register() -> tuple[str, ctypes.CDLL | None]:
    found = _numpy_openblas()
    if found is not None:
        path, lib, addresses = found
        library = f"NumPy's OpenBLAS ({os.path.basename(path)})"
    else:
        lib, addresses = None, {k: _scipy_forwarder(k, t) for k, t in (("d", types.float64), ("s", types.float32))}
        library = "SciPy's BLAS through Numba's numba_xxgemm (NumPy has no bundled OpenBLAS here)"
    for kind, address in addresses.items():
        llvm.add_symbol(f"graphc_cblas_{kind}gemm", address)
    return library, lib


LIBRARY, _LIB = _register()  # which BLAS the kernels call, for graphc.runtime.threads and the user


def blas_threads() -> int | None:
    """The thread count of the BLAS pool the kernels call (None where graphc cannot read it)."""
    for prefix in _PREFIXES:
        get = getattr(_LIB, f"{prefix}openblas_get_num_threads64_", None) if _LIB is not None else None
        if get is not None:
            get.restype = ctypes.c_int
            return int(get())
    return None


def set_blas_threads(n: int) -> bool:
    """Set the thread count of the BLAS pool the kernels call (NumPy's: it is shared with
    the program's NumPy code). False where graphc cannot set it."""
    for prefix in _PREFIXES:
        set_ = getattr(_LIB, f"{prefix}openblas_set_num_threads64_", None) if _LIB is not None else None
        if set_ is not None:
            set_.argtypes = [ctypes.c_int]
            set_(n)
            return True
    return False


_cblas_dgemm = types.ExternalFunction("graphc_cblas_dgemm", _cblas_gemm_type(types.float64))
_cblas_sgemm = types.ExternalFunction("graphc_cblas_sgemm", _cblas_gemm_type(types.float32))


@numba.njit(_xxgemm_type(types.float64), nogil=True, cache=True)
def gemm_f64(kind, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):  # noqa: ANN001, ANN201
    """numba_xxgemm's arguments (column-major, chars 'n'/'t') on the registered CBLAS dgemm."""
    _cblas_dgemm(_ORDER_COL_MAJOR, _NO_TRANS if transa == 110 else _TRANS, _NO_TRANS if transb == 110 else _TRANS,
                 m, n, k, alpha[0], a, lda, b, ldb, beta[0], c, ldc)
    return 0


@numba.njit(_xxgemm_type(types.float32), nogil=True, cache=True)
def gemm_f32(kind, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):  # noqa: ANN001, ANN201
    """numba_xxgemm's arguments (column-major, chars 'n'/'t') on the registered CBLAS sgemm."""
    _cblas_sgemm(_ORDER_COL_MAJOR, _NO_TRANS if transa == 110 else _TRANS, _NO_TRANS if transb == 110 else _TRANS,
                 m, n, k, alpha[0], a, lda, b, ldb, beta[0], c, ldc)
    return 0
