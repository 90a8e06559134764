"""The driver of every rewriting pass: one walk in topological order."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from graphc.errors import GraphError
from graphc.ir.graph import build, order, toposort
from graphc.ir.node import Node, provenance_like, rebuilt
from graphc.ir.numbering import Numbering

Rule = Callable[[Node], Node | None]


def rewrite(outputs: Sequence[Node], rule: Rule, numbering: Numbering | None = None) -> list[Node]:
    """Apply ``rule`` to every node, inputs first. The rule sees the node over its
    already rewritten inputs and returns a replacement of the same shape and dtype,
    or None to keep it. Replacements inherit the node's provenance (role, pattern, of),
    with ``of`` mapped to what that node was rewritten to. A rebuilt node keeps its
    number in ``numbering``."""
    mapping: dict[Node, Node] = {}
    for node in _walk(outputs):
        inputs = tuple(mapping[i] for i in node.inputs)
        of = mapping.get(node.of, node.of) if node.of is not None else None
        same = all(a is b for a, b in zip(inputs, node.inputs)) and of is node.of  # identity: == builds a node
        current = node if same else rebuilt(node, inputs, of)
        if numbering is not None:
            numbering.keep(current, node)
        with provenance_like(node, of):
            replacement = rule(current)
        if replacement is not None:
            assert replacement.shape == node.shape and replacement.dtype == node.dtype, (node, replacement)
            current = replacement
        mapping[node] = current
    return [mapping[o] for o in outputs]


def _walk(outputs: Sequence[Node]) -> list[Node]:
    """The nodes in an order that also visits the node a gradient is ``of`` (when it is in
    the graph) before the gradient, so that ``of`` can be mapped."""
    graph = build(outputs)
    for node in list(graph):
        if node.of is not None and node.of in graph:
            graph.add_edge(node.of, node)
    try:
        return toposort(graph)
    except GraphError:  # a rewrite merged a gradient into an ancestor of its ``of``
        return order(outputs)
