"""Pieces the op definitions share: operand lifting, shape rules, unbroadcast."""

from __future__ import annotations

from typing import Any

import numpy as np

from graphc.errors import DTypeError, ShapeError
from graphc.ir import dtypes
from graphc.ir.node import Node, apply, provenance
from graphc.ir.shapes import broadcast_shapes, format_shape


def as_node(value: object, what: str) -> Node:
    """``value`` as a node: nodes pass, numbers and arrays become constants."""
    if isinstance(value, Node):
        return value
    from graphc.ir.node import _lift

    return _lift((value,), what)[0]


def operand_desc(node: Node) -> str:
    return f"{node.label} {format_shape(node.shape)}"


def require_float(op: str, inputs: tuple[Node, ...]) -> None:
    for node in inputs:
        if not dtypes.is_float(node.dtype):
            raise DTypeError(
                f"{op}: {node.label} has dtype {node.dtype} but {op} needs a floating dtype "
                f"(float32 or float64); convert it with gc.cast({node.label}, 'float64')"
            )


def elementwise_infer(float_only: bool):
    """Shape rule of an elementwise op: NumPy broadcasting; dtype: promotion (``apply``
    casts the inputs to it first)."""

    def infer(op: str, inputs: tuple[Node, ...], attrs: dict[str, Any]):
        if float_only:
            require_float(op, inputs)
        shape, bindings = broadcast_shapes(op, ((n.label, n.shape) for n in inputs))
        return shape, dtypes.promote(*(n.dtype for n in inputs)), bindings

    return infer


def unbroadcast(g: Node, like: Node) -> Node:
    """Sum ``g`` over the axes along which ``like`` was broadcast, so the gradient has
    exactly ``like``'s shape (SPEC: gradients have the shape of their variable)."""
    if g.shape == like.shape:
        return g
    with provenance("unbroadcast", like):
        lead = g.ndim - like.ndim
        axes = tuple(range(lead)) + tuple(
            lead + i for i, d in enumerate(like.shape) if d == 1 and g.shape[lead + i] != 1
        )
        out = apply("sum", g, axes=axes, keepdims=True) if axes else g
        if out.shape != like.shape:
            out = apply("reshape", out, shape=like.shape)
        return out


def check_shape(what: str, given: tuple, expected: tuple) -> None:
    if given != expected:
        raise ShapeError(f"{what}: expected shape {format_shape(expected)} but got {format_shape(given)}")


def typed(value: float, dtype: np.dtype) -> np.ndarray:
    return np.asarray(value, dtype=dtype)
