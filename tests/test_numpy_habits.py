"""NumPy habits on graphc nodes, written as a NumPy user writes them.

Each idiom runs on both backends; values are checked against the same code run by NumPy
on arrays, gradients against finite differences of that NumPy code. The CS231n
assignment 2 layers below are the assignment's NumPy code: the very same functions run
on arrays (the reference) and on graphc nodes (NumPy hands the nodes to graphc through
``__array_function__`` / ``__array_ufunc__``), with ``np.random`` replaced by a key.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest
from opcases import finite_difference, relative_error

import graphc as gc

BACKENDS = ("interpret", "numba")


def check(fn_np: Callable, fn_gc: Callable | None, arrays: Sequence[np.ndarray], shapes: Sequence[tuple],
          wrt: Sequence[int] = (), backends: Sequence[str] = BACKENDS, seed: int = 0, tol: float = 1e-7,
          dtypes: Sequence[str] | None = None) -> gc.Node:
    """fn_gc on input nodes of ``shapes`` (fn_np itself when None) against fn_np on ``arrays``:
    the value, and the gradients of sum(out * r) for the inputs ``wrt`` against fourth-order central
    differences of the NumPy function, on every backend. Returns the output node."""
    dtypes = dtypes or ["float64"] * len(shapes)
    nodes = [gc.input(f"a{k}", s, dtype=d) for k, (s, d) in enumerate(zip(shapes, dtypes))]
    out = (fn_gc or fn_np)(*nodes)
    want = fn_np(*arrays)
    rv = np.random.default_rng(seed).standard_normal(np.shape(want))
    r = gc.input("r", out.shape)
    grads = gc.grad(gc.sum(out * r), [nodes[k] for k in wrt]) if wrt else []
    numeric = [finite_difference(lambda *a: np.sum(fn_np(*a) * rv), arrays, k) for k in wrt]
    for backend in backends:
        got = gc.compile([*nodes, r], [out, *grads], backend=backend)(*arrays, rv)
        np.testing.assert_allclose(got[0], want, rtol=1e-12, atol=1e-12, err_msg=backend)
        for k, g, n in zip(wrt, got[1:], numeric):
            # gradients below 1e-3 compare absolutely (normalized layers make tiny ones)
            assert relative_error(g, n, floor=1e-3) < tol, (backend, k, relative_error(g, n, floor=1e-3))
    return out


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


# -- the idioms, one row of the table each ---------------------------------------------------------------
def test_methods(rng):
    def f(x, w):
        h = x.reshape(x.shape[0], -1).dot(w)  # (N, 2, 3) -> (N, 6) @ (6, 4)
        centered = h - h.mean(axis=0)
        return centered.transpose(1, 0).sum(axis=1) + h.var(axis=0) + h.T.std(axis=1, ddof=1) + h.max(0) * h.min(0)

    check(f, None, [rng.standard_normal((5, 2, 3)), rng.standard_normal((6, 4))], [("N", 2, 3), (6, 4)],
          wrt=(0, 1))


def test_numpy_functions_on_nodes(rng):
    def f(x, w):
        h = np.maximum(0, np.dot(x, w))
        return np.sum(np.exp(-h) + np.sqrt(h + 1.0), axis=1) + np.mean(np.tanh(np.matmul(x, w)), axis=1)

    out = check(f, None, [rng.standard_normal((4, 3)), rng.standard_normal((3, 5))], [("N", 3), (3, 5)],
                wrt=(0, 1))
    assert isinstance(out, gc.Node)


def test_numpy_shape_functions_on_nodes(rng):
    def f(x):
        col = np.expand_dims(np.sum(x, axis=1), 1)  # (N, 1)
        return np.squeeze(np.expand_dims(x - col, (0, -1))) + np.ones_like(x) * 2 + np.zeros_like(x) \
            + np.full_like(x, 0.5) * np.ndim(x)

    out = check(f, None, [rng.standard_normal((4, 3))], [("N", 3)], wrt=(0,))
    assert out.shape == ("N", 3) and np.shape(out) == ("N", 3)
    x = gc.input("x", ("N", 3))
    assert np.ones_like(x, dtype=np.float32).dtype == np.float32 and isinstance(np.size(x), gc.Node)
    with pytest.raises(gc.ShapeError, match=r"squeeze: axis 1 of x \(N, 3\) has size 3, not 1"):
        np.squeeze(x, 1)
    with pytest.raises(gc.GraphError, match=r"np.zeros_like: graphc's np.zeros_like .* has no argument 'order'"):
        np.zeros_like(x, order="F")


def test_numpy_array_with_a_node_gives_a_node(rng):
    c = rng.standard_normal((2, 3))
    out = check(lambda x: c + x * c - (c == x) + (c @ x.T) @ c, None, [rng.standard_normal((2, 3))], [(2, 3)], wrt=(0,))
    assert isinstance(out, gc.Node)


def test_comparisons_give_zero_one_nodes(rng):
    def f(x):
        return (x > 0) * x + (x <= -0.5) * 2.0 + (x == 1.0) + (x != 0.25)

    check(f, None, [np.array([[-1.0, -0.5, 0.25, 1.0], [0.5, 2.0, -2.0, 0.0]])], [(2, 4)])  # at the thresholds
    check(f, None, [np.array([[-1.1, -0.4, 0.3, 1.2], [0.6, 2.0, -2.0, 0.1]])], [(2, 4)], wrt=(0,),
          backends=("interpret",))  # comparisons pass no gradient: only (x > 0) * x's x does


def test_builtin_max_and_truth_values_name_the_graphc_function():
    x = gc.input("x", (3,))
    with pytest.raises(gc.SymbolicError, match="gc.maximum"):
        max(0, x)
    with pytest.raises(gc.SymbolicError, match="gc.where"):
        if x > 0:
            pass
    assert isinstance(gc.SymbolicError("m"), TypeError)
    for convert in (np.asarray, float, int):  # not an object array, not a number
        with pytest.raises(gc.SymbolicError, match="no value until the graph runs; compile it"):
            convert(x)


def test_nodes_stay_dict_keys_and_set_members():
    a, b = gc.input("a", (3,)), gc.input("b", (4,))
    assert {a: 1, b: 2}[b] == 2 and len({a, b, a}) == 2
    assert isinstance(a == b.sum(), gc.Node)  # a comparison, never a bool...
    assert (a == None) is False and (a != "a") is True  # noqa: E711 - ...unless the other side is no array
    # graphs that reuse a node in many places still build, differentiate and compile
    loss = gc.sum(a * a) + gc.sum(b) * gc.sum(a)
    f = gc.compile([a, b], [loss, *gc.grad(loss, [a, b])], backend="interpret")
    av, bv = np.arange(3.0), np.ones(4)
    got = f(av, bv)
    np.testing.assert_allclose(got[1], 2 * av + 4.0)
    np.testing.assert_allclose(got[2], np.full(4, 3.0))


def test_missing_numpy_functions_name_themselves(monkeypatch):
    x = gc.input("x", (2, 3))
    for call, name in ((lambda: np.cumsum(x), "np.cumsum"), (lambda: np.sin(x), "np.sin"),
                       (lambda: np.linalg.norm(x), "np.linalg.norm"),
                       (lambda: np.add.accumulate(x), "np.add.accumulate"), (lambda: np.where(x), "np.where"),
                       (lambda: np.sum(x, dtype=np.float32), "np.sum: graphc's gc.sum has no argument 'dtype'"),
                       (lambda: np.exp(x, out=np.empty((2, 3))), "np.exp: out= cannot write")):
        with pytest.raises(gc.GraphError, match=name.replace(".", r"\.")):
            call()
    # np.concatenate goes to gc.concatenate, looked up when called
    monkeypatch.delattr(gc, "concatenate", raising=False)
    with pytest.raises(gc.GraphError, match=r"np\.concatenate: graphc has no gc\.concatenate"):
        np.concatenate([x, x])
    monkeypatch.setattr(gc, "concatenate", lambda arrays, axis=0: ("called", len(arrays), axis), raising=False)
    assert np.concatenate([x, x], axis=1) == ("called", 2, 1)


def test_more_ops(rng):
    def f(x):
        return (np.clip(x, -0.5, 0.5) + gc.softplus(x) + gc.logsumexp(x, axis=1, keepdims=True) + np.square(x)
                + np.log1p(np.abs(x)) + np.expm1(x) + np.abs(x))

    def ref(x):
        m = x.max(axis=1, keepdims=True)
        return (np.clip(x, -0.5, 0.5) + np.logaddexp(0, x) + m + np.log(np.exp(x - m).sum(axis=1, keepdims=True))
                + np.square(x) + np.log1p(np.abs(x)) + np.expm1(x) + np.abs(x))

    x = rng.choice([-1.0, 1.0], (3, 4)) * rng.uniform(0.2, 2.0, (3, 4))
    check(ref, f, [x], [(3, 4)], wrt=(0,))


def test_symbolic_batch_size(rng):
    def f(x):
        return np.sum(x * x) / x.shape[0]  # the batch mean of a named N

    out = check(f, None, [rng.standard_normal((5, 3))], [("N", 3)], wrt=(0,))
    assert "numel" in gc.show(out)
    x = gc.input("x", ("N", 3))
    n = x.shape[0]
    assert n == "N" and gc.input("y", (n, 4)).shape == ("N", 4) and x.reshape(n, 3, 1).shape == ("N", 3, 1)
    assert isinstance(n * 2, gc.Node) and (n * 2).dtype == np.int64  # arithmetic, not string repetition
    assert isinstance(x.size, gc.Node) and gc.input("z", (2, 3)).size == 6
    # sizes divide as NumPy's ints do, into floats; a product dim (N*3) is a size too
    flat = x.reshape(-1)
    sizes = [n / 2, 1 / n, n / flat.shape[0], flat.shape[0] - n, x.size * 1.0]
    for backend in BACKENDS:
        got = gc.compile([x], sizes, backend=backend)(np.ones((4, 3)))
        assert [float(v) for v in got] == [2.0, 0.25, 1 / 3, 8.0, 12.0]
        assert [np.asarray(v).dtype for v in got] == [np.float64, np.float64, np.float64, np.int64, np.float64]


def test_spatial_reshape_with_minus_one(rng):
    def f(x):
        n, c, h, w = x.shape
        flat = np.reshape(np.transpose(x, (0, 2, 3, 1)), (-1, c))  # (N*H*W, C)
        centered = flat - flat.mean(axis=0)
        return centered.reshape(n, h, w, c).transpose(0, 3, 1, 2) / flat.shape[0]

    out = check(f, None, [rng.standard_normal((2, 3, 4, 5))], [("N", 3, 4, 5)], wrt=(0,))
    assert out.shape == ("N", 3, 4, 5)


def test_conv_whole_output_and_same_padding(rng):
    x = gc.input("x", ("N", 3, 6, 6))
    with pytest.raises(gc.ShapeError, match=r"\(6 \+ 2\*0 - 3\) / 2 \+ 1 = 2.5 is not whole"):
        gc.nn.conv2d(x, gc.input("w", (2, 3, 3, 3)), stride=2)
    w = gc.input("w", (2, 3, 3, 3))
    assert gc.nn.conv2d(x, w, padding="same").shape == ("N", 2, 6, 6)


def test_upstream_gradient_of_any_shape(rng):
    # the lecture's layer API: out = forward(x), dx = backward(dout) with dout of out's shape
    x, w, b = gc.input("x", ("N", 3)), gc.input("w", (3, 4)), gc.input("b", (4,))
    out = np.maximum(0, x.dot(w) + b)
    xv, wv, bv, dout = (rng.standard_normal(s) for s in ((5, 3), (3, 4), (4,), (5, 4)))
    mask = (xv @ wv + bv) > 0
    for backend in BACKENDS:
        step = gc.compile_grad(out, inputs=[x, w, b], wrt=[x, w, b], backend=backend)
        value, tape = step.forward(xv, wv, bv)
        dx, dw, db = step.backward(tape, dout)
        np.testing.assert_allclose(value, np.maximum(0, xv @ wv + bv), rtol=1e-13)
        np.testing.assert_allclose(dx, (dout * mask) @ wv.T, rtol=1e-12)
        np.testing.assert_allclose(dw, xv.T @ (dout * mask), rtol=1e-12)
        np.testing.assert_allclose(db, (dout * mask).sum(axis=0), rtol=1e-12)
        with pytest.raises(gc.ArgumentError, match=r"output has shape \(N, 4\)"):
            step.backward(tape)
        with pytest.raises(gc.ArgumentError, match=r"\(5, 4\) for this tape, but got \(4, 4\)"):
            step.backward(tape, dout[:4])


def test_vjp_and_jacobian(rng):
    x, w = gc.input("x", (3,)), gc.input("w", (2, 3))
    y = np.tanh(w.dot(x))
    dy = gc.input("dy", (2,))
    xv, wv, dyv = rng.standard_normal(3), rng.standard_normal((2, 3)), rng.standard_normal(2)
    jac = (1 - np.tanh(wv @ xv) ** 2)[:, None] * wv
    for backend in BACKENDS:
        f = gc.compile([x, w, dy], [gc.vjp(y, x, dy), gc.jacobian(y, x), gc.vjp([y, y * 2.0], [w], [dy, dy])[0]],
                       backend=backend)
        vjp, jacobian, dw = f(xv, wv, dyv)
        np.testing.assert_allclose(jacobian, jac, rtol=1e-12)
        np.testing.assert_allclose(vjp, dyv @ jac, rtol=1e-12)
        np.testing.assert_allclose(dw, 3 * (dyv * (1 - np.tanh(wv @ xv) ** 2))[:, None] * xv, rtol=1e-12)
    with pytest.raises(gc.ShapeError, match="gc.vjp"):
        gc.grad(y, x)
    with pytest.raises(gc.ShapeError, match=r"vjp: the cotangent of .*:f64\[2\] must have its shape and dtype "
                                            r"but is %\d+:f64\[3\]"):
        gc.vjp(y, x, np.ones(3))
    with pytest.raises(gc.DTypeError, match=r"vjp: the cotangent .* d32:f32\[2\]"):
        gc.vjp(y, x, gc.input("d32", (2,), dtype="float32"))


def test_arguments_numpy_would_convert(rng):
    x, s = gc.input("x", ("N", 2)), gc.input("s", (2,), dtype="float32")
    for backend in BACKENDS:
        f = gc.compile([x, s], x * s, backend=backend)
        want = np.arange(4.0).reshape(2, 2) * np.float32([1.5, 2.0])
        for xv in (np.arange(4).reshape(2, 2), [[0, 1], [2, 3]], np.arange(4, dtype=np.float32).reshape(2, 2)):
            np.testing.assert_allclose(f(xv, [1.5, 2.0]), want)
        with pytest.raises(gc.DTypeError, match="argument s: expected dtype float32 but got float64.*precision"):
            f(np.ones((2, 2)), np.array([1.5, 2.0]))
        g = gc.compile([x, s], x * s, backend=backend, allow_input_downcast=True)
        np.testing.assert_allclose(g(np.ones((2, 2)), np.array([1.5, 2.0])), np.ones((2, 2)) * [1.5, 2.0])


# -- CS231n assignment 2: the layers as the assignment writes them in NumPy ------------------------------
def affine_forward(x, w, b):
    return x.reshape(x.shape[0], -1).dot(w) + b


def relu_forward(x):
    return np.maximum(0, x)


def softmax_loss(x, onehot):
    shifted_logits = x - np.max(x, axis=1, keepdims=True)
    z = np.sum(np.exp(shifted_logits), axis=1, keepdims=True)
    log_probs = shifted_logits - np.log(z)
    n = x.shape[0]
    return -np.sum(log_probs * onehot) / n  # the assignment's log_probs[np.arange(N), y], as a one-hot mask


def softmax_loss_as_written(x, y):
    # the assignment's own lines: a fixed batch, where np.arange(N) exists
    shifted_logits = x - np.max(x, axis=1, keepdims=True)
    z = np.sum(np.exp(shifted_logits), axis=1, keepdims=True)
    log_probs = shifted_logits - np.log(z)
    n = x.shape[0]
    return -np.sum(log_probs[np.arange(n), y]) / n


def svm_loss(x, onehot):
    n = x.shape[0]
    correct_class_scores = np.sum(x * onehot, axis=1, keepdims=True)  # x[np.arange(N), y][:, None]
    margins = np.maximum(0, x - correct_class_scores + 1.0) * (1 - onehot)  # margins[np.arange(N), y] = 0
    return np.sum(margins) / n


def batchnorm_forward(x, gamma, beta, running_mean, running_var, eps=1e-5, momentum=0.9):
    sample_mean = x.mean(axis=0)
    sample_var = x.var(axis=0)
    x_hat = (x - sample_mean) / np.sqrt(sample_var + eps)
    out = gamma * x_hat + beta
    running_mean = momentum * running_mean + (1 - momentum) * sample_mean
    running_var = momentum * running_var + (1 - momentum) * sample_var
    return out, running_mean, running_var


def spatial_batchnorm_forward(x, gamma, beta, running_mean, running_var):
    n, c, h, w = x.shape
    x_flat = x.transpose(0, 2, 3, 1).reshape(-1, c)
    out_flat, running_mean, running_var = batchnorm_forward(x_flat, gamma, beta, running_mean, running_var)
    return out_flat.reshape(n, h, w, c).transpose(0, 3, 1, 2), running_mean, running_var


def layernorm_forward(x, gamma, beta, eps=1e-5):
    mean = x.mean(axis=1, keepdims=True)
    var = x.var(axis=1, keepdims=True)
    return gamma * (x - mean) / np.sqrt(var + eps) + beta


def dropout_forward(x, p, rand):
    mask = (rand(*x.shape) < p) / p  # the assignment's np.random.rand(*x.shape)
    return x * mask


def test_cs231n_affine_relu(rng):
    check(lambda x, w, b: relu_forward(affine_forward(x, w, b)), None,
          [rng.standard_normal(s) for s in ((4, 2, 3), (6, 5), (5,))], [("N", 2, 3), (6, 5), (5,)], wrt=(0, 1, 2))


@pytest.mark.parametrize("loss", [softmax_loss, svm_loss])
def test_cs231n_losses(loss, rng):
    labels = np.array([0, 2, 1, 2, 0])
    onehot = np.eye(3)[labels]
    x = rng.standard_normal((5, 3)) * 2
    check(lambda s: loss(s, onehot), lambda s: loss(s, gc.one_hot(gc.const(labels), 3)), [x], [("N", 3)], wrt=(0,))


def test_cs231n_softmax_loss_with_its_label_gather(rng):
    labels = np.array([0, 2, 1, 2, 0])
    x = rng.standard_normal((5, 3)) * 2
    check(softmax_loss_as_written, None, [x, labels], [(5, 3), (5,)], wrt=(0,), dtypes=["float64", "int64"])


def test_cs231n_batchnorm_train_and_test(rng):
    x, gamma, beta, rm, rv = (rng.standard_normal(s) for s in ((6, 4), (4,), (4,), (4,), (4,)))
    rv = np.abs(rv) + 0.5
    shapes = [("N", 4), (4,), (4,), (4,), (4,)]
    for k in range(3):  # out, and the two running statistics
        check(lambda *a, k=k: batchnorm_forward(*a)[k], None, [x, gamma, beta, rm, rv], shapes,
              wrt=(0, 1, 2) if k == 0 else (0,), backends=("interpret",) if k else BACKENDS)
        # gc.nn.batchnorm computes the same
        check(lambda *a, k=k: batchnorm_forward(*a)[k],
              lambda xn, g, b, m, v, k=k: gc.nn.batchnorm(xn, g, b, m, v, train=True)[k],
              [x, gamma, beta, rm, rv], shapes, wrt=(0, 1, 2) if k == 0 else (), backends=("interpret",))
    check(lambda x, g, b, m, v: g * (x - m) / np.sqrt(v + 1e-5) + b,
          lambda *a: gc.nn.batchnorm(*a, train=False), [x, gamma, beta, rm, rv], shapes, wrt=(0, 1, 2, 3, 4))


def test_cs231n_spatial_batchnorm(rng):
    x, gamma, beta, rm, rv = (rng.standard_normal(s) for s in ((2, 3, 4, 5), (3,), (3,), (3,), (3,)))
    shapes = [("N", 3, 4, 5), (3,), (3,), (3,), (3,)]
    out = check(lambda *a: spatial_batchnorm_forward(*a)[0], None, [x, gamma, beta, rm, rv], shapes, wrt=(0, 1, 2))
    assert out.shape == ("N", 3, 4, 5)
    check(lambda *a: spatial_batchnorm_forward(*a)[0],
          lambda *a: gc.nn.batchnorm(*a, train=True, axis=(0, 2, 3))[0], [x, gamma, beta, rm, rv], shapes,
          wrt=(0,), backends=("interpret",))


def test_cs231n_layernorm(rng):
    x, gamma, beta = (rng.standard_normal(s) for s in ((4, 5), (5,), (5,)))
    shapes = [("N", 5), (5,), (5,)]
    check(layernorm_forward, None, [x, gamma, beta], shapes, wrt=(0, 1, 2))
    check(layernorm_forward, lambda *a: gc.nn.layernorm(*a), [x, gamma, beta], shapes, wrt=(0,),
          backends=("interpret",))


def test_cs231n_dropout(rng):
    p, key = 0.6, 1234
    x = rng.standard_normal((50, 40))
    uniform = gc.uniform(gc.const(np.int64(key)), (50, 40))  # the keyed draw replaces np.random.rand
    draws = gc.compile([], uniform, backend="interpret")()
    out = check(lambda x: dropout_forward(x, p, lambda *s: draws), lambda x: dropout_forward(x, p, lambda *s: uniform),
                [x], [(50, 40)], wrt=(0,))
    kept = np.mean(draws < p)
    assert 0.55 < kept < 0.65  # p of the units are kept
    assert out.op == "mul"
    # gc.nn.dropout: rate = 1 - p; the same key gives the same mask on both backends
    xn, k = gc.input("x", ("N", 40)), gc.input("k", (), dtype="int64")
    y = gc.nn.dropout(xn, 1 - p, key=k)
    a, b = (gc.compile([xn, k], y, backend=be)(x, key) for be in BACKENDS)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(np.mean(a == 0), 1 - p, atol=0.05)
    np.testing.assert_allclose(a[a != 0], (x / p)[a != 0], rtol=1e-12)
    assert not np.array_equal(gc.compile([xn, k], y, backend="interpret")(x, key + 1), a)
    m = gc.input("m", ("N", 40))
    np.testing.assert_allclose(gc.compile([xn, m], gc.nn.dropout(xn, 0.5, mask=m), backend="interpret")(x, x > 0),
                               np.where(x > 0, 2 * x, 0.0))
    assert gc.nn.dropout(xn, 0.5, train=False) is xn


def test_cs231n_conv_and_pool(rng):
    x, w, b = (rng.standard_normal(s) for s in ((2, 3, 4, 4), (4, 3, 3, 3), (4,)))

    def conv_pool_naive(x, w, b):  # conv_forward_naive (pad 1, stride 1) then max_pool_forward_naive (2x2)
        xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
        conv = np.zeros((2, 4, 4, 4))
        for i in range(4):
            for j in range(4):
                conv[:, :, i, j] = np.tensordot(xp[:, :, i:i + 3, j:j + 3], w, axes=([1, 2, 3], [1, 2, 3])) + b
        return conv.reshape(2, 4, 2, 2, 2, 2).max(axis=(3, 5))

    out = check(conv_pool_naive, lambda x, w, b: gc.nn.max_pool2d(gc.nn.conv2d(x, w, b, padding="same"), 2),
                [x, w, b], [("N", 3, 4, 4), (4, 3, 3, 3), (4,)], wrt=(0, 1, 2))
    assert out.shape == ("N", 4, 2, 2)


def test_listings_show_what_numpy_code_built():
    # NumPy's names build graphc's ops, visible as they are: a weak 0, a numel for the batch size
    x = gc.input("x", ("N", 3))
    assert gc.show(np.sum(np.maximum(0, x), axis=1) / x.shape[0]).splitlines() == [
        "%0:f64[N,3] = input x",
        "%1:f64[] = const 0.0",
        "%2:f64[N,3] = maximum %1 %0",
        "%3:f64[N] = sum[axes=(1,) keepdims=False] %2",
        "%4:f64[] = numel[dims=('N',) dtype=float64]",
        "%5:f64[N] = div %3 %4",
        "outputs: %5",
    ]
    # var is a composition: two passes over x, a count minus ddof
    assert [line.split(" = ")[1].split()[0] for line in gc.show(x.var(axis=0, ddof=1)).splitlines()[1:-1]] == [
        "numel[dims=('N',)", "sum[axes=(0,)", "div", "sub", "mul", "sum[axes=(0,)", "numel[dims=('N',)", "const",
        "sub", "div"]
    # logsumexp shifts by the max (the gate that keeps exp finite)
    listing = gc.show(gc.logsumexp(x, axis=1)).splitlines()[1:-1]
    ops = [line.split(" = ")[1].split("[")[0].split()[0] for line in listing]
    assert ops == ["max", "sub", "exp", "sum", "log", "add", "reshape"]
