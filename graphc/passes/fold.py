"""Constant folding: a node whose inputs are all constants becomes a constant."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from graphc.ir.node import Node, constant
from graphc.ir.op import lookup
from graphc.passes.rewrite import rewrite

MAX_FOLDED_SIZE = 4096  # a broadcast of a scalar to a big shape stays a (cheap) loop


def fold_rule(node: Node) -> Node | None:
    """A constant for a node whose inputs are all (small) constants."""
    if not node.inputs or any(i.op != "const" for i in node.inputs):
        return None
    if not all(isinstance(d, int) for d in node.shape) or int(np.prod(node.shape)) > MAX_FOLDED_SIZE:
        return None
    with np.errstate(all="ignore"):
        value = lookup(node.op).numpy([i.attrs["value"] for i in node.inputs], node.attrs, {})
    return constant(np.asarray(value), node.dtype)


def fold_constants(outputs: Sequence[Node]) -> list[Node]:
    return rewrite(outputs, fold_rule)
