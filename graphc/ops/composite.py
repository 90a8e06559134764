"""softmax and log_softmax, written as compositions of primitives.

They are not primitives on purpose: their backward graphs then show the gate patterns
(the max-shift routes, the normalising sum distributes), and the fusion pass turns the
chain into loops as tight as a hand-written kernel.
"""

from __future__ import annotations

from graphc.ir.node import Node, renamed
from graphc.ir.shapes import normalize_axes
from graphc.ops._common import as_node, require_float
from graphc.ops.elementwise import exp, log
from graphc.ops.reductions import max, sum  # noqa: A004


def softmax(x: object, axis: int = -1, name: str | None = None) -> Node:
    """exp(x - max x) / sum(exp(x - max x)) along ``axis`` (the max-shift keeps exp finite)."""
    node = as_node(x, "softmax")
    require_float("softmax", (node,))
    normalize_axes("softmax", axis, node.ndim)  # a bad axis is reported as softmax's
    e = exp(node - max(node, axis=axis, keepdims=True))
    out = e / sum(e, axis=axis, keepdims=True)
    return out if name is None else renamed(out, name)


def log_softmax(x: object, axis: int = -1, name: str | None = None) -> Node:
    """x - max x - log(sum(exp(x - max x))) along ``axis``."""
    node = as_node(x, "log_softmax")
    require_float("log_softmax", (node,))
    normalize_axes("log_softmax", axis, node.ndim)
    shifted = node - max(node, axis=axis, keepdims=True)
    out = shifted - log(sum(exp(shifted), axis=axis, keepdims=True))
    return out if name is None else renamed(out, name)
