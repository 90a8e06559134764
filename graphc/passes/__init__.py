"""Graph-to-graph passes run before code generation.

Each pass takes output nodes and returns equivalent output nodes; nodes are immutable,
so a pass rebuilds what it changes (``rewrite``) and dead code simply is not reached.
"""

from __future__ import annotations

from collections.abc import Sequence

from graphc.ir.node import Node
from graphc.passes.cse import cse, cse_rule
from graphc.passes.fold import fold_constants, fold_rule
from graphc.passes.rewrite import rewrite
from graphc.passes.simplify import simplify, simplify_rule


def optimize(outputs: Sequence[Node], max_rounds: int = 8) -> list[Node]:
    """Algebraic simplification, constant folding and CSE in one walk per round, repeated
    while a round changes something (a folded constant can enable a simplification)."""
    current = list(outputs)
    for _ in range(max_rounds):
        current, fired = _round(current)
        if not fired:
            break
    return current


def _round(outputs: list[Node]) -> tuple[list[Node], int]:
    fired = 0
    dedupe = cse_rule()

    def rule(node: Node) -> Node | None:
        nonlocal fired
        result = node
        for step in (simplify_rule, fold_rule, dedupe):
            replacement = step(result)
            if replacement is not None:
                result = replacement
        if result is node:
            return None
        fired += 1
        return result

    return rewrite(outputs, rule), fired


__all__ = ["cse", "fold_constants", "optimize", "simplify"]
