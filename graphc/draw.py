"""Pictures of graphs with matplotlib and networkx: no Graphviz needed.

``draw`` lays the forward and backward graph out in layers, one per topological
generation (every node one step right of its latest input), numbers nodes as
``gc.show`` does, fills backward nodes with the colour of their gate pattern and adds
a legend. matplotlib is an optional dependency (``pip install graphc[plot]``).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import networkx as nx

from graphc.errors import GraphError
from graphc.inspect import PATTERN_COLOURS, to_networkx
from graphc.ir.node import Node

FORWARD_FILL = "#ffffff"
DPI = 100
NODE_SIZE = 1500  # points^2: room for "%12 identity"


def _outputs(items: tuple[Any, ...]) -> tuple[Node, ...]:
    """Nodes, or the declared outputs of one compiled function."""
    if len(items) == 1 and not isinstance(items[0], Node) and hasattr(items[0], "outputs"):
        return tuple(items[0].outputs)
    for item in items:
        if not isinstance(item, Node):
            raise GraphError(f"draw: expected graphc nodes or a compiled function but got {type(item).__name__}")
    if not items:
        raise GraphError("draw: expected at least one node to draw")
    return items


def _label(data: dict, number: int) -> str:
    node = data["node"]
    if data["op"] == "input" or node.name is None:
        return f"%{number}\n{data['name'] if data['op'] == 'input' else data['op']}"
    return f"%{number} {data['op']}\n{node.name}"


def _layers(g: nx.DiGraph) -> dict[int, int]:
    """Each node's column: one right of its latest input, and backward nodes right of
    the whole forward graph; a constant (the seed of a backward graph) one left of its
    first consumer, inputs at 0."""
    layer: dict[int, int] = {}
    for n in nx.topological_sort(g):
        preds = list(g.predecessors(n))
        layer[n] = 1 + max(layer[p] for p in preds) if preds else 0
    forward_end = max((layer[n] for n in g if g.nodes[n]["role"] == "forward"), default=0)
    for n in nx.topological_sort(g):
        if g.nodes[n]["role"] == "backward":
            preds = list(g.predecessors(n))
            layer[n] = max([forward_end + 1, *(1 + layer[p] for p in preds)])
    for n in g:
        if g.nodes[n]["op"] != "input" and not g.in_degree(n) and g.out_degree(n):
            layer[n] = max(0, min(layer[c] for c in g.successors(n)) - 1)
    return layer


def draw(*outputs: Any, path: str | Path | None = None, ax: Any = None,
         size: tuple[int, int] | None = None) -> Any:
    """Draw ``outputs`` (nodes, or a function made by ``gc.compile``/``gc.compile_grad``:
    its declared forward and backward graph) and everything they depend on.

    ``path`` writes the picture (the format from its suffix: .png, .svg, .pdf);
    ``ax`` draws into an existing matplotlib axis instead of a new figure; ``size`` is
    the picture's (width, height) in pixels (default: from the graph's shape). Returns
    the matplotlib Figure.
    """
    try:
        from matplotlib.figure import Figure
        from matplotlib.patches import Patch
    except ImportError:
        raise GraphError("draw needs matplotlib: pip install 'graphc[plot]' (or use gc.to_dot)") from None
    g = to_networkx(*_outputs(outputs))
    nx.set_node_attributes(g, _layers(g), "layer")
    layers = 1 + max(d["layer"] for _, d in g.nodes(data=True))
    widest = max(sum(1 for _, d in g.nodes(data=True) if d["layer"] == k) for k in range(layers))
    own_figure = ax is None
    if own_figure:
        width, height = size if size is not None else (100 * layers + 220, max(320, 75 * widest + 60))
        if not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in (width, height)):
            raise GraphError(f"draw: expected size to be (width, height) in positive pixels but got {size!r}")
        fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI)
        legend_width = min(0.4, 130 / width)  # a column on the right for the legend
        ax = fig.add_axes((0.0, 0.0, 1.0 - legend_width, 1.0))
    else:
        fig = ax.figure
    pos = nx.multipartite_layout(g, subset_key="layer")
    fills = [PATTERN_COLOURS[d["pattern"]] if d["pattern"] else FORWARD_FILL for _, d in g.nodes(data=True)]
    edges = ["#000000" if d["output"] else "#666666" for _, d in g.nodes(data=True)]
    widths = [2.5 if d["output"] else 1.0 for _, d in g.nodes(data=True)]
    nx.draw_networkx_edges(g, pos, ax=ax, edge_color="#999999", arrows=True, arrowsize=8, node_size=NODE_SIZE)
    nx.draw_networkx_nodes(g, pos, ax=ax, node_color=fills, edgecolors=edges, linewidths=widths, node_size=NODE_SIZE)
    nx.draw_networkx_labels(g, pos, ax=ax, labels={n: _label(d, n) for n, d in g.nodes(data=True)},
                            font_size=6.5, font_family="monospace")
    used = {d["pattern"] for _, d in g.nodes(data=True) if d["pattern"]}
    handles = [Patch(facecolor=FORWARD_FILL, edgecolor="#666666", label="forward")]
    handles += [Patch(facecolor=c, edgecolor="#666666", label=p) for p, c in PATTERN_COLOURS.items() if p in used]
    handles.append(Patch(facecolor=FORWARD_FILL, edgecolor="#000000", linewidth=2.5, label="output"))
    legend = dict(handles=handles, fontsize=7, title="gate pattern", title_fontsize=7)
    if own_figure:
        fig.legend(loc="center right", **legend)
    else:
        ax.legend(loc="best", **legend)
    ax.margins(0.08)
    ax.set_axis_off()
    if path is not None:
        fig.savefig(path, dpi=DPI)
    return fig


def to_svg(*outputs: Any, size: tuple[int, int] | None = None) -> str:
    """The picture of ``draw`` as SVG text (for notebooks)."""
    buffer = io.StringIO()
    draw(*outputs, size=size).savefig(buffer, format="svg", dpi=DPI)
    return buffer.getvalue()
