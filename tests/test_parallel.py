"""Long fused loops (a fixed size and enough work, or a named dim: see
KernelWriter.long_loop) split into chunks that run on threads through the launcher of
graphc.codegen.parallel: same values as the interpreter, the same bits whatever the
thread count, safe to call from several threads at once and after a fork, and no
kernel compiled with Numba's parfor pipeline."""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import multiprocessing
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import graphc as gc
from graphc.codegen import parallel

LONG = 8 * parallel.CHUNK_ELEMENTS + 7  # long enough to split (see parallel.min_parallel), not a multiple of 2

needs_threads = pytest.mark.skipif(not parallel.available(), reason="no thread-safe threading layer (pip install tbb)")


def long_graph(shape):
    x = gc.input("x", shape=shape)
    s = gc.input("s")
    b = gc.input("b", shape=(1,) * len(shape))  # broadcast along the whole loop
    y = gc.sigmoid(s * x + b) * gc.tanh(x) + gc.maximum(x, 0.1 * x)
    loss = gc.sum(y) + gc.max(x * s)
    return [x, s, b], [loss, y, *gc.grad(loss, [x, s, b])]


def check_against_interpreter(inputs, outputs, args):
    compiled = gc.compile(inputs, outputs)
    want = gc.compile(inputs, outputs, backend="interpret")(*args)
    got = compiled(*args)
    for w, g in zip(want, got):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)
    return compiled


@needs_threads
@pytest.mark.parametrize("shape", [(LONG,), (LONG // 3, 3)])  # a 1-D loop, a flat 2-D loop
def test_long_loops_are_chunked_and_exact(shape):
    inputs, outputs = long_graph(shape)
    x = np.random.default_rng(0).standard_normal(shape)
    f = check_against_interpreter(inputs, outputs, [x, np.float64(0.7), np.full((1,) * x.ndim, 0.2)])
    assert "run_chunks(" in f.source
    assert "prange" not in f.source and "parallel=True" not in f.source  # no parfor compile


def test_short_loops_stay_serial():
    inputs, outputs = long_graph((1000,))
    f = check_against_interpreter(inputs, outputs, [np.linspace(-3, 3, 1000), np.float64(0.7), np.full(1, 0.2)])
    assert "run_chunks" not in f.source and "parallel=True" not in f.source


@needs_threads
@pytest.mark.parametrize("shape", [("N",), ("N", 3)])  # a 1-D loop, a flat 2-D loop
def test_loops_over_named_dims_run_on_threads_when_long(shape):
    # one kernel: chunks on threads for a long N, in a plain loop for a short one
    inputs, outputs = long_graph(shape)
    f = None
    for n in (1000, LONG // shape[-1] if len(shape) > 1 else LONG):
        x = np.random.default_rng(n).standard_normal((n, *shape[1:]))
        f = check_against_interpreter(inputs, outputs, [x, np.float64(0.7), np.full((1,) * x.ndim, 0.2)])
    assert f is not None and "run_chunks(" in f.source and "if n >= " in f.source  # decided at run time
    assert "prange" not in f.source and "parallel=True" not in f.source


@needs_threads
def test_forward_and_backward_kernels_with_long_loops():
    x, s, b = gc.input("x", shape=(LONG,)), gc.input("s"), gc.input("b", shape=(1,))
    loss = gc.sum(gc.sigmoid(s * x + b) * gc.tanh(x) + gc.maximum(x, 0.1 * x))
    args = [np.random.default_rng(1).standard_normal(LONG), np.float64(0.7), np.full(1, 0.2)]
    compiled = gc.compile_grad(loss, inputs=[x, s, b], wrt=[x, s, b])
    assert "forward_chunk" in compiled.source and "backward_chunk" in compiled.source
    want_loss, want_grads = gc.compile_grad(loss, inputs=[x, s, b], wrt=[x, s, b], backend="interpret")(*args)
    got_loss, got_grads = compiled(*args)
    np.testing.assert_allclose(got_loss, want_loss, rtol=1e-12)
    for g, w in zip(got_grads, want_grads):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)


def test_long_but_cheap_loops_stay_serial():
    # a few operations per element: a parallel launch would not pay off
    size = 2 * parallel.CHUNK_ELEMENTS + 1
    assert size < parallel.min_parallel(3)
    x = gc.input("x", shape=(size,))
    f = gc.compile([x], [gc.sum(x * 2.0 + 1.0)])
    assert "run_chunks" not in f.source
    np.testing.assert_allclose(f(np.ones(size))[0], 3.0 * size)


@needs_threads
def test_concurrent_calls_of_a_parallel_kernel():
    inputs, outputs = long_graph((LONG,))
    f = gc.compile(inputs, outputs)
    assert "run_chunks(" in f.source
    xs = [np.random.default_rng(k).standard_normal(LONG) for k in range(4)]
    want = [f(x, 0.7, np.full(1, 0.2)) for x in xs]
    results: dict[int, tuple] = {}

    def work(k: int) -> None:
        for _ in range(3):
            results[k] = f(xs[k], 0.7, np.full(1, 0.2))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(4):
        for w, g in zip(want[k], results[k]):
            np.testing.assert_array_equal(g, w)  # chunked sums combine in chunk order


def _child(queue) -> None:  # pragma: no cover - runs in the forked child
    inputs, outputs = long_graph((LONG,))
    f = gc.compile(inputs, outputs)
    queue.put(float(f(np.ones(LONG), 0.5, np.full(1, 0.2))[0]))


@needs_threads
def test_a_forked_child_can_run_parallel_kernels():
    inputs, outputs = long_graph((LONG,))
    # the parent has run a parallel kernel (its threads are started) before it forks
    want = float(gc.compile(inputs, outputs)(np.ones(LONG), 0.5, np.full(1, 0.2))[0])
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child, args=(queue,))
    child.start()
    child.join(timeout=120)
    assert child.exitcode == 0, f"the forked child ended with {child.exitcode}"
    assert queue.get(timeout=5) == pytest.approx(want, rel=1e-12)


# -- the thread policy (graphc.runtime.threads) ----------------------------------------------
def test_thread_count_is_capped_by_the_cores_and_settable():
    cores = len(os.sched_getaffinity(0))
    assert gc.get_threads() <= cores
    try:
        gc.set_threads(1)
        assert gc.get_threads() == 1
        gc.set_threads(10_000)
        assert gc.get_threads() == cores  # never more threads than cores the process may use
        default = min(int(os.environ.get("GRAPHC_THREADS") or cores), cores)
        gc.set_threads(None)
        assert gc.get_threads() == default
    finally:
        gc.set_threads(None)
    with pytest.raises(gc.ArgumentError, match="positive integer"):
        gc.set_threads(0)


@pytest.mark.skipif(importlib.util.find_spec("numba.np.ufunc.tbbpool") is None and not any(
    d.metadata["Name"] == "tbb" for d in importlib.metadata.distributions()), reason="the tbb wheel is not installed")
@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2 or os.environ.get("GRAPHC_THREADS") == "1", reason="one core")
def test_the_tbb_wheel_is_loaded_from_the_prefix():
    # pip puts libtbb.so.12 in <prefix>/lib, off the loader's path: graphc loads it itself
    assert parallel.available(), gc.thread_info()["loops"]
    assert gc.thread_info()["loops"] == "Numba's TBB threading layer"


def test_the_kernels_gemms_run_in_blocks_on_the_loop_threads():
    gc.warm_up()
    info = gc.thread_info()
    if parallel.available():
        assert info["blas"].startswith("blocks on graphc's loop threads, each a one-thread gemm of a private copy")
    else:
        assert "NumPy's OpenBLAS" in info["blas"]
    assert info["blas_threads"] <= gc.get_threads()  # NumPy's own pool: lowered to graphc's count, never raised


def _bits(values) -> str:
    return hashlib.sha256(b"".join(np.asarray(v).tobytes() for v in values)).hexdigest()


@pytest.mark.parametrize("shape", [(LONG,), ("N",)])
def test_same_bits_whatever_the_thread_count(shape):
    inputs, outputs = long_graph(shape)
    f = gc.compile(inputs, outputs)
    args = [np.random.default_rng(5).standard_normal(LONG), 0.7, np.full(1, 0.2)]
    try:
        gc.set_threads(1)
        one = _bits(f(*args))
        gc.set_threads(2)
        two = _bits(f(*args))
    finally:
        gc.set_threads(None)
    assert one == two == _bits(f(*args))
    # a process without loop threads runs the same chunks in a plain loop: the same bits
    script = ("import sys, numpy as np, graphc as gc; sys.path.insert(0, 'tests'); import test_parallel as t; "
              f"i, o = t.long_graph({shape!r}); f = gc.compile(i, o); "
              "a = [np.random.default_rng(5).standard_normal(t.LONG), 0.7, np.full(1, 0.2)]; "
              "assert 'run_chunks' not in f.source, f.source; "
              "sys.stdout.write(t._bits(f(*a)))")
    env = {**os.environ, "GRAPHC_THREADS": "1", "PYTHONPATH": os.getcwd()}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout == one


def test_a_bad_thread_count_in_the_environment_is_named(monkeypatch):
    monkeypatch.setenv("GRAPHC_THREADS", "two")
    with pytest.raises(gc.ArgumentError, match="GRAPHC_THREADS must be a positive integer, got 'two'"):
        gc.get_threads()


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="one core: serial loops are no fallback")
def test_serial_loops_are_never_a_silent_fallback():
    # a threading layer that is not safe under concurrent calls and forks: serial
    # loops, said once in a warning, and readable afterwards
    script = ("import warnings, graphc as gc; from graphc.codegen import parallel\n"
              "with warnings.catch_warnings(record=True) as w:\n"
              "    warnings.simplefilter('always'); first, again = parallel.available(), parallel.available()\n"
              "print(first, again, [str(x.message) for x in w], gc.thread_info()['loops'])\n"
              "gc.warm_up(); print(gc.thread_info()['blas'])")
    env = {**os.environ, "NUMBA_THREADING_LAYER": "omp", "PYTHONPATH": os.getcwd()}
    env.pop("GRAPHC_THREADS", None)
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    loops, blas = out.stdout.strip().splitlines()
    assert loops == ("False False [\"graphc: long loops run serially: NUMBA_THREADING_LAYER='omp': "
                     "only 'tbb' is thread- and fork-safe\"] serial: NUMBA_THREADING_LAYER='omp': "
                     "only 'tbb' is thread- and fork-safe")
    # and the gemms on NumPy's OpenBLAS pool, said too
    assert blas.startswith("NumPy's OpenBLAS") and blas.endswith("(graphc's loops run serially)"), blas


# (m, k, n) of a @ b: cut along the result's columns or rows (the longer side, in BLAS's
# column-major terms), with operands as stored and transposed; small ones in one call
GEMMS = [(64, 1000, 100), (1000, 64, 100), (300, 200, 700), (33, 500, 1031), (5, 7, 3)]


@pytest.mark.parametrize("m,k,n,dtype", [(*g, np.float64 if i % 2 == 0 else np.float32) for i, g in enumerate(GEMMS)]
                         + [(*GEMMS[0], np.float32)])
def test_blocked_gemms_match_numpy_and_keep_their_bits_whatever_the_thread_count(m, k, n, dtype):
    a, b = gc.input("a", shape=(m, k), dtype=dtype), gc.input("b", shape=(k, n), dtype=dtype)
    g = gc.input("g", shape=(m, n), dtype=dtype)
    # a @ b, and the two gradients: a transposed operand each (a^T g, g b^T)
    f = gc.compile([a, b, g], [a @ b, a.T @ g, g @ b.T])
    rng = np.random.default_rng(7)
    av, bv, gv = (rng.standard_normal(s).astype(dtype) for s in ((m, k), (k, n), (m, n)))
    tol = 1e-12 if dtype == np.float64 else 2e-5
    try:
        gc.set_threads(1)
        one = f(av, bv, gv)
        gc.set_threads(2)
        two = f(av, bv, gv)
    finally:
        gc.set_threads(None)
    for got, want in zip(one, (av @ bv, av.T @ gv, gv @ bv.T)):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.sqrt(max(m, k, n)))
    assert _bits(one) == _bits(two) == _bits(f(av, bv, gv))
