"""Multi-threaded fused loops: which loops may run on threads, how their chunks are cut,
and the launcher that runs the chunks.

A long elementwise loop (W2's million elements: sigmoid, tanh and their gradients) is
bound by arithmetic, not memory, so it runs faster on every core; XLA splits such
loops across its thread pool as well. The code generator cuts a long 1-D or flat loop
into contiguous chunks, a helper function computing one chunk and storing its partial
reductions, and combines the partials in chunk order. The chunks are fixed by the
loop's size alone, never by the thread count, so a result has the same bits with 1, 2
or any number of threads, and with or without a threading layer.

The kernel itself is never compiled with ``parallel=True``: Numba's parfor pipeline
costs ~0.5-1.5 s of compile time for every function that has a ``prange``, however
small. The chunks run through ``run_chunks`` instead, an intrinsic that packs the
helper's arguments into a struct on the kernel's stack and calls one launcher, a
``cfunc`` with a ``prange`` over the chunks that calls a small per-loop trampoline
through a function pointer. The launcher is compiled once (and cached on disk by
Numba) for every kernel: a kernel only links to its symbol, ``graphc_run_chunks``.
So a loop over a named dim ("N") can be chunked too at no parfor cost, and whether its
chunks run on threads is decided at run time from the actual size (``min_parallel``).
"""

from __future__ import annotations

import math
import threading

import llvmlite.binding as llvm
import numba
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

MIN_WORK = 1 << 20  # elements x per-element cost (each op's Op.cost, ~0.3 ns an op): about
# 0.3 ms serially; below it a loop's chunks run in a plain loop (a parallel launch costs
# ~10 us, and more when the other core is busy)
CHUNK_ELEMENTS = 1 << 16  # a chunk's least length (chunks are as equal as can be): W2 has 15
LAUNCHER = "graphc_run_chunks"  # the launcher's symbol, which kernels link to


def available() -> bool:
    """Whether generated kernels may run loops on threads in this process."""
    from graphc.runtime import threads

    return threads.loops_parallel()[0]


def chunk_count(size: int) -> int:
    """How many chunks a long loop of ``size`` elements is cut into: a function of the
    size only (the generated kernels compute ``max(1, n // CHUNK_ELEMENTS)`` alike)."""
    return max(1, size // CHUNK_ELEMENTS)


def min_parallel(cost: int) -> int:
    """The least size at which a loop whose elements cost ``cost`` each runs its chunks
    on threads: two chunks at least, and MIN_WORK."""
    return max(2 * CHUNK_ELEMENTS, math.ceil(MIN_WORK / max(1, cost)))


_launch: list[numba.core.ccallback.CFunc] = []  # the launcher, kept alive: kernels jump to its code
_lock = threading.Lock()


def start_launcher() -> None:
    """Compile (or load from Numba's cache) the chunk launcher and register its symbol
    for kernels to link to, once per process. Generated modules that call ``run_chunks``
    call this first; it needs the thread-safe threading layer (graphc.runtime.threads),
    which the code generator checked before it wrote ``run_chunks``."""
    with _lock:
        if not _launch:
            _launch.append(_launcher())
            llvm.add_symbol(LAUNCHER, _launch[0].address)


_BYTE, _I64 = ir.IntType(8).as_pointer(), ir.IntType(64)
_TASK = ir.FunctionType(ir.VoidType(), [_BYTE, _I64])  # task(data, c)


@intrinsic
def _call_task(typingctx, task, data, c):
    """task(data, c): a call through a C function pointer (the launcher's only statement)."""

    def codegen(context, builder, sig, args):
        builder.call(builder.bitcast(args[0], _TASK.as_pointer()), [args[1], args[2]])
        return context.get_dummy_value()

    return types.none(types.voidptr, types.voidptr, types.int64), codegen


@intrinsic
def _set_chunksize(typingctx, n):
    """Numba's set_parallel_chunksize(n), returning the previous size, through the
    symbols its threading layer registers with LLVM, declared as its parfor lowering
    declares them (its Python functions are ctypes pointers, which would keep the
    launcher out of Numba's disk cache)."""
    i64 = ir.IntType(64)

    def codegen(context, builder, sig, args):
        get = cgutils.get_or_insert_function(builder.module, ir.FunctionType(i64, []), "get_parallel_chunksize")
        set_ = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [i64]),
                                              "set_parallel_chunksize")
        before = builder.call(get, [])
        builder.call(set_, [args[0]])
        return before

    return types.int64(types.int64), codegen


def _launcher() -> numba.core.ccallback.CFunc:
    def launch(task, data, count):  # the chunks on Numba's (TBB) threads, any order
        # one chunk at a time to whichever thread is free (Numba's dynamic schedule): by
        # default Numba gives each thread an equal share up front, and a thread the
        # scheduler leaves off a core then holds its whole share while the caller waits
        before = _set_chunksize(1)
        for c in numba.prange(count):
            _call_task(task, data, c)
        _set_chunksize(before)

    signature = types.void(types.voidptr, types.voidptr, types.int64)
    return numba.cfunc(signature, parallel=True, nogil=True, cache=True)(launch)


@intrinsic
def run_chunks(typingctx, helper, count, args):
    """``helper(*args, c)`` for every chunk ``c`` in ``range(count)``, on graphc's loop
    threads, through the launcher (see the module docstring): ``args`` are packed in a
    struct on the caller's stack, and a trampoline ``task(data, c)`` unpacks them and
    calls the helper. The helper stores its own results; an exception it raised would
    be lost, so it must raise none (a chunk helper only loads, computes and stores)."""
    if not isinstance(helper, types.Dispatcher) or not isinstance(args, types.BaseTuple):
        return None
    helper_sig = helper.get_call_type(typingctx, (*args.types, types.int64), {})

    def codegen(context, builder, sig, values):
        _, count_value, packed = values
        compiled = helper.dispatcher.overloads[helper_sig.args]
        context.add_linking_libs([compiled.library])
        module = builder.module
        fields = ir.LiteralStructType([context.get_value_type(t) for t in args.types])
        task = cgutils.get_or_insert_function(module, _TASK, f"graphc_task_{compiled.fndesc.mangled_name}")
        if not task.blocks:  # the trampoline: unpack the struct, call the helper
            task.linkage = "internal"
            tb = ir.IRBuilder(task.append_basic_block())
            data = tb.bitcast(task.args[0], fields.as_pointer())
            unpacked = [tb.load(cgutils.gep_inbounds(tb, data, 0, k)) for k in range(len(args.types))]
            callee = cgutils.get_or_insert_function(
                module, context.call_conv.get_function_type(helper_sig.return_type, helper_sig.args),
                compiled.fndesc.llvm_func_name)
            context.call_conv.call_function(tb, callee, helper_sig.return_type, helper_sig.args,
                                            [*unpacked, task.args[1]])
            tb.ret_void()
        data = cgutils.alloca_once(builder, fields)
        for k in range(len(args.types)):
            builder.store(builder.extract_value(packed, k), cgutils.gep_inbounds(builder, data, 0, k))
        launch = cgutils.get_or_insert_function(module, ir.FunctionType(ir.VoidType(), [_BYTE, _BYTE, _I64]),
                                                LAUNCHER)
        n = context.cast(builder, count_value, sig.args[1], types.int64)
        builder.call(launch, [builder.bitcast(task, _BYTE), builder.bitcast(data, _BYTE), n])
        return context.get_dummy_value()

    return types.none(helper, count, args), codegen
