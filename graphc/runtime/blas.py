"""The BLAS library the kernels' gemms run in, and the threads that run them.

Generated kernels call gemm through two symbols, ``graphc_cblas_dgemm`` and
``graphc_cblas_sgemm`` (the CBLAS signature with 64-bit integers, emitted by
graphc.codegen.blas), which ``start`` points at a library when the Numba backend
starts. A kernel is linked after that, so its machine code stays disk-cacheable
whichever library runs.

**Blocked gemm on graphc's loop threads** (where they run on TBB, the default). A gemm
of at least ``2 * GRAIN`` multiply-adds is cut into blocks of whole rows or whole
columns of its result (along the longer side; the other operand is packed once per
block, so that is the cheaper one to repeat), and the blocks run through the chunk
launcher (graphc.codegen.parallel) on the same TBB threads as the long fused loops.
Each block is a single-threaded gemm. So a kernel has one pool of threads for all its
parallel work, and a pool that does not wait for a thread the scheduler is not running:
a TBB worker takes a block when it runs, and the calling thread runs every block no
worker has taken. OpenBLAS's own pool splits one gemm into jobs that wait for each
other at every panel; on a machine whose other core is busy, that wait is a scheduler
time slice. Measured with W1's two gemms (64x1000x100 and 1000x64x100, float64) on 2
cores with another process spinning and the machine loaded besides: OpenBLAS's pool,
median 0.46 ms and 90th percentile 4.5 ms; these blocks 0.79 ms and 0.95 ms; one
thread 0.72 and 0.83 ms.

A strided batch of gemms (``graphc_cblas_{d,s}gemm_batch``: conv2d's gemm per image)
runs its gemms one after another where each is large enough to be cut into blocks,
and otherwise in groups of consecutive gemms on the same threads, the groups fixed by
the sizes as blocks are.

The block count is a function of the gemm's sizes only, the largest power of two at
most ``work / GRAIN``, ``MAX_BLOCKS`` and ``side / MIN_SIDE``: never of the thread count,
so a result's bits do not depend on it (tests/test_parallel.py checks 1 and 2 threads).

**The single-threaded gemm** is NumPy's own OpenBLAS (the same build and the same
``OPENBLAS_CORETYPE`` as the program's NumPy products), loaded a second time from a
copy of its file in graphc's cache directory, with ``OPENBLAS_NUM_THREADS=1`` set only
while it loads. The copy has its own thread count, fixed at one, so graphc never resizes
NumPy's pool behind the program's back (OpenBLAS's thread count is one global per
library in its pthreads builds) and starts no second pool of spinning workers.

**Fallbacks**, each reported in ``LIBRARY`` (``gc.thread_info()["blas"]``): without
TBB, or where the copy cannot be loaded, gemms run on NumPy's OpenBLAS and its pool;
with a NumPy built against another BLAS, on SciPy's BLAS through Numba's
``numba_xxgemm``.
"""

from __future__ import annotations

import ctypes
import functools
import glob
import os
import shutil
import tempfile
import threading

import llvmlite.binding as llvm
import numpy as np
from llvmlite import ir

GRAIN = 1 << 20  # multiply-adds of a block, at least (~40 us on one core): fewer run as one call
MAX_BLOCKS = 16
MIN_SIDE = 16  # a block's least rows or columns
_PREFIXES = ("scipy_", "")  # NumPy >= 2 wheels prefix their OpenBLAS symbols with scipy_
_COL_MAJOR, _NO_TRANS = 102, 111  # CBLAS codes

LIBRARY = "not started"  # which gemm the kernels call (set by start)
_keep: list[object] = []  # the private library, forwarders and the blocked gemm's code, kept alive
_lock = threading.Lock()


@functools.cache
def _numpy_openblas() -> tuple[str, ctypes.CDLL, str] | None:
    """NumPy's bundled OpenBLAS with the 64-bit CBLAS interface: its path, handle and
    symbol prefix."""
    root = os.path.dirname(os.path.dirname(np.__file__))
    candidates = glob.glob(os.path.join(root, "numpy.libs", "*openblas64*"))
    candidates += glob.glob(os.path.join(os.path.dirname(np.__file__), ".dylibs", "*openblas64*"))
    for path in sorted(candidates):
        try:
            lib = ctypes.CDLL(path)  # already loaded by NumPy: the same handle, no second copy
        except OSError:
            continue
        for prefix in _PREFIXES:
            if hasattr(lib, f"{prefix}cblas_dgemm64_"):
                return path, lib, prefix
    return None


def _gemms(lib: ctypes.CDLL, prefix: str) -> dict[str, int]:
    return {k: ctypes.cast(getattr(lib, f"{prefix}cblas_{k}gemm64_"), ctypes.c_void_p).value for k in "ds"}


def _private_copy(path: str, prefix: str) -> ctypes.CDLL | None:
    """A second instance of the OpenBLAS at ``path``, single-threaded (see the module
    docstring), loaded from a copy in graphc's cache directory (else a private
    temporary one), or None where it cannot be made."""
    from graphc.runtime.cache import cache_dir

    name = os.path.basename(path)
    for folder in (str(cache_dir() / "blas"), os.path.join(tempfile.gettempdir(), f"graphc-blas-{os.getuid()}")):
        copy = os.path.join(folder, name)
        try:
            os.makedirs(folder, mode=0o700, exist_ok=True)
            if not _own(folder):
                continue
            if not os.path.exists(copy) or os.path.getsize(copy) != os.path.getsize(path):
                fd, part = tempfile.mkstemp(dir=folder, prefix=".part-")
                os.close(fd)
                shutil.copyfile(path, part)
                os.replace(part, copy)  # another process may race: either copy is whole
            if not _own(copy):
                continue
            before = os.environ.get("OPENBLAS_NUM_THREADS")
            os.environ["OPENBLAS_NUM_THREADS"] = "1"  # read once, as it loads: it starts no pool
            try:
                lib = ctypes.CDLL(copy, mode=os.RTLD_LOCAL)
            finally:
                if before is None:
                    del os.environ["OPENBLAS_NUM_THREADS"]
                else:
                    os.environ["OPENBLAS_NUM_THREADS"] = before
            getattr(lib, f"{prefix}openblas_set_num_threads64_")(1)
            return lib
        except (OSError, AttributeError):
            continue
    return None


def _own(path: str) -> bool:
    """Whether ``path`` is this user's and no one else may write it (a library loaded
    from it runs as this user)."""
    st = os.stat(path)
    return st.st_uid == os.getuid() and not st.st_mode & 0o022


def _scipy_forwarders() -> dict[str, int]:
    """Addresses of cfuncs with the CBLAS gemm signature that call Numba's numba_xxgemm
    (SciPy's BLAS), for a NumPy without a bundled OpenBLAS."""
    import numba
    from numba import types

    out = {}
    for kind, dtype, np_dtype in (("d", types.float64, np.float64), ("s", types.float32, np.float32)):
        ptr, i64, enum = types.CPointer(dtype), types.int64, types.int32
        xxgemm = types.ExternalFunction("numba_xxgemm", types.intc(
            types.char, types.char, types.char, types.intp, types.intp, types.intp,
            ptr, ptr, types.intp, ptr, types.intp, ptr, ptr, types.intp))
        code = ord(kind)

        def forward(order, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc,  # noqa: N803
                    xxgemm=xxgemm, code=code, np_dtype=np_dtype):
            scalars = np.empty(2, dtype=np_dtype)
            scalars[0], scalars[1] = alpha, beta
            ta, tb = 110 if transa == _NO_TRANS else 116, 110 if transb == _NO_TRANS else 116
            xxgemm(code, ta, tb, m, n, k, scalars[0:].ctypes, a, lda, b, ldb, scalars[1:].ctypes, c, ldc)

        cf = numba.cfunc(types.void(enum, enum, enum, i64, i64, i64, dtype, ptr, i64, ptr, i64, dtype, ptr, i64),
                         nopython=True)(forward)
        _keep.append(cf)
        out[kind] = cf.address
    return out


def _gemm_ir(parallel: bool) -> ir.Module:
    """Where ``parallel``: ``graphc_blocked_{d,s}gemm``, the CBLAS gemm (column-major, as
    the kernels call it) cut into blocks run by the chunk launcher, each block a call of
    ``graphc_serial_{d,s}gemm``, and the launcher's task for one block. Always:
    ``graphc_batch_{d,s}gemm``, a batch of gemms (``_batch_ir``)."""
    i8p, i32, i64, void = ir.IntType(8).as_pointer(), ir.IntType(32), ir.IntType(64), ir.VoidType()
    module = ir.Module("graphc_gemm")
    launch = ir.Function(module, ir.FunctionType(void, [i8p, i8p, i64]), "graphc_run_chunks") if parallel else None
    ctlz = ir.Function(module, ir.FunctionType(i64, [i64, ir.IntType(1)]), "llvm.ctlz.i64")
    for kind, real, size in (("d", ir.DoubleType(), 8), ("s", ir.FloatType(), 4)):
        cblas = ir.FunctionType(void, [i32, i32, i32, i64, i64, i64, real, i8p, i64, i8p, i64, real, i8p, i64])
        if not parallel:  # the batch's gemms: NumPy's (on its pool), one after another
            _batch_ir(module, kind, size, cblas, ir.Function(module, cblas, f"graphc_cblas_{kind}gemm"), None,
                      None, ctlz)
            continue
        serial = ir.Function(module, cblas, f"graphc_serial_{kind}gemm")
        # the launcher's data: the gemm's arguments (but order), the block count, and 1
        # if the blocks are column ranges of the result, 0 if row ranges
        fields = ir.LiteralStructType([i32, i32, i64, i64, i64, real, i8p, i64, i8p, i64, real, i8p, i64, i64, i64])

        task = ir.Function(module, ir.FunctionType(void, [i8p, i64]), f"graphc_gemm_block_{kind}")
        b = ir.IRBuilder(task.append_basic_block())
        data = b.bitcast(task.args[0], fields.as_pointer())
        ta, tb, m, n, k, alpha, a, lda, bm, ldb, beta, c, ldc, blocks, columns = (
            b.load(b.gep(data, [i32(0), i32(f)])) for f in range(len(fields.elements)))
        q = task.args[1]
        by_column = b.icmp_signed("!=", columns, i64(0))
        side = b.select(by_column, n, m)
        lo = b.sdiv(b.mul(q, side), blocks)
        count = b.sub(b.sdiv(b.mul(b.add(q, i64(1)), side), blocks), lo)
        # columns j of op(B) start at B + j*ldb (B as stored) or B + j (transposed), of C
        # at C + j*ldc; rows i of op(A) at A + i (as stored) or A + i*lda, of C at C + i
        a_at = b.select(by_column, i64(0), b.select(b.icmp_signed("==", ta, i32(_NO_TRANS)), lo, b.mul(lo, lda)))
        b_at = b.select(by_column, b.select(b.icmp_signed("==", tb, i32(_NO_TRANS)), b.mul(lo, ldb), lo), i64(0))
        c_at = b.select(by_column, b.mul(lo, ldc), lo)

        def at(base, offset, b=b, size=size):
            return b.gep(base, [b.mul(offset, i64(size))])

        b.call(serial, [i32(_COL_MAJOR), ta, tb, b.select(by_column, m, count), b.select(by_column, count, n), k,
                        alpha, at(a, a_at), lda, at(bm, b_at), ldb, beta, at(c, c_at), ldc])
        b.ret_void()

        gemm = ir.Function(module, cblas, f"graphc_blocked_{kind}gemm")
        b = ir.IRBuilder(gemm.append_basic_block())
        _, ta, tb, m, n, k, alpha, a, lda, bm, ldb, beta, c, ldc = gemm.args
        by_column = b.icmp_signed(">=", n, m)
        side = b.select(by_column, n, m)
        blocks = _blocks(b, ctlz, b.mul(b.mul(m, n), k), b.sdiv(side, i64(MIN_SIDE)))
        with b.if_else(b.icmp_signed("<", blocks, i64(2))) as (one, many):
            with one:
                b.call(serial, [i32(_COL_MAJOR), ta, tb, m, n, k, alpha, a, lda, bm, ldb, beta, c, ldc])
            with many:
                packed = b.alloca(fields)
                for f, value in enumerate((ta, tb, m, n, k, alpha, a, lda, bm, ldb, beta, c, ldc, blocks,
                                           b.zext(by_column, i64))):
                    b.store(value, b.gep(packed, [i32(0), i32(f)]))
                b.call(launch, [b.bitcast(task, i8p), b.bitcast(packed, i8p), blocks])
        b.ret_void()
        _batch_ir(module, kind, size, cblas, gemm, serial, launch, ctlz)
    return module


def _blocks(b: ir.IRBuilder, ctlz: ir.Function, work: ir.Value, most: ir.Value) -> ir.Value:
    """The block count for ``work`` multiply-adds: the largest power of two at most
    work / GRAIN, MAX_BLOCKS and ``most`` (at least 1 where work < GRAIN)."""
    i64 = ir.IntType(64)
    units = b.udiv(work, i64(GRAIN))
    units = b.select(b.icmp_unsigned("<", units, i64(1)), i64(1), units)
    blocks = b.shl(i64(1), b.sub(i64(63), b.call(ctlz, [units, ir.Constant(ir.IntType(1), 0)])))
    for bound in (i64(MAX_BLOCKS), most):
        blocks = b.select(b.icmp_signed("<", bound, blocks), bound, blocks)
    return blocks


def _batch_ir(module: ir.Module, kind: str, size: int, cblas: ir.FunctionType, gemm: ir.Function,
              serial: ir.Function | None, launch: ir.Function | None, ctlz: ir.Function) -> None:
    """``graphc_batch_{kind}gemm(count, stride_a, stride_b, stride_c, <CBLAS gemm>)``: the
    gemm for each q < count with the operands advanced by q strides (elements; 0 for an
    operand shared by the batch), as a strided-batch gemm. Gemms of at least 2 * GRAIN
    multiply-adds run one after another, each in blocks (``gemm``); smaller ones in groups
    of consecutive q on the loop threads (``serial`` through ``launch``, where given),
    the groups fixed by the sizes as gemm blocks are."""
    i8p, i32, i64, void = ir.IntType(8).as_pointer(), ir.IntType(32), ir.IntType(64), ir.VoidType()
    real = cblas.args[6]
    fields = ir.LiteralStructType([i64, i64, i64, i64, i32, i32, i64, i64, i64, real, i8p, i64, i8p, i64, real,
                                   i8p, i64, i64])  # count, strides, the gemm's arguments but order, groups

    def run(b: ir.IRBuilder, callee: ir.Function, lo: ir.Value, hi: ir.Value, args: list[ir.Value]) -> None:
        """callee over the batch elements [lo, hi): a counted loop."""
        sa, sb, sc, ta, tb, m, n, k, alpha, a, lda, bm, ldb, beta, c, ldc = args
        head, body, done = (b.append_basic_block(x) for x in ("head", "body", "done"))
        start = b.block
        b.branch(head)
        b.position_at_end(head)
        q = b.phi(i64)
        q.add_incoming(lo, start)
        b.cbranch(b.icmp_signed("<", q, hi), body, done)
        b.position_at_end(body)

        def at(base, stride):
            return b.gep(base, [b.mul(b.mul(q, stride), i64(size))])

        b.call(callee, [i32(_COL_MAJOR), ta, tb, m, n, k, alpha, at(a, sa), lda, at(bm, sb), ldb, beta,
                        at(c, sc), ldc])
        q.add_incoming(b.add(q, i64(1)), b.block)
        b.branch(head)
        b.position_at_end(done)

    batch = ir.Function(module, ir.FunctionType(void, [i64, i64, i64, i64, *cblas.args]), f"graphc_batch_{kind}gemm")
    b = ir.IRBuilder(batch.append_basic_block())
    count, sa, sb, sc, _, *rest = batch.args
    m, n, k = rest[2:5]
    if launch is None or serial is None:
        run(b, gemm, i64(0), count, [sa, sb, sc, *rest])
        b.ret_void()
        return
    task = ir.Function(module, ir.FunctionType(void, [i8p, i64]), f"graphc_batch_group_{kind}")
    tb_ = ir.IRBuilder(task.append_basic_block())
    data = tb_.bitcast(task.args[0], fields.as_pointer())
    loaded = [tb_.load(tb_.gep(data, [i32(0), i32(f)])) for f in range(len(fields.elements))]
    group, groups, total = task.args[1], loaded[-1], loaded[0]
    lo = tb_.sdiv(tb_.mul(group, total), groups)
    hi = tb_.sdiv(tb_.mul(tb_.add(group, i64(1)), total), groups)
    run(tb_, serial, lo, hi, loaded[1:-1])
    tb_.ret_void()

    work = b.mul(b.mul(m, n), k)
    groups = _blocks(b, ctlz, b.mul(work, count), count)
    alone = b.or_(b.icmp_signed(">=", work, i64(2 * GRAIN)), b.icmp_signed("<", groups, i64(2)))
    with b.if_else(alone) as (one_by_one, grouped):
        with one_by_one:
            run(b, gemm, i64(0), count, [sa, sb, sc, *rest])
        with grouped:
            packed = b.alloca(fields)
            for f, value in enumerate((count, sa, sb, sc, *rest, groups)):
                b.store(value, b.gep(packed, [i32(0), i32(f)]))
            b.call(launch, [b.bitcast(task, i8p), b.bitcast(packed, i8p), groups])
    b.ret_void()


def _compile(parallel: bool) -> object:
    """Compile ``_gemm_ir`` (Numba's JIT; a few ms), its symbols already registered."""
    from numba.core.compiler_lock import global_compiler_lock
    from numba.core.registry import cpu_target

    with global_compiler_lock:
        library = cpu_target.target_context.codegen().create_library("graphc_gemm")
        library.add_ir_module(_gemm_ir(parallel))
        library.finalize()
    _keep.append(library)
    return library


def start(threads_run_loops: bool) -> None:
    """Point the kernels' gemm symbols at a library (once per process): blocked on the
    loop threads where ``threads_run_loops``, else NumPy's OpenBLAS (see the module
    docstring)."""
    global LIBRARY
    with _lock:
        if LIBRARY != "not started":
            return
        found = _numpy_openblas()
        if found is None:
            gemms = _scipy_forwarders()
            LIBRARY = "SciPy's BLAS through Numba's numba_xxgemm (NumPy has no bundled OpenBLAS here)"
        else:
            path, numpy_lib, prefix = found
            name = os.path.basename(path)
            private = _private_copy(path, prefix) if threads_run_loops else None
            if private is not None:
                from graphc.codegen.parallel import start_launcher

                _keep.append(private)
                start_launcher()
                for kind, address in _gemms(private, prefix).items():
                    llvm.add_symbol(f"graphc_serial_{kind}gemm", address)
                library = _compile(parallel=True)
                gemms = {k: library.get_pointer_to_function(f"graphc_blocked_{k}gemm") for k in "ds"}
                LIBRARY = f"blocks on graphc's loop threads, each a one-thread gemm of a private copy of {name}"
            else:
                gemms = _gemms(numpy_lib, prefix)
                LIBRARY = f"NumPy's OpenBLAS ({name}) and its pool" + (
                    "" if threads_run_loops else " (graphc's loops run serially)")
        for kind, address in gemms.items():
            llvm.add_symbol(f"graphc_cblas_{kind}gemm", address)
        if "blocks" not in LIBRARY:
            library = _compile(parallel=False)
        for kind in "ds":
            llvm.add_symbol(f"graphc_cblas_{kind}gemm_batch",
                            library.get_pointer_to_function(f"graphc_batch_{kind}gemm"))


def _numpy_call(name: str) -> ctypes._CFuncPtr | None:
    """A function of NumPy's OpenBLAS, by its name without the prefix."""
    found = _numpy_openblas()
    return None if found is None else getattr(found[1], f"{found[2]}{name}", None)


def blas_threads() -> int | None:
    """The thread count of NumPy's OpenBLAS pool (None where graphc cannot read it)."""
    get = _numpy_call("openblas_get_num_threads64_")
    if get is None:
        return None
    get.restype = ctypes.c_int
    return int(get())


def set_blas_threads(n: int) -> bool:
    """Set the thread count of NumPy's OpenBLAS pool, which the program's NumPy products
    use (and the kernels' gemms, in the fallback). False where graphc cannot set it."""
    set_ = _numpy_call("openblas_set_num_threads64_")
    if set_ is None:
        return False
    set_.argtypes = [ctypes.c_int]
    set_(n)
    return True
