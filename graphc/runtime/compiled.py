"""A compiled graph: optimized, generated, jitted, and called through a thin path."""

from __future__ import annotations

import gc
import pickle
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from operator import attrgetter
from time import perf_counter

import numba
import numpy as np

from graphc.codegen.kernel import KernelSpec, generate, wants_packing
from graphc.interpret import check_closed, node_list
from graphc.ir.graph import order
from graphc.ir.node import Node
from graphc.ir.numbering import Numbering
from graphc.passes import PassLog, optimize, select
from graphc.runtime import cache as disk
from graphc.runtime import threads
from graphc.runtime.arguments import Signature
from graphc.runtime.caller import make_caller, make_packed_caller
from graphc.runtime.workspace import Memory, Workspaces


def start_numba() -> None:
    """Numba's lazy start-up: its registries (and SciPy's BLAS, which they import), and
    graphc's thread policy on the loop and BLAS pools."""
    from numba.core.registry import cpu_target

    cpu_target.typing_context.refresh()
    cpu_target.target_context.refresh()
    threads.start()


def load_kernels(source: str, specs: Sequence[KernelSpec], cache: bool) -> tuple[disk.Kernels, dict[str, Callable]]:
    """Import the generated module and compile (or load from Numba's cache) each kernel
    for the argument types it will be called with, so the first call runs at once.
    A damaged cache entry is deleted and rebuilt once.

    Returns the kernels and each kernel's compiled entry point for those types: calling
    it skips Numba's type dispatch, so the caller must pass exactly those types (see
    ``graphc.runtime.caller``). One module may serve several signatures (a graph of
    scalars generates the same source in float32 and float64)."""
    threads.start()  # the thread policy, on the loop and BLAS pools (once)
    module = disk.load(source, cache)
    try:
        with module.compiling(), _collector_paused(), _unrolled_as_at_o2():
            entries = _compile_all(module, specs)
    except (pickle.UnpicklingError, EOFError, ValueError, ImportError, AttributeError):
        if not cache:
            raise
        module = disk.purge(source, module)
        with module.compiling(), _collector_paused(), _unrolled_as_at_o2():
            entries = _compile_all(module, specs)
    return module, entries


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while Numba compiles. Numba allocates
    objects by the million, so the collector runs often, and each full collection walks
    every object of the program (NumPy's, Numba's, the user's): about a tenth of a cold
    compile of W5 or W6. The cycles a compile leaves are collected when it is back on."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# LLVM's loop unroller: how large a loop it may unroll, in its cost units. Numba runs
# LLVM at -O3, whose threshold is 300; -O2's is 150.
UNROLL_THRESHOLD = 150
_O3_UNROLL_THRESHOLD = 300


@contextmanager
def _unrolled_as_at_o2() -> Iterator[None]:
    """LLVM unrolls the kernels' loops as at -O2, not -O3, while graphc compiles them.

    At -O3 LLVM unrolls outright the loops with small constant trip counts that the
    kernels are full of (windows, pooling, the classes of a loss), and W6's kernel was
    14,900 lines of optimized LLVM IR. At -O2's threshold it is 7,900 lines, the cold
    compile 3.6 s instead of 4.3 s (W5: 2.4 s instead of 2.75 s), and no kernel is
    slower (W6 60 ms a call either way, W5 1.75 ms). The threshold is one of LLVM's
    process-wide options, so it is set with Numba's compiler lock held (no other Numba
    compile runs meanwhile) and put back afterwards to what Numba's optimization level
    gives."""
    import llvmlite.binding as llvm
    from numba.core import config
    from numba.core.compiler_lock import global_compiler_lock

    with global_compiler_lock:
        llvm.set_option("graphc", f"-unroll-threshold={UNROLL_THRESHOLD}")
        try:
            yield
        finally:
            default = _O3_UNROLL_THRESHOLD if int(config.OPT) >= 3 else UNROLL_THRESHOLD
            llvm.set_option("graphc", f"-unroll-threshold={default}")


def _compile_all(module: disk.Kernels, specs: Sequence[KernelSpec]) -> dict[str, Callable]:
    entries = {}
    for spec in specs:
        types = [_numba_type(p) for p in spec.params]
        if spec.packed:  # the arrays' addresses, then the 0-d parameters (graphc.codegen.kernel)
            types = [numba.types.Array(numba.int64, 1, "C"), *(t for t, p in zip(types, spec.params) if p.shape == ())]
        types += [numba.int64] * len(spec.dim_params)
        types += [numba.typeof(c.attrs["value"]) for c in spec.constants]
        if spec.memory is not None:  # the workspace
            types.append(numba.types.Array(numba.uint8, 1, "C"))
        entries[spec.name] = getattr(module, spec.name).compile(tuple(types))
    return entries


def _numba_type(node: Node) -> numba.types.Type:
    if node.shape == ():
        return numba.typeof(node.dtype.type(0))
    return numba.typeof(np.empty((0,) * len(node.shape), dtype=node.dtype))


class Compiled:
    """``gc.compile(inputs, outputs)`` with the Numba backend. ``f.source`` is the kernel
    (its memory plan listed in comments at its top); ``f.memory`` what its calls take
    (graphc.runtime.workspace)."""

    backend = "numba"
    # f(...) goes straight to the generated caller: a property made of C callables adds
    # no Python frame, where a __call__ method forwarding to it would (~50 ns).
    __call__ = property(attrgetter("_call"))

    def __init__(self, inputs: Sequence[Node], outputs: Sequence[Node] | Node, cache: bool = True,
                 passes: object = "all", allow_input_downcast: bool = False, workspace: bool = True) -> None:
        self.single = isinstance(outputs, Node)
        self.outputs = (outputs,) if self.single else node_list(outputs, "the outputs")
        self.inputs = node_list(inputs, "the inputs")
        check_closed(self.inputs, self.outputs, order(self.outputs))
        self.signature = Signature(self.inputs, self.outputs, allow_downcast=allow_input_downcast)
        chosen = select(passes)
        clock = perf_counter()
        # f.passes: what each pass changed, under the numbering gc.show gives the declared graph
        self.passes = PassLog(chosen, Numbering(self.outputs))
        self.optimized = optimize(self.outputs, passes=chosen, log=self.passes)
        passes_done = perf_counter()
        spec = KernelSpec("kernel", list(self.inputs), self.optimized, fuse="fusion" in chosen,
                          workspace=workspace, packed=wants_packing(self.inputs, self.optimized))
        if spec.packed:  # the caller passes every named dim (its arrays go by address)
            spec.dim_params = [d for d in self.signature.dim_names if d not in self.signature.fixed]
        self.specs = [spec]
        self.source = generate([spec], self.passes.numbering.restrict(order(self.optimized)))
        codegen = perf_counter()
        module, entries = load_kernels(self.source, [spec], cache)
        # where compile time goes: a cache hit shows as a short "load"
        self.stage_seconds = {"passes": passes_done - clock, "codegen": codegen - passes_done,
                              "load": perf_counter() - codegen}
        self.module = module  # shared with other functions of the same source while one lives
        self.kernel = module.kernel
        constants = [c.attrs["value"] for c in spec.constants]
        make = make_packed_caller if spec.packed else make_caller
        self._call: Callable = make(self.signature, entries["kernel"], constants, self.optimized, self.single,
                                    workspace=spec.memory is not None)
        env = self._call.__globals__  # the caller's: its workspaces are env["_spaces"] (if it has any)
        self.memory = Memory({"kernel": spec.memory}, (), self.signature.fixed,
                             release=lambda: env.__setitem__("_spaces", Workspaces()) if "_spaces" in env else None,
                             current=lambda: env["_spaces"].ws if "_spaces" in env else None)

    def show(self) -> str:
        """The optimized graph the kernel computes, numbered as ``gc.show`` numbers the
        declared one, with its fused loops marked (``gc.show(f)``)."""
        from graphc.inspect import show_compiled

        return show_compiled(self)

    def _repr_html_(self) -> str:
        from graphc.inspect import html

        return html(self)
