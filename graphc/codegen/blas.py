"""BLAS gemm for generated kernels: the intrinsics the kernels call, and their emitter.

A kernel's gemm is one call of the symbol ``graphc_cblas_dgemm`` or
``graphc_cblas_sgemm`` (the CBLAS signature, 64-bit integers), which graphc.runtime.blas
points at a library when the backend starts, before any kernel is linked: blocks of
the gemm on graphc's loop threads, or NumPy's OpenBLAS (that module says which, and
why). Kernels stay disk-cacheable: the symbol is resolved when one is linked.

Numba's np.dot would call SciPy's BLAS, a second pool, and compile a family of
checking and copying helpers for every layout combination it meets (over a second of
compile time per matmul); the kernels know their layouts statically. ``gemm_call`` is
the call as an intrinsic taking the arrays themselves (a pointer taken apart from its
array would let Numba free the array first, and ``a.ctypes`` costs several times the
compile time); ``emit_gemm`` writes it into a kernel.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.np.arrayobj import make_array

_ORDER_COL_MAJOR, _NO_TRANS, _TRANS = 102, 111, 112  # CBLAS enums
_I32, _I64, _VOIDP = ir.IntType(32), ir.IntType(64), ir.IntType(8).as_pointer()


def _gemm_codegen(kind: str, with_beta: bool, batch: bool = False):
    """The LLVM of one CBLAS gemm call: alpha 1, and beta 0 or the call's own ``beta``;
    with ``batch``, of a strided batch of them (count and three strides first)."""

    def codegen(context, builder, sig, args):
        lead = []
        if batch:
            lead = [context.cast(builder, v, t, types.int64) for v, t in zip(args[:4], sig.args[:4])]
            args, sig = args[4:], types.none(*sig.args[4:])
        ta, tb, mm, nn, kk, va, la, vb, lb, *rest = args
        vc, lc = rest[-2:]
        at = sig.args
        ints = [context.cast(builder, v, t, types.int64) for v, t in zip((mm, nn, kk, la, lb, lc),
                                                                              (at[2], at[3], at[4], at[6], at[8],
                                                                               at[-1]))]
        codes = [builder.trunc(context.cast(builder, v, t, types.int64), _I32) for v, t in ((ta, at[0]), (tb, at[1]))]
        pointers = [builder.bitcast(make_array(t)(context, builder, v).data, _VOIDP)
                    for v, t in ((va, at[5]), (vb, at[7]), (vc, at[-2]))]
        scalar_type = at[5].dtype
        scalar = context.get_value_type(scalar_type)
        beta = context.cast(builder, rest[0], at[9], scalar_type) if with_beta else ir.Constant(scalar, 0.0)
        cblas = ir.FunctionType(ir.VoidType(), [_I64] * len(lead) + [
            _I32, _I32, _I32, _I64, _I64, _I64, scalar, _VOIDP, _I64, _VOIDP, _I64, scalar, _VOIDP, _I64])
        symbol = f"graphc_cblas_{kind}gemm" + ("_batch" if batch else "")
        fn = cgutils.get_or_insert_function(builder.module, cblas, symbol)
        builder.call(fn, [*lead, ir.Constant(_I32, _ORDER_COL_MAJOR), *codes, *ints[:3], ir.Constant(scalar, 1.0),
                          pointers[0], ints[3], pointers[1], ints[4], beta, pointers[2], ints[5]])
        return context.get_dummy_value()

    return codegen


def _gemm_kind(a: types.Type, b: types.Type, c: types.Type) -> str | None:
    """'d' or 's' for three arrays of one float dtype; None (no match) otherwise."""
    if not all(isinstance(x, types.Array) and x.dtype == a.dtype for x in (a, b, c)):
        return None
    if a.dtype not in (types.float32, types.float64):
        return None
    return "s" if a.dtype == types.float32 else "d"


@intrinsic
def gemm_call(typingctx, transa, transb, m, n, k, a, lda, b, ldb, c, ldc):
    """Column-major c = op(a) @ op(b) (BLAS's own argument order; ``trans*`` are CBLAS's
    codes, 111 for no transpose and 112 for transpose), with alpha 1 and beta 0, in the
    arrays' dtype (float32 or float64). The arrays are arguments, so they stay alive
    until gemm returns."""
    kind = _gemm_kind(a, b, c)
    if kind is None:
        return None
    return types.none(transa, transb, m, n, k, a, lda, b, ldb, c, ldc), _gemm_codegen(kind, with_beta=False)


@intrinsic
def gemm_batch_call(typingctx, count, stride_a, stride_b, stride_c, transa, transb, m, n, k, a, lda, b, ldb, c, ldc):
    """``gemm_call`` for each q < count, with a, b and c advanced by q times their
    strides (elements; 0 for an operand the batch shares): a strided-batch gemm, whose
    small gemms graphc.runtime.blas runs in groups on the loop threads."""
    kind = _gemm_kind(a, b, c)
    if kind is None:
        return None
    return (types.none(count, stride_a, stride_b, stride_c, transa, transb, m, n, k, a, lda, b, ldb, c, ldc),
            _gemm_codegen(kind, with_beta=False, batch=True))


@intrinsic
def gemm_sum_call(typingctx, transa, transb, m, n, k, a, lda, b, ldb, beta, c, ldc):
    """As ``gemm_call``, but c = op(a) @ op(b) + beta * c: a loop of these sums gemms
    into one result (beta 0 on the first, 1 after)."""
    kind = _gemm_kind(a, b, c)
    if kind is None or not isinstance(beta, (types.Float, types.Integer)):
        return None
    return types.none(transa, transb, m, n, k, a, lda, b, ldb, beta, c, ldc), _gemm_codegen(kind, with_beta=True)


def emit_gemm(w, dtype: np.dtype, m: str, n: str, k: str, a: str, a_transposed: bool, b: str, b_transposed: bool,
              c: str, depth: int = 1, what: str = "", beta: str | None = None,
              batch: tuple[str, str, str, str] | None = None) -> None:
    """Emit, through the KernelWriter ``w``, the gemm call c = a @ b for row-major
    buffers (expressions): c is m x n and C-contiguous; a is m x k, or k x m when
    ``a_transposed``; b is k x n, or n x k when ``b_transposed``. BLAS is column-major,
    so it computes c^T = b^T a^T: a buffer stored as the matrix is 'n' to it, one stored
    transposed 't', with the leading dimension of its rows. With ``beta`` (an
    expression), c = a @ b + beta * c. With ``batch`` (count and the strides of a, b
    and c, expressions), a strided batch of such gemms (``gemm_batch_call``)."""
    function = "gemm_call" if beta is None else "gemm_sum_call"
    if batch is not None:
        assert beta is None, "a batch of gemms is not summed"
        function = "gemm_batch_call"
    w.imports.add(function)
    ta, lda = (_TRANS, m) if a_transposed else (_NO_TRANS, k)
    tb, ldb = (_TRANS, k) if b_transposed else (_NO_TRANS, n)
    lead = [] if batch is None else [batch[0], batch[2], batch[1], batch[3]]  # BLAS's a is our b
    call = [*lead, str(tb), str(ta), n, m, k, b, _ld(ldb), a, _ld(lda), *([] if beta is None else [beta]), c,
            _ld(n)]
    kind = "s" if dtype == np.float32 else "d"
    w.emit(f"{function}({', '.join(call)})  # BLAS {kind}gemm: {what}", depth)


def _ld(d: str) -> str:
    """A leading dimension: BLAS wants at least 1 even for empty operands."""
    return str(max(1, int(d))) if d.isdigit() else f"max(1, {d})"
