"""What the passes did to one graph: every change, in order, under one numbering."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from graphc.ir.node import Node
from graphc.ir.numbering import Numbering


@dataclass(frozen=True, eq=False)
class Change:
    """The pass ``by`` replaced ``before`` by ``after`` (an existing node, or nodes it made)."""

    by: str
    before: Node
    after: Node


class PassLog:
    """The passes chosen for a compile, the numbering they keep, and each change they made
    (``gc.explain(f)`` prints it; ``f.passes`` is this object)."""

    def __init__(self, passes: Sequence[str], numbering: Numbering) -> None:
        self.passes = tuple(passes)
        self.numbering = numbering
        self.changes: list[Change] = []
        self.declared_nodes = len(numbering.ids)

    def record(self, by: str, before: Node, after: Node) -> None:
        self.numbering.record(by, before, after)
        self.changes.append(Change(by, before, after))

    def by_pass(self, name: str) -> list[Change]:
        return [c for c in self.changes if c.by == name]

    def counts(self) -> dict[str, int]:
        """How many rewrites each rewriting pass made (fusion rewrites nothing: see gc.explain)."""
        return {p: len(self.by_pass(p)) for p in self.passes if p != "fusion"}

    def __repr__(self) -> str:
        counts = ", ".join(f"{p}: {n}" for p, n in self.counts().items())
        return f"<graphc.PassLog passes={list(self.passes)} rewrites {{{counts}}}>"
