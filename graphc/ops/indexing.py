"""Indexing as in NumPy: ``x[...]`` with slices, integers, None and Ellipsis (``slice``),
with integer arrays or int64 nodes (``gather``), and ``take_along_axis``; their adjoints
``unslice`` (zeros with the values placed back) and ``scatter_add``.

Semantics (NumPy's, within a static graph):

- Result shapes follow NumPy's basic and advanced indexing rules, including where the
  dims of several index arrays go (in place when the advanced indices are adjacent,
  first otherwise; integers count as advanced indices when arrays are present).
- A fixed dim is sliced exactly as NumPy slices it, and an integer out of its range
  is an error at declaration.
- A named dim ("N") keeps its name under a full slice (``:``, ``::-1``). A slice of it
  with fixed bounds on one side of the axis (``x[:3]``, ``x[2:5]``, ``x[-3:]``,
  ``x[0]``, ``x[-1]``) has a fixed size and needs the named dim to be large enough at
  call time, else an ``IndexRangeError`` (NumPy would silently give a shorter
  result, which would contradict the declared shape). A slice whose size depends on
  the named dim (``x[1:]``, ``x[::2]``) is a ShapeError at declaration: graphc dims
  are fixed or named, never N - 1.
- Gather indices may be negative (counted from the end, as NumPy does). An index out
  of range raises ``IndexRangeError`` (an ``ArgumentError`` and an ``IndexError``) at
  call time, from the interpreter and from compiled kernels alike: graphc follows
  NumPy, not JAX, which clamps gathers and drops out-of-range scatters silently.
- Boolean masks (data-dependent shapes) and item assignment are not supported: use
  ``gc.where``.

Gates. A slice routes: the selected entries get the upstream gradient unchanged, the
others 0 (``unslice`` pads it with zeros). A gather's gradient is a scatter-add, whose
gate is *sum*: an entry gathered k times is a value with k consumers, so it gets the
sum of their gradients, exactly as at a branch (and 0 if never gathered). The
adjoints themselves distribute: each of their input entries gets the upstream
gradient at its own position.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from graphc.errors import DTypeError, GraphError, IndexRangeError, ShapeError
from graphc.ir import dtypes
from graphc.ir.node import Node, apply
from graphc.ir.op import Op, register
from graphc.ir.shapes import Dim, Shape, broadcast_shapes, format_shape, resolve
from graphc.ops._common import as_node
from graphc.ops.structural import transpose

# An index entry, one per input axis plus one per new axis, normalized:
#   None                 a new axis of size 1
#   int                  an integer index (the axis is dropped)
#   (start, step, count) the positions start + k * step, k < count; count is the dim's
#                        name for a full slice of a named dim
# Positions of a fixed dim are in [0, dim). On a named dim a negative start or integer
# counts from the end (N + start), as NumPy's negative indices do.
Entry = None | int | tuple[int, int, Dim]


# -- positions on named dims ------------------------------------------------------------------
def _span(entry: Entry) -> tuple[int, int]:
    """The first and last positions (or offsets from the end) an entry selects."""
    if isinstance(entry, int):
        return entry, entry
    start, step, count = entry  # type: ignore[misc]
    return start, start + step * (count - 1)  # type: ignore[operator]


def _needs(entry: Entry) -> int:
    """The least size a named dim must have for ``entry`` to select what it declared."""
    if entry is None or (isinstance(entry, tuple) and (isinstance(entry[2], str) or entry[2] == 0)):
        return 0
    first, last = _span(entry)
    return max(first, last) + 1 if first >= 0 else -min(first, last)


def _named_entries(x: Shape, entries: tuple[Entry, ...]) -> list[tuple[int, str, int]]:
    """(axis, name, least size) of each named dim the entries need to be large enough."""
    out, axis = [], 0
    for e in entries:
        if e is None:
            continue
        if isinstance(x[axis], str) and _needs(e):
            out.append((axis, x[axis], _needs(e)))
        axis += 1
    return out


def _entries_shape(x: Shape, entries: tuple[Entry, ...]) -> Shape:
    shape: list[Dim] = []
    axis = 0
    for e in entries:
        if e is None:
            shape.append(1)
            continue
        axis += 1
        if not isinstance(e, int):
            shape.append(e[2])
    return tuple(shape)


def _check_entries(shape: Shape, entries: tuple[Entry, ...], what: str) -> None:
    """Entries made by graphc.ir.apply directly get the checks getitem makes: one per
    axis, positions of a fixed dim inside it, a full slice on its own dim."""
    axes = [e for e in entries if e is not None]
    if len(axes) != len(shape):
        raise ShapeError(f"{what}: {len(axes)} index entries for {len(shape)} axes")
    for e, d in zip(axes, shape):
        if isinstance(e, tuple) and isinstance(e[2], str):
            if e[2] != d or e[:2] not in ((0, 1), (-1, -1)):
                raise ShapeError(f"{what}: {e} is not a full slice of dim {d}")
        elif isinstance(d, int) and _needs(e) and (min(_span(e)) < 0 or _needs(e) > d):
            raise ShapeError(f"{what}: {e} selects positions outside axis of size {d}")


def _resolved(entries: tuple[Entry, ...], shape: tuple[int, ...]) -> tuple:
    """NumPy's index for ``entries`` on an array of ``shape``."""
    index: list[object] = []
    axis = 0
    for e in entries:
        if e is None:
            index.append(None)
            continue
        d = shape[axis]
        axis += 1
        if isinstance(e, int):
            index.append(e + d if e < 0 else e)
            continue
        start, step, count = e
        count = d if isinstance(count, str) else count
        start = start + d if start < 0 else start
        if count == 0:
            index.append(slice(0, 0))
        else:
            stop = start + step * count
            index.append(slice(start, None if stop < 0 else stop, step))
    return tuple(index)


def _check_sizes(what: str, shape: tuple[int, ...], entries: tuple[Entry, ...]) -> None:
    """Every dim large enough for its entry (a fixed dim always is: checked at declaration)."""
    for axis, (e, d) in enumerate(zip((e for e in entries if e is not None), shape)):
        if d < _needs(e):
            raise IndexRangeError(f"{what} needs dim {axis} to be at least {_needs(e)} but it is {d}")


# -- slice and unslice ----------------------------------------------------------------------
def _slice_infer(op: str, inputs: tuple[Node, ...], attrs: dict[str, Any]):
    (x,) = inputs
    _check_entries(x.shape, attrs["index"], attrs["what"])
    return _entries_shape(x.shape, attrs["index"]), x.dtype, ()


def _slice_ref(args, attrs, dims):
    (x,) = args
    _check_sizes(attrs["what"], x.shape, attrs["index"])
    return x[_resolved(attrs["index"], x.shape)]


def _selects_all(x: Node, entries: tuple[Entry, ...]) -> bool:
    """Whether every element of x is selected once, in order (only new axes or unit
    integer axes differ): then the slice is a reshape."""
    axes = [(e, d) for e, d in zip((e for e in entries if e is not None), x.shape)]
    return all((isinstance(e, int) and d == 1) or (isinstance(e, tuple) and e[1] == 1 and e[2] == d)
               for e, d in axes)


def _slice_vjp(node: Node, g: Node, i: int) -> Node:
    """The slice routes: the upstream gradient to the selected entries, 0 elsewhere."""
    x = node.inputs[0]
    if _selects_all(x, node.attrs["index"]):
        return apply("reshape", g, shape=x.shape) if g.shape != x.shape else g
    return apply("unslice", g, index=node.attrs["index"], shape=x.shape, fill=0.0, what=node.attrs["what"])


def _unslice_infer(op: str, inputs: tuple[Node, ...], attrs: dict[str, Any]):
    (g,) = inputs
    shape = attrs["shape"]
    _check_entries(shape, attrs["index"], attrs["what"])
    expected = _entries_shape(shape, attrs["index"])
    if g.shape != expected:
        raise ShapeError(f"{attrs['what']}: {g.label} has shape {format_shape(g.shape)} but the selected "
                         f"entries have shape {format_shape(expected)}")
    return shape, g.dtype, ()


def _unslice_ref(args, attrs, dims):
    (g,) = args
    shape = resolve(attrs["shape"], dims)
    _check_sizes(attrs["what"], shape, attrs["index"])
    out = np.full(shape, attrs["fill"], dtype=g.dtype)
    out[_resolved(attrs["index"], shape)] = g
    return out


def _pos(w, d: Dim, offset: int) -> str:
    """Position ``offset`` of a dim in generated code (counted from the end if negative)."""
    return f"{w.dim(d)} - {-offset}" if offset < 0 else str(offset)


def _index_code(w, shape: Shape, entries: tuple[Entry, ...]) -> tuple[str, str | None, bool]:
    """Numba's basic index for ``entries``; a second index reversing the axes of
    negative steps (they are sliced ascending first: a descending slice that ends at
    position 0 has no stop Numba accepts except None); and whether Numba keeps a
    C-contiguous array C-contiguous under it: integers, then at most one slice without
    a step, last (new axes anywhere), as numba's typing of basic indexing decides."""
    parts, flips = [], []
    axis = 0
    for e in entries:
        if e is None:
            parts.append("None")
            flips.append(":")
            continue
        d = shape[axis]
        axis += 1
        if isinstance(e, int):
            parts.append(_pos(w, d, e))
            continue
        start, step, count = e
        if count == d and step in (1, -1):  # the whole axis
            parts.append(":" if step == 1 else "::-1")
            flips.append(":")
        elif count == 0:
            parts.append("0:0")
            flips.append(":")
        else:
            lo, hi = sorted(_span(e))
            stop = str(hi + 1) if hi >= 0 else (f"{w.dim(d)} - {-hi - 1}" if hi < -1 else w.dim(d))
            parts.append(f"{_pos(w, d, lo)}:{stop}" + (f":{abs(step)}" if abs(step) != 1 else ""))
            flips.append(":" if step > 0 else "::-1")
    while len(parts) > 1 and parts[-1] == ":":  # x[0, :, :] is x[0]
        parts.pop()
    flip = ", ".join(flips) if "::-1" in flips else None
    axes = [p for p in parts if p != "None"]
    block = all(":" not in p for p in axes[:-1]) and (not axes or axes[-1].count(":") <= 1)
    return ", ".join(parts) or ":", flip, flip is None and block


def _emit_size_checks(w, what: str, shape: Shape, entries: tuple[Entry, ...]) -> None:
    for axis, name, need in _named_entries(shape, entries):
        w.imports.add("IndexRangeError")
        w.emit(f"if {w.dim(name)} < {need}:")
        w.emit(f"raise IndexRangeError({what!r}, ' needs dim {axis} to be at least {need} but it is ', "
               f"{w.dim(name)})", 2)


def _view_of(w, name: str, array: str, shape: Shape, entries: tuple[Entry, ...], note: str) -> bool:
    """Emit ``name = array[entries]``; whether it stays C-contiguous if ``array`` is."""
    index, flip, keeps_c = _index_code(w, shape, entries)
    w.emit(f"{name} = {array}[{index}]{note}")
    if flip is not None:
        w.emit(f"{name} = {name}[{flip}]  # descending steps")
    return keeps_c


def _slice_lower(w, node: Node, name: str, args: list, note: str) -> str:
    x = node.inputs[0]
    if args[0].scalar:  # new axes on a 0-d value: an array of that one element
        for k, line in enumerate(w.filled(name, node.shape, node, args[0].expr)):
            w.emit(line + (note if k == 0 else ""))
        return "C"
    _emit_size_checks(w, node.attrs["what"], x.shape, node.attrs["index"])
    keeps_c = _view_of(w, name, args[0].expr, x.shape, node.attrs["index"], f"{note}: {node.attrs['what']}")
    return "C" if keeps_c and args[0].layout == "C" else "A"  # a block of whole rows, or a strided view


def _unslice_lower(w, node: Node, name: str, args: list, note: str) -> None:
    g, index = node.inputs[0], node.attrs["index"]
    _emit_size_checks(w, node.attrs["what"], node.shape, index)
    fill = w.lit(node.attrs["fill"], node.dtype)
    for k, line in enumerate(w.filled(name, node.shape, node, fill)):
        w.emit(line + (f"{note}: {node.attrs['what']} placed back" if k == 0 else ""))
    if g.shape == ():  # one entry
        w.emit(f"{name}[{_index_code(w, node.shape, index)[0]}] = {args[0].expr}")
        return
    view = w.namer.fresh(f"{name}_part")
    _view_of(w, view, name, node.shape, index, "  # the selected entries")
    loops = w.nested_loops(g.shape)
    at = ", ".join(loops)
    w.emit(f"{view}[{at}] = {args[0].expr}[{at}]", 1 + len(loops))


register(Op("slice", infer=_slice_infer, numpy=_slice_ref, vjp=_slice_vjp, gate="route", kind="view",
            lower=_slice_lower,
            doc="x[index] with slices, integers and None (NumPy's basic indexing); a view"))
register(Op("unslice", infer=_unslice_infer, numpy=_unslice_ref, gate="distribute", kind="opaque",
            vjp=lambda n, g, i: apply("slice", g, index=n.attrs["index"], what=n.attrs["what"]),
            lower=_unslice_lower,
            doc="an array of `fill` with g placed at x[index] (the gradient of a slice; pad)"))


# -- gather and scatter_add ------------------------------------------------------------------------
def _gather_parts(x: Shape, axis: int, count: int, index_shape: Shape) -> tuple[Shape, Shape, Shape]:
    return x[:axis], index_shape, x[axis + count:]


def _index_shape(op: str, what: str, indices: tuple[Node, ...]):
    for i in indices:
        if i.dtype != dtypes.INT64:
            raise DTypeError(f"{what}: the index {i.label} has dtype {i.dtype} but indices must be int64")
    return broadcast_shapes(what, ((i.label, i.shape) for i in indices))


def _gather_infer(op: str, inputs: tuple[Node, ...], attrs: dict[str, Any]):
    x, *indices = inputs
    axis, what = attrs["axis"], attrs["what"]
    if not indices or axis < 0 or axis + len(indices) > x.ndim:
        raise ShapeError(f"{what}: {len(indices)} index arrays from axis {axis} but {x.label} has {x.ndim} dims")
    b, bindings = _index_shape(op, what, tuple(indices))
    pre, _, post = _gather_parts(x.shape, axis, len(indices), b)
    return pre + b + post, x.dtype, bindings


def _wrapped(what: str, indices: list[np.ndarray], sizes: tuple[int, ...], axis: int) -> tuple:
    """Negative indices counted from the end; any out of range is an IndexRangeError."""
    out = []
    for t, (i, d) in enumerate(zip(indices, sizes)):
        bad = (i < -d) | (i >= d)
        if np.any(bad):
            raise IndexRangeError(f"{what}: index {i[bad].flat[0]} is out of range for axis {axis + t} "
                                  f"of size {d}")
        out.append(np.where(i < 0, i + d, i))
    return tuple(out)


def _gather_ref(args, attrs, dims):
    x, *indices = args
    axis = attrs["axis"]
    wrapped = _wrapped(attrs["what"], indices, x.shape[axis:axis + len(indices)], axis)
    return x[(slice(None),) * axis + wrapped]


def _scatter_infer(op: str, inputs: tuple[Node, ...], attrs: dict[str, Any]):
    g, *indices = inputs
    shape, axis, what = attrs["shape"], attrs["axis"], attrs["what"]
    if not indices or axis < 0 or axis + len(indices) > len(shape):
        raise ShapeError(f"{what}: {len(indices)} index arrays from axis {axis} into shape {format_shape(shape)}")
    b, bindings = _index_shape(op, what, tuple(indices))
    pre, _, post = _gather_parts(shape, axis, len(indices), b)
    if g.shape != pre + b + post:
        raise ShapeError(f"{what}: {g.label} has shape {format_shape(g.shape)} but the gathered entries have "
                         f"shape {format_shape(pre + b + post)}")
    return shape, g.dtype, bindings


def _scatter_ref(args, attrs, dims):
    g, *indices = args
    shape, axis = resolve(attrs["shape"], dims), attrs["axis"]
    wrapped = _wrapped(attrs["what"], indices, shape[axis:axis + len(indices)], axis)
    out = np.zeros(shape, dtype=g.dtype)
    np.add.at(out, (slice(None),) * axis + wrapped, g)
    return out


def _gather_vjp(node: Node, g: Node, i: int) -> Node | None:
    """A gather's gradient is a scatter-add: entries gathered several times sum their gradients."""
    x, *indices = node.inputs
    if i:
        return None
    return apply("scatter_add", g, *indices, axis=node.attrs["axis"], shape=x.shape, what=node.attrs["what"])


def _scatter_vjp(node: Node, g: Node, i: int) -> Node | None:
    _, *indices = node.inputs
    return None if i else apply("gather", g, *indices, axis=node.attrs["axis"], what=node.attrs["what"])


def _gather_loops(w, node: Node, table: Shape, through: Shape, args: list) -> tuple[str, str, int]:
    """Loops over ``through`` (pre + B + post dims) for a gather from, or a scatter into,
    an array of shape ``table``; checks each index and returns the two index texts
    (table side, through side) of the innermost statement, and its depth."""
    axis, what = node.attrs["axis"], node.attrs["what"]
    indices = node.inputs[1:]
    b_ndim = len(through) - (len(table) - len(indices))
    pre, b, post = through[:axis], through[axis:axis + b_ndim], through[axis + b_ndim:]
    names = [w.namer.fresh(f"i{k}_") for k in range(len(through))]
    depth = 1
    for k, d in enumerate(pre + b):
        w.emit(f"for {names[k]} in range({w.dim(d)}):", depth)
        depth += 1
    b_names = names[axis:axis + b_ndim]
    picked = []
    for t, (idx, value) in enumerate(zip(indices, args[1:])):
        if value.scalar:
            raw = value.expr
        else:
            lead = b_ndim - idx.ndim
            at = ", ".join("0" if d == 1 and b[lead + j] != 1 else b_names[lead + j] for j, d in enumerate(idx.shape))
            raw = w.namer.fresh("raw")
            w.emit(f"{raw} = {value.expr}[{at}]", depth)
        size = w.dim(table[axis + t])
        j = w.namer.fresh("j")
        w.imports.add("IndexRangeError")
        w.emit(f"{j} = {raw} + {size} if {raw} < 0 else {raw}", depth)
        w.emit(f"if {j} < 0 or {j} >= {size}:", depth)
        w.emit(f"raise IndexRangeError({what!r}, ': index ', {raw}, ' is out of range for axis {axis + t} "
               f"of size ', {size})", depth + 1)
        picked.append(j)
    for k, d in enumerate(post, start=axis + b_ndim):
        w.emit(f"for {names[k]} in range({w.dim(d)}):", depth)
        depth += 1
    post_names = names[axis + b_ndim:]
    table_at = ", ".join([*names[:axis], *picked, *post_names])
    through_at = ", ".join(names)
    return table_at, through_at, depth


def _gather_lower(w, node: Node, name: str, args: list, note: str) -> None:
    x = args[0].expr
    if node.shape == ():
        table_at, _, _ = _gather_loops(w, node, node.inputs[0].shape, (), args)
        w.emit(f"{name} = {x}[{table_at}]{note}")
        return
    w.emit(f"{name} = {w.alloc(node.shape, node)}{note}")
    table_at, out_at, depth = _gather_loops(w, node, node.inputs[0].shape, node.shape, args)
    w.emit(f"{name}[{out_at}] = {x}[{table_at}]", depth)


def _scatter_lower(w, node: Node, name: str, args: list, note: str) -> None:
    g = node.inputs[0]
    for k, line in enumerate(w.filled(name, node.shape, node, w.lit(0, node.dtype))):
        w.emit(line + (note if k == 0 else ""))
    table_at, g_at, depth = _gather_loops(w, node, node.shape, g.shape, args)
    source = args[0].expr if g.shape == () else f"{args[0].expr}[{g_at}]"
    w.emit(f"{name}[{table_at}] += {source}", depth)


register(Op("gather", infer=_gather_infer, numpy=_gather_ref, vjp=_gather_vjp, gate="sum", kind="opaque",
            lower=_gather_lower,
            doc="x[..., i1, i2, ...] by int64 index arrays on consecutive axes from `axis` (advanced "
                "indexing); negative indices count from the end; out of range raises"))
register(Op("scatter_add", infer=_scatter_infer, numpy=_scatter_ref, vjp=_scatter_vjp, gate="distribute",
            kind="opaque", lower=_scatter_lower,
            doc="zeros of `shape` with g added at the gathered positions (repeats add): a gather's gradient"))


# -- iota: positions along an axis (the row numbers of take_along_axis) -------------------------------
def _iota_infer(op: str, inputs: tuple[Node, ...], attrs: dict[str, Any]):
    return attrs["shape"], dtypes.INT64, ()


def _iota_ref(args, attrs, dims):
    shape = resolve(attrs["shape"], dims)
    axis = attrs["axis"]
    return np.arange(shape[axis]).reshape([-1 if k == axis else 1 for k in range(len(shape))])


def _iota_lower(w, node: Node, name: str, args: list, note: str) -> None:
    size = w.dim(node.shape[node.attrs["axis"]])
    flat = name if node.ndim == 1 else w.namer.fresh(f"{name}_flat")
    w.emit(f"{flat} = np.empty({size}, dtype=np.int64){note}")
    w.emit(f"for i in range({size}):")
    w.emit(f"{flat}[i] = i", 2)
    if flat != name:
        w.emit(f"{name} = {w.shaped(flat, node.shape)}")


register(Op("iota", infer=_iota_infer, numpy=_iota_ref, vjp=None, gate="local", kind="source", lower=_iota_lower,
            doc="0, 1, 2, ... along `axis` of `shape` (every other dim 1), int64"))


# -- the public functions ------------------------------------------------------------------------------
def described(node: Node) -> str:
    """A node as the ``what`` of an index op names it (listings and call-time errors):
    its name, else its op and type (a global %id would read as a listing number)."""
    return node.name if node.name is not None else f"<{node.op}:{node.type_str}>"


def _key_text(key: tuple) -> str:
    def one(k: object) -> str:
        if k is None:
            return "None"
        if k is Ellipsis:
            return "..."
        if isinstance(k, slice):
            text = ":".join("" if v is None else str(v) for v in (k.start, k.stop))
            return text + (f":{k.step}" if k.step is not None else "")
        if isinstance(k, Node):
            return described(k)
        if isinstance(k, np.ndarray):
            return f"array{format_shape(k.shape)}"
        return repr(k)

    return ", ".join(one(k) for k in key)


def _as_int(value: object) -> int | None:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        return None
    return int(value)


def _fixed_range(what: str, s: slice, d: int) -> tuple[int, int, int]:
    start, stop, step = s.indices(d)
    count = len(range(start, stop, step))
    return (start, step, count) if count else (0, 1, 0)


def _named_range(what: str, s: slice, d: str) -> tuple[int, int, Dim]:
    """The entry of a slice of named dim ``d``: fixed positions counted from the start
    or from the end, or the whole dim; anything whose size depends on d is an error."""
    step = 1 if s.step is None else s.step
    # (value, from the end): None bounds become the ends they stand for
    start = (s.start, s.start < 0) if s.start is not None else ((0, False) if step > 0 else (-1, True))
    stop = (s.stop, s.stop < 0) if s.stop is not None else ((0, True) if step > 0 else (-1, False))
    if start == (0, False) and stop == (0, True) and step == 1:
        return (0, 1, d)
    if start == (-1, True) and stop == (-1, False) and step == -1:
        return (-1, -1, d)
    if start[1] == stop[1]:  # both from the start, or both from the end: a fixed count
        positions = range(start[0], stop[0], step)
        if not positions:
            return (0, 1, 0)
        return (positions[0], step, len(positions))
    raise ShapeError(f"{what}: slicing the named dim {d} with {_key_text((s,))} gives a size that depends on "
                     f"{d} (graphc dims are fixed or named); use bounds on one side of the axis "
                     f"(x[:3], x[2:5], x[-3:]) or declare the dim with a fixed size")


def _basic_entry(what: str, k: object, d: Dim, axis: int) -> Entry:
    i = _as_int(k)
    if i is not None:
        if isinstance(d, int):
            if not -d <= i < d:
                raise ShapeError(f"{what}: index {i} is out of range for axis {axis} of size {d}")
            return i % d
        return i
    assert isinstance(k, slice)
    for v in (k.start, k.stop, k.step):
        if v is not None and _as_int(v) is None:
            raise GraphError(f"{what}: slice bounds must be ints or None but got {v!r}")
    k = slice(*(None if v is None else int(v) for v in (k.start, k.stop, k.step)))
    if k.step == 0:
        raise ShapeError(f"{what}: a slice step cannot be zero")
    return _fixed_range(what, k, d) if isinstance(d, int) else _named_range(what, k, d)


def _advanced(what: str, k: object) -> Node | None:
    """An index array or int64 node as a node; None for a basic index entry."""
    if k is None or k is Ellipsis or isinstance(k, slice) or _as_int(k) is not None:
        return None
    if isinstance(k, (list, tuple)):
        k = np.asarray(k) if len(k) else np.zeros(0, np.int64)  # NumPy reads [] as no integer indices
    if isinstance(k, np.ndarray):
        if k.dtype == bool:
            raise GraphError(f"{what}: boolean masks give a shape that depends on the data, which a static graph "
                             "cannot have; use gc.where(mask, x, 0) or integer indices")
        if k.dtype.kind not in "iu":
            raise GraphError(f"{what}: index arrays must hold integers but got dtype {k.dtype}")
        return as_node(k.astype(np.int64), what)
    if isinstance(k, Node):
        if k.dtype != dtypes.INT64:
            raise DTypeError(f"{what}: the index {k.label} has dtype {k.dtype} but indices must be int64 "
                             f"(gc.cast({k.label}, 'int64'))")
        return k
    raise GraphError(f"{what}: expected ints, slices, None, ..., integer arrays or int64 nodes as indices "
                     f"but got {type(k).__name__} {k!r}")


def _check_constant_indices(what: str, node: Node, d: Dim, axis: int) -> None:
    if node.op == "const" and isinstance(d, int) and node.attrs["value"].size:
        v = node.attrs["value"]
        bad = (v < -d) | (v >= d)
        if np.any(bad):
            raise ShapeError(f"{what}: index {v[bad].flat[0]} is out of range for axis {axis} of size {d}")


def getitem(x: object, key: object) -> Node:
    """``x[key]`` with NumPy's semantics (see the module docstring): the function behind
    Node.__getitem__."""
    node = as_node(x, "index")
    key = key if isinstance(key, tuple) else (key,)
    what = f"{described(node)}[{_key_text(key)}]"
    if sum(k is Ellipsis for k in key) > 1:
        raise ShapeError(f"{what}: an index can only have a single ellipsis ('...')")
    used = sum(k is not None and k is not Ellipsis for k in key)
    if used > node.ndim:
        raise ShapeError(f"{what}: too many indices for {node.label} of shape {format_shape(node.shape)} "
                         f"({used} indices, {node.ndim} dims)")
    if any(k is Ellipsis for k in key):
        at = next(i for i, k in enumerate(key) if k is Ellipsis)
        key = key[:at] + (slice(None),) * (node.ndim - used) + key[at + 1:]
    else:
        key = key + (slice(None),) * (node.ndim - used)
    arrays = {i: _advanced(what, k) for i, k in enumerate(key)}
    arrays = {i: a for i, a in arrays.items() if a is not None}
    # the basic part: slices, integers and new axes; index arrays' axes kept whole for now
    entries: list[Entry] = []
    kept: list[int] = []  # the result axis of each index array's axis
    axis = 0
    for i, k in enumerate(key):
        if k is None:
            entries.append(None)
            continue
        d = node.shape[axis]
        if i in arrays:
            _check_constant_indices(what, arrays[i], d, axis)
            kept.append(sum(not isinstance(e, int) for e in entries))
            entries.append((0, 1, d) if isinstance(d, str) else _fixed_range(what, slice(None), d))
        else:
            entries.append(_basic_entry(what, k, d, axis))
        axis += 1
    identity = all(isinstance(e, tuple) and e[:2] == (0, 1) and e[2] == d for e, d in zip(entries, node.shape))
    out = node if identity and len(entries) == node.ndim else apply(
        "slice", node, index=tuple(entries), what=what)
    if not arrays:
        return out
    # NumPy: advanced indices (integers among them) that are adjacent keep their place;
    # otherwise the broadcast index dims come first
    advanced = [i for i, k in enumerate(key) if i in arrays or _as_int(k) is not None]
    if advanced[-1] - advanced[0] + 1 != len(advanced):
        order = kept + [a for a in range(out.ndim) if a not in kept]
        out, first = transpose(out, tuple(order)), 0
    else:
        first = kept[0]
    return apply("gather", out, *arrays.values(), axis=first, what=what)


def take_along_axis(x: object, indices: object, axis: int, name: str | None = None) -> Node:
    """``np.take_along_axis``: x's entries at ``indices`` along ``axis``, where indices has
    x's number of dims and broadcasts with x on the others (e.g. the scores of the
    labels: ``take_along_axis(scores, labels[:, None], axis=1)``). Negative indices count
    from the end; out of range raises at call time. The gradient is a scatter-add."""
    node = as_node(x, "take_along_axis")
    idx = _advanced("take_along_axis", indices)
    if idx is None or idx.ndim != node.ndim:
        shape = format_shape(idx.shape) if idx is not None else repr(indices)
        raise ShapeError(f"take_along_axis: indices must have the {node.ndim} dims of {node.label} but got {shape}")
    a = _as_int(axis)
    if a is None or not -node.ndim <= a < node.ndim:
        raise ShapeError(f"take_along_axis: axis {axis!r} is not an axis of {node.label} ({node.ndim} dims)")
    a %= node.ndim
    what = f"take_along_axis({described(node)}, {described(idx)}, axis={a})"
    _check_constant_indices(what, idx, node.shape[a], a)
    index = [idx if k == a else apply("iota", shape=tuple(d if j == k else 1 for j, d in enumerate(node.shape)),
                                      axis=k)
             for k in range(node.ndim)]
    return apply("gather", node, *index, axis=0, what=what, name=name)


def setitem(x: Node, key: object, value: object) -> None:
    """Nodes are immutable values: ``x[key] = v`` has no place in a graph."""
    raise GraphError(f"{x.label}[{_key_text(key if isinstance(key, tuple) else (key,))}] = ...: graphc nodes "
                     "are immutable, so item assignment is not supported; build the new value instead, e.g. "
                     "gc.where(mask, value, x) with a 0/1 mask (gc.one_hot, gc.greater, ...), or gc.pad / "
                     "gc.concatenate to place a block")


__all__ = ["getitem", "take_along_axis"]
