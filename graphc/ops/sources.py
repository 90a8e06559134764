"""Where values enter a graph: inputs, constants, one_hot labels."""

from __future__ import annotations

from typing import Any

import numpy as np

from graphc.errors import DTypeError, GraphError, ShapeError
from graphc.ir import dtypes
from graphc.ir.node import Node, apply, constant, renamed
from graphc.ir.op import Op, register
from graphc.ir.shapes import as_shape


def _no_infer(op: str, inputs: tuple[Node, ...], attrs: dict[str, Any]):
    raise GraphError(f"{op} nodes are made by gc.{op}(), not by apply")


def _unreachable_ref(args, attrs, dims):
    raise GraphError("input values are supplied by the caller")


register(Op("input", infer=_no_infer, numpy=_unreachable_ref, vjp=None, gate="local", kind="source",
            doc="a value supplied at call time"))
register(Op("const", infer=_no_infer, numpy=lambda args, at, dims: at["value"], vjp=None, gate="local",
            kind="source", doc="a value fixed at declaration"))


def _one_hot_infer(op: str, inputs: tuple[Node, ...], attrs: dict[str, Any]):
    (labels,) = inputs
    if labels.dtype != dtypes.INT64:
        raise DTypeError(f"{op}: {labels.label} has dtype {labels.dtype} but one_hot needs int64 labels")
    return labels.shape + (attrs["classes"],), attrs["dtype"], ()


def _one_hot_ref(args, attrs, dims):
    (labels,) = args
    return (labels[..., None] == np.arange(attrs["classes"])).astype(attrs["dtype"])


def _one_hot_lower(w, node: Node, name: str, args: list, note: str) -> None:
    """Zeros, then a 1 at each row's label (labels out of range leave the row zero)."""
    (labels,) = args
    classes = node.attrs["classes"]
    one = w.lit(1, node.dtype)
    w.fill(name, node.shape, node, w.lit(0, node.dtype), note)
    if labels.scalar:
        w.emit(f"if 0 <= {labels.expr} < {classes}:")
        w.emit(f"{name}[{labels.expr}] = {one}", 2)
        return
    flat_labels = w.flat(w.contiguous(labels, node.inputs[0]))
    label = w.namer.fresh("label")
    if node.ndim == 2:  # already (labels, classes)
        rows = name
    else:
        rows = w.namer.fresh(f"{name}_rows")
        w.emit(f"{rows} = {w.helper('shaped_view')}({name}, ({w.size_expr(node.inputs[0].shape)}, {classes}))")
    w.emit(f"for i, {label} in enumerate({flat_labels}):")
    w.emit(f"if 0 <= {label} < {classes}:", 2)
    w.emit(f"{rows}[i, {label}] = {one}", 3)


register(Op("one_hot", infer=_one_hot_infer, numpy=_one_hot_ref, vjp=lambda n, g, i: None,
            gate="local", kind="opaque", lower=_one_hot_lower,
            doc="1 at each label's class, 0 elsewhere (a row of zeros for labels out of range); no gradient"))


def input(name: str, shape: tuple = (), dtype: object = "float64") -> Node:  # noqa: A001 - the SPEC's name
    """A value supplied when the compiled function is called.

    ``shape`` is a tuple of ints and names; a named dim ("N") is bound at call time.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise GraphError(f"input: expected a name that is a Python identifier but got {name!r}")
    return Node("input", (), {}, as_shape(shape, f"input {name}"), dtypes.as_dtype(dtype, f"input {name}"),
                name=name)


def const(value: object, dtype: object = None, name: str | None = None) -> Node:
    """A constant node (Python operators make these automatically from numbers and arrays)."""
    node = constant(value, None if dtype is None else dtypes.as_dtype(dtype, "const"))
    return node if name is None else renamed(node, name)


def one_hot(labels: object, classes: int, dtype: object = "float64", name: str | None = None) -> Node:
    """One-hot rows of int64 ``labels``: shape labels.shape + (classes,)."""
    if isinstance(classes, bool) or not isinstance(classes, (int, np.integer)) or classes <= 0:
        raise ShapeError(f"one_hot: expected a positive int number of classes but got {classes!r}")
    return apply("one_hot", labels, classes=int(classes), dtype=dtypes.as_dtype(dtype, "one_hot"), name=name)
