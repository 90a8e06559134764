"""Graph-to-graph passes run before code generation.

Each pass takes output nodes and returns equivalent output nodes; nodes are immutable,
so a pass rebuilds what it changes (``rewrite``) and dead code simply is not reached.
"""

from __future__ import annotations

from collections.abc import Sequence

from graphc.ir.node import Node
from graphc.passes.cse import cse
from graphc.passes.fold import fold_constants
from graphc.passes.simplify import simplify


def optimize(outputs: Sequence[Node]) -> list[Node]:
    """Algebraic simplification, constant folding and CSE, repeated until nothing changes."""
    current = list(outputs)
    for _ in range(8):  # each round can expose more (a folded constant enables a simplification)
        new = cse(fold_constants(simplify(current)))
        if new == current:
            break
        current = new
    return current


__all__ = ["cse", "fold_constants", "optimize", "simplify"]
