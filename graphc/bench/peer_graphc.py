"""graphc itself, beside the peers: the Numba backend and the interpreted baseline.

The workloads are declared with graphc's public API exactly as a user would write them
(the nn losses for W4). ``prepare`` turns 0-d inputs into NumPy scalars, which is how
a scalar reaches a compiled function on its fast path (a 0-d array works too, through
the checked slow path).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

import graphc as gc
from graphc.bench.peers import Fn, PeerParts
from graphc.bench.workloads import L2_REG, W6_KERNEL, W6_REG, WORKLOADS, Data

Graph = tuple[list[gc.Node], gc.Node]  # inputs (in the data's key order) and the loss


def _inputs(data: Data) -> dict[str, gc.Node]:
    return {k: gc.input(k, shape=v.shape, dtype=v.dtype.name) for k, v in data.items()}


def w1(v: dict[str, gc.Node]) -> gc.Node:
    h = gc.sigmoid(v["x"] @ v["w1"])
    return gc.sum((h @ v["w2"] - v["y"]) ** 2)


def w2(v: dict[str, gc.Node]) -> gc.Node:
    x = v["x"]
    return gc.sum(gc.sigmoid(v["a"] * x + v["b"]) * gc.tanh(x) + gc.maximum(x, 0.1 * x))


def w3_add_mul(v: dict[str, gc.Node]) -> gc.Node:
    return (v["x"] + v["y"]) * v["z"]


def w3_neuron(v: dict[str, gc.Node]) -> gc.Node:
    w, x = v["w"], v["x"]
    # [x0, x1, 1] = x @ P + e, so w0*x0 + w1*x1 + w2 = sum(w * [x0, x1, 1])
    augmented = x @ np.eye(2, 3, dtype=x.dtype) + np.array([0, 0, 1], dtype=x.dtype)
    return 1.0 / (1.0 + gc.exp(-gc.sum(w * augmented)))


def w4(v: dict[str, gc.Node]) -> gc.Node:
    h1 = gc.relu(v["x"] @ v["w1"] + v["b1"])
    h2 = gc.relu(h1 @ v["w2"] + v["b2"])
    scores = h2 @ v["w3"] + v["b3"]
    return gc.nn.softmax_cross_entropy(scores, v["labels"]) + gc.nn.l2_penalty(v["w1"], v["w2"], v["w3"], scale=L2_REG)


def w5(v: dict[str, gc.Node]) -> gc.Node:
    x = v["x"]
    pooled = gc.nn.max_pool2d(gc.relu(gc.nn.conv2d(x, v["conv_w"], v["conv_b"], padding=1)))
    features = gc.reshape(pooled, (x.shape[0], -1))  # flattened in (F, H, W) order
    return gc.nn.softmax_cross_entropy(gc.nn.linear(features, v["fc_w"], v["fc_b"]), v["labels"])


def w6(v: dict[str, gc.Node]) -> gc.Node:
    x = v["x"]
    conv = gc.nn.conv2d(x, v["W1"], v["b1"], padding=W6_KERNEL // 2)
    pooled = gc.nn.max_pool2d(gc.relu(conv))
    hidden = gc.relu(gc.nn.linear(gc.reshape(pooled, (x.shape[0], -1)), v["W2"], v["b2"]))
    scores = gc.nn.linear(hidden, v["W3"], v["b3"])
    return gc.nn.softmax_cross_entropy(scores, v["labels"]) + gc.nn.l2_penalty(v["W1"], v["W2"], v["W3"], scale=W6_REG)


LOSSES: dict[str, Callable[[dict[str, gc.Node]], gc.Node]] = {
    "W1": w1,
    "W2": w2,
    "W3_add_mul": w3_add_mul,
    "W3_neuron": w3_neuron,
    "W4": w4,
    "W5_8x8": w5,
    "W5_28x28": w5,
    "W6": w6,
    "W6_8x8": w6,
}


def _prepare(data: Data) -> tuple:
    """The arguments in declaration order, so a timed call is f(*args) and nothing more."""
    return tuple(v[()] if v.ndim == 0 else v for v in data.values())


def parts(workload: str, dtype: np.dtype, backend: str = "numba") -> PeerParts:
    if workload not in LOSSES:
        raise NotImplementedError(f"graphc has no {workload} yet")
    spec = WORKLOADS[workload]
    sample = spec.make_data(dtype, np.random.default_rng(0))
    names = list(sample)

    def define(with_grads: bool) -> Fn:
        nodes = _inputs(sample)
        loss = LOSSES[workload](nodes)
        outputs = [loss, *gc.grad(loss, [nodes[w] for w in spec.wrt])] if with_grads else loss
        f = gc.compile([nodes[k] for k in names], outputs, backend=backend)
        if with_grads:

            def loss_and_grads(args: tuple) -> tuple:
                results = f(*args)
                return results[0], results[1:]

            return loss_and_grads
        return lambda args: f(*args)

    return PeerParts(
        prepare=_prepare, define_forward=lambda: define(False), define_forward_backward=lambda: define(True)
    )
