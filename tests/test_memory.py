"""The memory plan and the per-thread workspace (graphc.codegen.memory, graphc.runtime.workspace)."""

from __future__ import annotations

import multiprocessing
import threading

import numpy as np
import pytest

import graphc as gc


def _chain():
    """Three matrix products in a row: the first's buffer is free when the third's is made."""
    x = gc.input("x", shape=("N", 16))
    w1, w2, w3 = (gc.input(f"w{k}", shape=(16, 16)) for k in (1, 2, 3))
    h3 = ((x @ w1) @ w2) @ w3
    loss = gc.sum(gc.tanh(h3))
    return [x, w1, w2, w3], loss


def _args(n: int, seed: int = 0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, 16)), *(rng.standard_normal((16, 16)) / 4 for _ in range(3)))


def _workspace(f) -> np.ndarray:
    return f._call.__globals__["_spaces"].ws  # the calling thread's


def test_buffers_whose_lifetimes_do_not_overlap_share_a_slot():
    inputs, loss = _chain()
    f = gc.compile(inputs, [loss, *gc.grad(loss, inputs[1:])])
    plan = f.memory.plans["kernel"]
    assert len(plan.slots) < len(plan.buffers)
    _check_disjoint(plan, {"N": 7})
    assert "# memory plan:" in f.source and "workspace_view(ws, ws_0," in f.source
    fresh = gc.compile(inputs, [loss, *gc.grad(loss, inputs[1:])], workspace=False)
    reference = gc.compile(inputs, [loss, *gc.grad(loss, inputs[1:])], backend="interpret")
    for n in (5, 40, 5):  # and after the workspace grew
        args = _args(n, seed=n)
        got = f(*args)
        for a, b, c in zip(got, fresh(*args), reference(*args)):
            assert np.array_equal(a, b)  # the same code on other memory: the same bits
            np.testing.assert_allclose(a, c, rtol=1e-12, atol=1e-12)


def _check_disjoint(plan, dims: dict[str, int]) -> None:
    """No two buffers live at one step share a byte; each starts on a 64-byte boundary."""
    from graphc.ir.shapes import resolve

    starts = np.cumsum([0] + [plan.slot_bytes(s, dims) for s in plan.slots])
    spans = []
    for b in plan.buffers:
        at = int(starts[b.slot]) + b.offset
        spans.append((b, at, at + int(np.prod(resolve(b.shape, dims))) * b.itemsize))
        assert at % 64 == 0
    for k, (a, a0, a1) in enumerate(spans):
        for b, b0, b1 in spans[k + 1:]:
            if a.first <= b.last and b.first <= a.last:
                assert a1 <= b0 or b1 <= a0, (a.label, b.label)


def test_fixed_sizes_pack_into_the_most_bytes_live_at_once():
    x = gc.input("x", shape=(128, 24))
    w1, w2 = gc.input("w1", shape=(24, 160)), gc.input("w2", shape=(160, 8))
    h = gc.relu(x @ w1)
    loss = gc.sum(gc.tanh(h @ w2) ** 2) + gc.sum(gc.exp(-h))
    f = gc.compile([x, w1, w2], [loss, *gc.grad(loss, [x, w1, w2])])
    plan = f.memory.plans["kernel"]
    _check_disjoint(plan, {})
    live = [sum(int(np.prod(b.shape)) * b.itemsize for b in plan.buffers if b.first <= t <= b.last)
            for t in range(max(b.last for b in plan.buffers) + 1)]
    assert len(plan.slots) == 1 and max(live) <= f.memory.bytes()["workspace"] < sum(
        int(np.prod(b.shape)) * b.itemsize for b in plan.buffers)
    rng = np.random.default_rng(3)
    args = rng.standard_normal((128, 24)), rng.standard_normal((24, 160)) / 5, rng.standard_normal((160, 8)) / 12
    fresh = gc.compile([x, w1, w2], [loss, *gc.grad(loss, [x, w1, w2])], workspace=False)
    for _ in range(2):
        for a, b in zip(f(*args), fresh(*args)):
            assert np.array_equal(a, b)


def test_memory_reports_the_workspace_as_a_formula_and_in_bytes():
    inputs, loss = _chain()
    f = gc.compile(inputs, loss)
    # (N, 16) f64 buffers: 128 bytes per row; the three products need two slots, the
    # tanh loop stores nothing (its sum is the output)
    assert f.memory.workspace == "N*256"
    assert f.memory.tape is None
    assert f.memory.bytes(N=3) == {"workspace": 2 * 384}  # each slot rounded up to 64 bytes
    with pytest.raises(gc.ArgumentError, match="named dim 'N'"):
        f.memory.bytes()
    assert f.memory.allocated() == 0
    f(*_args(3))
    assert f.memory.allocated() == 2 * 384 + 63
    f.memory.release()
    assert f.memory.allocated() == 0
    assert np.isfinite(f(*_args(3)))


def test_the_workspace_is_kept_between_calls_and_grows_only_when_needed():
    inputs, loss = _chain()
    f = gc.compile(inputs, loss)
    f(*_args(8))
    first = _workspace(f)
    f(*_args(8))
    f(*_args(2))
    assert _workspace(f) is first
    f(*_args(100))
    assert _workspace(f).nbytes == f.memory.bytes(N=100)["workspace"] + 63


def test_results_are_never_the_workspace():
    x = gc.input("x", shape=("N", 6))
    w = gc.input("w", shape=(6, 4))
    h = x @ w  # an intermediate and, through a view, an output
    g = gc.relu(h) * 2.0
    outputs = [gc.reshape(h, (-1,)), g.T, gc.sum(g, axis=0), gc.exp(h @ w.T) @ w]  # the last: from planned ones
    f = gc.compile([x, w], outputs)
    assert f.memory.plans["kernel"] is not None
    rng = np.random.default_rng(1)
    args = rng.standard_normal((5, 6)), rng.standard_normal((6, 4))
    results = f(*args)
    ws = _workspace(f)
    for r in results:
        assert not np.shares_memory(r, ws)
    kept = [r.copy() for r in results]
    f(rng.standard_normal((5, 6)), rng.standard_normal((6, 4)))
    for r, k in zip(results, kept):
        assert np.array_equal(r, k)


def test_a_tape_outlives_the_next_calls():
    inputs, loss = _chain()
    step = gc.compile_grad(loss, inputs, inputs[1:])
    assert step.memory.plans["forward"] is not None or step.memory.plans["backward"] is not None
    args = _args(7)
    _, tape = step.forward(*args)
    assert step.memory.bytes(N=7)["tape"] == sum(v.nbytes for v in tape.values if isinstance(v, np.ndarray))
    assert step.memory.tape.startswith("N*")
    expected = step.backward(tape)
    saved = [v.copy() for v in tape.values]
    for seed in range(3):  # other calls reuse the workspace
        step(*_args(7, seed=seed + 1))
    assert all(np.array_equal(a, b) for a, b in zip(tape.values, saved))
    assert all(not np.shares_memory(v, step._spaces.ws) for v in tape.values if isinstance(v, np.ndarray))
    for a, b in zip(step.backward(tape), expected):
        assert np.array_equal(a, b)


def test_threads_each_have_their_own_workspace():
    inputs, loss = _chain()
    f = gc.compile(inputs, [loss, *gc.grad(loss, inputs[1:])])
    cases = [_args(n, seed=n) for n in (3, 17, 64, 9)]
    expected = [f(*a) for a in cases]
    errors: list[str] = []
    start = threading.Barrier(len(cases))

    def run(k: int) -> None:
        start.wait()
        for _ in range(300):
            got = f(*cases[k])
            if not all(np.array_equal(a, b) for a, b in zip(got, expected[k])):
                errors.append(f"thread {k}")
                return

    threads = [threading.Thread(target=run, args=(k,)) for k in range(len(cases))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def _in_child(f, args, queue) -> None:
    queue.put([np.asarray(r) for r in f(*args)])


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork")
def test_a_forked_child_computes_with_its_copy():
    inputs, loss = _chain()
    f = gc.compile(inputs, [loss, *gc.grad(loss, inputs[1:])])
    args = _args(12)
    expected = f(*args)  # the parent's workspace exists when it forks
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_in_child, args=(f, _args(30), queue))
    child.start()
    got = queue.get(timeout=60)
    child.join(timeout=60)
    assert child.exitcode == 0
    for a, b in zip(got, f(*_args(30))):
        assert np.array_equal(a, b)
    for a, b in zip(f(*args), expected):
        assert np.array_equal(a, b)


def test_without_the_workspace_each_intermediate_is_fresh():
    inputs, loss = _chain()
    f = gc.compile(inputs, loss, workspace=False)
    assert "memory plan" not in f.source and "workspace_view" not in f.source
    assert f.memory.workspace == "0" and f.memory.bytes() == {"workspace": 0}


def test_a_kernel_with_small_fixed_intermediates_takes_no_workspace():
    x = gc.input("x", shape=(8, 6))
    w = gc.input("w", shape=(6, 4))
    loss = gc.sum(gc.tanh(x @ w) @ w.T)
    f = gc.compile([x, w], [loss, *gc.grad(loss, [x, w])])
    assert f.memory.plans == {"kernel": None} and "workspace_view" not in f.source
    assert "np.empty(8 * 4, dtype=np.float64)" in f.source


def test_a_kernel_with_nothing_to_plan_takes_no_workspace():
    a, b = gc.input("a"), gc.input("b")
    f = gc.compile([a, b], [a * b + 1.0])
    assert f.memory.plans == {"kernel": None} and "ws" not in f.source.split("def kernel(")[1].split(")")[0]


def test_workspace_views_start_on_64_byte_boundaries():
    import numba

    from graphc.codegen.views import workspace_view

    @numba.njit
    def addresses(ws):
        a = workspace_view(ws, 0, 3, np.float64)
        b = workspace_view(ws, 64, 5, np.float32)
        a[:] = 1.0
        b[:] = 2.0
        return a.ctypes.data, b.ctypes.data, a.sum() + b.sum()

    buffer = np.zeros(256, dtype=np.uint8)
    for start in range(3):  # wherever the array starts
        ws = buffer[start:start + 200]
        first, second, total = addresses(ws)
        assert first % 64 == 0 and second == first + 64 and total == 13.0
        assert ws.ctypes.data <= first < ws.ctypes.data + 64



def test_fill_sets_every_element_in_the_arrays_dtype():
    import numba

    from graphc.codegen.views import fill

    @numba.njit
    def filled(a, b, c, value):
        fill(a, value)  # float64 into float32, as a[i] = value would cast it
        fill(b, 3)
        fill(c, -np.inf)

    a, b, c = np.zeros(5, np.float32), np.zeros((2, 3)), np.zeros(0)
    filled(a, b, c, 0.1)
    assert a.tolist() == [np.float32(0.1)] * 5 and (b == 3.0).all() and c.size == 0
    filled(a[1:], b, c, 2.5)  # the typing rejects anything but a C array (here one that is)
    assert a.tolist() == [np.float32(0.1)] + [2.5] * 4
    with pytest.raises(numba.TypingError):
        filled(a[::2], b, c, 1.0)

def test_an_interpreted_step_reports_the_same_tape():
    inputs, loss = _chain()
    compiled = gc.compile_grad(loss, inputs, inputs[1:])
    interpreted = gc.compile_grad(loss, inputs, inputs[1:], backend="interpret")
    assert interpreted.memory.tape == compiled.memory.tape
    _, tape = interpreted.forward(*_args(4))
    assert interpreted.memory.bytes(N=4) == {"workspace": 0, "tape": sum(
        v.nbytes for v in tape.values if isinstance(v, np.ndarray))}
