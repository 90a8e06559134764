"""A 3-layer ReLU MLP with softmax cross-entropy on the 8x8 digits, trained with graphc.

64 pixels -> 128 ReLU -> 64 ReLU -> 10 scores, the loss gc.nn.softmax_cross_entropy
plus an L2 penalty; minibatch SGD. The batch size is a named dim ("N"), so one kernel
serves the training batches, the last short batch and the whole test set. Prints the
loss per epoch and the test accuracy (at least 95%).

    python examples/digits_mlp.py [--quick] [--epochs 30]
"""

from __future__ import annotations

import argparse

import numpy as np
from _digits import evaluate, load_digits, sgd, split

import graphc as gc

SIZES = (64, 128, 64, 10)
LR, L2, BATCH = 0.05, 1e-4, 32


def mlp() -> tuple[gc.Node, gc.Node, list[gc.Node], gc.Node, gc.Node]:
    """The inputs, the parameters, the scores and the loss."""
    x, labels = gc.input("x", shape=("N", SIZES[0])), gc.input("labels", shape=("N",), dtype="int64")
    params, h = [], x
    for k, (fan_in, fan_out) in enumerate(zip(SIZES[:-1], SIZES[1:]), start=1):
        w, b = gc.input(f"w{k}", shape=(fan_in, fan_out)), gc.input(f"b{k}", shape=(fan_out,))
        params += [w, b]
        h = gc.nn.linear(h, w, b)
        if k < len(SIZES) - 1:
            h = gc.relu(h)
    loss = gc.nn.softmax_cross_entropy(h, labels) + gc.nn.l2_penalty(*params[::2], scale=L2)
    return x, labels, params, h, loss


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer epochs")
    parser.add_argument("--epochs", type=int)
    args = parser.parse_args(argv)
    epochs = args.epochs or (10 if args.quick else 30)
    rng = np.random.default_rng(0)
    images, labels, source = load_digits(rng)
    x_train, y_train, x_test, y_test = split(images.reshape(len(images), -1), labels, rng)
    # each pixel centred and scaled by the training set's statistics
    mean, std = x_train.mean(axis=0), x_train.std(axis=0) + 0.1
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    print(f"{source}: {len(y_train)} to train on, {len(y_test)} to test")

    x, y, params, scores, loss = mlp()
    step = gc.compile([x, y, *params], [loss, *gc.grad(loss, params)])
    predict = gc.compile([x, *params], [scores])
    # He initialization for ReLU layers; biases start at zero
    values = [rng.standard_normal(p.shape) * np.sqrt(2.0 / p.shape[0]) if p.ndim == 2 else np.zeros(p.shape)
              for p in params]
    print(f"MLP {'-'.join(map(str, SIZES))}, ReLU, softmax cross-entropy + {L2} * sum(W^2); "
          f"SGD, batches of {BATCH}, learning rate {LR}, {epochs} epochs")
    sgd(step, values, x_train, y_train, epochs, BATCH, LR, rng, "MLP")
    return 0 if evaluate(predict, values, (x_train, y_train, x_test, y_test)) >= 0.95 else 1


if __name__ == "__main__":
    raise SystemExit(main())
