"""The adjoint pass: the lecture's numbers, every VJP against finite differences, the gate
patterns on backward nodes, ties, what gets built, higher order, and property tests."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opcases import CASES, DIMS, bind, finite_difference, make_inputs, node_shape, relative_error

import graphc as gc
from graphc.ir import REGISTRY


def interp(inputs, outputs):
    return gc.compile(inputs, outputs, backend="interpret")


def backward(*outputs):
    """(number, attrs) of the backward nodes of the listing of ``outputs``."""
    g = gc.to_networkx(*outputs)
    return [(n, d) for n, d in g.nodes(data=True) if d["role"] == "backward"]


def number_of(node, *outputs):
    g = gc.to_networkx(*outputs)
    return next(n for n, d in g.nodes(data=True) if d["node"] is node)


# -- the lecture's numbers ------------------------------------------------------------------------------
def test_add_mul_graph():
    x, y, z = (gc.input(n) for n in "xyz")
    f = (x + y) * z
    grads = gc.grad(f, [x, y, z])
    values = interp([x, y, z], [f, *grads])(-2.0, 5.0, -4.0)
    assert [float(v) for v in values] == [-12.0, -4.0, -4.0, 3.0]
    assert gc.check_grad(f, [x, y, z], {"x": -2.0, "y": 5.0, "z": -4.0}) == pytest.approx(
        {"x": 0, "y": 0, "z": 0}, abs=1e-8)


def test_sigmoid_neuron_scalar_inputs():
    w0, w1, w2, x0, x1 = (gc.input(n) for n in ("w0", "w1", "w2", "x0", "x1"))
    f = 1.0 / (1.0 + gc.exp(-(w0 * x0 + w1 * x1 + w2)))
    grads = gc.grad(f, [w0, w1, w2, x0, x1])
    out = interp([w0, w1, w2, x0, x1], [f, *grads])(2.0, -3.0, -3.0, -1.0, -2.0)
    assert float(out[0]) == pytest.approx(0.7310585786300049)
    np.testing.assert_allclose(np.round([float(v) for v in out[1:]], 2), [-0.20, -0.39, 0.20, 0.39, -0.59])
    # dw = (1 - f) f [x0, x1, 1], dx = (1 - f) f [w0, w1]
    s = out[0] * (1 - out[0])
    np.testing.assert_allclose([float(v) for v in out[1:]], s * np.array([-1, -2, 1, 2, -3]), rtol=1e-15)
    # gc.sigmoid is the same function with the same gradient
    g = gc.sigmoid(w0 * x0 + w1 * x1 + w2)
    out2 = interp([w0, w1, w2, x0, x1], [g, *gc.grad(g, [w0, w1, w2, x0, x1])])(2.0, -3.0, -3.0, -1.0, -2.0)
    np.testing.assert_allclose(np.array(out2, dtype=float), np.array(out, dtype=float), rtol=1e-15)


def test_sigmoid_neuron_vectorised():
    w = gc.input("w", (2,))
    b = gc.input("b")
    x = gc.input("x", (2,))
    f = 1 / (1 + gc.exp(-(w @ x + b)))
    dw, db, dx = gc.grad(f, [w, b, x])
    assert (dw.shape, db.shape, dx.shape) == ((2,), (), (2,))
    vals = interp([w, b, x], [dw, db, dx])(np.array([2.0, -3.0]), -3.0, np.array([-1.0, -2.0]))
    np.testing.assert_allclose(np.round(vals[0], 2), [-0.20, -0.39])
    assert round(float(vals[1]), 2) == 0.20
    np.testing.assert_allclose(np.round(vals[2], 2), [0.39, -0.59])
    # and batched: N copies of the neuron, the gradient of their sum is N times one
    xb = gc.input("xb", ("N", 2))
    fb = gc.sum(gc.sigmoid(xb @ w + b))
    dwb, dbb = gc.grad(fb, [w, b])
    got = interp([w, b, xb], [dwb, dbb])(np.array([2.0, -3.0]), -3.0, np.tile([-1.0, -2.0], (3, 1)))
    np.testing.assert_allclose(got[0], 3 * vals[0], rtol=1e-14)
    np.testing.assert_allclose(got[1], 3 * vals[1], rtol=1e-14)


def test_squared_norm_of_matrix_vector_product():
    w = gc.input("W", (2, 2))
    x = gc.input("x", (2,))
    q = w @ x
    f = gc.sum(q ** 2)
    dw, dx = gc.grad(f, [w, x])
    wv, xv = np.array([[0.1, 0.5], [-0.3, 0.8]]), np.array([0.2, 0.4])
    fv, dwv, dxv = interp([w, x], [f, dw, dx])(wv, xv)
    qv = wv @ xv
    assert float(fv) == pytest.approx(0.116)
    np.testing.assert_allclose(dwv, 2 * np.outer(qv, xv), rtol=1e-14)  # dW = 2 q x^T
    np.testing.assert_allclose(dxv, 2 * wv.T @ qv, rtol=1e-14)  # dx = 2 W^T q
    np.testing.assert_allclose(dwv, [[0.088, 0.176], [0.104, 0.208]], rtol=1e-12)
    np.testing.assert_allclose(dxv, [-0.112, 0.636], rtol=1e-12)


# -- the lecture's circuits show exactly the slides' gates ----------------------------------------------
def _gates(*outputs):
    """The backward part of a listing: (op, pattern, the listed name of the node it is the grad of)."""
    g = gc.to_networkx(*outputs)
    return [(d["op"], d["pattern"], g.nodes[d["of"]]["name"]) for _, d in sorted(g.nodes(data=True))
            if d["role"] == "backward"]


def test_add_mul_circuit_lists_distribute_for_x_and_y_and_switch_for_q_and_z():
    x, y, z = (gc.input(n) for n in "xyz")
    q = gc.add(x, y, name="q")
    f = gc.mul(q, z, name="f")
    dx, dy, dz = gc.grad(f, [x, y, z])
    assert _gates(f, dx, dy, dz) == [
        ("const", "local", "f"),  # the seed df/df = 1
        ("mul", "switch", "q"),  # df/dq = z
        ("mul", "switch", "z"),  # df/dz = q
        ("identity", "distribute", "x"),  # df/dx = df/dq
        ("identity", "distribute", "y"),  # df/dy = df/dq
    ]
    backward_lines = gc.show(f, dx, dy, dz).splitlines()[5:]
    assert [line.split("#")[1].strip() for line in backward_lines[:-1]] == [
        "local, grad of %4", "switch, grad of %3", "switch, grad of %2",
        "distribute, grad of %0", "distribute, grad of %1"]
    assert backward_lines[-1] == "outputs: %4 %8 %9 %7"
    assert [d.pattern for d in (dx, dy, dz)] == ["distribute", "distribute", "switch"]


def _pattern_per_variable(grads, variables):
    return {v.name: {n.pattern for n in _backward_nodes_of(d) if n.of is v} for d, v in zip(grads, variables)}


def test_sigmoid_neuron_gates_per_variable():
    w0, w1, w2, x0, x1 = ws = [gc.input(n) for n in ("w0", "w1", "w2", "x0", "x1")]
    dot = gc.add(gc.add(w0 * x0, w1 * x1, name="wx"), w2, name="dot")
    f = 1.0 / (1.0 + gc.exp(-dot))
    grads = gc.grad(f, ws)
    # the weights and inputs of the products switch; the bias is handed the sum's
    # gradient: the add gate distributes
    assert _pattern_per_variable(grads, ws) == {
        "w0": {"switch"}, "w1": {"switch"}, "x0": {"switch"}, "x1": {"switch"}, "w2": {"distribute"}}
    gates = _gates(f, *grads)
    assert ("identity", "distribute", "wx") in gates and ("neg", "distribute", "dot") in gates
    assert sum(1 for op, p, of in gates if p == "distribute" and op == "identity") == 5  # +1, wx, w2, w0x0, w1x1


def test_squared_norm_gates_per_variable():
    w, x = gc.input("W", (2, 2)), gc.input("x", (2,))
    q = gc.matmul(w, x, name="q")
    sq = q ** 2
    f = gc.sum(sq)
    dw, dx = gc.grad(f, [w, x])
    assert _pattern_per_variable([dw, dx], [w, x]) == {"W": {"switch"}, "x": {"switch"}}
    gates = {(op, p) for op, p, of in _gates(f, dw, dx)}
    assert ("broadcast_to", "distribute") in gates  # the sum hands every element its gradient
    g = gc.to_networkx(f, dw, dx)
    assert all(g.nodes[d["of"]]["name"] in ("W", "x", "q") or d["pattern"] in ("distribute", "local")
               for _, d in g.nodes(data=True) if d["role"] == "backward")
    # a value used twice: its gradients meet in a sum gate
    d2 = gc.grad(gc.sum(q * q), x)
    assert "sum" in {n.pattern for n in _backward_nodes_of(d2)}


# -- every VJP against finite differences -----------------------------------------------------------------
GRAD_CASES = [c for c in CASES if c.grad_inputs()]


def weighted_loss(case, dtype):
    """sum(out * r): a random upstream gradient r of out's shape, so each output element
    weighs differently and a wrong unbroadcast or transpose cannot hide."""
    nodes = case.inputs(dtype)
    out = case.build(*nodes)
    r = gc.input("r", out.shape, dtype)
    return nodes, r, out, gc.sum(out * r)


def weighted_args(case, out, dtype, seed=0):
    args = make_inputs(case, dtype, seed=seed)
    r = np.random.default_rng(seed + 100).standard_normal(node_shape(out)).astype(dtype)
    return args, r


@pytest.mark.parametrize("case", GRAD_CASES, ids=lambda c: c.name)
def test_vjp_matches_finite_differences(case):
    nodes, r, out, loss = weighted_loss(case, "float64")
    wrt = [nodes[i] for i in case.grad_inputs()]
    grads = gc.grad(loss, wrt)
    for w, g in zip(wrt, grads):
        assert g.shape == w.shape and g.dtype == w.dtype, (g, w)  # declared: exactly the variable's shape
    args, rv = weighted_args(case, out, "float64")
    f = interp([*nodes, r], loss)
    analytic = interp([*nodes, r], grads)(*args, rv)
    for i, a in zip(case.grad_inputs(), analytic):
        assert a.shape == args[i].shape and a.dtype == np.float64
        numeric = finite_difference(f, [*args, rv], i)
        err = relative_error(a, numeric)
        assert err <= 1e-6, f"{case.name}: d/d{nodes[i].label}: relative error {err:.2e}\n{a}\n{numeric}"


@pytest.mark.parametrize("case", GRAD_CASES, ids=lambda c: c.name)
def test_float32_gradients_stay_float32(case):
    nodes, r, out, loss = weighted_loss(case, "float32")
    wrt = [nodes[i] for i in case.grad_inputs()]
    grads = gc.grad(loss, wrt)
    assert all(g.dtype == np.float32 for g in grads)
    assert all(n["dtype"] != "float64" for _, n in gc.to_networkx(*grads).nodes(data=True)), \
        "a float64 node in a float32 backward graph"
    args32, r32 = weighted_args(case, out, "float32")
    got = interp([*nodes, r], grads)(*args32, r32)
    # the same gradient in float64, from the same (float32-representable) values
    nodes64, r64, _, loss64 = weighted_loss(case, "float64")
    want = interp([*nodes64, r64], gc.grad(loss64, [nodes64[i] for i in case.grad_inputs()]))(
        *[a.astype(np.float64) if a.dtype == np.float32 else a for a in args32], r32.astype(np.float64))
    for a, b in zip(got, want):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5)


def test_gradient_shapes_under_broadcasting_with_named_dims():
    """A named dim bound by the graph ((N, 3) + (5, 3)) still gives a gradient of shape (N, 3)."""
    x = gc.input("x", ("N", 3))
    z = gc.input("z", (5, 3))
    y = gc.sum((x + z) ** 2)
    dx, dz = gc.grad(y, [x, z])
    assert dx.shape == ("N", 3) and dz.shape == (5, 3)
    xv, zv = np.random.default_rng(0).standard_normal((2, 5, 3))
    dxv, dzv = interp([x, z], [dx, dz])(xv, zv)
    np.testing.assert_allclose(dxv, 2 * (xv + zv), rtol=1e-14)
    np.testing.assert_allclose(dzv, 2 * (xv + zv), rtol=1e-14)
    a = gc.input("a", (3, "K"))
    w = gc.input("w", (4, 2))  # binds K = 4
    da = gc.grad(gc.sum(gc.tanh(a @ w)), a)
    assert da.shape == (3, "K")
    errs = gc.check_grad(gc.sum(gc.tanh(a @ w)), [a, w], {"a": np.random.default_rng(1).random((3, 4)),
                                                           "w": np.random.default_rng(2).random((4, 2))})
    assert max(errs.values()) < 1e-6


def test_cast_gradient_converts_back():
    x32 = gc.input("x32", (3,), "float32")
    w = gc.input("w", (3,))
    y = gc.sum(gc.cast(x32, "float64") * w)
    dx, dw = gc.grad(y, [x32, w])
    assert dx.dtype == np.float32 and dw.dtype == np.float64
    wv = np.array([0.1, 0.2, 0.3])
    dxv, dwv = interp([x32, w], [dx, dw])(np.array([1, 2, 3], np.float32), wv)
    assert dxv.dtype == np.float32
    np.testing.assert_array_equal(dxv, wv.astype(np.float32))
    np.testing.assert_array_equal(dwv, [1, 2, 3])


def test_int_inputs_get_no_gradient_but_floats_through_them_do():
    i = gc.input("i", (3,), "int64")
    x = gc.input("x", (3,))
    y = gc.sum(i * x + gc.one_hot(i, 3) @ x)
    dx = gc.grad(y, x)
    iv, xv = np.array([0, 2, 2]), np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(interp([i, x], dx)(iv, xv), iv + np.eye(3)[iv].sum(axis=0))


def test_grad_of_intermediate_and_of_output():
    x = gc.input("x", (3,))
    h = gc.tanh(x)
    y = gc.sum(h * h)
    dh, dy, dx = gc.grad(y, [h, y, x])
    xv = np.array([0.1, -0.5, 2.0])
    dhv, dyv, dxv = interp([x], [dh, dy, dx])(xv)
    np.testing.assert_allclose(dhv, 2 * np.tanh(xv))
    assert float(dyv) == 1.0
    np.testing.assert_allclose(dxv, 2 * np.tanh(xv) * (1 - np.tanh(xv) ** 2))


def test_single_wrt_gives_a_node_and_a_list_gives_a_list():
    x = gc.input("x", (3,))
    y = gc.sum(x * x)
    assert isinstance(gc.grad(y, x), gc.Node)
    assert isinstance(gc.grad(y, [x]), list) and len(gc.grad(y, [x])) == 1
    a, b = gc.grad(y, [x, x])
    np.testing.assert_array_equal(interp([x], a)(np.ones(3)), interp([x], b)(np.ones(3)))


def test_seed_is_the_upstream_gradient():
    x = gc.input("x", (3,))
    s = gc.input("s")
    y = gc.sum(gc.exp(x))
    dx = gc.grad(y, x, seed=s)
    xv = np.array([0.0, 1.0, 2.0])
    np.testing.assert_allclose(interp([x, s], dx)(xv, 3.0), 3 * np.exp(xv))


# -- gate patterns -------------------------------------------------------------------------------------------
def test_every_op_has_a_valid_gate():
    for op in REGISTRY.values():
        assert op.gate in ("distribute", "route", "switch", "sum", "unbroadcast", "local")
    assert REGISTRY["add"].gate == REGISTRY["sub"].gate == REGISTRY["sum"].gate == "distribute"
    assert REGISTRY["mul"].gate == REGISTRY["contract"].gate == "switch"
    assert REGISTRY["maximum"].gate == REGISTRY["relu"].gate == REGISTRY["max"].gate == "route"


def test_add_distributes_the_same_gradient():
    a, b, c = (gc.input(n, (3,)) for n in "abc")
    y = gc.sum((a + b) * c)
    da, db = gc.grad(y, [a, b])
    # the add gate hands its upstream gradient to both inputs unchanged: one identity
    # node per input marks it, so each variable's gradient is a node of its own
    assert da is not db and da.inputs == db.inputs
    for d, v in ((da, a), (db, b)):
        assert (d.op, d.pattern, d.of) == ("identity", "distribute", v)
    assert da.inputs[0].op == "mul" and da.inputs[0].pattern == "switch"
    # and the passes remove the marks: both gradients are then the same node
    from graphc.passes import optimize
    oa, ob = optimize([da, db])
    assert oa is ob is c  # (the seed 1 times c is c)
    dsub = gc.grad(gc.sum((a - b) * c), b)
    assert dsub.op == "neg" and dsub.pattern == "distribute" and dsub.of is b
    ys = gc.sum(a)  # the sum reduction distributes by broadcasting
    ds = gc.grad(ys, a)
    assert ds.op == "broadcast_to" and ds.pattern == "distribute"


def test_mul_switches():
    a, b = gc.input("a", (3,)), gc.input("b", (3,))
    y = gc.sum(a * b)
    da, db = gc.grad(y, [a, b])
    assert da.op == "mul" and da.pattern == "switch" and da.of is a and any(i is b for i in da.inputs)
    assert db.op == "mul" and db.pattern == "switch" and db.of is b and any(i is a for i in db.inputs)
    g = gc.to_networkx(y, da, db)
    nd = g.nodes[number_of(da, y, da, db)]
    assert (nd["role"], nd["pattern"], nd["of"]) == ("backward", "switch", number_of(a, y, da, db))


def test_matmul_switches():
    w, x = gc.input("W", (2, 3)), gc.input("x", (3,))
    dw, dx = gc.grad(gc.sum(w @ x), [w, x])
    for d, v in ((dw, w), (dx, x)):
        pats = {n.pattern for n in _backward_nodes_of(d) if n.of is v}
        assert "switch" in pats


def _backward_nodes_of(*outputs):
    return [d["node"] for _, d in gc.to_networkx(*outputs).nodes(data=True) if d["role"] == "backward"]


@pytest.mark.parametrize("build", [lambda a, b: gc.maximum(a, b), lambda a, b: gc.relu(a) + 0 * b,
                                   lambda a, b: gc.max(a + b, axis=0), lambda a, b: gc.minimum(a, b)])
def test_max_routes(build):
    a, b = gc.input("a", (3,)), gc.input("b", (3,))
    y = gc.sum(build(a, b))
    da = gc.grad(y, a)
    routes = [n for n in _backward_nodes_of(da) if n.pattern == "route"]
    assert routes, gc.show(da)
    assert da.pattern == "route" or any(n.pattern == "route" for n in da.inputs), gc.show(da)


def test_two_consumers_meet_in_an_explicit_sum_node():
    x = gc.input("x", (3,))
    e, t = gc.exp(x), gc.tanh(x)
    y = gc.sum(e * t)
    dx = gc.grad(y, x)
    assert dx.op == "add" and dx.pattern == "sum" and dx.of is x
    assert {p.of for p in dx.inputs} == {x}
    assert all(p.role == "backward" for p in dx.inputs)
    nd = gc.to_networkx(dx).nodes[number_of(dx, dx)]
    assert (nd["pattern"], nd["role"]) == ("sum", "backward")
    # x * x: one consumer, two slots: still an explicit sum
    dsq = gc.grad(gc.sum(x * x), x)
    assert dsq.op == "add" and dsq.pattern == "sum"
    # three consumers: a chain of sum nodes
    d3 = gc.grad(gc.sum(e + t + gc.sigmoid(x)), x)
    sums = [n for n in _backward_nodes_of(d3) if n.pattern == "sum"]
    assert len(sums) == 2 and all(n.op == "add" and n.of is x for n in sums)


def test_broadcasting_unbroadcasts():
    a, b = gc.input("a", (3, 4)), gc.input("b", (4,))
    y = gc.sum(a * b)
    db = gc.grad(y, b)
    assert db.shape == (4,) and db.pattern == "unbroadcast" and db.of is b
    unb = [n for n in _backward_nodes_of(db) if n.pattern == "unbroadcast"]
    assert any(n.op == "sum" for n in unb)
    col = gc.input("col", (3, 1))
    dcol = gc.grad(gc.sum(a * col), col)
    assert dcol.shape == (3, 1) and dcol.pattern == "unbroadcast" and dcol.op == "sum"
    assert dcol.attrs["axes"] == (1,) and dcol.attrs["keepdims"]
    da = gc.grad(y, a)  # no broadcast, no unbroadcast node
    assert not [n for n in _backward_nodes_of(da) if n.pattern == "unbroadcast"]


# -- ties --------------------------------------------------------------------------------------------------
def test_maximum_tie_splits_evenly():
    a, b = gc.input("a", (3,)), gc.input("b", (3,))
    da, db = gc.grad(gc.sum(gc.maximum(a, b)), [a, b])
    dav, dbv = interp([a, b], [da, db])(np.array([1.0, 2.0, 3.0]), np.array([1.0, 5.0, 0.0]))
    np.testing.assert_array_equal(dav, [0.5, 0.0, 1.0])
    np.testing.assert_array_equal(dbv, [0.5, 1.0, 0.0])
    dmin_a, dmin_b = gc.grad(gc.sum(gc.minimum(a, b)), [a, b])
    va, vb = interp([a, b], [dmin_a, dmin_b])(np.array([1.0, 2.0, 3.0]), np.array([1.0, 5.0, 0.0]))
    np.testing.assert_array_equal(va, [0.5, 1.0, 0.0])
    np.testing.assert_array_equal(vb, [0.5, 0.0, 1.0])


def test_maximum_of_x_with_itself():
    x = gc.input("x", (2,))
    dx = gc.grad(gc.sum(gc.maximum(x, x)), x)
    np.testing.assert_array_equal(interp([x], dx)(np.array([1.0, -1.0])), [1.0, 1.0])  # 0.5 + 0.5


def test_max_reduction_ties_split_evenly():
    x = gc.input("x", (2, 4))
    d_all = gc.grad(gc.max(x), x)
    d_rows = gc.grad(gc.sum(gc.max(x, axis=1) * np.array([1.0, 10.0])), x)
    xv = np.array([[3.0, 1.0, 3.0, 0.0], [7.0, 7.0, 7.0, 7.0]])
    np.testing.assert_array_equal(interp([x], d_all)(xv), [[0, 0, 0, 0], [0.25, 0.25, 0.25, 0.25]])
    np.testing.assert_array_equal(interp([x], d_rows)(xv), [[0.5, 0, 0.5, 0], [2.5, 2.5, 2.5, 2.5]])


def test_relu_derivative_at_zero_is_zero():
    x = gc.input("x", (3,))
    dx = gc.grad(gc.sum(gc.relu(x)), x)
    np.testing.assert_array_equal(interp([x], dx)(np.array([-1.0, 0.0, 2.0])), [0.0, 0.0, 1.0])
    # and abs'(0) = sign(0) = 0, leaky_relu'(0) = alpha
    np.testing.assert_array_equal(interp([x], gc.grad(gc.sum(gc.abs(x)), x))(np.array([-1.0, 0.0, 2.0])),
                                  [-1.0, 0.0, 1.0])
    np.testing.assert_allclose(interp([x], gc.grad(gc.sum(gc.leaky_relu(x, 0.1)), x))(np.array([-1.0, 0.0, 2.0])),
                               [0.1, 0.1, 1.0])


# -- only what is needed -------------------------------------------------------------------------------------
def test_unrelated_branches_get_no_backward_nodes():
    a, b, c = gc.input("a", (3, 4)), gc.input("b", (3, 4)), gc.input("c", (3, 4))
    branch = gc.sum(gc.exp(gc.tanh(c)) * b)
    y_plain = gc.sum(a * b)
    y = y_plain + branch
    da = gc.grad(y, a)
    da_plain = gc.grad(y_plain, a)
    bw = _backward_nodes_of(da)
    bw_plain = _backward_nodes_of(da_plain)
    # seed, reshape + broadcast_to (the sum), mul (the switch); y's add distributes to y_plain
    assert len(bw_plain) == 4 and len(bw) == 5
    assert Counter(n.op for n in bw) == Counter(n.op for n in bw_plain) + Counter(["identity"])
    branch_nodes = {d["node"] for _, d in gc.to_networkx(branch).nodes(data=True)} - {b}
    assert len(branch_nodes) == 5 and not [n for n in bw if n.of in branch_nodes]
    # and nothing of the branch is even an ancestor of the gradient
    assert not branch_nodes & {d["node"] for _, d in gc.to_networkx(da).nodes(data=True)}
    # a gradient w.r.t. both builds the branch's VJPs once
    da2, dc = gc.grad(y, [a, c])
    assert [n for n in _backward_nodes_of(dc) if n.of in branch_nodes]
    assert not [n for n in _backward_nodes_of(da2) if n.of in branch_nodes]


def test_no_vjp_for_nodes_off_the_path():
    x, w = gc.input("x", (3,)), gc.input("w", (3,))
    # tanh(x) feeds y but x is not a variable: no VJP for tanh or exp should appear
    y = gc.sum(gc.exp(gc.tanh(x)) * w)
    dw = gc.grad(y, w)
    ofs = {n.of.op for n in _backward_nodes_of(dw)}
    assert "tanh" not in ofs and "exp" not in ofs and "input" in ofs
    assert dw.op == "mul" and dw.pattern == "switch"


def test_disconnected_gives_zeros_of_its_shape():
    a = gc.input("a", (3,))
    b = gc.input("b", ("N", 2))
    s = gc.input("s", (), "float32")
    y = gc.sum(a * a)
    da, db, ds = gc.grad(y, [a, b, s])
    assert db.shape == ("N", 2) and db.dtype == np.float64
    assert ds.shape == () and ds.dtype == np.float32
    dav, dbv, dsv = interp([a, b, s], [da, db, ds])(np.ones(3), np.ones((5, 2)), np.float32(1))
    np.testing.assert_array_equal(dbv, np.zeros((5, 2)))
    assert dsv.dtype == np.float32 and dsv.shape == () and dsv == 0
    # only through a comparison: no gradient flows
    dc = gc.grad(gc.sum(a * gc.sum(gc.greater(b, 0.0))), b)
    np.testing.assert_array_equal(interp([a, b], dc)(np.ones(3), np.ones((2, 2))), np.zeros((2, 2)))
    with pytest.raises(gc.GraphError):
        gc.grad(y, [a, b], disconnected="raise")


# -- higher order ------------------------------------------------------------------------------------------
def test_second_and_third_derivative_of_cube():
    x = gc.input("x")
    y = x ** 3
    d1 = gc.grad(y, x)
    d2 = gc.grad(d1, x)
    d3 = gc.grad(d2, x)
    v = interp([x], [d1, d2, d3])(2.0)
    assert [float(t) for t in v] == [12.0, 12.0, 6.0]


def test_second_derivative_of_tanh_and_sigmoid():
    x = gc.input("x", (4,))
    xv = np.array([-1.5, -0.2, 0.3, 2.0])
    t = np.tanh(xv)
    d2t = gc.grad(gc.sum(gc.grad(gc.sum(gc.tanh(x)), x)), x)
    np.testing.assert_allclose(interp([x], d2t)(xv), -2 * t * (1 - t * t), rtol=1e-13)
    s = 1 / (1 + np.exp(-xv))
    d2s = gc.grad(gc.sum(gc.grad(gc.sum(gc.sigmoid(x)), x)), x)
    np.testing.assert_allclose(interp([x], d2s)(xv), s * (1 - s) * (1 - 2 * s), rtol=1e-13)


def w1_graph(n="N", d_in=1000, hidden=100, d_out=10):
    x = gc.input("x", (n, d_in))
    y = gc.input("y", (n, d_out))
    w1 = gc.input("w1", (d_in, hidden))
    w2 = gc.input("w2", (hidden, d_out))
    h = gc.sigmoid(x @ w1)
    loss = gc.sum((h @ w2 - y) ** 2)
    return (x, y, w1, w2), loss


def w1_values(n, d_in, hidden, d_out, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, d_in)), rng.standard_normal((n, d_out)),
            rng.standard_normal((d_in, hidden)) * 1e-1, rng.standard_normal((hidden, d_out)) * 1e-1)


def test_w1_hessian_vector_product():
    (x, y, w1, w2), loss = w1_graph(d_in=5, hidden=3, d_out=2)
    v1, v2 = gc.input("v1", (5, 3)), gc.input("v2", (3, 2))
    g1, g2 = gc.grad(loss, [w1, w2])
    hvp = gc.grad(gc.sum(g1 * v1) + gc.sum(g2 * v2), [w1, w2])
    assert hvp[0].shape == (5, 3) and hvp[1].shape == (3, 2)
    xv, yv, w1v, w2v = w1_values(4, 5, 3, 2)
    rng = np.random.default_rng(7)
    v1v, v2v = rng.standard_normal((5, 3)), rng.standard_normal((3, 2))
    got = interp([x, y, w1, w2, v1, v2], hvp)(xv, yv, w1v, w2v, v1v, v2v)
    grad_f = interp([x, y, w1, w2], [g1, g2])
    h = 1e-3  # the derivative of the gradient along v by the fourth-order stencil

    def grads_at(t):
        return grad_f(xv, yv, w1v + t * v1v, w2v + t * v2v)

    gp2, gp1, gm1, gm2 = (grads_at(t) for t in (2 * h, h, -h, -2 * h))
    for k in range(2):
        numeric = (-gp2[k] + 8 * gp1[k] - 8 * gm1[k] + gm2[k]) / (12 * h)
        assert relative_error(got[k], numeric) <= 1e-6


def test_w1_forward_and_gradients_match_numpy():
    (x, y, w1, w2), loss = w1_graph()
    dw1, dw2 = gc.grad(loss, [w1, w2])
    xv, yv, w1v, w2v = w1_values(64, 1000, 100, 10)
    lv, dw1v, dw2v = interp([x, y, w1, w2], [loss, dw1, dw2])(xv, yv, w1v, w2v)
    h = 1 / (1 + np.exp(-(xv @ w1v)))
    scores = h @ w2v
    ref_loss = np.sum((scores - yv) ** 2)
    dscores = 2 * (scores - yv)
    ref_dw2 = h.T @ dscores
    ref_dw1 = xv.T @ ((dscores @ w2v.T) * h * (1 - h))
    assert abs(float(lv) - ref_loss) <= 1e-12 * abs(ref_loss)
    for got, ref in ((dw1v, ref_dw1), (dw2v, ref_dw2)):
        assert got.shape == ref.shape
        assert np.max(np.abs(got - ref)) <= 1e-12 * np.max(np.abs(ref))


# -- property-based: random compositions over random broadcast shapes ---------------------------------------
SMOOTH_UNARY = {
    "neg": (gc.neg, np.negative),
    "tanh": (gc.tanh, np.tanh),
    "sigmoid": (gc.sigmoid, lambda v: 1 / (1 + np.exp(-v))),
    "exp_tanh": (lambda u: gc.exp(gc.tanh(u)), lambda v: np.exp(np.tanh(v))),
    "square": (lambda u: u * u, lambda v: v * v),
    "log1p_sq": (lambda u: gc.log(1.0 + u * u), lambda v: np.log(1 + v * v)),
    "sqrt1p_sq": (lambda u: gc.sqrt(1.0 + u ** 2), lambda v: np.sqrt(1 + v ** 2)),
    "scale": (lambda u: 0.5 * u - 1, lambda v: 0.5 * v - 1),
    "elu_negative": (lambda u: gc.elu(-1.0 - u * u, alpha=0.5),  # the exp branch only: smooth
                     lambda v: 0.5 * (np.exp(-1 - v * v) - 1)),
}
KINKED_UNARY = {
    "relu": (gc.relu, lambda v: np.maximum(v, 0)),
    "abs": (gc.abs, np.abs),
    "leaky": (lambda u: gc.leaky_relu(u, 0.1), lambda v: np.where(v > 0, v, 0.1 * v)),
    "elu": (gc.elu, lambda v: np.where(v > 0, v, np.expm1(v))),
}
SMOOTH_BINARY = {
    "add": (gc.add, np.add),
    "sub": (gc.sub, np.subtract),
    "mul": (gc.mul, np.multiply),
    "div": (lambda a, b: a / (1.0 + b * b), lambda a, b: a / (1 + b * b)),
    "pow": (lambda a, b: gc.sigmoid(a) ** gc.tanh(b), lambda a, b: (1 / (1 + np.exp(-a))) ** np.tanh(b)),
}
KINKED_BINARY = {
    "maximum": (gc.maximum, np.maximum),
    "minimum": (gc.minimum, np.minimum),
    "where": (lambda a, b: gc.where(gc.greater(a, b), a * b, a - b), lambda a, b: np.where(a > b, a * b, a - b)),
}
NP_SOFTMAX = {"softmax": (gc.softmax, lambda v, ax: np.exp(v - v.max(ax, keepdims=True))
                          / np.exp(v - v.max(ax, keepdims=True)).sum(ax, keepdims=True)),
              "log_softmax": (gc.log_softmax, lambda v, ax: v - v.max(ax, keepdims=True)
                              - np.log(np.exp(v - v.max(ax, keepdims=True)).sum(ax, keepdims=True)))}
REDUCE = {"sum": (gc.sum, np.sum), "mean": (gc.mean, np.mean)}
KINKED_REDUCE = {"max": (gc.max, np.max)}


@st.composite
def programs(draw, kinks: bool):
    """(base shape, leaf shapes, expression tree): leaves broadcast to the base shape, and
    every subexpression keeps a shape that broadcasts to it (reductions keep dims)."""
    rank = draw(st.integers(1, 3))
    base = tuple(draw(st.sampled_from([2, 3, "N", 1])) for _ in range(rank))
    n_leaves = draw(st.integers(1, 3))
    leaves = [base]  # one leaf of the full shape, the others broadcast against it
    for _ in range(n_leaves - 1):
        k = draw(st.integers(0, rank))
        leaves.append(tuple(d if draw(st.booleans()) else 1 for d in base[rank - k:]))
    unary = {**SMOOTH_UNARY, **(KINKED_UNARY if kinks else {})}
    binary = {**SMOOTH_BINARY, **(KINKED_BINARY if kinks else {})}
    reduce = {**REDUCE, **(KINKED_REDUCE if kinks else {})}

    def expr(depth):
        choices = ["leaf"] if depth == 0 else ["binary", "unary", "binary", "reduce", "softmax", "leaf"]
        kind = draw(st.sampled_from(choices))
        if kind == "leaf":
            return ("leaf", draw(st.integers(0, n_leaves - 1)))
        if kind == "unary":
            return ("unary", draw(st.sampled_from(sorted(unary))), expr(depth - 1))
        if kind == "binary":
            return ("binary", draw(st.sampled_from(sorted(binary))), expr(depth - 1), expr(depth - 1))
        sub = expr(depth - 1)
        ndim = _ndim(sub, leaves)
        if ndim == 0:
            return sub
        axis = draw(st.integers(-ndim, ndim - 1))
        if kind == "reduce":
            return ("reduce", draw(st.sampled_from(sorted(reduce))), sub, axis)
        return ("softmax", draw(st.sampled_from(sorted(NP_SOFTMAX))), sub, axis)

    return base, leaves, expr(draw(st.integers(2, 4))), (unary, binary, reduce)


def _ndim(tree, leaves):
    if tree[0] == "leaf":
        return len(leaves[tree[1]])
    if tree[0] == "binary":
        return max(_ndim(tree[2], leaves), _ndim(tree[3], leaves))
    return _ndim(tree[2], leaves)


def _build(tree, nodes, tables):
    unary, binary, reduce = tables
    kind = tree[0]
    if kind == "leaf":
        return nodes[tree[1]]
    if kind == "unary":
        return unary[tree[1]][0](_build(tree[2], nodes, tables))
    if kind == "binary":
        return binary[tree[1]][0](_build(tree[2], nodes, tables), _build(tree[3], nodes, tables))
    if kind == "reduce":
        return reduce[tree[1]][0](_build(tree[2], nodes, tables), axis=tree[3], keepdims=True)
    return NP_SOFTMAX[tree[1]][0](_build(tree[2], nodes, tables), axis=tree[3])


def _numpy(tree, arrays, tables):
    unary, binary, reduce = tables
    kind = tree[0]
    if kind == "leaf":
        return arrays[tree[1]]
    if kind == "unary":
        return unary[tree[1]][1](_numpy(tree[2], arrays, tables))
    if kind == "binary":
        return binary[tree[1]][1](_numpy(tree[2], arrays, tables), _numpy(tree[3], arrays, tables))
    if kind == "reduce":
        return reduce[tree[1]][1](_numpy(tree[2], arrays, tables), axis=tree[3], keepdims=True)
    return NP_SOFTMAX[tree[1]][1](_numpy(tree[2], arrays, tables), tree[3])


PROPERTY = settings(max_examples=50, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _setup(program, seed):
    base, leaves, tree, tables = program
    nodes = [gc.input(f"l{i}", s) for i, s in enumerate(leaves)]
    out = _build(tree, nodes, tables)
    r = gc.input("r", base)
    loss = gc.sum(out * r)
    rng = np.random.default_rng(seed)
    dims = {"N": 2}
    arrays = [rng.standard_normal(bind(s, dims)) for s in leaves]
    rv = rng.standard_normal(bind(base, dims))
    return base, tree, tables, nodes, out, r, loss, arrays, rv


@PROPERTY
@given(programs(kinks=True), st.integers(0, 2 ** 16))
def test_property_interpreter_matches_numpy(program, seed):
    base, tree, tables, nodes, out, r, loss, arrays, rv = _setup(program, seed)
    with np.errstate(all="ignore"):
        expected = _numpy(tree, arrays, tables)
        got = interp(nodes, out)(*arrays)
    assert got.shape == np.shape(expected)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@PROPERTY
@given(programs(kinks=False), st.integers(0, 2 ** 16))
def test_property_gradients_match_finite_differences(program, seed):
    base, tree, tables, nodes, out, r, loss, arrays, rv = _setup(program, seed)
    grads = gc.grad(loss, nodes)
    for n, g in zip(nodes, grads):
        assert g.shape == n.shape
    analytic = interp([*nodes, r], grads)(*arrays, rv)
    f = interp([*nodes, r], loss)
    rng = np.random.default_rng(seed + 1)
    h = 1e-3
    for k, a in enumerate(analytic):
        assert a.shape == arrays[k].shape
        # the directional derivative along a random direction, by the fourth-order stencil
        v = rng.standard_normal(arrays[k].shape)
        v /= np.linalg.norm(v)

        def along(t, k=k, v=v):
            args = [*arrays, rv]
            args[k] = arrays[k] + t * v
            return float(f(*args))

        values = [along(t * h) for t in (2, 1, -1, -2)]
        numeric = (-values[0] + 8 * values[1] - 8 * values[2] + values[3]) / (12 * h)
        # relative to the size of the terms of the directional derivative, so that a sum that
        # cancels does not make a correct gradient look wrong; and no finer than the rounding
        # of the stencil (18 ulps of the loss over 12h), which bounds a gradient that is 0
        scale = max(float(np.sum(np.abs(a * v))), abs(numeric))
        rounding = 18 * np.finfo(np.float64).eps * max(abs(x) for x in values) / (12 * h)
        err = abs(float(np.sum(a * v)) - numeric)
        assert err <= 1e-6 * scale + rounding + 1e-12, (err, scale, rounding, gc.show(loss))


@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(programs(kinks=True), st.integers(0, 2 ** 16))
def test_property_compiled_matches_interpreted(program, seed):
    """The random programs, with their gradients, through the Numba backend: the same
    values as the interpreter to 1e-12 relative (few examples: each compiles a kernel)."""
    base, tree, tables, nodes, out, r, loss, arrays, rv = _setup(program, seed)
    outputs = [out, loss, *gc.grad(loss, nodes)]
    with np.errstate(all="ignore"):
        want = interp([*nodes, r], outputs)(*arrays, rv)
        got = gc.compile([*nodes, r], outputs)(*arrays, rv)
    for g, w in zip(got, want):
        assert np.shape(g) == np.shape(w)
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12 * max(1.0, float(np.nanmax(np.abs(w)))),
                                   err_msg=gc.show(*outputs))


# -- table sanity: the property strategy and the FD helper can fail ------------------------------------------------
def test_finite_difference_helper_is_accurate():
    f = lambda x: float(np.sum(np.sin(x) * x))  # noqa: E731
    x = np.array([0.3, -1.2, 2.0])
    np.testing.assert_allclose(finite_difference(f, [x], 0), np.sin(x) + x * np.cos(x), rtol=1e-10)
    assert relative_error(np.array([1.0]), np.array([1.0 + 1e-5])) > 1e-6


def test_dims_default():
    assert DIMS["N"] > 1  # named dims bound to 1 would hide broadcasting mistakes


@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(programs(kinks=False), st.integers(0, 2 ** 16))
def test_property_second_order_matches_finite_differences(program, seed):
    """The backward graph differentiates again: v.H.v from grad(grad . v) equals the
    derivative of the (analytic) directional derivative grad(x + t v) . v at t = 0."""
    base, tree, tables, nodes, out, r, loss, arrays, rv = _setup(program, seed)
    vs = [gc.input(f"v{i}", n.shape) for i, n in enumerate(nodes)]
    grads = gc.grad(loss, nodes)
    directional = gc.sum(grads[0] * vs[0])
    for g, v in zip(grads[1:], vs[1:]):
        directional = directional + gc.sum(g * v)
    hv = gc.grad(directional, nodes)
    for n, h_ in zip(nodes, hv):
        assert h_.shape == n.shape
    rng = np.random.default_rng(seed + 2)
    vv = [rng.standard_normal(a.shape) for a in arrays]
    norm = np.sqrt(sum(float(np.sum(v * v)) for v in vv))
    vv = [v / norm for v in vv]
    every = [*nodes, r, *vs]
    hvv = interp(every, hv)(*arrays, rv, *vv)
    vhv = sum(float(np.sum(a * v)) for a, v in zip(hvv, vv))
    d1 = interp(every, directional)
    h = 1e-3
    values = [float(d1(*[a + t * h * v for a, v in zip(arrays, vv)], rv, *vv)) for t in (2, 1, -1, -2)]
    numeric = (-values[0] + 8 * values[1] - 8 * values[2] + values[3]) / (12 * h)
    scale = max(sum(float(np.sum(np.abs(a * v))) for a, v in zip(hvv, vv)), abs(numeric))
    rounding = 18 * np.finfo(np.float64).eps * max(abs(x) for x in values) / (12 * h)
    # (+1e-12: a second derivative that is 0 is computed from O(1) terms that cancel to ~1e-16)
    assert abs(vhv - numeric) <= 1e-6 * scale + rounding + 1e-12, (vhv, numeric, gc.show(loss))
