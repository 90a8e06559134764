"""Shapes with named dims, and the rules that combine them.

A shape is a tuple of dims; a dim is an int (a fixed size), a str (a named size,
bound when the compiled function is called) or a ``Prod`` (a product of named sizes
and a fixed factor, ``N*1024``, as a reshape that merges a named dim with fixed ones
makes it; JAX's shape polymorphism has the same ``b*4``). A named or product dim never
broadcasts: its value at a call must equal whatever it met at declaration. When a
named dim meets a fixed size other than 1 (``("N", 3) + (5, 3)``) the name is *bound*
to that size (a product of one name binds it too: ``N*4`` meeting 20 binds N = 5); the
bindings travel with the nodes, and two different sizes for one name are an error.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from graphc.errors import ShapeError


@dataclass(frozen=True)
class Prod:
    """A product dim: ``factor`` times the named dims ``names`` (sorted, a name repeated
    as often as it multiplies). Build it with ``product``, which keeps one canonical
    form, so equal products compare (and hash) equal: ``N*1024`` however it was made."""

    factor: int
    names: tuple[str, ...]

    def __str__(self) -> str:
        return "*".join([*self.names, *([str(self.factor)] if self.factor != 1 else [])])

    def __repr__(self) -> str:
        return repr(str(self))


Dim = int | str | Prod
Shape = tuple[Dim, ...]
Bindings = tuple[tuple[str, int], ...]  # sorted (name, size) pairs: hashable and cheap
# a kernel nests one loop per axis, and Python compiles at most 20 nested blocks
MAX_RANK = 20
MAX_SIZE = 2**63 - 1  # kernels count elements in int64


def check_limits(shape: Shape, what: str) -> None:
    """A ShapeError unless a kernel can hold ``shape``: at most MAX_RANK dims, and its fixed
    dims' product an int64."""
    if len(shape) > MAX_RANK:
        raise ShapeError(f"{what}: expected at most {MAX_RANK} dims but got {len(shape)} (graphc's kernels nest "
                         "one loop per dim, and Python allows 20 nested blocks)")
    if math.prod(d for d in shape if isinstance(d, int)) > MAX_SIZE:
        raise ShapeError(f"{what}: shape {format_shape(shape)} has more than 2**63 - 1 elements, "
                         "which int64 sizes cannot count")


def product(*dims: Dim) -> Dim:
    """The dim that is the product of ``dims``, in canonical form: an int when no name is
    left (or a factor is 0), a name when it is one name alone, else a ``Prod``."""
    factor, names = 1, []
    for d in dims:
        if isinstance(d, Prod):
            factor *= d.factor
            names += d.names
        elif isinstance(d, str):
            names.append(d)
        else:
            factor *= int(d)
    if factor == 0 or not names:
        return factor
    if factor == 1 and len(names) == 1:
        return names[0]
    return Prod(factor, tuple(sorted(names)))


def dim_names(d: Dim) -> tuple[str, ...]:
    """The named dims ``d`` is made of: none for a fixed size."""
    return d.names if isinstance(d, Prod) else (d,) if isinstance(d, str) else ()


def shape_names(shape: Shape) -> set[str]:
    """Every named dim in ``shape``, inside products too."""
    return {name for d in shape for name in dim_names(d)}


def dim_value(d: Dim, dims: Mapping[str, int]) -> int:
    """The size of ``d`` once its named dims are bound in ``dims``."""
    if isinstance(d, int):
        return d
    if isinstance(d, str):
        return dims[d]
    return d.factor * math.prod(dims[name] for name in d.names)


def _parse_dim(d: object, shape: object, what: str) -> Dim:
    if isinstance(d, np.integer):  # a dim computed with NumPy (np.prod(...)) is an int too
        d = int(d)
    if isinstance(d, Prod):
        return d
    if isinstance(d, bool) or not isinstance(d, (int, str)):
        raise ShapeError(f"{what}: expected dims to be ints or names but got {d!r} in {shape!r}")
    if isinstance(d, int) and d < 0:
        raise ShapeError(f"{what}: expected non-negative dims but got {d} in {shape!r}")
    if isinstance(d, str) and "*" in d:  # "N*1024": a product dim
        parts = [p.strip() for p in d.split("*")]
        return product(*(_parse_dim(int(p) if p.isdigit() else p, shape, what) for p in parts))
    if isinstance(d, str) and not d.isidentifier():
        raise ShapeError(f"{what}: a named dim must be an identifier (or a product of them and ints, "
                         f"N*4) but got {d!r}")
    return d


def as_shape(shape: object, what: str) -> Shape:
    """Validate a user-given shape: a tuple of non-negative ints, identifier names and
    products of them (``"N*4"`` or a ``Prod``)."""
    if isinstance(shape, (int, str, Prod)):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)):
        raise ShapeError(f"{what}: expected a shape tuple of ints and names but got {shape!r}")
    dims = tuple(_parse_dim(d, shape, what) for d in shape)
    check_limits(dims, what)
    return dims


def format_shape(shape: Shape) -> str:
    """``(N, 1000)`` as a user wrote it, named dims without quotes."""
    inner = ", ".join(str(d) for d in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def merge_bindings(what: str, *all_bindings: Bindings) -> Bindings:
    """Union of the inputs' bindings; a name bound to two sizes is a ShapeError."""
    merged: dict[str, int] = {}
    for bindings in all_bindings:
        for name, size in bindings:
            if merged.setdefault(name, size) != size:
                raise ShapeError(f"{what}: named dim {name} is bound to both {merged[name]} and {size}")
    return tuple(sorted(merged.items()))


def unify_dim(a: Dim, b: Dim, broadcast: bool) -> tuple[Dim, tuple[str, int] | None] | None:
    """The dim two dims make together, plus a new binding; None if they cannot meet."""
    if a == b:
        return a, None
    if broadcast and a == 1:
        return b, None
    if broadcast and b == 1:
        return a, None
    if isinstance(b, int) and not isinstance(a, int):
        binding = _solve(a, b)
        return (b, binding) if binding is not None else None
    if isinstance(a, int) and not isinstance(b, int):
        binding = _solve(b, a)
        return (a, binding) if binding is not None else None
    return None


def _solve(d: str | Prod, size: int) -> tuple[str, int] | None:
    """The binding that makes the named or product dim ``d`` equal ``size``: a name is
    bound to it; a product of one name (N*4) to size / factor when that divides."""
    if isinstance(d, str):
        return d, size
    if len(d.names) == 1 and size % d.factor == 0:
        return d.names[0], size // d.factor
    return None


def broadcast_shapes(what: str, named: Iterable[tuple[str, Shape]]) -> tuple[Shape, Bindings]:
    """NumPy broadcasting of several (operand name, shape) pairs, with named dims."""
    named = list(named)
    first = named[0][1]
    if all(s == first for _, s in named):  # the common case: nothing to broadcast or bind
        return first, ()
    ndim = max(len(s) for _, s in named)
    result: list[Dim] = [1] * ndim
    origin: list[str | None] = [None] * ndim  # which operand gave each dim, for messages
    new: list[tuple[str, int]] = []
    for operand, shape in named:
        for i, d in enumerate(shape, start=ndim - len(shape)):
            met = unify_dim(result[i], d, broadcast=True)
            if met is None:
                axis = i - ndim
                raise ShapeError(
                    f"{what}: {origin[i]} has dim {result[i]} but {operand} has dim {d} "
                    f"at axis {axis}: they cannot broadcast ("
                    + " vs ".join(f"{n} {format_shape(s)}" for n, s in named) + ")"
                )
            if met[0] != result[i]:
                origin[i] = operand
            result[i] = met[0]
            if met[1] is not None:
                new.append(met[1])
    return tuple(result), merge_bindings(what, tuple(new))


def normalize_axes(what: str, axis: object, ndim: int) -> tuple[int, ...]:
    """``axis`` (None, int or tuple of ints, negatives allowed) as sorted positive axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else axis
    if not isinstance(axes, (tuple, list)) or not all(
            isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in axes):
        raise ShapeError(f"{what}: expected axis None, an int or a tuple of ints but got {axis!r}")
    axes = [int(a) for a in axes]
    out = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise ShapeError(f"{what}: axis {a} is out of range for an operand of {ndim} dims")
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ShapeError(f"{what}: axis {axis!r} repeats an axis")
    return tuple(sorted(out))


def symbolic_size(shape: Shape) -> tuple[int, Counter]:
    """The number of elements as (product of fixed dims and factors, multiset of names)."""
    size = product(*shape)
    return (size, Counter()) if isinstance(size, int) else (
        size.factor if isinstance(size, Prod) else 1, Counter(dim_names(size)))


def dimwise_bindings(src: Shape, dst: Shape) -> Bindings | None:
    """The bindings under which two shapes are the same dim by dim (a named dim against a
    fixed size binds the name, as broadcasting does), or None if they differ."""
    if len(src) != len(dst):
        return None
    new = []
    for a, b in zip(src, dst):
        met = unify_dim(a, b, broadcast=False)
        if met is None:
            return None
        if met[1] is not None:
            new.append(met[1])
    try:
        return merge_bindings("", tuple(new))
    except ShapeError:
        return None


def reshape_bindings(src: Shape, dst: Shape) -> Bindings:
    """The bindings a reshape of ``src`` to the valid target ``dst`` makes: none when the
    sizes agree symbolically ((N, 3) to (3, N)), else those that make the shapes equal dim
    by dim ((5, 3) to (N, 3) binds N = 5)."""
    if symbolic_size(src) == symbolic_size(dst):
        return ()
    return dimwise_bindings(src, dst) or ()


def reshape_target(what: str, src: Shape, target: Shape | tuple[int | str, ...]) -> Shape:
    """The shape ``src`` reshapes to; one -1 is inferred. Sizes must match symbolically,
    or dim by dim where a named dim meets the size it is bound to ((5, 3) to (N, 3))."""
    holes = [i for i, d in enumerate(target) if d == -1]
    if len(holes) > 1:
        raise ShapeError(f"{what}: only one -1 is allowed in the new shape {target!r}")
    known = as_shape(tuple(d for d in target if d != -1), what)
    src_count, src_names = symbolic_size(src)
    dst_count, dst_names = symbolic_size(known)
    mismatch = ShapeError(
        f"{what}: cannot reshape {format_shape(src)} to {format_shape(tuple(target))}: "
        "the numbers of elements differ"
    )
    if not holes:
        if (src_count, src_names) != (dst_count, dst_names) and dimwise_bindings(src, known) is None:
            raise mismatch
        return known
    rest_names = src_names - dst_names
    if dst_names - src_names or dst_count == 0 or src_count % dst_count:
        raise mismatch
    fill = product(src_count // dst_count, *rest_names.elements())  # N*1024 when names remain
    out = list(target)
    out[holes[0]] = fill
    return tuple(out)


def resolve(shape: Shape, dims: Mapping[str, int]) -> tuple[int, ...]:
    """The concrete shape once named dims are bound."""
    return tuple(dim_value(d, dims) for d in shape)
