"""graphc: a static-graph compiler. Declare a graph, differentiate it symbolically,
compile it to Numba kernels.

    import graphc as gc
    x = gc.input("x", shape=("N", 3))
    loss = gc.sum(gc.tanh(x) ** 2)
    (dx,) = gc.grad(loss, [x])
    f = gc.compile([x], [loss, dx])
"""

from graphc import nn
from graphc.autodiff import grad, jacobian, vjp
from graphc.compiler import compile, compile_grad, warm_up
from graphc.draw import draw
from graphc.errors import ArgumentError, DTypeError, GraphcError, GraphError, IndexRangeError, ShapeError, SymbolicError
from graphc.gradcheck import check_grad
from graphc.inspect import explain, show, to_dot, to_networkx
from graphc.ir.node import Node
from graphc.ir.shapes import product
from graphc.ops import *  # noqa: F403 - the op functions are the public API
from graphc.ops import __all__ as _ops
from graphc.ops.custom import define_op
from graphc.runtime.threads import get_threads, set_threads, thread_info

__version__ = "0.1.0"

__all__ = [*_ops,
           "ArgumentError", "DTypeError", "GraphError", "GraphcError", "IndexRangeError", "Node", "ShapeError",
           "SymbolicError",
           "check_grad", "compile", "compile_grad", "define_op", "draw", "explain", "get_threads", "grad",
           "jacobian", "nn", "product", "set_threads", "show", "thread_info", "to_dot", "to_networkx", "vjp",
           "warm_up"]
