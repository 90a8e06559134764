"""Python source for Numba: one jitted function per kernel, one statement per node.

The schedule (graphc.passes.fusion) says which nodes share a loop. Here each step
becomes source text: a fused loop evaluates its members per element as scalars
(``op.scalar`` from the registry gives the expression), stores only what is needed
outside the loop and accumulates its reductions; other ops lower themselves
(``Op.lower``: contractions to BLAS gemm, see graphc.ops.contraction);
transpose and reshape are views where the layout allows. Every statement carries a
comment naming its node (numbered as in ``gc.show``) and, for backward nodes, the gate
it came from.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from graphc.codegen.names import Namer, is_plain
from graphc.ir.graph import order
from graphc.ir.node import Node
from graphc.ir.numbering import of_text
from graphc.ir.op import lookup
from graphc.ir.shapes import Dim, Prod, Shape, dim_names
from graphc.passes.fusion import Loop, schedule

VECMATH = ("exp", "log", "tanh", "sigmoid")  # graphc.codegen.vecmath: vectorizable, accurate
SUFFIX = {"float64": "f64", "float32": "f32"}
TERMS_BLOCK = 1024  # a full sum summed apart stores this many terms at a time (see KernelWriter.loop)
JIT = '@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={{"reassoc", "contract"}}{parallel})'


def literal(value: object, dtype: np.dtype) -> str:
    """A literal of ``dtype`` in generated source (a float32 literal must stay float32)."""
    if dtype.kind == "i":
        return str(int(value))  # type: ignore[call-overload]
    v = float(value)  # type: ignore[arg-type]
    text = "np.nan" if math.isnan(v) else ("np.inf" if v == math.inf else "-np.inf" if v == -math.inf else repr(v))
    return f"np.float32({text})" if dtype == np.float32 else text


class ScalarCtx:
    """What an op's scalar template may ask of the code generator."""

    def __init__(self, dtype: np.dtype, imports: set[str]) -> None:
        self.dtype, self.imports = dtype, imports

    def lit(self, value: float) -> str:
        return literal(value, self.dtype)

    def fn(self, name: str) -> str:
        """A math function of this dtype: vectorizable ones from vecmath, else math.*."""
        if name in VECMATH:
            fname = f"{name}_{SUFFIX[self.dtype.name]}"
            self.imports.add(fname)
            return fname
        return f"math.{name}"


@dataclass
class KernelSpec:
    """One kernel: its parameters (given values) and the outputs it returns."""

    name: str
    params: list[Node]
    outputs: list[Node]
    dim_params: list[str] = field(default_factory=list)  # named dims passed as ints (no param has them)
    constants: list[Node] = field(default_factory=list)  # array constants, appended to params
    fuse: bool = True  # the fusion pass: elementwise chains share loops


@dataclass
class Value:
    expr: str  # a variable name or a literal
    scalar: bool  # a 0-d value is a scalar in the kernel
    layout: str = "C"  # of arrays: "C", "F" or "A"


class KernelWriter:
    """Writes the body of one kernel."""

    def __init__(self, spec: KernelSpec, ids: dict[Node, int], imports: set[str]) -> None:
        self.spec, self.ids, self.imports = spec, ids, imports
        self.namer = Namer()
        self.values: dict[Node, Value] = {}
        self.dims: dict[str, str] = {}
        self.lines: list[str] = []
        self.flat_names: dict[str, str] = {}
        self.helpers: list[list[str]] = []  # functions the kernel calls (chunks of long loops)
        self.parallel = False  # a loop is split across threads: the kernel needs parallel=True
        self.terms: dict[Node, str] = {}  # full sums of the current loop summed apart (see loop)

    # -- naming -------------------------------------------------------------------
    def base(self, node: Node) -> str:
        return node.name if node.name is not None else f"{node.op}{self.ids[node]}"

    def comment(self, node: Node) -> str:
        args = " ".join(f"%{self.ids[i]}" for i in node.inputs)
        text = f"%{self.ids[node]} = {node.op}" + (f" {args}" if args else "")
        if node.role == "backward":
            text += f"  ({node.pattern}, grad of {of_text(node, self.ids)})"
        if node.name is not None and not is_plain(node.name):  # its variable's name is an ASCII stand-in
            text += f"  [{node.name!r}]"
        return text

    def emit(self, line: str, depth: int = 1) -> None:
        self.lines.append("    " * depth + line)

    def dim(self, d: Dim) -> str:
        """A dim as an expression: a literal, a named dim's variable, or their product."""
        if isinstance(d, Prod):
            return "(" + " * ".join([*(self.dims[n] for n in d.names), str(d.factor)]) + ")"
        return str(d) if isinstance(d, int) else self.dims[d]

    def shape_expr(self, shape: Shape) -> str:
        inner = ", ".join(self.dim(d) for d in shape)
        return f"({inner},)" if len(shape) == 1 else f"({inner})"

    def np_dtype(self, node: Node) -> str:
        return f"np.{node.dtype.name}"

    def size_expr(self, shape: Shape) -> str:
        return " * ".join(self.dim(d) for d in shape) or "1"

    def alloc(self, shape: Shape, node: Node) -> str:
        """An uninitialized array. Always np.empty of a flat size (viewed with its shape):
        Numba compiles np.empty's implementation once per argument type, and every tuple
        rank is another."""
        flat = f"np.empty({self.size_expr(shape)}, dtype={self.np_dtype(node)})"
        return flat if len(shape) == 1 else self.shaped(flat, shape)

    def nested_loops(self, shape: Shape) -> list[str]:
        """``for i0 in range(d0): for i1 in ...`` over ``shape`` (the body goes at depth
        1 + len(shape)); returns the index names."""
        index = [f"i{k}" for k in range(len(shape))]
        for k, d in enumerate(shape):
            self.emit(f"for {index[k]} in range({self.dim(d)}):", 1 + k)
        return index

    def flat_name(self, array: str) -> str:
        """The name of ``array``'s flat view (one per array, from the namer)."""
        if array not in self.flat_names:
            self.flat_names[array] = self.namer.fresh(f"{array}_flat")
        return self.flat_names[array]

    def flat(self, array: str) -> str:
        """A C-contiguous array as a flat vector (a view)."""
        self.imports.add("flat_view")
        return f"flat_view({array})"

    def shaped(self, array: str, shape: Shape) -> str:
        """A C-contiguous array viewed with ``shape`` (same size)."""
        self.imports.add("shaped_view")
        return f"shaped_view({array}, {self.shape_expr(shape)})"

    def filled(self, name: str, shape: Shape, node: Node, value: str) -> list[str]:
        """Statements making ``name`` an array of ``shape`` filled with ``value`` (a loop:
        np.full and np.zeros would each compile an implementation of their own)."""
        flat = name if len(shape) == 1 else self.namer.fresh(f"{name}_flat")
        lines = [f"{flat} = np.empty({self.size_expr(shape)}, dtype={self.np_dtype(node)})",
                 f"for i in range({self.size_expr(shape)}):", f"    {flat}[i] = {value}"]
        if flat != name:
            lines.append(f"{name} = {self.shaped(flat, shape)}")
        return lines

    # -- the kernel ---------------------------------------------------------------
    def write(self) -> list[str]:
        spec = self.spec
        params = [*spec.params, *spec.constants]
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
        for step in schedule(spec.outputs, params, spec.fuse):
            if isinstance(step, Loop):
                self.loop(step)
            else:
                self.step(step.node)
        results = ", ".join(self.value(o).expr for o in spec.outputs)
        self.emit(f"return ({results},)")
        header = [JIT.format(parallel=", parallel=True" if self.parallel else ""),
                  f"def {spec.name}({', '.join(names)}):"]
        helpers = [line for h in self.helpers for line in (*h, "", "")]
        return helpers + header + self.lines

    def value(self, node: Node) -> Value:
        if node not in self.values and node.op == "const":
            # scalar constants are literals; array constants are parameters
            self.values[node] = Value(literal(node.attrs["value"].reshape(-1)[0], node.dtype), True)
        return self.values[node]

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
        elif node.op == "transpose":
            axes = node.attrs["axes"]
            if len(axes) == 2:
                self.emit(f"{name} = {a[0]}.T{note}")
            else:
                self.imports.add("permuted_view")
                self.emit(f"{name} = permuted_view({a[0]}, {axes}){note}")
            layout = "F" if len(axes) == 2 and args[0].layout == "C" else "A"
        elif node.op == "reshape":
            self.reshape(node, name, args[0], note)
        elif node.op == "one_hot":
            self.one_hot(node, name, args[0], note)
        else:
            raise NotImplementedError(f"no code generation for {node.op}")
        self.values[node] = Value(name, node.shape == (), layout)

    def cast(self, node: Node, expr: str) -> str:
        # Numba may widen float32 arithmetic (pow, math.*) to float64: pin the dtype
        if node.dtype == np.float32 and node.op in ("pow", "elu", "sqrt", "cast"):
            return expr if node.op == "cast" else f"np.float32({expr})"
        return expr

    def contiguous(self, v: Value, node: Node) -> str:
        """``v`` (the value of ``node``) as a C-contiguous array: itself, or a copy made by
        a loop (Numba's np.ascontiguousarray compiles its shape-mismatch error message,
        string formatting and all: 6 s of W5's cold compile)."""
        if v.layout == "C":
            return v.expr
        copy = self.namer.fresh(f"{v.expr}_c")
        self.emit(f"{copy} = {self.alloc(node.shape, node)}")
        index = self.nested_loops(node.shape)
        self.emit(f"{copy}[{', '.join(index)}] = {v.expr}[{', '.join(index)}]", 1 + node.ndim)
        return copy

    def reshape(self, node: Node, name: str, src: Value, note: str) -> None:
        if src.scalar:
            for k, line in enumerate(self.filled(name, node.shape, node, src.expr)):
                self.emit(line + (note if k == 0 else ""))
        elif node.shape == ():
            self.emit(f"{name} = {self.flat(self.contiguous(src, node.inputs[0]))}[0]{note}")
        else:
            self.emit(f"{name} = {self.shaped(self.contiguous(src, node.inputs[0]), node.shape)}{note}")

    def one_hot(self, node: Node, name: str, labels: Value, note: str) -> None:
        classes = node.attrs["classes"]
        one = literal(1, node.dtype)
        for k, line in enumerate(self.filled(name, node.shape, node, literal(0, node.dtype))):
            self.emit(line + (note if k == 0 else ""))
        if labels.scalar:
            self.emit(f"if 0 <= {labels.expr} < {classes}:")
            self.emit(f"{name}[{labels.expr}] = {one}", 2)
            return
        flat_labels = self.flat(self.contiguous(labels, node.inputs[0]))
        rows, label = self.namer.fresh(f"{name}_rows"), self.namer.fresh("label")
        self.imports.add("shaped_view")
        self.emit(f"{rows} = shaped_view({name}, ({self.size_expr(node.inputs[0].shape)}, {classes}))")
        self.emit(f"for i, {label} in enumerate({flat_labels}):")
        self.emit(f"if 0 <= {label} < {classes}:", 2)
        self.emit(f"{rows}[i, {label}] = {one}", 3)

    # -- fused loops ------------------------------------------------------------------
    def loop(self, loop: Loop) -> None:
        shape = loop.shape
        loads = loop.loads()
        reductions = loop.reductions
        full = all(len(r.attrs["axes"]) == len(shape) for r in reductions)
        flat = len(shape) > 1 and full and all(
            self.value(u).scalar or ((u.shape == shape or _single(u.shape)) and self.value(u).layout == "C")
            for u in loads)
        members = ", ".join(f"%{self.ids[m]}" for m in loop.members)
        self.emit(f"# fused loop over {self.shape_expr(shape)}: {members}")
        # A full sum in a loop that also stores: LLVM vectorizes such a loop behind a
        # runtime check that its stores do not overlap its loads, with a serial copy for
        # when they might; the two copies add in different orders, and which one runs
        # depends on where the heap put the arrays: the sum's last bits changed from call
        # to call. So the loop stores the sum's terms, and a loop of loads alone (one
        # order for a given size) adds them up. A flat or 1-D loop does it in blocks of
        # TERMS_BLOCK elements in a chunk helper (a small buffer: no fresh pages per call);
        # a nested one stores all its terms. A long loop (see long_loop) needs none of it:
        # the check can only fail for arrays closer together than a few vectors, and its
        # arrays are each hundreds of kilobytes long.
        long = (flat or len(shape) == 1) and self.long_loop(loop)
        apart = [r for r in reductions if r.op == "sum" and len(r.attrs["axes"]) == len(shape) and any(
            lookup(m.op).kind != "reduce" for m in loop.stores)] if not long else []
        self.terms = {r: self.namer.fresh(f"{self.base(r)}_terms") for r in apart}
        chunked = long or ((flat or len(shape) == 1) and bool(apart))
        index = self.loop_header(shape, flat, loads, chunked)
        stored: dict[Node, str] = {}
        for r in reductions:
            self.init_reduction(r, stored)
        for m in loop.stores:
            if m not in stored:
                stored[m] = self.namer.fresh(self.base(m))
                target = self.flat_name(stored[m]) if flat else stored[m]
                allocation = f"np.empty(n, dtype={self.np_dtype(m)})" if flat else self.alloc(shape, m)
                self.prologue([f"{target} = {allocation}"])
        if chunked:
            self.chunked_loop(loop, stored, flat, index[0], long)
        else:
            size = self.size_expr(shape)
            self.prologue([f"{t} = np.empty({size}, dtype={self.np_dtype(r)})" for r, t in self.terms.items()])
            accumulators = {r: stored[r] for r in reductions}
            self.loop_body(loop, stored, accumulators, index, flat, 1 + (1 if flat else len(shape)))
            self.sum_terms(accumulators, size, 1)
        for m in loop.stores:
            self.finish(m, stored[m], flat)

    def loop_body(self, loop: Loop, stored: dict[Node, str], accumulators: dict[Node, str], index: list[str],
                  flat: bool, depth: int) -> None:
        """One element of a fused loop: load, compute, store, accumulate."""
        shape = loop.shape
        elements: dict[Node, str] = {}
        for u in loop.loads():
            v = self.value(u)
            if v.scalar:
                elements[u] = v.expr
            else:
                elements[u] = self.namer.fresh(f"{self.base(u)}_e")
                src = self.flat_name(v.expr) if flat else v.expr
                self.emit(f"{elements[u]} = {src}[{self.load_index(u.shape, shape, index, flat)}]", depth)
        for m in loop.members:
            op = lookup(m.op)
            a = [elements[i] for i in m.inputs]
            if op.kind == "reduce":
                self.accumulate(m, a[0], accumulators[m], shape, index, flat, depth)
                continue
            elements[m] = self.namer.fresh(f"{self.base(m)}_e" if m in stored else self.base(m))
            expr = self.cast(m, op.scalar(a, ScalarCtx(m.dtype, self.imports), m.attrs))
            self.emit(f"{elements[m]} = {expr}  # {self.comment(m)}", depth)
            if m in stored:
                target = self.flat_name(stored[m]) if flat else stored[m]
                self.emit(f"{target}[{', '.join(index)}] = {elements[m]}", depth)

    # -- long loops on several threads (graphc.codegen.parallel) -----------------------
    def long_loop(self, loop: Loop) -> bool:
        """Whether a loop is split across threads: when its size is fixed and its work
        (elements x per-element cost) long enough to repay Numba's parfor pipeline,
        which costs ~1.5 s more compile time per kernel (measured on W2). A loop over
        a named dim stays serial: the cost would land on every graph with a batch
        dim, however short its calls."""
        from graphc.codegen import parallel

        if not all(isinstance(d, int) for d in loop.shape):
            return False
        size = math.prod(loop.shape)  # type: ignore[arg-type]
        cost = sum(parallel.TRANSCENDENTAL_COST if m.op in VECMATH else 1 for m in loop.members)
        return size >= parallel.MIN_ELEMENTS and size * cost >= parallel.MIN_WORK

    def chunked_loop(self, loop: Loop, stored: dict[Node, str], flat: bool, i: str, long: bool) -> None:
        """The loop body becomes a helper function over a range [lo, hi) that returns its
        partial reductions. For a long loop the kernel calls it once per chunk under
        numba.prange, one chunk per thread, and combines the partials in chunk order, so
        results do not depend on which thread ran which chunk. The chunks depend on the
        loop's size only: without threads (graphc.codegen.parallel.available) the same
        chunks run in a plain loop, so the bits are the same. Another loop (one whose
        full sums are summed apart in blocks, see loop) is one call over [0, n)."""
        from graphc.codegen import parallel

        if long:
            self.parallel = parallel.available()
        helper = self.namer.fresh(f"{self.spec.name}_chunk")
        count, c, lo, hi = (self.namer.fresh(w) for w in ("chunks", "c", "lo", "hi"))
        local = {r: self.namer.fresh(f"{stored[r]}_chunk") for r in loop.reductions}
        # its parameters: the scalars it reads, the arrays it reads whole (broadcast ones,
        # read at index 0) and the arrays it walks (read or written at the loop index)
        loads = [(u, self.value(u)) for u in loop.loads()]
        scalars = [v.expr for u, v in loads if v.scalar and v.expr.isidentifier()]
        broadcast = [self.flat_name(v.expr) if flat else v.expr
                     for u, v in loads if not v.scalar and u.shape != loop.shape]
        walked = [self.flat_name(v.expr) if flat else v.expr
                  for u, v in loads if not v.scalar and u.shape == loop.shape]
        walked += [self.flat_name(stored[m]) if flat else stored[m]
                   for m in loop.stores if lookup(m.op).kind != "reduce"]
        params = list(dict.fromkeys([*scalars, *broadcast, *walked]))
        whole = {a: self.namer.fresh(f"{a}_whole") for a in dict.fromkeys(walked)}
        # the body, written into the helper's lines
        kernel_lines, self.lines = self.lines, []
        # the chunk's (or block's) own views, indexed from 0: Numba then knows no index is
        # negative (x[i] for i in range(lo, hi) checks i < 0 on every element, and
        # vectorizes worse)
        for r in loop.reductions:
            self.emit(f"{local[r]} = {self.identity(r)}")
        for r, t in self.terms.items():
            self.emit(f"{t} = np.empty({TERMS_BLOCK}, dtype={self.np_dtype(r)})")
        start, stop, length, depth = lo, hi, f"{hi} - {lo}", 1
        if self.terms:
            block, length = self.namer.fresh("block"), self.namer.fresh("length")
            self.emit(f"for {block} in range({lo}, {hi}, {TERMS_BLOCK}):")
            self.emit(f"{length} = min({TERMS_BLOCK}, {hi} - {block})", 2)
            start, stop, depth = block, f"{block} + {length}", 2
        for a, w in whole.items():
            self.emit(f"{a} = {w}[{start}:{stop}]", depth)
        self.emit(f"for {i} in range({length}):", depth)
        self.loop_body(loop, stored, local, [i], flat, depth + 1)
        if self.terms:
            self.sum_terms(local, length, depth)
        self.emit(f"return ({''.join(f'{local[r]}, ' for r in loop.reductions)})")
        body, self.lines = self.lines, kernel_lines
        members = ", ".join(f"%{self.ids[m]}" for m in loop.members)
        signature = [whole.get(p, p) for p in params]
        self.helpers.append([f"{JIT.format(parallel='')}",
                             f"def {helper}({', '.join([*signature, lo, hi])}):",
                             f"    # elements [{lo}, {hi}) of the fused loop {members} of {self.spec.name}", *body])
        call = f"{helper}({', '.join(params)}, "
        results = [self.namer.fresh(f"{stored[r]}_part") for r in loop.reductions]
        unpack = f"{', '.join(results)}, = " if results else ""
        if not long:  # one call
            self.emit(f"{unpack}{call}0, n)")
            for r, part in zip(loop.reductions, results):
                self.accumulate(r, part, stored[r], loop.shape, ["0"], flat, 1)
            return
        size = math.prod(loop.shape)  # type: ignore[arg-type]
        self.emit(f"{count} = {parallel.chunks(size)}  # fixed by the size, not by the thread count")
        parts = {r: self.namer.fresh(f"{stored[r]}_parts") for r in loop.reductions}
        for r in loop.reductions:
            self.emit(f"{parts[r]} = np.empty({count}, dtype={self.np_dtype(r)})")
        self.emit(f"for {c} in {'numba.prange' if self.parallel else 'range'}({count}):")
        self.emit(f"{unpack}{call}{c} * n // {count}, ({c} + 1) * n // {count})", 2)
        for r, part in zip(loop.reductions, results):
            self.emit(f"{parts[r]}[{c}] = {part}", 2)
        for r in loop.reductions:
            self.emit(f"for {c} in range({count}):")
            self.accumulate(r, f"{parts[r]}[{c}]", stored[r], loop.shape, [c], flat, 2)

    def sum_terms(self, accumulators: dict[Node, str], size: str, depth: int) -> None:
        """Add up the ``size`` terms that full sums stored apart (see loop), in order."""
        for r, terms in self.terms.items():
            j = self.namer.fresh("j")
            self.emit(f"for {j} in range({size}):", depth)
            self.emit(f"{accumulators[r]} += {terms}[{j}]  # {self.comment(r)}: its terms, in order", depth + 1)
        self.terms = {}

    def loop_header(self, shape: Shape, flat: bool, loads: Sequence[Node], chunked: bool = False) -> list[str]:
        self.alloc_at = len(self.lines)
        if flat or chunked:
            size = " * ".join(self.dim(d) for d in shape)
            self.emit(f"n = {size}")
            self.alloc_at = len(self.lines)
            for u in loads if flat else ():
                v = self.value(u)
                if not v.scalar:
                    self.emit(f"{self.flat_name(v.expr)} = {self.flat(v.expr)}")
            if not chunked:
                self.emit("for i in range(n):")
            return ["i"] if flat else ["i0"]
        return self.nested_loops(shape)

    def load_index(self, ushape: Shape, shape: Shape, index: list[str], flat: bool) -> str:
        if flat:
            return "0" if _single(ushape) and ushape != shape else "i"  # one element broadcasts
        offset = len(shape) - len(ushape)
        return ", ".join("0" if d == 1 and shape[offset + j] != 1 else index[offset + j]
                         for j, d in enumerate(ushape))

    def identity(self, r: Node) -> str:
        return literal(0 if r.op == "sum" else _lowest(r.dtype), r.dtype)

    def init_reduction(self, r: Node, stored: dict[Node, str]) -> None:
        identity = self.identity(r)
        name = self.namer.fresh(self.base(r))
        stored[r] = name
        if len(r.attrs["axes"]) == r.inputs[0].ndim:
            lines = [f"{name} = {identity}"]  # a full reduction accumulates in a scalar
        else:
            lines = self.filled(name, r.shape, r, identity)
        lines[0] += f"  # {self.comment(r)}"
        self.prologue(lines)

    def prologue(self, lines: list[str]) -> None:
        """Insert statements before the current loop's header."""
        self.lines[self.alloc_at:self.alloc_at] = ["    " + line for line in lines]
        self.alloc_at += len(lines)

    def accumulate(self, r: Node, element: str, acc: str, shape: Shape, index: list[str], flat: bool,
                   depth: int) -> None:
        axes, keep = r.attrs["axes"], r.attrs["keepdims"]
        if r in self.terms:  # stored, and added up after its block or loop (see loop)
            position = "".join(f"{k} * ({self.size_expr(shape[j + 1:])}) + " for j, k in enumerate(index[:-1]))
            self.emit(f"{self.terms[r]}[{position}{index[-1]}] = {element}  # {self.comment(r)}: a term", depth)
            return
        if len(axes) == len(shape):
            target = acc
        else:
            idx = [("0" if keep else None) if k in axes else index[k] for k in range(len(shape))]
            target = f"{acc}[{', '.join(i for i in idx if i is not None)}]"
        if r.op == "sum":
            self.emit(f"{target} += {element}  # {self.comment(r)}", depth)
        else:  # max, NaN-propagating like np.max, the last of equal elements (as np.max: -0.0 or 0.0)
            self.emit(f"if {element} >= {target} or {element} != {element}:  # {self.comment(r)}", depth)
            self.emit(f"{target} = {element}", depth + 1)

    def finish(self, m: Node, name: str, flat: bool) -> None:
        """After the loop: give stored members their final form."""
        if lookup(m.op).kind == "reduce":
            full = len(m.attrs["axes"]) == m.inputs[0].ndim
            if full and m.shape != ():  # keepdims: the scalar total as an array of ones' shape
                kept = self.namer.fresh(f"{name}_kept")
                for line in self.filled(kept, m.shape, m, name):
                    self.emit(line)
                name = kept
        elif flat:
            self.emit(f"{name} = {self.shaped(self.flat_name(name), m.shape)}")
        self.values[m] = Value(name, m.shape == ())


def _single(shape: Shape) -> bool:
    """A shape of one element (all dims 1): it broadcasts along any loop."""
    return all(d == 1 for d in shape)


def _lowest(dtype: np.dtype) -> float:
    return -math.inf if dtype.kind == "f" else int(np.iinfo(dtype).min)


def generate(kernels: Sequence[KernelSpec], ids: dict[Node, int] | None = None) -> str:
    """The source of a module holding ``kernels``; array constants become parameters.
    Comments number nodes by ``ids`` (graphc.ir.numbering; default: in topological order)."""
    everything = [o for k in kernels for o in k.outputs]
    if ids is None:
        ids = {n: i for i, n in enumerate(order(everything))}
    imports: set[str] = set()
    bodies = []
    for spec in kernels:
        params = set(spec.params)  # a set: `in` a list would compare nodes with ==, which builds a node
        spec.constants = [n for n in order(spec.outputs) if n.op == "const" and n.shape != () and n not in params]
        bodies.append("\n".join(KernelWriter(spec, ids, imports).write()))
    head = ['"""Generated by graphc: do not edit (the file name is a hash of this text)."""', "",
            "import math  # noqa: F401", "", "import numba", "import numpy as np"]
    blas = sorted(i for i in imports if i.startswith("gemm_"))
    views = sorted(i for i in imports if i.endswith("_view"))
    errors = sorted(i for i in imports if i.endswith("Error"))  # raised by checks in lowerings
    vecmath = sorted(i for i in imports if i not in blas and i not in views and i not in errors)
    if blas:
        head.append(f"from graphc.codegen.blas import {', '.join(blas)}")
    if views:
        head.append(f"from graphc.codegen.views import {', '.join(views)}")
    if vecmath:
        head.append(f"from graphc.codegen.vecmath import {', '.join(vecmath)}")
    if errors:
        head.append(f"from graphc.errors import {', '.join(errors)}")
    return "\n".join(head) + "\n\n\n" + "\n\n\n".join(bodies) + "\n"
