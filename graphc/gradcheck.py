"""A numerical gradient check: graphc's symbolic gradient against finite differences.

By default, as JAX's ``check_grads`` and PyTensor's ``verify_grad`` do, it compares
*directional derivatives*: for a few random unit directions ``v`` per variable, the
analytic projection ``a = <grad, v>`` against the central difference of the function
along ``v``, ``d = (-f(w+2hv) + 8f(w+hv) - 8f(w-hv) + f(w-2hv)) / 12h`` (fourth order, so
truncation error is ~h^4). That costs four evaluations of the graph per direction,
whatever the variable's size. ``entries=True`` perturbs every entry instead, for small
variables, and reports the worst entry's index.

The error of one comparison is

    |a - d| / max(|a|, |d|, rms(grad))

relative to the derivative itself, but never to less than the root mean square of the
gradient's entries: the typical size of a directional derivative along a random unit
direction (and of an entry). So a projection or an entry that is ~0 by cancellation is
not divided by ~0, and tiny entries do not dominate: a gradient right to rounding
reports ~1e-11 rather than 0.03. It is 0 when both sides are 0 up to the rounding of
the difference quotient (18 ulps of the largest function value over 12h).

The step starts at h (1e-3 in float64) and shrinks tenfold, up to 3 times, while the
two sides disagree by more than 1e-8: a relu's kink inside [w - 2hv, w + 2hv] spoils a
difference quotient, and a smaller step avoids it. The error is that of the step that
agrees best; no step makes a wrong gradient agree.

Thresholds, in float64: right gradients report < 1e-6 (typically 1e-12 to 1e-8); a
gradient 1% off reports ~1e-2, a wrong sign or a missing factor ~1. Treat > 1e-4 as
wrong. A float32 graph is checked in float32 with a larger step: right gradients then
report up to ~1e-3. Random directions see an error that affects the whole gradient (a
wrong VJP rule does); an error confined to one of n entries is diluted by about sqrt(n):
check small variables with ``entries=True`` to find such an error and where it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from graphc.autodiff import grad
from graphc.errors import DTypeError, GraphError
from graphc.interpret import Interpreted
from graphc.ir.graph import order
from graphc.ir.node import Node

STENCIL = ((2.0, -1.0), (1.0, 8.0), (-1.0, -8.0), (-2.0, 1.0))  # (offset in h, weight) over 12h
AGREES = 1e-8  # an error this small needs no smaller step
STEPS = {"float64": 4, "float32": 2}  # how many steps h, h/10, ... to try (rounding grows as h shrinks)
MAX_ENTRIES = 4096  # entries=True perturbs each entry: four graph evaluations each


@dataclass(frozen=True)
class VariableCheck:
    """The worst comparison for one variable: where it was (a direction's number, or an
    entry's index), the analytic and numerical derivatives there, and its error."""

    name: str
    error: float
    analytic: float
    numeric: float
    rounding: float  # of the difference quotient
    step: float
    direction: int | None = None
    index: tuple[int, ...] | None = None

    def __str__(self) -> str:
        where = f"entry {self.index}" if self.index is not None else f"direction {self.direction}"
        return (f"{self.name}: error {self.error:.2e} at {where} (analytic {self.analytic:.10g}, "
                f"numeric {self.numeric:.10g} +- {self.rounding:.1e} with step {self.step:g})")


class GradCheck(dict):
    """Each variable's name mapped to its error (the worst of its comparisons); the
    details of each worst comparison are in ``checks``."""

    def __init__(self, checks: Sequence[VariableCheck], method: str) -> None:
        super().__init__((c.name, c.error) for c in checks)
        self.checks = {c.name: c for c in checks}
        self.method = method

    def __str__(self) -> str:
        return "\n".join([f"gradient check by {self.method}:", *(f"  {c}" for c in self.checks.values())])


def check_grad(y: Node, wrt: Sequence[Node] | Node, values: Mapping[Node | str, object],
               eps: float | None = None, *, directions: int = 3, entries: bool = False,
               seed: int = 0) -> GradCheck:
    """Compare graphc's gradient of the scalar ``y`` with finite differences, for each
    variable of ``wrt`` (see the module's doc for the error measure and its thresholds).

    ``values`` gives every input of ``y`` (keyed by node or by name). ``eps`` is the step
    h (default 1e-3 in float64, 1e-2 in float32). ``directions`` random unit directions
    per variable (from ``seed``), or ``entries=True``: every entry of variables of at
    most 4096 elements. Returns a dict of errors by variable name (a ``GradCheck``, whose
    ``checks`` say where the worst one was)."""
    if not isinstance(values, Mapping):
        raise GraphError(f"check_grad: expected values to be a dict of input values (by node or name) "
                         f"but got {type(values).__name__}")
    if eps is not None and (isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0):
        raise GraphError(f"check_grad: expected eps to be a positive number but got {eps!r}")
    if isinstance(directions, bool) or not isinstance(directions, int) or directions < 1:
        raise GraphError(f"check_grad: expected directions to be a positive int but got {directions!r}")
    if not isinstance(wrt, (Node, list, tuple)):
        raise GraphError(f"check_grad: expected wrt to be a node or a list of nodes but got {type(wrt).__name__}")
    variables = [wrt] if isinstance(wrt, Node) else list(wrt)
    inputs = [n for n in order([y]) if n.op == "input"]
    position = {n: k for k, n in enumerate(inputs)}  # by identity: `list.index` compares with ==, a node
    for w in variables:
        if not isinstance(w, Node) or w.op != "input":
            what = w.label if isinstance(w, Node) else f"{type(w).__name__} {w!r}"
            raise GraphError(f"check_grad: {what} must be an input node to be perturbed")
        if w not in position:
            position[w] = len(inputs)
            inputs.append(w)
    args = _arguments(inputs, values)
    if entries:
        for w in variables:
            size = args[position[w]].size
            if size > MAX_ENTRIES:
                raise GraphError(f"check_grad: {w.label} has {size} entries; entries=True perturbs each "
                                 f"(at most {MAX_ENTRIES}): use random directions for it")
    analytic = Interpreted(inputs, grad(y, variables))(*args)
    f = Interpreted(inputs, y)
    rng = np.random.default_rng(seed)
    checks = []
    for w, a in zip(variables, analytic):
        k = position[w]
        h = eps if eps is not None else (1e-3 if w.dtype == np.float64 else 1e-2)
        steps = [h * 10.0 ** -e for e in range(STEPS[w.dtype.name])]
        a = np.asarray(a, dtype=np.float64)
        rms = float(np.sqrt(np.mean(a * a))) if a.size else 0.0
        if entries:
            tangents = (_unit(a.shape, j) for j in range(a.size))
        else:
            tangents = (_random_unit(rng, a.shape) for _ in range(directions))
        worst = VariableCheck(w.label, 0.0, 0.0, 0.0, 0.0, h, direction=None if entries else 0,
                              index=(0,) * a.ndim if entries and a.size else None)
        for j, v in enumerate(tangents):
            if v is None:  # a variable without entries
                break
            projected = float(np.sum(a * v))
            # the first step that agrees, else the one that agrees best: a smaller step than
            # one that crosses a kink (relu) agrees; no step makes a wrong gradient agree
            tried = []
            for step in steps:
                d, noise = _directional(f, args, k, v, step, w.dtype)
                tried.append((_error(projected, d, noise, rms), d, noise, step))
                if tried[-1][0] <= AGREES:
                    break
            error, numeric, noise, step = min(tried)
            if error > worst.error or j == 0:
                where = {"index": tuple(int(i) for i in np.unravel_index(j, a.shape))} if entries else {"direction": j}
                worst = VariableCheck(w.label, error, projected, numeric, noise, step, **where)
        checks.append(worst)
    return GradCheck(checks, "entries" if entries else f"{directions} random directions")


def _arguments(inputs: list[Node], values: Mapping[Node | str, object]) -> list[np.ndarray]:
    by_name = {k if isinstance(k, str) else k.label: v for k, v in values.items()}
    missing = [n.label for n in inputs if n.label not in by_name]
    if missing:
        raise GraphError(f"check_grad: no value given for input {', '.join(missing)}")
    args = []
    for n in inputs:
        try:
            args.append(np.array(by_name[n.label], dtype=n.dtype))  # a copy: the caller's arrays stay as they are
        except (TypeError, ValueError, OverflowError):
            raise DTypeError(f"check_grad: the value of {n.label} must convert to an array of dtype {n.dtype} "
                             f"but got {type(by_name[n.label]).__name__} {by_name[n.label]!r}") from None
    return args


def _random_unit(rng: np.random.Generator, shape: tuple) -> np.ndarray | None:
    v = rng.standard_normal(shape)
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else None


def _unit(shape: tuple, j: int) -> np.ndarray:
    v = np.zeros(shape)
    v.reshape(-1)[j] = 1.0
    return v


def _directional(f: Interpreted, args: list[np.ndarray], k: int, v: np.ndarray, h: float,
                 dtype: np.dtype) -> tuple[float, float]:
    """The derivative of f along v at args (fourth-order central differences), and the
    rounding error of that quotient."""
    base = args[k]
    values = []
    for offset, _ in STENCIL:
        trial = list(args)
        trial[k] = (base + offset * h * v).astype(base.dtype)
        values.append(float(f(*trial)))
    numeric = sum(wt * fv for (_, wt), fv in zip(STENCIL, values)) / (12 * h)
    noise = 18 * np.finfo(dtype).eps * max(abs(fv) for fv in values) / (12 * h)
    return numeric, noise


def _error(analytic: float, numeric: float, noise: float, rms: float) -> float:
    """The error measure of the module's doc."""
    scale = max(abs(analytic), abs(numeric), rms)
    if scale <= noise:  # both sides are 0 up to the rounding of the difference quotient
        return 0.0
    return abs(analytic - numeric) / scale  # (NaN if either side is: it stays visible)
