"""The interpreted baseline: walk the graph in topological order, one NumPy call per node.

This is the lecture's ComputationalGraph.forward(): each node's value is its op's NumPy
reference applied to its inputs' values. It is the reference the compiled kernels are
tested against and the baseline the benchmarks compare with.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from graphc.errors import GraphError
from graphc.ir.graph import between, order
from graphc.ir.node import Node
from graphc.ir.op import Op, lookup
from graphc.ir.shapes import dim_names, format_shape, shape_names
from graphc.runtime.arguments import Signature


def node_list(value: object, what: str) -> tuple[Node, ...]:
    """``value`` (a list or tuple of nodes) as a tuple, or a GraphError naming ``what``."""
    if not isinstance(value, (list, tuple)):
        raise GraphError(f"compile: expected {what} to be a list of graphc nodes but got {type(value).__name__}")
    return tuple(value)


def check_closed(inputs: Sequence[Node], outputs: Sequence[Node], nodes: Sequence[Node]) -> None:
    """Every input node the outputs depend on must be among the function's inputs, and every
    named dim must get its size from an input's shape or a binding made at declaration."""
    for i, node in enumerate(inputs):
        if not isinstance(node, Node) or node.op != "input":
            raise GraphError(f"compile: inputs[{i}] must be a node made by gc.input but got {node!r}")
    labels = [n.label for n in inputs]
    twice = sorted({x for x in labels if labels.count(x) > 1})
    if twice:
        raise GraphError(f"compile: two inputs are named {twice[0]!r}")
    missing = [n.label for n in nodes if n.op == "input" and n not in set(inputs)]
    if missing:
        raise GraphError(f"compile: the outputs depend on input {', '.join(missing)} which is not "
                         f"among the inputs ({', '.join(labels)})")
    # a named dim's size comes from an argument's shape or from a binding made at declaration
    known = {d for n in inputs for d in n.shape if isinstance(d, str)}
    known |= {name for n in nodes for name, _ in n.bindings}
    for n in inputs:  # a product of one unknown name (N*4) gives that name too
        for d in n.shape:
            unknown = set(dim_names(d)) - known
            if len(unknown) == 1 and dim_names(d).count(min(unknown)) == 1:
                known |= unknown
    for n in nodes:
        unknown = sorted(shape_names(n.shape) - known)
        if unknown:
            given = ", ".join(f"{i.label} {format_shape(i.shape)}" for i in inputs)
            raise GraphError(f"compile: {n.label} has shape {format_shape(n.shape)} but named dim {unknown[0]} "
                             f"is not a dim of any input ({given}), so its size is unknown at call time")


class Interpreted:
    """A graph evaluated node by node with NumPy. Call it with arrays for the inputs."""

    backend = "interpret"

    def __init__(self, inputs: Sequence[Node], outputs: Sequence[Node] | Node,
                 allow_input_downcast: bool = False) -> None:
        self.single = isinstance(outputs, Node)
        self.outputs = (outputs,) if self.single else node_list(outputs, "the outputs")
        self.inputs = node_list(inputs, "the inputs")
        self.order = order(self.outputs)
        check_closed(self.inputs, self.outputs, self.order)
        self.signature = Signature(self.inputs, self.outputs, allow_downcast=allow_input_downcast)
        self._steps = [(n, lookup(n.op)) for n in self.order if n.op != "input"]

    def __call__(self, *args: object, **kwargs: object) -> np.ndarray | tuple[np.ndarray, ...]:
        arrays, dims = self.signature.check(args, kwargs)
        values = self.evaluate(arrays, dims)
        results = fresh_results([values[n] for n in self.outputs], arrays)
        return results[0] if self.single else tuple(results)

    def evaluate(self, arrays: Sequence[np.ndarray], dims: dict[str, int]) -> dict[Node, np.ndarray]:
        """Every node's value, given the checked input arrays and the bound dims."""
        return evaluate(self._steps, dict(zip(self.inputs, arrays)), dims)


def fresh_results(values: Sequence[np.ndarray], given: Sequence[object]) -> list[np.ndarray | np.generic]:
    """Results as the compiled kernels give them: a 0-d value as a NumPy scalar (as np.sum
    gives), an array fresh and writable: not a read-only constant or broadcast view, nor a
    view of a ``given`` array or of another result."""
    results: list = []
    for v in values:
        if v.ndim == 0:
            results.append(v[()])
            continue
        if not v.flags.writeable or any(np.may_share_memory(v, o) for o in (*given, *results)):
            v = v.copy()
        results.append(v)
    return results


def evaluate(steps: Sequence[tuple[Node, Op]], values: dict[Node, np.ndarray],
             dims: dict[str, int]) -> dict[Node, np.ndarray]:
    """Run ``steps`` (nodes with their ops, in order) on top of the given ``values``."""
    with np.errstate(all="ignore"):  # IEEE results (inf, nan) as the compiled kernels give them
        for node, op in steps:
            values[node] = np.asarray(op.numpy([values[i] for i in node.inputs], node.attrs, dims))
    return values


def plan(outputs: Sequence[Node], given: Sequence[Node]) -> list[tuple[Node, Op]]:
    """The steps that compute ``outputs`` from the ``given`` nodes' values."""
    return [(n, lookup(n.op)) for n in between(outputs, given) if n.op != "input"]
