"""Fusion grouping: which nodes share one loop, and the order of a kernel's steps.

Elementwise nodes of one iteration shape join a ``Loop``: they are evaluated per
element as scalars, with no intermediate arrays; a reduction of a member (or of an
array of the loop's shape) joins the loop as an accumulator that ends the chain. Only
values needed outside the loop (by another step or as outputs) are stored to arrays.
Everything else (matmul, views, one_hot, 0-d arithmetic) is a ``Step`` of its own.

A node may join a loop only if that keeps the steps acyclic: no step it reads from
outside the loop may depend on the loop (a path query on the networkx graph of steps).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import networkx as nx

from graphc.ir.graph import between
from graphc.ir.node import Node
from graphc.ir.op import lookup
from graphc.ir.shapes import Shape


@dataclass(eq=False)
class Loop:
    """A fused loop over ``shape``: ``members`` in order (elementwise nodes and reductions)."""

    shape: Shape
    members: list[Node] = field(default_factory=list)
    stores: list[Node] = field(default_factory=list)  # members that are materialized to arrays

    @property
    def reductions(self) -> list[Node]:
        return [m for m in self.members if lookup(m.op).kind == "reduce"]

    def loads(self) -> list[Node]:
        """Values from outside the loop that members read, in first-use order."""
        inside = set(self.members)
        seen: dict[Node, None] = {}
        for m in self.members:
            for i in m.inputs:
                if i not in inside:
                    seen.setdefault(i)
        return list(seen)


@dataclass(eq=False)
class Step:
    """One node computed on its own (matmul, a view, a 0-d scalar, one_hot, ...)."""

    node: Node


def is_scalar(node: Node) -> bool:
    return node.shape == ()


def _loop_shape(node: Node) -> Shape | None:
    """The iteration shape a node could be fused into; None if it is never fused."""
    kind = lookup(node.op).kind
    if kind == "elementwise" and not is_scalar(node):
        return node.shape
    if kind == "reduce":
        return node.inputs[0].shape
    return None


def computed(outputs: Sequence[Node], given: Sequence[Node] = ()) -> list[Node]:
    """The nodes a kernel computes: those between its parameters and its outputs, less
    the sources (inputs and constants are parameters or literals)."""
    return [n for n in between(outputs, given) if n.op not in ("input", "const")]


def schedule(outputs: Sequence[Node], given: Sequence[Node] = (), fuse: bool = True) -> list[Loop | Step]:
    """The kernel's steps in an order that respects every dependency (``fuse=False``: a
    loop per elementwise node or reduction)."""
    nodes = computed(outputs, given)
    group: dict[Node, Loop | Step] = {}
    steps = nx.DiGraph()  # the steps, with an edge where one reads what another computes
    created: dict[Loop | Step, int] = {}
    loops: dict[Shape, list[Loop]] = {}  # by iteration shape
    for node in nodes:
        shape = _loop_shape(node)
        target = _joinable(node, shape, group, steps, loops.get(shape, [])) if shape is not None and fuse else None
        if target is None:
            target = Loop(shape) if shape is not None else Step(node)
            if shape is not None:
                loops.setdefault(shape, []).append(target)
            created[target] = len(created)
            steps.add_node(target)
        if isinstance(target, Loop):
            target.members.append(node)
        group[node] = target
        for i in node.inputs:
            if i in group and group[i] is not target:
                steps.add_edge(group[i], target)
    _mark_stores(nodes, outputs, group)
    return list(nx.lexicographical_topological_sort(steps, key=created.__getitem__))


def _joinable(node: Node, shape: Shape, group: dict, steps: nx.DiGraph, same_shape: list[Loop]) -> Loop | None:
    """A loop that ``node`` can join while the steps stay acyclic: no step that the node
    reads from outside the loop may itself depend on the loop. The loops of its inputs
    come first, then any loop of its shape (it shares their iteration)."""
    is_reduction = lookup(node.op).kind == "reduce"
    candidates = dict.fromkeys(group[i] for i in node.inputs if isinstance(group.get(i), Loop))
    candidates.update(dict.fromkeys(reversed(same_shape)))
    for loop in candidates:
        source = node.inputs[0]
        if loop.shape != shape or (is_reduction and isinstance(group.get(source), Loop) and group[source] is not loop):
            continue
        # a reduction's value is complete only after its loop: its consumers can't share it
        if any(group.get(i) is loop and lookup(i.op).kind == "reduce" for i in node.inputs):
            continue
        outside = {group[i] for i in node.inputs if i in group and group[i] is not loop}
        if not any(nx.has_path(steps, loop, other) for other in outside):
            return loop
    return None


def _mark_stores(nodes: list[Node], outputs: Sequence[Node], group: dict) -> None:
    """A loop member is stored when an output or a node of another step needs it."""
    needed = set(outputs)
    for node in nodes:
        for i in node.inputs:
            if group.get(i) is not group.get(node) or lookup(i.op).kind == "reduce":
                needed.add(i)
    for node in nodes:
        g = group.get(node)
        if isinstance(g, Loop) and (node in needed or lookup(node.op).kind == "reduce"):
            g.stores.append(node)
