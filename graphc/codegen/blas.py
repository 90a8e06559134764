"""BLAS gemm for generated kernels, called the way Numba's own np.dot calls it.

Numba's np.dot compiles a family of checking and copying helpers for every layout
combination it meets: over a second of compile time per matmul here. The generated
kernels know their layouts statically, so they call Numba's C helper ``numba_xxgemm``
(which forwards to SciPy's cython_blas dgemm/sgemm, the BLAS np.dot uses) directly.
The call is a symbol resolved at link time, so kernels using it stay disk-cacheable.
"""

from __future__ import annotations

from numba import types


def _xxgemm(dtype: types.Type) -> types.ExternalFunction:
    """numba_xxgemm(kind, transa, transb, m, n, k, alpha*, a*, lda, b*, ldb, beta*, c*, ldc)."""
    ptr = types.CPointer(dtype)
    sig = types.intc(types.char, types.char, types.char, types.intp, types.intp, types.intp,
                     ptr, ptr, types.intp, ptr, types.intp, ptr, ptr, types.intp)
    return types.ExternalFunction("numba_xxgemm", sig)


gemm_f64 = _xxgemm(types.float64)
gemm_f32 = _xxgemm(types.float32)
