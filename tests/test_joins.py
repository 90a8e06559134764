"""concatenate, stack, split, pad, argmax and argmin as a NumPy user writes them: idioms,
gates and errors. Values and gradients op by op are in the op table (opcases.py)."""

from __future__ import annotations

import numpy as np
import pytest
from opcases import finite_difference, relative_error

import graphc as gc

BACKENDS = ("interpret", "numba")


def backward_ops(*outputs):
    g = gc.to_networkx(*outputs)
    return {(d["op"], d["pattern"]) for _, d in g.nodes(data=True) if d["role"] == "backward"}


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_convolution_written_with_windows_and_stack(backend):
    """A naive 'valid' 1-D convolution as in CS231n's conv_forward_naive: a window per
    output position, stacked along a new axis; gradients against finite differences."""
    hh, width = 3, 6
    x = gc.input("x", ("N", 2, width))
    w = gc.input("w", (4, 2, hh))
    windows = [x[:, None, :, i:i + hh] for i in range(width - hh + 1)]  # (N, 1, 2, hh) each
    out = gc.stack([gc.sum(win * w, axis=(2, 3)) for win in windows], axis=-1)  # (N, 4, OW)
    assert out.shape == ("N", 4, width - hh + 1)
    loss = gc.sum(gc.tanh(out))
    dx, dw = gc.grad(loss, [x, w])
    f = gc.compile([x, w], [out, dx, dw], backend=backend)
    rng = np.random.default_rng(0)
    xv, wv = rng.standard_normal((2, 2, width)), rng.standard_normal((4, 2, hh))
    want = np.stack([np.einsum("nch,fch->nf", xv[:, :, i:i + hh], wv) for i in range(width - hh + 1)], axis=-1)
    got, dxv, dwv = f(xv, wv)
    np.testing.assert_allclose(got, want, rtol=1e-12)

    def loss_ref(xv, wv):
        return np.tanh(np.stack([np.einsum("nch,fch->nf", xv[:, :, i:i + hh], wv)
                                 for i in range(width - hh + 1)], axis=-1)).sum()

    assert relative_error(dxv, finite_difference(loss_ref, [xv, wv], 0)) < 1e-7
    assert relative_error(dwv, finite_difference(loss_ref, [xv, wv], 1)) < 1e-7


def test_gates_of_the_joins():
    a, b = gc.input("a", (2, 3)), gc.input("b", (2, 2))
    joined = gc.concatenate([a, b], axis=1)
    assert joined.shape == (2, 5)
    da, db = gc.grad(gc.sum(joined * joined), [a, b])
    assert ("slice", "distribute") in backward_ops(da, db)  # each input gets its slice
    (dp,) = gc.grad(gc.sum(gc.pad(a, 1) ** 2), [a])
    assert ("slice", "distribute") in backward_ops(dp)  # pad's gradient drops the padding
    left, right = gc.split(a, [1], axis=1)
    (ds,) = gc.grad(gc.sum(left * 2.0) + gc.sum(right * 3.0), [a])
    assert ("unslice", "route") in backward_ops(ds)  # the pieces are slices
    got = gc.compile([a], ds, backend="interpret")(np.zeros((2, 3)))
    np.testing.assert_array_equal(got, [[2, 3, 3], [2, 3, 3]])


def test_argmax_has_no_gradient_and_counts_correct_labels():
    scores = gc.input("scores", ("N", 4))
    y = gc.input("y", ("N",), "int64")
    predicted = gc.argmax(scores, axis=1)
    assert predicted.dtype == np.int64 and predicted.shape == ("N",)
    correct = gc.sum(gc.equal(predicted, y))
    with pytest.raises(gc.GraphError, match="does not depend on scores"):  # nothing flows through argmax
        gc.grad(gc.sum(gc.cast(predicted, "float64")), [scores], disconnected="raise")
    sv = np.array([[0.1, 2.0, 2.0, -1.0], [3.0, 0.0, 1.0, 3.0], [0.0, 0.0, 0.0, 5.0]])
    f = gc.compile([scores, y], [predicted, correct], backend="interpret")
    p, c = f(sv, np.array([1, 3, 3]))
    np.testing.assert_array_equal(p, [1, 0, 3])  # the first of tied maxima, as NumPy
    assert c == 2


@pytest.mark.parametrize("backend", BACKENDS)
def test_argmax_of_an_empty_named_axis_raises_at_call_time(backend):
    x = gc.input("x", ("N", 3))
    f = gc.compile([x], [gc.argmax(x, axis=0), gc.argmin(x)], backend=backend)
    a, b = f(np.array([[1.0, 5.0, 2.0], [4.0, 0.0, 2.0]]))
    np.testing.assert_array_equal(a, [1, 0, 0])
    assert b == 4
    with pytest.raises(gc.ArgumentError, match=r"argmax\(x\): the axis is empty at this call"):
        f(np.zeros((0, 3)))


@pytest.mark.parametrize("build, error, message", [
    (lambda a, n: gc.concatenate([n, n]), gc.ShapeError, "joining along the named dim N of n"),
    (lambda a, n: gc.concatenate([a, a.T]), gc.ShapeError, "dims other than axis 0 must match"),
    (lambda a, n: gc.concatenate([a, gc.input("v", (3,))]), gc.ShapeError, "the same number of dims"),
    (lambda a, n: gc.concatenate(a), gc.GraphError, "expected a non-empty list"),
    (lambda a, n: gc.concatenate([]), gc.GraphError, "expected a non-empty list"),
    (lambda a, n: gc.concatenate([a], axis=2), gc.ShapeError, "axis 2 is not an axis"),
    (lambda a, n: gc.stack([a, gc.input("v", (3,))]), gc.ShapeError, "stack: all inputs must have the same shape"),
    (lambda a, n: gc.split(a, 2, axis=1), gc.ShapeError, "2 sections do not divide axis 1 of a"),
    (lambda a, n: gc.split(n, 2), gc.ShapeError, "named dim N"),
    (lambda a, n: gc.split(a, 1.5), gc.GraphError, "number of sections or a list of indices"),
    (lambda a, n: gc.pad(n, 1), gc.ShapeError, "axis 0 of n is the named dim N"),
    (lambda a, n: gc.pad(a, ((1, 1), (1, 1), (1, 1))), gc.ShapeError, "does not give"),
    (lambda a, n: gc.pad(a, -1), gc.ShapeError, "non-negative ints"),
    (lambda a, n: gc.pad(a, 1, mode="reflect"), gc.GraphError, "only mode='constant'"),
    (lambda a, n: gc.pad(a, 1, constant_values=(1, 2)), gc.GraphError, "constant_values must be a number"),
    (lambda a, n: gc.argmax(a, axis=(0, 1)), gc.ShapeError, "axis must be None or one int"),
    (lambda a, n: gc.argmax(gc.input("e", (0, 2)), axis=0), gc.ShapeError, "empty axis is undefined"),
])
def test_bad_joins_are_refused_at_declaration(build, error, message):
    a, n = gc.input("a", (2, 3)), gc.input("n", ("N", 3))
    with pytest.raises(error, match=message):
        build(a, n)


def test_a_named_dim_meeting_a_fixed_one_is_bound():
    a, n = gc.input("a", (2, 3)), gc.input("n", ("N", 1))
    joined = gc.concatenate([a, n], axis=1)
    assert joined.shape == (2, 4) and dict(joined.bindings) == {"N": 2}
    da, dn = gc.grad(gc.sum(joined * joined), [a, n])
    assert dn.shape == ("N", 1)  # the gradient has its variable's shape
    got_a, got_n = gc.compile([a, n], [da, dn], backend="interpret")(np.ones((2, 3)), np.full((2, 1), 3.0))
    np.testing.assert_array_equal(got_n, [[6.0], [6.0]])
