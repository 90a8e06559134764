"""BLAS gemm for generated kernels, called the way Numba's own np.dot calls it.

Numba's np.dot compiles a family of checking and copying helpers for every layout
combination it meets: over a second of compile time per matmul here. The generated
kernels know their layouts statically, so they call Numba's C helper ``numba_xxgemm``
(which forwards to SciPy's cython_blas dgemm/sgemm, the BLAS np.dot uses) directly.
The call is a symbol resolved at link time, so kernels using it stay disk-cacheable.
``gemm_call`` is that call as an intrinsic taking the arrays themselves (a pointer
taken apart from its array would let Numba free the array first, and ``a.ctypes``
costs several times the compile time); ``emit_gemm`` writes it into a kernel.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.np.arrayobj import make_array

_CHAR, _INTP, _VOIDP = ir.IntType(8), ir.IntType(types.intp.bitwidth), ir.IntType(8).as_pointer()
_XXGEMM = ir.FunctionType(ir.IntType(32), [_CHAR, _CHAR, _CHAR, _INTP, _INTP, _INTP, _VOIDP, _VOIDP, _INTP,
                                           _VOIDP, _INTP, _VOIDP, _VOIDP, _INTP])


@intrinsic
def gemm_call(typingctx, transa, transb, m, n, k, a, lda, b, ldb, c, ldc):
    """Column-major c = op(a) @ op(b) (BLAS's own argument order; ``trans*`` are the
    codes of 'n' or 't'), with alpha 1 and beta 0, in the arrays' dtype (float32 or
    float64). The arrays are arguments, so they stay alive until gemm returns."""
    arrays = (a, b, c)
    if not all(isinstance(x, types.Array) and x.dtype == a.dtype for x in arrays):
        return None
    if a.dtype not in (types.float32, types.float64):
        return None
    kind = ord("s" if a.dtype == types.float32 else "d")

    def codegen(context, builder, sig, args):
        ta, tb, mm, nn, kk, va, la, vb, lb, vc, lc = args
        ints = [context.cast(builder, v, t, types.intp) for v, t in zip((mm, nn, kk, la, lb, lc),
                                                                             (sig.args[2], sig.args[3], sig.args[4],
                                                                              sig.args[6], sig.args[8], sig.args[10]))]
        codes = [builder.trunc(context.cast(builder, v, t, types.intp), _CHAR) for v, t in ((ta, sig.args[0]),
                                                                                          (tb, sig.args[1]))]
        pointers = [builder.bitcast(make_array(t)(context, builder, v).data, _VOIDP)
                    for v, t in ((va, sig.args[5]), (vb, sig.args[7]), (vc, sig.args[9]))]
        scalar = context.get_value_type(sig.args[5].dtype)
        one = cgutils.alloca_once_value(builder, ir.Constant(scalar, 1.0))
        zero = cgutils.alloca_once_value(builder, ir.Constant(scalar, 0.0))
        fn = cgutils.get_or_insert_function(builder.module, _XXGEMM, "numba_xxgemm")
        builder.call(fn, [ir.Constant(_CHAR, kind), *codes, *ints[:3], builder.bitcast(one, _VOIDP), pointers[0],
                          ints[3], pointers[1], ints[4], builder.bitcast(zero, _VOIDP), pointers[2], ints[5]])
        return context.get_dummy_value()

    return types.none(transa, transb, m, n, k, a, lda, b, ldb, c, ldc), codegen


def emit_gemm(w, dtype: np.dtype, m: str, n: str, k: str, a: str, a_transposed: bool, b: str, b_transposed: bool,
              c: str, depth: int = 1, what: str = "") -> None:
    """Emit, through the KernelWriter ``w``, the gemm call c = a @ b for row-major
    buffers (expressions): c is m x n and C-contiguous; a is m x k, or k x m when
    ``a_transposed``; b is k x n, or n x k when ``b_transposed``. BLAS is column-major,
    so it computes c^T = b^T a^T: a buffer stored as the matrix is 'n' to it, one stored
    transposed 't', with the leading dimension of its rows."""
    w.imports.add("gemm_call")
    ta, lda = ("t", m) if a_transposed else ("n", k)
    tb, ldb = ("t", k) if b_transposed else ("n", n)
    call = ", ".join([str(ord(tb)), str(ord(ta)), n, m, k, b, _ld(ldb), a, _ld(lda), c, _ld(n)])
    kind = "s" if dtype == np.float32 else "d"
    w.emit(f"gemm_call({call})  # BLAS {kind}gemm: {what}", depth)


def _ld(d: str) -> str:
    """A leading dimension: BLAS wants at least 1 even for empty operands."""
    return str(max(1, int(d))) if d.isdigit() else f"max(1, {d})"
