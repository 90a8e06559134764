"""The optimization passes: what each rewrite produces, and that values never change."""

from __future__ import annotations

import numpy as np

import graphc as gc
from graphc.ir.graph import order
from graphc.passes import optimize


def ops_of(outputs):
    return [n.op for n in order(outputs)]


def same_values(inputs, outputs, optimized, args):
    want = gc.compile(inputs, outputs, backend="interpret")(*args)
    got = gc.compile(inputs, optimized, backend="interpret")(*args)
    for w, g in zip(want, got):
        np.testing.assert_allclose(g, w, rtol=1e-15)


def test_uniform_constants_stay_scalars():
    # d(sum(r**2))/dr = 2 * r: the seed broadcast to r's shape and times 2 is uniform,
    # so it must stay one number, not become a (64, 10) array constant
    r = gc.input("r", shape=(64, 10))
    (dr,) = gc.grad(gc.sum(r**2), [r])
    opt = optimize([dr])
    consts = [n for n in order(opt) if n.op == "const"]
    assert consts and all(c.shape == () for c in consts), gc.show(*opt)
    same_values([r], [dr], opt, [np.random.default_rng(0).standard_normal((64, 10))])


def test_folding_a_non_uniform_constant_keeps_the_array():
    x = gc.input("x", shape=(3,))
    out = x * (np.array([1.0, 2.0, 3.0]) * 2.0)
    (opt,) = optimize([out])
    (const,) = [n for n in order([opt]) if n.op == "const"]
    np.testing.assert_array_equal(const.attrs["value"], [2.0, 4.0, 6.0])


def test_nested_broadcasts_collapse():
    s = gc.input("s")
    (opt,) = optimize([gc.broadcast_to(gc.broadcast_to(s, (3,)), (4, 3))])
    assert opt.op == "broadcast_to" and opt.inputs[0] is s and opt.shape == (4, 3)


def test_pow_by_small_integers_becomes_products():
    x = gc.input("x", shape=(5,))
    (opt,) = optimize([x**2 + x**3])
    assert "pow" not in ops_of([opt])
    same_values([x], [x**2 + x**3], [opt], [np.linspace(-2, 2, 5)])


def test_common_subexpressions_are_merged():
    x = gc.input("x", shape=(5,))
    a, b = gc.tanh(x) * 2.0, gc.tanh(x) * 2.0
    (opt,) = optimize([a + b])
    assert ops_of([opt]).count("tanh") == 1 and ops_of([opt]).count("mul") <= 1


def test_identity_operands_are_dropped():
    x = gc.input("x", shape=(5,))
    (opt,) = optimize([(x * 1.0 + -0.0) / 1.0 - 0.0])
    assert opt is x
    (kept,) = optimize([x + 0.0])  # -0.0 + 0.0 is 0.0: not x
    assert kept.op == "add"


def test_the_gate_marks_are_removed_before_code_generation():
    # W1's backward graph marks where add, sub and the sum hand gradients on unchanged;
    # the optimized graph (what the kernel computes) has none of those identity nodes
    x, y = gc.input("x", ("N", 8)), gc.input("y", ("N", 3))
    w1, w2 = gc.input("w1", (8, 5)), gc.input("w2", (5, 3))
    loss = gc.sum((gc.sigmoid(x @ w1) @ w2 - y) ** 2)
    grads = gc.grad(loss, [w1, w2])
    assert "identity" in ops_of(grads)
    assert "identity" not in ops_of(optimize([loss, *grads]))
