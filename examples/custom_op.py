"""Your own ops with gc.define_op: a fused scalar op and an op computed by a Numba function.

softplus(x) = log(1 + exp(x)) is given as a scalar expression, so the compiler fuses it
into loops like graphc's own elementwise ops. A rowwise cumulative sum is given as a
@numba.njit function, which the generated kernel calls. Each comes with a NumPy
reference (what backend="interpret" runs) and a VJP built from graphc ops with its gate
pattern, so gc.grad differentiates through them and gc.show lists their gradients.

The script checks the compiled values against the interpreter and the gradients against
finite differences, then trains a tiny regression model through both ops.

    python examples/custom_op.py [--quick] [--steps 300]
"""

from __future__ import annotations

import argparse
import os

import numba
import numpy as np

import graphc as gc

# -- a scalar op: fused into the kernel's loops --------------------------------------------
softplus = gc.define_op(
    "softplus",
    numpy=lambda x: np.logaddexp(np.zeros((), x.dtype), x),
    vjp=lambda node, g, i: g * gc.sigmoid(node.inputs[0]),  # softplus' = sigmoid: a local gate
    gate="local",
    # log1p(exp(-|x|)) + max(x, 0): exact and overflow-free; c.fn gives math functions of
    # the loop's dtype (exp is graphc's vectorizable one), c.lit a literal of that dtype
    scalar=lambda a, c, at: (f"{c.fn('log1p')}({c.fn('exp')}(-abs({a[0]}))) "
                             f"+ ({a[0]} if {a[0]} > {c.lit(0)} else {c.lit(0)})"),
    cost=16,  # two transcendental functions per element
    doc="log(1 + exp(x))",
)


# -- an op computed by a Numba function: the kernel calls it -------------------------------
@numba.njit
def _cumsum_rows(x, out):
    """out[r, c] = x[r, 0] + ... + x[r, c]"""
    for r in range(x.shape[0]):
        total = x[r, 0] * 0
        for c in range(x.shape[1]):
            total += x[r, c]
            out[r, c] = total


def _cumsum_infer(x: gc.Node):
    if x.ndim != 2:
        raise gc.ShapeError(f"cumsum_rows: {x.label} has {x.ndim} dims but cumsum_rows takes rows (2-D)")
    return x.shape, x.dtype


def _cumsum_vjp(node: gc.Node, g: gc.Node, i: int) -> gc.Node:
    """Element c feeds every later sum in its row, so its gradient is the sum of g from c
    on: the row total minus the cumulative sum before c. Built from graphc ops (one of
    them this op itself), so it could be differentiated again."""
    return gc.sum(g, axis=1, keepdims=True) - cumsum_rows(g) + g


cumsum_rows = gc.define_op("cumsum_rows", infer=_cumsum_infer, numpy=lambda x: np.cumsum(x, axis=1),
                           vjp=_cumsum_vjp, gate="local", numba=_cumsum_rows, doc="cumulative sums along rows")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few steps only (also GRAPHC_EXAMPLES_FAST=1)")
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    steps = 5 if args.quick or os.environ.get("GRAPHC_EXAMPLES_FAST") == "1" else args.steps

    # a model: predictions = cumsum_rows(softplus(x * w)) against targets y
    x = gc.input("x", shape=("N", 6))
    y = gc.input("y", shape=("N", 6))
    w = gc.input("w", shape=(6,))
    loss = gc.mean((cumsum_rows(softplus(x * w)) - y) ** 2)
    (dw,) = gc.grad(loss, [w])
    print("The graph and its gradient (each backward node with its gate):")
    print(gc.show(loss, dw))

    f = gc.compile([x, y, w], [loss, dw])
    reference = gc.compile([x, y, w], [loss, dw], backend="interpret")
    print("\nThe kernel calls the Numba function and fuses softplus:")
    print("\n".join(line for line in f.source.splitlines() if "cumsum_rows" in line or "softplus" in line))

    rng = np.random.default_rng(0)
    xv = rng.standard_normal((32, 6))
    w_true = np.array([0.5, -1.0, 2.0, 0.0, 1.0, -0.5])
    yv = np.cumsum(np.logaddexp(0, xv * w_true), axis=1)
    wv = np.zeros(6)
    (l_c, g_c), (l_i, g_i) = f(xv, yv, wv), reference(xv, yv, wv)
    print(f"\ncompiled vs interpreted: loss {float(l_c):.6f} vs {float(l_i):.6f}, "
          f"largest gradient difference {np.max(np.abs(g_c - g_i)):.1e}")
    errors = gc.check_grad(loss, [w], {"x": xv, "y": yv, "w": wv + 0.1})
    print(f"gradient vs finite differences: largest relative error {errors['w']:.1e}")

    for step in range(steps):
        value, grad = f(xv, yv, wv)
        wv -= 0.05 * grad
        if step % max(1, steps // 5) == 0 or step == steps - 1:
            print(f"step {step:4d}  loss {float(value):.5f}")
    print(f"w after training: {np.round(wv, 2)} (the targets were made with {w_true})")


if __name__ == "__main__":
    main()
