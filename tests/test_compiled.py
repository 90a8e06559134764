"""The Numba backend against the interpreter: every op case, forward and backward.

Cases are compiled in groups (one kernel per group and dtype) so the suite pays a few
Numba compilations rather than hundreds; each output is still compared on its own and
a failure names its case.
"""

from __future__ import annotations

import numpy as np
import pytest
from opcases import CASES, FLOATS, make_inputs

import graphc as gc

GROUP = 12
RTOL = {"float64": 1e-12, "float32": 1e-5, "int64": 0}
ATOL = {"float64": 1e-12, "float32": 1e-5, "int64": 0}


def _group_graph(cases, dtype):
    """Inputs, outputs and output names for a group of cases: each case's value, and
    for differentiable ones the gradient of sum(out * out) for each of its variables."""
    inputs, outputs, names, arrays = [], [], [], []
    for k, case in enumerate(cases):
        nodes = [gc.input(f"c{k}_x{i}", shape=s, dtype=d)
                 for i, (s, d) in enumerate(zip(case.shapes, case.input_dtypes(dtype)))]
        out = case.build(*nodes)
        inputs += nodes
        arrays += make_inputs(case, dtype, seed=k)
        outputs.append(out)
        names.append(f"{case.name}[{dtype}]")
        wrt = [nodes[i] for i in case.grad_inputs()]
        if wrt and out.dtype.kind == "f":
            grads = gc.grad(gc.sum(out * out), wrt)
            outputs += grads
            names += [f"d{case.name}/d{w.label}[{dtype}]" for w in wrt]
    return inputs, outputs, names, arrays


GROUPS = [CASES[i:i + GROUP] for i in range(0, len(CASES), GROUP)]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("group", range(len(GROUPS)))
def test_every_case_compiled_equals_interpreted(group, dtype):
    inputs, outputs, names, arrays = _group_graph(GROUPS[group], dtype)
    compiled = gc.compile(inputs, outputs)(*arrays)
    interpreted = gc.compile(inputs, outputs, backend="interpret")(*arrays)
    for name, node, got, want in zip(names, outputs, compiled, interpreted):
        got = np.asarray(got)
        assert got.dtype == node.dtype, name
        assert got.shape == np.shape(want), name
        rtol, atol = RTOL[node.dtype.name], ATOL[node.dtype.name]
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=name)


def test_groups_cover_every_case():
    assert sum(len(g) for g in GROUPS) == len(CASES) and len(CASES) > 50


def test_named_dims_do_not_recompile():
    x = gc.input("x", shape=("N", 3))
    f = gc.compile([x], [gc.sum(gc.tanh(x) * 2.0, axis=1)])
    for n in (1, 4, 17, 0):
        value = np.random.default_rng(n).standard_normal((n, 3))
        (out,) = f(value)
        np.testing.assert_allclose(out, np.sum(np.tanh(value) * 2, axis=1), rtol=1e-13)
    assert len(f.kernel.signatures) == 1


def test_non_contiguous_arguments_are_made_contiguous():
    x = gc.input("x", shape=(4, 3))
    w = gc.input("w", shape=(3, 2))
    f = gc.compile([x, w], x @ w * 2.0)
    base = np.random.default_rng(0).standard_normal((3, 4))
    wv = np.random.default_rng(1).standard_normal((6, 2))[::2]
    np.testing.assert_allclose(f(base.T, wv), base.T @ wv * 2, rtol=1e-13)


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # np.matrix
def test_unusual_arrays_are_read_correctly_or_rejected():
    # The caller calls the kernel's entry point, which reads raw memory as the compiled
    # dtype and rank: every other kind of array must be converted or rejected first.
    x = gc.input("x", shape=("N", 3))
    n = gc.input("n", shape=(), dtype="int64")
    f = gc.compile([x, n], gc.sum(x * 2.0, axis=1) * n)
    value = np.random.default_rng(0).standard_normal((4, 3))
    want = value.sum(axis=1) * 2 * 3
    readonly = value.copy()
    readonly.flags.writeable = False
    variants = {
        "readonly": readonly,
        "fortran": np.asfortranarray(value),
        "big-endian": value.astype(">f8"),  # another dtype of the same values: converted
        "matrix": np.asmatrix(value),
        "broadcast": np.broadcast_to(value[:1], (4, 3)),
    }
    for kind, array in variants.items():
        expected = want if kind != "broadcast" else np.full(4, want[0])
        np.testing.assert_allclose(f(array, 3), expected, rtol=1e-13, err_msg=kind)
    for count in (3, np.int64(3), np.array(3), np.int32(3), True * 3):
        np.testing.assert_allclose(f(value, count), want, rtol=1e-13)
    with pytest.raises(gc.DTypeError, match="argument n: .*out of its range"):
        f(value, 2**70)
    with pytest.raises(gc.DTypeError, match="argument n: .*uint64.*may lose range"):
        f(value, np.uint64(3))


def test_user_names_never_shadow_generated_ones():
    # inputs named like the generator's own variables, helpers and flat views
    names = ["one", "flat_view", "one_flat", "chunks", "n", "sigmoid_f64"]
    shapes = {"flat_view": (4, 2)}
    nodes = {k: gc.input(k, shape=shapes.get(k, (3, 4))) for k in names}
    out = gc.sum(gc.sigmoid(nodes["one"] @ nodes["flat_view"]))
    out = out + gc.sum(nodes["one"] * nodes["one_flat"] + nodes["chunks"] - nodes["n"] * nodes["sigmoid_f64"])
    f = gc.compile(list(nodes.values()), out)
    rng = np.random.default_rng(0)
    v = {k: rng.standard_normal(shapes.get(k, (3, 4))) for k in names}
    want = (1 / (1 + np.exp(-(v["one"] @ v["flat_view"])))).sum()
    want += (v["one"] * v["one_flat"] + v["chunks"] - v["n"] * v["sigmoid_f64"]).sum()
    np.testing.assert_allclose(f(*v.values()), want, rtol=1e-13)


def test_call_errors_name_the_argument():
    x = gc.input("x", shape=("N", 3))
    y = gc.input("y", shape=("N",))
    f = gc.compile([x, y], gc.sum(x, axis=1) + y)
    with pytest.raises(gc.ArgumentError, match="expected 2 arguments"):
        f(np.zeros((2, 3)))
    with pytest.raises(gc.DTypeError, match="argument x: expected dtype float64 but got complex128"):
        f(np.zeros((2, 3), np.complex128), np.zeros(2))
    with pytest.raises(gc.ArgumentError, match=r"argument y: dim 0 \(N\) is 5 but N is 2, bound by argument x"):
        f(np.zeros((2, 3)), np.zeros(5))
    with pytest.raises(gc.ArgumentError, match="argument x"):
        f(np.zeros((2, 4)), np.zeros(2))
    with pytest.raises(gc.DTypeError, match="argument y"):
        f(np.zeros((2, 3)), ["1.0", "2.0"])


def test_scalar_arguments_and_results():
    x, y, z = gc.input("x"), gc.input("y"), gc.input("z")
    f = (x + y) * z
    step = gc.compile([x, y, z], [f, *gc.grad(f, [x, y, z])])
    for args in ((-2.0, 5.0, -4.0), (np.float64(-2), np.array(5.0), -4)):
        out = step(*args)
        assert [float(v) for v in out] == [-12.0, -4.0, -4.0, 3.0]
        assert all(np.asarray(v).dtype == np.float64 and np.shape(v) == () for v in out)


def test_one_source_for_two_dtypes():
    # (x + y) * z of scalars generates the same source in float32 and float64: one
    # module, two signatures, and each compiled function calls its own
    results = {}
    for dtype in ("float64", "float32", "float64"):
        x, y, z = (gc.input(k, dtype=dtype) for k in "xyz")
        f = (x + y) * z
        step = gc.compile([x, y, z], [f, *gc.grad(f, [x, y, z])])
        results[dtype] = step(*(np.dtype(dtype).type(v) for v in (-2, 5, -4)))
        assert [float(v) for v in results[dtype]] == [-12.0, -4.0, -4.0, 3.0]
        assert all(v.dtype == np.dtype(dtype) for v in results[dtype])


def test_float32_graph_stays_float32():
    x = gc.input("x", shape=(5,), dtype="float32")
    f = gc.compile([x], [gc.sigmoid(x * 0.5) + 1.0, gc.sum(x)])
    v, s = f(np.linspace(-2, 2, 5, dtype=np.float32))
    assert v.dtype == np.float32 and s.dtype == np.float32


def test_source_names_nodes_and_gates():
    x = gc.input("x", shape=(3,))
    w = gc.input("w", shape=(3,))
    loss = gc.sum(gc.maximum(x * w, 0.0))
    f = gc.compile([x, w], [loss, *gc.grad(loss, [x, w])])
    src = f.source
    assert "def kernel(x, w):" in src
    assert "(route, grad of" in src and "(switch, grad of" in src
    # one kernel (its loop sums apart, in blocks: see KernelWriter.loop), not one function per node
    assert src.count("@numba.njit") == 1 and "_terms[" in src
