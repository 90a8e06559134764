"""Graphs of many inputs: a packed kernel (graphc.codegen.kernel.pack, the caller's
make_packed_caller) and split loops reaching their arrays through an address table."""

import re

import numpy as np
import pytest

import graphc as gc
from graphc.bench import scaling
from graphc.bench.scaling import wide
from graphc.codegen import kernel, split


@pytest.fixture
def low_thresholds(monkeypatch):
    """Packing and splitting at sizes that compile in seconds."""
    monkeypatch.setattr(kernel, "PACK_ABOVE", 8)
    monkeypatch.setattr(split, "SPLIT_ABOVE", 24)


def _graph(n, dtype, shape):
    """n inputs, a 0-d scale, a matmul outside the fused loop, the loss and its gradients."""
    xs = [gc.input(f"x{i}", shape=shape, dtype=dtype) for i in range(n)]
    s = gc.input("s", shape=(), dtype=dtype)
    w = gc.input("w", shape=(4, 4), dtype=dtype)
    h = 0
    for i, x in enumerate(xs):
        h = h + gc.tanh(x) * x * (s if i % 3 else 1.0)
    loss = gc.sum(h * h) + gc.sum(gc.matmul(h, w))
    inputs = [*xs, s, w]
    return inputs, [loss, h, *gc.grad(loss, inputs)]


# each value of each factor at least once (each case compiles for ~15 s)
@pytest.mark.parametrize("dtype,named,workspace", [("float64", True, True), ("float32", True, False),
                                                   ("float32", False, True), ("float64", False, False)])
def test_packed_kernel_equals_the_interpreter(low_thresholds, dtype, named, workspace):
    n = 12
    shape = ("N", 4) if named else (5, 4)
    inputs, outputs = _graph(n, dtype, shape)
    f = gc.compile(inputs, outputs, workspace=workspace)
    g = gc.compile(inputs, outputs, backend="interpret")
    assert f.source.count("def kernel(addresses") == 1 and "def kernel_part" in f.source
    rng = np.random.default_rng(3)
    rows = 5
    values = [rng.standard_normal((rows, 4)).astype(dtype) for _ in range(n)]
    values += [np.asarray(0.8, dtype=dtype)[()], rng.standard_normal((4, 4)).astype(dtype)]
    rtol = 1e-10 if dtype == "float64" else 2e-4
    for _ in range(2):  # the second call: a workspace kept from the first
        got = f(*values)
        for a, b in zip(got, g(*values), strict=True):
            assert np.asarray(a).dtype == np.asarray(b).dtype
            np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol)
    if named:  # another N: the caller allocates the results from the dims it passes
        more = [rng.standard_normal((9, 4)).astype(dtype) for _ in range(n)] + values[n:]
        for a, b in zip(f(*more), g(*more), strict=True):
            np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol)
        # by keyword, and a list: the slow path
        named_args = {x.name: v.tolist() for x, v in zip(inputs, more)}
        for a, b in zip(f(**named_args), g(*more), strict=True):
            np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol)


def test_packed_results_are_fresh_writable_and_unshared(low_thresholds):
    xs = [gc.input(f"x{i}", shape=("N",)) for i in range(10)]
    total = xs[0]
    for x in xs[1:]:
        total = total + x
    f = gc.compile(xs, [xs[3], total, total, *xs])  # an input returned, a result twice
    values = [np.arange(3.0) + i for i in range(10)]
    got = f(*values)
    assert "def kernel(addresses" in f.source
    np.testing.assert_array_equal(got[0], values[3])
    np.testing.assert_array_equal(got[1], sum(values))
    arrays = [*got, *values]
    for k, a in enumerate(got):
        assert a.flags.writeable and a.flags.owndata
        assert not any(np.shares_memory(a, b) for b in arrays[:k] + arrays[k + 1:])


def test_equal_parts_over_different_inputs_are_one_loop():
    xs, loss = wide(60)
    f = gc.compile(xs, [loss, *gc.grad(loss, xs)])
    main = f.source[f.source.index("def kernel("):]
    assert main.startswith("def kernel(addresses, N):")  # packed: 60 inputs and 60 gradients
    loops = re.findall(r"for part\w* in range\((\d+)\):  # parts \d+ to \d+\n +(\w+)\(([^)]*)\)", main)
    assert loops and max(int(run) for run, _, _ in loops) >= 10
    for _, helper, arguments in loops:  # a loop's calls differ only in their slices of the tables
        assert re.fullmatch(r"(kernel_constants\[[^]]+\], )?kernel_addresses, kernel_entries\[[^]]+\]"
                            r"(, kernel_constants\[[^]]+\])?, 0, n", arguments)
        assert re.search(rf"def {helper}\((constants\d, )?table\d, entries\d(, constants\d)?, lo, hi\):", f.source)
    calls = re.findall(r"\n    (?:\w+, = )?(kernel_part\w*)\(", main)
    assert len(calls) < 40 and len(set(calls)) <= 12
    rng = np.random.default_rng(0)
    values = [rng.standard_normal((7, 8)) for _ in xs]
    g = gc.compile(xs, [loss, *gc.grad(loss, xs)], backend="interpret")
    for a, b in zip(f(*values), g(*values), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_small_kernels_keep_their_calling_convention():
    xs, loss = wide(8)
    f = gc.compile(xs, [loss, *gc.grad(loss, xs)])
    assert "def kernel(x0, x1, x2, x3, x4, x5, x6, x7):" in f.source and "address" not in f.source
    assert not kernel.wants_packing(xs, [loss, *gc.grad(loss, xs)])


def test_wide_workload_measures_cold_warm_and_run():
    (row,) = [scaling.measure_wide(3, rounds=2, min_time=0.0005)]
    assert row["n"] == 3 and not row["problems"]
    assert row["compile_cold"] > 0 and row["compile_cold_cpu"] > 0 and row["compile_warm"] > 0
    assert row["run"] > 0 and row["run_interpret"] > 0
    (line,) = scaling.format_wide_rows([row])[1:]
    assert line.split()[0] == "3" and "WRONG" not in line


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_parts_differing_only_in_constants_share_a_helper(dtype):
    # each term scaled by its own weight: the weights go to the parts as data
    n = 100
    xs = [gc.input(f"x{i}", shape=(6, 8), dtype=dtype) for i in range(n)]
    h = 0
    for i, x in enumerate(xs):
        h = h + gc.tanh(x) * (0.5 + i / n)
    loss = gc.sum(h * h)
    outputs = [loss, *gc.grad(loss, xs)]
    f = gc.compile(xs, outputs)
    main = f.source[f.source.index("def kernel("):]
    assert "kernel_constants = np.array([" in f.source and "kernel_constants[" in main
    runs = [int(run) for run in re.findall(r"for part\w* in range\((\d+)\):", main)]
    assert runs and max(runs) >= 8
    parts = re.findall(r"# part \d+: (\w+) computes", main)  # without the constants as data, each its own helper
    assert len(parts) >= 3 * len(set(parts)) and len(parts) > 40
    if dtype == "float32":
        assert re.search(r"c0 = np\.float32\(constants\d\[0\]\)  # a constant", f.source)
    g = gc.compile(xs, outputs, backend="interpret")
    rng = np.random.default_rng(5)
    values = [rng.standard_normal((6, 8)).astype(dtype) for _ in xs]
    rtol = 1e-12 if dtype == "float64" else 1e-4
    for a, b in zip(f(*values), g(*values), strict=True):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol)
