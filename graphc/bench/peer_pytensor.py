"""Peer 4: PyTensor, ``pytensor.function([...], [loss, *pytensor.grad(loss, wrt)], mode="NUMBA")``.

Inputs are declared with unknown dims (as ``pt.matrix`` would), not static shapes.
PyTensor has no Numba implementation of a 2-D convolution (its ``convolve2d``
runs SciPy in object mode), so the convolutions of W5 and W6 are written with
PyTensor's own ops as an im2col: k*k shifted slices of the padded image, then one
matmul.
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
from graphc.bench.workloads import L2_REG, W6_KERNEL, W6_REG, WORKLOADS, Data

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


def _conv_nhwc(x: Var, weights: Var, bias: Var, k: int) -> Var:
    """k x k, stride 1, 'same' (pad k // 2) convolution of NCHW x, as a (N*H*W, F)
    channels-last matrix: an im2col of k*k shifted slices of the padded image, then one matmul."""
    n, c, h, w = x.shape
    pad = k // 2
    padded = pt.zeros((n, c, h + 2 * pad, w + 2 * pad), dtype=x.dtype)
    padded = pt.set_subtensor(padded[:, :, pad : pad + h, pad : pad + w], x)
    taps = pt.stack([padded[:, :, i : i + h, j : j + w] for i in range(k) for j in range(k)], axis=-1)
    cols = taps.dimshuffle(0, 2, 3, 1, 4).reshape((n * h * w, c * k * k))  # columns (C, kh, kw)
    return cols @ weights.reshape((weights.shape[0], c * k * k)).T + bias


def _relu_pool_flat(pre: Var, n: Var, h: Var, w: Var, filters: Var) -> Var:
    """relu, 2x2 max pool of the (N*H*W, F) channels-last conv output, flattened in NCHW order."""
    act = pt.maximum(pre, 0.0)
    pooled = act.reshape((n, h // 2, 2, w // 2, 2, filters)).max(axis=(2, 4))
    return pooled.dimshuffle(0, 3, 1, 2).reshape((n, -1))


def w5_loss(d: dict[str, Var]) -> Var:
    x = d["x"]
    n, _, h, w = x.shape
    flat = _relu_pool_flat(_conv_nhwc(x, d["conv_w"], d["conv_b"], 3), n, h, w, d["conv_w"].shape[0])
    return softmax_ce(flat @ d["fc_w"] + d["fc_b"], d["labels"])


def w6_loss(d: dict[str, Var]) -> Var:
    x = d["x"]
    n, _, h, w = x.shape
    flat = _relu_pool_flat(_conv_nhwc(x, d["W1"], d["b1"], W6_KERNEL), n, h, w, d["W1"].shape[0])
    hidden = pt.maximum(flat @ d["W2"] + d["b2"], 0.0)
    l2 = pt.sum(d["W1"] ** 2) + pt.sum(d["W2"] ** 2) + pt.sum(d["W3"] ** 2)
    return softmax_ce(hidden @ d["W3"] + d["b3"], d["labels"]) + W6_REG * l2


LOSSES: dict[str, Loss] = {
    "W1": w1_loss,
    "W2": w2_loss,
    "W3_add_mul": w3_add_mul_loss,
    "W3_neuron": w3_neuron_loss,
    "W4": w4_loss,
    "W5_8x8": w5_loss,
    "W5_28x28": w5_loss,
    "W6": w6_loss,
    "W6_8x8": w6_loss,
}


def parts(workload: str, dtype: np.dtype, mode: str | pytensor.compile.Mode = "NUMBA") -> PeerParts:
    """The peer's functions for ``workload``; ``mode`` is PyTensor's (the benchmark's is
    Numba; the tests check the graphs with the Python linker, which compiles in seconds)."""
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
                fn = pytensor.function(list(variables.values()), outputs, mode=mode)
            if with_grads:
                return lambda p: _split(fn(*p["args"]))
            return lambda p: fn(*p["args"])

        return build

    def prepare(data: Data) -> dict:
        return {"args": tuple(data[name] for name, _, _ in inputs)}

    return PeerParts(prepare, define(False), define(True))


def _split(outputs: list[np.ndarray]) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    return outputs[0], tuple(outputs[1:])
