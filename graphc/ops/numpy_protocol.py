"""NumPy's dispatch protocols: ``np.exp(node)``, ``np.sum(node, axis=1)`` build graphc nodes.

NumPy hands a call that involves a graphc node to ``Node.__array_ufunc__`` (ufuncs:
``np.exp``, ``np.maximum``, ``ndarray + node``) or ``Node.__array_function__`` (the other
functions: ``np.sum``, ``np.dot``, ``np.where``). Both land here: each NumPy function is
mapped to the graphc function of the same meaning, looked up by name in ``graphc`` when
called (so an op added later, in any module, is found). A NumPy function graphc does not
have, or an argument graphc does not take, raises a GraphError naming it.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from graphc.errors import GraphError, ShapeError
from graphc.ir import dtypes
from graphc.ir.node import Node, constant
from graphc.ir.shapes import format_shape, normalize_axes
from graphc.ops._common import as_node

# ufunc name -> graphc function
UFUNCS = {
    "add": "add", "subtract": "sub", "multiply": "mul", "divide": "div", "true_divide": "div",
    "power": "pow", "maximum": "maximum", "minimum": "minimum", "negative": "neg", "positive": "positive",
    "exp": "exp", "log": "log", "log1p": "log1p", "expm1": "expm1", "sqrt": "sqrt", "square": "square",
    "tanh": "tanh", "absolute": "abs", "sign": "sign", "matmul": "matmul",
    "greater": "greater", "greater_equal": "greater_equal", "less": "less", "less_equal": "less_equal",
    "equal": "equal", "not_equal": "not_equal",
}
# ufunc.reduce -> graphc reduction
REDUCES = {"add": "sum", "maximum": "max", "minimum": "min"}
# NumPy function name -> graphc function (same arguments, as NumPy spells them)
FUNCTIONS = {
    "sum": "sum", "mean": "mean", "max": "max", "amax": "max", "min": "min", "amin": "min",
    "var": "var", "std": "std", "dot": "matmul", "transpose": "transpose", "reshape": "reshape",
    "where": "where", "clip": "clip", "broadcast_to": "broadcast_to", "concatenate": "concatenate",
    "stack": "stack", "split": "split", "pad": "pad", "argmax": "argmax", "argmin": "argmin",
    "shape": "shape", "ndim": "ndim", "size": "size", "zeros_like": "zeros_like", "ones_like": "ones_like",
    "full_like": "full_like", "expand_dims": "expand_dims", "squeeze": "squeeze",
}
# NumPy arguments that may be passed with their default value, and are then dropped
DEFAULTS: dict[str, tuple] = {"out": (None,), "dtype": (None,), "where": (True,), "order": ("C", None),
                              "casting": ("same_kind",), "subok": (True,), "copy": (None,), "initial": ()}


# -- NumPy functions that are a line of graphc: written here with NumPy's signatures ----------
def _positive(x: Node) -> Node:
    return x


def _shape(a: Node) -> tuple:
    return a.shape


def _ndim(a: Node) -> int:
    return a.ndim


def _size(a: Node) -> object:
    return a.size


def _full_like(a: Node, fill_value: object, dtype: object = None) -> Node:
    from graphc.ops.structural import broadcast_to

    node = as_node(a, "full_like")
    return broadcast_to(constant(fill_value, node.dtype if dtype is None else dtypes.as_dtype(dtype, "full_like")),
                        node.shape)


def _zeros_like(a: Node, dtype: object = None) -> Node:
    return _full_like(a, 0, dtype)


def _ones_like(a: Node, dtype: object = None) -> Node:
    return _full_like(a, 1, dtype)


def _expand_dims(a: Node, axis: object) -> Node:
    from graphc.ops.structural import reshape

    node = as_node(a, "expand_dims")
    axes = normalize_axes("expand_dims", axis, node.ndim + (len(axis) if isinstance(axis, (tuple, list)) else 1))
    dims = iter(node.shape)
    return reshape(node, tuple(1 if i in axes else next(dims) for i in range(node.ndim + len(axes))))


def _squeeze(a: Node, axis: object = None) -> Node:
    from graphc.ops.structural import reshape

    node = as_node(a, "squeeze")
    axes = tuple(i for i, d in enumerate(node.shape) if d == 1) if axis is None else \
        normalize_axes("squeeze", axis, node.ndim)
    for i in axes:
        if node.shape[i] != 1:
            raise ShapeError(f"squeeze: axis {i} of {node.label} {format_shape(node.shape)} has size "
                             f"{node.shape[i]}, not 1")
    return reshape(node, tuple(d for i, d in enumerate(node.shape) if i not in axes))


LOCAL = {"positive": _positive, "shape": _shape, "ndim": _ndim, "size": _size, "zeros_like": _zeros_like,
         "ones_like": _ones_like, "full_like": _full_like, "expand_dims": _expand_dims, "squeeze": _squeeze}


def _graphc_function(numpy_name: str, name: str) -> Any:
    import graphc

    if name in LOCAL:
        return LOCAL[name]
    fn = getattr(graphc, name, None)
    if fn is None:
        raise GraphError(f"np.{numpy_name}: graphc has no gc.{name} (yet): it cannot run np.{numpy_name} on "
                         "graphc nodes")
    return fn


def _call(numpy_name: str, name: str, args: tuple, kwargs: dict) -> Any:
    fn = _graphc_function(numpy_name, name)
    kwargs = {k: v for k, v in kwargs.items()
              if not (k in DEFAULTS and (v is np._NoValue or any(v is d or (isinstance(d, str) and v == d)
                                                                 for d in DEFAULTS[k])))}
    if numpy_name == "clip":  # np.clip(a, min=..., max=...) (NumPy 2) or np.clip(a, a_min, a_max)
        for new, old in (("min", "a_min"), ("max", "a_max")):
            if new in kwargs:
                kwargs[old] = kwargs.pop(new)
    if "out" in kwargs:
        raise GraphError(f"np.{numpy_name}: out= cannot write into a graphc node (nodes are immutable): "
                         "use the node it returns")
    signature = inspect.signature(fn)
    what = f"graphc's np.{numpy_name} (a composition)" if name in LOCAL else f"graphc's gc.{name}"
    for k, v in kwargs.items():
        if k not in signature.parameters:
            raise GraphError(f"np.{numpy_name}: {what} has no argument {k!r} (got {k}={v!r})")
    try:
        signature.bind(*args, **kwargs)
    except TypeError as e:
        raise GraphError(f"np.{numpy_name}: {what}{signature} cannot take these arguments: {e}") from None
    return fn(*args, **kwargs)


def array_ufunc(ufunc: np.ufunc, method: str, inputs: tuple, kwargs: dict) -> Any:
    """``Node.__array_ufunc__``: a ufunc call with a graphc node among its operands."""
    if method == "__call__":
        name = UFUNCS.get(ufunc.__name__)
        if name is None:
            raise GraphError(f"np.{ufunc.__name__}: graphc has no such elementwise op: it cannot run "
                             f"np.{ufunc.__name__} on graphc nodes")
        return _call(ufunc.__name__, name, inputs, kwargs)
    if method == "reduce" and ufunc.__name__ in REDUCES:
        kwargs = dict(kwargs)
        kwargs.setdefault("axis", 0)  # ufunc.reduce's default, where np.sum's is None
        return _call(f"{ufunc.__name__}.reduce", REDUCES[ufunc.__name__], inputs, kwargs)
    raise GraphError(f"np.{ufunc.__name__}.{method}: graphc has no counterpart: it cannot run it on graphc nodes")


def array_function(func: Any, args: tuple, kwargs: dict) -> Any:
    """``Node.__array_function__``: a NumPy function called with a graphc node among its arguments."""
    numpy_name = func.__name__
    module = getattr(func, "__module__", "numpy") or "numpy"
    name = FUNCTIONS.get(numpy_name) if module == "numpy" else None
    if module != "numpy":  # np.linalg.norm, np.fft.fft: named as the user wrote them
        numpy_name = f"{module.removeprefix('numpy.')}.{numpy_name}"
    if name is None:
        raise GraphError(f"np.{numpy_name}: graphc has no counterpart of this NumPy function: it cannot run "
                         f"np.{numpy_name} on graphc nodes")
    return _call(numpy_name, name, args, kwargs)
