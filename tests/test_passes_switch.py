"""gc.compile(..., passes=...): the passes one by one, what each changed (gc.explain), and
the same results with every pass off as with all on: W1-W5 and random programs."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_autodiff import _setup, programs

import graphc as gc
from graphc.bench.peer_graphc import LOSSES, _inputs, _prepare
from graphc.bench.workloads import WORKLOADS


def _workload(name):
    data = WORKLOADS[name].make_data(np.dtype("float64"), np.random.default_rng(5))
    nodes = _inputs(data)
    loss = LOSSES[name](nodes)
    grads = gc.grad(loss, [nodes[w] for w in WORKLOADS[name].wrt])
    return list(nodes.values()), [loss, *grads], _prepare(data)


@pytest.mark.parametrize("name", ["W1", "W2", "W3_add_mul", "W3_neuron", "W4", "W5_8x8"])
def test_workloads_equal_with_passes_on_and_off(name):
    inputs, outputs, args = _workload(name)
    on = gc.compile(inputs, outputs)
    off = gc.compile(inputs, outputs, passes="none")
    assert off.passes.passes == () and off.passes.changes == []
    assert "identity" in off.source or name == "W3_neuron"  # the gate marks reach the kernel unoptimized
    assert "identity" not in on.source
    for a, b in zip(on(*args), off(*args)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12 * max(1.0, float(np.max(np.abs(b)))))


def test_compile_grad_with_passes_off_and_each_pass_alone():
    inputs, (loss, *_), args = _workload("W1")
    w1, w2 = inputs[2], inputs[3]
    want_loss, want = gc.compile_grad(loss, inputs, [w1, w2])(*args)
    for passes in ("none", ["fold", "cse"]):
        step = gc.compile_grad(loss, inputs, [w1, w2], passes=passes)
        got_loss, got = step(*args)
        np.testing.assert_allclose(got_loss, want_loss, rtol=1e-12)
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-14)


@settings(max_examples=3, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(programs(kinks=True), st.integers(0, 2 ** 16))
def test_random_programs_equal_with_passes_off(program, seed):
    base, tree, tables, nodes, out, r, loss, arrays, rv = _setup(program, seed)
    outputs = [out, loss, *gc.grad(loss, nodes)]
    with np.errstate(all="ignore"):
        want = gc.compile([*nodes, r], outputs, backend="interpret")(*arrays, rv)
        got = gc.compile([*nodes, r], outputs, passes="none")(*arrays, rv)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12 * max(1.0, float(np.nanmax(np.abs(w)))),
                                   err_msg=gc.show(*outputs))


def test_pass_names_are_checked():
    x = gc.input("x", (3,))
    with pytest.raises(gc.GraphError, match="unknown pass 'fusoin'.*simplify, fold, cse, fusion"):
        gc.compile([x], gc.exp(x), passes=["fusoin"])
    with pytest.raises(gc.GraphError, match="compile_grad: expected passes to be 'all', 'none'.*got 3"):
        gc.compile_grad(gc.sum(x), [x], [x], passes=3)
    with pytest.raises(gc.GraphError, match="expected passes"):
        gc.compile([x], gc.exp(x), passes="some")
    with pytest.raises(gc.GraphError, match="explain: .*interpret"):
        gc.explain(gc.compile([x], gc.exp(x), backend="interpret"))


def _lecture():
    x, y, z = (gc.input(n) for n in "xyz")
    f = (x + y) * z
    return [x, y, z], [f, *gc.grad(f, [x, y, z])]


def test_explain_lists_each_pass_with_its_rewrites():
    inputs, outputs = _lecture()
    f = gc.compile(inputs, outputs, cache=False)
    text = gc.explain(f)
    lines = text.splitlines()
    assert lines[0] == "passes: simplify, fold, cse, fusion"
    assert lines[1] == "nodes: 10 declared -> 5 in the kernels"
    # the seed 1 times z is z, 1 times q is q, and the gate marks of x and y go
    assert lines[2:7] == ["simplify: 4 rewrites",
                          "  %6 = mul %5 %2  ->  %2 = input z",
                          "  %7 = mul %5 %3  ->  %3 = add %0 %1",
                          "  %8 = identity %2  ->  %2 = input z",
                          "  %9 = identity %2  ->  %2 = input z"]
    assert lines[7:] == ["fold: 0 rewrites", "cse: 0 rewrites", "fusion (the kernel): 0 loops, 2 other steps"]
    assert f.passes.counts() == {"simplify": 4, "fold": 0, "cse": 0}
    off = gc.explain(gc.compile(inputs, outputs, passes=["cse"]))
    assert "simplify: off" in off and "fold: off" in off and "fusion: off" in off
    assert "cse: 1 rewrite\n  %9 = identity %6  ->  %8 = identity %6\n" in off  # the two marks are equal


def test_fusion_off_gives_one_loop_per_node():
    x = gc.input("x", ("N", 4))
    loss = gc.sum(gc.tanh(x) * gc.exp(x))
    dx = gc.grad(loss, x)
    fused = gc.compile([x], [loss, dx])
    apart = gc.compile([x], [loss, dx], passes=["simplify", "fold", "cse"])
    assert fused.source.count("for i in range") < apart.source.count("for i in range")
    assert re.search(r"loop 1 over \(N, 4\): %\d+ %\d+", gc.explain(fused))
    xv = np.linspace(-1, 1, 8).reshape(2, 4)
    for a, b in zip(fused(xv), apart(xv)):
        np.testing.assert_allclose(a, b, rtol=1e-13)
