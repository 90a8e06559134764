"""The forward/backward partition: what the forward kernel saves for the backward one.

The forward kernel computes the loss; the backward kernel computes the gradients from
the upstream gradient and a *tape* of saved values. Which values? Saving every forward
value the backward graph reads costs memory traffic (a megabyte written and read back
costs more than recomputing a few elementwise ops on it), so, as AOTAutograd's min-cut
partitioner does, graphc saves the cheapest set of values from which the backward
kernel can recompute what it needs: a minimum cut (networkx) in a flow graph whose
edge capacities are the bytes a value would take on the tape. Only elementwise ops are
recomputed; matmuls and reductions are saved or their consumers are.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import networkx as nx

from graphc.ir.graph import order
from graphc.ir.node import Node
from graphc.ir.op import lookup

NAMED_DIM_GUESS = 256  # a named dim's size, for weighing the cut (any typical batch size works)


@dataclass
class Partition:
    forward_outputs: list[Node]  # the loss, then the tape
    tape: list[Node]  # values the backward kernel receives (inputs among them cost nothing)
    backward_outputs: list[Node]


def nbytes(node: Node) -> float:
    size = math.prod(d if isinstance(d, int) else NAMED_DIM_GUESS for d in node.shape)
    return size * node.dtype.itemsize


def partition(loss: Node, grads: Sequence[Node], seed: Node) -> Partition:
    """Split the optimized graph of ``loss`` and its ``grads`` (which read ``seed``)."""
    forward = set(order([loss]))
    backward_nodes = order(grads)
    # values the backward side reads directly from the forward side
    needs = {i for n in backward_nodes if n not in forward for i in n.inputs if i in forward}
    needs |= {g for g in grads if g in forward}  # a gradient that is a forward value itself
    flow = nx.DiGraph()
    for v in forward:
        recomputable = lookup(v.op).kind == "elementwise" and v.op != "input"
        cost = 0.0 if v.op in ("input", "const") else nbytes(v)
        flow.add_edge(("in", v), ("out", v), capacity=cost)
        if not v.inputs or not recomputable:
            flow.add_edge("source", ("in", v))  # no capacity: cannot be recomputed in backward
        for i in v.inputs:
            flow.add_edge(("out", i), ("in", v))
        if v in needs:
            flow.add_edge(("out", v), "sink")
    if not needs:
        tape: list[Node] = []
    else:
        _, (reachable, _) = nx.minimum_cut(flow, "source", "sink")
        cut = (v for v in forward if ("in", v) in reachable and ("out", v) not in reachable)
        tape = sorted((v for v in cut if v.op != "const"), key=lambda n: n.id)  # constants need no saving
    return Partition([loss, *(t for t in tape if t.op != "input")], tape, list(grads))
