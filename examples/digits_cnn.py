"""A small convolutional net on the 8x8 digits: conv - relu - max pool - linear, with graphc.

    images (N, 1, 8, 8) -> gc.nn.conv2d, 8 filters of 3x3, padding 1 -> (N, 8, 8, 8)
    -> relu -> gc.nn.max_pool2d 2x2 -> (N, 8, 4, 4) -> flatten -> linear -> 10 scores

The convolution is the image's sliding windows (gc.patches) times the filters, summed,
so its backward graph is made of the same gates as the rest: the filters' gradient is
each window times the upstream gradient (the mul gate switches), and the pooling routes
each window's gradient to its largest pixel (the max gate). Prints the loss per epoch
and the test accuracy (at least 95%).

    python examples/digits_cnn.py [--quick] [--epochs 15]
"""

from __future__ import annotations

import argparse

import numpy as np
from _digits import evaluate, load_digits, sgd, split

import graphc as gc

FILTERS, CLASSES = 8, 10
LR, BATCH = 0.1, 32


def cnn() -> tuple[gc.Node, gc.Node, list[gc.Node], gc.Node, gc.Node]:
    """The inputs, the parameters, the scores and the loss."""
    x, labels = gc.input("x", shape=("N", 1, 8, 8)), gc.input("labels", shape=("N",), dtype="int64")
    conv_w, conv_b = gc.input("conv_w", shape=(FILTERS, 1, 3, 3)), gc.input("conv_b", shape=(FILTERS,))
    fc_w, fc_b = gc.input("fc_w", shape=(FILTERS * 4 * 4, CLASSES)), gc.input("fc_b", shape=(CLASSES,))
    pooled = gc.nn.max_pool2d(gc.relu(gc.nn.conv2d(x, conv_w, conv_b, padding=1)), 2)
    features = gc.reshape(pooled, ("N", FILTERS * 4 * 4))  # flattened in (filter, row, column) order
    scores = gc.nn.linear(features, fc_w, fc_b)
    return x, labels, [conv_w, conv_b, fc_w, fc_b], scores, gc.nn.softmax_cross_entropy(scores, labels)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer epochs")
    parser.add_argument("--epochs", type=int)
    args = parser.parse_args(argv)
    epochs = args.epochs or (5 if args.quick else 15)
    rng = np.random.default_rng(0)
    images, labels, source = load_digits(rng)
    x_train, y_train, x_test, y_test = split(images[:, None], labels, rng)  # a channel axis: (N, 1, 8, 8)
    print(f"{source}: {len(y_train)} to train on, {len(y_test)} to test")
    mean, std = x_train.mean(), x_train.std()  # the pixels centred and scaled by the training set's statistics
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std

    x, y, params, scores, loss = cnn()
    step = gc.compile([x, y, *params], [loss, *gc.grad(loss, params)])
    predict = gc.compile([x, *params], [scores])
    fan_in = {p: int(np.prod(p.shape[1:])) if p.ndim == 4 else p.shape[0] for p in params}
    values = [rng.standard_normal(p.shape) * np.sqrt(2.0 / fan_in[p]) if p.ndim > 1 else np.zeros(p.shape)
              for p in params]
    print(f"conv 3x3x{FILTERS} - relu - max pool 2x2 - linear - softmax cross-entropy; SGD, batches of {BATCH}, "
          f"learning rate {LR}, {epochs} epochs")
    sgd(step, values, x_train, y_train, epochs, BATCH, LR, rng, "CNN")
    return 0 if evaluate(predict, values, (x_train, y_train, x_test, y_test)) >= 0.95 else 1


if __name__ == "__main__":
    raise SystemExit(main())
