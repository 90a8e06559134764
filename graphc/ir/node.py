"""Graph nodes: immutable, hashable, typed at declaration.

A node is one operation applied to input nodes. It knows its shape and dtype the
moment it is made (the op's shape rule runs in ``apply``), so a shape error is raised
where the user wrote the offending line, not when the graph runs. Nodes compare and
hash by identity: two structurally equal nodes are merged by the CSE pass, not here.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any

import numpy as np

from graphc.errors import DTypeError, GraphError, SymbolicError
from graphc.ir import dtypes
from graphc.ir.op import lookup
from graphc.ir.shapes import Bindings, Prod, Shape, check_limits, format_shape, merge_bindings

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


class _Arithmetic:
    """Python's arithmetic operators build nodes: shared by Node and the sizes of its
    dims (``_Size``), which differ only in what a true division's operands become."""

    __slots__ = ()

    @staticmethod
    def _division(a: object, b: object) -> tuple[object, object]:
        """The operands of ``a / b`` as the div node takes them."""
        return a, b

    def __add__(self, o: object) -> Node: return apply("add", self, o)
    def __radd__(self, o: object) -> Node: return apply("add", o, self)
    def __sub__(self, o: object) -> Node: return apply("sub", self, o)
    def __rsub__(self, o: object) -> Node: return apply("sub", o, self)
    def __mul__(self, o: object) -> Node: return apply("mul", self, o)
    def __rmul__(self, o: object) -> Node: return apply("mul", o, self)
    def __truediv__(self, o: object) -> Node: return apply("div", *self._division(self, o))
    def __rtruediv__(self, o: object) -> Node: return apply("div", *self._division(o, self))
    def __pow__(self, o: object) -> Node: return apply("pow", self, o)
    def __rpow__(self, o: object) -> Node: return apply("pow", o, self)
    def __neg__(self) -> Node: return apply("neg", self)


class _Size(_Arithmetic):
    """Arithmetic on a dim of a node's shape: its size as an int64 scalar node (``numel``)."""

    __slots__ = ()

    def plain(self) -> str | Prod:
        raise NotImplementedError

    def node(self, dtype: np.dtype = dtypes.INT64) -> Node:
        """The size as a scalar node (int64 unless ``dtype``), known when the graph runs."""
        return apply("numel", dims=(self.plain(),), dtype=dtype)

    @staticmethod
    def _division(a: object, b: object) -> tuple[object, object]:
        return _true_division(a, b)

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: object, **kwargs: object) -> object:
        from graphc.ops.numpy_protocol import array_ufunc

        return array_ufunc(ufunc, method, tuple(i.node() if isinstance(i, _Size) else i for i in inputs), kwargs)


def _true_division(a: object, b: object) -> tuple[object, object]:
    """NumPy's int / int is a float: a size divided by a Python int or another size (N / 2)
    divides in float64. Next to a node or an array, the usual promotion applies."""
    if any(isinstance(v, (Node, np.ndarray, np.generic)) for v in (a, b)):
        return a, b
    return tuple(v.node(dtypes.FLOAT64) if isinstance(v, _Size) else  # type: ignore[return-value]
                 float(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in (a, b))


class SymbolicDim(_Size, str):
    """A named dim as a node's ``shape`` gives it: ``x.shape[0]`` of an (N, 3) ``x``.

    It is the name "N" wherever a shape is expected (``gc.input(..., shape=(x.shape[0], 4))``,
    ``x.reshape(x.shape[0], -1)``) and equal to it; in arithmetic, or as the operand of a
    graphc function, it is N's size: an int64 scalar node (``numel``), known when the graph
    runs, so ``gc.sum(loss) / x.shape[0]`` is the batch mean. (A plain str would repeat
    under ``*``; this one builds nodes.)"""

    __slots__ = ()

    def plain(self) -> str:
        return str.__str__(self)


class SymbolicProd(_Size, Prod):
    """A product dim (``N*20``) as a node's ``shape`` gives it: equal to (and hashed as)
    the ``Prod``, and its size as a node in arithmetic, as ``SymbolicDim``."""

    __slots__ = ()

    def plain(self) -> Prod:
        return Prod(self.factor, self.names)

    def __eq__(self, o: object) -> bool:
        return isinstance(o, Prod) and (self.factor, self.names) == (o.factor, o.names)

    def __ne__(self, o: object) -> bool:
        return not self == o

    def __hash__(self) -> int:
        return hash(self.plain())


def _symbolic(d: object) -> object:
    """A dim of a new node's shape, as ``node.shape`` gives it (see SymbolicDim)."""
    if type(d) is str:
        return SymbolicDim(d)
    if type(d) is Prod:
        return SymbolicProd(d.factor, d.names)
    return d


class Node(_Arithmetic):
    """One value of a graph. Build nodes with ``gc.input``, the ``gc.*`` ops and Python operators."""

    __slots__ = ("id", "op", "inputs", "attrs", "shape", "dtype", "bindings", "name", "role", "pattern", "of")

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
        init(self, "shape", tuple(_symbolic(d) for d in shape))
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
        raise SymbolicError(
            f"{self.label} is a symbolic graphc node: it has no truth value until the graph runs. "
            "For max(a, b) / min(a, b) write gc.maximum(a, b) / gc.minimum(a, b); for "
            "`b if cond else c` write gc.where(cond, b, c); to test whether two nodes are the "
            "same node write `a is b`")

    def _no_value(self, what: str) -> SymbolicError:
        return SymbolicError(f"{what}: {self.label} is a symbolic graphc node: it has no value until the graph "
                             "runs; compile it (gc.compile) and call the result to get arrays")

    def __array__(self, dtype: object = None, copy: object = None) -> np.ndarray:
        raise self._no_value("np.asarray")

    def __float__(self) -> float:
        raise self._no_value("float()")

    def __int__(self) -> int:
        raise self._no_value("int()")

    def __len__(self) -> int:
        if not self.shape or not isinstance(self.shape[0], int):
            raise TypeError(f"{self.label} has shape {format_shape(self.shape)}: len() needs a fixed first dim")
        return self.shape[0]

    # -- Python operators build nodes -------------------------------------------
    # (+, -, *, /, ** and unary - from _Arithmetic)
    def __matmul__(self, o: object) -> Node: return _ops().matmul(self, o)
    def __rmatmul__(self, o: object) -> Node: return _ops().matmul(o, self)
    def __pos__(self) -> Node: return self

    # Comparisons give 0/1 nodes, as in NumPy. Nodes still hash by identity, so they stay
    # dict keys, set members and networkx nodes; but ``a == b`` is a node, never a bool,
    # so graphc itself tests membership with ``is`` or in sets and dicts, never in lists.
    def __gt__(self, o: object) -> Node: return apply("greater", self, o)
    def __ge__(self, o: object) -> Node: return apply("greater_equal", self, o)
    def __lt__(self, o: object) -> Node: return apply("less", self, o)
    def __le__(self, o: object) -> Node: return apply("less_equal", self, o)

    def __eq__(self, o: object) -> Node:  # type: ignore[override]
        return apply("equal", self, o) if _liftable(o) else NotImplemented

    def __ne__(self, o: object) -> Node:  # type: ignore[override]
        return apply("not_equal", self, o) if _liftable(o) else NotImplemented

    __hash__ = object.__hash__

    def __abs__(self) -> Node: return apply("abs", self)

    # -- NumPy's protocols: np.exp(node), np.sum(node), ndarray + node build nodes -----
    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: object, **kwargs: object) -> object:
        from graphc.ops.numpy_protocol import array_ufunc

        return array_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func: object, types: object, args: tuple, kwargs: dict) -> object:
        from graphc.ops.numpy_protocol import array_function

        return array_function(func, args, kwargs)

    # -- NumPy's methods and properties ----------------------------------------------
    @property
    def T(self) -> Node:  # noqa: N802 - NumPy's spelling
        return apply("transpose", self, axes=tuple(reversed(range(self.ndim))))

    def __getitem__(self, key: object) -> Node: return _indexing().getitem(self, key)  # NumPy indexing
    def __setitem__(self, key: object, value: object) -> None: _indexing().setitem(self, key, value)  # raises
    def __iter__(self) -> Iterator[Node]: return (self[i] for i in range(len(self)))  # rows, as NumPy

    @property
    def size(self) -> int | Node:
        """The number of elements: an int, or an int64 scalar node if a dim is named."""
        if all(isinstance(d, int) for d in self.shape):
            return math.prod(self.shape)
        return apply("numel", dims=tuple(d.plain() if isinstance(d, _Size) else d for d in self.shape),
                     dtype=dtypes.INT64)

    def reshape(self, *shape: object, name: str | None = None) -> Node:
        """``x.reshape(2, 3)`` or ``x.reshape((2, 3))``, as in NumPy: see gc.reshape."""
        return _ops().reshape(self, _varargs(shape), name=name)

    def transpose(self, *axes: object, name: str | None = None) -> Node:
        """``x.transpose()``, ``x.transpose(1, 0)`` or ``x.transpose((1, 0))``: see gc.transpose."""
        return _ops().transpose(self, _varargs(axes) if axes and axes != (None,) else None, name=name)

    def sum(self, axis: object = None, keepdims: bool = False, name: str | None = None) -> Node:
        return _ops().sum(self, axis=axis, keepdims=keepdims, name=name)

    def mean(self, axis: object = None, keepdims: bool = False, name: str | None = None) -> Node:
        return _ops().mean(self, axis=axis, keepdims=keepdims, name=name)

    def max(self, axis: object = None, keepdims: bool = False, name: str | None = None) -> Node:
        return _ops().max(self, axis=axis, keepdims=keepdims, name=name)

    def min(self, axis: object = None, keepdims: bool = False, name: str | None = None) -> Node:
        return _ops().min(self, axis=axis, keepdims=keepdims, name=name)

    def var(self, axis: object = None, ddof: int = 0, keepdims: bool = False, name: str | None = None) -> Node:
        return _ops().var(self, axis=axis, ddof=ddof, keepdims=keepdims, name=name)

    def std(self, axis: object = None, ddof: int = 0, keepdims: bool = False, name: str | None = None) -> Node:
        return _ops().std(self, axis=axis, ddof=ddof, keepdims=keepdims, name=name)

    def dot(self, o: object, name: str | None = None) -> Node:
        """``x.dot(w)``: the matrix product of 1-D and 2-D operands (see gc.matmul)."""
        return _ops().matmul(self, o, name=name)

    def astype(self, dtype: object, name: str | None = None) -> Node:
        return _ops().cast(self, dtype, name=name)

    def clip(self, min: object = None, max: object = None, name: str | None = None) -> Node:  # noqa: A002
        return _ops().clip(self, min, max, name=name)


def _ops():
    """The op functions, imported when a method first needs them (they import this module)."""
    import graphc.ops

    return graphc.ops


def _varargs(args: tuple) -> object:
    """NumPy's two spellings: ``f(2, 3)`` and ``f((2, 3))``."""
    return args[0] if len(args) == 1 and isinstance(args[0], (tuple, list)) else args


def _liftable(o: object) -> bool:
    """Whether an operator's other operand becomes a node (else NotImplemented: Python then
    compares by identity, so ``node == None`` is False as for any object)."""
    return isinstance(o, (Node, np.ndarray, np.generic, bool, int, float, _Size))


def _indexing() -> Any:
    from graphc.ops import indexing  # the ops package imports this module

    return indexing


def _ops():
    """graphc.ops (matmul builds a contraction spec first), imported when first used."""
    import graphc.ops

    return graphc.ops


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
        elif isinstance(o, _Size):
            # a dim's size (x.shape[0]) is weak as an int is: it takes the dtype it meets
            nodes.append(apply("numel", dims=(o.plain(),), dtype=base if base is not None else dtypes.INT64))
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
