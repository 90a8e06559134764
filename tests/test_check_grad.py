"""gc.check_grad: small errors for correct gradients, large ones for a wrong VJP, fast on W1,
and entry by entry with the worst entry's index."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest

import graphc as gc
from graphc.bench.peer_graphc import LOSSES, _inputs
from graphc.bench.workloads import WORKLOADS
from graphc.ir import REGISTRY


def small_w1():
    x = gc.input("x", ("N", 5))
    y = gc.input("y", ("N", 2))
    w1 = gc.input("w1", (5, 3))
    w2 = gc.input("w2", (3, 2))
    loss = gc.sum((gc.sigmoid(x @ w1) @ w2 - y) ** 2)
    rng = np.random.default_rng(0)
    values = {"x": rng.standard_normal((4, 5)), "y": rng.standard_normal((4, 2)),
              "w1": rng.standard_normal((5, 3)), "w2": rng.standard_normal((3, 2))}
    return (x, y, w1, w2), loss, values


def test_correct_gradients_have_small_errors():
    (x, y, w1, w2), loss, values = small_w1()
    errors = gc.check_grad(loss, [w1, w2, x], values)
    assert set(errors) == {"w1", "w2", "x"}
    assert max(errors.values()) < 1e-6, errors
    assert min(errors.values()) >= 0


def test_values_by_node_or_name_and_single_wrt():
    (x, y, w1, w2), loss, values = small_w1()
    by_node = {x: values["x"], y: values["y"], w1: values["w1"], w2: values["w2"]}
    assert gc.check_grad(loss, w2, by_node)["w2"] < 1e-6
    assert gc.check_grad(loss, w2, values) == gc.check_grad(loss, [w2], by_node)


def test_caller_arrays_are_not_modified():
    (x, y, w1, w2), loss, values = small_w1()
    before = {k: v.copy() for k, v in values.items()}
    gc.check_grad(loss, [w1, w2], values)
    for k in values:
        np.testing.assert_array_equal(values[k], before[k])


def test_disconnected_variable_has_zero_error():
    a, b = gc.input("a", (3,)), gc.input("b", (2,))
    errors = gc.check_grad(gc.sum(gc.tanh(a)), [a, b], {"a": np.ones(3), "b": np.ones(2)})
    assert errors["b"] == 0.0 and errors["a"] < 1e-6


def test_float32_uses_a_larger_step():
    a = gc.input("a", (4,), "float32")
    errors = gc.check_grad(gc.sum(gc.tanh(a) * 3.0), a, {"a": np.linspace(-1, 1, 4)})
    assert errors["a"] < 1e-2


def _wrong(op_name, vjp, monkeypatch):
    monkeypatch.setitem(REGISTRY, op_name, dataclasses.replace(REGISTRY[op_name], vjp=vjp))


def test_wrong_vjp_gives_a_large_error(monkeypatch):
    (x, y, w1, w2), loss, values = small_w1()
    right = gc.check_grad(loss, [w1, w2], values)
    # sigmoid' = s (1 - s); a VJP that forgets the (1 - s) is wrong for w1 only
    _wrong("sigmoid", lambda n, g, i: g * n, monkeypatch)
    wrong = gc.check_grad(loss, [w1, w2], values)
    assert wrong["w1"] > 1e-1 and wrong["w2"] < 1e-6
    monkeypatch.undo()
    assert gc.check_grad(loss, [w1, w2], values) == right  # restored


@pytest.mark.parametrize("op_name, bad", [
    ("mul", lambda n, g, i: g * n.inputs[i]),  # multiplies by itself instead of switching
    ("maximum", lambda n, g, i: g * 0.5),  # splits evenly even without a tie
    ("tanh", lambda n, g, i: g * (1.0 + n * n)),
    ("exp", lambda n, g, i: g),
])
def test_each_wrong_vjp_is_caught(op_name, bad, monkeypatch):
    a, b = gc.input("a", (3,)), gc.input("b", (3,))
    loss = gc.sum(gc.exp(gc.tanh(gc.maximum(a, b) * b)))
    values = {"a": np.array([0.3, -1.2, 0.8]), "b": np.array([-0.4, 0.5, 1.1])}
    assert max(gc.check_grad(loss, [a, b], values).values()) < 1e-6
    _wrong(op_name, bad, monkeypatch)
    assert max(gc.check_grad(loss, [a, b], values).values()) > 1e-2


def test_a_vjp_of_the_wrong_shape_is_a_graph_error(monkeypatch):
    a, b = gc.input("a", (3, 4)), gc.input("b", (4,))
    loss = gc.sum(a * b)
    # a mul VJP that forgets to unbroadcast gives b a (3, 4) gradient
    _wrong("mul", lambda n, g, i: g * n.inputs[1 - i], monkeypatch)
    with pytest.raises(gc.GraphError, match="mul.*f64\\[3,4\\].*b:f64\\[4\\]"):
        gc.grad(loss, b)


def test_check_grad_errors():
    a = gc.input("a", (3,))
    loss = gc.sum(gc.exp(a))
    with pytest.raises(gc.GraphError, match="no value given for input a"):
        gc.check_grad(loss, a, {})
    with pytest.raises(gc.GraphError, match="must be an input"):
        gc.check_grad(loss, gc.exp(a), {"a": np.ones(3)})
    with pytest.raises(gc.ShapeError, match="scalar"):
        gc.check_grad(gc.exp(a), a, {"a": np.ones(3)})


def _w1():
    data = WORKLOADS["W1"].make_data(np.dtype("float64"), np.random.default_rng(0))
    nodes = _inputs(data)
    return LOSSES["W1"](nodes), [nodes["w1"], nodes["w2"]], data


def test_w1_is_checked_fast_and_right():
    loss, wrt, data = _w1()  # (64, 1000) inputs, 100,000 weights in w1
    start = time.process_time()  # CPU time: the machine running the tests may be shared
    result = gc.check_grad(loss, wrt, data)
    assert time.process_time() - start < 5.0  # ~0.1 s on one free core
    assert set(result) == {"w1", "w2"} and max(result.values()) < 1e-6, str(result)
    assert "3 random directions" in str(result) and "w1: error" in str(result)


def test_a_gradient_one_percent_off_is_reported(monkeypatch):
    loss, wrt, data = _w1()
    sigmoid = REGISTRY["sigmoid"].vjp
    _wrong("sigmoid", lambda n, g, i: 1.01 * sigmoid(n, g, i), monkeypatch)
    result = gc.check_grad(loss, wrt, data)
    assert 1e-3 < result["w1"] < 2e-2 and result["w2"] < 1e-6, str(result)
    monkeypatch.undo()
    _wrong("sub", lambda n, g, i: -g if i == 0 else g, monkeypatch)  # a sign flip in h @ w2 - y
    result = gc.check_grad(loss, wrt, data)
    assert min(result.values()) > 1.0, str(result)  # |a - (-a)| / |a| = 2


def test_tiny_entries_do_not_cry_wolf():
    # a saturated sigmoid: gradient entries from 1e-1 down to 1e-26, right to rounding;
    # an entrywise relative error would see 100% errors in the tiny entries
    a = gc.input("a", (3, 4))
    values = {"a": np.linspace(-60, 2, 12).reshape(3, 4)}
    loss = gc.sum(gc.sigmoid(a) * 3.0)
    for entries in (False, True):
        assert gc.check_grad(loss, a, values, entries=entries)["a"] < 1e-6


def test_entries_report_the_worst_entry(monkeypatch):
    a = gc.input("a", (3, 4))
    values = {"a": np.random.default_rng(1).standard_normal((3, 4))}
    loss = gc.sum(gc.exp(a) * 2.0)
    right = gc.check_grad(loss, a, values, entries=True)
    assert right["a"] < 1e-6 and right.checks["a"].index is not None
    mask = np.zeros((3, 4))
    mask[1, 2] = 0.5  # the gradient is 50% off at one entry only
    _wrong("exp", lambda n, g, i: g * n * (1.0 + mask), monkeypatch)
    wrong = gc.check_grad(loss, a, values, entries=True)
    assert wrong["a"] > 0.1 and wrong.checks["a"].index == (1, 2), str(wrong)
    assert "at entry (1, 2)" in str(wrong)
    big = gc.input("big", (100, 100))
    with pytest.raises(gc.GraphError, match="big has 10000 entries.*random directions"):
        gc.check_grad(gc.sum(big), big, {"big": np.ones((100, 100))}, entries=True)
    with pytest.raises(gc.GraphError, match="directions to be a positive int"):
        gc.check_grad(loss, a, values, directions=0)
