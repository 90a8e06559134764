"""Peer 1, the baseline: the lecture's forward/backward written out by hand in NumPy.

Each workload has a ``*_forward(d)`` returning the loss and a ``*_forward_backward(d)``
returning ``(loss, grads)`` with grads in the workload's ``wrt`` order. The backward
passes are derived by hand, gate by gate, and checked against finite differences in
``benchmarks.selftest``. Every constant is kept in the input dtype (NumPy 2 keeps
Python floats weak), so the float32 runs really compute in float32.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from graphc.bench.peers import PeerParts
from graphc.bench.workloads import L2_REG, W6_KERNEL, W6_REG, Data

Grads = tuple[np.ndarray, ...]


def prepare(data: Data) -> dict:
    # 0-d inputs become NumPy scalars: that is how a hand-written script holds a
    # scalar, and it skips the 0-d array machinery (several times slower per op).
    return {k: (v[()] if v.ndim == 0 else v) for k, v in data.items()}


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


# --- W1: two-layer net, sigmoid hidden layer, squared error ---------------------------


def w1_forward(d: dict) -> np.floating:
    h = sigmoid(d["x"].dot(d["w1"]))
    return np.square(h.dot(d["w2"]) - d["y"]).sum()


def w1_forward_backward(d: dict) -> tuple[np.floating, Grads]:
    x, y, w1, w2 = d["x"], d["y"], d["w1"], d["w2"]
    h = sigmoid(x.dot(w1))
    diff = h.dot(w2) - y
    loss = np.square(diff).sum()
    grad_pred = 2.0 * diff
    grad_w2 = h.T.dot(grad_pred)
    grad_h = grad_pred.dot(w2.T)
    grad_w1 = x.T.dot(grad_h * h * (1.0 - h))  # sigmoid' = h(1-h)
    return loss, (grad_w1, grad_w2)


# --- W2: elementwise chain -------------------------------------------------------------


def w2_forward(d: dict) -> np.floating:
    x = d["x"]
    return np.sum(sigmoid(d["a"] * x + d["b"]) * np.tanh(x) + np.maximum(x, 0.1 * x))


def _maximum_grad_x(x: np.ndarray) -> np.ndarray:
    """d/dx maximum(x, 0.1x) under a unit upstream.

    The max gate routes the gradient to the winner: 1 through the first argument,
    0.1 through the second (u = 0.1x); a tie (x == 0) splits evenly: 0.5 + 0.05.
    """
    one, tenth, tie = (x.dtype.type(v) for v in (1.0, 0.1, 0.55))
    u = 0.1 * x
    return np.where(x > u, one, np.where(x < u, tenth, tie))


def w2_forward_backward(d: dict) -> tuple[np.floating, Grads]:
    x, a, b = d["x"], d["a"], d["b"]
    s = sigmoid(a * x + b)
    t = np.tanh(x)
    loss = np.sum(s * t + np.maximum(x, 0.1 * x))
    # The sum sends 1 to every term; the product gate switches: ds = t, dt = s.
    dz = t * s * (1.0 - s)  # through the sigmoid
    grad_a = np.sum(dz * x)  # a and b were broadcast: their gradients are summed back
    grad_b = np.sum(dz)
    # x branches three ways (a*x, tanh, maximum): the gradients add at the branch.
    grad_x = dz * a + s * (1.0 - t * t) + _maximum_grad_x(x)
    return loss, (grad_x, grad_a, grad_b)


# --- W3: the lecture's tiny graphs -----------------------------------------------------


def w3_add_mul_forward(d: dict) -> np.floating:
    return (d["x"] + d["y"]) * d["z"]


def w3_add_mul_forward_backward(d: dict) -> tuple[np.floating, Grads]:
    q = d["x"] + d["y"]
    f = q * d["z"]
    dq = d["z"]  # mul gate: each input gets the other one
    return f, (dq, dq, q)  # add gate: distributes dq to x and y


def w3_neuron_forward(d: dict) -> np.floating:
    w, x = d["w"], d["x"]
    return 1.0 / (1.0 + np.exp(-(w[0] * x[0] + w[1] * x[1] + w[2])))


def w3_neuron_forward_backward(d: dict) -> tuple[np.floating, Grads]:
    w, x = d["w"], d["x"]
    dot = w[0] * x[0] + w[1] * x[1] + w[2]
    f = 1.0 / (1.0 + np.exp(-dot))
    ddot = (1.0 - f) * f  # the sigmoid gate's local gradient, as in the lecture
    dw = np.empty_like(w)
    dw[:2] = x * ddot
    dw[2] = ddot
    return f, (dw, w[:2] * ddot)


# --- shared pieces for W4/W5 -----------------------------------------------------------


def softmax_ce(scores: np.ndarray, labels: np.ndarray) -> np.floating:
    """Mean softmax cross-entropy, with the max subtracted for stability."""
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(shifted).sum(axis=1))
    return np.mean(log_norm - shifted[np.arange(len(labels)), labels])


def softmax_ce_grad(scores: np.ndarray, labels: np.ndarray) -> tuple[np.floating, np.ndarray]:
    """Loss and d loss / d scores = (softmax - onehot) / N."""
    n = len(labels)
    rows = np.arange(n)
    shifted = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    norm = exp.sum(axis=1, keepdims=True)
    loss = np.mean(np.log(norm[:, 0]) - shifted[rows, labels])
    dscores = exp / norm
    dscores[rows, labels] -= 1.0
    dscores /= n
    return loss, dscores


# --- W4: MLP 784-512-256-10 ------------------------------------------------------------


def _l2(*weights: np.ndarray) -> np.floating:
    return L2_REG * sum(np.sum(w * w) for w in weights)


def w4_forward(d: dict) -> np.floating:
    h1 = np.maximum(d["x"].dot(d["w1"]) + d["b1"], 0.0)
    h2 = np.maximum(h1.dot(d["w2"]) + d["b2"], 0.0)
    scores = h2.dot(d["w3"]) + d["b3"]
    return softmax_ce(scores, d["labels"]) + _l2(d["w1"], d["w2"], d["w3"])


def w4_forward_backward(d: dict) -> tuple[np.floating, Grads]:
    x, w1, b1, w2, b2, w3, b3 = (d[k] for k in ("x", "w1", "b1", "w2", "b2", "w3", "b3"))
    a1 = x.dot(w1) + b1
    h1 = np.maximum(a1, 0.0)
    a2 = h1.dot(w2) + b2
    h2 = np.maximum(a2, 0.0)
    ce, dscores = softmax_ce_grad(h2.dot(w3) + b3, d["labels"])
    loss = ce + _l2(w1, w2, w3)
    reg2 = 2.0 * L2_REG
    dw3 = h2.T.dot(dscores) + reg2 * w3
    dh2 = dscores.dot(w3.T) * (a2 > 0)  # relu'(0) = 0
    dw2 = h1.T.dot(dh2) + reg2 * w2
    dh1 = dh2.dot(w2.T) * (a1 > 0)
    dw1 = x.T.dot(dh1) + reg2 * w1
    return loss, (dw1, dh1.sum(axis=0), dw2, dh2.sum(axis=0), dw3, dscores.sum(axis=0))


# --- W5: conv3x3(pad 1) - relu - maxpool 2x2 - linear - softmax CE --------------------


def im2col_3x3(x: np.ndarray) -> np.ndarray:
    """(N, C, H, W) -> (N*H*W, C*9) patches for a 3x3, stride 1, pad 1 convolution.

    Rows are in NHWC order so the conv result is channels-last, which makes the
    pooling windows simple reshapes; columns are (C, kh, kw) like the filter.
    """
    n, c, h, w = x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    windows = sliding_window_view(padded, (3, 3), axis=(2, 3))  # (N, C, H, W, 3, 3), a view
    return windows.transpose(0, 2, 3, 1, 4, 5).reshape(n * h * w, c * 9)


def _conv_relu_pool(d: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Forward to the flattened pooled features; returns what backward needs too."""
    x, conv_w = d["x"], d["conv_w"]
    n, _, h, w = x.shape
    filters = conv_w.shape[0]
    cols = im2col_3x3(x)
    pre = cols.dot(conv_w.reshape(filters, -1).T) + d["conv_b"]  # (N*H*W, F)
    act6 = np.maximum(pre, 0.0).reshape(n, h // 2, 2, w // 2, 2, filters)
    pooled = act6.max(axis=(2, 4))  # (N, H/2, W/2, F)
    flat = pooled.transpose(0, 3, 1, 2).reshape(n, -1)  # flatten in NCHW order
    return cols, pre, act6, pooled, flat


def w5_forward(d: dict) -> np.floating:
    flat = _conv_relu_pool(d)[-1]
    return softmax_ce(flat.dot(d["fc_w"]) + d["fc_b"], d["labels"])


def _maxpool_backward(act6: np.ndarray, pooled: np.ndarray, dpooled: np.ndarray) -> np.ndarray:
    """Route each window's gradient to its maximum; ties split it evenly."""
    expand = (slice(None), slice(None), None, slice(None), None, slice(None))
    winners = act6 == pooled[expand]
    count = winners.sum(axis=(2, 4), dtype=dpooled.dtype)
    return winners * (dpooled / count)[expand]


def w5_forward_backward(d: dict) -> tuple[np.floating, Grads]:
    conv_w, fc_w = d["conv_w"], d["fc_w"]
    cols, pre, act6, pooled, flat = _conv_relu_pool(d)
    loss, dscores = softmax_ce_grad(flat.dot(fc_w) + d["fc_b"], d["labels"])
    dfc_w = flat.T.dot(dscores)
    dflat = dscores.dot(fc_w.T)
    dpooled = dflat.reshape(pooled.shape[0], pooled.shape[3], pooled.shape[1], pooled.shape[2]).transpose(0, 2, 3, 1)
    dpre = _maxpool_backward(act6, pooled, dpooled).reshape(pre.shape) * (pre > 0)
    dconv_w = dpre.T.dot(cols).reshape(conv_w.shape)
    return loss, (dconv_w, dpre.sum(axis=0), dfc_w, dscores.sum(axis=0))


# --- W6: ThreeLayerConvNet: conv7x7(pad 3) - relu - maxpool 2x2 - affine - relu - affine ---


def im2col(x: np.ndarray, k: int, pad: int) -> np.ndarray:
    """(N, C, H, W) -> (N*H*W, C*k*k) windows of a k x k, stride 1, 'same' convolution
    (rows in NHWC order, columns in the filter's (C, kh, kw) order)."""
    n, c, h, w = x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    windows = sliding_window_view(padded, (k, k), axis=(2, 3))  # (N, C, H, W, k, k), a view
    return windows.transpose(0, 2, 3, 1, 4, 5).reshape(n * h * w, c * k * k)


def _w6_forward_parts(d: dict) -> tuple:
    x, w1 = d["x"], d["W1"]
    n, _, h, w = x.shape
    filters = w1.shape[0]
    cols = im2col(x, W6_KERNEL, W6_KERNEL // 2)
    pre = cols.dot(w1.reshape(filters, -1).T) + d["b1"]  # (N*H*W, F), channels last
    act6 = np.maximum(pre, 0.0).reshape(n, h // 2, 2, w // 2, 2, filters)
    pooled = act6.max(axis=(2, 4))  # (N, H/2, W/2, F)
    flat = pooled.transpose(0, 3, 1, 2).reshape(n, -1)  # flattened in NCHW order
    a2 = flat.dot(d["W2"]) + d["b2"]
    hidden = np.maximum(a2, 0.0)
    scores = hidden.dot(d["W3"]) + d["b3"]
    return cols, pre, act6, pooled, flat, a2, hidden, scores


def _w6_l2(d: dict) -> np.floating:
    return W6_REG * sum(np.sum(d[k] * d[k]) for k in ("W1", "W2", "W3"))


def w6_forward(d: dict) -> np.floating:
    return softmax_ce(_w6_forward_parts(d)[-1], d["labels"]) + _w6_l2(d)


def w6_forward_backward(d: dict) -> tuple[np.floating, Grads]:
    w1, w2, w3 = d["W1"], d["W2"], d["W3"]
    cols, pre, act6, pooled, flat, a2, hidden, scores = _w6_forward_parts(d)
    ce, dscores = softmax_ce_grad(scores, d["labels"])
    reg2 = 2.0 * W6_REG
    dw3 = hidden.T.dot(dscores) + reg2 * w3
    da2 = dscores.dot(w3.T) * (a2 > 0)
    dw2 = flat.T.dot(da2) + reg2 * w2
    dflat = da2.dot(w2.T)
    dpooled = dflat.reshape(pooled.shape[0], pooled.shape[3], pooled.shape[1], pooled.shape[2]).transpose(0, 2, 3, 1)
    dpre = _maxpool_backward(act6, pooled, dpooled).reshape(pre.shape) * (pre > 0)
    dw1 = dpre.T.dot(cols).reshape(w1.shape) + reg2 * w1
    return ce + _w6_l2(d), (dw1, dpre.sum(axis=0), dw2, da2.sum(axis=0), dw3, dscores.sum(axis=0))


Forward = Callable[[dict], object]

IMPLS: dict[str, tuple[Forward, Forward]] = {
    "W1": (w1_forward, w1_forward_backward),
    "W2": (w2_forward, w2_forward_backward),
    "W3_add_mul": (w3_add_mul_forward, w3_add_mul_forward_backward),
    "W3_neuron": (w3_neuron_forward, w3_neuron_forward_backward),
    "W4": (w4_forward, w4_forward_backward),
    "W5_8x8": (w5_forward, w5_forward_backward),
    "W5_28x28": (w5_forward, w5_forward_backward),
    "W6": (w6_forward, w6_forward_backward),
    "W6_8x8": (w6_forward, w6_forward_backward),
}


def parts(workload: str, dtype: np.dtype) -> PeerParts:
    del dtype  # the same code serves both: NumPy follows the data's dtype
    forward, forward_backward = IMPLS[workload]
    return PeerParts(prepare, lambda: forward, lambda: forward_backward)
