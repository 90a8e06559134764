"""patches: the sliding windows of a batch of images, from which gc.nn builds conv2d
and max_pool2d as compositions (a broadcast multiply and a sum, or a max).

``patches(x)`` of images x of shape (N, C, H, W) holds, at [n, oh, ow, c, i, j], the
pixel x[n, c, oh*sh - ph + i, ow*sw - pw + j], or 0 where that falls in the padding.
Every output element copies one input element, so its gradient distributes back;
where windows overlap, an input pixel gets the sum of its copies' gradients. That sum
is the op ``patches_adjoint`` (col2im), and the two ops are each other's VJP.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from graphc.errors import GraphError, ShapeError
from graphc.ir.node import Node, apply
from graphc.ir.op import Op, register
from graphc.ir.shapes import format_shape
from graphc.ops._common import as_node, require_float


def output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


def _window_attrs(attrs: dict[str, Any]) -> tuple[int, int, int, int, int, int]:
    (kh, kw), (sh, sw), (ph, pw) = attrs["kernel"], attrs["stride"], attrs["padding"]
    return kh, kw, sh, sw, ph, pw


def _image_size(op: str, x: Node) -> tuple[int, int]:
    if x.ndim != 4:
        raise ShapeError(f"{op}: {x.label} has shape {format_shape(x.shape)} but {op} takes images of "
                         "shape (N, C, H, W)")
    h, w = x.shape[2:]
    if not isinstance(h, int) or not isinstance(w, int):
        raise ShapeError(f"{op}: {x.label} has shape {format_shape(x.shape)} but the height and width "
                         "must be fixed sizes")
    return h, w


def _out_hw(op: str, label: str, h: int, w: int, attrs: dict[str, Any]) -> tuple[int, int]:
    kh, kw, sh, sw, ph, pw = _window_attrs(attrs)
    oh, ow = output_size(h, kh, sh, ph), output_size(w, kw, sw, pw)
    if oh < 1 or ow < 1:
        raise ShapeError(f"{op}: a {kh}x{kw} window does not fit in {label}'s {h}x{w} images "
                         f"padded by {ph}x{pw}")
    return oh, ow


def _patches_infer(op: str, inputs: tuple[Node, ...], attrs: dict[str, Any]):
    (x,) = inputs
    require_float(op, inputs)
    h, w = _image_size(op, x)
    oh, ow = _out_hw(op, x.label, h, w, attrs)
    kh, kw = attrs["kernel"]
    return (x.shape[0], oh, ow, x.shape[1], kh, kw), x.dtype, ()


def _patches_ref(args, attrs, dims) -> np.ndarray:
    (x,) = args
    kh, kw, sh, sw, ph, pw = _window_attrs(attrs)
    oh, ow = output_size(x.shape[2], kh, sh, ph), output_size(x.shape[3], kw, sw, pw)
    padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    windows = sliding_window_view(padded, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw][:, :, :oh, :ow]
    return np.ascontiguousarray(windows.transpose(0, 2, 3, 1, 4, 5))


def _adjoint_infer(op: str, inputs: tuple[Node, ...], attrs: dict[str, Any]):
    (g,) = inputs
    require_float(op, inputs)
    h, w = attrs["image"]
    oh, ow = _out_hw(op, g.label, h, w, attrs)
    expected = (g.shape[0], oh, ow, g.shape[3] if g.ndim == 6 else "C", *attrs["kernel"])
    if g.ndim != 6 or g.shape[1:3] != (oh, ow) or g.shape[4:] != tuple(attrs["kernel"]):
        raise ShapeError(f"{op}: {g.label} has shape {format_shape(g.shape)} but the windows of "
                         f"{h}x{w} images have shape {format_shape(expected)}")
    return (g.shape[0], g.shape[3], h, w), g.dtype, ()


def _adjoint_ref(args, attrs, dims) -> np.ndarray:
    (g,) = args
    kh, kw, sh, sw, ph, pw = _window_attrs(attrs)
    n, oh, ow, c = g.shape[:4]
    h, w = attrs["image"]
    padded = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=g.dtype)
    for i in range(kh):
        for j in range(kw):
            rows, cols = slice(i, i + sh * (oh - 1) + 1, sh), slice(j, j + sw * (ow - 1) + 1, sw)
            padded[:, :, rows, cols] += g[:, :, :, :, i, j].transpose(0, 3, 1, 2)
    return np.ascontiguousarray(padded[:, :, ph:ph + h, pw:pw + w])


def _lower(w, node: Node, name: str, args: list, note: str) -> None:
    """patches copies each window element from its pixel (0 in the padding);
    patches_adjoint adds each back onto its pixel. The windows are walked in memory
    order through a flat view, the pixel found by a flat offset: two flat indexings per
    element, where 6-D and 4-D ones would cost Numba several times the code to compile.
    A window row's columns inside the image, [lo, hi), are found once per output column
    and its rows once per window row, so the copy itself is a plain loop (vectorized)
    with no test per element."""
    (sh, sw), (ph, pw) = node.attrs["stride"], node.attrs["padding"]
    forward = node.op == "patches"
    windows = node.shape if forward else node.inputs[0].shape
    channels, height, width = node.inputs[0].shape[1:] if forward else node.shape[1:]
    zero = f"{w.np_dtype(node)}(0)"
    if forward:
        w.emit(f"{name} = {w.alloc(node.shape, node)}{note}")
    else:
        for k, line in enumerate(w.filled(name, node.shape, node, zero)):
            w.emit(line + (note if k == 0 else ""))
    src = w.contiguous(args[0], node.inputs[0])
    images, windows_of = (src, name) if forward else (name, src)
    flat_windows, flat_image = w.namer.fresh(f"{windows_of}_flat"), w.namer.fresh(f"{images}_flat")
    w.emit(f"{flat_windows} = {w.flat(windows_of)}")
    w.emit(f"{flat_image} = {w.flat(images)}")
    n, oh, ow, c, i, j, row, left, lo, hi, pixel, at = (
        w.namer.fresh(v) for v in ("n", "oh", "ow", "c", "i", "j", "row", "left", "lo", "hi", "pixel", "at"))
    kw = windows[5]
    # A typed zero, not the literal 0: Numba would widen the counter's literal type one
    # loop level per round of type inference (five extra rounds over the whole kernel).
    w.emit(f"{at} = np.int64(0)  # the window element, in memory order")
    for depth, (index, d) in enumerate(zip((n, oh, ow), windows[:3]), start=1):
        w.emit(f"for {index} in range({w.dim(d)}):", depth)
    w.emit(f"{left} = {ow} * {sw} - {pw}  # the image column of the window's first", 4)
    w.emit(f"{lo} = min({kw}, max(0, -{left}))  # its columns inside the image: [{lo}, {hi})", 4)
    w.emit(f"{hi} = max({lo}, min({kw}, {width} - {left}))", 4)
    w.emit(f"for {c} in range({w.dim(windows[3])}):", 4)
    w.emit(f"for {i} in range({w.dim(windows[4])}):", 5)
    w.emit(f"{row} = {oh} * {sh} - {ph} + {i}", 6)
    w.emit(f"{pixel} = (({n} * {channels} + {c}) * {height} + {row}) * {width} + {left}", 6)
    if forward:
        w.emit(f"if 0 <= {row} < {height}:", 6)
        for span, value in ((f"{lo}", zero), (f"{lo}, {hi}", f"{flat_image}[{pixel} + {j}]"),
                            (f"{hi}, {kw}", zero)):
            w.emit(f"for {j} in range({span}):", 7)
            w.emit(f"{flat_windows}[{at} + {j}] = {value}", 8)
        w.emit("else:  # a row of padding", 6)
        w.emit(f"for {j} in range({kw}):", 7)
        w.emit(f"{flat_windows}[{at} + {j}] = {zero}", 8)
    else:
        w.emit(f"if 0 <= {row} < {height}:", 6)
        w.emit(f"for {j} in range({lo}, {hi}):", 7)
        w.emit(f"{flat_image}[{pixel} + {j}] += {flat_windows}[{at} + {j}]", 8)
    w.emit(f"{at} += {kw}", 6)


def _same_windows(node: Node) -> dict[str, Any]:
    return {k: node.attrs[k] for k in ("kernel", "stride", "padding")}


register(Op("patches", infer=_patches_infer, numpy=_patches_ref,
            vjp=lambda n, g, i: apply("patches_adjoint", g, image=n.inputs[0].shape[2:], **_same_windows(n)),
            gate="distribute", kind="opaque", lower=_lower,
            doc="the sliding windows of images (N, C, H, W): (N, OH, OW, C, kh, kw), zero in the padding"))
register(Op("patches_adjoint", infer=_adjoint_infer, numpy=_adjoint_ref,
            vjp=lambda n, g, i: apply("patches", g, **_same_windows(n)),
            gate="sum", kind="opaque", lower=_lower,
            doc="windows summed back onto the images they came from (col2im): the gradient of patches"))


def _pair(value: object, what: str, least: int) -> tuple[int, int]:
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= least
                                 for v in pair):
        raise GraphError(f"patches: {what} must be an int >= {least} or a pair of them but got {value!r}")
    return int(pair[0]), int(pair[1])


def patches(x: object, kernel: int | tuple[int, int], stride: int | tuple[int, int] = 1,
            padding: int | tuple[int, int] = 0, name: str | None = None) -> Node:
    """The kernel-sized windows of images x (N, C, H, W), as (N, OH, OW, C, kh, kw) (im2col).

    OH = (H + 2*padding - kh) // stride + 1, likewise OW; the padding reads as zeros.
    """
    node = as_node(x, "patches")
    return apply("patches", node, kernel=_pair(kernel, "kernel", 1), stride=_pair(stride, "stride", 1),
                 padding=_pair(padding, "padding", 0), name=name)
