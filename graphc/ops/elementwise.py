"""Elementwise operations: NumPy broadcasting, one dtype per op.

Each definition reads: NumPy reference, VJP with its gate pattern, and the scalar
expression the fused loop evaluates (``a`` are the operands' variable names, ``c``
the codegen context: ``c.lit(v)`` a literal of the loop's dtype, ``c.fn(name)`` the
math function ``name`` of that dtype: graphc.codegen.vecmath's vectorizable one where
it has one, else ``math.name``), and the codegen facts (graphc.ir.op): ``vecmath``,
``cost``, ``pin_float32``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from graphc.errors import GraphError
from graphc.ir import dtypes
from graphc.ir.node import Node, apply
from graphc.ir.op import Op, register
from graphc.ops._common import as_node, elementwise_infer, unbroadcast

TRANSCENDENTAL = 8  # the cost of an exp/log/tanh/sigmoid (a vecmath polynomial) in adds


def _define(name: str, numpy: Callable, vjp: Callable | None, gate: str, scalar: Callable[..., str] | None,
            float_only: bool = False, doc: str = "", **facts: Any) -> None:
    """One elementwise op; ``facts`` are the Op's codegen fields (pin_float32, cost, vecmath, constants_as_data)."""
    register(Op(name, infer=elementwise_infer(float_only), numpy=numpy, vjp=vjp, gate=gate,
                kind="elementwise", scalar=scalar, doc=doc, **facts))


def _ref(fn: Callable) -> Callable:
    """A NumPy reference taking the interpreter's (args, attrs, dims)."""
    return lambda args, attrs, dims: fn(*args)


def _cmp(fn: Callable) -> Callable:
    """Comparisons give 1 or 0 in the operands' dtype (graphc has no bool dtype)."""
    return lambda args, attrs, dims: fn(*args).astype(np.result_type(*args))


def _ub(vjp: Callable[[Node, Node, int], Node | None]) -> Callable:
    """Wrap a VJP of a broadcasting op so each cotangent gets its input's exact shape."""

    def rule(node: Node, g: Node, i: int) -> Node | None:
        ct = vjp(node, g, i)
        return None if ct is None else unbroadcast(ct, node.inputs[i])

    return rule


def _expit(x: np.ndarray) -> np.ndarray:
    """The logistic sigmoid without overflow: exp(x) is only taken of x <= 0."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)


def _nan_or(cond: str, a: str) -> str:
    """``cond`` that also holds when ``a`` is NaN, so max/min propagate NaN like NumPy.
    Equal operands give the second, as np.maximum does: maximum(-0.0, 0.0) is 0.0."""
    return f"({cond} or {a} != {a})"


# -- the add gate distributes, the mul gate switches ---------------------------------
_define("add", _ref(np.add), _ub(lambda n, g, i: g), "distribute",
        lambda a, c, at: f"{a[0]} + {a[1]}", constants_as_data=True)
_define("sub", _ref(np.subtract), _ub(lambda n, g, i: g if i == 0 else -g), "distribute",
        lambda a, c, at: f"{a[0]} - {a[1]}", constants_as_data=True)
_define("neg", _ref(np.negative), lambda n, g, i: -g, "distribute",
        lambda a, c, at: f"-{a[0]}")
_define("identity", lambda args, attrs, dims: args[0], lambda n, g, i: g, "distribute",
        lambda a, c, at: a[0],
        doc="x unchanged: autodiff marks with it each input a gate hands its gradient on to as it is "
            "(add distributes), so every variable's gradient is a node of its own; simplify removes it")
_define("mul", _ref(np.multiply), _ub(lambda n, g, i: g * n.inputs[1 - i]), "switch",
        lambda a, c, at: f"{a[0]} * {a[1]}", constants_as_data=True)


def _div_vjp(node: Node, g: Node, i: int) -> Node:
    a, b = node.inputs
    return g / b if i == 0 else -(g * a) / (b * b)


_define("div", _ref(np.divide), _ub(_div_vjp), "local",
        lambda a, c, at: f"{a[0]} / {a[1]}", float_only=True, constants_as_data=True)


def _pow_vjp(node: Node, g: Node, i: int) -> Node:
    a, b = node.inputs
    if i == 0:
        return g * b * a ** (b - 1)
    return g * node * log(a)


_define("pow", _ref(np.power), _ub(_pow_vjp), "local",
        lambda a, c, at: f"{a[0]} ** {a[1]}", float_only=True, pin_float32=True)


# -- the max gate routes: to the winner, ties split evenly ----------------------------
def _winner_mask(node: Node, i: int, wins: str) -> Node:
    """1 where input i wins, 1/2 where the two tie, 0 where it loses."""
    a, b = node.inputs
    mine, other = (a, b) if i == 0 else (b, a)
    return apply(wins, mine, other) + 0.5 * apply("equal", mine, other)


_define("maximum", _ref(np.maximum), _ub(lambda n, g, i: g * _winner_mask(n, i, "greater")), "route",
        lambda a, c, at: f"{a[0]} if {_nan_or(f'{a[0]} > {a[1]}', a[0])} else {a[1]}")
_define("minimum", _ref(np.minimum), _ub(lambda n, g, i: g * _winner_mask(n, i, "less")), "route",
        lambda a, c, at: f"{a[0]} if {_nan_or(f'{a[0]} < {a[1]}', a[0])} else {a[1]}")
_define("relu", _ref(lambda x: np.maximum(x, 0)), lambda n, g, i: g * apply("greater", n.inputs[0], 0.0),
        "route", lambda a, c, at: f"{a[0]} if not {a[0]} <= {c.lit(0)} else {c.lit(0)}",
        float_only=True, doc="max(x, 0); relu'(0) = 0")


def _where_vjp(node: Node, g: Node, i: int) -> Node | None:
    cond = node.inputs[0]
    zero = 0.0 if dtypes.is_float(g.dtype) else 0
    return None if i == 0 else (where(cond, g, zero) if i == 1 else where(cond, zero, g))


_define("where", _ref(lambda c, a, b: np.where(c != 0, a, b)), _ub(_where_vjp), "route",
        lambda a, c, at: f"{a[1]} if {a[0]} != {c.lit(0)} else {a[2]}",
        doc="where(cond, a, b): a where cond is nonzero, else b")

for _name, _np_fn, _py in (("greater", np.greater, ">"), ("greater_equal", np.greater_equal, ">="),
                           ("less", np.less, "<"), ("less_equal", np.less_equal, "<="),
                           ("equal", np.equal, "=="), ("not_equal", np.not_equal, "!=")):
    _define(_name, _cmp(_np_fn), None, "local",
            lambda a, c, at, op=_py: f"{c.lit(1)} if {a[0]} {op} {a[1]} else {c.lit(0)}",
            doc=f"1 where a {_py} b else 0, in the operands' dtype; no gradient flows")


# -- local gradients: upstream times the derivative ------------------------------------
_define("exp", _ref(np.exp), lambda n, g, i: g * n, "local", None, float_only=True,
        vecmath="exp", cost=TRANSCENDENTAL)
_define("log", _ref(np.log), lambda n, g, i: g / n.inputs[0], "local", None, float_only=True,
        vecmath="log", cost=TRANSCENDENTAL)
_define("log1p", _ref(np.log1p), lambda n, g, i: g / (1.0 + n.inputs[0]), "local",
        lambda a, c, at: f"{c.fn('log1p')}({a[0]})", float_only=True,
        doc="log(1 + x), accurate for tiny x (where 1 + x rounds x away)")
_define("expm1", _ref(np.expm1), lambda n, g, i: g * (n + 1.0), "local",
        lambda a, c, at: f"{c.fn('expm1')}({a[0]})", float_only=True,
        doc="exp(x) - 1, accurate for tiny x (where exp(x) - 1 cancels)")
_define("sqrt", _ref(np.sqrt), lambda n, g, i: g * 0.5 / n, "local",
        lambda a, c, at: f"np.sqrt({a[0]})", float_only=True, pin_float32=True)
_define("tanh", _ref(np.tanh), lambda n, g, i: g * (1.0 - n * n), "local", None, float_only=True,
        vecmath="tanh", cost=TRANSCENDENTAL)
_define("sigmoid", _ref(_expit), lambda n, g, i: g * n * (1.0 - n), "local", None, float_only=True,
        vecmath="sigmoid", cost=TRANSCENDENTAL, doc="1 / (1 + exp(-x))")
_define("abs", _ref(np.abs), lambda n, g, i: g * sign(n.inputs[0]), "local",
        lambda a, c, at: f"abs({a[0]})")
_define("sign", _ref(np.sign), None, "local",
        lambda a, c, at: (f"{c.lit(1)} if {a[0]} > {c.lit(0)} else ({c.lit(-1)} if {a[0]} < {c.lit(0)} "
                          f"else ({c.lit(0)} if {a[0]} == {a[0]} else {a[0]}))"),
        doc="-1, 0 or 1 (NaN stays NaN, -0.0 gives 0.0 as np.sign); no gradient flows")
_define("leaky_relu",
        lambda args, at, dims: np.where(args[0] > 0, args[0], at["alpha"] * args[0]).astype(args[0].dtype),
        lambda n, g, i: where(apply("greater", n.inputs[0], 0.0), g, n.attrs["alpha"] * g), "local",
        lambda a, c, at: f"{a[0]} if {a[0]} > {c.lit(0)} else {c.lit(at['alpha'])} * {a[0]}",
        float_only=True, doc="x if x > 0 else alpha * x")
_define("elu",
        lambda args, at, dims: np.where(args[0] > 0, args[0], at["alpha"] * np.expm1(args[0])).astype(args[0].dtype),
        lambda n, g, i: where(apply("greater", n.inputs[0], 0.0), g, g * (n + n.attrs["alpha"])), "local",
        lambda a, c, at: f"{a[0]} if {a[0]} > {c.lit(0)} else {c.lit(at['alpha'])} * {c.fn('expm1')}({a[0]})",
        float_only=True, pin_float32=True, doc="x if x > 0 else alpha * (exp(x) - 1)")


def _cast_ref(args, attrs, dims):
    return args[0].astype(attrs["dtype"])


def _cast_vjp(node: Node, g: Node, i: int) -> Node | None:
    """The gradient converts back; an int64 source gets none."""
    source = node.inputs[0].dtype
    return apply("cast", g, dtype=source) if dtypes.is_float(source) else None


def _cast_infer(op: str, inputs: tuple[Node, ...], attrs: dict):
    return inputs[0].shape, dtypes.as_dtype(attrs["dtype"], op), ()


register(Op("cast", infer=_cast_infer, numpy=_cast_ref, kind="elementwise", gate="distribute",
            vjp=_cast_vjp,
            scalar=lambda a, c, at: f"np.{np.dtype(at['dtype']).name}({a[0]})",
            doc="convert to another dtype"))


# -- the public functions ---------------------------------------------------------------
def add(a: object, b: object, name: str | None = None) -> Node:
    """a + b with broadcasting."""
    return apply("add", a, b, name=name)


def sub(a: object, b: object, name: str | None = None) -> Node:
    """a - b with broadcasting."""
    return apply("sub", a, b, name=name)


def mul(a: object, b: object, name: str | None = None) -> Node:
    """a * b with broadcasting."""
    return apply("mul", a, b, name=name)


def div(a: object, b: object, name: str | None = None) -> Node:
    """a / b with broadcasting (floating dtypes)."""
    return apply("div", a, b, name=name)


def pow(a: object, b: object, name: str | None = None) -> Node:  # noqa: A001 - NumPy's name
    """a ** b with broadcasting (floating dtypes)."""
    return apply("pow", a, b, name=name)


def maximum(a: object, b: object, name: str | None = None) -> Node:
    """Elementwise max; the gradient goes to the larger input, ties split it evenly."""
    return apply("maximum", a, b, name=name)


def minimum(a: object, b: object, name: str | None = None) -> Node:
    """Elementwise min; the gradient goes to the smaller input, ties split it evenly."""
    return apply("minimum", a, b, name=name)


def where(cond: object, a: object, b: object, name: str | None = None) -> Node:
    """a where cond is nonzero, else b (cond is a 0/1 node such as gc.greater(x, 0))."""
    return apply("where", cond, a, b, name=name)


def _unary(op: str) -> Callable[..., Node]:
    def fn(x: object, name: str | None = None) -> Node:
        return apply(op, x, name=name)

    fn.__name__ = fn.__qualname__ = op
    return fn


def _comparison(op: str) -> Callable[..., Node]:
    def fn(a: object, b: object, name: str | None = None) -> Node:
        return apply(op, a, b, name=name)

    fn.__name__ = fn.__qualname__ = op
    return fn


neg, exp, log, log1p, expm1, sqrt, tanh, sigmoid, relu, abs, sign = (  # noqa: A001
    _unary(op) for op in ("neg", "exp", "log", "log1p", "expm1", "sqrt", "tanh", "sigmoid", "relu", "abs", "sign"))
greater, greater_equal, less, less_equal, equal, not_equal = (
    _comparison(op) for op in ("greater", "greater_equal", "less", "less_equal", "equal", "not_equal"))


def _alpha(op: str, alpha: object) -> float:
    if isinstance(alpha, (bool, np.bool_)) or not isinstance(alpha, (int, float, np.integer, np.floating)):
        raise GraphError(f"{op}: expected alpha to be a real number but got {type(alpha).__name__} {alpha!r}")
    return float(alpha)


def leaky_relu(x: object, alpha: float = 0.01, name: str | None = None) -> Node:
    """x if x > 0 else alpha * x (the lecture's max(0.1x, x) is alpha=0.1)."""
    return apply("leaky_relu", x, alpha=_alpha("leaky_relu", alpha), name=name)


def elu(x: object, alpha: float = 1.0, name: str | None = None) -> Node:
    """x if x > 0 else alpha * (exp(x) - 1)."""
    return apply("elu", x, alpha=_alpha("elu", alpha), name=name)


def cast(x: object, dtype: object, name: str | None = None) -> Node:
    """x converted to dtype ("float64", "float32" or "int64")."""
    node = as_node(x, "cast")
    target = dtypes.as_dtype(dtype, "cast")
    return node if node.dtype == target else apply("cast", node, dtype=target, name=name)
