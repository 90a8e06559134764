"""compile_grad: the lecture's forward()/backward() pair, its tape, and no global state."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import graphc as gc


def two_layer_net(dtype="float64"):
    x = gc.input("x", shape=("N", 20), dtype=dtype)
    y = gc.input("y", shape=("N", 3), dtype=dtype)
    w1 = gc.input("w1", shape=(20, 8), dtype=dtype)
    w2 = gc.input("w2", shape=(8, 3), dtype=dtype)
    h = gc.sigmoid(x @ w1)
    loss = gc.sum((h @ w2 - y) ** 2)
    return [x, y, w1, w2], loss, [w1, w2]


def data(n, seed, dtype="float64"):
    r = np.random.default_rng(seed)
    shapes = [(n, 20), (n, 3), (20, 8), (8, 3)]
    return [r.standard_normal(s).astype(dtype) for s in shapes]


def reference(inputs, loss, wrt, values):
    f = gc.compile(inputs, [loss, *gc.grad(loss, wrt)], backend="interpret")
    out = f(*values)
    return out[0], out[1:]


@pytest.mark.parametrize("backend", ["numba", "interpret"])
def test_forward_backward_matches_grad(backend):
    inputs, loss, wrt = two_layer_net()
    step = gc.compile_grad(loss, inputs=inputs, wrt=wrt, backend=backend)
    values = data(5, 0)
    want_loss, want_grads = reference(inputs, loss, wrt, values)
    loss_v, tape = step.forward(*values)
    grads = step.backward(tape)
    np.testing.assert_allclose(loss_v, want_loss, rtol=1e-12)
    for g, w in zip(grads, want_grads):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)
    both_loss, both_grads = step(*values)
    np.testing.assert_allclose(both_loss, want_loss, rtol=1e-12)
    np.testing.assert_allclose(both_grads[0], want_grads[0], rtol=1e-12, atol=1e-12)


def test_upstream_gradient_scales_the_gradients():
    inputs, loss, wrt = two_layer_net()
    step = gc.compile_grad(loss, inputs=inputs, wrt=wrt)
    values = data(4, 1)
    _, tape = step.forward(*values)
    ones = step.backward(tape)
    halves = step.backward(tape, upstream=0.5)
    for a, b in zip(ones, halves):
        np.testing.assert_allclose(b, 0.5 * a, rtol=1e-13)


def test_tape_holds_only_what_backward_needs():
    # W2-like: every saved value can be recomputed from x, so the tape holds the inputs only
    x = gc.input("x", shape=(100,))
    a, b = gc.input("a"), gc.input("b")
    loss = gc.sum(gc.sigmoid(a * x + b) * gc.tanh(x) + gc.maximum(x, 0.1 * x))
    step = gc.compile_grad(loss, inputs=[x, a, b], wrt=[x, a, b])
    assert {n.label for n in step.partition.tape} == {"x", "a", "b"}
    # the two-layer net never recomputes a forward matmul in the backward kernel
    inputs, loss2, wrt = two_layer_net()
    step2 = gc.compile_grad(loss2, inputs=inputs, wrt=wrt)
    p = step2.partition
    forward_matmuls = {n for n in gc.ir.order([p.forward_outputs[0]]) if n.op == "contract"}
    recomputed = set(gc.ir.graph.between(p.backward_outputs, [*p.tape, step2.upstream]))
    assert forward_matmuls and not forward_matmuls & recomputed


def test_tapes_are_independent_and_thread_safe():
    inputs, loss, wrt = two_layer_net()
    step = gc.compile_grad(loss, inputs=inputs, wrt=wrt)
    batches = [data(3 + k, 10 + k) for k in range(6)]
    expected = [reference(inputs, loss, wrt, b)[1] for b in batches]
    tapes = [step.forward(*b)[1] for b in batches]
    for k in reversed(range(len(batches))):  # any order
        for g, w in zip(step.backward(tapes[k]), expected[k]):
            np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)
    errors = []

    def worker(k):
        try:
            for _ in range(20):
                loss_v, tape = step.forward(*batches[k])
                for g, w in zip(step.backward(tape), expected[k]):
                    np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(len(batches))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_backward_rejects_a_foreign_tape():
    inputs, loss, wrt = two_layer_net()
    a = gc.compile_grad(loss, inputs=inputs, wrt=wrt, backend="interpret")
    b = gc.compile_grad(loss, inputs=inputs, wrt=wrt, backend="interpret")
    _, tape = a.forward(*data(2, 0))
    with pytest.raises(gc.ArgumentError, match="Tape made by this step"):
        b.backward(tape)
    with pytest.raises(gc.ArgumentError):
        a.backward(tape, upstream=np.ones(2))


def test_named_dim_only_in_the_reduction_reaches_backward():
    # mean over N: the backward needs N but x itself is not on the tape
    x = gc.input("x", shape=("N",))
    loss = gc.mean(x)
    step = gc.compile_grad(loss, inputs=[x], wrt=[x])
    for n in (2, 7):
        loss_v, grads = step(np.arange(n, dtype=float))
        np.testing.assert_allclose(grads[0], np.full(n, 1.0 / n))


def test_float32_step():
    inputs, loss, wrt = two_layer_net("float32")
    step = gc.compile_grad(loss, inputs=inputs, wrt=wrt)
    values = data(4, 2, "float32")
    loss_v, grads = step(*values)
    assert np.asarray(loss_v).dtype == np.float32 and all(g.dtype == np.float32 for g in grads)
    want_loss, want = reference(inputs, loss, wrt, values)
    np.testing.assert_allclose(grads[0], want[0], rtol=1e-4, atol=1e-5)
