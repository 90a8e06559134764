"""Graphs for people: a typed listing, a networkx graph and Graphviz DOT.

All three number the nodes the same way (``%0, %1, ...`` in topological order, see
graphc.ir.numbering), so a line of ``show`` and a node of ``to_networkx`` or ``to_dot``
are easy to match. A compiled function keeps those numbers through the passes into its
kernels' comments: ``show(f)`` lists the optimized graph the kernels compute, and
``explain(f)`` what each pass changed.
"""

from __future__ import annotations

import html as _html
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from graphc.errors import GraphError
from graphc.ir.graph import between, order
from graphc.ir.node import Node
from graphc.ir.numbering import Numbering, of_text
from graphc.ir.shapes import format_shape
from graphc.passes import PASSES
from graphc.passes.fusion import Loop, Step, schedule

PATTERN_COLOURS = {
    "distribute": "#4e79a7",  # add gate
    "route": "#f28e2b",  # max gate
    "switch": "#59a14f",  # mul gate
    "sum": "#e15759",  # gradients add at branches
    "unbroadcast": "#b07aa1",
    "local": "#bab0ac",
}


def _numbering(outputs: tuple[Node, ...]) -> tuple[list[Node], dict[Node, int]]:
    numbering = Numbering(outputs)
    return list(numbering.ids), numbering.ids


def _attr_text(node: Node) -> str:
    if node.op == "const":
        value = node.attrs["value"]
        return "" if value.size != 1 else f" {value.item()!r}"
    parts = [f"{k}={v.name if isinstance(v, np.dtype) else v}" for k, v in node.attrs.items()]
    return f"[{' '.join(parts)}]" if parts else ""


def _rhs(node: Node, ids: dict[Node, int]) -> str:
    args = " ".join(f"%{ids[i]}" for i in node.inputs)
    rhs = f"{node.op}{_attr_text(node)}"
    if node.op == "input":
        rhs += f" {node.name}"
    elif args:
        rhs += f" {args}"
    return rhs


def describe(node: Node, ids: dict[Node, int], extra: Sequence[str] = ()) -> str:
    """One node as ``%12:f64[N,100] = mul %9 %11    # switch, grad of %5`` (then the
    ``extra`` notes)."""
    notes = []
    if node.name is not None and node.op != "input":
        notes.append(node.name)
    if node.role == "backward":
        notes.append(f"{node.pattern}, grad of {of_text(node, ids)}")
    notes.extend(extra)
    line = f"%{ids[node]}:{node.type_str} = {_rhs(node, ids)}"
    return f"{line:<44}  # {'; '.join(notes)}" if notes else line


def show(*outputs: Node | Any) -> str:
    """A typed listing of ``outputs`` and everything they depend on, one line per node.

    ``show(f)`` of a compiled function (``gc.compile``, ``gc.compile_grad``) lists the
    optimized graph its kernels compute, under the same numbers (see ``show_compiled``)."""
    if len(outputs) == 1 and not isinstance(outputs[0], Node) and hasattr(outputs[0], "outputs"):
        f = outputs[0]
        return f.show() if hasattr(f, "show") else show(*f.outputs)
    nodes, ids = _numbering(outputs)
    lines = [describe(n, ids) for n in nodes]
    lines.append("outputs: " + " ".join(f"%{ids[o]}" for o in outputs))
    return "\n".join(lines)


def _schedule(spec: Any) -> list[Loop | Step]:
    """A kernel's steps, as its code generator schedules them."""
    return schedule(spec.outputs, [*spec.params, *spec.constants], spec.fuse)


def show_compiled(f: Any) -> str:
    """The listing of a compiled function: for each kernel its parameters, the nodes it
    computes (with their fused loop, and the pass that made a node), and what it returns;
    for ``compile_grad`` the forward kernel returns the loss and the tape (what it saves
    for the backward kernel). Numbers are those of ``gc.show`` of the declared outputs."""
    log, specs = f.passes, f.specs
    nodes = order([o for spec in specs for o in spec.outputs])
    ids = log.numbering.restrict(nodes)
    lines = [f"passes: {', '.join(log.passes) or 'none'}"]
    listed: set[Node] = set()
    computed_before: set[Node] = set()
    for spec in specs:
        params = [p for p in spec.params if p in ids]
        lines.append(f"{spec.name}({' '.join(f'%{ids[p]}' for p in params)}):")
        for p in params:
            if p not in listed:
                lines.append(describe(p, ids))
                listed.add(p)
        loop = {m: k for k, step in enumerate((s for s in _schedule(spec) if isinstance(s, Loop)), 1)
                for m in step.members}
        for n in between(spec.outputs, spec.params):
            extra = [str(log.numbering.made[n])] if n in log.numbering.made else []
            if n in loop:
                extra.append(f"loop {loop[n]}")
            if n in computed_before:
                extra.append("recomputed")
            lines.append(describe(n, ids, extra))
            listed.add(n)
            if n.op != "const":
                computed_before.add(n)
        returns = " ".join(f"%{ids[o]}" for o in spec.outputs)
        if spec is not specs[-1] and len(specs) > 1:
            loss, *tape = spec.outputs
            saved = " ".join(f"%{ids[t]}" for t in f.partition.tape)
            returns = f"%{ids[loss]} (the loss); the tape saves {saved or 'nothing'}"
        lines.append(f"  returns {returns}")
    final = f.optimized if hasattr(f, "optimized") else [f.partition.forward_outputs[0], *f.partition.backward_outputs]
    lines.append("outputs: " + " ".join(f"%{ids[o]}" for o in final))
    return "\n".join(lines)


def explain(f: Any) -> str:
    """What each pass of a compiled function changed, in order: per pass the number of
    rewrites and each node before -> after (numbered as in ``gc.show``); for fusion, the
    loops of each kernel."""
    log = getattr(f, "passes", None)
    if log is None:
        raise GraphError(f"explain: expected a function made by gc.compile or gc.compile_grad with the numba "
                         f"backend (the interpreter runs no passes) but got {type(f).__name__}")
    ids = log.numbering.ids
    kernel_nodes = order([o for spec in f.specs for o in spec.outputs])
    lines = [f"passes: {', '.join(log.passes) or 'none'}",
             f"nodes: {log.declared_nodes} declared -> {len(kernel_nodes)} in the kernels"]
    for name in PASSES:
        if name not in log.passes:
            lines.append(f"{name}: off")
            continue
        if name == "fusion":
            for spec in f.specs:
                steps = _schedule(spec)
                loops = [s for s in steps if isinstance(s, Loop)]
                which = "the kernel" if len(f.specs) == 1 else f"the {spec.name} kernel"
                lines.append(f"fusion ({which}): {len(loops)} loops, {len(steps) - len(loops)} other steps")
                for k, lp in enumerate(loops, 1):
                    if len(lp.members) > 1:
                        members = " ".join(f"%{ids[m]}" for m in lp.members)
                        lines.append(f"  loop {k} over {format_shape(lp.shape)}: {members}")
            continue
        changes = log.by_pass(name)
        lines.append(f"{name}: {len(changes)} rewrite{'s' if len(changes) != 1 else ''}")
        for c in changes:
            lines.append(f"  %{ids[c.before]} = {_rhs(c.before, ids)}  ->  %{ids[c.after]} = {_rhs(c.after, ids)}")
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


def to_dot(*outputs: Node, path: str | Path | None = None) -> str:
    """Graphviz DOT: the forward and backward graphs as two clusters, backward nodes
    filled with the colour of their gate pattern, and a legend.

    ``path`` also writes it: ``.dot``/``.gv`` as text, any other suffix (``.svg``,
    ``.png``, ``.pdf``) rendered by Graphviz's ``dot``, which must then be on PATH
    (``gc.draw`` needs only matplotlib)."""
    text = _dot(outputs)
    if path is not None:
        _write_dot(text, Path(path))
    return text


def _write_dot(text: str, path: Path) -> None:
    fmt = path.suffix.lstrip(".").lower()
    if fmt in ("dot", "gv"):
        path.write_text(text)
        return
    dot = shutil.which("dot")
    if dot is None:
        raise GraphError(f"to_dot: rendering {path} needs Graphviz's dot on PATH but it is not there: write a "
                         ".dot file, or draw with gc.draw (matplotlib)")
    if not fmt:
        raise GraphError(f"to_dot: expected a path with a suffix naming the format (.svg, .png, .dot) but got {path}")
    result = subprocess.run([dot, f"-T{fmt}", "-o", str(path)], input=text, capture_output=True, text=True,
                            timeout=120)
    if result.returncode != 0:
        raise GraphError(f"to_dot: dot could not render {path}: {result.stderr.strip()}")


def _dot(outputs: tuple[Node, ...]) -> str:
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


def html(obj: Node | Any) -> str:
    """A node or a compiled function in a notebook: its listing, and its picture (inline
    SVG from ``gc.draw``) when matplotlib is installed."""
    listing = show(obj)
    parts = [f"<pre style=\"font-size: 12px\">{_html.escape(listing)}</pre>"]
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return parts[0]
    from graphc.draw import to_svg

    svg = to_svg(obj)
    return "".join(parts) + svg[svg.index("<svg"):]  # without the XML prologue
