"""contract: one primitive for every product that sums over shared axes (XLA's
dot_general, a two-operand einsum), lowered to BLAS gemm. matmul is one case of it.

``contract(a, b, spec)`` with ``spec`` like ``"bik,bkj->bij"``: each operand's axes get
a letter; a letter in both operands and in the result is a *batch* axis (paired, not
summed); a letter in both but not in the result is *contracted* (summed over); a letter
in one operand only is *free* and stays in the result. The result is C-contiguous in
the order ``spec`` gives: dot_general's (batch axes, then a's free axes, then b's), or
that order after some leading axes the kernel loops over (conv2d's
``"fcij,nhwcij->nfhw"`` is one gemm per image n).

Like mul, a contraction switches: the gradient of each operand is the upstream
gradient contracted with the other operand (itself a contraction, so it runs on BLAS
too), in the operand's own axis order. The kernel views each operand as a batch of
matrices (batch, free, contracted) over its memory as it is, copying only an operand
whose axes are not grouped that way, and calls gemm once, or once per loop and batch
element.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from graphc.errors import GraphError, ShapeError
from graphc.ir.node import Node, apply, renamed
from graphc.ir.op import Op, register
from graphc.ir.shapes import Dim, format_shape, unify_dim
from graphc.ops._common import as_node, require_float


class Spec:
    """A parsed contraction spec: the letters of a, b and the result, and their roles."""

    def __init__(self, text: str) -> None:
        self.text = text
        try:
            operands, self.out = text.replace(" ", "").split("->")
            self.a, self.b = operands.split(",")
        except ValueError:
            raise GraphError(f"contract: expected a spec like 'ik,kj->ij' but got {text!r}") from None
        for letters in (self.a, self.b, self.out):
            if not all(c.isalpha() for c in letters) or len(set(letters)) != len(letters):
                raise GraphError(f"contract: spec {text!r}: each operand's axes need distinct letters")
        self.batch = "".join(c for c in self.a if c in self.b and c in self.out)
        self.contracted = "".join(c for c in self.a if c in self.b and c not in self.out)
        self.free_a = "".join(c for c in self.a if c not in self.b)
        self.free_b = "".join(c for c in self.b if c not in self.a)
        if sorted(self.out) != sorted(self.batch + self.free_a + self.free_b):
            raise GraphError(f"contract: spec {text!r}: the result must have every letter of one operand only "
                             f"and the shared letters it pairs, once each ({self.batch + self.free_a + self.free_b} "
                             "in some order); sum an operand first to drop a letter")
        # the result's leading letters a kernel may loop over, so that the rest is in
        # dot_general's order (batch, a's free, b's free): "" for a matmul, "n" (the
        # images) for conv2d's "fcij,nhwcij->nfhw"; the shortest first
        self.loops = [self.out[:k] for k in range(len(self.out) + 1) if self._canonical(self.out[:k])]

    def _canonical(self, loop: str) -> bool:
        rest = [c for c in self.out if c not in loop]
        order = [c for group in (self.batch, self.free_a, self.free_b) for c in group if c not in loop]
        return rest == order


def _infer(op: str, inputs: tuple[Node, ...], attrs: dict[str, Any]):
    a, b = inputs
    require_float(op, inputs)
    spec = Spec(attrs["spec"])
    for node, letters in ((a, spec.a), (b, spec.b)):
        if node.ndim == 0:
            raise ShapeError(f"{op}: {node.label} has shape () but a contraction takes operands of 1 or "
                             "more dims (multiply by a scalar instead)")
        if node.ndim != len(letters):
            raise ShapeError(f"{op}: {node.label} has shape {format_shape(node.shape)} but spec "
                             f"{spec.text} gives it {len(letters)} axes")
    dims: dict[str, Dim] = dict(zip(spec.a, a.shape))
    bindings = []
    for letter, d in zip(spec.b, b.shape):
        if letter in dims:
            met = unify_dim(dims[letter], d, broadcast=False)
            if met is None:
                raise ShapeError(f"{op}: {a.label} has shape {format_shape(a.shape)} but {b.label} has shape "
                                 f"{format_shape(b.shape)}: axis {letter} of spec {spec.text} is "
                                 f"{dims[letter]} in one and {d} in the other")
            dims[letter] = met[0]
            if met[1] is not None:
                bindings.append(met[1])
        else:
            dims[letter] = d
    return tuple(dims[c] for c in spec.out), a.dtype, tuple(bindings)


def _reference(args: list[np.ndarray], attrs: dict[str, Any], dims: dict[str, int]) -> np.ndarray:
    """As the kernel computes it: each operand as a batch of matrices, then np.matmul
    (BLAS): no product of the two operands is ever formed elementwise."""
    a, b = args
    spec = Spec(attrs["spec"])
    size = dict(zip(spec.a, a.shape)) | dict(zip(spec.b, b.shape))
    count = [math.prod(size[c] for c in group)
             for group in (spec.batch, spec.free_a, spec.contracted, spec.free_b)]
    nb, m, k, n = count
    a3 = np.transpose(a, [spec.a.index(c) for c in spec.batch + spec.free_a + spec.contracted]).reshape(nb, m, k)
    b3 = np.transpose(b, [spec.b.index(c) for c in spec.batch + spec.contracted + spec.free_b]).reshape(nb, k, n)
    canonical = spec.batch + spec.free_a + spec.free_b
    result = np.matmul(a3, b3).reshape([size[c] for c in canonical])
    return np.transpose(result, [canonical.index(c) for c in spec.out])


def _vjp(node: Node, g: Node, i: int) -> Node:
    """Like mul, a contraction switches: the gradient of each operand is g contracted
    with the other operand over the other's free axes (the batch axes paired), its
    result in the operand's own axis order."""
    spec = Spec(node.attrs["spec"])
    a, b = node.inputs
    if g.ndim == 0:  # a full contraction (a dot product): each operand gets g times the other
        mine, theirs = (spec.a, spec.b) if i == 0 else (spec.b, spec.a)
        other = node.inputs[1 - i]
        return g * (apply("transpose", other, axes=tuple(theirs.index(c) for c in mine)) if mine != theirs
                    else other)
    # of the two operand orders, the one whose result needs the fewest loops
    orders = [(g, b, f"{spec.out},{spec.b}->{spec.a}"), (b, g, f"{spec.b},{spec.out}->{spec.a}")] if i == 0 else \
        [(a, g, f"{spec.a},{spec.out}->{spec.b}"), (g, a, f"{spec.out},{spec.a}->{spec.b}")]
    first, second, text = min(orders, key=lambda o: len(Spec(o[2]).loops[0]))
    return apply("contract", first, second, spec=text)


# -- the kernel: gemm over each operand's memory as it is ---------------------------------------
def _lower(w, node: Node, name: str, args: list, note: str) -> None:
    from graphc.codegen.blas import emit_gemm  # here: importing it starts Numba

    spec = Spec(node.attrs["spec"])
    a, b = node.inputs
    size = dict(zip(spec.a, a.shape)) | dict(zip(spec.b, b.shape))
    # each operand as a C-contiguous buffer and the letters of its memory order: its
    # loop letters first, then a batch of matrices (free, contracted) or transposed.
    # The loop is the shortest that needs no copy, of at most two letters; else the
    # shortest, with copies.
    ca, cb = _c_order(args[0], spec.a), _c_order(args[1], spec.b)
    plans = [_plan(spec, loop, ca, cb) for loop in spec.loops]
    fits = [p for p in plans if p[4] is not None and p[5] is not None and p[4][0] == p[5][0] and len(p[0]) <= 2]
    summed = None if fits else _summed(spec, ca, cb)
    if summed is not None:  # gemms summed over contracted letters that lead both operands
        _lower_summed(w, node, name, args, note, spec, size, ca, cb, *summed)
        return
    loop, batch, free_a, free_b, ka, kb = (fits or plans)[0]
    lead_a, lead_b = "".join(c for c in loop if c in spec.a), "".join(c for c in loop if c in spec.b)
    # both must group the contracted letters in one order: else copy one (or both)
    if ka is None or (kb is not None and ka[0] != kb[0] and _elements(b) >= _elements(a)):
        order = kb[0] if kb is not None else spec.contracted
        memory = lead_a + batch + free_a + order
        ca, ka = (_permuted_copy(w, args[0], a, spec.a, memory), memory), (order, False)
    if kb is None or kb[0] != ka[0]:
        memory = lead_b + batch + ka[0] + free_b
        cb, kb = (_permuted_copy(w, args[1], b, spec.b, memory), memory), (ka[0], False)
    nb, m, k, n = (_size(w, size, group) for group in (batch, free_a, ka[0], free_b))
    target = name if node.shape != () else w.namer.fresh(f"{name}_1")
    w.emit(f"{target} = {w.alloc(node.shape or (1,), node)}{note}")
    buffers = {"a": (ca[0], ca[1]), "b": (cb[0], cb[1]), "c": (target, spec.out)}
    operands = {key: expr for key, (expr, _) in buffers.items()}
    depth = 1
    what = f"{target} = {args[0].expr} . {args[1].expr} ({spec.text})"
    if loop or batch:  # pointers into flat views, offset per loop and batch index
        flat = {key: w.namer.fresh(f"{expr}_flat") for key, (expr, _) in buffers.items()}
        for key, (expr, _) in buffers.items():
            w.emit(f"{flat[key]} = {w.flat(expr)}")
        if len(loop) + bool(batch) == 1:  # one level: a strided batch (its small gemms on threads)
            if loop:
                count, name_of = w.dim(size[loop]), f"one per {loop}"
                strides = [_size(w, size, memory[memory.index(loop) + 1:]) if loop in memory else "0"
                           for _, memory in buffers.values()]
            else:
                count, name_of = nb, f"one per element of {batch}"
                strides = [f"{m} * {k}", f"{k} * {n}", f"{m} * {n}"]
            emit_gemm(w, node.dtype, m, n, k, f"{flat['a']}", ka[1], f"{flat['b']}", kb[1], f"{flat['c']}",
                      what=f"{what}, a batch of {count}, {name_of}", batch=(count, *strides))
            if node.shape == ():
                w.emit(f"{name} = {target}[0]")
            return
        index = {c: w.namer.fresh(f"{c}_") for c in loop}
        for c in loop:
            w.emit(f"for {index[c]} in range({w.dim(size[c])}):  # one gemm per {c}", depth)
            depth += 1
        offset = {key: [f"{index[c]} * {_size(w, size, memory[memory.index(c) + 1:])}" for c in loop if c in memory]
                  for key, (_, memory) in buffers.items()}
        depth = _batch_loop(w, batch, (nb, m, k, n), offset, depth)
        operands = {key: f"{flat[key]}[{' + '.join(offset[key]) or '0'}:]" for key in buffers}
    emit_gemm(w, node.dtype, m, n, k, operands["a"], ka[1], operands["b"], kb[1], operands["c"],
              depth=depth, what=what)
    if node.shape == ():
        w.emit(f"{name} = {target}[0]")


def _summed(spec: Spec, ca: tuple[str, str] | None, cb: tuple[str, str] | None) -> tuple | None:
    """Contracted letters (one or two) that lead both operands' memory, after which each
    is a batch of matrices with the other contracted letters in one order: then the
    kernel sums gemms over them and copies nothing. conv2d's filter gradient
    "nfhw,nhwcij->fcij" is one gemm per image n, summed, where a single gemm would need
    the (N, F, H, W) gradient copied to (F, N, H, W). Returns (summed letters, each
    operand's (contracted order, transposed)), or None."""
    if ca is None or cb is None or spec.loops[0] != "":
        return None
    lead = 0
    while (lead < 2 and lead < min(len(ca[1]), len(cb[1])) and ca[1][lead] == cb[1][lead]
           and ca[1][lead] in spec.contracted):
        lead += 1
    if lead == 0 or lead == len(spec.contracted):
        return None
    ka = _matrix_order(ca[1][lead:], spec.batch, spec.free_a, True)
    kb = _matrix_order(cb[1][lead:], spec.batch, spec.free_b, False)
    if ka is None or kb is None or ka[0] != kb[0]:
        return None
    return ca[1][:lead], ka, kb


def _lower_summed(w, node: Node, name: str, args: list, note: str, spec: Spec, size: dict[str, Dim],
                  ca: tuple[str, str], cb: tuple[str, str], lead: str, ka: tuple[str, bool],
                  kb: tuple[str, bool]) -> None:
    """c = sum over the ``lead`` letters of gemms (beta 0 on the first, 1 after; zeros if
    there are none), each over one slice of both operands."""
    from graphc.codegen.blas import emit_gemm
    from graphc.codegen.writer import literal

    nb, m, k, n = (_size(w, size, group) for group in (spec.batch, spec.free_a, ka[0], spec.free_b))
    target = name if node.shape != () else w.namer.fresh(f"{name}_1")
    w.emit(f"{target} = {w.alloc(node.shape or (1,), node)}{note}")
    flat = {key: w.namer.fresh(f"{expr}_flat") for key, expr in (("a", ca[0]), ("b", cb[0]), ("c", target))}
    for key, expr in (("a", ca[0]), ("b", cb[0]), ("c", target)):
        w.emit(f"{flat[key]} = {w.flat(expr)}")
    count = _size(w, size, lead)
    if not count.isdigit() or int(count) == 0:  # no term to sum: the sum is zeros
        w.emit(f"if {count} == 0:  # no term to sum: zeros")
        w.emit(f"{flat['c']}[:] = 0", 2)
    index = {c: w.namer.fresh(f"{c}_") for c in lead}
    depth = 1
    for c in lead:
        w.emit(f"for {index[c]} in range({w.dim(size[c])}):  # gemms summed over {c}", depth)
        depth += 1
    first = " and ".join(f"{index[c]} == 0" for c in lead)
    offset = {key: [f"{index[c]} * {_size(w, size, memory[memory.index(c) + 1:])}" for c in lead]
              for key, memory in (("a", ca[1]), ("b", cb[1]))}
    offset["c"] = []
    depth = _batch_loop(w, spec.batch, (nb, m, k, n), offset, depth)
    operands = {key: f"{flat[key]}[{' + '.join(offset[key]) or '0'}:]" for key in flat}
    zero, one = (literal(v, node.dtype) for v in (0.0, 1.0))
    emit_gemm(w, node.dtype, m, n, k, operands["a"], ka[1], operands["b"], kb[1], operands["c"], depth=depth,
              what=f"{target} += {args[0].expr} . {args[1].expr} ({spec.text})",
              beta=f"{zero} if {first} else {one}")
    if node.shape == ():
        w.emit(f"{name} = {target}[0]")


def _batch_loop(w, batch: str, sizes: tuple[str, str, str, str], offset: dict[str, list[str]], depth: int) -> int:
    """A loop over the batch letters' elements (none without any), each operand's offset
    advanced by one matrix per element; returns the depth of its body."""
    if not batch:
        return depth
    nb, m, k, n = sizes
    at = w.namer.fresh("batch")
    w.emit(f"for {at} in range({nb}):  # one gemm per batch element ({batch})", depth)
    for key, stride in (("a", f"{m} * {k}"), ("b", f"{k} * {n}"), ("c", f"{m} * {n}")):
        offset[key].append(f"{at} * {stride}")
    return depth + 1


def _plan(spec: Spec, loop: str, ca: tuple[str, str] | None, cb: tuple[str, str] | None) -> tuple:
    """For one choice of loop letters: the letters left in each group, and how each
    operand's memory groups as matrices (``_matrix_order``; None where it needs a copy)."""
    batch, free_a, free_b = ("".join(c for c in group if c not in loop) for group in (spec.batch, spec.free_a,
                                                                                      spec.free_b))
    lead_a, lead_b = "".join(c for c in loop if c in spec.a), "".join(c for c in loop if c in spec.b)
    return (loop, batch, free_a, free_b, _matrix_order(_after(ca, lead_a), batch, free_a, True),
            _matrix_order(_after(cb, lead_b), batch, free_b, False))


def _after(buffer: tuple[str, str] | None, lead: str) -> str | None:
    """The letters of a buffer's memory after its loop letters, if it starts with them."""
    return buffer[1][len(lead):] if buffer is not None and buffer[1].startswith(lead) else None


def _c_order(value, letters: str) -> tuple[str, str] | None:
    """A C-contiguous expression for an operand and its letters in memory order: the
    operand itself, or the transpose of an F-layout matrix; None otherwise."""
    if value.layout == "C":
        return value.expr, letters
    if value.layout == "F" and len(letters) == 2:
        return f"{value.expr}.T", letters[::-1]
    return None


def _matrix_order(memory: str | None, batch: str, free: str, free_first: bool) -> tuple[str, bool] | None:
    """Whether an operand whose memory holds the letters ``memory`` is a batch of
    matrices, (free, contracted) for a left operand (``free_first``) or (contracted,
    free) for a right one, or of their transposes: the order of its contracted letters
    and whether it is stored transposed; None if it is neither."""
    if memory is None or not memory.startswith(batch):
        return None
    rest = memory[len(batch):]
    head, tail = rest.startswith(free), rest.endswith(free)
    if head and (free_first or not tail):
        return rest[len(free):], not free_first
    if tail:
        return rest[:len(rest) - len(free)], free_first
    return None


def _elements(node: Node) -> int:
    """A node's size for choosing which operand to copy (a named dim counts as 1000)."""
    return math.prod(d if isinstance(d, int) else 1000 for d in node.shape)


def _size(w, size: dict[str, Dim], letters: str) -> str:
    return " * ".join(w.dim(size[c]) for c in letters) or "1"


def _permuted_copy(w, value, node: Node, letters: str, order: str) -> str:
    """A C-contiguous copy of an operand with its axes in ``order`` (a loop)."""
    axes = tuple(letters.index(c) for c in order)
    shape = tuple(node.shape[i] for i in axes)
    view = value.expr
    if axes != tuple(range(len(axes))):
        w.imports.add("permuted_view")
        view = w.namer.fresh(f"{value.expr}_p")
        w.emit(f"{view} = permuted_view({value.expr}, {axes})")
    copy = w.namer.fresh(f"{value.expr}_c")
    w.emit(f"{copy} = {w.alloc(shape, node)}  # {value.expr} with its axes in the order {order}")
    index = w.nested_loops(shape)
    w.emit(f"{copy}[{', '.join(index)}] = {view}[{', '.join(index)}]", 1 + len(shape))
    return copy


register(Op("contract", infer=_infer, numpy=_reference, vjp=_vjp, gate="switch", kind="matmul", lower=_lower,
            doc="a two-operand contraction (dot_general): batch, contracted and free axes; to BLAS gemm"))


# -- the public functions ------------------------------------------------------------------------
def matmul(a: object, b: object, name: str | None = None) -> Node:
    """a @ b as NumPy's matmul: 2-D @ 2-D, 2-D @ 1-D, 1-D @ 2-D, 1-D @ 1-D, N-D @ 2-D (the
    leading axes of a stay), and N-D @ N-D with equal batch axes; runs on BLAS."""
    from graphc.ir.node import _lift

    x, y = _lift((a, b), "matmul")
    for n in (x, y):
        if n.ndim == 0:
            raise ShapeError(f"matmul: {n.label} has shape () but matmul takes operands of 1 or more dims")
    if y.ndim > 2 and x.ndim != y.ndim:
        raise ShapeError(f"matmul: {x.label} has shape {format_shape(x.shape)} and {y.label} has shape "
                         f"{format_shape(y.shape)}: a right operand of more than 2 dims needs a left one "
                         "with the same batch dims")
    inner_x, inner_y = x.shape[-1], y.shape[-2] if y.ndim >= 2 else y.shape[0]
    if unify_dim(inner_x, inner_y, broadcast=False) is None:
        raise ShapeError(f"matmul: {x.label} has shape {format_shape(x.shape)} but {y.label} has shape "
                         f"{format_shape(y.shape)}: inner dims {inner_x} and {inner_y} differ")
    lead = "abcdefgh"[:max(0, x.ndim - 2)]  # batch axes (N-D @ N-D) or leading free ones (N-D @ 2-D)
    left = lead + "i" * (x.ndim > 1) + "k"
    right = (lead if y.ndim > 2 else "") + "k" + "j" * (y.ndim > 1)
    text = f"{left},{right}->{left[:-1]}{right[len(lead) + 1 if y.ndim > 2 else 1:]}"
    return apply("contract", x, y, spec=text, name=name)


def einsum(spec: str, a: object, b: object, name: str | None = None) -> Node:
    """NumPy's einsum for two operands (``"nchw,fc->nfhw"``), as one contraction: letters
    of one operand missing from the result are summed first, the result is transposed
    to the order asked (a view). Each operand's letters must be distinct."""
    x, y = as_node(a, "einsum"), as_node(b, "einsum")
    try:
        operands, out = spec.replace(" ", "").split("->")
        la, lb = operands.split(",")
    except ValueError:
        raise GraphError(f"einsum: expected a spec like 'ik,kj->ij' (two operands and '->') but got {spec!r}") \
            from None
    for node, letters in ((x, la), (y, lb)):
        if len(letters) != node.ndim or len(set(letters)) != len(letters) or not letters.isalpha():
            raise GraphError(f"einsum: spec {spec!r} gives {node.label} of shape {format_shape(node.shape)} the "
                             f"letters {letters!r}: expected one distinct letter per axis")
    if not set(out) <= set(la + lb) or len(set(out)) != len(out):
        raise GraphError(f"einsum: the result {out!r} of spec {spec!r} must use distinct letters of the operands")
    x, la = _sum_unused(x, la, lb, out)
    y, lb = _sum_unused(y, lb, la, out)
    batch = "".join(c for c in la if c in lb and c in out)
    got = batch + "".join(c for c in la if c not in lb) + "".join(c for c in lb if c not in la)
    result = apply("contract", x, y, spec=f"{la},{lb}->{got}")
    if got != out:
        result = apply("transpose", result, axes=tuple(got.index(c) for c in out))
    return result if name is None else renamed(result, name)


def _sum_unused(node: Node, letters: str, other: str, out: str) -> tuple[Node, str]:
    """``node`` summed over its letters that neither the other operand nor the result has."""
    from graphc.ops.reductions import sum as reduce_sum

    drop = tuple(i for i, c in enumerate(letters) if c not in other and c not in out)
    if not drop:
        return node, letters
    return reduce_sum(node, axis=drop), "".join(c for i, c in enumerate(letters) if i not in drop)
