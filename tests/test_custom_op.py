"""User-defined ops (gc.define_op): a scalar op fused into loops (softplus) and an op
computed by a user's Numba function (rowwise L2 normalization), checked like graphc's
own ops: values against NumPy, gradients against finite differences, compiled against
interpreted, float32 and float64, and the gate patterns gc.show lists."""

from __future__ import annotations

import numba
import numpy as np
import pytest

import graphc as gc
from graphc.codegen.kernel import fingerprint


def _softplus_ref(x: np.ndarray) -> np.ndarray:
    """log(1 + exp(x)), computed without overflow."""
    return np.logaddexp(np.zeros((), x.dtype), x).astype(x.dtype)


softplus = gc.define_op(
    "softplus_test",
    numpy=_softplus_ref,
    # d softplus / dx = sigmoid(x): a local gradient
    vjp=lambda node, g, i: g * gc.sigmoid(node.inputs[0]),
    gate="local",
    scalar=lambda a, c, at: (f"{c.fn('log1p')}({c.fn('exp')}(-abs({a[0]}))) "
                             f"+ ({a[0]} if {a[0]} > {c.lit(0)} else {c.lit(0)})"),
    cost=16,
)


@numba.njit
def _normalize_rows(x, out, eps):
    for r in range(x.shape[0]):
        total = 0.0
        for c in range(x.shape[1]):
            total += x[r, c] * x[r, c]
        inv = 1.0 / np.sqrt(total + eps)
        for c in range(x.shape[1]):
            out[r, c] = x[r, c] * inv


def _normalize_infer(x: gc.Node, eps: float):
    if x.ndim != 2:
        raise gc.ShapeError(f"normalize_rows: {x.label} has {x.ndim} dims but rows need 2")
    return x.shape, x.dtype


def _normalize_vjp(node: gc.Node, g: gc.Node, i: int) -> gc.Node:
    """y = x / |x|: dx = (g - y * sum(g * y)) / |x|, row by row."""
    x = node.inputs[0]
    norm = gc.sqrt(gc.sum(x * x, axis=1, keepdims=True) + node.attrs["eps"])
    return (g - node * gc.sum(g * node, axis=1, keepdims=True)) / norm


normalize_rows = gc.define_op(
    "normalize_rows_test",
    infer=_normalize_infer,
    numpy=lambda x, eps: (x / np.sqrt(np.sum(x * x, axis=1, keepdims=True) + eps)).astype(x.dtype),
    vjp=_normalize_vjp,
    gate="local",
    numba=_normalize_rows,
)


def _graph(dtype: str):
    x = gc.input("x", shape=("N", 4), dtype=dtype)
    w = gc.input("w", shape=(4,), dtype=dtype)
    loss = gc.sum(softplus(normalize_rows(x, eps=1e-6) * w))
    return x, w, loss


def _data(dtype: str) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"x": rng.standard_normal((3, 4)).astype(dtype), "w": rng.standard_normal(4).astype(dtype)}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_values_and_gradients_compiled_equal_interpreted_and_numpy(dtype):
    x, w, loss = _graph(dtype)
    outputs = [loss, *gc.grad(loss, [x, w])]
    compiled = gc.compile([x, w], outputs)
    interpreted = gc.compile([x, w], outputs, backend="interpret")
    d = _data(dtype)
    got, ref = compiled(d["x"], d["w"]), interpreted(d["x"], d["w"])
    tol = 1e-5 if dtype == "float32" else 1e-12
    for a, b in zip(got, ref):
        assert np.asarray(a).dtype == np.dtype(dtype)
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
    rows = d["x"] / np.sqrt(np.sum(d["x"] ** 2, axis=1, keepdims=True) + 1e-6)
    np.testing.assert_allclose(got[0], np.sum(np.logaddexp(0, rows * d["w"])), rtol=tol)
    # the kernel calls the user's function, imported by name with its code's fingerprint
    assert "normalize_rows_test_kernel = lookup('normalize_rows_test').kernel  # _normalize_rows, code " \
        f"{fingerprint(_normalize_rows)}" in compiled.source
    assert ("normalize_rows_test_kernel(x, normalize_rows_test2, eps=1e-06)  # the op's Numba function fills %2"
            in compiled.source)
    assert "math.log1p(exp_f" in compiled.source  # softplus is fused: its scalar expression inline


def test_gradients_match_finite_differences():
    x, w, loss = _graph("float64")
    errors = gc.check_grad(loss, [x, w], _data("float64"))
    assert max(errors.values()) < 1e-6, errors


def test_show_lists_the_ops_and_their_gates():
    x, w, loss = _graph("float64")
    dx, dw = gc.grad(loss, [x, w])
    lines = [" ".join(line.split()) for line in gc.show(loss, dx, dw).splitlines()]
    assert "%2:f64[N,4] = normalize_rows_test[eps=1e-06] %0" in lines
    assert "%4:f64[N,4] = softplus_test %3" in lines
    # softplus' VJP, g * sigmoid(x), is the local gate of its input %3
    assert "%9:f64[N,4] = sigmoid %3 # local, grad of %3" in lines
    assert "%10:f64[N,4] = mul %8 %9 # local, grad of %3" in lines
    # normalize_rows' VJP is made of graphc ops, each shown as the local gate of %0
    assert "%16:f64[N,1] = sum[axes=(1,) keepdims=True] %15 # local, grad of %0" in lines
    assert "%24:f64[N,4] = div %23 %19 # local, grad of %0" in lines
    assert lines[-1] == "outputs: %5 %24 %14"


def test_fingerprint_follows_the_code():
    def a(x, out):
        out[0] = x[0] + 1.0

    def b(x, out):
        out[0] = x[0] + 2.0

    assert fingerprint(a) != fingerprint(b)
    assert fingerprint(numba.njit(a)) == fingerprint(a)


def test_definition_errors_are_graphc_errors():
    with pytest.raises(gc.GraphError, match="already registered"):
        gc.define_op("exp", numpy=np.exp, scalar=lambda a, c, at: a[0])
    with pytest.raises(gc.GraphError, match="exactly one of scalar= .* or numba="):
        gc.define_op("both_test", numpy=np.exp, scalar=lambda a, c, at: a[0], numba=_normalize_rows)
    with pytest.raises(gc.GraphError, match="gate to be one of"):
        gc.define_op("gate_test", numpy=np.exp, scalar=lambda a, c, at: a[0], gate="teleport")
    broken = gc.define_op("broken_test", numpy=np.exp, scalar=lambda a, c, at: f"{a[0]} +")
    with pytest.raises(gc.GraphError, match="broken_test: its scalar template gave 'a0 \\+'"):
        broken(gc.input("x", shape=(2,)))
    with pytest.raises(gc.ShapeError, match="normalize_rows: x has 1 dims"):
        normalize_rows(gc.input("x", shape=(2,)), eps=0.0)


def test_a_wrong_cotangent_shape_names_the_op():
    bad = gc.define_op("bad_vjp_test", numpy=lambda x: x.sum(), infer=lambda x: ((), x.dtype),
                       vjp=lambda node, g, i: g, numba=_normalize_rows)
    x = gc.input("x", shape=(3,))
    with pytest.raises(gc.GraphError, match=r"bad_vjp_test: its vjp gave input 0 \(x, shape \(3,\)\)"):
        gc.grad(bad(x), [x])
