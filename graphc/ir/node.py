"""Graph nodes: immutable, hashable, typed at declaration.

A node is one operation applied to input nodes. It knows its shape and dtype the
moment it is made (the op's shape rule runs in ``apply``), so a shape error is raised
where the user wrote the offending line, not when the graph runs. Nodes compare and
hash by identity: two structurally equal nodes are merged by the CSE pass, not here.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any

import numpy as np

from graphc.errors import DTypeError, GraphError
from graphc.ir import dtypes
from graphc.ir.op import lookup
from graphc.ir.shapes import Bindings, Shape, check_limits, format_shape, merge_bindings

_ids = itertools.count()
_NO_ATTRS: Mapping[str, Any] = MappingProxyType({})


class Provenance:
    """Where new nodes come from: the forward graph, or the VJP of a forward node."""

    __slots__ = ("role", "pattern", "of")

    def __init__(self, role: str, pattern: str | None, of: Node | None) -> None:
        self.role, self.pattern, self.of = role, pattern, of


_FORWARD = Provenance("forward", None, None)
_provenance: ContextVar[Provenance] = ContextVar("graphc_provenance", default=_FORWARD)


@contextmanager
def provenance(pattern: str, of: Node) -> Iterator[None]:
    """Nodes made inside are backward nodes with this gate pattern, computing grad of ``of``."""
    with _provenance_as(Provenance("backward", pattern, of)):
        yield


@contextmanager
def provenance_like(node: Node, of: Node | None = None) -> Iterator[None]:
    """Nodes made inside (by a rewrite of ``node``) inherit its role, pattern and ``of``
    (or ``of``, the rewritten node that ``node.of`` became)."""
    with _provenance_as(Provenance(node.role, node.pattern, node.of if of is None else of)):
        yield


@contextmanager
def _provenance_as(prov: Provenance) -> Iterator[None]:
    token = _provenance.set(prov)
    try:
        yield
    finally:
        _provenance.reset(token)


class Node:
    """One value of a graph. Build nodes with ``gc.input``, the ``gc.*`` ops and Python operators."""

    __slots__ = ("id", "op", "inputs", "attrs", "shape", "dtype", "bindings", "name", "role", "pattern", "of")
    __array_ufunc__ = None  # so that ``ndarray + node`` defers to Node.__radd__

    id: int
    op: str
    inputs: tuple[Node, ...]
    attrs: Mapping[str, Any]
    shape: Shape
    dtype: np.dtype
    bindings: Bindings
    name: str | None
    role: str
    pattern: str | None
    of: Node | None

    def __init__(self, op: str, inputs: tuple[Node, ...], attrs: Mapping[str, Any], shape: Shape,
                 dtype: np.dtype, bindings: Bindings = (), name: str | None = None) -> None:
        if name is not None and (not isinstance(name, str) or not name or not name.isprintable()):
            # a name is printed in listings, one line per node
            raise GraphError(f"{op}: expected a name that is a non-empty printable string but got {name!r}")
        check_limits(shape, op if name is None else f"{op} {name}")
        prov = _provenance.get()
        init = object.__setattr__  # nodes are immutable: only __init__ writes, and only here
        init(self, "id", next(_ids))
        init(self, "op", op)
        init(self, "inputs", tuple(inputs))
        init(self, "attrs", MappingProxyType(dict(attrs)) if attrs else _NO_ATTRS)
        init(self, "shape", tuple(shape))
        init(self, "dtype", dtype)
        init(self, "bindings", bindings)
        init(self, "name", name)
        init(self, "role", prov.role)
        init(self, "pattern", prov.pattern)
        init(self, "of", prov.of)

    def __setattr__(self, key: str, value: object) -> None:
        raise AttributeError(f"graphc nodes are immutable: cannot set {key!r} of {self.label}")

    __delattr__ = __setattr__  # type: ignore[assignment]

    # -- description -------------------------------------------------------------
    @property
    def label(self) -> str:
        """The name a message uses: the user's name, else ``%id``."""
        return self.name if self.name is not None else f"%{self.id}"

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def type_str(self) -> str:
        """``f64[N,100]``: dtype and shape as the listings print them."""
        return f"{dtypes.SHORT_NAMES[self.dtype]}[{','.join(str(d) for d in self.shape)}]"

    def __repr__(self) -> str:
        args = " ".join(i.label for i in self.inputs)
        return f"<graphc.Node {self.label}:{self.type_str} = {self.op}{(' ' + args) if args else ''}>"

    def _repr_html_(self) -> str:  # a notebook shows the listing and the picture
        from graphc.inspect import html

        return html(self)

    def __bool__(self) -> bool:
        raise TypeError(f"{self.label} is a symbolic graphc node: it has no truth value until the graph runs")

    def __len__(self) -> int:
        if not self.shape or not isinstance(self.shape[0], int):
            raise TypeError(f"{self.label} has shape {format_shape(self.shape)}: len() needs a fixed first dim")
        return self.shape[0]

    # -- Python operators build nodes -------------------------------------------
    def __add__(self, o: object) -> Node: return apply("add", self, o)
    def __radd__(self, o: object) -> Node: return apply("add", o, self)
    def __sub__(self, o: object) -> Node: return apply("sub", self, o)
    def __rsub__(self, o: object) -> Node: return apply("sub", o, self)
    def __mul__(self, o: object) -> Node: return apply("mul", self, o)
    def __rmul__(self, o: object) -> Node: return apply("mul", o, self)
    def __truediv__(self, o: object) -> Node: return apply("div", self, o)
    def __rtruediv__(self, o: object) -> Node: return apply("div", o, self)
    def __pow__(self, o: object) -> Node: return apply("pow", self, o)
    def __rpow__(self, o: object) -> Node: return apply("pow", o, self)
    def __matmul__(self, o: object) -> Node: return apply("matmul", self, o)
    def __rmatmul__(self, o: object) -> Node: return apply("matmul", o, self)
    def __neg__(self) -> Node: return apply("neg", self)
    def __pos__(self) -> Node: return self

    @property
    def T(self) -> Node:  # noqa: N802 - NumPy's spelling
        return apply("transpose", self, axes=tuple(reversed(range(self.ndim))))

    def __getitem__(self, key: object) -> Node: return _indexing().getitem(self, key)  # NumPy indexing
    def __setitem__(self, key: object, value: object) -> None: _indexing().setitem(self, key, value)  # raises
    def __iter__(self) -> Iterator[Node]: return (self[i] for i in range(len(self)))  # rows, as NumPy

    # Comparisons are deliberately not overloaded: == must stay identity so nodes can
    # be dict keys and networkx nodes. Use gc.greater, gc.equal, ... instead.


def _indexing() -> Any:
    from graphc.ops import indexing  # the ops package imports this module

    return indexing


def constant(value: object, dtype: np.dtype | None = None) -> Node:
    """A constant node holding a read-only copy of ``value``."""
    array = np.asarray(value)
    dt = dtype if dtype is not None else dtypes.array_dtype(array)
    too_big = array.dtype.kind == "u" and array.size and array.max() > np.iinfo(np.int64).max
    try:
        if too_big and dt == dtypes.INT64:  # NumPy would wrap these around to negative numbers
            raise OverflowError
        data = np.array(array, dtype=dt, order="C")  # a private, C-contiguous copy (kernels assume C)
    except OverflowError:
        raise DTypeError(f"constant: expected values that fit {dt} but got {value!r}") from None
    data.setflags(write=False)
    return Node("const", (), {"value": data}, data.shape, dt)


def _lift(operands: tuple[object, ...], what: str) -> tuple[Node, ...]:
    """Operands as nodes: NumPy arrays become strong constants, Python scalars weak ones."""
    strong: list[np.dtype] = []
    for o in operands:
        if isinstance(o, Node):
            strong.append(o.dtype)
        elif isinstance(o, np.ndarray) or (isinstance(o, np.generic) and not isinstance(o, np.bool_)):
            strong.append(dtypes.array_dtype(np.asarray(o)))
    base = dtypes.promote(*strong) if strong else None
    nodes = []
    for o in operands:
        if isinstance(o, Node):
            nodes.append(o)
        elif isinstance(o, (np.ndarray, np.generic)):
            nodes.append(constant(o))
        elif isinstance(o, (bool, int, float)):
            # a weak scalar takes the dtype of the nodes it meets (JAX/PyTorch rule)
            if isinstance(o, float):
                dt = base if base is not None and dtypes.is_float(base) else dtypes.FLOAT64
            else:
                dt = base if base is not None else dtypes.INT64
            nodes.append(constant(o, dt))
        else:
            raise GraphError(f"{what}: expected a graphc node, a number or a NumPy array but got "
                             f"{type(o).__name__} {o!r}")
    return tuple(nodes)


def apply(op_name: str, *operands: object, name: str | None = None, **attrs: Any) -> Node:
    """Make the node ``op_name(*operands, **attrs)``, running the op's shape/dtype rule."""
    op = lookup(op_name)
    inputs = _lift(operands, op_name)
    if op.kind in ("elementwise", "matmul") and op_name != "cast":
        # these ops compute in one dtype: mixed operands get explicit casts, visible in
        # the graph (and folded away for constants)
        target = dtypes.promote(*(i.dtype for i in inputs))
        inputs = tuple(i if i.dtype == target else apply("cast", i, dtype=target) for i in inputs)
    shape, dtype, new_bindings = op.infer(op_name, inputs, attrs)
    bindings = merge_bindings(op_name, *(i.bindings for i in inputs), new_bindings)
    return Node(op_name, inputs, attrs, shape, dtype, bindings, name=name)


def renamed(node: Node, name: str) -> Node:
    """A twin of ``node`` (same op and inputs) under a user-chosen name."""
    return Node(node.op, node.inputs, node.attrs, node.shape, node.dtype, node.bindings, name=name)


def rebuilt(node: Node, inputs: tuple[Node, ...], of: Node | None = None) -> Node:
    """``node`` over new inputs of the same types (for rewriting passes), same provenance
    (with ``of`` for ``node.of`` when that was rewritten)."""
    with provenance_like(node, of):
        return Node(node.op, inputs, node.attrs, node.shape, node.dtype, node.bindings, name=node.name)
