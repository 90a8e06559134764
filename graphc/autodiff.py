"""The adjoint pass: the graph of gradients, built symbolically from the gate patterns.

``grad(y, wrt)`` walks the forward graph (a networkx DiGraph) in reverse topological
order from the scalar ``y``. At each node it takes the upstream gradient, applies the
op's VJP rule from the registry (add distributes, max routes, mul switches, ...) and
hands one cotangent to each input; where a value feeds several consumers the
cotangents meet in an explicit sum node. Where a VJP hands its input a gradient on
unchanged (add distributes ``g`` to both inputs), the cotangent is an ``identity`` node
of that input, so each gate application, and each variable's gradient, is a node of
its own (the simplification pass removes them before code generation). Nothing is
computed: the result is ordinary graph nodes, tagged ``role="backward"`` with their
gate ``pattern`` and the node ``of`` whose gradient they compute, so they can be
printed, compiled, or differentiated again.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import overload

import networkx as nx
import numpy as np

from graphc.errors import DTypeError, GraphError, ShapeError
from graphc.ir import dtypes
from graphc.ir.graph import build, toposort
from graphc.ir.node import Node, apply, constant, provenance
from graphc.ir.op import lookup
from graphc.ir.shapes import dimwise_bindings, format_shape
from graphc.ops.structural import broadcast_to, reshape


@overload
def grad(y: Node, wrt: Node, disconnected: str = ..., seed: Node | None = ...) -> Node: ...
@overload
def grad(y: Node, wrt: Sequence[Node], disconnected: str = ..., seed: Node | None = ...) -> list[Node]: ...


def grad(y: Node, wrt: Node | Sequence[Node], disconnected: str = "zeros",
         seed: Node | None = None) -> Node | list[Node]:
    """Symbolic gradients of the scalar ``y`` with respect to ``wrt``.

    Each result has exactly the shape of its variable. A variable ``y`` does not depend
    on gets zeros, or a GraphError with ``disconnected="raise"``. ``seed`` is the
    upstream gradient of ``y`` (default 1); with a seed of its shape, ``y`` may be any
    array (a vector-Jacobian product, see ``vjp``).
    """
    single = isinstance(wrt, Node)
    if not single and not isinstance(wrt, (list, tuple)):
        raise GraphError(f"grad: expected wrt to be a node or a list of nodes but got {type(wrt).__name__}")
    variables = [wrt] if single else list(wrt)
    _check(y, variables, disconnected, seed)
    grads = adjoints(y, variables, seed)
    results = []
    for w in variables:
        if w in grads:
            results.append(grads[w])
        elif disconnected == "raise":
            raise GraphError(f"grad: {y.label} does not depend on {w.label}")
        else:
            with provenance("local", of=w):
                results.append(broadcast_to(constant(0.0, w.dtype), w.shape))
    return results[0] if single else results


def _check(y: Node, variables: list[Node], disconnected: str, seed: Node | None) -> None:
    if not isinstance(y, Node):
        raise GraphError(f"grad: expected a graphc node to differentiate but got {type(y).__name__}")
    if y.shape != () and seed is None:
        raise ShapeError(f"grad: {y.label} has shape {format_shape(y.shape)} but grad needs a scalar "
                         "(shape ()); reduce it first, e.g. gc.sum, or give the upstream gradient of its "
                         "shape: gc.grad(y, wrt, seed=dy) or gc.vjp(y, wrt, dy)")
    if not dtypes.is_float(y.dtype):
        raise DTypeError(f"grad: {y.label} has dtype {y.dtype} but grad needs a floating scalar")
    if disconnected not in ("zeros", "raise"):
        raise GraphError(f"grad: disconnected must be 'zeros' or 'raise' but got {disconnected!r}")
    if seed is not None:
        if not isinstance(seed, Node):
            raise GraphError(f"grad: expected the seed to be a graphc node but got {type(seed).__name__}")
        if seed.shape != y.shape:
            raise ShapeError(f"grad: the seed {seed.label} must have the shape {format_shape(y.shape)} of "
                             f"{y.label} but has shape {format_shape(seed.shape)}")
        if seed.dtype != y.dtype:
            raise DTypeError(f"grad: the seed {seed.label} must have the dtype {y.dtype} of {y.label} "
                             f"but has dtype {seed.dtype}")
    for i, w in enumerate(variables):
        if not isinstance(w, Node):
            raise GraphError(f"grad: wrt[{i}] must be a graphc node but got {type(w).__name__}")
        if not dtypes.is_float(w.dtype):
            raise DTypeError(f"grad: {w.label} has dtype {w.dtype}: only floating variables have gradients")


def vjp(outputs: Node | Sequence[Node], wrt: Node | Sequence[Node], cotangents: object,
        disconnected: str = "zeros") -> Node | list[Node]:
    """The vector-Jacobian product: the gradients for ``wrt`` of sum_k <outputs_k, cotangents_k>.

    Each cotangent (upstream gradient) has its output's shape and dtype: a node, or an
    array or number made a constant. ``outputs`` and ``cotangents`` are a node and its
    cotangent, or two lists of equal length. This is the lecture's ``backward(dout)``."""
    if isinstance(outputs, Node):
        outputs, cotangents = [outputs], [cotangents]
    if not isinstance(outputs, (list, tuple)) or not isinstance(cotangents, (list, tuple)) \
            or len(outputs) != len(cotangents):
        raise GraphError("vjp: expected an output and its cotangent, or two lists of equal length")
    single = isinstance(wrt, Node)
    variables = [wrt] if single else list(wrt)
    total: list[Node] | None = None
    for y, ct in zip(outputs, cotangents):
        if not isinstance(y, Node):
            raise GraphError(f"vjp: expected graphc nodes as outputs but got {type(y).__name__}")
        seed = ct if isinstance(ct, Node) else _cotangent(y, ct)
        if seed.shape != y.shape or seed.dtype != y.dtype:
            error = ShapeError if seed.shape != y.shape else DTypeError
            raise error(f"vjp: the cotangent of {y.label}:{y.type_str} must have its shape and dtype but is "
                        f"{seed.label}:{seed.type_str}")
        grads = grad(y, variables, disconnected=disconnected, seed=seed)
        if total is None:
            total = grads
        else:
            total = [_accumulate(w, [a, b]) for w, a, b in zip(variables, total, grads)]
    assert total is not None
    return total[0] if single else total


def jacobian(y: Node, x: Node) -> Node:
    """dy/dx, of shape y.shape + x.shape: one vector-Jacobian product per element of ``y``
    (with a one-hot cotangent), placed in its row. For small outputs of fixed shape."""
    if not isinstance(y, Node) or not all(isinstance(d, int) for d in y.shape):
        raise ShapeError(f"jacobian: expected an output of fixed shape but got {getattr(y, 'label', y)!r} "
                         f"of shape {format_shape(getattr(y, 'shape', ()))}")
    count = math.prod(y.shape)
    rows = []
    for k in range(count):
        one_hot = np.zeros(count, dtype=y.dtype)
        one_hot[k] = 1
        g = grad(y, x, seed=constant(one_hot.reshape(y.shape)))
        with provenance("local", of=x):  # row k of the Jacobian: the VJP placed at element k of y
            rows.append(constant(one_hot.reshape(y.shape + (1,) * x.ndim))
                        * reshape(g, (1,) * y.ndim + x.shape))
    if not rows:
        return broadcast_to(constant(0.0, x.dtype), y.shape + x.shape)
    return _accumulate(x, rows)


def _cotangent(y: Node, value: object) -> Node:
    array = np.asarray(value)
    if not np.can_cast(array.dtype, y.dtype, casting="same_kind"):
        raise DTypeError(f"vjp: the cotangent of {y.label} must be {y.dtype} but got {array.dtype}")
    return constant(array, y.dtype)


def adjoints(y: Node, variables: Sequence[Node], seed: Node | None = None) -> dict[Node, Node]:
    """The gradient of ``y`` for every node on a path from a variable to ``y``."""
    graph = build([y])
    upstream = nx.ancestors(graph, y) | {y}
    on_path: set[Node] = set()
    for w in variables:
        if w in graph:
            on_path |= (nx.descendants(graph, w) | {w}) & upstream
    if not on_path:
        return {}
    if seed is None:
        with provenance("local", of=y):
            seed = constant(1.0, y.dtype)
    pending: dict[Node, list[Node]] = defaultdict(list)
    pending[y].append(seed)
    grads: dict[Node, Node] = {}
    for node in reversed([n for n in toposort(graph) if n in on_path]):  # a subgraph view is slow
        parts = pending.pop(node, None)
        if not parts:  # every path from here to y has a zero gradient (a comparison, one_hot)
            continue
        g = _accumulate(node, parts)
        grads[node] = g
        if not node.inputs:
            continue
        op = lookup(node.op)
        for i, x in enumerate(node.inputs):
            if x not in on_path or not dtypes.is_float(x.dtype):
                continue
            with provenance(op.gate, of=x):
                ct = op.vjp(node, g, i) if op.vjp else None
                if ct is not None and ct.shape != x.shape and _bound_alike(ct.shape, x.shape, node):
                    ct = reshape(ct, x.shape)  # x has a named dim the graph bound to a size: (5, 3) -> (N, 3)
                if ct is not None and ct.of is not x:
                    # the VJP handed on a node it did not make (add's g): mark the gate's
                    # application to x with a node of its own (the passes remove it)
                    ct = apply("identity", ct)
            if ct is None:
                continue
            if ct.shape != x.shape or ct.dtype != x.dtype:
                raise GraphError(f"the VJP of {node.op} gave {ct.type_str} for {x.label}:{x.type_str}")
            pending[x].append(ct)
    return grads


def _bound_alike(a: tuple, b: tuple, node: Node) -> bool:
    """Whether shapes ``a`` and ``b`` differ only by named dims that ``node`` binds to the
    sizes on the other side."""
    needed = dimwise_bindings(a, b)
    return needed is not None and set(needed) <= set(node.bindings)


def _accumulate(node: Node, parts: list[Node]) -> Node:
    """Gradients add at branches: an explicit sum node where a value has several consumers."""
    if len(parts) == 1:
        return parts[0]
    with provenance("sum", of=node):
        total = parts[0]
        for part in parts[1:]:
            total = total + part
    return total
