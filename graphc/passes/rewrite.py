"""The driver of every rewriting pass: one walk in topological order."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from graphc.ir.graph import order
from graphc.ir.node import Node, provenance_like, rebuilt

Rule = Callable[[Node], Node | None]


def rewrite(outputs: Sequence[Node], rule: Rule) -> list[Node]:
    """Apply ``rule`` to every node, inputs first. The rule sees the node over its
    already rewritten inputs and returns a replacement of the same shape and dtype,
    or None to keep it. Replacements inherit the node's provenance (role, pattern, of)."""
    mapping: dict[Node, Node] = {}
    for node in order(outputs):
        inputs = tuple(mapping[i] for i in node.inputs)
        current = node if all(a is b for a, b in zip(inputs, node.inputs)) else rebuilt(node, inputs)
        with provenance_like(node):
            replacement = rule(current)
        if replacement is not None:
            assert replacement.shape == node.shape and replacement.dtype == node.dtype, (node, replacement)
            current = replacement
        mapping[node] = current
    return [mapping[o] for o in outputs]
