"""Algebraic simplification: rewrites that make kernels cheaper and never change a value.

- ``identity(x)`` (the mark autodiff leaves where a gate hands a gradient on
  unchanged) becomes ``x``;
- ``x ** c`` for c in {1, 2, 3, 0.5, -1, -2} becomes multiplications, sqrt or a division
  (a general pow is a libm call that stops vectorization);
- ``x * 1``, ``x + -0.0``, ``x - 0``, ``x / 1`` become ``x`` when that keeps the shape;
- an elementwise op over *uniform* values (scalar constants, possibly broadcast) is
  computed once: ``broadcast_to(1) * 2`` becomes ``broadcast_to(2)``;
- a broadcast operand is used as it is when the other operands already give the
  result its shape, and a reshaped scalar broadcasts without the reshape;
- ``neg(neg(x))``, ``reshape(reshape(x))``, ``transpose(transpose(x))``,
  ``broadcast_to(broadcast_to(x))`` collapse, and
  a keepdims reduction reshaped to drop the kept axes is a reduction without keepdims.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from graphc.ir.node import Node, apply, constant
from graphc.ir.op import lookup
from graphc.ir.shapes import broadcast_shapes
from graphc.passes.fold import uniform_element
from graphc.passes.rewrite import rewrite

POW_REWRITES = {
    1.0: lambda x: x,
    2.0: lambda x: x * x,
    3.0: lambda x: x * x * x,
    0.5: lambda x: apply("sqrt", x),
    -1.0: lambda x: 1.0 / x,
    -2.0: lambda x: 1.0 / (x * x),
}


def scalar_value(node: Node) -> float | None:
    """The value of a constant whose elements are all equal (a uniform constant), seen
    through broadcast_to; None otherwise."""
    while node.op == "broadcast_to":
        node = node.inputs[0]
    if node.op != "const":
        return None
    element = uniform_element(node.attrs["value"])
    return None if element is None else element.item()


def _uniform_result(node: Node) -> Node | None:
    """An elementwise op of uniform operands, computed once and broadcast."""
    if not node.inputs or any(scalar_value(i) is None for i in node.inputs):
        return None
    if all(i.op == "const" for i in node.inputs):
        return None  # constant folding's job
    scalars = [np.asarray(scalar_value(i), dtype=i.dtype) for i in node.inputs]
    with np.errstate(all="ignore"):
        value = lookup(node.op).numpy(scalars, node.attrs, {})
    return apply("broadcast_to", constant(np.asarray(value), node.dtype), shape=node.shape)


def _unbroadcast_operands(node: Node) -> Node | None:
    """Use y instead of broadcast_to(y) where the other operands already give the shape
    (elementwise ops broadcast anyway, and the loop then reads y directly)."""
    inputs = list(node.inputs)
    changed = False
    for k, x in enumerate(inputs):
        if x.op != "broadcast_to":
            continue
        trial = [*inputs[:k], x.inputs[0], *inputs[k + 1:]]
        shape, _ = broadcast_shapes(node.op, ((t.label, t.shape) for t in trial))
        if shape == node.shape:
            inputs, changed = trial, True
    if not changed:
        return None
    return apply(node.op, *inputs, **node.attrs)


def _identity_operand(node: Node) -> Node | None:
    """x * 1, 1 * x, x + -0.0, -0.0 + x, x - 0, x / 1 -> x (when x already has the result's shape).
    Not x + 0.0: -0.0 + 0.0 is 0.0."""
    neutral = {"mul": (1.0, (0, 1)), "add": (-0.0, (0, 1)), "sub": (0.0, (1,)), "div": (1.0, (1,))}
    if node.op not in neutral:
        return None
    value, slots = neutral[node.op]
    for k in slots:
        other = node.inputs[1 - k]
        c = scalar_value(node.inputs[k])
        if (c == value and math.copysign(1, c) == math.copysign(1, value) and other.shape == node.shape
                and other.dtype == node.dtype):
            return other
    return None


def _dropped(reduction: Node) -> tuple:
    """The shape of a keepdims reduction without its kept axes."""
    axes = reduction.attrs["axes"]
    return tuple(d for i, d in enumerate(reduction.inputs[0].shape) if i not in axes)


def simplify_rule(node: Node) -> Node | None:
    op = node.op
    if op == "identity":  # a gate's mark in the backward graph: the kernel needs no copy
        return node.inputs[0]
    if op == "pow":
        c = scalar_value(node.inputs[1])
        base = node.inputs[0]
        if c in POW_REWRITES and base.shape == node.shape:
            return POW_REWRITES[c](base)
    if op == "broadcast_to" and node.inputs[0].op == "broadcast_to":  # broadcasting composes
        return apply("broadcast_to", node.inputs[0].inputs[0], shape=node.shape)
    if op == "broadcast_to" and node.inputs[0].op == "reshape" and node.inputs[0].inputs[0].shape == ():
        return apply("broadcast_to", node.inputs[0].inputs[0], shape=node.shape)  # a scalar broadcasts as is
    if op == "neg" and node.inputs[0].op == "neg":
        return node.inputs[0].inputs[0]
    if op == "reshape":
        x = node.inputs[0]
        if x.op in ("sum", "max") and x.attrs["keepdims"] and _dropped(x) == node.shape:
            return apply(x.op, x.inputs[0], axes=x.attrs["axes"], keepdims=False)
        source = x.inputs[0] if x.op == "reshape" else x
        if source.shape == node.shape:
            return source
        if source is not x:
            return apply("reshape", source, shape=node.attrs["shape"])
    if op == "transpose" and node.inputs[0].op == "transpose":
        inner = node.inputs[0]
        axes = tuple(inner.attrs["axes"][a] for a in node.attrs["axes"])
        source = inner.inputs[0]
        return source if axes == tuple(range(len(axes))) else apply("transpose", source, axes=axes)
    if lookup(op).kind == "elementwise" and op not in ("broadcast_to", "cast"):
        for rule in (_uniform_result, _identity_operand, _unbroadcast_operands):
            replacement = rule(node)
            if replacement is not None:
                return replacement
    return None


def simplify(outputs: Sequence[Node]) -> list[Node]:
    return rewrite(outputs, simplify_rule)
