"""The graph IR: nodes, shapes, dtypes, the op registry and the networkx structure."""

from graphc.ir.graph import build, order, toposort
from graphc.ir.node import Node, apply, constant, provenance, renamed
from graphc.ir.op import REGISTRY, Op, lookup, register

__all__ = ["REGISTRY", "Node", "Op", "apply", "build", "constant", "lookup", "order", "provenance",
           "register", "renamed", "toposort"]
