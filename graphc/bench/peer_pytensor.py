"""Peer 4: PyTensor, ``pytensor.function([...], [loss, *pytensor.grad(loss, wrt)], mode="NUMBA")``.

Inputs are declared with unknown dims (as ``pt.matrix`` would), not static shapes.
PyTensor has no Numba implementation of a 2-D convolution (its ``convolve2d``
runs SciPy in object mode), so W5's convolution is written with PyTensor's own
ops as an im2col: nine shifted slices of the padded image, then one matmul.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

with warnings.catch_warnings():
    # A pip-installed PyTensor warns at import that its C backend found no BLAS;
    # the Numba backend used here calls BLAS through NumPy/SciPy, so it does not apply.
    warnings.filterwarnings("ignore", message=".*could not link to a BLAS.*")
    import pytensor
    import pytensor.tensor as pt
    from pytensor.tensor.special import log_softmax

from graphc.bench.peers import Fn, PeerParts
from graphc.bench.workloads import L2_REG, WORKLOADS, Data

Var = pt.TensorVariable
Loss = Callable[[dict[str, Var]], Var]


def w1_loss(d: dict[str, Var]) -> Var:
    h = pt.sigmoid(d["x"] @ d["w1"])
    return pt.sum((h @ d["w2"] - d["y"]) ** 2)


def w2_loss(d: dict[str, Var]) -> Var:
    x = d["x"]
    return pt.sum(pt.sigmoid(d["a"] * x + d["b"]) * pt.tanh(x) + pt.maximum(x, 0.1 * x))


def w3_add_mul_loss(d: dict[str, Var]) -> Var:
    return (d["x"] + d["y"]) * d["z"]


def w3_neuron_loss(d: dict[str, Var]) -> Var:
    w, x = d["w"], d["x"]
    return 1.0 / (1.0 + pt.exp(-(w[0] * x[0] + w[1] * x[1] + w[2])))


def softmax_ce(scores: Var, labels: Var) -> Var:
    logp = log_softmax(scores, axis=1)
    return -pt.mean(logp[pt.arange(labels.shape[0]), labels])


def w4_loss(d: dict[str, Var]) -> Var:
    h1 = pt.maximum(d["x"] @ d["w1"] + d["b1"], 0.0)
    h2 = pt.maximum(h1 @ d["w2"] + d["b2"], 0.0)
    l2 = pt.sum(d["w1"] ** 2) + pt.sum(d["w2"] ** 2) + pt.sum(d["w3"] ** 2)
    return softmax_ce(h2 @ d["w3"] + d["b3"], d["labels"]) + L2_REG * l2


def _conv3x3_nhwc(x: Var, conv_w: Var, conv_b: Var) -> Var:
    """3x3, stride 1, pad 1 convolution of NCHW x, as a (N*H*W, F) channels-last matrix."""
    n, c, h, w = x.shape
    padded = pt.zeros((n, c, h + 2, w + 2), dtype=x.dtype)
    padded = pt.set_subtensor(padded[:, :, 1:-1, 1:-1], x)
    taps = pt.stack([padded[:, :, i : i + h, j : j + w] for i in range(3) for j in range(3)], axis=-1)
    cols = taps.dimshuffle(0, 2, 3, 1, 4).reshape((n * h * w, c * 9))  # columns (C, kh, kw)
    return cols @ conv_w.reshape((conv_w.shape[0], c * 9)).T + conv_b


def w5_loss(d: dict[str, Var]) -> Var:
    x = d["x"]
    n, _, h, w = x.shape
    act = pt.maximum(_conv3x3_nhwc(x, d["conv_w"], d["conv_b"]), 0.0)
    pooled = act.reshape((n, h // 2, 2, w // 2, 2, d["conv_w"].shape[0])).max(axis=(2, 4))
    flat = pooled.dimshuffle(0, 3, 1, 2).reshape((n, -1))  # NCHW flatten order
    return softmax_ce(flat @ d["fc_w"] + d["fc_b"], d["labels"])


LOSSES: dict[str, Loss] = {
    "W1": w1_loss,
    "W2": w2_loss,
    "W3_add_mul": w3_add_mul_loss,
    "W3_neuron": w3_neuron_loss,
    "W4": w4_loss,
    "W5_8x8": w5_loss,
    "W5_28x28": w5_loss,
}


def parts(workload: str, dtype: np.dtype) -> PeerParts:
    if workload not in LOSSES:
        raise NotImplementedError(f"the PyTensor peer has no {workload}")
    spec = WORKLOADS[workload]
    sample = spec.make_data(dtype, np.random.default_rng(0))
    inputs = [(name, str(v.dtype), v.ndim) for name, v in sample.items()]

    def define(with_grads: bool) -> Callable[[], Fn]:
        def build() -> Fn:
            # floatX = the data's dtype, so Python constants do not upcast float32 graphs.
            with pytensor.config.change_flags(floatX=str(dtype)):
                variables = {name: pt.tensor(name, dtype=dt, shape=(None,) * ndim) for name, dt, ndim in inputs}
                loss = LOSSES[workload](variables)
                outputs = [loss, *pytensor.grad(loss, [variables[k] for k in spec.wrt])] if with_grads else loss
                fn = pytensor.function(list(variables.values()), outputs, mode="NUMBA")
            if with_grads:
                return lambda p: _split(fn(*p["args"]))
            return lambda p: fn(*p["args"])

        return build

    def prepare(data: Data) -> dict:
        return {"args": tuple(data[name] for name, _, _ in inputs)}

    return PeerParts(prepare, define(False), define(True))


def _split(outputs: list[np.ndarray]) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    return outputs[0], tuple(outputs[1:])
