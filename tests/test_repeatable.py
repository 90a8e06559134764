"""Bit-for-bit repeatable results: the same compiled function on the same inputs returns
the same bits on every call, wherever the heap puts its intermediates."""

from __future__ import annotations

import numpy as np

import graphc as gc
from graphc.codegen import parallel

CALLS = 3000


def two_layer_net():
    """CS231n assignment 1's two-layer net (loss and gradients), with a named batch dim."""
    x, y = gc.input("x", shape=("N", 4)), gc.input("y", shape=("N",), dtype="int64")
    w1, b1 = gc.input("w1", shape=(4, 10)), gc.input("b1", shape=(10,))
    w2, b2 = gc.input("w2", shape=(10, 3)), gc.input("b2", shape=(3,))
    scores = gc.maximum(x @ w1 + b1, 0.0) @ w2 + b2
    loss = gc.nn.softmax_cross_entropy(scores, y) + 0.05 * (gc.sum(w1 * w1) + gc.sum(w2 * w2))
    return [x, y, w1, b1, w2, b2], [loss, *gc.grad(loss, [w1, b1, w2, b2])]


def test_same_bits_whatever_the_heap():
    # A full sum over a named dim in a loop that also stores: LLVM's vectorized copy and
    # its serial fallback (taken when the arrays lie close together) add in different
    # orders. Small allocations between the calls move the intermediates about; with
    # these inputs the two orders differ in the last bit of the loss.
    inputs, outputs = two_layer_net()
    f = gc.compile(inputs, outputs)
    weights = np.random.RandomState(0)
    args = [10 * np.random.RandomState(1).randn(5, 4), np.array([0, 1, 2, 2, 1]), 0.1 * weights.randn(4, 10),
            np.zeros(10), 0.1 * weights.randn(10, 3), np.zeros(3)]
    for largest in (16, 64):
        differ = calls_with_other_bits(f, args, largest)
        assert differ == 0, f"{differ} of {CALLS} calls returned other bits (allocations up to {largest})"


def calls_with_other_bits(f, args: list, largest: int) -> int:
    """How many of CALLS calls of ``f`` return other bits than the first, with small
    allocations (up to ``largest`` elements) made and freed between them."""
    want = [np.asarray(r).tobytes() for r in f(*args)]
    rng = np.random.default_rng(largest)
    kept: list[np.ndarray] = []
    differ = 0
    for _ in range(CALLS):
        kept.append(np.empty(int(rng.integers(1, largest))))
        if len(kept) > 50:
            del kept[int(rng.integers(0, len(kept)))]
        differ += [np.asarray(r).tobytes() for r in f(*args)] != want
    return differ



def test_a_short_loop_adds_its_terms_apart_in_the_kernel():
    # the same blocks in the kernel itself: a helper function would cost a whole Numba compile
    x = gc.input("x", shape=(2500,))
    f = gc.compile([x], [gc.sum(gc.exp(x)), gc.exp(x)])
    assert f.source[f.source.index("@numba"):] == """\
@numba.njit(cache=True, nogil=True, no_rewrites=True, error_model="numpy", fastmath={"reassoc", "contract"})
def kernel(x):
    wide_vectors()  # its loops may use 512-bit vectors
    # fused loop over (2500,): %1, %2
    n = 2500
    sum2 = 0.0  # %2 = sum %1
    exp1 = np.empty(2500, dtype=np.float64)
    sum2_terms = np.empty(1024, dtype=np.float64)
    for block in range(0, n, 1024):
        length = min(1024, n - block)
        x_block = x[block:block + length]
        exp1_block = exp1[block:block + length]
        for i0 in range(length):
            x_e = x_block[i0]
            exp1_e = exp_f64(x_e)  # %1 = exp %0
            exp1_block[i0] = exp1_e
            sum2_terms[i0] = exp1_e  # %2 = sum %1: a term
        for j in range(length):
            sum2 += sum2_terms[j]  # %2 = sum %1: its terms, in order
    return (sum2, exp1,)
"""
    v = np.linspace(-1, 1, 2500)  # three blocks, the last one short
    np.testing.assert_allclose(f(v)[0], np.sum(np.exp(v)), rtol=1e-14)
    np.testing.assert_allclose(f(v)[1], np.exp(v), rtol=1e-15)
    buffer = np.empty(2600)
    for start in range(8):  # the same bits wherever the arrays are
        u = buffer[start:start + 2500]
        u[:] = v
        assert f(u)[0] == f(v)[0]

def test_full_sums_in_storing_loops_add_their_terms_apart():
    # in blocks, each block's terms in a loop of loads alone; a named dim's loop is cut
    # into chunks by its size (graphc.codegen.parallel), each chunk's partial combined in order
    x = gc.input("x", shape=("N",))
    f = gc.compile([x], [gc.sum(gc.exp(x)), gc.exp(x)])
    launch = ("""\
    if n >= 131072:  # enough work for threads (graphc.codegen.parallel.min_parallel)
        run_chunks(kernel_chunk, chunks, (x, exp1, sum2_parts, n, chunks,))  # the chunks on graphc's loop threads
    else:
        for c in range(chunks):
            kernel_chunk(x, exp1, sum2_parts, n, chunks, c)
""" if parallel.available() else """\
    for c in range(chunks):
        kernel_chunk(x, exp1, sum2_parts, n, chunks, c)
""")
    assert f.source[f.source.index("@numba"):] == """\
@numba.njit(cache=True, nogil=True, no_rewrites=True, error_model="numpy", fastmath={"reassoc", "contract"})
def kernel_chunk(x_whole, exp1_whole, sum2_parts, n, chunks, c):
    # chunk c of chunks of n elements of the fused loop %1, %2 of kernel
    wide_vectors()  # its loops may use 512-bit vectors
    lo = c * n // chunks  # chunk c of chunks: cut by the size alone
    hi = (c + 1) * n // chunks
    sum2_chunk = 0.0
    sum2_terms = np.empty(1024, dtype=np.float64)
    for block in range(lo, hi, 1024):
        length = min(1024, hi - block)
        x = x_whole[block:block + length]
        exp1 = exp1_whole[block:block + length]
        for i0 in range(length):
            x_e = x[i0]
            exp1_e = exp_f64(x_e)  # %1 = exp %0
            exp1[i0] = exp1_e
            sum2_terms[i0] = exp1_e  # %2 = sum %1: a term
        for j in range(length):
            sum2_chunk += sum2_terms[j]  # %2 = sum %1: its terms, in order
    sum2_parts[c] = sum2_chunk


@numba.njit(cache=True, nogil=True, no_rewrites=True, error_model="numpy", fastmath={"reassoc", "contract"})
def kernel(x):
    wide_vectors()  # its loops may use 512-bit vectors
    N = x.shape[0]
    # fused loop over (N,): %1, %2
    n = N
    sum2 = 0.0  # %2 = sum %1
    exp1 = np.empty(N, dtype=np.float64)
    chunks = max(1, n // 65536)  # fixed by the size, not by the thread count
    sum2_parts = np.empty(chunks, dtype=np.float64)
""" + launch + """\
    for c in range(chunks):
        sum2 += sum2_parts[c]  # %2 = sum %1
    return (sum2, exp1,)
"""
    v = np.linspace(-1, 1, 2500)  # three blocks, the last one short
    np.testing.assert_allclose(f(v)[0], np.sum(np.exp(v)), rtol=1e-14)
    np.testing.assert_allclose(f(v)[1], np.exp(v), rtol=1e-15)


def test_reductions_over_the_innermost_axis_add_a_row_at_a_time():
    # a sum over the innermost axis of a nested loop that also stores: its terms go to a
    # row, a loop of loads alone adds the row in a register (one order for a given size),
    # and the sum is updated once per row; a short innermost axis (< ROW_TERMS) still
    # accumulates in memory. Bits stay the same wherever the heap puts the arrays.
    from graphc.codegen.loops import ROW_TERMS

    x, b = gc.input("x", shape=(3, "N")), gc.input("b", shape=("N",))
    y = gc.exp(x) * b
    f = gc.compile([x, b], [y, gc.sum(y, axis=1), gc.max(y, axis=1)])
    assert "sum4_row[i1] = mul3_e" in f.source and "max5_row[i1] = mul3_e" in f.source, f.source
    short = gc.input("s", shape=(3, ROW_TERMS - 1))
    assert "_row" not in gc.compile([short], [gc.sum(gc.exp(short), axis=1), gc.exp(short)]).source
    args = [np.random.default_rng(2).standard_normal((3, 37)), np.random.default_rng(3).standard_normal(37)]
    for got, ref in zip(f(*args), (np.exp(args[0]) * args[1], (np.exp(args[0]) * args[1]).sum(1),
                                   (np.exp(args[0]) * args[1]).max(1))):
        np.testing.assert_allclose(got, ref, rtol=1e-13)
    differ = calls_with_other_bits(f, args, 64)
    assert differ == 0, f"{differ} of {CALLS} calls returned other bits"
