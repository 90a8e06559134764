"""Graphs for people: a typed listing, a networkx graph and Graphviz DOT.

All three number the nodes the same way (``%0, %1, ...`` in topological order), so a
line of ``show`` and a node of ``to_networkx`` or ``to_dot`` are easy to match.
"""

from __future__ import annotations

import networkx as nx
import numpy as np

from graphc.ir.graph import order
from graphc.ir.node import Node
from graphc.ir.shapes import format_shape

PATTERN_COLOURS = {
    "distribute": "#4e79a7",  # add gate
    "route": "#f28e2b",  # max gate
    "switch": "#59a14f",  # mul gate
    "sum": "#e15759",  # gradients add at branches
    "unbroadcast": "#b07aa1",
    "local": "#bab0ac",
}


def _numbering(outputs: tuple[Node, ...]) -> tuple[list[Node], dict[Node, int]]:
    nodes = order(outputs)
    return nodes, {n: i for i, n in enumerate(nodes)}


def _attr_text(node: Node) -> str:
    if node.op == "const":
        value = node.attrs["value"]
        return "" if value.size != 1 else f" {value.item()!r}"
    parts = [f"{k}={v.name if isinstance(v, np.dtype) else v}" for k, v in node.attrs.items()]
    return f"[{' '.join(parts)}]" if parts else ""


def of_text(node: Node, ids: dict[Node, int]) -> str:
    """The forward node a backward node is the gradient of: ``%5`` when it is listed, else
    its name or op (never its global ``%id``, which would read as a listing number)."""
    of = node.of
    if of in ids:
        return f"%{ids[of]}"
    return f"{of.name} (not listed)" if of.name is not None else f"a {of.op} node (not listed)"


def describe(node: Node, ids: dict[Node, int]) -> str:
    """One node as ``%12:f64[N,100] = mul %9 %11    # switch, grad of %5``."""
    args = " ".join(f"%{ids[i]}" for i in node.inputs)
    rhs = f"{node.op}{_attr_text(node)}"
    if node.op == "input":
        rhs += f" {node.name}"
    elif args:
        rhs += f" {args}"
    notes = []
    if node.name is not None and node.op != "input":
        notes.append(node.name)
    if node.role == "backward":
        notes.append(f"{node.pattern}, grad of {of_text(node, ids)}")
    line = f"%{ids[node]}:{node.type_str} = {rhs}"
    return f"{line:<44}  # {'; '.join(notes)}" if notes else line


def show(*outputs: Node) -> str:
    """A typed listing of ``outputs`` and everything they depend on, one line per node."""
    nodes, ids = _numbering(outputs)
    lines = [describe(n, ids) for n in nodes]
    lines.append("outputs: " + " ".join(f"%{ids[o]}" for o in outputs))
    return "\n".join(lines)


def to_networkx(*outputs: Node) -> nx.DiGraph:
    """A DiGraph over the listing's numbers. Node attributes: op, shape, dtype, name (the
    user's name, else ``%i`` as listed), role, pattern and of (backward nodes: the number of
    the forward node, or a description when that node is not listed), attrs, node (the
    graphc Node); edges carry the input slot as ``index``."""
    nodes, ids = _numbering(outputs)
    g = nx.DiGraph()
    for n in nodes:
        of = None if n.of is None else ids[n.of] if n.of in ids else of_text(n, ids)
        name = n.name if n.name is not None else f"%{ids[n]}"
        g.add_node(ids[n], op=n.op, shape=n.shape, dtype=n.dtype.name, name=name, role=n.role,
                   pattern=n.pattern, of=of, attrs=dict(n.attrs), node=n, output=n in set(outputs))
        for index, src in enumerate(n.inputs):
            g.add_edge(ids[src], ids[n], index=index)
    return g


def _dot_label(node: Node, i: int) -> str:
    head = node.name if node.op == "input" else f"{node.op}{_attr_text(node)}"
    text = f"%{i} {head}\\n{node.dtype.name} {format_shape(node.shape)}"
    return text.replace('"', "'")


def to_dot(*outputs: Node) -> str:
    """Graphviz DOT: the forward and backward graphs as two clusters, backward nodes
    filled with the colour of their gate pattern, and a legend."""
    nodes, ids = _numbering(outputs)
    out = ["digraph graphc {", "  rankdir=LR;", '  node [shape=box, style="rounded,filled", fontname="monospace"];']
    for role in ("forward", "backward"):
        members = [n for n in nodes if n.role == role]
        if not members:
            continue
        out.append(f'  subgraph cluster_{role} {{ label="{role}"; color="#999999";')
        for n in members:
            fill = PATTERN_COLOURS[n.pattern] if n.pattern else "#ffffff"
            pen = ", penwidth=2.5" if n in set(outputs) else ""
            out.append(f'    n{ids[n]} [label="{_dot_label(n, ids[n])}", fillcolor="{fill}"{pen}];')
        out.append("  }")
    for n in nodes:
        for src in n.inputs:
            out.append(f"  n{ids[src]} -> n{ids[n]};")
    if any(n.role == "backward" for n in nodes):
        out.append('  subgraph cluster_legend { label="gate patterns"; color="#dddddd";')
        for pattern, colour in PATTERN_COLOURS.items():
            out.append(f'    legend_{pattern} [label="{pattern}", fillcolor="{colour}"];')
        out.append("  }")
    out.append("}")
    return "\n".join(out) + "\n"
