"""BLAS gemm for generated kernels, called the way Numba's own np.dot calls it.

Numba's np.dot compiles a family of checking and copying helpers for every layout
combination it meets: over a second of compile time per matmul here. The generated
kernels know their layouts statically, so they call Numba's C helper ``numba_xxgemm``
(which forwards to SciPy's cython_blas dgemm/sgemm, the BLAS np.dot uses) directly.
The call is a symbol resolved at link time, so kernels using it stay disk-cacheable.
``emit_gemm`` writes such a call into a kernel.
"""

from __future__ import annotations

import numpy as np
from numba import types


def _xxgemm(dtype: types.Type) -> types.ExternalFunction:
    """numba_xxgemm(kind, transa, transb, m, n, k, alpha*, a*, lda, b*, ldb, beta*, c*, ldc)."""
    ptr = types.CPointer(dtype)
    sig = types.intc(types.char, types.char, types.char, types.intp, types.intp, types.intp,
                     ptr, ptr, types.intp, ptr, types.intp, ptr, ptr, types.intp)
    return types.ExternalFunction("numba_xxgemm", sig)


gemm_f64 = _xxgemm(types.float64)
gemm_f32 = _xxgemm(types.float32)


def emit_scalars(w, dtype: np.dtype) -> str:
    """Emit, through the KernelWriter ``w``, the array [1, 0] of ``dtype``: gemm takes
    its alpha and beta by pointer. Returns its name."""
    scalars = w.namer.fresh("alpha_beta")
    w.emit(f"{scalars} = np.empty(2, dtype=np.{dtype.name})")
    w.emit(f"{scalars}[0], {scalars}[1] = 1, 0")
    return scalars


def emit_gemm(w, dtype: np.dtype, scalars: str, m: str, n: str, k: str, a: str, a_transposed: bool, b: str,
              b_transposed: bool, c: str, depth: int = 1, what: str = "") -> None:
    """Emit the gemm call c = a @ b for row-major buffers (expressions): c is m x n and
    C-contiguous; a is m x k, or k x m when ``a_transposed``; b is k x n, or n x k when
    ``b_transposed``. BLAS is column-major, so it computes c^T = b^T a^T: a buffer
    stored as the matrix is 'n' to it, one stored transposed 't', with the leading
    dimension of its rows. ``scalars`` is ``emit_scalars``'s array."""
    kind, suffix = {"float64": ("d", "f64"), "float32": ("s", "f32")}[dtype.name]
    gemm = f"gemm_{suffix}"
    w.imports.add(gemm)
    ta, lda = ("t", m) if a_transposed else ("n", k)
    tb, ldb = ("t", k) if b_transposed else ("n", n)
    call = ", ".join([str(ord(kind)), str(ord(tb)), str(ord(ta)), n, m, k, f"{scalars}.ctypes",
                      f"{b}.ctypes", _ld(ldb), f"{a}.ctypes", _ld(lda), f"{scalars}[1:].ctypes",
                      f"{c}.ctypes", _ld(n)])
    w.emit(f"{gemm}({call})  # BLAS {kind}gemm: {what}", depth)


def _ld(d: str) -> str:
    """A leading dimension: BLAS wants at least 1 even for empty operands."""
    return str(max(1, int(d))) if d.isdigit() else f"max(1, {d})"
