"""The CS231n spiral: a linear softmax classifier, then a 2-layer ReLU net, trained with graphc.

Three classes of 100 points each wind around the origin. No line separates them: the
softmax classifier stays near 50% training accuracy, the 2-layer net (100 hidden
ReLUs) gets above 95%. Both are full-batch gradient descent with the lecture's
settings (step 1.0, L2 regularization 1e-3 as 0.5 * reg * sum(W^2)); only the
forward graph is written, graphc builds and compiles the backward one.

    python examples/spiral.py [--quick] [--plot spiral.png]   # the plot needs matplotlib
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from tqdm import tqdm

import graphc as gc

POINTS, CLASSES, HIDDEN = 100, 3, 100
STEP, REG = 1.0, 1e-3
COLOURS = ["#e41a1c", "#377eb8", "#4daf4a"]  # one per class


def spiral(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The lecture's data set: class j's points at radius r in [0, 1] and angle 4j + 4r + noise."""
    x = np.zeros((POINTS * CLASSES, 2))
    y = np.zeros(POINTS * CLASSES, dtype=np.int64)
    for j in range(CLASSES):
        rows = slice(POINTS * j, POINTS * (j + 1))
        r = np.linspace(0.0, 1, POINTS)
        t = np.linspace(j * 4, (j + 1) * 4, POINTS) + rng.standard_normal(POINTS) * 0.2
        x[rows] = np.c_[r * np.sin(t), r * np.cos(t)]
        y[rows] = j
    return x, y


def model(layers: int) -> tuple[list[gc.Node], list[gc.Node], gc.Node, gc.Node]:
    """The inputs, the parameters, the scores and the loss of a softmax classifier
    (layers=1) or of the 2-layer net (layers=2)."""
    x, labels = gc.input("x", shape=("N", 2)), gc.input("labels", shape=("N",), dtype="int64")
    sizes = [2, HIDDEN, CLASSES] if layers == 2 else [2, CLASSES]
    params = []
    h = x
    for k, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        w, b = gc.input(f"w{k}", shape=(fan_in, fan_out)), gc.input(f"b{k}", shape=(fan_out,))
        params += [w, b]
        h = gc.nn.linear(h, w, b)
        if k < len(sizes) - 1:
            h = gc.relu(h)
    weights = params[::2]
    loss = gc.nn.softmax_cross_entropy(h, labels) + gc.nn.l2_penalty(*weights, scale=0.5 * REG)
    return [x, labels], params, h, loss


def train(layers: int, x: np.ndarray, y: np.ndarray, steps: int, rng: np.random.Generator):
    """Gradient descent; returns the scores function and the trained parameter values."""
    data, params, scores, loss = model(layers)
    step = gc.compile([*data, *params], [loss, *gc.grad(loss, params)])
    values = [0.01 * rng.standard_normal(p.shape) if p.ndim == 2 else np.zeros(p.shape) for p in params]
    name = "softmax" if layers == 1 else "2-layer net"
    with tqdm(range(steps), desc=name, unit="step", leave=False, disable=None) as bar:  # None: on a terminal only
        for t in bar:
            current, *grads = step(x, y, *values)
            for v, g in zip(values, grads):
                v -= STEP * g
            if t % (steps // 5) == 0 or t == steps - 1:
                bar.set_postfix(loss=f"{float(current):.3f}")
                tqdm.write(f"  {name} step {t:5d}  loss {float(current):.4f}")
    return gc.compile([data[0], *params], [scores]), values


def accuracy(scores_fn, x: np.ndarray, y: np.ndarray, values: list[np.ndarray]) -> float:
    (scores,) = scores_fn(x, *values)
    return float(np.mean(np.argmax(scores, axis=1) == y))


def plot(path: Path, x: np.ndarray, y: np.ndarray, classifiers: list[tuple[str, object, list[np.ndarray]]]) -> None:
    """Each classifier's decision regions over the data."""
    from matplotlib.figure import Figure

    xx, yy = np.meshgrid(np.linspace(-1.2, 1.2, 240), np.linspace(-1.2, 1.2, 240))
    grid = np.c_[xx.ravel(), yy.ravel()]
    fig = Figure(figsize=(5 * len(classifiers), 5))
    for ax, (title, scores_fn, values) in zip(fig.subplots(1, len(classifiers), squeeze=False)[0], classifiers):
        (scores,) = scores_fn(grid, *values)
        ax.contourf(xx, yy, np.argmax(scores, axis=1).reshape(xx.shape), levels=[-0.5, 0.5, 1.5, 2.5],
                    colors=COLOURS, alpha=0.25)
        ax.scatter(x[:, 0], x[:, 1], c=[COLOURS[k] for k in y], s=12, edgecolors="k", linewidths=0.3)
        ax.set_title(f"{title}: {accuracy(scores_fn, x, y, values):.0%} of the training set")
        ax.set_aspect("equal")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps (the net still passes 95%%)")
    parser.add_argument("--plot", type=Path, metavar="PNG", help="draw the decision boundaries (needs matplotlib)")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    x, y = spiral(rng)
    print(f"spiral: {len(x)} points in {CLASSES} classes")
    softmax_steps, net_steps = (200, 4000) if args.quick else (200, 10000)

    linear_fn, linear_values = train(1, x, y, softmax_steps, rng)
    linear_acc = accuracy(linear_fn, x, y, linear_values)
    print(f"softmax classifier: training accuracy {linear_acc:.2f} (a line cannot follow a spiral)")
    net_fn, net_values = train(2, x, y, net_steps, rng)
    net_acc = accuracy(net_fn, x, y, net_values)
    print(f"2-layer net ({HIDDEN} hidden ReLUs): training accuracy {net_acc:.2f}")
    if args.plot:
        try:
            plot(args.plot, x, y, [("softmax", linear_fn, linear_values), ("2-layer net", net_fn, net_values)])
            print(f"decision boundaries drawn in {args.plot}")
        except ImportError:
            print("--plot needs matplotlib: pip install 'graphc[plot]'")
            return 1
    return 0 if net_acc >= 0.95 else 1


if __name__ == "__main__":
    raise SystemExit(main())
