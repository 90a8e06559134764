"""A numerical gradient check by central differences, as the lecture advises."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from graphc.autodiff import grad
from graphc.errors import DTypeError, GraphError
from graphc.interpret import Interpreted
from graphc.ir.graph import order
from graphc.ir.node import Node


def check_grad(y: Node, wrt: Sequence[Node] | Node, values: Mapping[Node | str, object],
               eps: float | None = None) -> dict[str, float]:
    """The largest relative error between graphc's gradient of the scalar ``y`` and
    central differences (f(v+h) - f(v-h)) / 2h, for each variable of ``wrt``.

    ``values`` gives every input of ``y`` (keyed by node or by name). The relative error
    of an element is |a - n| / max(|a|, |n|, 1e-8) (errors of gradients that are 0 up
    to rounding count as absolute). ``eps`` defaults to 1e-6 (float64) or 1e-3 (float32).
    """
    if not isinstance(values, Mapping):
        raise GraphError(f"check_grad: expected values to be a dict of input values (by node or name) "
                         f"but got {type(values).__name__}")
    if eps is not None and (isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0):
        raise GraphError(f"check_grad: expected eps to be a positive number but got {eps!r}")
    if not isinstance(wrt, (Node, list, tuple)):
        raise GraphError(f"check_grad: expected wrt to be a node or a list of nodes but got {type(wrt).__name__}")
    variables = [wrt] if isinstance(wrt, Node) else list(wrt)
    inputs = [n for n in order([y]) if n.op == "input"]
    for w in variables:
        if not isinstance(w, Node) or w.op != "input":
            what = w.label if isinstance(w, Node) else f"{type(w).__name__} {w!r}"
            raise GraphError(f"check_grad: {what} must be an input node to be perturbed")
        if not any(w is n for n in inputs):  # `in` would compare with ==, which builds a node
            inputs.append(w)
    by_name = {k if isinstance(k, str) else k.label: v for k, v in values.items()}
    missing = [n.label for n in inputs if n.label not in by_name]
    if missing:
        raise GraphError(f"check_grad: no value given for input {', '.join(missing)}")
    args = []
    for n in inputs:
        try:
            args.append(np.array(by_name[n.label], dtype=n.dtype))
        except (TypeError, ValueError, OverflowError):
            raise DTypeError(f"check_grad: the value of {n.label} must convert to an array of dtype {n.dtype} "
                             f"but got {type(by_name[n.label]).__name__} {by_name[n.label]!r}") from None
    analytic = Interpreted(inputs, grad(y, variables))(*args)
    f = Interpreted(inputs, y)
    errors = {}
    for w, a in zip(variables, analytic):
        k = next(j for j, n in enumerate(inputs) if n is w)
        h = eps if eps is not None else (1e-6 if w.dtype == np.float64 else 1e-3)
        numeric = np.zeros_like(a)
        flat = args[k].reshape(-1)  # a view: perturb in place, then restore
        for j in range(flat.size):
            saved = flat[j]
            flat[j] = saved + h
            plus = float(f(*args))
            flat[j] = saved - h
            minus = float(f(*args))
            flat[j] = saved
            numeric.reshape(-1)[j] = (plus - minus) / (2 * h)
        scale = np.maximum(np.maximum(np.abs(a), np.abs(numeric)), 1e-8)
        errors[w.label] = float(np.max(np.abs(a - numeric) / scale)) if a.size else 0.0
    return errors
