"""Graph-to-graph passes run before code generation.

Each pass takes output nodes and returns equivalent output nodes; nodes are immutable,
so a pass rebuilds what it changes (``rewrite``) and dead code simply is not reached.
``gc.compile(..., passes=...)`` chooses them by name (``PASSES``); a ``PassLog``
records what each changed (see ``gc.explain``).
"""

from __future__ import annotations

from collections.abc import Sequence

from graphc.errors import GraphError
from graphc.ir.node import Node
from graphc.passes.cse import cse, cse_rule
from graphc.passes.fold import fold_constants, fold_rule
from graphc.passes.log import PassLog
from graphc.passes.rewrite import Rule, rewrite
from graphc.passes.simplify import simplify, simplify_rule

# in the order they run on each node; "fusion" groups elementwise chains into loops at code generation
PASSES = ("simplify", "fold", "cse", "fusion")
_RULES = {"simplify": lambda: simplify_rule, "fold": lambda: fold_rule, "cse": cse_rule}


def select(passes: object, what: str = "compile") -> tuple[str, ...]:
    """The pass names of ``passes``: "all", "none", or a list of names from ``PASSES``."""
    if passes == "all":
        return PASSES
    if passes == "none":
        return ()
    if isinstance(passes, (list, tuple)) and all(isinstance(p, str) for p in passes):
        unknown = [p for p in passes if p not in PASSES]
        if unknown:
            raise GraphError(f"{what}: unknown pass {unknown[0]!r}: expected names among {', '.join(PASSES)}")
        return tuple(p for p in PASSES if p in passes)
    raise GraphError(f"{what}: expected passes to be 'all', 'none' or a list of pass names "
                     f"({', '.join(PASSES)}) but got {passes!r}")


def optimize(outputs: Sequence[Node], max_rounds: int = 8, passes: Sequence[str] = PASSES,
             log: PassLog | None = None) -> list[Node]:
    """Algebraic simplification, constant folding and CSE (those of ``passes``) in one
    walk per round, repeated while a round changes something (a folded constant can
    enable a simplification). ``log`` records each change and keeps the numbering."""
    current = list(outputs)
    names = [p for p in PASSES if p in passes and p in _RULES]
    if not names:
        return current
    for _ in range(max_rounds):
        current, fired = _round(current, names, log)
        if not fired:
            break
    return current


def _round(outputs: list[Node], names: list[str], log: PassLog | None) -> tuple[list[Node], int]:
    fired = 0
    steps: list[tuple[str, Rule]] = [(name, _RULES[name]()) for name in names]  # cse has a memory per round

    def rule(node: Node) -> Node | None:
        nonlocal fired
        result = node
        for name, step in steps:
            replacement = step(result)
            if replacement is not None:
                if log is not None:
                    log.record(name, result, replacement)
                result = replacement
        if result is node:
            return None
        fired += 1
        return result

    return rewrite(outputs, rule, log.numbering if log is not None else None), fired


__all__ = ["PASSES", "PassLog", "cse", "fold_constants", "optimize", "select", "simplify"]
