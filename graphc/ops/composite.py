"""Ops written as compositions of primitives: softmax, log_softmax, logsumexp, softplus,
min, var, std, clip, square.

They are not primitives on purpose: their backward graphs then show the gate patterns
(the max-shift routes, the normalising sum distributes), and the fusion pass turns the
chain into loops as tight as a hand-written kernel.
"""

from __future__ import annotations

import math

import numpy as np

from graphc.errors import GraphError
from graphc.ir.node import Node, apply, renamed
from graphc.ir.shapes import normalize_axes
from graphc.ops._common import as_node, require_float
from graphc.ops.elementwise import abs, exp, log, log1p, maximum, minimum, sqrt  # noqa: A004
from graphc.ops.reductions import max, mean, sum  # noqa: A004
from graphc.ops.structural import reshape


def _named(out: Node, name: str | None) -> Node:
    return out if name is None else renamed(out, name)


def softmax(x: object, axis: int = -1, name: str | None = None) -> Node:
    """exp(x - max x) / sum(exp(x - max x)) along ``axis`` (the max-shift keeps exp finite)."""
    node = as_node(x, "softmax")
    require_float("softmax", (node,))
    normalize_axes("softmax", axis, node.ndim)  # a bad axis is reported as softmax's
    e = exp(node - max(node, axis=axis, keepdims=True))
    out = e / sum(e, axis=axis, keepdims=True)
    return _named(out, name)


def log_softmax(x: object, axis: int = -1, name: str | None = None) -> Node:
    """x - max x - log(sum(exp(x - max x))) along ``axis``."""
    node = as_node(x, "log_softmax")
    require_float("log_softmax", (node,))
    normalize_axes("log_softmax", axis, node.ndim)
    shifted = node - max(node, axis=axis, keepdims=True)
    out = shifted - log(sum(exp(shifted), axis=axis, keepdims=True))
    return _named(out, name)


def logsumexp(x: object, axis: object = None, keepdims: bool = False, name: str | None = None) -> Node:
    """log(sum(exp(x))) over ``axis``, computed as m + log(sum(exp(x - m))) with m = max x,
    so exp never overflows (scipy.special.logsumexp). The gradient is softmax(x): the two
    paths through m (the max routes, the shift subtracts) cancel."""
    node = as_node(x, "logsumexp")
    require_float("logsumexp", (node,))
    axes = normalize_axes("logsumexp", axis, node.ndim)
    m = max(node, axis=axes, keepdims=True)
    out = m + log(sum(exp(node - m), axis=axes, keepdims=True))
    if not keepdims:
        out = reshape(out, tuple(d for i, d in enumerate(node.shape) if i not in axes))
    return _named(out, name)


def softplus(x: object, name: str | None = None) -> Node:
    """log(1 + exp(x)), as max(x, 0) + log1p(exp(-|x|)) so that neither overflows; its
    gradient is sigmoid(x) (at 0 the max gate splits: 1/2, as sigmoid(0))."""
    node = as_node(x, "softplus")
    require_float("softplus", (node,))
    return _named(maximum(node, 0.0) + log1p(exp(-abs(node))), name)


def square(x: object, name: str | None = None) -> Node:
    """x * x (a mul gate: the two gradients add at the branch, 2x)."""
    node = as_node(x, "square")
    return _named(node * node, name)


def min(x: object, axis: object = None, keepdims: bool = False, name: str | None = None) -> Node:  # noqa: A001
    """Min over ``axis``: -max(-x), so the gradient routes to the minima (ties split it)."""
    node = as_node(x, "min")
    axes = normalize_axes("min", axis, node.ndim)
    if not axes and not keepdims:
        return node
    return apply("neg", max(-node, axis=axes, keepdims=keepdims), name=name)


def _count(node: Node, axes: tuple[int, ...], ddof: int) -> object:
    """The number of elements reduced minus ``ddof``: a constant, or an int64 numel node."""
    reduced = [node.shape[a] for a in axes]
    if all(isinstance(d, int) for d in reduced):
        return np.asarray(math.prod(reduced) - ddof, dtype=node.dtype)
    return apply("numel", dims=tuple(reduced), dtype=node.dtype) - ddof


def var(x: object, axis: object = None, ddof: int = 0, keepdims: bool = False, name: str | None = None) -> Node:
    """Variance over ``axis``: sum((x - mean x)^2) / (n - ddof), NumPy's two-pass formula."""
    node = as_node(x, "var")
    require_float("var", (node,))
    axes = normalize_axes("var", axis, node.ndim)
    if isinstance(ddof, bool) or not isinstance(ddof, (int, np.integer)) or ddof < 0:
        raise GraphError(f"var: expected ddof to be a non-negative int but got {ddof!r}")
    centered = node - mean(node, axis=axes, keepdims=True)
    return apply("div", sum(centered * centered, axis=axes, keepdims=keepdims), _count(node, axes, int(ddof)),
                 name=name)


def std(x: object, axis: object = None, ddof: int = 0, keepdims: bool = False, name: str | None = None) -> Node:
    """Standard deviation over ``axis``: sqrt(var(x, axis, ddof))."""
    node = as_node(x, "std")
    require_float("std", (node,))
    return sqrt(var(node, axis=axis, ddof=ddof, keepdims=keepdims), name=name)


def clip(x: object, a_min: object = None, a_max: object = None, name: str | None = None) -> Node:
    """x limited to [a_min, a_max] (either may be None): minimum(maximum(x, a_min), a_max).
    The gradient routes through where x is inside; at a bound the tie splits it."""
    node = as_node(x, "clip")
    if a_min is None and a_max is None:
        raise GraphError("clip: expected a_min or a_max (or both) but got neither")
    out = node if a_min is None else maximum(node, a_min)
    out = out if a_max is None else minimum(out, a_max)
    return _named(out, name)
