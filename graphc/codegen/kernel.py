"""Python source for Numba: one jitted function per kernel, one statement per node.

The schedule (graphc.passes.fusion) says which nodes share a loop. Here each step
becomes source text: a fused loop evaluates its members per element as scalars
(``op.scalar`` from the registry gives the expression; graphc.codegen.loops), stores
only what is needed outside the loop and accumulates its reductions; every other node
is lowered by its op (``Op.lower``, or ``Op.kernel``, a Numba function the kernel
calls), through the machinery of graphc.codegen.writer; matmul goes to BLAS gemm (the
BLAS np.dot uses, see graphc.codegen.blas). Every statement carries a comment naming
its node (numbered as in ``gc.show``) and, for backward nodes, the gate it came from.
This module writes the kernels' functions and the module around them (``generate``).
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import CodeType

from graphc.codegen.loops import LoopWriter
from graphc.codegen.names import helper_modules, is_plain
from graphc.codegen.writer import JIT, SUFFIX, ScalarCtx, Value, literal
from graphc.ir.graph import order
from graphc.ir.node import Node
from graphc.ir.op import lookup
from graphc.passes.fusion import Loop, schedule


@dataclass
class KernelSpec:
    """One kernel: its parameters (given values) and the outputs it returns."""

    name: str
    params: list[Node]
    outputs: list[Node]
    dim_params: list[str] = field(default_factory=list)  # named dims passed as ints (no param has them)
    constants: list[Node] = field(default_factory=list)  # array constants, appended to params
    fuse: bool = True  # the fusion pass: elementwise chains share loops


class KernelWriter(LoopWriter):
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
