"""Constant folding: a node whose inputs are all constants becomes a constant.

A folded value whose elements are all equal stays a scalar constant broadcast to the
shape: elementwise consumers then read one number instead of an array (the
simplifier drops the broadcast where the other operands give the shape), where a
materialized array would be an extra kernel argument streamed through every loop.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from graphc.ir.node import Node, apply, constant
from graphc.ir.op import lookup
from graphc.passes.rewrite import rewrite

MAX_FOLDED_SIZE = 4096  # a broadcast of a scalar to a big shape stays a (cheap) loop


def uniform_element(value: np.ndarray) -> np.generic | None:
    """The element of an array whose elements are all equal; None otherwise (or if empty)."""
    if value.size == 0:
        return None
    first = value.reshape(-1)[0]
    return first if value.size == 1 or np.all(value == first) else None


def fold_rule(node: Node) -> Node | None:
    """A constant for a node whose inputs are all (small) constants."""
    if not node.inputs or any(i.op != "const" for i in node.inputs):
        return None
    if node.op == "broadcast_to" and node.inputs[0].shape == ():
        return None  # already the cheapest form of a uniform value
    if not all(isinstance(d, int) for d in node.shape) or int(np.prod(node.shape)) > MAX_FOLDED_SIZE:
        return None
    with np.errstate(all="ignore"):
        value = lookup(node.op).numpy([i.attrs["value"] for i in node.inputs], node.attrs, {})
    value = np.asarray(value)
    element = uniform_element(value) if value.ndim else None
    if element is not None:
        return apply("broadcast_to", constant(element, node.dtype), shape=node.shape)
    return constant(value, node.dtype)


def fold_constants(outputs: Sequence[Node]) -> list[Node]:
    return rewrite(outputs, fold_rule)
