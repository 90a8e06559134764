"""The contraction primitive: its spec, its gradients (contractions again, switch gates)
and its kernel (one gemm over operands viewed as matrices, a loop of gemm calls over
batch axes, a copy only for an operand whose axes are not grouped)."""

from __future__ import annotations

import re

import numpy as np
import pytest

import graphc as gc
from graphc.errors import GraphError, ShapeError


def _gemm_lines(source: str) -> list[str]:
    return [line for line in source.splitlines() if "gemm_call(" in line and "import" not in line]


def test_matmul_is_a_contraction_and_its_gradients_are_contractions():
    x, w = gc.input("x", ("N", 4)), gc.input("w", (4, 3))
    y = x @ w
    assert y.op == "contract" and y.attrs["spec"] == "ik,kj->ij"
    assert (gc.input("v", (4,)) @ w).attrs["spec"] == "k,kj->j"
    assert (gc.input("t", (2, "N", 4)) @ w).attrs["spec"] == "aik,kj->aij"
    assert (gc.input("b", (2, 3, 4)) @ gc.input("c", (2, 4, 5))).attrs["spec"] == "aik,akj->aij"
    dx, dw = gc.grad(gc.sum(y * y), [x, w])
    assert (dx.op, dx.attrs["spec"], dx.pattern) == ("contract", "ij,kj->ik", "switch")  # g @ w.T, no transpose
    assert (dw.op, dw.attrs["spec"], dw.pattern) == ("contract", "ik,ij->kj", "switch")  # x.T @ g
    assert re.search(r"= contract\[spec=ik,kj->ij\] %0 %1$", gc.show(y), re.M)


def test_kernel_calls_gemm_once_per_contraction_without_copies():
    # N-D @ 2-D, a named batch, operands transposed in memory: each one gemm call, no copy
    x, w, u = gc.input("x", ("N", 3, 4)), gc.input("w", (4, 5)), gc.input("u", (5, 4))
    outs = [x @ w, x @ u.T, gc.einsum("nhc,fc->nhf", x, u)]
    f = gc.compile([x, w, u], outs)
    gemms = _gemm_lines(f.source)
    assert len(gemms) == 3 and "for " not in f.source and "_c = " not in f.source, f.source
    rng = np.random.default_rng(0)
    a, b, c = (rng.standard_normal(s) for s in ((2, 3, 4), (4, 5), (5, 4)))
    for got, want in zip(f(a, b, c), (a @ b, a @ c.T, np.einsum("nhc,fc->nhf", a, c))):
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_kernel_loops_over_batch_axes_and_copies_only_ungrouped_operands():
    a, b = gc.input("a", ("N", 3, 4)), gc.input("b", ("N", 4, 2))
    p, q = gc.input("p", (4, 2, 3)), gc.input("q", (3, 4))
    outs = [a @ b, gc.einsum("kij,jk->i", p, q)]
    f = gc.compile([a, b, p, q], outs)
    # a strided batch: one call, its gemms one per element of the batch
    assert re.search(r"gemm_batch_call\(N, 4 \* 2, 3 \* 4, 3 \* 2, .*, a batch of N, one per element of a$", f.source,
                     re.M), f.source
    assert len(re.findall(r"_c = ", f.source)) == 1  # p, whose contracted axes k, j are not adjacent
    rng = np.random.default_rng(0)
    args = [rng.standard_normal(s) for s in ((5, 3, 4), (5, 4, 2), (4, 2, 3), (3, 4))]
    for got, want in zip(f(*args), (args[0] @ args[1], np.einsum("kij,jk->i", args[2], args[3]))):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    # an empty batch and an empty contracted axis
    empty = [np.zeros((0, 3, 4)), np.zeros((0, 4, 2)), *args[2:]]
    assert f(*empty)[0].shape == (0, 3, 2)


def test_kernel_loops_over_leading_result_axes_instead_of_copying():
    # conv2d's contraction writes (N, F, OH*OW) image by image; its gradients too
    w, p = gc.input("w", (4, 3)), gc.input("p", ("N", 5, 3))
    y = gc.ir.apply("contract", w, p, spec="fc,nhc->nfh")
    assert y.shape == ("N", 4, 5)
    dw, dp = gc.grad(gc.sum(y * y), [w, p])
    assert (dw.attrs["spec"], dp.attrs["spec"]) == ("nfh,nhc->fc", "nfh,fc->nhc")
    f = gc.compile([w, p], [y, dw, dp])
    assert len(re.findall(r"gemm_batch_call\(N, .*, a batch of N, one per n$", f.source, re.M)) == 2, f.source
    # dw sums a gemm per image (n leads both g and p) instead of copying g to (F, N*H)
    assert len(re.findall(r"for n\w* in range\(N\):  # gemms summed over n", f.source)) == 1, f.source
    assert "_c = " not in f.source and "gemm_sum_call(" in f.source, f.source
    rng = np.random.default_rng(0)
    wv, pv = rng.standard_normal((4, 3)), rng.standard_normal((2, 5, 3))
    yv = np.einsum("fc,nhc->nfh", wv, pv)
    for got, want in zip(f(wv, pv), (yv, np.einsum("nfh,nhc->fc", 2 * yv, pv), np.einsum("nfh,fc->nhc", 2 * yv, wv))):
        np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gemms_summed_over_contracted_axes_that_lead_both_operands(dtype):
    # contracted n and t lead both operands' memory, then a batch b: a gemm per (n, t, b)
    # slice, summed over n and t, with no copy; no terms (N = 0) gives zeros
    a, b = gc.input("a", ("N", 2, 3, 4, 5), dtype=dtype), gc.input("b", ("N", 2, 3, 5, 6), dtype=dtype)
    y = gc.ir.apply("contract", a, b, spec="ntbik,ntbkj->bij")
    f = gc.compile([a, b], y)
    assert "_c = " not in f.source and "# gemms summed over t" in f.source, f.source
    assert "one gemm per batch element (b)" in f.source, f.source
    rng = np.random.default_rng(1)
    av, bv = rng.standard_normal((3, 2, 3, 4, 5)).astype(dtype), rng.standard_normal((3, 2, 3, 5, 6)).astype(dtype)
    want = np.einsum("ntbik,ntbkj->bij", av.astype(np.float64), bv.astype(np.float64))
    got, tol = f(av, bv), 1e-5 if dtype == np.float32 else 1e-12
    assert got.dtype == dtype
    np.testing.assert_allclose(got, want, rtol=tol)
    np.testing.assert_allclose(got, gc.compile([a, b], y, backend="interpret")(av, bv), rtol=tol)
    assert np.array_equal(f(av[:0], bv[:0]), np.zeros((3, 4, 6), dtype))


@pytest.mark.parametrize("count,size,dtype", [(64, 32, np.float64), (64, 32, np.float32), (3, 130, np.float32),
                                              (1, 200, np.float64), (0, 8, np.float64)])
def test_a_strided_batch_of_gemms_matches_numpy_whatever_the_thread_count(count, size, dtype):
    # 64 small gemms (run in groups on the loop threads), 3 each large enough to be cut
    # into blocks, one, none; the shared operand (w) has stride 0
    x, w = gc.input("x", ("N", size, size), dtype=dtype), gc.input("w", (size, size), dtype=dtype)
    y = gc.ir.apply("contract", w, x, spec="jk,nik->nji")  # conv2d's pattern: one gemm per n
    f = gc.compile([x, w], [y, x @ x])
    assert f.source.count("gemm_batch_call(N, ") == 2, f.source
    rng = np.random.default_rng(3)
    xv, wv = rng.standard_normal((count, size, size)).astype(dtype), rng.standard_normal((size, size)).astype(dtype)
    try:
        gc.set_threads(1)
        one = f(xv, wv)
        gc.set_threads(2)
        two = f(xv, wv)
    finally:
        gc.set_threads(None)
    tol = 1e-12 if dtype == np.float64 else 1e-4
    for got, want in zip(one, (np.einsum("jk,nik->nji", wv, xv), xv @ xv)):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * size)
    assert all(np.array_equal(a, b) for a, b in zip(one, two))


def test_spec_errors_name_the_op_and_operands():
    a, b = gc.input("a", (3, 4)), gc.input("b", (5, 4))
    with pytest.raises(ShapeError, match=r"contract: a has shape \(3, 4\) but b has shape \(5, 4\): axis i"):
        gc.ir.apply("contract", a, b, spec="ik,ik->i")
    with pytest.raises(GraphError, match="sum an operand first"):
        gc.ir.apply("contract", a, b, spec="ik,jk->i")
    with pytest.raises(GraphError, match="distinct letters"):
        gc.ir.apply("contract", a, b, spec="ii,jk->j")
    with pytest.raises(ShapeError, match="gives it 3 axes"):
        gc.ir.apply("contract", a, b, spec="ikl,jk->ilj")
    with pytest.raises(GraphError, match="einsum: spec 'ij,k->ik' gives b of shape"):
        gc.einsum("ij,k->ik", a, b)
    with pytest.raises(GraphError, match="einsum: the result"):
        gc.einsum("ik,jk->iz", a, b)
