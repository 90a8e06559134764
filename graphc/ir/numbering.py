"""One numbering from declaration to kernel.

``gc.show`` numbers the nodes of a graph ``%0, %1, ...`` in topological order. A
``Numbering`` keeps those numbers while the passes rewrite the graph: a node rebuilt
over rewritten inputs keeps the number of the node it rebuilds, and a node a pass makes
(a folded constant, ``x * x`` for ``x ** 2``) gets a new number, after all others, and
records which pass made it from which nodes. The listings of a compiled function and
the comments of its kernels use the same numbers, so ``%19`` is one node everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from graphc.ir.graph import order
from graphc.ir.node import Node


@dataclass(frozen=True)
class Made:
    """How a pass made a node: the pass's name and the numbers of the nodes it replaced."""

    by: str
    sources: tuple[int, ...]

    def __str__(self) -> str:
        return f"made by {self.by} from {' '.join(f'%{s}' for s in self.sources)}"


class Numbering:
    """Node numbers of a declared graph, carried through the passes."""

    def __init__(self, outputs: Sequence[Node]) -> None:
        self.ids: dict[Node, int] = {n: i for i, n in enumerate(order(outputs))}
        self.made: dict[Node, Made] = {}
        self._next = len(self.ids)

    def __getitem__(self, node: Node) -> int:
        return self.ids[node]

    def __contains__(self, node: object) -> bool:
        return node in self.ids

    def keep(self, new: Node, old: Node) -> None:
        """``new`` is ``old`` rebuilt over rewritten inputs: it is the same node to a reader."""
        if new is not old and old in self.ids and new not in self.ids:
            self.ids[new] = self.ids[old]
            if old in self.made:
                self.made[new] = self.made[old]

    def record(self, by: str, old: Node, replacement: Node) -> list[Node]:
        """Number the nodes the pass ``by`` made to replace ``old`` (those of
        ``replacement``'s graph that have no number yet), in topological order."""
        new: list[Node] = []
        stack, seen = [replacement], set()
        while stack:
            n = stack.pop()
            if n in self.ids or n in seen:
                continue
            seen.add(n)
            new.append(n)
            stack.extend(n.inputs)
        new.sort(key=lambda n: n.id)  # creation order is a topological order
        made = Made(by, (self.ids[old],) if old in self.ids else ())
        for n in new:
            self.ids[n] = self._next
            self.made[n] = made
            self._next += 1
        return new

    def restrict(self, nodes: Iterable[Node]) -> dict[Node, int]:
        """The numbers of ``nodes`` only (those of one optimized graph)."""
        return {n: self.ids[n] for n in nodes}


def of_text(node: Node, ids: dict[Node, int]) -> str:
    """The forward node a backward node is the gradient of: ``%5`` when it is numbered in
    ``ids``, else its name or op (never its global ``%id``, which would read as a number)."""
    of = node.of
    assert of is not None
    if of in ids:
        return f"%{ids[of]}"
    return f"{of.name} (not listed)" if of.name is not None else f"a {of.op} node (not listed)"
