"""The benchmark workloads (SPEC "Workloads"): named inputs and what is differentiated.

Every system (graphc, the interpreter, the peers) computes the same loss on the
data made here, and returns gradients for ``wrt``, in that order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

Data = dict[str, np.ndarray]


@dataclass
class Workload:
    name: str
    make_data: Callable[[np.dtype, np.random.Generator], Data]
    wrt: list[str]
    description: str = ""
    # Values the lecture prints (rounded to 2 decimals), where it prints them.
    lecture_grads: dict[str, np.ndarray] = field(default_factory=dict)
    # False where relu and max kinks among millions of units make central differences
    # unreliable; the same code is then checked at a smaller size (W6_8x8 for W6).
    finite_differences: bool = True


def _normal(rng: np.random.Generator, shape: tuple[int, ...], dtype: np.dtype, scale: float = 1.0) -> np.ndarray:
    return (scale * rng.standard_normal(shape)).astype(dtype)


def _scalar(value: float, dtype: np.dtype) -> np.ndarray:
    """A 0-d input (a graph scalar), not a Python float."""
    return np.asarray(value, dtype=dtype)


def _labels(rng: np.random.Generator, n: int, classes: int) -> np.ndarray:
    return rng.integers(0, classes, size=n, dtype=np.int64)


def make_w1(dtype: np.dtype, rng: np.random.Generator) -> Data:
    n, d_in, h, d_out = 64, 1000, 100, 10
    # Weights scaled by 1/sqrt(fan_in) so the sigmoid is not saturated; with the
    # lecture's plain randn the w1 gradient would be almost all underflow noise.
    return {
        "x": _normal(rng, (n, d_in), dtype),
        "y": _normal(rng, (n, d_out), dtype),
        "w1": _normal(rng, (d_in, h), dtype, d_in**-0.5),
        "w2": _normal(rng, (h, d_out), dtype, h**-0.5),
    }


def make_w2(dtype: np.dtype, rng: np.random.Generator) -> Data:
    return {
        "x": _normal(rng, (1_000_000,), dtype),
        "a": _scalar(rng.uniform(0.5, 1.5), dtype),
        "b": _scalar(rng.uniform(-0.5, 0.5), dtype),
    }


def make_w3_add_mul(dtype: np.dtype, rng: np.random.Generator) -> Data:
    del rng  # the lecture's fixed point
    return {"x": _scalar(-2.0, dtype), "y": _scalar(5.0, dtype), "z": _scalar(-4.0, dtype)}


def make_w3_neuron(dtype: np.dtype, rng: np.random.Generator) -> Data:
    del rng
    return {"w": np.array([2.0, -3.0, -3.0], dtype=dtype), "x": np.array([-1.0, -2.0], dtype=dtype)}


W4_SIZES = (784, 512, 256, 10)
W4_BATCH = 256
L2_REG = 1e-4


def make_w4(dtype: np.dtype, rng: np.random.Generator) -> Data:
    data: Data = {"x": _normal(rng, (W4_BATCH, W4_SIZES[0]), dtype), "labels": _labels(rng, W4_BATCH, W4_SIZES[-1])}
    for i, (fan_in, fan_out) in enumerate(zip(W4_SIZES[:-1], W4_SIZES[1:], strict=True), start=1):
        data[f"w{i}"] = _normal(rng, (fan_in, fan_out), dtype, (2.0 / fan_in) ** 0.5)  # He init for ReLU
        data[f"b{i}"] = _normal(rng, (fan_out,), dtype, 0.1)
    return data


W5_BATCH, W5_FILTERS, W5_CLASSES = 32, 8, 10


def w5_maker(side: int) -> Callable[[np.dtype, np.random.Generator], Data]:
    """Data for conv3x3(8, pad 1) - relu - maxpool2 - linear on side x side images."""

    def make(dtype: np.dtype, rng: np.random.Generator) -> Data:
        features = W5_FILTERS * (side // 2) ** 2
        return {
            "x": _normal(rng, (W5_BATCH, 1, side, side), dtype),
            "labels": _labels(rng, W5_BATCH, W5_CLASSES),
            "conv_w": _normal(rng, (W5_FILTERS, 1, 3, 3), dtype, (2.0 / 9) ** 0.5),
            "conv_b": _normal(rng, (W5_FILTERS,), dtype, 0.1),
            "fc_w": _normal(rng, (features, W5_CLASSES), dtype, features**-0.5),
            "fc_b": _normal(rng, (W5_CLASSES,), dtype, 0.1),
        }

    return make


# W6: CS231n assignment 2's ThreeLayerConvNet at its defaults: conv 7x7 (32 filters, stride
# 1, padding 3) - relu - maxpool 2x2 - affine 100 - relu - affine 10 - softmax CE, plus
# W6_REG * sum of the squared weights W1, W2, W3; weights drawn with its weight_scale
# 1e-3, biases zero, as its constructor does.
W6_FILTERS, W6_KERNEL, W6_HIDDEN, W6_CLASSES, W6_REG, W6_SCALE = 32, 7, 100, 10, 1e-3, 1e-3


def w6_maker(batch: int, side: int) -> Callable[[np.dtype, np.random.Generator], Data]:
    """Data for the ThreeLayerConvNet on ``batch`` images of 3 x side x side."""

    def make(dtype: np.dtype, rng: np.random.Generator) -> Data:
        features = W6_FILTERS * (side // 2) ** 2
        return {
            "x": _normal(rng, (batch, 3, side, side), dtype),
            "labels": _labels(rng, batch, W6_CLASSES),
            "W1": _normal(rng, (W6_FILTERS, 3, W6_KERNEL, W6_KERNEL), dtype, W6_SCALE),
            "b1": np.zeros(W6_FILTERS, dtype),
            "W2": _normal(rng, (features, W6_HIDDEN), dtype, W6_SCALE),
            "b2": np.zeros(W6_HIDDEN, dtype),
            "W3": _normal(rng, (W6_HIDDEN, W6_CLASSES), dtype, W6_SCALE),
            "b3": np.zeros(W6_CLASSES, dtype),
        }

    return make


_W4_WRT = ["w1", "b1", "w2", "b2", "w3", "b3"]
_W5_WRT = ["conv_w", "conv_b", "fc_w", "fc_b"]
_W6_WRT = ["W1", "b1", "W2", "b2", "W3", "b3"]

WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in [
        Workload("W1", make_w1, ["w1", "w2"], "two-layer net, sigmoid, squared error, N=64 1000-100-10"),
        Workload("W2", make_w2, ["x", "a", "b"], "sigmoid(a*x+b)*tanh(x) + maximum(x, 0.1x), 1e6 elements"),
        Workload(
            "W3_add_mul",
            make_w3_add_mul,
            ["x", "y", "z"],
            "(x+y)*z at x=-2, y=5, z=-4",
            {"x": np.array(-4.0), "y": np.array(-4.0), "z": np.array(3.0)},
        ),
        Workload(
            "W3_neuron",
            make_w3_neuron,
            ["w", "x"],
            "1/(1+exp(-(w0*x0+w1*x1+w2)))",
            {"w": np.array([-0.2, -0.39, 0.2]), "x": np.array([0.39, -0.59])},
        ),
        Workload("W4", make_w4, _W4_WRT, "MLP 784-512-256-10, ReLU, softmax CE + 1e-4*sum(W^2), batch 256"),
        Workload("W5_8x8", w5_maker(8), _W5_WRT, "conv3x3x8-relu-maxpool2-linear-CE, 32 x 1x8x8"),
        Workload("W5_28x28", w5_maker(28), _W5_WRT, "conv3x3x8-relu-maxpool2-linear-CE, 32 x 1x28x28"),
        Workload("W6", w6_maker(50, 32), _W6_WRT, "CS231n ThreeLayerConvNet: conv7x7x32-relu-pool2-100-relu-10, "
                 "CE + 1e-3*sum(W^2), 50 x 3x32x32", finite_differences=False),
        Workload("W6_8x8", w6_maker(4, 8), _W6_WRT, "ThreeLayerConvNet as W6 on 4 x 3x8x8"),
    ]
}
