"""User-defined ops: ``gc.define_op`` registers a new op the way graphc registers its own.

An op is one ``graphc.ir.op.Op`` in the registry, whoever defines it; ``define_op``
builds that Op from user functions and calls the same ``register``. It takes:

- ``infer(*inputs, **attrs) -> (shape, dtype)``: the shape/dtype rule, run when a node
  is made (inputs are nodes: ``.shape``, ``.dtype``, ``.label``); raise
  ``gc.ShapeError``/``gc.DTypeError`` to reject operands. By default the op is
  elementwise: NumPy broadcasting, floating operands of one promoted dtype.
- ``numpy(*arrays, **attrs) -> ndarray``: the reference the interpreter runs.
- ``vjp(node, g, i) -> Node | None``: the cotangent of input ``i`` given the upstream
  gradient ``g``, built from graphc ops (so it can be differentiated again), and
  ``gate``, the backprop pattern it applies ("local", "switch", "route", ...): the
  nodes it builds are shown in ``gc.show`` as that gate of this op.
- and how the kernel computes it, one of:

  - ``scalar(a, c, attrs) -> str``: a Python expression of the operands' per-element
    variable names ``a``, evaluated inside fused loops like graphc's elementwise ops
    (``c.lit(v)`` a literal of the loop's dtype, ``c.fn("exp")`` a math function of
    that dtype, vectorizable where graphc.codegen.vecmath has it);
  - ``numba``: a function (``@numba.njit`` or plain Python, jitted here) the kernel
    calls as ``numba(*inputs, out, **attrs)`` with ``out`` allocated with the node's
    shape and dtype (a 0-d result goes to ``out[0]``). Array inputs are C-contiguous.

A kernel calling a Numba function is cached on disk like any other: its source
carries a fingerprint of the function (its source text and code object), so editing the
function gives the kernel another file. Globals the function reads are compile-time
constants to Numba, as in any ``@njit`` function, and are not part of the fingerprint.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphc.errors import GraphError
from graphc.ir import dtypes
from graphc.ir.node import Node, apply
from graphc.ir.op import GATES, REGISTRY, Op, register
from graphc.ir.shapes import as_shape
from graphc.ops._common import elementwise_infer, unbroadcast


def define_op(name: str, *, numpy: Callable[..., Any], vjp: Callable[[Node, Node, int], Node | None] | None = None,
              gate: str = "local", scalar: Callable[..., str] | None = None, numba: Callable[..., Any] | None = None,
              infer: Callable[..., tuple[tuple, Any]] | None = None, cost: int = 1,
              doc: str = "") -> Callable[..., Node]:
    """Define and register the op ``name``; returns its function ``f(*operands, name=None, **attrs)``.

    Give ``scalar`` (fused elementwise) or ``numba`` (a function the kernel calls), not
    both; ``cost`` is the per-element work of a scalar op in adds (8 for a
    transcendental), which decides when a long loop runs on several threads. See the
    module docstring (graphc.ops.custom) for each argument's contract, and README's
    "Your own ops".
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise GraphError(f"define_op: expected an op name that is a Python identifier but got {name!r}")
    if name in REGISTRY:
        raise GraphError(f"define_op: an op named {name!r} is already registered; choose another name")
    if (scalar is None) == (numba is None):
        raise GraphError(f"define_op {name}: give exactly one of scalar= (an expression for fused loops) "
                         f"or numba= (a function the kernel calls)")
    if gate not in GATES:
        raise GraphError(f"define_op {name}: expected gate to be one of {', '.join(GATES)} but got {gate!r}")
    for what, fn in (("numpy", numpy), ("vjp", vjp), ("scalar", scalar), ("infer", infer)):
        if fn is not None and not callable(fn):
            raise GraphError(f"define_op {name}: expected {what} to be callable but got {type(fn).__name__}")
    kernel = None if numba is None else _jitted(name, numba)
    elementwise = scalar is not None
    rule = _vjp_rule(name, vjp, elementwise)
    register(Op(name, infer=_infer_rule(name, infer, scalar), numpy=_reference(numpy), vjp=rule, gate=gate,
                kind="elementwise" if elementwise else "opaque", scalar=scalar, kernel=kernel,
                pin_float32=elementwise, cost=cost, doc=doc or (numpy.__doc__ or "").strip()))

    def op(*operands: object, name: str | None = None, **attrs: Any) -> Node:
        return apply(op_name, *operands, name=name, **attrs)

    op_name = name
    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc or numpy.__doc__
    return op


def _infer_rule(name: str, infer: Callable | None, scalar: Callable | None) -> Callable:
    default = elementwise_infer(float_only=True)
    checked: set[int] = set()  # the arities whose scalar expression was checked

    def rule(op: str, inputs: tuple[Node, ...], attrs: dict[str, Any]):
        if scalar is not None and len(inputs) not in checked:
            _check_expression(name, scalar, len(inputs), attrs)
            checked.add(len(inputs))
        if infer is None:
            return default(op, inputs, attrs)
        result = infer(*inputs, **attrs)
        if not (isinstance(result, tuple) and len(result) == 2):
            raise GraphError(f"{name}: its infer rule must return (shape, dtype) but returned {result!r}")
        shape, dtype = result
        return as_shape(shape, f"the shape {name}'s infer rule gave"), dtypes.as_dtype(dtype, name), ()

    return rule


def _check_expression(name: str, scalar: Callable, arity: int, attrs: dict[str, Any]) -> None:
    """A scalar template that does not give a Python expression fails here, at the user's
    line, not inside Numba."""
    expr = scalar([f"a{k}" for k in range(arity)], _TrialCtx(), attrs)
    try:
        compile(expr, f"<scalar of {name}>", "eval")
    except (SyntaxError, TypeError) as e:
        raise GraphError(f"{name}: its scalar template gave {expr!r}, which is not a Python expression "
                         f"({e})") from None


class _TrialCtx:
    """Stands in for the code generator's context when a template is tried out."""

    def lit(self, value: float) -> str:
        return repr(float(value))

    def fn(self, name: str) -> str:
        return f"math.{name}"


def _reference(numpy: Callable) -> Callable:
    return lambda args, attrs, dims: numpy(*args, **attrs)


def _vjp_rule(name: str, vjp: Callable | None, elementwise: bool) -> Callable | None:
    if vjp is None:
        return None

    def rule(node: Node, g: Node, i: int) -> Node | None:
        ct = vjp(node, g, i)
        if ct is None:
            return None
        x = node.inputs[i]
        if not isinstance(ct, Node):
            raise GraphError(f"{name}: its vjp must return a graphc node (or None) for input {i} but returned "
                             f"{type(ct).__name__}")
        if elementwise:
            ct = unbroadcast(ct, x)  # a broadcast operand gets its own shape back
        if ct.shape != x.shape:
            raise GraphError(f"{name}: its vjp gave input {i} ({x.label}, shape {x.shape}) a cotangent of "
                             f"shape {ct.shape}")
        return ct if ct.dtype == x.dtype else apply("cast", ct, dtype=x.dtype)

    return rule


def _jitted(name: str, fn: Callable) -> Callable:
    import numba  # here, not at import: ``import graphc`` does not start Numba

    if isinstance(fn, numba.core.dispatcher.Dispatcher):
        return fn
    if not hasattr(fn, "__code__"):
        raise GraphError(f"define_op {name}: expected numba= to be a Python function or a @numba.njit "
                         f"function but got {type(fn).__name__}")
    return numba.njit(fn)
