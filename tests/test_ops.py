"""Every op case of opcases.py against its NumPy reference, through the interpreter,
in float32 and float64; and the dtype rule."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opcases import ATOL, CASES, DIMS, FLOATS, RTOL, covered_ops, make_inputs, node_shape

import graphc as gc


def run_case(case, dtype, dims=DIMS, seed=0, f=None):
    nodes = case.inputs(dtype)
    out = case.build(*nodes)
    if f is None:
        f = gc.compile(nodes, out, backend="interpret")
    args = make_inputs(case, dtype, seed=seed, dims=dims)
    with np.errstate(all="ignore"):
        expected = np.asarray(case.ref(*args))
    return out, f, f(*args), expected


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_case_matches_numpy(case, dtype):
    out, f, got, expected = run_case(case, dtype)
    want = np.dtype(case.output_dtype(dtype))
    assert isinstance(out, gc.Node)
    assert out.dtype == want, f"declared dtype {out.dtype}, expected {want}"
    assert isinstance(got, np.ndarray if out.shape != () else np.generic)  # a 0-d result is a NumPy scalar
    assert got.dtype == want
    assert got.shape == node_shape(out) == expected.shape
    tol = case.output_dtype(dtype)
    np.testing.assert_allclose(got, expected, rtol=RTOL[tol], atol=ATOL[tol])


@pytest.mark.parametrize("case", [c for c in CASES if any(isinstance(d, str) for s in c.shapes for d in s)],
                         ids=lambda c: c.name)
def test_named_dim_rebinds_per_call(case):
    """One compiled function serves every size of a named dim (N = 3, then 5, then 1)."""
    nodes = case.inputs("float64")
    out = case.build(*nodes)
    f = gc.compile(nodes, out, backend="interpret")
    for n in (3, 5, 1):
        dims = {"N": n}
        args = make_inputs(case, "float64", seed=n, dims=dims)
        with np.errstate(all="ignore"):
            expected = np.asarray(case.ref(*args))
        got = f(*args)
        assert got.shape == node_shape(out, dims) == expected.shape
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-13)


def test_table_covers_every_op():
    assert set(gc.ops.__all__) <= covered_ops()
    # and the table's names for ops are real ops or the operator family
    from graphc.ir import REGISTRY

    assert covered_ops() - set(gc.ops.__all__) <= set(REGISTRY) | {"operators"}


def test_inputs_are_not_modified():
    case = next(c for c in CASES if c.name == "softmax_axis_0")
    nodes = case.inputs("float64")
    f = gc.compile(nodes, case.build(*nodes), backend="interpret")
    args = make_inputs(case, "float64")
    before = [a.copy() for a in args]
    f(*args)
    for a, b in zip(args, before):
        np.testing.assert_array_equal(a, b)


def test_several_outputs_and_single_output():
    x = gc.input("x", ("N", 3))
    y = gc.exp(x)
    xv = np.arange(6.0).reshape(2, 3)
    f1 = gc.compile([x], y, backend="interpret")
    assert isinstance(f1(xv), np.ndarray)
    f2 = gc.compile([x], [y, gc.sum(y)], backend="interpret")
    a, b = f2(xv)
    np.testing.assert_allclose(a, np.exp(xv))
    assert b.shape == () and isinstance(b, np.float64)  # a NumPy scalar, as np.sum gives
    np.testing.assert_allclose(b, np.exp(xv).sum())


def test_outputs_are_writable_arrays():
    """NumPy arrays out: a caller may update a result in place (a broadcast or a
    constant must not come back as a read-only view)."""
    x = gc.input("x", (3, 4))
    w = gc.input("w", (4,))
    outs = [gc.broadcast_to(w, (3, 4)), gc.const(np.ones(3)), *gc.grad(gc.sum(x), [x, w])]
    f = gc.compile([x, w], outs, backend="interpret")
    for r in f(np.ones((3, 4)), np.ones(4)):
        r += 1.0  # must not raise


# -- the dtype rule -------------------------------------------------------------------------------------
def ops_of(*nodes):
    return [d["op"] for _, d in gc.to_networkx(*nodes).nodes(data=True)]


def casts_of(*nodes):
    g = gc.to_networkx(*nodes)
    return [(g.nodes[next(iter(g.predecessors(n)))]["dtype"], d["dtype"])
            for n, d in g.nodes(data=True) if d["op"] == "cast"]


@pytest.fixture
def xs():
    return (gc.input("a32", (3,), "float32"), gc.input("a64", (3,), "float64"), gc.input("i64", (3,), "int64"))


@pytest.mark.parametrize("expr", [lambda x: x * 0.1, lambda x: 0.1 * x, lambda x: x + 2, lambda x: 2 - x,
                                  lambda x: x / 3, lambda x: x ** 2, lambda x: 2.0 ** x,
                                  lambda x: gc.maximum(x, 0.1 * x), lambda x: gc.where(gc.greater(x, 0), x, 0.5)])
def test_weak_python_scalars_keep_float32(xs, expr):
    a32 = xs[0]
    y = expr(a32)
    assert y.dtype == np.float32
    assert "cast" not in ops_of(y)
    v = gc.compile([a32], y, backend="interpret")(np.array([0.5, -1.0, 2.0], np.float32))
    assert v.dtype == np.float32


def test_int64_with_float32_gives_float32_with_an_explicit_cast(xs):
    a32, _, i64 = xs
    y = i64 + a32
    assert y.dtype == np.float32
    assert casts_of(y) == [("int64", "float32")]
    v = gc.compile([a32, i64], y, backend="interpret")(np.ones(3, np.float32), np.arange(3))
    assert v.dtype == np.float32
    np.testing.assert_array_equal(v, [1, 2, 3])


def test_float32_with_float64_gives_float64_with_an_explicit_cast(xs):
    a32, a64, _ = xs
    for y in (a32 * a64, a64 - a32, gc.maximum(a32, a64), gc.reshape(a32, (1, 3)) @ a64):
        assert y.dtype == np.float64
        assert casts_of(y) == [("float32", "float64")]
    y = a32 * a64
    g = gc.to_networkx(y)
    cast = next(n for n, d in g.nodes(data=True) if d["op"] == "cast")
    assert "cast" in gc.show(y)
    assert nx.has_path(g, cast, next(n for n, d in g.nodes(data=True) if d["op"] == "mul"))
    v = gc.compile([a32, a64], y, backend="interpret")(np.full(3, 0.1, np.float32), np.ones(3))
    assert v.dtype == np.float64
    np.testing.assert_array_equal(v, np.float64(np.float32(0.1)))


def test_int_scalars_and_int_nodes(xs):
    _, _, i64 = xs
    assert (i64 * 2).dtype == np.int64
    assert (i64 + np.arange(3)).dtype == np.int64
    assert (i64 * 0.5).dtype == np.float64  # a float scalar next to an int node: float64
    assert gc.sum(i64).dtype == np.int64
    v = gc.compile([i64], i64 * 0.5, backend="interpret")(np.array([1, 2, 3]))
    assert v.dtype == np.float64
    np.testing.assert_array_equal(v, [0.5, 1.0, 1.5])


def test_numpy_array_constants_are_strong(xs):
    a32, _, i64 = xs
    assert (a32 + np.ones(3)).dtype == np.float64  # a float64 array wins over a float32 node
    assert (np.ones(3) + a32).dtype == np.float64
    assert (a32 + np.ones(3, np.float32)).dtype == np.float32
    assert (i64 + np.ones(3)).dtype == np.float64
    assert (a32 + np.float64(2.0)).dtype == np.float64  # NumPy scalars are strong, as in NumPy 2
    assert (a32 + np.float32(2.0)).dtype == np.float32
    assert (i64 + np.array([True, False, True])).dtype == np.int64  # bools are stored as int64
    y = a32 * np.full(3, 2.0)
    assert casts_of(y) == [("float32", "float64")]
    v = gc.compile([a32], y, backend="interpret")(np.ones(3, np.float32))
    assert v.dtype == np.float64


def test_constant_dtype_and_readonly_copy():
    arr = np.array([1.0, 2.0])
    c = gc.const(arr)
    arr[0] = 99.0  # the constant took a private copy
    assert c.dtype == np.float64
    assert gc.const([1, 2]).dtype == np.int64
    assert gc.const(np.float16(1)).dtype == np.float32
    assert gc.const(1.5, dtype="float32").dtype == np.float32
    v = gc.compile([], c * 1.0, backend="interpret")()
    np.testing.assert_array_equal(v, [1.0, 2.0])


def test_one_hot_dtype_and_cast_roundtrip():
    labels = gc.input("labels", ("N",), "int64")
    oh = gc.one_hot(labels, 3, dtype="float32")
    assert oh.dtype == np.float32 and oh.shape == ("N", 3)
    back = gc.cast(gc.cast(labels, "float64"), "int64")
    assert back.dtype == np.int64
    assert gc.cast(labels, "int64") is labels  # a cast to the same dtype is no node
    f = gc.compile([labels], [oh, back], backend="interpret")
    a, b = f(np.array([2, 0]))
    np.testing.assert_array_equal(a, [[0, 0, 1], [1, 0, 0]])
    np.testing.assert_array_equal(b, [2, 0])


def test_numpy_integers_are_accepted_as_dims_and_axes():
    x = gc.input("x", (3, 4))
    assert gc.reshape(x, (np.prod((3, 4)),)).shape == (12,)
    assert gc.sum(x, axis=np.int64(1)).shape == (3,)
    assert gc.max(x, axis=(np.int32(0),), keepdims=True).shape == (1, 4)
    assert gc.input("y", (np.int64(2), "N")).shape == (2, "N")
    assert all(type(d) is int for d in gc.input("z", (np.int64(2),)).shape)


def test_comparisons_of_mixed_dtypes_give_the_promoted_dtype(xs):
    a32, a64, i64 = xs
    assert gc.greater(a32, a64).dtype == np.float64
    assert gc.less(i64, a32).dtype == np.float32
    assert gc.equal(i64, 1).dtype == np.int64


# -- property-based: shape rules against NumPy's ------------------------------------------------------------

SHAPE_RULES = settings(max_examples=50, deadline=None, derandomize=True)
small_shapes = st.lists(st.integers(1, 4), min_size=0, max_size=3).map(tuple)


@SHAPE_RULES
@given(small_shapes, small_shapes)
def test_property_broadcast_shape_matches_numpy(sa, sb):
    a, b = gc.input("a", sa), gc.input("b", sb)
    try:
        want = np.broadcast_shapes(sa, sb)
    except ValueError:
        with pytest.raises(gc.ShapeError, match="cannot broadcast"):
            a + b
        return
    y = a * b
    assert y.shape == want
    got = gc.compile([a, b], y, backend="interpret")(np.ones(sa), np.full(sb, 2.0))
    assert got.shape == want


@SHAPE_RULES
@given(st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple), st.data())
def test_property_reshape_matches_numpy(shape, data):
    size = int(np.prod(shape))
    # a random factorisation of size, maybe with one -1, maybe a wrong one
    dims, rest = [], size
    while rest > 1 and len(dims) < 3:
        d = data.draw(st.sampled_from([k for k in range(1, rest + 1) if rest % k == 0]))
        dims.append(d)
        rest //= d
    dims.append(rest)
    if data.draw(st.booleans()):
        dims[data.draw(st.integers(0, len(dims) - 1))] = -1
    if data.draw(st.booleans()):
        dims.append(data.draw(st.integers(2, 3)))  # now the sizes differ (or -1 takes it)
    target = tuple(dims)
    x = gc.input("x", shape)
    values = np.arange(size, dtype=np.float64).reshape(shape)
    try:
        want = values.reshape(target)
    except ValueError:
        with pytest.raises(gc.ShapeError, match="reshape"):
            gc.reshape(x, target)
        return
    y = gc.reshape(x, target)
    assert y.shape == want.shape
    np.testing.assert_array_equal(gc.compile([x], y * 1.0, backend="interpret")(values), want)


@SHAPE_RULES
@given(st.lists(st.integers(1, 4), min_size=0, max_size=3).map(tuple), st.data())
def test_property_reductions_match_numpy(shape, data):
    ndim = len(shape)
    if ndim == 0:  # NumPy accepts axis=0 of a 0-d array as a quirk; graphc does not
        axis = data.draw(st.sampled_from([None, ()]))
    else:
        axis = data.draw(st.one_of(st.none(), st.integers(-ndim - 1, ndim),
                                   st.lists(st.integers(-ndim, ndim - 1), max_size=3).map(tuple)))
    keep = data.draw(st.booleans())
    fn, ref = data.draw(st.sampled_from([(gc.sum, np.sum), (gc.mean, np.mean), (gc.max, np.max)]))
    x = gc.input("x", shape)
    values = np.random.default_rng(0).standard_normal(shape)
    try:
        want = ref(values, axis=axis, keepdims=keep)
    except (ValueError, TypeError):  # numpy's AxisError is a ValueError
        with pytest.raises(gc.ShapeError):
            fn(x, axis=axis, keepdims=keep)
        return
    y = fn(x, axis=axis, keepdims=keep)
    assert y.shape == np.shape(want)
    np.testing.assert_allclose(gc.compile([x], y, backend="interpret")(values), want, rtol=1e-14)
