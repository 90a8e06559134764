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

from graphc.errors import DTypeError, GraphError, ShapeError
from graphc.ir import dtypes
from graphc.ir.node import Node, apply, renamed
from graphc.ir.shapes import format_shape, unify_dim
from graphc.ops import log_softmax, maximum, mean, neg, one_hot, patches, reshape, transpose
from graphc.ops import max as gmax
from graphc.ops import sum as gsum
from graphc.ops._common import as_node
from graphc.ops.windows import _pair

__all__ = ["conv2d", "l2_penalty", "linear", "max_pool2d", "maxout", "mse", "softmax_cross_entropy", "svm_loss"]


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
           padding: int | tuple[int, int] = 0, name: str | None = None) -> Node:
    """A 2-D convolution (cross-correlation, as in every deep-learning library).

    ``x`` is (N, C, H, W), ``w`` (F, C, kh, kw), ``b`` (F,) or None; the result is
    (N, F, OH, OW) with OH = (H + 2*padding - kh) // stride + 1. It is the windows of
    x (``gc.patches``, im2col) contracted with the filters over (C, kh, kw): per image,
    one gemm of (F, C*kh*kw) by (C*kh*kw, OH*OW), as torch's CPU im2col path does. The contraction
    switches, so the filters' gradient is the windows contracted with the upstream
    gradient, and the windows' gradient the upstream gradient contracted with the
    filters, which ``patches_adjoint`` (col2im) sums back onto the pixels. The product
    of windows and filters is never formed.
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

    ``stride`` defaults to ``size`` (windows side by side). It is a max reduction over
    the windows, so its gradient routes to each window's maximum, and ties split it
    evenly. Windows that tile the images exactly are a reshape of them, (N*C*OH, kh, OW,
    kw), which costs no copy; other windows are taken with ``gc.patches``.
    """
    xn = _float_node(x, "max_pool2d", "x")
    _require_ndim(xn, (4,), "max_pool2d", "x", "images (N, C, H, W)")
    (kh, kw), (sh, sw) = _pair(size, "size", 1), _pair(size if stride is None else stride, "stride", 1)
    n, c, h, w = xn.shape
    if (sh, sw) == (kh, kw) and isinstance(h, int) and isinstance(w, int) and h % kh == 0 and w % kw == 0:
        # rows of windows (N*C*OH, kh, OW, kw): a product dim keeps the loops 4-deep
        tiles = reshape(xn, (-1, kh, w // kw, kw))
        return reshape(gmax(tiles, axis=(1, 3)), (n, c, h // kh, w // kw), name=name)
    windows = patches(xn, (kh, kw), (sh, sw))  # (N, OH, OW, C, kh, kw)
    return transpose(gmax(windows, axis=(4, 5)), (0, 3, 1, 2), name=name)
