"""Every error a user can cause: the graphc exception class, and a message that names the
op or argument, what was expected and what was given. No bare NumPy/networkx errors."""

from __future__ import annotations

import re

import numpy as np
import pytest

import graphc as gc
from graphc.errors import GraphcError
from graphc.ir import apply, order


def raises(exc, *fragments, match=None):
    """pytest.raises(exc) that also checks the message contains every fragment."""

    class _Check:
        def __enter__(self):
            self.ctx = pytest.raises(exc)
            self.info = self.ctx.__enter__()
            return self.info

        def __exit__(self, *exc_info):
            suppressed = self.ctx.__exit__(*exc_info)
            if not suppressed:
                return False
            message = str(self.info.value)
            assert type(self.info.value).__module__.startswith("graphc"), type(self.info.value)
            for fragment in fragments:
                assert fragment in message, f"{fragment!r} not in {message!r}"
            if match is not None:
                assert re.search(match, message), f"{match!r} does not match {message!r}"
            return suppressed

    return _Check()


def test_exception_hierarchy():
    assert issubclass(gc.ShapeError, ValueError)
    assert issubclass(gc.ArgumentError, ValueError)
    assert issubclass(gc.GraphError, ValueError)
    assert issubclass(gc.DTypeError, TypeError)
    for cls in (gc.ShapeError, gc.DTypeError, gc.ArgumentError, gc.GraphError):
        assert issubclass(cls, GraphcError)


# -- declaration ------------------------------------------------------------------------------------------
def test_matmul_inner_dims_exact_message():
    x = gc.input("x", shape=("N", 1000))
    w2 = gc.input("w2", shape=(100, 10))
    with pytest.raises(gc.ShapeError) as info:
        x @ w2
    assert str(info.value) == "matmul: x has shape (N, 1000) but w2 has shape (100, 10): inner dims 1000 and 100 differ"


def test_matmul_other_shape_errors():
    a = gc.input("a", (2, 3, 4))
    b = gc.input("b", (4, 2))
    with raises(gc.ShapeError, "matmul", "b", "(4, 2)", "(2, 3, 4)", "same batch dims"):
        b @ a
    with raises(gc.ShapeError, "matmul", "s has shape ()", "1 or more dims"):
        gc.input("s", ()) @ b
    v = gc.input("v", (3,))
    with raises(gc.ShapeError, "matmul", "v has shape (3,)", "b has shape (4, 2)", "inner dims 3 and 4 differ"):
        gc.matmul(v, b)


def test_broadcast_mismatch():
    a = gc.input("a", (3, 4))
    b = gc.input("b", (5,))
    with raises(gc.ShapeError, "add", "a has dim 4", "b has dim 5", "a (3, 4)", "b (5,)", "broadcast"):
        a + b
    with raises(gc.ShapeError, "mul", "a (3, 4)", "(2, 4)"):
        a * np.ones((2, 4))
    with raises(gc.ShapeError, "where", "a (3, 4)", "b (5,)"):
        gc.where(gc.greater(a, 0), a, b)


def test_named_dim_bound_to_two_sizes():
    x = gc.input("x", ("N", 3))
    five = x + gc.input("z5", (5, 3))  # binds N = 5
    four = x + gc.input("z4", (4, 3))  # binds N = 4
    with raises(gc.ShapeError, "add", "named dim N", "5", "4"):
        gc.sum(five) + gc.sum(four)


def test_named_dim_against_another_named_dim():
    x = gc.input("x", ("N", 3))
    m = gc.input("m", ("M", 3))
    with raises(gc.ShapeError, "add", "x has dim N", "m has dim M", "x (N, 3)", "m (M, 3)"):
        x + m
    p = gc.input("p", ("N", "K"))
    q = gc.input("q", ("M", 2))
    with raises(gc.ShapeError, "matmul", "p has shape (N, K)", "q has shape (M, 2)", "inner dims K and M differ"):
        p @ q


def test_reshape_size_mismatch():
    a = gc.input("a", (3, 4))
    with raises(gc.ShapeError, "reshape", "a", "(3, 4)", "(5,)", "numbers of elements differ"):
        gc.reshape(a, (5,))
    with raises(gc.ShapeError, "reshape", "(3, 4)", "(5, -1)"):
        gc.reshape(a, (5, -1))
    with raises(gc.ShapeError, "reshape", "one -1", "(-1, -1)"):
        gc.reshape(a, (-1, -1))
    n = gc.input("n", ("N", 3))
    with raises(gc.ShapeError, "reshape", "(N, 3)", "(M, 3)"):
        gc.reshape(n, ("M", 3))
    with raises(gc.ShapeError, "reshape", "(N, 3)", "(2, -1)"):
        gc.reshape(n, (2, -1))  # 3N elements are not known to split in 2
    assert gc.reshape(n, (-1,)).shape == (gc.product("N", 3),)  # a product dim, N*3
    with raises(gc.ShapeError, "reshape", "non-negative", "-2"):
        gc.reshape(a, (-2, 6))


@pytest.mark.parametrize("fn, axis", [(gc.sum, 2), (gc.mean, -3), (gc.max, (0, 2)), (gc.sum, (0, 0)),
                                      (gc.max, 1.5), (gc.softmax, 2), (gc.log_softmax, -3)])
def test_bad_axis(fn, axis):
    a = gc.input("a", (3, 4))
    op = fn.__name__
    with raises(gc.ShapeError, op, str(axis) if not isinstance(axis, tuple) else "axis"):
        fn(a, axis=axis)


def test_bad_transpose_axes():
    t = gc.input("t", (2, 3, 4))
    with raises(gc.ShapeError, "transpose", "t", "(0, 1, 5)", "3 axes"):
        gc.transpose(t, (0, 1, 5))  # 5 must not wrap around to axis 2
    with raises(gc.ShapeError, "transpose", "t", "(0, 1)", "3 axes"):
        gc.transpose(t, (0, 1))
    with raises(gc.ShapeError, "transpose", "t", "(0, 0, 1)"):
        gc.transpose(t, (0, 0, 1))
    with raises(gc.ShapeError, "transpose", "t", "-4"):
        gc.transpose(t, (-4, 0, 1))


def test_bad_broadcast_to():
    a = gc.input("a", (3, 4))
    with raises(gc.ShapeError, "broadcast_to", "a", "(4, 4)"):
        gc.broadcast_to(a, (4, 4))
    with raises(gc.ShapeError, "broadcast_to", "a", "(4,)"):
        gc.broadcast_to(a, 4)
    with raises(gc.ShapeError, "broadcast_to", "a", "2.5"):
        gc.broadcast_to(a, (2.5, 4))


@pytest.mark.parametrize("fn", [gc.exp, gc.log, gc.sqrt, gc.tanh, gc.sigmoid, gc.relu, gc.leaky_relu, gc.elu,
                                gc.softmax, gc.log_softmax, gc.mean, lambda i: i / i, lambda i: i ** 2,
                                lambda i: gc.matmul(i, i)])
def test_float_only_ops_on_int64(fn):
    i = gc.input("i", (3,), "int64")
    with raises(gc.DTypeError, "i has dtype int64", "floating", "gc.cast"):
        fn(i)


def test_one_hot_errors():
    a = gc.input("a", (3,))
    with raises(gc.DTypeError, "one_hot", "a has dtype float64", "int64"):
        gc.one_hot(a, 3)
    i = gc.input("i", (3,), "int64")
    for classes in (0, -2, 2.5, True):
        with raises(gc.ShapeError, "one_hot", "positive int", repr(classes)):
            gc.one_hot(i, classes)


@pytest.mark.parametrize("dtype", ["float16", "int32", "complex128", "foo", np.uint8, object])
def test_bad_input_dtype(dtype):
    with raises(gc.DTypeError, "input x", "float64, float32, int64", repr(dtype) if isinstance(dtype, str) else ""):
        gc.input("x", (3,), dtype)


@pytest.mark.parametrize("shape, fragment", [((3.0,), "3.0"), ((-1,), "-1"), (("a b",), "'a b'"),
                                             ([[3]], "[3]"), ((True,), "True"), (None, "None"),
                                             ((3, None), "None")])
def test_bad_input_shape(shape, fragment):
    with raises(gc.ShapeError, "input x", fragment):
        gc.input("x", shape)


def test_bad_input_name():
    with raises(gc.GraphError, "input", "'1x'", "identifier"):
        gc.input("1x", (3,))


def test_unknown_op():
    a = gc.input("a", (3,))
    with raises(gc.GraphError, "unknown op 'frobnicate'", "add", "contract"):
        apply("frobnicate", a)


def test_bad_operands():
    a = gc.input("a", (3,))
    with raises(gc.GraphError, "add", "list", "[1, 2]"):
        a + [1, 2]
    with raises(gc.GraphError, "mul", "str"):
        a * "s"
    with pytest.raises(TypeError, match="a is a symbolic graphc node"):
        bool(a)


def test_grad_of_a_non_scalar():
    a = gc.input("a", (3, 4))
    with raises(gc.ShapeError, "grad", "a", "(3, 4)", "scalar"):
        gc.grad(a * 2, a)


def test_grad_of_an_int_scalar():
    i = gc.input("i", (3,), "int64")
    a = gc.input("a", (3,))
    with raises(gc.DTypeError, "grad", "int64", "floating"):
        gc.grad(gc.sum(i), a)


def test_grad_wrt_an_int_input():
    i = gc.input("i", (3,), "int64")
    with raises(gc.DTypeError, "grad", "i has dtype int64", "floating"):
        gc.grad(gc.sum(gc.cast(i, "float64")), i)


def test_grad_wrt_not_a_node():
    a = gc.input("a", (3,))
    with raises(gc.GraphError, "grad", "wrt[1]", "int"):
        gc.grad(gc.sum(a), [a, 3])
    with raises(gc.GraphError, "grad", "list"):
        gc.grad([a], a)


def test_grad_bad_seed():
    a = gc.input("a", (3,))
    y = gc.sum(a, name="y")
    with raises(gc.ShapeError, "grad", "seed s", "()", "(3,)"):
        gc.grad(y, a, seed=gc.input("s", (3,)))
    with raises(gc.DTypeError, "grad", "seed s", "float64", "float32"):
        gc.grad(y, a, seed=gc.input("s", (), "float32"))
    with raises(gc.GraphError, "grad", "seed", "float"):
        gc.grad(y, a, seed=2.0)


def test_bad_node_names():
    a = gc.input("a", (3,))
    for name in (3, "", "two\nlines"):
        with raises(gc.GraphError, "exp", "name", repr(name)):
            gc.exp(a, name=name)
    with raises(gc.GraphError, "const", "name", "['x']"):
        gc.const(1.0, name=["x"])


def test_grad_disconnected_raise():
    a = gc.input("a", (3,))
    b = gc.input("b", (2,))
    y = gc.sum(a, name="y")
    with raises(gc.GraphError, "grad", "y", "does not depend on b"):
        gc.grad(y, [a, b], disconnected="raise")
    # a dependence through a comparison only carries no gradient either
    with raises(gc.GraphError, "does not depend on b"):
        gc.grad(gc.sum(a * gc.sum(gc.greater(b, 0.0))), b, disconnected="raise")


def test_grad_bad_disconnected_value():
    a = gc.input("a", (3,))
    with raises(gc.GraphError, "grad", "disconnected", "'zeros' or 'raise'", "'ignore'"):
        gc.grad(gc.sum(a), a, disconnected="ignore")


def test_cycle():
    x = gc.input("x", (3,))
    a = gc.exp(x, name="a")
    b = gc.tanh(a, name="b")
    c = gc.neg(b, name="c")
    object.__setattr__(a, "inputs", (c,))  # nodes are immutable; force a -> b -> c -> a
    with raises(gc.GraphError, "cycle", match=r"(a -> b -> c -> a|b -> c -> a -> b|c -> a -> b -> c)"):
        order([c])
    with raises(gc.GraphError, "cycle"):
        gc.compile([x], c, backend="interpret")
    with raises(gc.GraphError, "cycle"):
        gc.show(c)
    with raises(gc.GraphError, "cycle"):
        gc.grad(gc.sum(c), b)


def test_compile_output_needs_a_missing_input():
    a = gc.input("a", (3,))
    b = gc.input("b", (3,))
    with raises(gc.GraphError, "compile", "input b", "not among the inputs", "(a)"):
        gc.compile([a], a + b, backend="interpret")


def test_compile_other_errors():
    a = gc.input("a", (3,))
    with raises(gc.GraphError, "compile", "inputs[1]", "gc.input"):
        gc.compile([a, a * 2], a, backend="interpret")
    with raises(gc.GraphError, "compile", "two inputs", "'a'"):
        gc.compile([a, gc.input("a", (3,))], a, backend="interpret")
    with raises(gc.GraphError, "compile", "backend", "'jax'", "interpret"):
        gc.compile([a], a, backend="jax")
    with raises(gc.GraphError, "expected graphc nodes", "int"):
        gc.compile([a], [a, 3], backend="interpret")


def test_compile_named_dim_no_input_determines():
    a = gc.input("a", (1, 4))
    y = gc.broadcast_to(a, ("N", 4))
    with raises(gc.GraphError, "compile", "(N, 4)", "named dim N", "a (1, 4)"):
        gc.compile([a], y, backend="interpret")


# -- call time (interpret backend) -------------------------------------------------------------------------
@pytest.fixture
def f():
    x = gc.input("x", ("N", 3))
    y = gc.input("y", ("N", 2))
    k = gc.input("k", (), "int64")
    s = gc.input("s", ("N",), "float32")
    return gc.compile([x, y, k, s], gc.sum(x) + gc.sum(y) + gc.sum(s) + k, backend="interpret")


X, Y, S = np.ones((4, 3)), np.ones((4, 2)), np.ones(4, np.float32)


def test_call_ok(f):
    assert f(X, Y, 1, S) == 4 * 3 + 4 * 2 + 4 + 1
    assert f(X, Y, np.int64(2), S) == 26


def test_call_wrong_argument_count(f):
    with raises(gc.ArgumentError, "expected 4 arguments", "x, y, k, s", "got 3"):
        f(X, Y, 1)
    with raises(gc.ArgumentError, "expected 4 arguments", "got 5"):
        f(X, Y, 1, S, S)


def test_call_wrong_dtype(f):
    # conversions that may lose something raise, naming the reason and the way out
    with raises(gc.DTypeError, "argument s", "expected dtype float32", "got float64", "precision",
                "allow_input_downcast=True"):
        f(X, Y, 1, S.astype(np.float64))
    with raises(gc.DTypeError, "argument k", "int64", "float64", "fractional part"):
        f(X, Y, np.float64(1), S)
    with raises(gc.DTypeError, "argument x", "float64", "complex128", "not a real number"):
        f(X.astype(np.complex128), Y, 1, S)


def test_call_converts_without_loss(f):
    want = f(X, Y, 1, S)
    assert f(X.astype(np.float32), Y, 1, S) == f(X.astype(np.float32).astype(np.float64), Y, 1, S)
    assert f(X.astype(np.int64), Y, 1, S) == f(X.astype(np.int64).astype(np.float64), Y, 1, S)
    assert f(X.tolist(), Y.tolist(), np.int32(1), S.tolist()) == want  # lists; Python floats for float32
    assert f(X, Y, True, S) == want  # a bool is 1, as in NumPy


def test_call_lossy_conversions_with_allow_input_downcast():
    s = gc.input("s", ("N",), dtype="float32")
    k = gc.input("k", (), dtype="int64")
    for backend in ("interpret", "numba"):
        g = gc.compile([s, k], gc.sum(s) * gc.cast(k, "float32"), backend=backend, allow_input_downcast=True)
        assert g(np.array([0.1, 0.2]), 2.7) == np.float32(2) * (np.float32(0.1) + np.float32(0.2))


def test_call_wrong_ndim(f):
    with raises(gc.ArgumentError, "argument x", "(N, 3)", "2 dims", "(3,)", "1 dims"):
        f(X[0], Y, 1, S)
    with raises(gc.ArgumentError, "argument k", "()", "(1,)"):
        f(X, Y, np.array([1]), S)


def test_call_wrong_fixed_dim(f):
    with raises(gc.ArgumentError, "argument x", "(N, 3)", "(4, 4)", "dim 1 must be 3"):
        f(np.ones((4, 4)), Y, 1, S)


def test_call_named_dim_bound_twice(f):
    with raises(gc.ArgumentError, "argument y", "(N)", "5", "4", "argument x"):
        f(X, np.ones((5, 2)), 1, S)
    with raises(gc.ArgumentError, "argument s", "argument x"):
        f(X, Y, 1, np.ones(5, np.float32))


def test_call_named_dim_bound_by_the_graph():
    x = gc.input("x", ("N", 3))
    z = gc.input("z", (5, 3))
    g = gc.compile([x, z], x + z, backend="interpret")
    assert g(np.ones((5, 3)), np.ones((5, 3))).shape == (5, 3)
    with raises(gc.ArgumentError, "argument x", "(N)", "4", "5", "the graph"):
        g(np.ones((4, 3)), np.ones((5, 3)))


def test_call_ragged_list(f):
    with raises(gc.DTypeError, "argument x", "float64", "(N, 3)", "list", "cannot make an array"):
        f([[1.0, 2.0, 3.0], [1.0]], Y, 1, S)


def test_call_python_float_for_int64(f):
    with raises(gc.DTypeError, "argument k", "int64", "Python float"):
        f(X, Y, 1.0, S)


@pytest.mark.parametrize("value, given", [("1", "str"), (None, "NoneType"), (1 + 2j, "complex"),
                                          (2 ** 70, "int")])
def test_call_other_bad_scalars(f, value, given):
    with raises(gc.DTypeError, "argument k", "int64", given):
        f(X, Y, value, S)


def test_call_empty_named_dim_under_a_max():
    x = gc.input("x", ("N", 3))
    g = gc.compile([x], [gc.max(x, axis=0), gc.softmax(x, axis=0)], backend="interpret")
    with raises(gc.ArgumentError, "argument x", "named dim N is 0", "max", "at least one element"):
        g(np.ones((0, 3)))
    # a sum over no elements is fine (0), and so is a max over the other axis
    assert gc.compile([x], gc.sum(x), backend="interpret")(np.ones((0, 3))) == 0
    assert gc.compile([x], gc.max(x, axis=1), backend="interpret")(np.ones((0, 3))).shape == (0,)


def test_call_complex_array(f):
    with raises(gc.DTypeError, "argument x", "float64", "complex128"):
        f(X.astype(complex), Y, 1, S)


def test_bad_activation_parameters():
    a = gc.input("a", (3,))
    with raises(gc.GraphError, "leaky_relu", "alpha", "real number", "'a'"):
        gc.leaky_relu(a, "a")
    with raises(gc.GraphError, "elu", "alpha", "None"):
        gc.elu(a, None)
    assert gc.elu(a, np.float32(0.5)).attrs["alpha"] == 0.5


def test_int_constant_out_of_range():
    i = gc.input("i", (3,), "int64")
    with raises(gc.DTypeError, "constant", "int64", str(10 ** 19)):
        i + 10 ** 19
    with raises(gc.DTypeError, "constant", str(10 ** 19)):
        gc.const(np.array([10 ** 19], dtype=np.uint64))
    with raises(gc.DTypeError, "constant", "object"):
        gc.const(10 ** 30)


def test_not_a_list_of_nodes():
    a = gc.input("a", (3,))
    with raises(gc.GraphError, "grad", "wrt", "list of nodes", "int"):
        gc.grad(gc.sum(a), 3)
    with raises(gc.GraphError, "compile", "inputs", "list", "int"):
        gc.compile(3, a, backend="interpret")
    with raises(gc.GraphError, "compile", "outputs", "list", "NoneType"):
        gc.compile([a], None, backend="interpret")


def test_check_grad_bad_arguments():
    a = gc.input("a", (3,))
    y = gc.sum(a)
    with raises(gc.GraphError, "check_grad", "values", "dict", "list"):
        gc.check_grad(y, a, [np.ones(3)])
    with raises(gc.GraphError, "check_grad", "eps", "positive", "-1"):
        gc.check_grad(y, a, {"a": np.ones(3)}, eps=-1)
    with raises(gc.DTypeError, "check_grad", "value of a", "float64", "'x'"):
        gc.check_grad(y, a, {"a": "x"})
    with raises(gc.GraphError, "check_grad", "int 3", "input node"):
        gc.check_grad(y, [a, 3], {"a": np.ones(3)})
    with raises(gc.ArgumentError, "argument a", "(3,)", "(4,)"):
        gc.check_grad(y, a, {"a": np.ones(4)})


WEIRD = [None, "a", -1, 1.5, (1.5,), [0, "a"], {"a": 1}, object(), np.array([1.0]), (0, 0), 10 ** 30,
         float("nan"), True, (), [[0]], 3 + 2j, b"x", np.float64(2.0)]


def _public_calls():
    x = gc.input("x", (3, 4))
    i = gc.input("i", (3,), "int64")
    total = gc.sum(x)
    f = gc.compile([x], total, backend="interpret")
    fi = gc.compile([i], gc.sum(i), backend="interpret")
    return {
        "input shape": lambda w: gc.input("q", w), "input dtype": lambda w: gc.input("q", (2,), w),
        "input name": lambda w: gc.input(w, (2,)), "sum axis": lambda w: gc.sum(x, axis=w),
        "mean axis": lambda w: gc.mean(x, axis=w), "max keepdims": lambda w: gc.max(x, axis=0, keepdims=w),
        "reshape": lambda w: gc.reshape(x, w), "transpose": lambda w: gc.transpose(x, w),
        "broadcast_to": lambda w: gc.broadcast_to(x, w), "one_hot classes": lambda w: gc.one_hot(i, w),
        "one_hot dtype": lambda w: gc.one_hot(i, 3, dtype=w), "one_hot labels": lambda w: gc.one_hot(w, 3),
        "leaky_relu alpha": lambda w: gc.leaky_relu(x, w), "elu alpha": lambda w: gc.elu(x, w),
        "cast": lambda w: gc.cast(x, w), "const": lambda w: gc.const(w),
        "const dtype": lambda w: gc.const(1.0, dtype=w),
        "add": lambda w: x + w, "int add": lambda w: i + w, "radd": lambda w: w + x, "matmul": lambda w: x @ w,
        "pow": lambda w: x ** w, "where": lambda w: gc.where(w, x, x), "softmax axis": lambda w: gc.softmax(x, axis=w),
        "name": lambda w: gc.exp(x, name=w), "grad wrt": lambda w: gc.grad(total, w),
        "grad y": lambda w: gc.grad(w, x), "grad disconnected": lambda w: gc.grad(total, x, disconnected=w),
        "grad seed": lambda w: gc.grad(total, x, seed=w),
        "compile inputs": lambda w: gc.compile(w, x, backend="interpret"),
        "compile outputs": lambda w: gc.compile([x], w, backend="interpret"),
        "compile backend": lambda w: gc.compile([x], x, backend=w), "call": f, "int call": fi,
        "show": gc.show, "to_dot": gc.to_dot, "to_networkx": gc.to_networkx,
        "check_grad values": lambda w: gc.check_grad(total, x, w),
        "check_grad value": lambda w: gc.check_grad(total, x, {"x": w}),
        "check_grad wrt": lambda w: gc.check_grad(total, w, {"x": np.ones((3, 4))}),
        "check_grad eps": lambda w: gc.check_grad(total, x, {"x": np.ones((3, 4))}, eps=w),
    }


def test_no_bare_exceptions_from_bad_values():
    """Any public entry point given a value of the wrong kind succeeds or raises a graphc error."""
    leaks = []
    with np.errstate(all="ignore"):
        for what, call in _public_calls().items():
            for value in WEIRD:
                try:
                    call(value)
                except GraphcError:
                    pass
                except Exception as e:  # noqa: BLE001 - collecting them is the point
                    leaks.append(f"{what}({value!r}): {type(e).__name__}: {e}")
    assert not leaks, "\n".join(leaks)
