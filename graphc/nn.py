"""Layers and losses, written as compositions of graphc primitives.

None of these is an op of its own: each is a few ``gc.*`` calls, so the backward graph
of a model built from them is made of the lecture's gates (the matmul switches, the
bias broadcast is unbroadcast, the hinge's max routes, the batch mean distributes)
and ``gc.show`` prints every step. The fusion pass compiles the elementwise chains
into loops as tight as a hand-written kernel, so nothing is lost by composing.

Each function checks its operands up front and raises a graphc ShapeError or
DTypeError naming the argument, rather than letting broadcasting accept a shape that
would silently compute something else (labels of shape (1,) against N rows, say).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from graphc.errors import DTypeError, GraphError, ShapeError
from graphc.ir import dtypes
from graphc.ir.node import Node, apply, renamed
from graphc.ir.shapes import format_shape, normalize_axes, unify_dim
from graphc.ops import greater_equal, log_softmax, maximum, mean, neg, one_hot, patches, reshape, sqrt, transpose
from graphc.ops import max as gmax
from graphc.ops import sum as gsum
from graphc.ops._common import as_node

__all__ = ["batchnorm", "conv2d", "dropout", "l2_penalty", "layernorm", "linear", "max_pool2d", "maxout", "mse",
           "softmax_cross_entropy", "svm_loss"]


# -- argument checks ----------------------------------------------------------------------
def _float_node(value: object, fn: str, arg: str) -> Node:
    node = as_node(value, f"nn.{fn}")
    if not dtypes.is_float(node.dtype):
        raise DTypeError(f"nn.{fn}: {arg} {node.label} has dtype {node.dtype} but must be float32 or float64")
    return node


def _require_ndim(node: Node, ndims: tuple[int, ...], fn: str, arg: str, meaning: str) -> None:
    if node.ndim not in ndims:
        wanted = " or ".join(f"{n}-D" for n in ndims)
        raise ShapeError(f"nn.{fn}: {arg} {node.label} must be {wanted} {meaning} "
                         f"but has shape {format_shape(node.shape)}")


def _same_dim(a: Node, axis_a: int, b: Node, axis_b: int, fn: str) -> None:
    """Dims that must be equal (no broadcasting); a name meeting a size binds later."""
    if unify_dim(a.shape[axis_a], b.shape[axis_b], broadcast=False) is None:
        raise ShapeError(f"nn.{fn}: {a.label} has shape {format_shape(a.shape)} and {b.label} has shape "
                         f"{format_shape(b.shape)}: dim {a.shape[axis_a]} and dim {b.shape[axis_b]} must match")


def _pair(value: object, fn: str, what: str) -> tuple[int, int]:
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in pair):
        raise GraphError(f"nn.{fn}: {what} must be an int or a pair of ints but got {value!r}")
    return int(pair[0]), int(pair[1])


def _windows(x: Node, kernel: object, stride: object, padding: object, fn: str) -> tuple[object, object]:
    """The (stride, padding) of a sliding window over images ``x`` (N, C, H, W), checked
    as CS231n's layers assert: the windows tile each padded image exactly, so the output
    size (H + 2*pad - kernel) / stride + 1 is whole. ``padding`` is ints, "valid" (0) or
    "same" (the output as large as the input: stride 1 and an odd kernel, padded by
    (kernel - 1) / 2 on each side)."""
    kh, kw = _pair(kernel, fn, "the window size")
    sh, sw = _pair(stride, fn, "stride")
    if padding == "valid":
        padding = 0
    elif padding == "same":
        if (sh, sw) != (1, 1) or kh % 2 == 0 or kw % 2 == 0:
            raise ShapeError(f"nn.{fn}: padding='same' needs stride 1 and an odd window (padded by (k - 1) / 2 "
                             f"on each side) but got a {kh}x{kw} window with stride {(sh, sw)}: give the "
                             "padding as ints")
        padding = ((kh - 1) // 2, (kw - 1) // 2)
    elif isinstance(padding, str):
        raise GraphError(f"nn.{fn}: padding must be 'same', 'valid', an int or a pair of ints but got {padding!r}")
    ph, pw = _pair(padding, fn, "padding")
    for axis, size, k, s, p in (("height", x.shape[2], kh, sh, ph), ("width", x.shape[3], kw, sw, pw)):
        if isinstance(size, int) and s > 0 and size + 2 * p >= k and (size + 2 * p - k) % s:  # (else: too small)
            raise ShapeError(f"nn.{fn}: the output {axis} (H + 2*pad - k) / stride + 1 = ({size} + 2*{p} - {k}) "
                             f"/ {s} + 1 = {(size + 2 * p - k) / s + 1:g} is not whole: the {k}-wide windows with "
                             f"stride {s} do not tile {x.label}'s {axis} of {size} padded by {p}; change the "
                             "padding or the stride, or crop the images")
    return (sh, sw), (ph, pw)


def _scores_and_labels(scores: object, labels: object, fn: str) -> tuple[Node, Node, int]:
    """(N, C) float scores, (N,) int64 labels, and C, which must be a fixed size."""
    s = _float_node(scores, fn, "scores")
    _require_ndim(s, (2,), fn, "scores", "(batch, classes)")
    y = as_node(labels, f"nn.{fn}")
    if y.dtype != dtypes.INT64:
        raise DTypeError(f"nn.{fn}: labels {y.label} has dtype {y.dtype} but must be int64 class indices")
    _require_ndim(y, (1,), fn, "labels", "(one class index per row)")
    _same_dim(s, 0, y, 0, fn)
    classes = s.shape[1]
    if not isinstance(classes, int):
        raise ShapeError(f"nn.{fn}: scores {s.label} has shape {format_shape(s.shape)}: the class dim must be "
                         f"a fixed size, not the named dim {classes}, to build one-hot labels")
    return s, y, classes


# -- losses -------------------------------------------------------------------------------
def softmax_cross_entropy(logits: object, labels: object, name: str | None = None) -> Node:
    """Mean softmax cross-entropy of ``logits`` (N, C) against int64 ``labels`` (N,):

        L = -1/N * sum_i log softmax(logits_i)[labels_i]
          = -mean_i sum_j onehot(labels)_ij * log_softmax(logits)_ij

    Its gradient w.r.t. the logits is (softmax - onehot) / N. A label outside [0, C)
    gets a row of zeros from gc.one_hot and so contributes 0 to the sum.
    """
    s, y, classes = _scores_and_labels(logits, labels, "softmax_cross_entropy")
    target = one_hot(y, classes, dtype=s.dtype)
    picked = gsum(target * log_softmax(s, axis=1), axis=1)  # log p of the true class, per row
    return neg(mean(picked), name=name)


def svm_loss(scores: object, labels: object, margin: float = 1.0, name: str | None = None) -> Node:
    """The lecture's multiclass SVM (hinge) loss, averaged over the batch:

        L = 1/N * sum_i sum_{j != y_i} max(0, s_ij - s_iy_i + margin)

    ``scores`` is (N, C), ``labels`` (N,) int64. The max gate routes the gradient to
    the classes inside the margin; at an exact tie (s_ij - s_iy_i + margin == 0) it
    is split evenly, so those terms count half.
    """
    s, y, classes = _scores_and_labels(scores, labels, "svm_loss")
    target = one_hot(y, classes, dtype=s.dtype)
    correct = gsum(s * target, axis=1, keepdims=True)  # s_iy_i, as an (N, 1) column
    hinge = maximum(s - correct + float(margin), 0.0)
    # mask out j == y_i rather than subtracting the margin afterwards: the graph then
    # says exactly what the formula says, and the masked terms get no gradient
    per_row = gsum(hinge * (1.0 - target), axis=1)
    return mean(per_row, name=name)


def mse(pred: object, target: object, name: str | None = None) -> Node:
    """Mean squared error over all elements: mean((pred - target)^2).

    ``pred`` and ``target`` must have the same shape (named dims bind as usual); they
    are not broadcast, since an (N,) target against (N, 1) predictions would silently
    give an (N, N) difference.
    """
    p = _float_node(pred, "mse", "pred")
    t = as_node(target, "nn.mse")
    if p.ndim != t.ndim:
        raise ShapeError(f"nn.mse: pred {p.label} has shape {format_shape(p.shape)} but target {t.label} "
                         f"has shape {format_shape(t.shape)}: they must be equal")
    for axis in range(p.ndim):
        _same_dim(p, axis, t, axis, "mse")
    diff = p - t
    # diff * diff rather than diff ** 2: the backward graph shows the mul gate switching
    # and the two gradients adding at the branch
    return mean(diff * diff, name=name)


def l2_penalty(*weights: object, scale: float, name: str | None = None) -> Node:
    """The L2 regularization term scale * sum_k sum(W_k^2) (cs231n's reg * sum(W * W)).

    Its gradient w.r.t. each W_k is 2 * scale * W_k. ``scale`` is keyword-only so it
    cannot be mistaken for one more weight.
    """
    if not weights:
        raise GraphError("nn.l2_penalty: expected at least one weight")
    nodes = [_float_node(w, "l2_penalty", f"weights[{k}]") for k, w in enumerate(weights)]
    total = gsum(nodes[0] * nodes[0])
    for w in nodes[1:]:
        total = total + gsum(w * w)
    out = float(scale) * total
    return out if name is None else renamed(out, name)


# -- layers -------------------------------------------------------------------------------
def linear(x: object, w: object, b: object = None, name: str | None = None) -> Node:
    """A fully-connected layer: x @ w + b.

    ``x`` is (N, D_in) or (D_in,), ``w`` (D_in, D_out), ``b`` (D_out,) or None. The bias
    is broadcast over the rows, so its gradient is the upstream gradient summed over
    the batch (an unbroadcast node in the backward graph).
    """
    xn = _float_node(x, "linear", "x")
    wn = _float_node(w, "linear", "w")
    _require_ndim(xn, (1, 2), "linear", "x", "(batch, features) or (features,)")
    _require_ndim(wn, (2,), "linear", "w", "(in_features, out_features)")
    _same_dim(xn, -1, wn, 0, "linear")
    out = xn @ wn
    if b is not None:
        bn = _float_node(b, "linear", "b")
        _require_ndim(bn, (1,), "linear", "b", "(out_features,)")
        _same_dim(bn, 0, wn, 1, "linear")
        out = out + bn
    return out if name is None else renamed(out, name)


def maxout(x: object, ws: Sequence[object], bs: Sequence[object] | None = None, name: str | None = None) -> Node:
    """The lecture's maxout unit: max(x @ w_1 + b_1, x @ w_2 + b_2, ...), elementwise.

    ``ws`` and ``bs`` are sequences of equal length (``bs`` may be None for no biases).
    The max gate routes each element's gradient to the piece that won it. With more
    than two pieces the max is a chain of pairwise maxima, so an exact tie of three
    pieces splits the gradient pairwise (1/2, 1/4, 1/4) rather than in thirds.
    """
    if isinstance(ws, Node) or not isinstance(ws, Sequence) or len(ws) == 0:
        raise GraphError("nn.maxout: ws must be a non-empty list of weight matrices")
    biases: Sequence[object] = [None] * len(ws) if bs is None else bs
    if isinstance(biases, Node) or not isinstance(biases, Sequence) or len(biases) != len(ws):
        raise GraphError(f"nn.maxout: expected {len(ws)} biases (one per weight matrix) or None")
    pieces = [linear(x, w, b) for w, b in zip(ws, biases)]
    out = pieces[0]
    for piece in pieces[1:]:
        out = maximum(out, piece)
    return out if name is None else renamed(out, name)


def conv2d(x: object, w: object, b: object = None, stride: int | tuple[int, int] = 1,
           padding: int | tuple[int, int] | str = 0, name: str | None = None) -> Node:
    """A 2-D convolution (cross-correlation, as in every deep-learning library).

    ``x`` is (N, C, H, W), ``w`` (F, C, kh, kw), ``b`` (F,) or None; the result is
    (N, F, OH, OW) with OH = (H + 2*padding - kh) / stride + 1, which must be whole (as
    CS231n's conv_forward asserts); ``padding`` may be "same" (stride 1, odd kernel) or
    "valid" (0). It is the windows of x (``gc.patches``, im2col) contracted with the
    filters over (C, kh, kw): per image, one gemm of (F, C*kh*kw) by (C*kh*kw, OH*OW), as
    torch's CPU im2col path does. The contraction switches, so the filters' gradient is
    the windows contracted with the upstream gradient, and the windows' gradient the
    upstream gradient contracted with the filters, which ``patches_adjoint`` (col2im)
    sums back onto the pixels. The product of windows and filters is never formed.
    """
    xn = _float_node(x, "conv2d", "x")
    wn = _float_node(w, "conv2d", "w")
    _require_ndim(xn, (4,), "conv2d", "x", "images (N, C, H, W)")
    _require_ndim(wn, (4,), "conv2d", "w", "filters (F, C, kh, kw)")
    _same_dim(xn, 1, wn, 1, "conv2d")
    kh, kw = wn.shape[2:]
    if not isinstance(kh, int) or not isinstance(kw, int):
        raise ShapeError(f"nn.conv2d: w {wn.label} has shape {format_shape(wn.shape)} but the kernel size "
                         "must be fixed")
    stride, padding = _windows(xn, (kh, kw), stride, padding, "conv2d")
    windows = patches(xn, (kh, kw), stride, padding)  # (N, OH, OW, C, kh, kw)
    # a gemm per image, (F, C*kh*kw) by (C*kh*kw, OH*OW), writes (N, F, OH, OW) in place
    out = apply("contract", wn, windows, spec="fcij,nhwcij->nfhw")
    if b is not None:
        bn = _float_node(b, "conv2d", "b")
        _require_ndim(bn, (1,), "conv2d", "b", "(filters,)")
        _same_dim(bn, 0, wn, 0, "conv2d")
        out = out + reshape(bn, (bn.shape[0], 1, 1))
    return out if name is None else renamed(out, name)


def max_pool2d(x: object, size: int | tuple[int, int] = 2, stride: int | tuple[int, int] | None = None,
               name: str | None = None) -> Node:
    """The largest value of each size x size window of images x (N, C, H, W).

    ``stride`` defaults to ``size`` (windows side by side); the windows must tile the
    images exactly, (H - size) / stride + 1 whole. It is a max reduction over the windows,
    so its gradient routes to each window's maximum, and ties split it evenly. Windows
    that tile the images exactly are a reshape of them, (N*C*OH, kh, OW, kw), which costs
    no copy; other windows are taken with ``gc.patches``.
    """
    xn = _float_node(x, "max_pool2d", "x")
    _require_ndim(xn, (4,), "max_pool2d", "x", "images (N, C, H, W)")
    (sh, sw), _ = _windows(xn, size, size if stride is None else stride, 0, "max_pool2d")
    kh, kw = _pair(size, "max_pool2d", "size")
    for what, pair, given in (("size", (kh, kw), size), ("stride", (sh, sw), stride)):
        if min(pair) < 1:
            raise GraphError(f"nn.max_pool2d: {what} must be an int >= 1 or a pair of them but got {given!r}")
    n, c, h, w = xn.shape
    if (sh, sw) == (kh, kw) and isinstance(h, int) and isinstance(w, int) and h % kh == 0 and w % kw == 0:
        # rows of windows (N*C*OH, kh, OW, kw): a product dim keeps the loops 4-deep
        tiles = reshape(xn, (-1, kh, w // kw, kw))
        return reshape(gmax(tiles, axis=(1, 3)), (n, c, h // kh, w // kw), name=name)
    windows = patches(xn, (kh, kw), (sh, sw))  # (N, OH, OW, C, kh, kw)
    return transpose(gmax(windows, axis=(4, 5)), (0, 3, 1, 2), name=name)


# -- normalization and dropout ------------------------------------------------------------
def _per_feature(x: Node, named: dict[str, object], axes: tuple[int, ...], fn: str) -> list[Node]:
    """Per-feature arguments (gamma, beta, running statistics), whose shape is x's along the
    axes not in ``axes``, reshaped to broadcast against x (size 1 along ``axes``)."""
    kept = tuple(d for i, d in enumerate(x.shape) if i not in axes)
    out = []
    for arg, value in named.items():
        node = _float_node(value, fn, arg)
        if node.ndim != len(kept) or any(unify_dim(a, b, broadcast=False) is None for a, b in zip(node.shape, kept)):
            raise ShapeError(f"nn.{fn}: {arg} {node.label} has shape {format_shape(node.shape)} but must have "
                             f"shape {format_shape(kept)} (x {x.label} {format_shape(x.shape)} without the "
                             f"normalized axes {axes})")
        out.append(reshape(node, tuple(1 if i in axes else d for i, d in enumerate(x.shape))))
    return out


def _normalize(x: Node, axes: tuple[int, ...], eps: float) -> tuple[Node, Node, Node]:
    """(x - mean) / sqrt(var + eps) over ``axes``, with the mean and (biased) variance."""
    mu = mean(x, axis=axes, keepdims=True)
    centered = x - mu
    var = mean(centered * centered, axis=axes, keepdims=True)
    return centered / sqrt(var + float(eps)), mu, var


def batchnorm(x: object, gamma: object, beta: object, running_mean: object, running_var: object, *,
              train: bool, momentum: float = 0.9, eps: float = 1e-5, axis: int | tuple[int, ...] = 0,
              name: str | None = None) -> Node | tuple[Node, Node, Node]:
    """Batch normalization over ``axis`` (0: the batch of (N, D) features; (0, 2, 3): the
    batch and the pixels of (N, C, H, W) images, spatial batchnorm).

    ``gamma``, ``beta`` and the running statistics have x's shape without those axes.
    In training (``train=True``) each feature is normalized by the batch's mean and
    (biased) variance, and the result is ``(out, new_running_mean, new_running_var)``
    with new = momentum * running + (1 - momentum) * batch, as CS231n's batchnorm_forward
    updates them; the graph has no state, so the caller feeds them back. At test time
    (``train=False``) the running statistics normalize, and the result is ``out``.
    """
    xn = _float_node(x, "batchnorm", "x")
    axes = normalize_axes("nn.batchnorm", axis, xn.ndim)
    g, b, rm, rv = _per_feature(xn, {"gamma": gamma, "beta": beta, "running_mean": running_mean,
                                     "running_var": running_var}, axes, "batchnorm")
    if not train:
        out = g * ((xn - rm) / sqrt(rv + float(eps))) + b
        return out if name is None else renamed(out, name)
    xhat, mu, var = _normalize(xn, axes, eps)
    out = g * xhat + b
    stats = []
    for running, batch, value in ((rm, mu, running_mean), (rv, var, running_var)):
        new = float(momentum) * running + (1.0 - float(momentum)) * batch
        stats.append(reshape(new, as_node(value, "nn.batchnorm").shape))
    return (out if name is None else renamed(out, name)), stats[0], stats[1]


def layernorm(x: object, gamma: object, beta: object, eps: float = 1e-5, axis: int | tuple[int, ...] = -1,
              name: str | None = None) -> Node:
    """Layer normalization: each sample normalized over ``axis`` (its features) by its own
    mean and variance, then gamma * xhat + beta (gamma, beta of the normalized axes' shape).
    The same in training and at test time."""
    xn = _float_node(x, "layernorm", "x")
    axes = normalize_axes("nn.layernorm", axis, xn.ndim)
    kept = tuple(i for i in range(xn.ndim) if i not in axes)
    g, b = _per_feature(xn, {"gamma": gamma, "beta": beta}, kept, "layernorm")
    out = g * _normalize(xn, axes, eps)[0] + b
    return out if name is None else renamed(out, name)


def dropout(x: object, rate: float, *, mask: object = None, key: object = None, train: bool = True,
            name: str | None = None) -> Node:
    """Inverted dropout: each element of x is zeroed with probability ``rate`` and the
    others scaled by 1 / (1 - rate), so the expected value is unchanged and test time
    (``train=False``) is the identity. (CS231n's ``p`` is the probability of *keeping*:
    rate = 1 - p.)

    The random choice is explicit, as graphs have no hidden state: either ``mask``, a
    0/1 node or array of x's shape (1 keeps), or ``key``, an int64 scalar (a node, so
    each call can pass a new one) from which ``gc.uniform`` draws counter-based random
    numbers: the same key gives the same mask, on either backend.
    """
    xn = _float_node(x, "dropout", "x")
    if isinstance(rate, bool) or not isinstance(rate, (int, float, np.integer, np.floating)) or not 0 <= rate < 1:
        raise GraphError(f"nn.dropout: rate must be a number in [0, 1) (the probability of dropping) but got {rate!r}")
    if not train:
        return xn if name is None else renamed(xn, name)
    if (mask is None) == (key is None):
        raise GraphError("nn.dropout: expected exactly one of mask= (a 0/1 array of x's shape) or key= (an int64 "
                         "scalar seeding gc.uniform)")
    if mask is not None:
        keep = as_node(mask, "nn.dropout")
        if keep.ndim != xn.ndim or any(unify_dim(a, b, broadcast=False) is None for a, b in zip(keep.shape, xn.shape)):
            raise ShapeError(f"nn.dropout: mask {keep.label} has shape {format_shape(keep.shape)} but must have "
                             f"x's shape {format_shape(xn.shape)}")
    else:
        from graphc.ops import uniform

        keep = greater_equal(uniform(key, xn.shape, dtype=xn.dtype), float(rate))
    out = xn * keep * (1.0 / (1.0 - float(rate)))
    return out if name is None else renamed(out, name)
