"""Indexing written as a NumPy user writes it (CS231n idioms), its gates, its errors, on
both backends. The op-by-op checks against NumPy and finite differences are in the op
table (opcases.py: getitem_*, take_along_axis_*, unslice_*, scatter_add_*)."""

from __future__ import annotations

import numpy as np
import pytest
from opcases import finite_difference, relative_error

import graphc as gc

BACKENDS = ("interpret", "numba")


def patterns(*outputs):
    """(op, gate pattern) of every backward node."""
    g = gc.to_networkx(*outputs)
    return {(d["op"], d["pattern"]) for _, d in g.nodes(data=True) if d["role"] == "backward"}


# -- the idioms ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_softmax_loss_picks_the_label_scores(backend):
    """CS231n's softmax loss: -log(probs[np.arange(N), y]).sum() / N, with y an int64 input."""
    n, c = 4, 5
    scores = gc.input("scores", (n, c))
    y = gc.input("y", (n,), "int64")
    probs = gc.softmax(scores, axis=1)
    loss = -gc.sum(gc.log(probs[np.arange(n), y])) / n
    (dscores,) = gc.grad(loss, [scores])
    f = gc.compile([scores, y], [loss, dscores], backend=backend)
    rng = np.random.default_rng(0)
    sv, yv = rng.standard_normal((n, c)), np.array([1, 4, 0, 1])
    p = np.exp(sv - sv.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    want = p.copy()
    want[np.arange(n), yv] -= 1
    lv, dv = f(sv, yv)
    np.testing.assert_allclose(lv, -np.log(p[np.arange(n), yv]).mean(), rtol=1e-12)
    np.testing.assert_allclose(dv, want / n, rtol=1e-10, atol=1e-14)


def test_label_scores_with_a_named_batch():
    """With a named N there is no np.arange(N): take_along_axis picks each row's label."""
    scores = gc.input("scores", ("N", 5))
    y = gc.input("y", ("N",), "int64")
    picked = gc.take_along_axis(scores, y[:, None], axis=1)[:, 0]
    assert picked.shape == ("N",)
    f = gc.compile([scores, y], picked, backend="interpret")
    for n in (1, 6):
        sv, yv = np.random.default_rng(n).standard_normal((n, 5)), np.arange(n) % 5
        np.testing.assert_array_equal(f(sv, yv), sv[np.arange(n), yv])


@pytest.mark.parametrize("backend", BACKENDS)
def test_windows_sliced_in_a_loop(backend):
    """x[:, :, i:i+HH] in a Python loop (a naive convolution along one axis), gradient
    against finite differences: each window's gradient is routed back to its columns."""
    hh, width = 2, 5
    x = gc.input("x", ("N", 3, width))
    w = gc.input("w", (3, hh))
    loss = sum(gc.sum(gc.tanh(gc.sum(x[:, :, i:i + hh] * w, axis=(1, 2)))) for i in range(width - hh + 1))
    dx, dw = gc.grad(loss, [x, w])
    assert ("unslice", "route") in patterns(dx)
    rng = np.random.default_rng(1)
    xv, wv = rng.standard_normal((2, 3, width)), rng.standard_normal((3, hh))
    f = gc.compile([x, w], [loss, dx, dw], backend=backend)
    lv, dxv, dwv = f(xv, wv)

    def ref(xv, wv):
        return sum(np.tanh((xv[:, :, i:i + hh] * wv).sum(axis=(1, 2))).sum() for i in range(width - hh + 1))

    np.testing.assert_allclose(lv, ref(xv, wv), rtol=1e-12)
    assert relative_error(dxv, finite_difference(ref, [xv, wv], 0)) < 1e-7
    assert relative_error(dwv, finite_difference(ref, [xv, wv], 1)) < 1e-7


def test_first_row_gradient_is_zero_padded():
    x = gc.input("x", (3, 4))
    c = np.arange(4.0)
    (dx,) = gc.grad(gc.sum(x[0] * c), [x])
    assert ("unslice", "route") in patterns(dx)
    got = gc.compile([x], dx, backend="interpret")(np.ones((3, 4)))
    np.testing.assert_array_equal(got, np.vstack([c, np.zeros((2, 4))]))


def test_a_full_slice_keeps_the_named_dim_and_its_gradient_is_a_reshape():
    x = gc.input("x", ("N", 4))
    assert x[:].shape == ("N", 4) and x[:] is x
    assert x[:, None].shape == ("N", 1, 4)
    (dx,) = gc.grad(gc.sum(x[:, None] * 2.0), [x])
    assert "unslice" not in {d["op"] for _, d in gc.to_networkx(dx).nodes(data=True)}


@pytest.mark.parametrize("backend", BACKENDS)
def test_embedding_gradient_sums_repeated_indices(backend):
    """W[idx]: a row picked twice gets the sum of both gradients, as a branch does."""
    emb = gc.input("W", (4, 3))
    idx = gc.input("idx", (2, 2), "int64")
    out = emb[idx]
    assert out.shape == (2, 2, 3)
    up = np.arange(12.0).reshape(2, 2, 3)
    (demb,) = gc.grad(gc.sum(out * up), [emb])
    assert ("scatter_add", "sum") in patterns(demb)
    iv = np.array([[1, 3], [1, -4]])  # row 1 twice, -4 is row 0
    wv = np.random.default_rng(2).standard_normal((4, 3))
    got_out, got_d = gc.compile([emb, idx], [out, demb], backend=backend)(wv, iv)
    np.testing.assert_array_equal(got_out, wv[iv])
    want = np.zeros((4, 3))
    np.add.at(want, iv, up)
    np.testing.assert_array_equal(got_d, want)
    assert np.array_equal(got_d[1], up[0, 0] + up[1, 0])


def test_rows_of_a_fixed_first_dim_iterate_as_in_numpy():
    x = gc.input("x", (2, 3))
    rows = list(x)
    assert [r.shape for r in rows] == [(3,), (3,)]
    a, b = gc.compile([x], rows, backend="interpret")(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(b, [3, 4, 5])
    with pytest.raises(TypeError, match="fixed first dim"):
        list(gc.input("z", ("N", 3)))


# -- the structure of the generated code ------------------------------------------------------------------
def test_slices_are_views_and_gathers_check_their_indices_in_the_kernel():
    x = gc.input("x", ("N", 6))
    idx = gc.input("idx", (3,), "int64")
    f = gc.compile([x, idx], [x[-1, 1:5:2], x[idx]])
    lines = [line.strip() for line in f.source.splitlines()]
    assert "if N < 1:" in lines
    assert any(line.startswith("slice") and "= x[N - 1, 1:4:2]" in line and "x[-1, 1:5:2]" in line for line in lines)
    assert any(line.startswith("raise IndexRangeError('x[idx]', ': index ', raw") for line in lines)
    assert "from graphc.errors import IndexRangeError" in lines


# -- errors -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_out_of_range_indices_raise_at_call_time(backend):
    emb = gc.input("W", (4, 3))
    idx = gc.input("idx", ("K",), "int64")
    loss = gc.sum(emb[idx] ** 2)
    (d_only,) = gc.grad(gc.sum(emb[idx]), [emb])  # the backward graph alone (no forward gather)
    f = gc.compile([emb, idx], [loss, d_only], backend=backend)
    wv = np.ones((4, 3))
    for bad in (4, -5):
        with pytest.raises(gc.ArgumentError, match=rf"W\[idx\]: index {bad} is out of range for axis 0 of size 4"):
            f(wv, np.array([0, bad]))
    g = gc.compile([emb, idx], d_only, backend=backend)
    with pytest.raises(IndexError, match="index 9 is out of range"):  # also an IndexError, as NumPy's
        g(wv, np.array([9]))


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_named_dim_too_small_for_a_fixed_slice_raises(backend):
    x = gc.input("x", ("N", 2))
    f = gc.compile([x], [x[2:4] * 1.0, x[-3]], backend=backend)
    a, b = f(np.arange(10.0).reshape(5, 2))
    np.testing.assert_array_equal(a, [[4, 5], [6, 7]])
    np.testing.assert_array_equal(b, [4, 5])
    with pytest.raises(gc.ArgumentError, match=r"x\[2:4\] needs dim 0 to be at least 4 but it is 3"):
        f(np.zeros((3, 2)))


def test_slices_whose_size_depends_on_a_named_dim_are_refused():
    x = gc.input("x", ("N", 3))
    for key in (slice(1, None), slice(None, -1), slice(None, None, 2), slice(2, -1)):
        with pytest.raises(gc.ShapeError, match="depends on N"):
            x[key]


@pytest.mark.parametrize("key, error, message", [
    ((5,), gc.ShapeError, r"x\[5\]: index 5 is out of range for axis 0 of size 3"),
    ((0, -5), gc.ShapeError, "index -5 is out of range for axis 1 of size 4"),
    ((0, 0, 0), gc.ShapeError, "too many indices for x of shape"),
    ((Ellipsis, 0, Ellipsis), gc.ShapeError, "single ellipsis"),
    ((slice(None, None, 0),), gc.ShapeError, "step cannot be zero"),
    ((np.array([0, 3]),), gc.ShapeError, "index 3 is out of range for axis 0 of size 3"),
    ((np.array([True, False, True]),), gc.GraphError, "boolean masks"),
    ((np.array([0.5]),), gc.GraphError, "must hold integers"),
    ((slice(0.5, 2),), gc.GraphError, "slice bounds must be ints"),
    (("a",), gc.GraphError, "expected ints, slices, None"),
])
def test_bad_indices_are_refused_at_declaration(key, error, message):
    x = gc.input("x", (3, 4))
    with pytest.raises(error, match=message):
        x[key]


def test_index_nodes_must_be_int64():
    x = gc.input("x", (3, 4))
    i = gc.input("i", (2,))
    with pytest.raises(gc.DTypeError, match=r"the index i has dtype float64 but indices must be int64"):
        x[i]


def test_item_assignment_points_to_where():
    x = gc.input("x", (3, 4))
    with pytest.raises(gc.GraphError, match=r"x\[0, 1:\] = \.\.\.: graphc nodes are immutable.*gc\.where"):
        x[0, 1:] = 0.0
    y = gc.input("y", (3,), "int64")
    with pytest.raises(gc.GraphError, match=r"x\[array\(3,\), y\] = \.\.\.: graphc nodes are immutable"):
        x[np.arange(3), y] -= 1  # CS231n's softmax gradient, written in place


def test_take_along_axis_checks_its_arguments():
    x = gc.input("x", (3, 4))
    with pytest.raises(gc.ShapeError, match="indices must have the 2 dims of x"):
        gc.take_along_axis(x, gc.input("i", (3,), "int64"), axis=1)
    with pytest.raises(gc.ShapeError, match="axis 2 is not an axis of x"):
        gc.take_along_axis(x, gc.input("j", (3, 1), "int64"), axis=2)
    with pytest.raises(gc.ShapeError, match="index 4 is out of range for axis 1 of size 4"):
        gc.take_along_axis(x, np.array([[4]]), axis=1)


def test_listing_of_a_gather_and_a_slice_with_their_gates():
    emb = gc.input("W", (5, 3))
    idx = gc.input("idx", (2,), "int64")
    loss = gc.sum(emb[idx][:, 1:] ** 2)
    listing = gc.show(loss, *gc.grad(loss, [emb])).splitlines()
    assert listing[2] == "%2:f64[2,3] = gather[axis=0 what=W[idx]] %0 %1"
    assert listing[3] == "%3:f64[2,2] = slice[index=((0, 1, 2), (1, 1, 2)) what=<gather:f64[2,3]>[:, 1:]] %2"
    assert listing[-3] == ("%15:f64[2,3] = unslice[index=((0, 1, 2), (1, 1, 2)) shape=(2, 3) fill=0.0 "
                           "what=<gather:f64[2,3]>[:, 1:]] %14  # route, grad of %2")
    assert listing[-2] == "%16:f64[5,3] = scatter_add[axis=0 shape=(5, 3) what=W[idx]] %15 %1  # sum, grad of %0"


def test_a_block_of_whole_rows_stays_contiguous_for_blas_and_flat_loops():
    """x[t] of a C-contiguous x is C-contiguous (as Numba types it): gemm reads it in
    place and a fused loop walks it flat; x[:, 0] is strided and is copied for gemm."""
    x = gc.input("x", (3, "N", 4))
    w = gc.input("w", (4, 2))
    f = gc.compile([x, w], [x[1] @ w, gc.tanh(x[2]) * 2.0, x[:, 0] @ w])
    source = f.source
    assert "matmul3 = slice2 @ w" in source and "slice4_flat = flat_view(slice4)" in source
    assert "matmul9 = slice8_c @ w" in source  # the strided one, copied
    xv, wv = np.random.default_rng(0).standard_normal((3, 5, 4)), np.ones((4, 2))
    for got, want in zip(f(xv, wv), [xv[1] @ wv, np.tanh(xv[2]) * 2, xv[:, 0] @ wv]):
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_the_contiguity_claimed_for_a_slice_is_numbas():
    """The code generator claims C layout for a view only where Numba's typing gives it
    (a wrong claim would fail to compile, a missed one costs a copy)."""
    numba = pytest.importorskip("numba")
    from graphc.ops.indexing import _index_code

    class Dims:  # the part of the kernel writer that index code asks for
        def dim(self, d):
            return str(d)

    x = gc.input("x", (3, 4, 5))
    keys = [0, (0, 1), (0, slice(1, 3)), slice(1, 3), (slice(None), 0), (None, 0), (0, None, slice(2, 4)),
            (0, slice(1, 3), 2), slice(None, None, 2), slice(None, None, -1), (1, slice(None, None, -1)),
            (Ellipsis, 0), (Ellipsis, slice(0, 2)), (0, 0, slice(None)), (slice(0, 0),), (-1, slice(3, 0, -1)),
            (slice(2, 3), None), (None, slice(None), 1)]
    codes = [_index_code(Dims(), x.shape, x[k].attrs["index"]) for k in keys]
    body = ", ".join(f"a[{index}]" + (f"[{flip}]" if flip else "") for index, flip, _ in codes)
    views = numba.njit(eval(f"lambda a: ({body},)"))
    views(np.zeros((3, 4, 5)))
    layouts = [t.layout for t in views.nopython_signatures[0].return_type]
    assert [c for _, _, c in codes] == [layout == "C" for layout in layouts]
    assert 0 < sum(layout == "C" for layout in layouts) < len(keys)


@pytest.mark.parametrize("op, attrs, message", [
    ("slice", {"index": ((0, 1, 4),), "what": "bad"}, r"selects positions outside axis of size 3"),
    ("slice", {"index": (3,), "what": "bad"}, r"selects positions outside axis of size 3"),
    ("slice", {"index": ((0, 1, 3), 0), "what": "bad"}, r"2 index entries for 1 axes"),
    ("gather", {"axis": 1, "what": "bad"}, r"1 index arrays from axis 1"),
    ("scatter_add", {"axis": -1, "shape": (3,), "what": "bad"}, r"1 index arrays from axis -1"),
])
def test_index_ops_made_directly_check_their_attributes(op, attrs, message):
    """graphc.ir.apply builds any op: the shape rule itself refuses indices outside x."""
    from graphc.ir.node import apply

    x = gc.input("x", (3,))
    operands = (x,) if op == "slice" else (x, np.array([0]))
    with pytest.raises(gc.ShapeError, match=message):
        apply(op, *operands, **attrs)


def test_an_input_named_like_the_kernels_exception_does_not_shadow_it():
    emb = gc.input("IndexRangeError", (3, 2))
    idx = gc.input("idx", (2,), "int64")
    f = gc.compile([emb, idx], emb[idx])
    np.testing.assert_array_equal(f(np.eye(3, 2), np.array([1, 0])), np.eye(3, 2)[[1, 0]])
    with pytest.raises(gc.IndexRangeError, match="index 3 is out of range"):
        f(np.eye(3, 2), np.array([3, 0]))
