"""Joining and cutting arrays: concatenate (and stack on it), split and pad (on the
slices of graphc.ops.indexing), and argmax/argmin, with NumPy's names and rules.

Gates: concatenate distributes (each input gets its own part of the upstream
gradient, a slice); stack likewise (its parts are unstacked); each piece of split is a
slice, which routes, so x gets the sum of the pieces' zero-padded gradients (the
branch rule; their sum is the concatenation of the pieces' gradients); pad distributes
(its gradient is the slice of the upstream without the padding). argmax and argmin
are integer positions: no gradient flows through them.

A size along the joined or padded axis must be fixed: N + 3 is not a graphc dim.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from graphc.errors import ArgumentError, GraphError, ShapeError
from graphc.ir import dtypes
from graphc.ir.node import Node, apply
from graphc.ir.op import Op, register
from graphc.ir.shapes import Dim, format_shape, normalize_axes, unify_dim
from graphc.ops._common import as_node
from graphc.ops.indexing import described, getitem


# -- concatenate ------------------------------------------------------------------------------------------
def _concat_infer(op: str, inputs: tuple[Node, ...], attrs: dict[str, Any]):
    axis = attrs["axis"]
    first = inputs[0]
    shape: list[Dim] = list(first.shape)
    bindings = []
    for x in inputs:
        if x.ndim != first.ndim or x.dtype != first.dtype or not 0 <= axis < x.ndim:
            raise ShapeError(f"{op}: {x.label} is {x.type_str} but {first.label} is {first.type_str}: "
                             f"the inputs must have one dtype and the same number of dims, with axis {axis}")
        for k, d in enumerate(x.shape):
            if k == axis:
                continue
            met = unify_dim(shape[k], d, broadcast=False)
            if met is None:
                raise ShapeError(f"{op}: {x.label} has shape {format_shape(x.shape)} but {first.label} has "
                                 f"{format_shape(first.shape)}: dims other than axis {axis} must match")
            shape[k] = met[0]
            if met[1] is not None:
                bindings.append(met[1])
    sizes = [x.shape[axis] for x in inputs]
    named = [d for d in sizes if isinstance(d, str)]
    if named:
        raise ShapeError(f"{op}: joining along the named dim {named[0]} of "
                         f"{next(x.label for x in inputs if x.shape[axis] == named[0])} gives a size that is "
                         "neither fixed nor a named dim; join along a fixed axis")
    shape[axis] = sum(sizes)  # type: ignore[arg-type]
    return tuple(shape), first.dtype, tuple(sorted(set(bindings)))


def _offsets(node: Node) -> list[int]:
    axis = node.attrs["axis"]
    sizes = [x.shape[axis] for x in node.inputs]
    return [sum(sizes[:i]) for i in range(len(sizes))]


def _concat_vjp(node: Node, g: Node, i: int) -> Node:
    """Each input gets its own part of the upstream gradient."""
    axis, size = node.attrs["axis"], node.inputs[i].shape[node.attrs["axis"]]
    start = _offsets(node)[i]
    return getitem(g, (slice(None),) * axis + (slice(start, start + size),))


def _concat_lower(w, node: Node, name: str, args: list, note: str) -> None:
    axis = node.attrs["axis"]
    w.emit(f"{name} = {w.alloc(node.shape, node)}{note}")
    for x, value, start in zip(node.inputs, args, _offsets(node)):
        part = w.namer.fresh(f"{name}_part")
        at = ", ".join([":"] * axis + [f"{start}:{start + x.shape[axis]}"])
        w.emit(f"{part} = {name}[{at}]  # the place of %{w.ids[x]}")
        loops = w.nested_loops(x.shape)
        index = ", ".join(loops)
        w.emit(f"{part}[{index}] = {value.expr}[{index}]", 1 + len(loops))


register(Op("concatenate", infer=_concat_infer, vjp=_concat_vjp, gate="distribute", kind="opaque",
            numpy=lambda args, at, dims: np.concatenate(args, axis=at["axis"]), lower=_concat_lower,
            doc="the inputs joined along `axis` (a fixed axis); the gradient is each input's slice"))


# -- argmax and argmin --------------------------------------------------------------------------------------
def _arg_infer(op: str, inputs: tuple[Node, ...], attrs: dict[str, Any]):
    (x,) = inputs
    axis, keep = attrs["axis"], attrs["keepdims"]
    axes = tuple(range(x.ndim)) if axis is None else (axis,)
    if any(x.shape[a] == 0 for a in axes):
        raise ShapeError(f"{op}: {x.label} has shape {format_shape(x.shape)}: the {op} of an empty axis is undefined")
    if keep:
        shape = tuple(1 if k in axes else d for k, d in enumerate(x.shape))
    else:
        shape = tuple(d for k, d in enumerate(x.shape) if k not in axes)
    return shape, dtypes.INT64, ()


def _arg_ref(fn):
    def ref(args, attrs, dims):
        (x,) = args
        axis = attrs["axis"]
        if (x.size if axis is None else x.shape[axis]) == 0:
            raise ArgumentError(f"{attrs['what']}: the axis is empty at this call (size 0): no position to give")
        return fn(x, axis=axis, keepdims=attrs["keepdims"]).astype(np.int64)

    return ref


def _arg_lower(w, node: Node, name: str, args: list, note: str) -> None:
    """The position of the first extreme value (or first NaN, as NumPy) along the axis:
    x viewed as (before, axis, after), one scan per (before, after) pair."""
    x, value = node.inputs[0], args[0]
    if value.scalar:  # a 0-d array has one position
        w.emit(f"{name} = 0{note}")
        return
    axis = node.attrs["axis"]
    before = x.shape[:axis] if axis is not None else ()
    along = x.shape[axis:axis + 1] if axis is not None else x.shape
    after = x.shape[axis + 1:] if axis is not None else ()
    p, d, q = w.size_expr(before), w.size_expr(along), w.size_expr(after)
    better = ">" if node.op == "argmax" else "<"
    view, best, at, v = (w.namer.fresh(s) for s in (f"{name}_x", "best", "at", "v"))
    out = name if node.shape and node.ndim == 1 else w.namer.fresh(f"{name}_flat")
    if not all(isinstance(s, int) for s in along):  # a named dim may be 0 at a call
        w.emit(f"if {d} == 0:")
        w.imports.add("ArgumentError")
        w.emit(f"raise ArgumentError({node.attrs['what'] + ': the axis is empty at this call (size 0)'!r})", 2)
    w.imports.add("shaped_view")
    w.emit(f"{view} = shaped_view({w.contiguous(value, x)}, ({p}, {d}, {q}))")
    w.emit(f"{out} = np.empty({p} * {q}, dtype=np.int64){note}")
    w.emit(f"for i0 in range({p}):")
    w.emit(f"for i1 in range({q}):", 2)
    w.emit(f"{best} = {view}[i0, 0, i1]", 3)
    w.emit(f"{at} = 0", 3)
    w.emit(f"for i2 in range(1, {d}):", 3)
    w.emit(f"{v} = {view}[i0, i2, i1]", 4)
    w.emit(f"if {v} {better} {best} or ({v} != {v} and {best} == {best}):", 4)
    w.emit(f"{best}, {at} = {v}, i2", 5)
    w.emit(f"{out}[i0 * {q} + i1] = {at}", 3)
    if node.shape == ():
        w.emit(f"{name} = {out}[0]")
    elif out != name:
        w.emit(f"{name} = {w.shaped(out, node.shape)}")


for _op, _fn in (("argmax", np.argmax), ("argmin", np.argmin)):
    register(Op(_op, infer=_arg_infer, numpy=_arg_ref(_fn), vjp=None, gate="local", kind="opaque", lower=_arg_lower,
                doc=f"the int64 position of the {_op[3:]} along `axis` (of the flattened array for None; "
                    "the first one on ties, or the first NaN); no gradient"))


# -- the public functions ------------------------------------------------------------------------------
def _axis(what: str, axis: object, ndim: int) -> int:
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)) or not -ndim <= axis < ndim:
        raise ShapeError(f"{what}: axis {axis!r} is not an axis of an operand of {ndim} dims")
    return int(axis) % ndim


def _nodes(what: str, arrays: object) -> list[Node]:
    if isinstance(arrays, (Node, np.ndarray)) or not isinstance(arrays, Sequence) or not arrays:
        raise GraphError(f"{what}: expected a non-empty list of arrays or nodes but got {type(arrays).__name__}")
    nodes = [as_node(a, what) for a in arrays]
    target = dtypes.promote(*(n.dtype for n in nodes))
    return [n if n.dtype == target else apply("cast", n, dtype=target) for n in nodes]


def concatenate(arrays: Sequence[object], axis: int = 0, name: str | None = None) -> Node:
    """``np.concatenate``: the arrays joined along an existing ``axis`` (of a fixed size);
    dtypes promote. The gradient gives each input its slice of the upstream gradient."""
    nodes = _nodes("concatenate", arrays)
    if any(n.ndim == 0 for n in nodes):
        raise ShapeError("concatenate: 0-d arrays cannot be concatenated (use gc.stack)")
    a = _axis("concatenate", axis, nodes[0].ndim)
    return nodes[0] if len(nodes) == 1 and name is None else apply("concatenate", *nodes, axis=a, name=name)


def stack(arrays: Sequence[object], axis: int = 0, name: str | None = None) -> Node:
    """``np.stack``: arrays of one shape joined along a new ``axis``."""
    nodes = _nodes("stack", arrays)
    a = _axis("stack", axis, nodes[0].ndim + 1)
    if any(n.ndim != nodes[0].ndim for n in nodes):
        shapes = ", ".join(f"{n.label} {format_shape(n.shape)}" for n in nodes)
        raise ShapeError(f"stack: all inputs must have the same shape but got {shapes}")
    return apply("concatenate", *(getitem(n, (slice(None),) * a + (None,)) for n in nodes), axis=a, name=name)


def split(x: object, indices_or_sections: int | Sequence[int], axis: int = 0) -> list[Node]:
    """``np.split``: x cut along a fixed ``axis`` into equal sections, or at the given
    indices. The pieces are slices of x."""
    node = as_node(x, "split")
    a = _axis("split", axis, node.ndim)
    size = node.shape[a]
    if isinstance(size, str):
        raise ShapeError(f"split: axis {a} of {node.label} is the named dim {size}: the pieces' sizes would "
                         "depend on it; split along a fixed axis")
    if isinstance(indices_or_sections, (int, np.integer)) and not isinstance(indices_or_sections, bool):
        sections = int(indices_or_sections)
        if sections <= 0 or size % sections:
            raise ShapeError(f"split: {sections} sections do not divide axis {a} of {node.label} (size {size}) "
                             "equally")
        cuts = [size // sections * k for k in range(1, sections)]
    elif isinstance(indices_or_sections, Sequence) and all(
            isinstance(c, (int, np.integer)) and not isinstance(c, bool) for c in indices_or_sections):
        cuts = [int(c) for c in indices_or_sections]
    else:
        raise GraphError(f"split: expected a number of sections or a list of indices but got "
                         f"{indices_or_sections!r}")
    bounds = [None, *cuts, None]
    return [getitem(node, (slice(None),) * a + (slice(lo, hi),)) for lo, hi in zip(bounds, bounds[1:])]


def pad(x: object, pad_width: object, mode: str = "constant", constant_values: float = 0,
        name: str | None = None) -> Node:
    """``np.pad`` in constant mode: ``pad_width`` is an int, a (before, after) pair, or one
    pair per axis; the padding holds ``constant_values`` (a number). A padded axis must
    have a fixed size. The gradient is the slice of the upstream gradient without the padding."""
    node = as_node(x, "pad")
    if mode != "constant":
        raise GraphError(f"pad: only mode='constant' is supported but got mode={mode!r}")
    if isinstance(constant_values, (bool, np.bool_)) or not isinstance(constant_values, (int, float, np.number)):
        raise GraphError(f"pad: constant_values must be a number but got {constant_values!r}")
    try:
        widths = np.broadcast_to(np.asarray(pad_width), (node.ndim, 2))
    except ValueError:
        raise ShapeError(f"pad: pad_width {pad_width!r} does not give (before, after) for the {node.ndim} axes of "
                         f"{node.label}") from None
    if widths.dtype.kind not in "iu" or np.any(widths < 0):
        raise ShapeError(f"pad: pad_width must hold non-negative ints but got {pad_width!r}")
    index, shape = [], []
    for k, (d, (before, after)) in enumerate(zip(node.shape, widths.tolist())):
        if isinstance(d, str):
            if before or after:
                raise ShapeError(f"pad: axis {k} of {node.label} is the named dim {d}: padding it gives a size that "
                                 "is neither fixed nor a named dim")
            index.append((0, 1, d))
            shape.append(d)
        else:
            index.append((before, 1, d) if d else (0, 1, 0))
            shape.append(before + d + after)
    if tuple(shape) == node.shape:
        return node
    fill = float(constant_values) if dtypes.is_float(node.dtype) else int(constant_values)
    return apply("unslice", node, index=tuple(index), shape=tuple(shape), fill=fill, what=f"pad({described(node)})",
                 name=name)


def _arg(op: str, x: object, axis: int | None, keepdims: bool, name: str | None) -> Node:
    node = as_node(x, op)
    a = None if axis is None else normalize_axes(op, axis, node.ndim)
    if a is not None and len(a) != 1:
        raise ShapeError(f"{op}: axis must be None or one int but got {axis!r}")
    return apply(op, node, axis=None if a is None else a[0], keepdims=bool(keepdims),
                 what=f"{op}({described(node)})", name=name)


def argmax(x: object, axis: int | None = None, keepdims: bool = False, name: str | None = None) -> Node:
    """``np.argmax``: the int64 position of the largest value along ``axis`` (None: in the
    flattened array); the first on ties, NaN counts as largest. No gradient."""
    return _arg("argmax", x, axis, keepdims, name)


def argmin(x: object, axis: int | None = None, keepdims: bool = False, name: str | None = None) -> Node:
    """``np.argmin``: the int64 position of the smallest value along ``axis``; see argmax."""
    return _arg("argmin", x, axis, keepdims, name)
