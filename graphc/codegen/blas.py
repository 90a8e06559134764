"""BLAS gemm for generated kernels: NumPy's own OpenBLAS, so a program has one BLAS pool.

A program that uses graphc also uses NumPy, and NumPy's wheels bundle an OpenBLAS of
their own (``numpy.libs/libscipy_openblas64_*.so``) with its own pool of worker threads.
Numba's np.dot calls SciPy's OpenBLAS instead: a second pool on the same cores, whose
idle workers spin (~0.1 s after each call by default) while the other pool's workers
wait for a core. So the kernels call NumPy's library, through its CBLAS interface
(64-bit integers), and graphc's gemms and the user's NumPy products share one pool.

Numba's np.dot would also compile a family of checking and copying helpers for every
layout combination it meets (over a second of compile time per matmul); the kernels
know their layouts statically. ``gemm_call`` is the call as an intrinsic taking the
arrays themselves (a pointer taken apart from its array would let Numba free the array
first, and ``a.ctypes`` costs several times the compile time); ``emit_gemm`` writes it
into a kernel. It calls the symbols ``graphc_cblas_dgemm`` / ``graphc_cblas_sgemm``,
registered with LLVM when this module is imported and resolved when a kernel is
linked, so kernels stay disk-cacheable. Where NumPy's OpenBLAS cannot be found (a NumPy
built against another BLAS), the same symbols point at a Numba ``cfunc`` that forwards
to SciPy's BLAS (``numba_xxgemm``): the kernels' machine code is the same either way,
and ``LIBRARY`` says which one runs.

Small gemms may run on one BLAS thread (``set_serial_work``; off by default). Split
across the pool, a gemm's caller waits for a worker thread, and on an oversubscribed
machine the wait is a scheduler time slice, a hundred times the gemm itself (W1's
64x1000x100 gemm: 0.3 ms on one thread, 80 ms median on two, with the 2-core machine
shared by several busy processes, load ~7). But on a quiet machine the pool wins at
every size OpenBLAS splits (from 2^18 multiply-adds; 2^20: 47 µs on one thread, 27 µs
on two), and with one core kept busy it still won on W1 (median 0.76 ms against 0.93
ms, 90th percentile 0.86 against 1.13): so it is the user's choice, for a machine
they know is oversubscribed. OpenBLAS has no per-call thread count (its
``openblas_set_num_threads_local`` is process-wide in pthreads builds), so the kernel
sets the pool to one thread around such a call and back to the count of graphc's
thread policy (``set_blas_threads``, ``graphc.runtime.threads``). The pool is NumPy's:
a NumPy product that another thread starts meanwhile runs on one thread too (slower,
never wrong), and the count graphc restores is gc.set_threads', not one set behind
graphc's back.
"""

from __future__ import annotations

import ctypes
import glob
import os

import llvmlite.binding as llvm
import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.np.arrayobj import make_array

_ORDER_COL_MAJOR, _NO_TRANS, _TRANS = 102, 111, 112  # CBLAS enums
SERIAL_WORK = 0  # m * n * k below which a gemm runs on one BLAS thread: none by default (see above)
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


_POOL = ctypes.c_int32(1)  # the pool's count under graphc's policy: what a small gemm restores
_SERIAL = ctypes.c_int64(SERIAL_WORK)  # the kernels read it on every gemm (set_serial_work)
_KEEP = ctypes.CFUNCTYPE(None, ctypes.c_int)(lambda n: None)  # a pool graphc cannot resize: left alone


def _register() -> tuple[str, ctypes.CDLL | None]:
    found = _numpy_openblas()
    resize = ctypes.cast(_KEEP, ctypes.c_void_p).value
    if found is not None:
        path, lib, addresses = found
        library = f"NumPy's OpenBLAS ({os.path.basename(path)})"
        for prefix in _PREFIXES:
            setter = getattr(lib, f"{prefix}openblas_set_num_threads64_", None)
            if setter is not None:
                resize = ctypes.cast(setter, ctypes.c_void_p).value
                break
    else:
        lib, addresses = None, {k: _scipy_forwarder(k, t) for k, t in (("d", types.float64), ("s", types.float32))}
        library = "SciPy's BLAS through Numba's numba_xxgemm (NumPy has no bundled OpenBLAS here)"
    for kind, address in addresses.items():
        llvm.add_symbol(f"graphc_cblas_{kind}gemm", address)
    llvm.add_symbol("graphc_blas_resize", resize)
    llvm.add_symbol("graphc_blas_pool", ctypes.addressof(_POOL))
    llvm.add_symbol("graphc_blas_serial_work", ctypes.addressof(_SERIAL))
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
    the program's NumPy code), the count their large gemms use. False where graphc
    cannot set it."""
    for prefix in _PREFIXES:
        set_ = getattr(_LIB, f"{prefix}openblas_set_num_threads64_", None) if _LIB is not None else None
        if set_ is not None:
            set_.argtypes = [ctypes.c_int]
            set_(n)
            _POOL.value = n
            return True
    return False


def set_serial_work(work: int) -> None:
    """Run the kernels' gemms of m * n * k below ``work`` on one BLAS thread (0, the
    default: every gemm on the pool; ``1 << 24`` takes W1's gemms off a pool whose
    second thread waits for a core on an oversubscribed machine)."""
    _SERIAL.value = work


def keep_blas_threads() -> None:
    """Take the pool's current thread count as the one small gemms restore (see the
    module docstring), when graphc leaves the count as it found it."""
    _POOL.value = blas_threads() or 1


_I32, _I64, _VOIDP = ir.IntType(32), ir.IntType(64), ir.IntType(8).as_pointer()


def _gemm_codegen(kind: str, with_beta: bool):
    """The LLVM of one CBLAS gemm call: alpha 1, and beta 0 or the call's own ``beta``;
    below the serial work, the pool shrunk to one thread around it."""

    def codegen(context, builder, sig, args):
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
        cblas = ir.FunctionType(ir.VoidType(), [_I32, _I32, _I32, _I64, _I64, _I64, scalar, _VOIDP, _I64, _VOIDP,
                                                _I64, scalar, _VOIDP, _I64])
        fn = cgutils.get_or_insert_function(builder.module, cblas, f"graphc_cblas_{kind}gemm")
        resize = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [_I32]),
                                                "graphc_blas_resize")
        pool, least = (builder.module.globals.get(name) or ir.GlobalVariable(builder.module, t, name)
                       for name, t in (("graphc_blas_pool", _I32), ("graphc_blas_serial_work", _I64)))
        work = builder.mul(builder.mul(ints[0], ints[1]), ints[2])
        threads = builder.load(pool)
        serial = builder.and_(builder.icmp_signed("<", work, builder.load(least)),
                              builder.icmp_signed(">", threads, ir.Constant(_I32, 1)))
        with builder.if_then(serial):  # a small gemm on one BLAS thread (the module docstring)
            builder.call(resize, [ir.Constant(_I32, 1)])
        builder.call(fn, [ir.Constant(_I32, _ORDER_COL_MAJOR), *codes, *ints[:3], ir.Constant(scalar, 1.0),
                          pointers[0], ints[3], pointers[1], ints[4], beta, pointers[2], ints[5]])
        with builder.if_then(serial):
            builder.call(resize, [threads])
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
    until gemm returns. Below set_serial_work's size, on one BLAS thread (see the module
    docstring)."""
    kind = _gemm_kind(a, b, c)
    if kind is None:
        return None
    return types.none(transa, transb, m, n, k, a, lda, b, ldb, c, ldc), _gemm_codegen(kind, with_beta=False)


@intrinsic
def gemm_sum_call(typingctx, transa, transb, m, n, k, a, lda, b, ldb, beta, c, ldc):
    """As ``gemm_call``, but c = op(a) @ op(b) + beta * c: a loop of these sums gemms
    into one result (beta 0 on the first, 1 after)."""
    kind = _gemm_kind(a, b, c)
    if kind is None or not isinstance(beta, (types.Float, types.Integer)):
        return None
    return types.none(transa, transb, m, n, k, a, lda, b, ldb, beta, c, ldc), _gemm_codegen(kind, with_beta=True)


def emit_gemm(w, dtype: np.dtype, m: str, n: str, k: str, a: str, a_transposed: bool, b: str, b_transposed: bool,
              c: str, depth: int = 1, what: str = "", beta: str | None = None) -> None:
    """Emit, through the KernelWriter ``w``, the gemm call c = a @ b for row-major
    buffers (expressions): c is m x n and C-contiguous; a is m x k, or k x m when
    ``a_transposed``; b is k x n, or n x k when ``b_transposed``. BLAS is column-major,
    so it computes c^T = b^T a^T: a buffer stored as the matrix is 'n' to it, one stored
    transposed 't', with the leading dimension of its rows. With ``beta`` (an
    expression), c = a @ b + beta * c."""
    function = "gemm_call" if beta is None else "gemm_sum_call"
    w.imports.add(function)
    ta, lda = (_TRANS, m) if a_transposed else (_NO_TRANS, k)
    tb, ldb = (_TRANS, k) if b_transposed else (_NO_TRANS, n)
    call = [str(tb), str(ta), n, m, k, b, _ld(ldb), a, _ld(lda), *([] if beta is None else [beta]), c, _ld(n)]
    kind = "s" if dtype == np.float32 else "d"
    w.emit(f"{function}({', '.join(call)})  # BLAS {kind}gemm: {what}", depth)


def _ld(d: str) -> str:
    """A leading dimension: BLAS wants at least 1 even for empty operands."""
    return str(max(1, int(d))) if d.isdigit() else f"max(1, {d})"
