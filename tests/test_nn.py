"""gc.nn layers and losses against hand-written NumPy references.

Each loss is checked three ways, in float64 and float32: its value and its symbolic
gradients (gc.grad, run by the interpreter) against a NumPy formula written out by
hand, and the gradients against central differences (gc.check_grad). The W4 MLP of
SPEC.md is checked end to end against a hand-written NumPy forward/backward.
"""

from __future__ import annotations

import importlib.util
import re

import numpy as np
import pytest

import graphc as gc

DTYPES = [np.float64, np.float32]

# forward values and gradients vs the references (the reference runs in float64 on the
# same data, so float32 results carry float32 rounding of a few ulps per op)
RTOL = {np.float64: 1e-10, np.float32: 2e-4}
ATOL = {np.float64: 1e-12, np.float32: 2e-5}
# largest relative error gc.check_grad may report, and its step: float32 differences of a
# loss near 1 lose ~1e-7 / eps to rounding, so float32 takes a larger step than the default
GRADCHECK_TOL = {np.float64: 1e-6, np.float32: 2e-2}
GRADCHECK_EPS = {np.float64: None, np.float32: 1e-2}

N, C, D = 5, 4, 3  # batch, classes, features: small so finite differences stay fast


def run(inputs: list[gc.Node], outputs: list[gc.Node], *args: np.ndarray, backend: str = "interpret"):
    return gc.compile(inputs, outputs, backend=backend)(*args)


def close(actual: np.ndarray, expected: np.ndarray, dtype: type) -> None:
    assert np.asarray(actual).dtype == np.dtype(dtype)
    np.testing.assert_allclose(actual, expected, rtol=RTOL[dtype], atol=ATOL[dtype])


def check_grad_ok(loss: gc.Node, wrt: list[gc.Node], values: dict, dtype: type) -> None:
    # the variables are small: every entry is checked, not only random directions
    errors = gc.check_grad(loss, wrt, values, eps=GRADCHECK_EPS[dtype], entries=True)
    assert max(errors.values()) < GRADCHECK_TOL[dtype], errors


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(231)


def labels_for(rng: np.random.Generator, n: int = N, classes: int = C) -> np.ndarray:
    return rng.integers(0, classes, size=n, dtype=np.int64)


# -- softmax cross-entropy ------------------------------------------------------------------
def ref_softmax_ce(s: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Loss and d loss / d s = (softmax - onehot) / N."""
    s = s.astype(np.float64)
    shifted = s - s.max(axis=1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    p = np.exp(logp)
    rows = np.arange(len(y))
    loss = -np.mean(logp[rows, y])
    ds = p.copy()
    ds[rows, y] -= 1.0
    return loss, ds / len(y)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_cross_entropy(dtype: type, rng: np.random.Generator) -> None:
    s = gc.input("s", shape=("N", C), dtype=dtype)
    y = gc.input("y", shape=("N",), dtype="int64")
    loss = gc.nn.softmax_cross_entropy(s, y, name="ce")
    sv, yv = rng.standard_normal((N, C)).astype(dtype), labels_for(rng)
    value, ds = run([s, y], [loss, gc.grad(loss, s)], sv, yv)
    ref_loss, ref_ds = ref_softmax_ce(sv, yv)
    close(value, ref_loss, dtype)
    close(ds, ref_ds, dtype)
    check_grad_ok(loss, [s], {"s": sv, "y": yv}, dtype)


def test_softmax_cross_entropy_is_stable_for_large_logits() -> None:
    s = gc.input("s", shape=(2, 3))
    y = gc.input("y", shape=(2,), dtype="int64")
    loss = gc.nn.softmax_cross_entropy(s, y)
    sv = np.array([[1000.0, 0.0, -1000.0], [0.0, 800.0, 0.0]])
    yv = np.array([0, 2])
    value, ds = run([s, y], [loss, gc.grad(loss, s)], sv, yv)
    ref_loss, ref_ds = ref_softmax_ce(sv, yv)
    np.testing.assert_allclose(value, ref_loss)
    np.testing.assert_allclose(ds, ref_ds, atol=1e-12)


# -- multiclass SVM ---------------------------------------------------------------------------
def ref_svm(s: np.ndarray, y: np.ndarray, margin: float) -> tuple[float, np.ndarray]:
    """The lecture's hinge loss and its gradient, written as cs231n's assignment does."""
    s = s.astype(np.float64)
    n = len(y)
    rows = np.arange(n)
    margins = np.maximum(0.0, s - s[rows, y][:, None] + margin)
    margins[rows, y] = 0.0
    loss = margins.sum() / n
    active = (margins > 0).astype(np.float64)
    active[rows, y] = -active.sum(axis=1)
    return loss, active / n


def away_from_kinks(rng: np.random.Generator, margin: float, dtype: type) -> tuple[np.ndarray, np.ndarray]:
    """Scores whose hinges are all at least 0.1 from their kink, so that central
    differences (eps 1e-2 in float32) never straddle one."""
    while True:
        s, y = rng.standard_normal((N, C)).astype(dtype), labels_for(rng)
        hinge = s - s[np.arange(N), y][:, None] + margin
        hinge[np.arange(N), y] = margin
        if np.abs(hinge).min() > 0.1:
            return s, y


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("margin", [1.0, 0.5])
def test_svm_loss(dtype: type, margin: float, rng: np.random.Generator) -> None:
    s = gc.input("s", shape=("N", C), dtype=dtype)
    y = gc.input("y", shape=("N",), dtype="int64")
    loss = gc.nn.svm_loss(s, y, margin=margin)
    sv, yv = away_from_kinks(rng, margin, dtype)
    value, ds = run([s, y], [loss, gc.grad(loss, s)], sv, yv)
    ref_loss, ref_ds = ref_svm(sv, yv, margin)
    close(value, ref_loss, dtype)
    close(ds, ref_ds, dtype)
    check_grad_ok(loss, [s], {"s": sv, "y": yv}, dtype)


def test_svm_loss_lecture_example() -> None:
    """The cs231n slide's three examples (cat, car, frog scores): losses 2.9, 0, 12.9."""
    sv = np.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])
    yv = np.array([0, 1, 2])
    s = gc.input("s", shape=(3, 3))
    y = gc.input("y", shape=(3,), dtype="int64")
    value = run([s, y], [gc.nn.svm_loss(s, y)], sv, yv)[0]
    np.testing.assert_allclose(value, (2.9 + 0.0 + 12.9) / 3)


# -- mean squared error ------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_mse(dtype: type, rng: np.random.Generator) -> None:
    p = gc.input("p", shape=("N", D), dtype=dtype)
    t = gc.input("t", shape=("N", D), dtype=dtype)
    loss = gc.nn.mse(p, t)
    pv, tv = (rng.standard_normal((N, D)).astype(dtype) for _ in range(2))
    value, dp, dt = run([p, t], [loss, *gc.grad(loss, [p, t])], pv, tv)
    diff = pv.astype(np.float64) - tv
    close(value, np.mean(diff**2), dtype)
    close(dp, 2 * diff / diff.size, dtype)
    close(dt, -2 * diff / diff.size, dtype)
    check_grad_ok(loss, [p, t], {"p": pv, "t": tv}, dtype)


# -- L2 penalty --------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_l2_penalty(dtype: type, rng: np.random.Generator) -> None:
    w1 = gc.input("w1", shape=(D, 4), dtype=dtype)
    w2 = gc.input("w2", shape=(4,), dtype=dtype)
    loss = gc.nn.l2_penalty(w1, w2, scale=0.3, name="reg")
    w1v, w2v = rng.standard_normal((D, 4)).astype(dtype), rng.standard_normal(4).astype(dtype)
    value, d1, d2 = run([w1, w2], [loss, *gc.grad(loss, [w1, w2])], w1v, w2v)
    close(value, 0.3 * (np.sum(w1v.astype(np.float64) ** 2) + np.sum(w2v.astype(np.float64) ** 2)), dtype)
    close(d1, 0.6 * w1v.astype(np.float64), dtype)
    close(d2, 0.6 * w2v.astype(np.float64), dtype)
    check_grad_ok(loss, [w1, w2], {"w1": w1v, "w2": w2v}, dtype)


# -- linear and maxout, under a random projection p so every output element matters -------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bias", [True, False])
def test_linear(dtype: type, bias: bool, rng: np.random.Generator) -> None:
    x = gc.input("x", shape=("N", D), dtype=dtype)
    w = gc.input("w", shape=(D, 4), dtype=dtype)
    b = gc.input("b", shape=(4,), dtype=dtype)
    p = gc.input("p", shape=("N", 4), dtype=dtype)
    out = gc.nn.linear(x, w, b if bias else None, name="fc")
    loss = gc.sum(out * p)
    xv, wv, bv, proj = (rng.standard_normal(shape).astype(dtype) for shape in ((N, D), (D, 4), (4,), (N, 4)))
    wrt = [x, w, b] if bias else [x, w]
    args = (xv, wv, bv) if bias else (xv, wv)
    value, *grads = run([p, *wrt], [out, *gc.grad(loss, wrt)], proj, *args)
    x64, w64, p64 = xv.astype(np.float64), wv.astype(np.float64), proj.astype(np.float64)
    close(value, x64 @ w64 + (bv if bias else 0.0), dtype)
    close(grads[0], p64 @ w64.T, dtype)
    close(grads[1], x64.T @ p64, dtype)
    if bias:
        close(grads[2], p64.sum(axis=0), dtype)  # the bias gradient is unbroadcast over the batch
    check_grad_ok(loss, wrt, {"p": proj, **dict(zip(["x", "w", "b"], args))}, dtype)


def test_linear_of_a_vector(rng: np.random.Generator) -> None:
    x = gc.input("x", shape=(D,))
    w = gc.input("w", shape=(D, 4))
    b = gc.input("b", shape=(4,))
    out = gc.nn.linear(x, w, b)
    assert out.shape == (4,)
    xv, wv, bv = rng.standard_normal(D), rng.standard_normal((D, 4)), rng.standard_normal(4)
    np.testing.assert_allclose(run([x, w, b], [out], xv, wv, bv)[0], xv @ wv + bv)
    assert gc.check_grad(gc.sum(out * out), [x, w, b], {"x": xv, "w": wv, "b": bv})["w"] < 1e-6


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("pieces", [2, 3])
def test_maxout(dtype: type, pieces: int, rng: np.random.Generator) -> None:
    x = gc.input("x", shape=("N", D), dtype=dtype)
    ws = [gc.input(f"w{k}", shape=(D, 4), dtype=dtype) for k in range(pieces)]
    bs = [gc.input(f"b{k}", shape=(4,), dtype=dtype) for k in range(pieces)]
    p = gc.input("p", shape=("N", 4), dtype=dtype)
    out = gc.nn.maxout(x, ws, bs)
    loss = gc.sum(out * p)
    xv, proj = rng.standard_normal((N, D)).astype(dtype), rng.standard_normal((N, 4)).astype(dtype)
    wvs = [rng.standard_normal((D, 4)).astype(dtype) for _ in range(pieces)]
    bvs = [rng.standard_normal(4).astype(dtype) for _ in range(pieces)]
    value, dx, *dws = run([x, p, *ws, *bs], [out, *gc.grad(loss, [x, *ws])], xv, proj, *wvs, *bvs)

    x64, p64 = xv.astype(np.float64), proj.astype(np.float64)
    lin = np.stack([x64 @ w.astype(np.float64) + b for w, b in zip(wvs, bvs)])  # (pieces, N, 4)
    winner = lin.argmax(axis=0)
    close(value, lin.max(axis=0), dtype)
    # the max gate routes: each element's upstream gradient goes to the winning piece only
    routed = [np.where(winner == k, p64, 0.0) for k in range(pieces)]
    close(dx, sum(r @ w.astype(np.float64).T for r, w in zip(routed, wvs)), dtype)
    for k in range(pieces):
        close(dws[k], x64.T @ routed[k], dtype)
    values = {"x": xv, "p": proj, **{f"w{k}": v for k, v in enumerate(wvs)}, **{f"b{k}": v for k, v in enumerate(bvs)}}
    check_grad_ok(loss, [x, *ws, *bs], values, dtype)


def test_maxout_without_biases(rng: np.random.Generator) -> None:
    x = gc.input("x", shape=(2,))
    w1, w2 = gc.input("w1", shape=(2, 3)), gc.input("w2", shape=(2, 3))
    xv, w1v, w2v = rng.standard_normal(2), rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    out = run([x, w1, w2], [gc.nn.maxout(x, [w1, w2])], xv, w1v, w2v)[0]
    np.testing.assert_allclose(out, np.maximum(xv @ w1v, xv @ w2v))


# -- the backward graphs show the gate patterns ---------------------------------------------
def patterns(loss: gc.Node, wrt: list[gc.Node]) -> set[str]:
    g = gc.to_networkx(loss, *gc.grad(loss, wrt))
    return {attrs["pattern"] for _, attrs in g.nodes(data=True) if attrs["role"] == "backward"}


def test_backward_graphs_show_the_gate_patterns() -> None:
    x = gc.input("x", shape=("N", D))
    w = gc.input("w", shape=(D, C))
    b = gc.input("b", shape=(C,))
    y = gc.input("y", shape=("N",), dtype="int64")
    scores = gc.nn.linear(x, w, b)
    ce = gc.nn.softmax_cross_entropy(scores, y) + gc.nn.l2_penalty(w, scale=1e-3)
    # the max-shift routes, the normaliser distributes, matmul switches, the bias unbroadcasts,
    # and the log-softmax's two uses of the shifted logits add at the branch
    assert {"route", "distribute", "switch", "unbroadcast", "sum"} <= patterns(ce, [w, b])
    assert "route" in patterns(gc.nn.svm_loss(scores, y), [w])
    ops = {attrs["op"] for _, attrs in gc.to_networkx(ce).nodes(data=True)}
    assert ops <= {"input", "const", "contract", "add", "sub", "mul", "neg", "div", "max", "exp", "log",
                   "sum", "one_hot", "numel"}, "nn losses must be compositions of primitives"


# -- named dims bind per call ------------------------------------------------------------------
def test_losses_take_any_batch_size(rng: np.random.Generator) -> None:
    s = gc.input("s", shape=("N", C))
    y = gc.input("y", shape=("N",), dtype="int64")
    f = gc.compile([s, y], [gc.nn.softmax_cross_entropy(s, y)], backend="interpret")
    for n in (1, 7):
        sv, yv = rng.standard_normal((n, C)), labels_for(rng, n)
        np.testing.assert_allclose(f(sv, yv)[0], ref_softmax_ce(sv, yv)[0])


# -- errors name the argument -------------------------------------------------------------------
def test_errors() -> None:
    s = gc.input("s", shape=("N", C))
    y = gc.input("y", shape=("N",), dtype="int64")
    with pytest.raises(gc.DTypeError, match="labels yf has dtype float64 but must be int64"):
        gc.nn.softmax_cross_entropy(s, gc.input("yf", shape=("N",)))
    with pytest.raises(gc.ShapeError, match=r"scores v must be 2-D .* shape \(4,\)"):
        gc.nn.softmax_cross_entropy(gc.input("v", shape=(4,)), y)
    with pytest.raises(gc.ShapeError, match="labels y2 must be 1-D"):
        gc.nn.svm_loss(s, gc.input("y2", shape=("N", 1), dtype="int64"))
    with pytest.raises(gc.ShapeError, match="dim 5 and dim 1 must match"):
        gc.nn.svm_loss(gc.input("s5", shape=(5, C)), gc.input("y1", shape=(1,), dtype="int64"))
    with pytest.raises(gc.ShapeError, match="class dim must be a fixed size"):
        gc.nn.softmax_cross_entropy(gc.input("sk", shape=("N", "K")), y)
    with pytest.raises(gc.DTypeError, match="scores si has dtype int64"):
        gc.nn.svm_loss(gc.input("si", shape=("N", C), dtype="int64"), y)
    with pytest.raises(gc.ShapeError, match=r"pred p has shape \(N, 1\) but target t has shape \(N,\)"):
        gc.nn.mse(gc.input("p", shape=("N", 1)), gc.input("t", shape=("N",)))
    with pytest.raises(gc.ShapeError, match="must match"):
        gc.nn.mse(gc.input("p", shape=(3, 2)), gc.input("t", shape=(3, 1)))
    with pytest.raises(gc.ShapeError, match="b bb must be 1-D"):
        gc.nn.linear(s, gc.input("w", shape=(C, 2)), gc.input("bb", shape=(1, 2)))
    with pytest.raises(gc.ShapeError, match="must match"):
        gc.nn.linear(s, gc.input("w", shape=(C + 1, 2)))
    with pytest.raises(gc.GraphError, match="at least one weight"):
        gc.nn.l2_penalty(scale=1.0)
    with pytest.raises(TypeError):
        gc.nn.l2_penalty(gc.input("w", shape=(2,)), 1e-3)  # scale is keyword-only
    with pytest.raises(gc.GraphError, match="expected 2 biases"):
        gc.nn.maxout(s, [gc.input("w1", shape=(C, 2)), gc.input("w2", shape=(C, 2))], [gc.input("b", shape=(2,))])
    with pytest.raises(gc.GraphError, match="non-empty list"):
        gc.nn.maxout(s, [])
    # every graphc error is also a builtin ValueError or TypeError
    with pytest.raises(ValueError):
        gc.nn.mse(gc.input("p", shape=(3,)), gc.input("t", shape=(4,)))


# -- W4 (SPEC.md): MLP 784-512-256-10, ReLU, softmax CE (mean) + 1e-4 * sum(W^2) ------------
W4_SIZES = (784, 512, 256, 10)
W4_REG = 1e-4
W4_PARAMS = ["w1", "b1", "w2", "b2", "w3", "b3"]


def w4_graph(dtype: type) -> tuple[list[gc.Node], gc.Node, list[gc.Node]]:
    x = gc.input("x", shape=("N", W4_SIZES[0]), dtype=dtype)
    labels = gc.input("labels", shape=("N",), dtype="int64")
    params = []
    for i, (fan_in, fan_out) in enumerate(zip(W4_SIZES[:-1], W4_SIZES[1:]), start=1):
        params += [gc.input(f"w{i}", shape=(fan_in, fan_out), dtype=dtype),
                   gc.input(f"b{i}", shape=(fan_out,), dtype=dtype)]
    w1, b1, w2, b2, w3, b3 = params
    h1 = gc.relu(gc.nn.linear(x, w1, b1))
    h2 = gc.relu(gc.nn.linear(h1, w2, b2))
    scores = gc.nn.linear(h2, w3, b3)
    loss = gc.nn.softmax_cross_entropy(scores, labels) + gc.nn.l2_penalty(w1, w2, w3, scale=W4_REG)
    return [x, labels, *params], loss, params


def w4_data(dtype: type, rng: np.random.Generator, batch: int) -> list[np.ndarray]:
    data = [rng.standard_normal((batch, W4_SIZES[0])).astype(dtype), labels_for(rng, batch, W4_SIZES[-1])]
    for fan_in, fan_out in zip(W4_SIZES[:-1], W4_SIZES[1:]):
        data += [(rng.standard_normal((fan_in, fan_out)) * (2.0 / fan_in) ** 0.5).astype(dtype),
                 (0.1 * rng.standard_normal(fan_out)).astype(dtype)]
    return data


def w4_numpy(x, labels, w1, b1, w2, b2, w3, b3) -> tuple[float, list[np.ndarray]]:
    """The lecture's modular forward()/backward(), by hand, in float64."""
    x, w1, b1, w2, b2, w3, b3 = (a.astype(np.float64) for a in (x, w1, b1, w2, b2, w3, b3))
    a1 = x @ w1 + b1
    h1 = np.maximum(a1, 0.0)
    a2 = h1 @ w2 + b2
    h2 = np.maximum(a2, 0.0)
    ce, dscores = ref_softmax_ce(h2 @ w3 + b3, labels)
    loss = ce + W4_REG * (np.sum(w1 * w1) + np.sum(w2 * w2) + np.sum(w3 * w3))
    dw3 = h2.T @ dscores + 2 * W4_REG * w3
    dh2 = (dscores @ w3.T) * (a2 > 0)  # relu'(0) = 0
    dw2 = h1.T @ dh2 + 2 * W4_REG * w2
    dh1 = (dh2 @ w2.T) * (a1 > 0)
    dw1 = x.T @ dh1 + 2 * W4_REG * w1
    return loss, [dw1, dh1.sum(axis=0), dw2, dh2.sum(axis=0), dw3, dscores.sum(axis=0)]


def _numba_backend_missing() -> bool:
    return importlib.util.find_spec("graphc.runtime.compiled") is None


BACKENDS = ["interpret", pytest.param("numba", marks=pytest.mark.skipif(
    _numba_backend_missing(), reason="the numba backend (graphc.runtime.compiled) is not there yet"))]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_w4_mlp(dtype: type, backend: str, rng: np.random.Generator) -> None:
    inputs, loss, params = w4_graph(dtype)
    data = w4_data(dtype, rng, batch=16)
    value, *grads = run(inputs, [loss, *gc.grad(loss, params)], *data, backend=backend)
    ref_loss, ref_grads = w4_numpy(*data)
    # float32 sums of 784 products: compare with a looser, scale-aware tolerance
    rtol, atol = (1e-9, 1e-12) if dtype == np.float64 else (2e-3, 2e-5)
    np.testing.assert_allclose(value, ref_loss, rtol=rtol)
    for name, got, want in zip(W4_PARAMS, grads, ref_grads):
        assert got.shape == want.shape and got.dtype == np.dtype(dtype), name
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol * np.abs(want).max(), err_msg=name)


# -- conv2d and max_pool2d -----------------------------------------------------------------
def conv2d_numpy(x, w, b, stride, padding):
    """The convolution by its definition, one output element at a time."""
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    oh, ow = (h + 2 * padding - kh) // stride + 1, (wd + 2 * padding - kw) // stride + 1
    out = np.empty((n, f, oh, ow), np.float64)
    for a, g, i, j in np.ndindex(out.shape):
        window = xp[a, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
        out[a, g, i, j] = np.sum(window * w[g]) + (0.0 if b is None else b[g])
    return out


def test_conv2d_is_patches_contracted_with_the_filters() -> None:
    # one contraction forward; backward, the filters' gradient a contraction and the
    # images' a contraction then col2im; never a product of windows and filters
    x, w, b = gc.input("x", ("N", 3, 8, 8)), gc.input("w", (4, 3, 3, 3)), gc.input("b", (4,))
    y = gc.nn.conv2d(x, w, b, padding=1)
    dx, dw = gc.grad(gc.sum(y * y), [x, w])
    text = gc.show(dx, dw)
    assert re.search(r"^%4:f64\[N,4,8,8\] = contract\[spec=fcij,nhwcij->nfhw\] %1 %3$", text, re.M), text
    dy = re.search(r"= contract\[spec=nfhw,nhwcij->fcij\] %(\d+) %3\s+# switch, grad of %1$", text, re.M)
    assert dy, text
    dwin = re.search(rf"^%(\d+):\S+ = contract\[spec=nfhw,fcij->nhwcij\] %{dy[1]} %1\s+# switch, grad of %3$",
                     text, re.M)
    assert dwin, text
    assert re.search(rf"= patches_adjoint\[.*\] %{dwin[1]}\s+# distribute, grad of %0$", text, re.M), text
    assert max(n.ndim for n in gc.ir.order([dx, dw])) == 6  # the windows; nothing of 7 dims


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("stride, padding, bias", [(1, 1, True), (2, 0, False)])
def test_conv2d(dtype: type, stride: int, padding: int, bias: bool, backend: str, rng: np.random.Generator) -> None:
    x, w = gc.input("x", ("N", 2, 7, 5), dtype), gc.input("w", (3, 2, 3, 3), dtype)
    b = gc.input("b", (3,), dtype) if bias else None
    y = gc.nn.conv2d(x, w, b, stride=stride, padding=padding)
    r = gc.input("r", y.shape, dtype)  # a random projection makes every output count in the loss
    loss = gc.sum(y * r)
    inputs, wrt = [x, w, *([b] if bias else []), r], [x, w, *([b] if bias else [])]
    values = [rng.standard_normal(s).astype(dtype) for s in ((4, 2, 7, 5), (3, 2, 3, 3), *([(3,)] if bias else []))]
    want = conv2d_numpy(*values[:2], values[2] if bias else None, stride, padding)
    rv = rng.standard_normal(want.shape).astype(dtype)
    out, *grads = run(inputs, [y, *gc.grad(loss, wrt)], *values, rv, backend=backend)
    assert out.shape == want.shape
    close(out, want, dtype)
    # the gradients: x's by the transposed convolution written out, w's and b's by correlation
    dx = np.zeros((4, 2, 7 + 2 * padding, 5 + 2 * padding))
    dw = np.zeros((3, 2, 3, 3))
    xp = np.pad(values[0].astype(np.float64), ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    for a, g, i, j in np.ndindex(want.shape):
        rows, cols = slice(i * stride, i * stride + 3), slice(j * stride, j * stride + 3)
        dx[a, :, rows, cols] += rv[a, g, i, j] * values[1][g]
        dw[g] += rv[a, g, i, j] * xp[a, :, rows, cols]
    expected = [dx[:, :, padding:padding + 7, padding:padding + 5], dw, *([rv.sum(axis=(0, 2, 3))] if bias else [])]
    for got, ref in zip(grads, expected):
        np.testing.assert_allclose(got, ref, rtol=RTOL[dtype] * 10, atol=ATOL[dtype] * 10)
    if backend == "interpret":
        feed = {"x": values[0], "w": values[1], "r": rv, **({"b": values[2]} if bias else {})}
        errors = gc.check_grad(loss, wrt, feed, eps=GRADCHECK_EPS[dtype])
        # x's gradient sums up to 9 products per pixel: its differences carry ~1e-6 of noise
        assert max(errors.values()) < 10 * GRADCHECK_TOL[dtype], errors


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool2d(dtype: type, backend: str, rng: np.random.Generator) -> None:
    x = gc.input("x", ("N", 2, 4, 6), dtype)
    y = gc.nn.max_pool2d(x)
    assert y.shape == ("N", 2, 2, 3)
    values = rng.permutation(3 * 2 * 4 * 6).reshape(3, 2, 4, 6).astype(dtype)  # distinct: one winner each
    r = gc.input("r", y.shape, dtype)
    rv = rng.standard_normal((3, 2, 2, 3)).astype(dtype)
    out, dx = run([x, r], [y, gc.grad(gc.sum(y * r), x)], values, rv, backend=backend)
    blocks = values.reshape(3, 2, 2, 2, 3, 2)
    close(out, blocks.max(axis=(3, 5)), dtype)
    winners = blocks == blocks.max(axis=(3, 5), keepdims=True)
    close(dx, (winners * rv[:, :, :, None, :, None]).reshape(3, 2, 4, 6), dtype)


@pytest.mark.parametrize("backend", BACKENDS)
def test_max_pool2d_of_windows_that_do_not_tile(backend: str, rng: np.random.Generator) -> None:
    # tiling windows are a reshape of the images; overlapping ones take patches; ragged
    # ones (2x2 windows side by side on 5x5 images) are refused, as CS231n asserts
    x = gc.input("x", (2, 2, 5, 5))
    tiled, overlapping = (gc.nn.max_pool2d(x, *a) for a in ((1,), (3, 1)))
    with pytest.raises(gc.ShapeError, match=r"\(5 \+ 2\*0 - 2\) / 2 \+ 1 = 2.5 is not whole"):
        gc.nn.max_pool2d(x, 2)
    ops = {n.op for n in gc.ir.order([overlapping])}
    assert "patches" in ops and "patches" not in {n.op for n in gc.ir.order([tiled])}
    assert overlapping.shape == (2, 2, 3, 3)
    values = rng.permutation(100).reshape(2, 2, 5, 5).astype(np.float64)
    out3, dx = run([x], [overlapping, gc.grad(gc.sum(overlapping), x)], values, backend=backend)
    want3 = np.array([[[[values[a, b, i:i + 3, j:j + 3].max() for j in range(3)] for i in range(3)]
                       for b in range(2)] for a in range(2)])
    close(out3, want3, np.float64)
    counts = np.zeros_like(values)  # each window's winner gets 1 per window it wins
    for a, b in np.ndindex(2, 2):
        for i, j in np.ndindex(3, 3):
            k = np.argmax(values[a, b, i:i + 3, j:j + 3])
            counts[a, b, i + k // 3, j + k % 3] += 1
    close(dx, counts, np.float64)


@pytest.mark.parametrize("backend", BACKENDS)
def test_max_pool2d_ties_split_evenly(backend: str) -> None:
    x = gc.input("x", (1, 1, 2, 2))
    (dx,) = run([x], [gc.grad(gc.sum(gc.nn.max_pool2d(x)), [x])[0]], np.array([[[[1.0, 3.0], [3.0, 0.0]]]]),
                backend=backend)
    np.testing.assert_array_equal(dx, [[[[0.0, 0.5], [0.5, 0.0]]]])


def test_conv_and_pool_errors() -> None:
    x, w = gc.input("x", ("N", 2, 6, 5)), gc.input("w", (3, 2, 3, 3))
    with pytest.raises(gc.ShapeError, match="nn.conv2d: x .* must be 4-D"):
        gc.nn.conv2d(gc.input("v", (6, 5)), w)
    with pytest.raises(gc.ShapeError, match="dim 2 and dim 4 must match"):
        gc.nn.conv2d(x, gc.input("w4", (3, 4, 3, 3)))
    with pytest.raises(gc.ShapeError, match="a 7x7 window does not fit"):
        gc.nn.conv2d(x, gc.input("w7", (3, 2, 7, 7)))
    with pytest.raises(gc.ShapeError, match="height and width must be fixed"):
        gc.nn.max_pool2d(gc.input("z", ("N", 2, "H", 4)))
    with pytest.raises(gc.GraphError, match="stride must be an int >= 1"):
        gc.nn.max_pool2d(x, 2, stride=0)
    with pytest.raises(gc.ShapeError, match="nn.conv2d: b .* must be 1-D"):
        gc.nn.conv2d(x, w, gc.input("b2", (3, 1)))
    # the windows must tile the images exactly, as CS231n's layers assert
    six = gc.input("six", ("N", 3, 6, 6))
    with pytest.raises(gc.ShapeError, match=r"nn.conv2d: the output height .* = \(6 \+ 2\*0 - 3\) / 2 \+ 1 = 2.5 "
                                            "is not whole"):
        gc.nn.conv2d(six, gc.input("w3", (4, 3, 3, 3)), stride=2)
    with pytest.raises(gc.ShapeError, match=r"nn.max_pool2d: the output width .* \(5 \+ 2\*0 - 2\) / 2 \+ 1 = 2.5"):
        gc.nn.max_pool2d(x, 2)
    with pytest.raises(gc.ShapeError, match="padding='same' needs stride 1 and an odd window"):
        gc.nn.conv2d(six, gc.input("w2", (4, 3, 2, 2)), padding="same")
    with pytest.raises(gc.GraphError, match="padding must be 'same', 'valid'"):
        gc.nn.conv2d(six, gc.input("w5", (4, 3, 3, 3)), padding="full")
    assert gc.nn.conv2d(six, gc.input("w6", (4, 3, 3, 3)), padding="same").shape == ("N", 4, 6, 6)
    assert gc.nn.conv2d(six, gc.input("w8", (4, 3, 5, 3)), padding="valid").shape == ("N", 4, 2, 4)


def test_norm_and_dropout_errors() -> None:
    x = gc.input("x", ("N", 4))
    g, b = gc.input("g", (4,)), gc.input("b", (4,))
    with pytest.raises(gc.ShapeError, match=r"nn.batchnorm: gamma g5 has shape \(5,\) but must have shape \(4,\)"):
        gc.nn.batchnorm(x, gc.input("g5", (5,)), b, g, b, train=True)
    with pytest.raises(gc.ShapeError, match=r"nn.batchnorm: running_var v3 has shape \(3,\) but must have shape"):
        gc.nn.batchnorm(x, g, b, g, gc.input("v3", (3,)), train=False)
    with pytest.raises(gc.ShapeError, match=r"nn.layernorm: beta bN .* must have shape \(4,\)"):
        gc.nn.layernorm(x, g, gc.input("bN", ("N", 4)))
    with pytest.raises(gc.GraphError, match=r"nn.dropout: rate must be a number in \[0, 1\)"):
        gc.nn.dropout(x, 1.0, mask=x)
    with pytest.raises(gc.GraphError, match="exactly one of mask= .* or key="):
        gc.nn.dropout(x, 0.5)
    with pytest.raises(gc.GraphError, match="exactly one of mask="):
        gc.nn.dropout(x, 0.5, mask=x, key=3)
    with pytest.raises(gc.ShapeError, match=r"nn.dropout: mask m has shape \(4,\) but must have x's shape"):
        gc.nn.dropout(x, 0.5, mask=gc.input("m", (4,)))
    with pytest.raises(gc.DTypeError, match="uniform: the key .* must be an int64 scalar"):
        gc.nn.dropout(x, 0.5, key=gc.input("k", (2,), dtype="int64"))
    # the statistics batchnorm returns have the running statistics' shapes, (C,) for spatial batchnorm
    images, c = gc.input("images", ("N", 3, 4, 4)), gc.input("c", (3,))
    out, mean, var = gc.nn.batchnorm(images, c, c, c, c, train=True, axis=(0, 2, 3))
    assert out.shape == ("N", 3, 4, 4) and mean.shape == var.shape == (3,)
