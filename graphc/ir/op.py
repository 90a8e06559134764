"""What an operation is, and the one registry of them.

An ``Op`` gathers everything graphc knows about one operation, so that the shape
rule, the NumPy reference, the VJP (with its gate pattern) and the code generation
of an op read together and adding an op touches one place (``graphc/ops``):

- ``infer(inputs, attrs) -> (shape, dtype, bindings)``: the shape/dtype rule, raising
  ShapeError/DTypeError that name the op and its operands;
- ``numpy(args, attrs, dims) -> ndarray``: the reference, used by the interpreter;
- ``vjp(node, g, i) -> Node | None``: the symbolic cotangent of input ``i`` given
  the upstream gradient ``g`` (None where no gradient flows), built from ordinary
  graph nodes, so a backward graph can be differentiated again;
- ``gate``: the backprop pattern the VJP applies (SPEC.md, Inspection);
- ``kind``: how the code generator treats it ("elementwise", "reduce", "matmul",
  "view", "source" or "opaque");
- ``scalar``: for elementwise ops, ``scalar(args, ctx, attrs) -> str``, the
  expression the fused loop evaluates per element (args are variable names);
- ``lower``: for ops outside fused loops, ``lower(writer, node, name, args, note)``
  emits the statements that compute ``node`` into the variable ``name`` through the
  ``KernelWriter`` machinery (``args`` are the inputs' ``Value``s, ``note`` the
  statement's comment) and returns the result's layout ("C", "F", "A"; None means "C").
- ``kernel``: for ops outside fused loops, a Numba function the kernel calls as
  ``kernel(*inputs, out, **attrs)``, ``out`` allocated with the node's shape and dtype
  (how ``gc.define_op``'s ``numba=`` ops are computed; ``lower`` is the general form).

Facts the code generator reads about an op, each written once, here:

- ``identity(dtype) -> value`` and ``combine(acc, x) -> [statements]`` (reductions):
  the accumulator's start value and the statements folding element ``x`` into the
  accumulator ``acc`` (lines after the first are indented by four spaces per level);
- ``nonempty`` (reductions): undefined over no elements (max), so an empty reduced
  axis is an error at declaration and at call time;
- ``pin_float32`` (elementwise): the scalar expression may compute in float64 from
  float32 operands (``**``, ``np.sqrt``, ``math.expm1``), so a float32 result is wrapped
  in ``np.float32(...)``;
- ``cost`` (elementwise): the per-element work in units of one add (a transcendental
  function is ~8), which decides whether a long fused loop runs on several threads;
- ``vecmath`` (elementwise): the ``graphc.codegen.vecmath`` function the op computes
  ("exp" is ``exp_f64``/``exp_f32``); when set, the scalar expression defaults to that
  function of the operand.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graphc.errors import GraphError

GATES = ("distribute", "route", "switch", "sum", "unbroadcast", "local")
KINDS = ("elementwise", "reduce", "matmul", "view", "source", "opaque")


@dataclass(frozen=True)
class Op:
    name: str
    infer: Callable[..., Any]
    numpy: Callable[..., Any]
    vjp: Callable[..., Any] | None
    gate: str
    kind: str
    scalar: Callable[..., str] | None = None
    doc: str = ""
    lower: Callable[..., str | None] | None = None
    kernel: Callable[..., Any] | None = None
    identity: Callable[[Any], Any] | None = None
    combine: Callable[[str, str], list[str]] | None = None
    nonempty: bool = False
    pin_float32: bool = False
    cost: int = 1
    vecmath: str | None = None
    # its scalar code is the same arithmetic whatever the value of a constant operand, so a
    # split loop may pass the constant as data: parts differing only in it share a helper
    constants_as_data: bool = False

    def __post_init__(self) -> None:
        if self.vecmath is not None and self.scalar is None:
            function = self.vecmath
            object.__setattr__(self, "scalar", lambda a, c, at: f"{c.fn(function)}({a[0]})")
        assert self.gate in GATES, f"{self.name}: unknown gate {self.gate}"
        assert self.kind in KINDS, f"{self.name}: unknown kind {self.kind}"
        assert (self.kind == "elementwise") == (self.scalar is not None), self.name
        assert (self.kind == "reduce") == (self.identity is not None and self.combine is not None), self.name


REGISTRY: dict[str, Op] = {}


def register(op: Op) -> Op:
    if op.name in REGISTRY:
        raise GraphError(f"op {op.name!r} is registered twice")
    REGISTRY[op.name] = op
    return op


def lookup(name: str) -> Op:
    try:
        return REGISTRY[name]
    except KeyError:
        raise GraphError(f"unknown op {name!r}: expected one of {', '.join(sorted(REGISTRY))}") from None
