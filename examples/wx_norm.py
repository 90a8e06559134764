"""The lecture's vectorized example: f(x, W) = ||W x||^2, and its gradients.

With q = W x, f = sum_i q_i^2, so df/dq = 2q and, through the matmul (a mul gate
between matrices: each input gets the upstream gradient times the other input),

    df/dW = 2 q x^T        df/dx = 2 W^T q

graphc derives the same graph by itself. This script prints it, evaluates it at the
lecture's point (W = [[0.1, 0.5], [-0.3, 0.8]], x = [0.2, 0.4]), and checks the
gradients against the formulas above and against finite differences, there and at
a random 64x64 point. A gradient always has its variable's shape: dW is 2x2 like W.

    python examples/wx_norm.py [--quick]
"""

from __future__ import annotations

import argparse

import numpy as np

import graphc as gc


def build(n: int) -> tuple[list[gc.Node], list[gc.Node]]:
    """||W x||^2 for an n x n W and an n-vector x (a column, (n, 1)), and its gradients."""
    w, x = gc.input("W", shape=(n, n)), gc.input("x", shape=(n, 1))
    q = w @ x
    f = gc.sum(q * q)
    return [w, x], [f, *gc.grad(f, [w, x])]


def check(n: int, w: np.ndarray, x: np.ndarray, backend: str) -> tuple[float, float]:
    """Evaluate, print, compare with the formulas and finite differences; returns the
    worst relative error against each."""
    inputs, outputs = build(n)
    f, dw, dx = gc.compile(inputs, outputs, backend=backend)(w, x)
    q = w @ x
    by_formula = {"f": np.sum(q * q), "df/dW": 2 * q @ x.T, "df/dx": 2 * w.T @ q}
    worst = 0.0
    for label, got in zip(by_formula, (f, dw, dx)):
        want = by_formula[label]
        error = float(np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-300))
        worst = max(worst, error)
        shown = (np.array2string(np.asarray(got), precision=4, separator=", ").replace("\n", "") if n <= 4
                 else f"{float(got):.6g}" if np.ndim(got) == 0 else f"{np.shape(got)} array")
        print(f"  {label:6} = {shown}   formula agrees to {error:.1e}")
    fd = gc.check_grad(outputs[0], inputs, {"W": w, "x": x})
    print("  finite differences agree to " + ", ".join(f"{e:.1e} (d{k})" for k, e in fd.items()))
    return worst, max(fd.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the interpreter only: nothing to compile")
    args = parser.parse_args(argv)
    backend = "interpret" if args.quick else "numba"

    inputs, outputs = build(2)
    print("f = sum((W @ x) ** 2) and its gradients, as graphc builds them:")
    print(gc.show(*outputs))
    print(f"\nat the lecture's point ({backend}):")
    w = np.array([[0.1, 0.5], [-0.3, 0.8]])
    x = np.array([[0.2], [0.4]])
    errors = [check(2, w, x, backend)]
    print("  the lecture: f = 0.116, df/dW = [[0.088, 0.176], [0.104, 0.208]], df/dx = [-0.112, 0.636]")
    rng = np.random.default_rng(0)
    n = 64
    print(f"\nat a random {n}x{n} W ({backend}):")
    errors.append(check(n, rng.standard_normal((n, n)) / np.sqrt(n), rng.standard_normal((n, 1)), backend))
    # the formulas are exact up to rounding; central differences carry their own truncation error
    ok = all(formula < 1e-12 and fd < 1e-4 for formula, fd in errors)
    print(f"\ngradients {'match' if ok else 'DO NOT MATCH'} the formulas and finite differences")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
