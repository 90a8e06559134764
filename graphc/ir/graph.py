"""The graph structure of a set of nodes, as a networkx.DiGraph.

Nodes point at their inputs; ``build`` collects everything the outputs depend on into
a DiGraph whose edges run from producer to consumer, and the passes use networkx for
ordering, reachability and cuts on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from operator import attrgetter

import networkx as nx

from graphc.errors import GraphError
from graphc.ir.node import Node


def build(outputs: Iterable[Node]) -> nx.DiGraph:
    """The DiGraph of ``outputs`` and all their ancestors; edge attr ``index`` = input slot."""
    g = nx.DiGraph()
    stack = list(outputs)
    for node in stack:
        if not isinstance(node, Node):
            raise GraphError(f"expected graphc nodes but got {type(node).__name__} {node!r}")
    seen: set[Node] = set()
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        g.add_node(node)
        for index, src in enumerate(node.inputs):
            # a node that uses one input twice (x * x) keeps one edge; the slots are in node.inputs
            g.add_edge(src, node, index=index)
            if src not in seen:
                stack.append(src)
    return g


def toposort(graph: nx.DiGraph) -> list[Node]:
    """Nodes in an order where every input comes before its consumers; ties by creation."""
    try:
        return list(nx.lexicographical_topological_sort(graph, key=lambda n: n.id))
    except nx.NetworkXUnfeasible:
        cycle = _cycle(graph)
        path = " -> ".join(n.label for n in cycle) + f" -> {cycle[0].label}"
        raise GraphError(f"the graph has a cycle: {path}") from None


def _cycle(graph: nx.DiGraph) -> list[Node]:
    """The nodes of one cycle, in order. (nx.find_cycle compares nodes with ``!=``, which
    builds a graphc node rather than answering, so this walk uses identity only.)"""
    state: dict[Node, int] = {}  # 1 on the current path, 2 done
    for root in graph:
        if root in state:
            continue
        state[root] = 1
        path = [root]
        stack = [(root, iter(graph.successors(root)))]
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
                path.pop()
            elif state.get(child) == 1:
                start = next(k for k, n in enumerate(path) if n is child)
                return path[start:]
            elif child not in state:
                state[child] = 1
                path.append(child)
                stack.append((child, iter(graph.successors(child))))
    raise GraphError("the graph has a cycle")  # unreachable: called only when networkx found one


def order(outputs: Iterable[Node]) -> list[Node]:
    """Topological order of ``outputs`` and their ancestors, ties by creation: the order
    ``toposort`` gives. Nodes are immutable and made after their inputs, so creation
    order (``node.id``) is already topological and a sort by id is that order, without
    building a DiGraph (the largest cost of compiling a graph of thousands of nodes).
    Inputs forced onto a node after the fact go through ``toposort``, which finds cycles."""
    outputs = list(outputs)
    stack = list(outputs)
    for node in stack:
        if not isinstance(node, Node):
            raise GraphError(f"expected graphc nodes but got {type(node).__name__} {node!r}")
    seen: set[Node] = set(stack)
    while stack:
        node = stack.pop()
        for src in node.inputs:
            if src.id >= node.id:  # inputs forced onto a node after it was made: maybe a cycle
                return toposort(build(outputs))
            if src not in seen:
                seen.add(src)
                stack.append(src)
    return sorted(seen, key=attrgetter("id"))


def between(outputs: Sequence[Node], given: Iterable[Node] = ()) -> list[Node]:
    """The nodes that compute ``outputs`` from ``given`` values, in topological order:
    ancestors of the outputs short of the given nodes (the given ones excluded)."""
    stop = set(given)
    nodes = order(outputs)
    needed = set(outputs)
    for node in reversed(nodes):
        if node in needed and node not in stop:
            needed.update(node.inputs)
    return [n for n in nodes if n in needed and n not in stop]
