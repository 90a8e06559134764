"""Python source for Numba: one jitted function per kernel, one statement per node.

The schedule (graphc.passes.fusion) says which nodes share a loop. Here each step
becomes source text: a fused loop evaluates its members per element as scalars
(``op.scalar`` from the registry gives the expression; graphc.codegen.loops), stores
only what is needed outside the loop and accumulates its reductions; every other node
is lowered by its op (``Op.lower``: contractions to BLAS gemm, see
graphc.ops.contraction; or ``Op.kernel``, a Numba function the kernel calls), through
the machinery of graphc.codegen.writer. Every statement carries a comment naming its
node (numbered as in ``gc.show``) and, for backward nodes, the gate it came from.
This module writes the kernels' functions and the module around them (``generate``).
"""
from __future__ import annotations

import hashlib
import inspect
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import CodeType

from graphc.codegen.memory import ALIGN, MemoryPlan, Slot, view_chain
from graphc.codegen.names import helper_modules, is_plain
from graphc.codegen.split import SplitWriter
from graphc.codegen.writer import ScalarCtx, Value, slot_token
from graphc.ir.graph import order
from graphc.ir.node import Node
from graphc.ir.op import lookup
from graphc.ir.shapes import dim_names
from graphc.passes.fusion import Loop, schedule

# bytes: a kernel whose intermediates all have fixed sizes adding up to less allocates them
# per call (small np.empty calls cost less than passing a workspace in and out, ~0.25 µs)
SMALL = 64 * 1024
# array arguments and results: a kernel with more takes them packed (see KernelWriter.pack)
PACK_ABOVE = 64


def wants_packing(params: Sequence[Node], outputs: Sequence[Node]) -> bool:
    """Whether a kernel of these parameters and outputs takes its arrays packed: Numba
    unboxes each array argument, counts references to it and LLVM keeps each in the
    kernel's frame, so a kernel of thousands of array parameters took minutes to compile."""
    return sum(n.shape != () for n in (*params, *outputs)) > PACK_ABOVE


@dataclass
class KernelSpec:
    """One kernel: its parameters (given values) and the outputs it returns."""

    name: str
    params: list[Node]
    outputs: list[Node]
    dim_params: list[str] = field(default_factory=list)  # named dims passed as ints (no param has them)
    constants: list[Node] = field(default_factory=list)  # array constants, appended to params
    fuse: bool = True  # the fusion pass: elementwise chains share loops
    workspace: bool = True  # intermediates from a workspace by a memory plan (graphc.codegen.memory)
    memory: MemoryPlan | None = None  # the plan, once written, if any buffer is planned: the kernel then
    # takes the workspace as its last parameter and returns it (grown if it was too small) last
    packed: bool = False  # arrays packed (KernelWriter.pack): dim_params must then name every named dim


class KernelWriter(SplitWriter):
    """Writes the body of one kernel."""

    def write(self) -> list[str]:
        spec = self.spec
        params = [*spec.params, *spec.constants]
        for n in order(spec.outputs):  # no local variable may hide an op's Numba function
            if lookup(n.op).kernel is not None:
                self.namer.used.add(self.kernel_name(n.op))
        for p in params:
            self.values[p] = Value(self.namer.fresh(self.base(p)), p.shape == ())
        for d in spec.dim_params:
            self.dims[d] = self.namer.fresh(d)
        for o in spec.outputs:  # dims the graph bound at declaration are constants
            for d, size in o.bindings:
                self.dims.setdefault(d, str(size))
        # parameters: the given values, the named dims no array carries, the array constants
        names = [self.values[p].expr for p in spec.params] + [self.dims[d] for d in spec.dim_params]
        names += [self.values[c].expr for c in spec.constants]
        if spec.packed:
            names = self.pack(names)
        for p in params:
            if p.name is not None and not is_plain(p.name):
                self.emit(f"# {self.values[p].expr}: {self.comment(p)}")
            for axis, d in enumerate(p.shape):
                if isinstance(d, str) and d not in self.dims:
                    self.dims[d] = self.namer.fresh(d)
                    self.emit(f"{self.dims[d]} = {self.values[p].expr}.shape[{axis}]")
        for p in params:  # a name only a product carries: N = x.shape[0] // 4 (the call checked it)
            for axis, d in enumerate(p.shape):
                unknown = [n for n in dim_names(d) if n not in self.dims]
                if len(unknown) == 1:
                    rest = " * ".join([*(self.dims[n] for n in dim_names(d) if n in self.dims), str(d.factor)])
                    self.dims[unknown[0]] = self.namer.fresh(unknown[0])
                    self.emit(f"{self.dims[unknown[0]]} = {self.values[p].expr}.shape[{axis}] // ({rest})")
        for d in self.dims:
            if not is_plain(d):
                self.emit(f"# {self.dims[d]}: the named dim {d!r}")
        for o in spec.outputs:  # what a result may be: never a buffer of the workspace
            self.escaping.update(view_chain(o))
        plan_at = len(self.lines)
        self.deferred_at = plan_at
        last: dict[Node, int] = {}  # the last step reading each node (or a view of it)
        for t, step in enumerate(schedule(spec.outputs, params, spec.fuse)):
            self.at = t
            self.holder = None if isinstance(step, Loop) else step.node
            for read in (step.loads() if isinstance(step, Loop) else step.node.inputs):
                for n in view_chain(read):
                    last[n] = t
            if isinstance(step, Loop):
                if not self.split_loop(step):  # a long loop is split into helpers (graphc.codegen.split)
                    self.loop(step)
            else:
                self.step(step.node)
        if spec.packed:
            results = self.unpack_results()
        else:
            results = [self.value(o).expr for o in spec.outputs]
        if self.plan is not None and self.plan.buffers:
            self.lines[plan_at:plan_at] = self.plan_lines(last)
        if spec.packed:
            self.lines[self.deferred_at:self.deferred_at] = self.deferred_lines()
        if self.ws:
            names.append(self.ws)
            results.append(self.ws)
        self.emit(f"return ({', '.join(results)},)" if results else "return ()")
        helpers = [line for h in [*self.helpers, self.row_table_lines()] if h for line in (*h, "", "")]
        return helpers + self.function([f"def {spec.name}({', '.join(names)}):"], self.lines)

    # -- a packed kernel ------------------------------------------------------------
    def pack(self, names: list[str]) -> list[str]:
        """A kernel of many arrays (``wants_packing``) takes, instead of its array
        arguments, one int64 array of addresses: the arguments' data, then the result
        arrays' (the caller allocates them, from the named dims it passes: every named dim
        is a parameter). It returns its 0-d results alone. An array is read as a view of
        its address (``address_view``, no reference counting: the caller keeps the arrays
        alive), written only where the kernel reads it, and a split loop's parts read and
        write the arrays in place through the address table (graphc.codegen.split).
        Returns the kernel's parameters."""
        spec = self.spec
        self.addresses = self.namer.fresh("addresses")
        self.imports.add("address_view")
        self.deferred: dict[str, str] = {}  # a view of a caller's array: its statement, written if read
        self.packed = [n for n in (*spec.params, *spec.outputs) if n.shape != ()]
        arrays = [p for p in spec.params if p.shape != ()]
        for j, p in enumerate(arrays):
            self.arguments[p] = j
            self.deferred[self.values[p].expr] = f"{self.values[p].expr} = {self.caller_view(p, j)}"
        self.outs = [(o, len(arrays) + k) for k, o in enumerate(o for o in spec.outputs if o.shape != ())]
        for o, entry in self.outs:
            self.results.setdefault(o, entry)
        kept = set(arrays)
        return [self.addresses, *(name for name, p in zip(names, spec.params) if p not in kept),
                *names[len(spec.params):]]

    def caller_view(self, node: Node, entry: int) -> str:
        """A view of the caller's array at ``entry`` of the addresses, with ``node``'s shape."""
        view = f"address_view({self.addresses}[{entry}], {self.size_expr(node.shape)}, {self.np_dtype(node)})"
        return view if node.ndim == 1 else self.shaped(view, node.shape)

    def result_value(self, node: Node) -> Value:
        name = self.namer.fresh(f"{self.base(node)}_result")
        self.deferred[name] = f"{name} = {self.caller_view(node, self.results[node])}  # %{self.ids[node]}, a result"
        return Value(name, False)

    def unpack_results(self) -> list[str]:
        """Each array result not written in place copied into the caller's array (by a
        loop: any layout); the 0-d results, which the kernel returns."""
        for o, entry in self.outs:
            if o in self.written and self.results[o] == entry:
                continue  # a split loop wrote it in place
            v = self.value(o)
            target = self.namer.fresh(f"{self.base(o)}_out")
            self.emit(f"{target} = {self.caller_view(o, entry)}  # %{self.ids[o]} into the caller's array "
                      f"(result {entry - len(self.arguments)})")
            index = self.nested_loops(o.shape)
            self.emit(f"{target}[{', '.join(index)}] = {v.expr}[{', '.join(index)}]", 1 + o.ndim)
        return [self.value(o).expr for o in self.spec.outputs if o.shape == ()]

    def deferred_lines(self) -> list[str]:
        """The views of the caller's arrays that the kernel reads (see ``pack``)."""
        used = {word for line in self.lines for word in re.findall(r"\w+", line.split("#")[0])}
        return [f"    {line}" for name, line in self.deferred.items() if name in used]

    def plan_lines(self, last: dict[Node, int]) -> list[str]:
        """Make the memory plan (its buffers' lifetimes end at their holders' last reads)
        and write it: the listing as comments, each slot's offset, and the workspace
        grown when this call needs more than it holds. The buffers' lines get their
        slots' offsets."""
        plan = self.plan
        assert plan is not None
        if all(not b.bytes[1] for b in plan.buffers) and sum(b.bytes[0] for b in plan.buffers) < SMALL:
            for k, (size, dtype) in enumerate(self.planned):  # np.empty costs less than passing a workspace
                self.lines = [line.replace(slot_token(k), f"np.empty({size}, dtype={dtype})") for line in self.lines]
            self.plan = None
            return []
        for b in plan.buffers:
            holder = self.buffer_of[b]
            b.last = max(b.first, last.get(holder, b.first)) if holder is not None else b.first
        plan.assign()
        self.spec.memory = plan
        self.ws = self.namer.fresh("ws")
        self.imports.add("workspace_view")
        offsets = [self.namer.fresh(f"{self.ws}_{k}") for k in range(len(plan.slots))]
        for k, b in enumerate(plan.buffers):
            at = f"{offsets[b.slot]} + {b.offset}" if b.offset else offsets[b.slot]
            size, dtype = self.planned[k]
            token, shape = slot_token(k), self.planned_shapes.get(k)
            view = f"workspace_view({self.ws}, {at}, {size}, {dtype})"
            # viewed with its shape at once: one intrinsic, one array, where a flat view
            # and its shaped view cost Numba two of each (and their reference counts)
            shaped = [] if shape is None else [(f"shaped_view({token}, {shape})",
                                                f"workspace_view({self.ws}, {at}, {shape}, {dtype})")]
            for old, new in [*shaped, (token, view)]:
                self.lines = [line.replace(old, new) for line in self.lines]
        lines = [f"# {line}" for line in plan.listing()]
        at = "0"
        for k, slot in enumerate(plan.slots):
            lines.append(f"{offsets[k]} = {at}  # slot {k}")
            size = self.slot_size(slot)
            at = f"{offsets[k]} + {size}"
        need = self.namer.fresh(f"{self.ws}_size")
        lines.append(f"{need} = {at} + {ALIGN - 1}  # and room to start on a {ALIGN}-byte boundary")
        lines.append(f"if {self.ws}.shape[0] < {need}:  # too small for these sizes: grown, and kept by the caller")
        lines.append(f"    {self.ws} = np.empty({need}, dtype=np.uint8)")
        return ["    " + line for line in lines]

    def slot_size(self, slot: Slot) -> str:
        """A slot's bytes in the kernel: its size rounded up to a multiple of ALIGN."""
        if not slot.names:
            return str(-(-slot.coef // ALIGN) * ALIGN)
        product = " * ".join([*(self.dims[n] for n in slot.names), str(slot.coef)])
        return f"({product})" if slot.coef % ALIGN == 0 else f"(({product} + {ALIGN - 1}) // {ALIGN} * {ALIGN})"


    # -- steps outside loops --------------------------------------------------------
    def step(self, node: Node) -> None:
        op = lookup(node.op)
        name = self.namer.fresh(self.base(node))
        args = [self.value(i) for i in node.inputs]
        a = [v.expr for v in args]
        note = f"  # {self.comment(node)}"
        layout = "C"
        if op.lower is not None:  # the op's own lowering, registered beside its definition
            layout = op.lower(self, node, name, args, note) or "C"
        elif op.kind == "elementwise":  # a 0-d node: plain scalar arithmetic
            expr = op.scalar(a, ScalarCtx(node.dtype, self.imports), node.attrs)
            self.emit(f"{name} = {self.cast(node, expr)}{note}")
        elif op.kernel is not None:  # a Numba function of the op's own (gc.define_op)
            self.call_kernel(node, name, args, note)
        else:
            raise NotImplementedError(f"no code generation for {node.op}")
        self.values[node] = Value(name, node.shape == (), layout)

    def call_kernel(self, node: Node, name: str, args: list[Value], note: str) -> None:
        """``out`` allocated here, filled by the op's Numba function: kernel(*inputs, out, **attrs)."""
        function = self.kernel_name(node.op)
        self.externals[function] = node.op
        inputs = [v.expr if v.scalar else self.contiguous(v, u) for v, u in zip(args, node.inputs)]
        out = name if node.shape != () else self.namer.fresh(f"{name}_out")
        self.emit(f"{out} = {self.alloc(node.shape or (1,), node)}{note}")
        attrs = [f"{k}={v!r}" for k, v in node.attrs.items()]
        fills = f"%{self.ids[node]}" + (f" as {out}[0]" if node.shape == () else "")
        self.emit(f"{function}({', '.join([*inputs, out, *attrs])})  # the op's Numba function fills {fills}")
        if node.shape == ():
            self.emit(f"{name} = {out}[0]")

    @staticmethod
    def kernel_name(op: str) -> str:
        """The module-level name of an op's Numba function in generated source."""
        return f"{op}_kernel"


def fingerprint(fn: object) -> str:
    """A digest of a Python (or @numba.njit) function's source and code object."""
    py = getattr(fn, "py_func", fn)
    try:
        text = inspect.getsource(py)  # type: ignore[arg-type]
    except (OSError, TypeError):
        text = ""
    digest = hashlib.sha256(text.encode())
    _digest_code(digest, py.__code__)  # type: ignore[union-attr]
    for cell in getattr(py, "__closure__", None) or ():
        digest.update(repr(cell.cell_contents).encode())
    return digest.hexdigest()[:16]


def _digest_code(digest: hashlib._Hash, code: CodeType) -> None:
    digest.update(code.co_code)
    digest.update(repr(code.co_names).encode())
    for const in code.co_consts:  # nested functions by content, not by address
        if isinstance(const, CodeType):
            _digest_code(digest, const)
        else:
            digest.update(repr(const).encode())


def generate(kernels: Sequence[KernelSpec], ids: dict[Node, int] | None = None) -> str:
    """The source of a module holding ``kernels``; array constants become parameters.
    Comments number nodes by ``ids`` (graphc.ir.numbering; default: in topological order)."""
    everything = [o for k in kernels for o in k.outputs]
    if ids is None:
        ids = {n: i for i, n in enumerate(order(everything))}
    imports: set[str] = set()
    externals: dict[str, str] = {}
    bodies = []
    for spec in kernels:
        params = set(spec.params)  # a set: `in` a list would compare nodes with ==, which builds a node
        spec.constants = [n for n in order(spec.outputs) if n.op == "const" and n.shape != () and n not in params]
        writer = KernelWriter(spec, ids, imports)
        bodies.append("\n".join(writer.write()))
        externals.update(writer.externals)
    head = ['"""Generated by graphc: do not edit (the file name is a hash of this text)."""', "",
            "import math  # noqa: F401", "", "import numba", "import numpy as np"]
    if not re.search(r"\bshaped_view\(", "\n".join(bodies)):  # the plans may have replaced every one
        imports.discard("shaped_view")
    home = {i: next(m for m in helper_modules() if hasattr(m, i)) for i in imports}
    for module in helper_modules():
        names = sorted(i for i in imports if home[i] is module)
        if names:
            head.append(f"from {module.__name__} import {', '.join(names)}")
    if "start_launcher" in imports:  # before any kernel links to it (graphc.codegen.parallel)
        head.append("start_launcher()  # the chunk launcher that run_chunks calls: compiled once, cached by Numba")
    if externals:  # the fingerprint puts the function's code in the file's name (its cache key)
        head.append("from graphc.ir.op import lookup")
        for function, op in sorted(externals.items()):
            kernel = lookup(op).kernel
            head.append(f"{function} = lookup({op!r}).kernel  # {getattr(kernel, '__name__', op)}, "
                        f"code {fingerprint(kernel)}")
    return "\n".join(head) + "\n\n\n" + "\n\n\n".join(bodies) + "\n"
