"""The interpreted baseline: walk the graph in topological order, one NumPy call per node.

This is the lecture's ComputationalGraph.forward(): each node's value is its op's NumPy
reference applied to its inputs' values. It is the reference the compiled kernels are
tested against and the baseline the benchmarks compare with.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from graphc.errors import GraphError
from graphc.ir.graph import order
from graphc.ir.node import Node
from graphc.ir.op import lookup
from graphc.runtime.arguments import Signature


def check_closed(inputs: Sequence[Node], outputs: Sequence[Node], nodes: Sequence[Node]) -> None:
    """Every input node the outputs depend on must be among the function's inputs."""
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


class Interpreted:
    """A graph evaluated node by node with NumPy. Call it with arrays for the inputs."""

    backend = "interpret"

    def __init__(self, inputs: Sequence[Node], outputs: Sequence[Node] | Node) -> None:
        self.single = isinstance(outputs, Node)
        self.outputs = (outputs,) if self.single else tuple(outputs)
        self.inputs = tuple(inputs)
        self.order = order(self.outputs)
        check_closed(self.inputs, self.outputs, self.order)
        self.signature = Signature(self.inputs, self.outputs)
        self._steps = [(n, lookup(n.op)) for n in self.order if n.op != "input"]

    def __call__(self, *args: object) -> np.ndarray | tuple[np.ndarray, ...]:
        arrays, dims = self.signature.check(args)
        values = self.evaluate(arrays, dims)
        results = tuple(values[n] for n in self.outputs)
        return results[0] if self.single else results

    def evaluate(self, arrays: Sequence[np.ndarray], dims: dict[str, int]) -> dict[Node, np.ndarray]:
        """Every node's value, given the checked input arrays and the bound dims."""
        values: dict[Node, np.ndarray] = dict(zip(self.inputs, arrays))
        with np.errstate(all="ignore"):  # IEEE results (inf, nan) as the compiled kernels give them
            for node, op in self._steps:
                values[node] = np.asarray(op.numpy([values[i] for i in node.inputs], node.attrs, dims))
        return values
