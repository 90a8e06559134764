"""Reductions over axes: sum (distributes the gradient), max (routes it), and mean."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from graphc.errors import ShapeError
from graphc.ir import dtypes
from graphc.ir.node import Node, apply
from graphc.ir.op import Op, lookup, register
from graphc.ir.shapes import Dim, normalize_axes, resolve
from graphc.ops._common import as_node, require_float
from graphc.ops.structural import broadcast_to, reshape


def _kept_shape(x: Node, axes: tuple[int, ...]) -> tuple[Dim, ...]:
    return tuple(1 if i in axes else d for i, d in enumerate(x.shape))


def _reduce_infer(op: str, inputs: tuple[Node, ...], attrs: dict[str, Any]):
    (x,) = inputs
    axes, keep = attrs["axes"], attrs["keepdims"]
    if normalize_axes(op, axes, x.ndim) != axes:  # the functions below normalize; graphc.ir.apply may not
        raise ShapeError(f"{op}: axes must be a sorted tuple of distinct axes of {x.label} "
                         f"({x.ndim} dims) but got {axes!r}")
    if lookup(op).nonempty and any(x.shape[a] == 0 for a in axes):
        raise ShapeError(f"{op}: {x.label} has an empty axis among {axes}: {op} of no elements is undefined")
    shape = _kept_shape(x, axes) if keep else tuple(d for i, d in enumerate(x.shape) if i not in axes)
    return shape, x.dtype, ()


def _as_kept(node: Node, x: Node) -> Node:
    """A reduction's result (or its gradient) with the reduced axes kept as size 1."""
    kept = _kept_shape(x, node_axes(node))
    return node if node.shape == kept else reshape(node, kept)


def node_axes(node: Node) -> tuple[int, ...]:
    return node.attrs["axes"]


def _sum_vjp(node: Node, g: Node, i: int) -> Node:
    """sum distributes: every element gets the upstream gradient."""
    x = node.inputs[0]
    kept = _kept_shape(x, node_axes(node))
    g_kept = g if g.shape == kept else reshape(g, kept)
    return broadcast_to(g_kept, x.shape)


def _max_vjp(node: Node, g: Node, i: int) -> Node:
    """max routes: the gradient goes to the maximal elements, split evenly among ties."""
    x = node.inputs[0]
    axes = node_axes(node)
    kept = _kept_shape(x, axes)
    winners = apply("equal", x, node if node.shape == kept else reshape(node, kept))
    count = apply("sum", winners, axes=axes, keepdims=True)
    g_kept = g if g.shape == kept else reshape(g, kept)
    return winners * (g_kept / count)


def _lowest(dtype: np.dtype) -> float:
    return -math.inf if dtype.kind == "f" else int(np.iinfo(dtype).min)


register(Op("sum", infer=_reduce_infer,
            numpy=lambda args, at, dims: np.sum(args[0], axis=at["axes"], keepdims=at["keepdims"]),
            vjp=_sum_vjp, gate="distribute", kind="reduce",
            identity=lambda dtype: 0, combine=lambda acc, x: [f"{acc} += {x}"]))
register(Op("max", infer=_reduce_infer,
            numpy=lambda args, at, dims: np.max(args[0], axis=at["axes"], keepdims=at["keepdims"]),
            vjp=_max_vjp, gate="route", kind="reduce", nonempty=True, identity=_lowest,
            # NaN-propagating like np.max, the last of equal elements (as np.max: -0.0 or 0.0);
            # one conditional expression, which LLVM makes a select: an if-statement was a
            # branch the data decides, mispredicted half the time on a ReLU's output (W5's
            # 2x2 pool: 842 us against 167 us)
            combine=lambda acc, x: [f"{acc} = {x} if {x} >= {acc} or {x} != {x} else {acc}"]))


def _numel_infer(op: str, inputs: tuple[Node, ...], attrs: dict[str, Any]):
    return (), dtypes.as_dtype(attrs["dtype"], op), ()


def _numel_lower(w, node: Node, name: str, args: list, note: str) -> None:
    count = " * ".join(w.dim(d) for d in node.attrs["dims"]) or "1"
    w.emit(f"{name} = {w.np_dtype(node)}({count}){note}")


register(Op("numel", infer=_numel_infer, lower=_numel_lower,
            numpy=lambda args, at, dims: np.asarray(
                math.prod(resolve(at["dims"], dims)), dtype=at["dtype"]),
            vjp=None, gate="local", kind="source",
            doc="the product of some dims, known once named dims are bound (e.g. a mean's count)"))


# -- the public functions ------------------------------------------------------------------
def _reduce(op: str, x: object, axis: object, keepdims: bool, name: str | None) -> Node:
    node = as_node(x, op)
    axes = normalize_axes(op, axis, node.ndim)
    if not axes and not keepdims:
        return node
    return apply(op, node, axes=axes, keepdims=bool(keepdims), name=name)


def sum(x: object, axis: object = None, keepdims: bool = False, name: str | None = None) -> Node:  # noqa: A001
    """Sum over ``axis`` (None: all, int or tuple); the gradient is distributed."""
    return _reduce("sum", x, axis, keepdims, name)


def max(x: object, axis: object = None, keepdims: bool = False, name: str | None = None) -> Node:  # noqa: A001
    """Max over ``axis``; the gradient is routed to the maxima, ties split it evenly."""
    return _reduce("max", x, axis, keepdims, name)


def mean(x: object, axis: object = None, keepdims: bool = False, name: str | None = None) -> Node:
    """Mean over ``axis``: a sum divided by the count (a constant, or a numel node when
    the count involves named dims)."""
    node = as_node(x, "mean")
    require_float("mean", (node,))
    axes = normalize_axes("mean", axis, node.ndim)
    reduced = [node.shape[a] for a in axes]
    if all(isinstance(d, int) for d in reduced):
        count: object = np.asarray(math.prod(reduced), dtype=node.dtype)
    else:
        count = apply("numel", dims=tuple(reduced), dtype=node.dtype)
    return apply("div", _reduce("sum", node, axes, keepdims, None), count, name=name)
