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

from graphc.errors import GraphError

# ufunc name -> graphc function
UFUNCS = {
    "add": "add", "subtract": "sub", "multiply": "mul", "divide": "div", "true_divide": "div",
    "power": "pow", "maximum": "maximum", "minimum": "minimum", "negative": "neg", "positive": "_identity",
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
    "shape": "_shape", "ndim": "_ndim", "size": "_size",
}
# NumPy arguments that may be passed with their default value, and are then dropped
DEFAULTS: dict[str, tuple] = {"out": (None,), "dtype": (None,), "where": (True,), "order": ("C", None),
                              "casting": ("same_kind",), "subok": (True,), "copy": (None,), "initial": ()}


def _graphc_function(numpy_name: str, name: str) -> Any:
    import graphc

    if name == "_identity":
        return lambda x: x
    if name in ("_shape", "_ndim", "_size"):
        return lambda a: getattr(a, name[1:])
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
    if numpy_name == "reshape" and "newshape" in kwargs:
        kwargs["shape"] = kwargs.pop("newshape")
    if numpy_name == "clip":  # np.clip(a, min=..., max=...) (NumPy 2) or np.clip(a, a_min, a_max)
        for new, old in (("min", "a_min"), ("max", "a_max")):
            if new in kwargs:
                kwargs[old] = kwargs.pop(new)
    if name.startswith("_"):
        return fn(*args, **kwargs)
    if "out" in kwargs:
        raise GraphError(f"np.{numpy_name}: out= cannot write into a graphc node (nodes are immutable): "
                         "use the node it returns")
    signature = inspect.signature(fn)
    for k, v in kwargs.items():
        if k not in signature.parameters:
            raise GraphError(f"np.{numpy_name}: graphc's gc.{name} has no argument {k!r} (got {k}={v!r})")
    try:
        signature.bind(*args, **kwargs)
    except TypeError as e:
        raise GraphError(f"np.{numpy_name}: graphc's gc.{name}{signature} cannot take these arguments: {e}") from None
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
