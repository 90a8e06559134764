"""Product dims (N*1024): their canonical form, the shape rules that meet them, and their
binding at call time in both backends."""

from __future__ import annotations

import numpy as np
import pytest

import graphc as gc
from graphc.errors import ArgumentError, GraphError, ShapeError
from graphc.ir.shapes import Prod, as_shape, dim_value, reshape_target

product = gc.product

BACKENDS = ("numba", "interpret")


def test_product_has_one_canonical_form():
    assert product("N", 4) == product(4, "N") == product(2, "N", 2) == Prod(4, ("N",))
    assert hash(product("N", 4)) == hash(product(2, product(2, "N")))
    assert product("N", "M") == product("M", "N") == Prod(1, ("M", "N"))
    assert product("N", 1) == "N" and product(3, 4) == 12 and product("N", 0) == 0
    assert product("N", "N") == Prod(1, ("N", "N")) != product("N")
    assert str(product(1024, "N")) == "N*1024" and str(product("B", "A", 3)) == "A*B*3"
    assert as_shape(("N*4", "4*N", " N * 4 ", 3), "t") == (product("N", 4),) * 3 + (3,)
    assert dim_value(product("N", "M", 3), {"N": 2, "M": 5}) == 30


@pytest.mark.parametrize("bad", ["N*", "N*-1", "N*a b", "2.5*N"])
def test_malformed_products_are_shape_errors(bad):
    with pytest.raises(ShapeError, match="named dim"):
        as_shape((bad, 3), "input x")


def test_reshape_merges_named_and_fixed_dims_and_splits_them_back():
    x = gc.input("x", ("N", 4, 5))
    merged = gc.reshape(x, (-1, 5))
    assert merged.shape == (product("N", 4), 5) and merged.type_str == "f64[N*4,5]"
    assert gc.reshape(merged, ("N", 4, 5)).shape == ("N", 4, 5)
    assert gc.reshape(merged, ("N", -1)).shape == ("N", 20)
    assert gc.reshape(merged, (-1, 4, 5)).shape == ("N", 4, 5)
    assert gc.reshape(merged, (-1,)).shape == (product("N", 20),)
    assert gc.reshape(x, ("N*4", 5)).shape == merged.shape  # the product written out
    assert reshape_target("t", ("N", "M", 3), (-1, 3)) == (product("N", "M"), 3)
    assert "f64[N*4,5]" in gc.show(merged * 2.0)


def test_reshape_of_a_product_checks_the_sizes():
    merged = gc.reshape(gc.input("x", ("N", 4, 5)), (-1, 5))
    for bad in (("N", 3, 5), ("N", -1, 3), ("M", 4, 5)):
        with pytest.raises(ShapeError, match="cannot reshape"):
            gc.reshape(merged, bad)


def test_a_product_never_broadcasts_and_binds_like_a_name():
    merged = gc.reshape(gc.input("x", ("N", 4, 3)), (-1, 3))
    assert (merged + merged).shape == merged.shape
    assert (merged + gc.input("r", (1, 3))).shape == merged.shape  # the 1 broadcasts, not the product
    bound = merged + gc.input("z", (8, 3))  # N*4 meets 8: N = 2
    assert bound.shape == (8, 3) and dict(bound.bindings) == {"N": 2}
    with pytest.raises(ShapeError, match="cannot broadcast"):
        merged + gc.input("y", (6, 3))  # 6 is no multiple of 4
    with pytest.raises(ShapeError, match="cannot broadcast"):
        merged + gc.input("m", ("M", 3))
    with pytest.raises(ShapeError, match="cannot broadcast"):
        merged + gc.reshape(gc.input("w", ("N", 2, 3)), (-1, 3))  # N*2 is not N*4


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_declared_product_binds_its_name_at_call_time(backend):
    x = gc.input("x", ("N*2", 3))
    f = gc.compile([x], gc.reshape(x, ("N", 2, 3)) * 2.0, backend=backend)
    a = np.arange(18.0).reshape(6, 3)
    np.testing.assert_array_equal(f(a), 2.0 * a.reshape(3, 2, 3))
    np.testing.assert_array_equal(f(a[:4]), 2.0 * a[:4].reshape(2, 2, 3))  # rebinds N, no recompile
    with pytest.raises(ArgumentError, match=r"argument x: .*dim 0 \(N\*2\) is 5 but must be a multiple of 2"):
        f(np.zeros((5, 3)))


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_product_is_checked_against_the_names_other_arguments_bind(backend):
    x, y = gc.input("x", ("N*2", 3)), gc.input("y", ("N",))
    f = gc.compile([x, y], gc.reshape(x, ("N", 6)) * gc.reshape(y, ("N", 1)), backend=backend)
    a, b = np.ones((6, 3)), np.arange(3.0)
    np.testing.assert_array_equal(f(a, b), np.ones((3, 6)) * b[:, None])
    with pytest.raises(ArgumentError, match=r"argument x: .*dim 0 \(N\*2\) is 6 but must be 8 \(N = 4\)"):
        f(a, np.arange(4.0))


def test_a_product_of_two_unknown_names_is_a_graph_error():
    x = gc.input("x", ("N*M", 3))
    with pytest.raises(GraphError, match="named dim M is not a dim of any input"):
        gc.compile([x], gc.reshape(x, ("N", "M", 3)), backend="interpret")
