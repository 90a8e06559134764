"""transpose, reshape, broadcast_to: ops that move whole axes."""

from __future__ import annotations

from typing import Any

import numpy as np

from graphc.errors import ShapeError
from graphc.ir.node import Node, apply
from graphc.ir.op import Op, register
from graphc.ir.shapes import (
    as_shape,
    broadcast_shapes,
    dimwise_bindings,
    format_shape,
    reshape_bindings,
    reshape_target,
    resolve,
)
from graphc.ops._common import as_node, unbroadcast


# -- transpose and reshape: views that route the gradient back unchanged ---------------
def _transpose_infer(op: str, inputs: tuple[Node, ...], attrs: dict[str, Any]):
    (x,) = inputs
    axes = attrs["axes"]
    if sorted(axes) != list(range(x.ndim)):
        raise ShapeError(f"{op}: axes {axes!r} are not a permutation of the {x.ndim} axes of {x.label}")
    return tuple(x.shape[a] for a in axes), x.dtype, ()


def _transpose_lower(w, node: Node, name: str, args: list, note: str) -> str:
    """A view: x.T for 2-D (a C array's is F), a permuted view otherwise."""
    axes = node.attrs["axes"]
    if len(axes) == 2:
        w.emit(f"{name} = {args[0].expr}.T{note}")
    else:
        w.emit(f"{name} = {w.permuted(args[0].expr, axes)}{note}")
    return "F" if len(axes) == 2 and args[0].layout == "C" else "A"


register(Op("transpose", infer=_transpose_infer,
            numpy=lambda args, at, dims: np.transpose(args[0], at["axes"]),
            vjp=lambda n, g, i: transpose(g, tuple(np.argsort(n.attrs["axes"]).tolist())),
            gate="distribute", kind="view", lower=_transpose_lower))


def _reshape_infer(op: str, inputs: tuple[Node, ...], attrs: dict[str, Any]):
    (x,) = inputs
    shape = reshape_target(f"{op} of {x.label}", x.shape, attrs["shape"])
    return shape, x.dtype, reshape_bindings(x.shape, shape)


def _reshape_lower(w, node: Node, name: str, args: list, note: str) -> None:
    """A view of a C-contiguous array (a copy first otherwise); a scalar fills an array."""
    (src,) = args
    if src.scalar:
        w.fill(name, node.shape, node, src.expr, note)
    elif node.shape == ():
        w.emit(f"{name} = {w.flat(w.contiguous(src, node.inputs[0]))}[0]{note}")
    else:
        w.emit(f"{name} = {w.shaped(w.contiguous(src, node.inputs[0]), node.shape)}{note}")


register(Op("reshape", infer=_reshape_infer,
            numpy=lambda args, at, dims: np.reshape(args[0], resolve(at["shape"], dims)),
            vjp=lambda n, g, i: reshape(g, n.inputs[0].shape),
            gate="distribute", kind="view", lower=_reshape_lower))


def _broadcast_to_infer(op: str, inputs: tuple[Node, ...], attrs: dict[str, Any]):
    (x,) = inputs
    target = attrs["shape"]
    shape, bindings = broadcast_shapes(op, ((x.label, x.shape), ("the target", target)))
    needed = dimwise_bindings(shape, target)  # (3, 4) to (N, 4) binds N = 3, as broadcasting does
    if needed is None or not set(needed) <= set(bindings):
        raise ShapeError(f"{op}: {x.label} of shape {format_shape(x.shape)} does not broadcast "
                         f"to {format_shape(target)}")
    return target, x.dtype, bindings


register(Op("broadcast_to", infer=_broadcast_to_infer,
            numpy=lambda args, at, dims: np.broadcast_to(args[0], resolve(at["shape"], dims)),
            vjp=lambda n, g, i: unbroadcast(g, n.inputs[0]),
            gate="distribute", kind="elementwise", scalar=lambda a, c, at: a[0],
            doc="x repeated along broadcast axes (the gradient of a sum)"))


# -- the public functions ----------------------------------------------------------------
def transpose(x: object, axes: tuple[int, ...] | None = None, name: str | None = None) -> Node:
    """x with its axes permuted (reversed by default, like x.T)."""
    node = as_node(x, "transpose")
    if axes is None:
        axes = tuple(reversed(range(node.ndim)))
    else:
        axes = tuple(axes) if isinstance(axes, (tuple, list)) else (axes,)
        for a in axes:
            if isinstance(a, bool) or not isinstance(a, (int, np.integer)) or not -node.ndim <= a < node.ndim:
                raise ShapeError(f"transpose: axes {axes!r} must be a permutation of the {node.ndim} axes of "
                                 f"{node.label} but {a!r} is not an axis")
        axes = tuple(int(a) % node.ndim for a in axes)
    return node if axes == tuple(range(node.ndim)) else apply("transpose", node, axes=axes, name=name)


def reshape(x: object, shape: tuple, name: str | None = None) -> Node:
    """x with a new shape of as many elements; one dim may be -1; named dims allowed."""
    node = as_node(x, "reshape")
    target = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
    new = reshape_target(f"reshape of {node.label}", node.shape, target)
    return node if new == node.shape else apply("reshape", node, shape=new, name=name)


def broadcast_to(x: object, shape: tuple, name: str | None = None) -> Node:
    """x broadcast to ``shape`` (NumPy rules)."""
    node = as_node(x, "broadcast_to")
    target = as_shape(shape, f"broadcast_to of {node.label}")
    return node if target == node.shape else apply("broadcast_to", node, shape=target, name=name)
