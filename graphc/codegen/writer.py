"""The machinery a kernel's code is written with: names, values, buffers, views, loops.

A ``Writer`` holds one kernel's state (its variable names, the value of each node, its
named dims and lines) and the helpers every lowering uses: literals, shapes and sizes,
allocations, flat/shaped/permuted views of C-contiguous arrays, filled arrays and
nested loops. Ops' own lowerings (``Op.lower``) receive it as ``w``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from graphc.codegen.memory import Buffer, MemoryPlan
from graphc.codegen.names import Namer, is_plain
from graphc.ir.node import Node
from graphc.ir.numbering import of_text
from graphc.ir.op import lookup
from graphc.ir.shapes import Dim, Prod, Shape

if TYPE_CHECKING:
    from graphc.codegen.kernel import KernelSpec

SUFFIX = {"float64": "f64", "float32": "f32"}
# Every generated function's decorator. no_rewrites: Numba's IR rewrites (constant
# folding of branches and getitems, fusion of whole-array expressions) find nothing in
# code of explicit loops over scalars, and cost a tenth of a cold compile (W6: 3.64 s
# with them, 3.37 s without; W5 2.41 and 2.23 s); LLVM folds the constants anyway.
JIT = '@numba.njit(cache=True, nogil=True, no_rewrites=True, error_model="numpy", fastmath={"reassoc", "contract"})'


def slot_token(k: int) -> str:
    """Where planned buffer ``k``'s allocation goes in a line until the plan is made
    (``KernelWriter.plan_lines`` replaces it with a view of the workspace, or np.empty)."""
    return f"@buffer{k}@"


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
class Value:
    expr: str  # a variable name or a literal
    scalar: bool  # a 0-d value is a scalar in the kernel
    layout: str = "C"  # of arrays: "C", "F" or "A"


class Writer:
    """The state of one kernel being written, and the machinery to write it."""

    def __init__(self, spec: KernelSpec, ids: dict[Node, int], imports: set[str]) -> None:
        self.spec, self.ids, self.imports = spec, ids, imports
        self.namer = Namer()
        self.values: dict[Node, Value] = {}
        self.dims: dict[str, str] = {}
        self.lines: list[str] = []
        self.flat_names: dict[str, str] = {}
        self.helpers: list[list[str]] = []  # functions the kernel calls (chunks of long loops)
        self.terms: dict[Node, str] = {}  # full reductions of the current loop combined apart (LoopWriter.loop)
        self.rows: dict[Node, str] = {}  # reductions over its innermost axis, a row at a time (LoopWriter.loop)
        self.externals: dict[str, str] = {}  # ops' Numba functions the kernel calls, by module-level name
        # the memory plan (graphc.codegen.memory): buffers from the workspace, but never
        # one an output may be (``escaping``: the outputs and what they are views of)
        self.plan: MemoryPlan | None = MemoryPlan() if spec.workspace else None
        self.escaping: set[Node] = set()
        self.at = 0  # the index of the step being written, in the schedule
        self.holder: Node | None = None  # the node whose value the current step's buffers hold
        self.buffer_of: dict[Buffer, Node | None] = {}
        self.planned: list[tuple[str, str]] = []  # each planned buffer's size and dtype, in the kernel
        self.planned_shapes: dict[int, str] = {}  # a planned buffer's shape, where ``alloc`` views it with one
        self.ws = ""  # the workspace parameter's name, once the plan is made

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

    def function(self, head: Sequence[str], body: Sequence[str]) -> list[str]:
        """A generated function: the JIT line, ``head`` (its def line and comments) and
        ``body``; a function with loops first asks for the host's widest vectors
        (graphc.codegen.vecmath.wide_vectors)."""
        wide = any(line.lstrip().startswith("for ") for line in body)
        if wide:
            self.imports.add("wide_vectors")
        return [JIT, *head, *(["    wide_vectors()  # its loops may use 512-bit vectors"] if wide else []), *body]

    def lit(self, value: object, dtype: np.dtype) -> str:
        return literal(value, dtype)

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

    def alloc(self, shape: Shape, node: Node, holder: Node | None = None) -> str:
        """An uninitialized array of ``shape`` and ``node``'s dtype: a flat buffer (see
        ``buffer``) viewed with its shape."""
        flat = self.buffer(shape, node, holder)
        if len(shape) == 1:
            return flat
        if self.plan is not None and flat == slot_token(len(self.plan.buffers) - 1):  # the plan may view it whole
            self.planned_shapes[len(self.plan.buffers) - 1] = self.shape_expr(shape)
        return self.shaped(flat, shape)

    def buffer(self, shape: Shape, node: Node, holder: Node | None = None) -> str:
        """A flat uninitialized array of ``shape``'s size and ``node``'s dtype, that holds
        (part of) the value of ``holder`` (default: the current step's node; None in a
        loop: scratch of this step alone). A step's buffers all live as long as its node's
        value: its value may be a view of any of them (a reshape of a copy made
        contiguous). From the workspace when the kernel has a memory
        plan and the value cannot be an output's; else np.empty of a flat size (Numba
        compiles np.empty's implementation once per argument type, and every tuple rank
        is another)."""
        holder = holder if holder is not None else self.holder
        size = self.size_expr(shape)
        if self.plan is None or holder in self.escaping:
            return f"np.empty({size}, dtype={self.np_dtype(node)})"
        label = f"%{self.ids[holder]} {holder.op}" if holder is not None else "scratch"
        b = Buffer(label, shape, node.dtype.itemsize, self.at)
        self.buffer_of[b] = holder
        self.plan.buffers.append(b)
        self.planned.append((size, self.np_dtype(node)))
        return slot_token(len(self.plan.buffers) - 1)

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

    def filled(self, name: str, shape: Shape, node: Node, value: str, holder: Node | None = None) -> list[str]:
        """Statements making ``name`` an array of ``shape`` filled with ``value`` (by
        graphc.codegen.views.fill: np.full and np.zeros would each compile an
        implementation of their own, and a loop costs Numba several times the code); its
        buffer holds ``holder``'s value (see ``buffer``)."""
        return [f"{name} = {self.alloc(shape, node, holder)}", f"{self.helper('fill')}({name}, {value})"]

    # -- the kernel ---------------------------------------------------------------

    def value(self, node: Node) -> Value:
        if node not in self.values and node.op == "const":
            # scalar constants are literals; array constants are parameters
            self.values[node] = Value(literal(node.attrs["value"].reshape(-1)[0], node.dtype), True)
        return self.values[node]

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
