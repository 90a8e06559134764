"""Common subexpression elimination: one node per distinct (op, inputs, attrs)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from graphc.ir.node import Node
from graphc.passes.rewrite import Rule, rewrite

_MAX_CONST_BYTES = 1 << 16  # larger constants are compared by identity, not by content


def _attr_key(value: object) -> object:
    if isinstance(value, np.ndarray):
        if value.nbytes > _MAX_CONST_BYTES:
            return ("array", id(value))
        return ("array", value.dtype.str, value.shape, value.tobytes())
    if isinstance(value, np.dtype):
        return ("dtype", value.str)
    return value


def node_key(node: Node) -> tuple | None:
    """What makes two nodes compute the same value; None for nodes never merged (inputs)."""
    if node.op == "input":
        return None
    attrs = tuple(sorted((k, _attr_key(v)) for k, v in node.attrs.items()))
    return (node.op, node.dtype.str, tuple(i.id for i in node.inputs), attrs, node.shape)


def cse_rule() -> Rule:
    """A rule (with its own memory) that maps a node to the first one equal to it."""
    seen: dict[tuple, Node] = {}

    def rule(node: Node) -> Node | None:
        key = node_key(node)
        if key is None:
            return None
        first = seen.setdefault(key, node)
        return None if first is node else first

    return rule


def cse(outputs: Sequence[Node]) -> list[Node]:
    return rewrite(outputs, cse_rule())
