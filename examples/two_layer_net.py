"""W1, the lecture's two-layer network, trained by gradient descent with graphc.

The lecture writes this net in 20 lines of NumPy with a hand-derived backward pass.
Here only the forward graph is written: gc.compile_grad derives the backward graph
and compiles the lecture's forward()/backward() pair, two kernels with a tape of
saved intermediates in between.

    python examples/two_layer_net.py [--steps 50] [--backend numba|interpret] [--quick]
"""

from __future__ import annotations

import argparse

import numpy as np

import graphc as gc

N, D_IN, H, D_OUT = 64, 1000, 100, 10


def build(backend: str):
    """h = sigmoid(x @ w1); loss = sum((h @ w2 - y)^2), and its gradients w.r.t. w1, w2."""
    x, y = gc.input("x", shape=("N", D_IN)), gc.input("y", shape=("N", D_OUT))
    w1, w2 = gc.input("w1", shape=(D_IN, H)), gc.input("w2", shape=(H, D_OUT))
    h = gc.sigmoid(x @ w1)
    loss = gc.sum((h @ w2 - y) ** 2)
    return gc.compile_grad(loss, inputs=[x, y, w1, w2], wrt=[w1, w2], backend=backend)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--lr", type=float, default=1e-3, help="learning rate")
    parser.add_argument("--backend", choices=["numba", "interpret"], default="numba")
    parser.add_argument("--quick", action="store_true", help="20 steps")
    args = parser.parse_args()
    if args.quick:
        args.steps = 20

    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((N, D_IN)), rng.standard_normal((N, D_OUT))
    # scaled by 1/sqrt(fan_in) so the sigmoid starts unsaturated
    w1 = rng.standard_normal((D_IN, H)) / np.sqrt(D_IN)
    w2 = rng.standard_normal((H, D_OUT)) / np.sqrt(H)

    step = build(args.backend)
    first = None
    for t in range(args.steps):
        loss, tape = step.forward(x, y, w1, w2)  # the tape holds what backward needs
        dw1, dw2 = step.backward(tape)  # the upstream gradient d loss / d loss = 1
        first = float(loss) if first is None else first
        if t % 10 == 0 or t == args.steps - 1:
            print(f"step {t:4d}  loss {float(loss):10.4f}")
        w1 -= args.lr * dw1
        w2 -= args.lr * dw2
    print(f"loss went from {float(first):.4f} to {float(loss):.4f}")


if __name__ == "__main__":
    main()
