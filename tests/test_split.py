"""A long fused loop split into shared helper functions (graphc.codegen.split)."""

import re

import numpy as np
import pytest

import graphc as gc
from graphc.bench.scaling import chain
from graphc.codegen import split


def _compare(inputs, outputs, values, rtol=1e-12):
    f = gc.compile(inputs, outputs)
    g = gc.compile(inputs, outputs, backend="interpret")
    for got, want in zip(f(*values), g(*values)):
        np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-12)
    return f.source


def _parts(source: str) -> tuple[int, set[str]]:
    """How many parts the kernel calls, and the distinct helpers it calls them through."""
    calls = re.findall(r"# part \d+: (\w+) computes", source)
    return len(calls), set(calls)


def test_cuts_cover_in_bounded_ranges_aligned_on_the_period():
    tokens = ["a", "b"] + ["t", "m", "p", "s"] * 20 + ["x", "y", "z"] * 9
    ranges = split.cuts(tokens, 16)
    assert ranges[0][0] == 0 and ranges[-1][1] == len(tokens)
    assert all(a < b <= a + 16 and b == c for (a, b), (c, _) in zip(ranges, ranges[1:]))
    pieces = [tuple(tokens[a:b]) for a, b in ranges]
    common = max(set(pieces), key=pieces.count)  # the repeats give equal ranges, whole periods
    assert pieces.count(common) >= 4 and len(common) == 16 and common == common[:4] * 4
    assert pieces.count(("x", "y", "z") * 5) >= 1


def test_a_long_chain_is_split_into_few_shared_helpers():
    x, loss = chain(400)
    outputs = [loss, *gc.grad(loss, [x])]
    value = np.random.default_rng(0).standard_normal((300, 8))
    source = _compare([x], outputs, [value])
    calls, helpers = _parts(source)
    assert calls > 60 and len(helpers) <= 10
    assert re.search(r"for part\w* in range\(\d+\):  # parts \d+ to \d+", source)  # a run of calls is a loop
    for helper in helpers:  # each at most PART_MEMBERS statements per element
        body = source[source.index(f"def {helper}("):].split("\n\n\n")[0]
        assert 0 < len(re.findall(r"# \[\d+\] = ", body)) <= split.PART_MEMBERS
    kernel = source[source.index("def kernel("):]
    assert len(kernel.splitlines()) < 3 * calls  # the main function: comments and a few calls per part


def test_a_small_loop_is_not_split():
    x, loss = chain(20)
    source = gc.compile([x], [loss, *gc.grad(loss, [x])]).source
    assert _parts(source) == (0, set()) and "def kernel_part" not in source and "scratch" not in source


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_split_loop_with_scalars_broadcasts_stores_and_reductions(dtype):
    # a 1-D loop: a scalar input and a one-element array read by every part, values
    # stored for outside the loop from the middle, a reduction in the middle
    x = gc.input("x", shape=("N",), dtype=dtype)
    s = gc.input("s", shape=(), dtype=dtype)
    b = gc.input("b", shape=(1,), dtype=dtype)
    h, middle = x, []
    for k in range(60):
        h = gc.tanh(h * s + b) if k % 2 else gc.sigmoid(h) - b * 0.5
        if k in (17, 41):
            middle.append(h)
    total = gc.sum(h) + gc.sum(middle[0] * middle[1])
    outputs = [total, middle[0] * 2.0, *gc.grad(total, [x, s, b])]
    rng = np.random.default_rng(1)
    values = [rng.standard_normal(257).astype(dtype), np.asarray(0.7, dtype=dtype),
              rng.standard_normal(1).astype(dtype)]
    source = _compare([x, s, b], outputs, values, rtol=1e-12 if dtype == "float64" else 2e-4)
    assert _parts(source)[0] > 5
    assert f"scratch_{'f64' if dtype == 'float64' else 'f32'}" in source
