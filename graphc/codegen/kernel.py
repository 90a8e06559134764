"""Python source for Numba: one jitted function per kernel, one statement per node.

The schedule (graphc.passes.fusion) says which nodes share a loop. Here each step
becomes source text: a fused loop evaluates its members per element as scalars
(``op.scalar`` from the registry gives the expression), stores only what is needed
outside the loop and accumulates its reductions; matmul goes to BLAS gemm (the BLAS
np.dot uses, see graphc.codegen.blas);
transpose and reshape are views where the layout allows. Every statement carries a
comment naming its node (numbered as in ``gc.show``) and, for backward nodes, the gate
it came from.
"""

from __future__ import annotations

import hashlib
import inspect
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import CodeType

import numpy as np

from graphc.codegen.names import Namer, helper_modules, is_plain
from graphc.ir.graph import order
from graphc.ir.node import Node
from graphc.ir.numbering import of_text
from graphc.ir.op import lookup
from graphc.ir.shapes import Shape
from graphc.passes.fusion import Loop, schedule

SUFFIX = {"float64": "f64", "float32": "f32"}
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
        """A math function of this dtype: graphc.codegen.vecmath's vectorizable one where
        it has one, else math.*."""
        from graphc.codegen import vecmath

        fname = f"{name}_{SUFFIX.get(self.dtype.name)}"
        if fname in vecmath.__all__:
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
        self.blas_constants = False
        self.flat_names: dict[str, str] = {}
        self.helpers: list[list[str]] = []  # functions the kernel calls (chunks of long loops)
        self.parallel = False  # a loop is split across threads: the kernel needs parallel=True
        self.externals: dict[str, str] = {}  # ops' Numba functions the kernel calls, by module-level name

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

    def lit(self, value: object, dtype: np.dtype) -> str:
        return literal(value, dtype)

    def dim(self, d: int | str) -> str:
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

    def helper(self, name: str) -> str:
        """``name``, a helper from one of graphc.codegen.names.HELPER_MODULES, imported by the module."""
        self.imports.add(name)
        return name

    def flat(self, array: str) -> str:
        """A C-contiguous array as a flat vector (a view)."""
        return f"{self.helper('flat_view')}({array})"

    def shaped(self, array: str, shape: Shape) -> str:
        """A C-contiguous array viewed with ``shape`` (same size)."""
        return f"{self.helper('shaped_view')}({array}, {self.shape_expr(shape)})"

    def permuted(self, array: str, axes: tuple[int, ...]) -> str:
        """An array viewed with its axes permuted."""
        return f"{self.helper('permuted_view')}({array}, {axes})"

    def fill(self, name: str, shape: Shape, node: Node, value: str, note: str) -> None:
        """Emit ``filled``'s statements, the first carrying ``note``."""
        for k, line in enumerate(self.filled(name, shape, node, value)):
            self.emit(line + (note if k == 0 else ""))

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
        for p in params:
            if p.name is not None and not is_plain(p.name):
                self.emit(f"# {self.values[p].expr}: {self.comment(p)}")
            for axis, d in enumerate(p.shape):
                if isinstance(d, str) and d not in self.dims:
                    self.dims[d] = self.namer.fresh(d)
                    self.emit(f"{self.dims[d]} = {self.values[p].expr}.shape[{axis}]")
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
        elif node.op == "matmul":
            self.matmul(node, name, args, note)
        elif op.kernel is not None:  # a Numba function of the op's own (gc.define_op)
            self.call_kernel(node, name, args, note)
        elif node.op in ("patches", "patches_adjoint"):
            self.windows(node, name, args[0], note)
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

    def matmul(self, node: Node, name: str, args: list[Value], note: str) -> None:
        """C = A @ B through BLAS gemm. BLAS is column-major, so C (row-major m x n) is
        computed as C^T = B^T A^T; a C-layout operand is then 'n' and an F-layout one
        (a transposed view) 't', with the leading dimension of its memory order.
        1-D operands are a row (left) or a column (right) of a 2-D product."""
        a, b = node.inputs
        m = a.shape[0] if a.ndim == 2 else 1
        k = a.shape[-1]
        n = b.shape[1] if b.ndim == 2 else 1
        va, vb = (v if v.layout in ("C", "F") else Value(self.contiguous(v, u), False)
                  for v, u in zip(args, node.inputs))
        ta, lda = ("n", k) if va.layout == "C" or a.ndim == 1 else ("t", m)
        tb, ldb = ("n", n) if vb.layout == "C" or b.ndim == 1 else ("t", k)
        kind = {"float64": "d", "float32": "s"}[node.dtype.name]
        gemm = f"gemm_{SUFFIX[node.dtype.name]}"
        self.imports.add(gemm)
        target = name if node.shape != () else self.namer.fresh(f"{name}_1")
        if not self.blas_constants:  # gemm's alpha and beta are passed by pointer
            self.blas_constants = True
            self.emit(f"one = np.empty(1, dtype={self.np_dtype(node)})")
            self.emit(f"zero = np.empty(1, dtype={self.np_dtype(node)})")
            self.emit(f"one[0], zero[0] = {literal(1, node.dtype)}, {literal(0, node.dtype)}")
        self.emit(f"{target} = {self.alloc(node.shape or (1,), node)}{note}")
        call = ", ".join([str(ord(kind)), str(ord(tb)), str(ord(ta)), self.dim(n), self.dim(m), self.dim(k),
                          "one.ctypes", f"{vb.expr}.ctypes", self.ld(ldb), f"{va.expr}.ctypes", self.ld(lda),
                          "zero.ctypes", f"{target}.ctypes", self.ld(n)])
        self.emit(f"{gemm}({call})  # BLAS {kind}gemm: {target} = {va.expr} @ {vb.expr}")
        if node.shape == ():
            self.emit(f"{name} = {target}[0]")

    def ld(self, d: int | str) -> str:
        """A leading dimension: BLAS wants at least 1 even for empty operands."""
        return str(max(1, d)) if isinstance(d, int) else f"max(1, {self.dim(d)})"

    def cast(self, node: Node, expr: str) -> str:
        # Numba may widen float32 arithmetic (pow, math.*) to float64: pin the dtype
        if node.dtype == np.float32 and lookup(node.op).pin_float32:
            return f"np.float32({expr})"
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

    def windows(self, node: Node, name: str, src: Value, note: str) -> None:
        """patches copies each window element from its pixel (0 in the padding);
        patches_adjoint adds each back onto its pixel. Six loops over the windows."""
        (sh, sw), (ph, pw) = node.attrs["stride"], node.attrs["padding"]
        windows = node.shape if node.op == "patches" else node.inputs[0].shape
        image = node.inputs[0].shape[2:] if node.op == "patches" else node.shape[2:]
        row, col = self.namer.fresh("row"), self.namer.fresh("col")
        if node.op == "patches":
            self.emit(f"{name} = {self.alloc(node.shape, node)}{note}")
        else:
            for k, line in enumerate(self.filled(name, node.shape, node, literal(0, node.dtype))):
                self.emit(line + (note if k == 0 else ""))
        self.nested_loops(windows)  # i0..i5: n, oh, ow, c, i, j
        self.emit(f"{row} = i1 * {sh} - {ph} + i4", 7)
        self.emit(f"{col} = i2 * {sw} - {pw} + i5", 7)
        inside = f"0 <= {row} < {image[0]} and 0 <= {col} < {image[1]}"
        window, pixel = "i0, i1, i2, i3, i4, i5", f"i0, i3, {row}, {col}"
        if node.op == "patches":
            zero = literal(0, node.dtype)
            self.emit(f"{name}[{window}] = {src.expr}[{pixel}] if {inside} else {zero}", 7)
        else:
            self.emit(f"if {inside}:", 7)
            self.emit(f"{name}[{pixel}] += {src.expr}[{window}]", 8)

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
        chunked = (flat or len(shape) == 1) and self.long_loop(loop)
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
            self.chunked_loop(loop, stored, flat, index[0])
        else:
            accumulators = {r: stored[r] for r in reductions}
            self.loop_body(loop, stored, accumulators, index, flat, 1 + (1 if flat else len(shape)))
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
        cost = sum(lookup(m.op).cost for m in loop.members)
        return size >= parallel.MIN_ELEMENTS and size * cost >= parallel.MIN_WORK and parallel.available()

    def chunked_loop(self, loop: Loop, stored: dict[Node, str], flat: bool, i: str) -> None:
        """The loop body becomes a helper function over a range [lo, hi) that returns its
        partial reductions. The kernel calls it once per chunk under numba.prange, one
        chunk per thread, and combines the partials in chunk order, so results do not
        depend on which thread ran which chunk."""
        from graphc.codegen import parallel

        self.parallel = True
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
        # the chunk's own views, indexed from 0: Numba then knows no index is negative
        # (x[i] for i in range(lo, hi) checks i < 0 on every element, and vectorizes worse)
        for a, w in whole.items():
            self.emit(f"{a} = {w}[{lo}:{hi}]")
        for r in loop.reductions:
            self.emit(f"{local[r]} = {self.identity(r)}")
        self.emit(f"for {i} in range({hi} - {lo}):")
        self.loop_body(loop, stored, local, [i], flat, 2)
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
        size = math.prod(loop.shape)  # type: ignore[arg-type]
        self.emit(f"{count} = {min(parallel.threads(), size // (parallel.MIN_ELEMENTS // 2))}  # one chunk per thread")
        parts = {r: self.namer.fresh(f"{stored[r]}_parts") for r in loop.reductions}
        for r in loop.reductions:
            self.emit(f"{parts[r]} = np.empty({count}, dtype={self.np_dtype(r)})")
        self.emit(f"for {c} in numba.prange({count}):")
        self.emit(f"{unpack}{call}{c} * n // {count}, ({c} + 1) * n // {count})", 2)
        for r, part in zip(loop.reductions, results):
            self.emit(f"{parts[r]}[{c}] = {part}", 2)
        for r in loop.reductions:
            self.emit(f"for {c} in range({count}):")
            self.accumulate(r, f"{parts[r]}[{c}]", stored[r], loop.shape, [c], flat, 2)

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
        return literal(lookup(r.op).identity(r.dtype), r.dtype)

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
        if len(axes) == len(shape):
            target = acc
        else:
            idx = [("0" if keep else None) if k in axes else index[k] for k in range(len(shape))]
            target = f"{acc}[{', '.join(i for i in idx if i is not None)}]"
        for k, line in enumerate(lookup(r.op).combine(target, element)):
            self.emit(line + (f"  # {self.comment(r)}" if k == 0 else ""), depth)

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
        spec.constants = [n for n in order(spec.outputs) if n.op == "const" and n.shape != () and n not in spec.params]
        writer = KernelWriter(spec, ids, imports)
        bodies.append("\n".join(writer.write()))
        externals.update(writer.externals)
    head = ['"""Generated by graphc: do not edit (the file name is a hash of this text)."""', "",
            "import math  # noqa: F401", "", "import numba", "import numpy as np"]
    home = {i: next(m for m in helper_modules() if hasattr(m, i)) for i in imports}
    for module in helper_modules():
        names = sorted(i for i in imports if home[i] is module)
        if names:
            head.append(f"from {module.__name__} import {', '.join(names)}")
    if externals:  # the fingerprint puts the function's code in the file's name (its cache key)
        head.append("from graphc.ir.op import lookup")
        for function, op in sorted(externals.items()):
            kernel = lookup(op).kernel
            head.append(f"{function} = lookup({op!r}).kernel  # {getattr(kernel, '__name__', op)}, "
                        f"code {fingerprint(kernel)}")
    return "\n".join(head) + "\n\n\n" + "\n\n\n".join(bodies) + "\n"
