"""Hostile and unlucky input: names Python folds together, outputs that alias, a planted
or shared or unusable cache, sizes past the limits, odd arguments, IEEE corners, memory."""

from __future__ import annotations

import gc as pygc
import importlib._bootstrap_external as bootstrap
import os
import pickle
import stat
import sys
import tempfile
import weakref

import numpy as np
import pytest

import graphc as gc
from graphc.errors import ArgumentError, CacheWarning, ShapeError
from graphc.ir.node import renamed
from graphc.runtime import cache as disk

BACKENDS = ["numba", "interpret"]


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    directory = tmp_path / "cache"
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(directory))
    monkeypatch.setattr(disk, "_loaded", weakref.WeakValueDictionary())  # forget kernels other tests loaded
    return directory


def _code_lines(source: str) -> list[str]:
    return [line.split("#")[0] for line in source.splitlines()]


# -- 1. names that NFKC normalization folds together ---------------------------------------
def test_names_python_folds_together_stay_apart():
    x, y = gc.input("x", shape=()), gc.input("y", shape=())
    bold_y = renamed(gc.exp(x), "𝐲")  # mathematical bold y: NFKC makes it y
    f = gc.compile([x, y], bold_y + y)
    assert float(f(1.0, 5.0)) == pytest.approx(np.exp(1.0) + 5.0)
    assert all(line.isascii() for line in _code_lines(f.source)), f.source
    assert "'𝐲'" in f.source  # the user's name, in the comments

    a = gc.input("a", shape=("ｎ", 3))  # a fullwidth n: NFKC makes it the loop variable n
    w = gc.input("w", shape=(3, 3))
    xs = [gc.input("x", shape=(2,)), gc.input("𝐱", shape=(2,)), gc.input("ｎｐ", shape=(2,))]
    g = gc.compile([a, w, *xs], [a @ w, xs[0] + xs[1] * xs[2]])
    av, wv = np.arange(6.0).reshape(2, 3), np.arange(9.0).reshape(3, 3)
    prod, s = g(av, wv, np.ones(2), np.full(2, 2.0), np.full(2, 3.0))
    np.testing.assert_array_equal(prod, av @ wv)
    np.testing.assert_array_equal(s, [7.0, 7.0])
    assert all(line.isascii() for line in _code_lines(g.source)), g.source
    assert "'ｎ'" in g.source and "'𝐱'" in g.source


# -- 2. outputs are fresh arrays: no aliasing of inputs, of each other, or of constants -------
@pytest.mark.parametrize("backend", BACKENDS)
def test_outputs_alias_nothing(backend):
    x, w = gc.input("x", shape=(2, 3)), gc.input("w", shape=(2, 3))
    y = gc.tanh(x)
    (dw,) = gc.grad(gc.sum(x * w), [w])  # it is x itself
    folded = gc.const(np.arange(3.0)) * 2.0  # constant-folded to a constant
    outputs = [x, x.T, x * 1.0, x + 0.0, gc.reshape(x, (6,)), dw, y, y, y * 1.0, gc.reshape(w, (3, 2)), w, folded,
               x[1], x[:, 1:], y[0]]  # slices are views of their operand
    f = gc.compile([x, w], outputs, backend=backend)
    xv, wv = np.arange(6.0).reshape(2, 3), np.ones((2, 3))
    results = f(xv, wv)
    for k, r in enumerate(results):
        assert r.flags.writeable, k
        for other in (xv, wv, *results[:k]):
            assert not np.may_share_memory(r, other), k
    before = xv.copy()
    for r in results:
        r[...] = -1.0
    np.testing.assert_array_equal(xv, before)
    np.testing.assert_array_equal(f(xv, wv)[11], np.arange(3.0) * 2.0)  # the constant is intact


# -- 3. a zero-size dim under a reduction without identity ------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_max_over_an_empty_named_dim_is_an_error(backend):
    x = gc.input("x", shape=("N", 3))
    f = gc.compile([x], gc.max(x, axis=0), backend=backend)
    with pytest.raises(ArgumentError, match="named dim N is 0"):
        f(np.zeros((0, 3)))  # C-contiguous: the fast call path


# -- 4, 5. the disk cache runs nothing graphc did not write ----------------------------------
def _scaled(scale: float):
    x = gc.input("x", shape=(4,))
    return [x], gc.sum(gc.tanh(x) * scale)


def test_planted_bytecode_is_never_run(cache_dir, tmp_path):
    f = gc.compile(*_scaled(1.125))
    path = cache_dir / f"graphc_{disk.key_of(f.source)}.py"
    marker = tmp_path / "planted-ran"
    code = compile(f"open({str(marker)!r}, 'w').close()\n", str(path), "exec")
    st = path.stat()
    pyc = bootstrap._code_to_timestamp_pyc(code, st.st_mtime, st.st_size)  # a valid header for the .py
    (cache_dir / "__pycache__" / f"{path.stem}.cpython-{sys.version_info[0]}{sys.version_info[1]}.pyc").write_bytes(pyc)
    del f
    disk._loaded.clear()
    g = gc.compile(*_scaled(1.125))
    assert not marker.exists()
    assert float(g(np.ones(4))) == pytest.approx(4 * 1.125 * np.tanh(1.0))


class _Payload:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_planted_pickles_are_never_loaded(cache_dir, tmp_path):
    f = gc.compile(*_scaled(1.375))
    marker = tmp_path / "pickle-ran"
    files = list((cache_dir / "__pycache__").glob("*.nb[ic]"))
    assert files
    for entry in files:
        entry.write_bytes(pickle.dumps(_Payload(str(marker))))
    del f
    disk._loaded.clear()
    g = gc.compile(*_scaled(1.375))
    assert not marker.exists()
    assert float(g(np.ones(4))) == pytest.approx(4 * 1.375 * np.tanh(1.0))
    # rewritten: the next load is a signed hit, not a miss
    assert all(entry.read_bytes() != pickle.dumps(_Payload(str(marker))) for entry in files)


# -- 6. permissions -----------------------------------------------------------------------
def test_nothing_created_is_group_or_world_writable_under_umask_0(cache_dir):
    old = os.umask(0)
    try:
        f = gc.compile(*_scaled(1.625))
    finally:
        os.umask(old)
    assert float(f(np.ones(4))) == pytest.approx(4 * 1.625 * np.tanh(1.0))
    assert stat.S_IMODE(cache_dir.stat().st_mode) == 0o700
    made = [cache_dir, *cache_dir.rglob("*")]
    assert any(p.suffix == ".nbi" for p in made)
    for p in made:
        assert not p.stat().st_mode & 0o077, (p, oct(p.stat().st_mode))


def test_a_shared_cache_dir_is_not_used(cache_dir):
    cache_dir.mkdir()
    cache_dir.chmod(0o777)
    with pytest.warns(CacheWarning, match="GRAPHC_CACHE_DIR") as record:
        f = gc.compile(*_scaled(1.875))
    assert len(record) == 1 and "written by its group or others" in str(record[0].message)
    assert float(f(np.ones(4))) == pytest.approx(4 * 1.875 * np.tanh(1.0))
    assert not list(cache_dir.glob("graphc_*")) and not list(cache_dir.rglob("*.nb?"))


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="chown needs root")
def test_a_cache_dir_of_another_user_is_not_used(cache_dir):
    cache_dir.mkdir(mode=0o700)
    os.chown(cache_dir, 65534, 65534)
    with pytest.warns(CacheWarning, match="owned by another user"):
        f = gc.compile(*_scaled(2.125))
    assert float(f(np.ones(4))) == pytest.approx(4 * 2.125 * np.tanh(1.0))
    assert not list(cache_dir.glob("graphc_*"))


# -- 7. unusable caches --------------------------------------------------------------------
def test_a_cache_path_that_is_a_file_falls_back(cache_dir):
    cache_dir.write_text("not a directory")
    with pytest.warns(CacheWarning, match="GRAPHC_CACHE_DIR") as record:
        f = gc.compile(*_scaled(2.375))
    assert len(record) == 1
    assert float(f(np.ones(4))) == pytest.approx(4 * 2.375 * np.tanh(1.0))


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes anywhere")
def test_a_read_only_cache_dir_falls_back(cache_dir):
    cache_dir.mkdir(mode=0o500)
    with pytest.warns(CacheWarning, match="GRAPHC_CACHE_DIR"):
        f = gc.compile(*_scaled(2.625))
    assert float(f(np.ones(4))) == pytest.approx(4 * 2.625 * np.tanh(1.0))


def test_a_cache_that_cannot_be_written_falls_back(cache_dir, monkeypatch):
    def refuse(path, data):  # a read-only or full directory, whoever runs the test (root writes anywhere)
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(disk, "write_private", refuse)
    with pytest.warns(CacheWarning, match="PermissionError.*GRAPHC_CACHE_DIR") as record:
        f = gc.compile(*_scaled(2.75))
    assert len(record) == 1
    assert float(f(np.ones(4))) == pytest.approx(4 * 2.75 * np.tanh(1.0))
    assert not list(cache_dir.glob("graphc_*"))


def test_cache_false_leaves_no_temporary_files(cache_dir, tmp_path, monkeypatch):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    f = gc.compile(*_scaled(2.875), cache=False)
    assert float(f(np.ones(4))) == pytest.approx(4 * 2.875 * np.tanh(1.0))
    assert not list(scratch.iterdir()) and not cache_dir.exists()


# -- 8. limits and keyword arguments ---------------------------------------------------------
def test_sizes_and_ranks_past_the_limits_fail_at_declaration():
    with pytest.raises(ShapeError, match="2\\*\\*63"):
        gc.input("big", shape=(2**40, 2**40))
    with pytest.raises(ShapeError, match="2\\*\\*63"):
        gc.input("big", shape=(2**64,))
    with pytest.raises(ShapeError, match="at most 20 dims"):
        gc.input("deep", shape=(1,) * 21)
    with pytest.raises(ShapeError, match="at most 20 dims"):
        gc.one_hot(gc.input("labels", shape=(1,) * 20, dtype="int64"), 3)


def test_rank_20_compiles():
    shape = (2,) + (1,) * 18 + (3,)
    x = gc.input("x", shape=shape)
    f = gc.compile([x], [gc.max(x, axis=0), gc.sum(x, axis=19)], cache=False)
    xv = np.random.default_rng(0).standard_normal(shape)
    top, total = f(xv)
    np.testing.assert_array_equal(top, xv.max(axis=0))
    np.testing.assert_allclose(total, xv.sum(axis=19))


def test_long_names_are_cut_short_in_code_and_kept_in_comments():
    long = "a" * 3000
    x, y = gc.input(long, shape=(3,)), gc.input(long[:-1] + "b", shape=(3,))
    f = gc.compile([x, y], [renamed(x * y, long + "c"), gc.sum(x)])
    prod, total = f(np.arange(3.0), np.full(3, 2.0))
    np.testing.assert_array_equal(prod, [0.0, 2.0, 4.0])
    assert total == 3.0
    assert max(len(line) for line in _code_lines(f.source)) < 300
    assert repr(long + "c") in f.source


@pytest.mark.parametrize("backend", BACKENDS)
def test_keyword_arguments_by_input_name(backend):
    x, y = gc.input("x", shape=(2,)), gc.input("y", shape=())
    f = gc.compile([x, y], x * y, backend=backend)
    xv = np.array([1.0, 2.0])
    np.testing.assert_array_equal(f(xv, 3.0), [3.0, 6.0])
    np.testing.assert_array_equal(f(xv, y=3.0), [3.0, 6.0])
    np.testing.assert_array_equal(f(y=3.0, x=xv), [3.0, 6.0])
    with pytest.raises(ArgumentError, match="keyword argument 'z'.*x, y"):
        f(xv, z=3.0)
    with pytest.raises(ArgumentError, match="both by position and by keyword"):
        f(xv, 3.0, x=xv)
    with pytest.raises(ArgumentError, match="input y is missing"):
        f(x=xv)
    step = gc.compile_grad(gc.sum(x * y), [x, y], [x], backend=backend)
    loss, (dx,) = step(y=2.0, x=xv)
    assert loss == 6.0
    np.testing.assert_array_equal(dx, [2.0, 2.0])


# -- 9. masked arrays ------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_masked_arrays_are_rejected(backend):
    x = gc.input("x", shape=(3,))
    f = gc.compile([x], gc.sum(x), backend=backend)
    with pytest.raises(ArgumentError, match="argument x: .*masked array"):
        f(np.ma.masked_array([1.0, 2.0, 3.0], mask=[0, 1, 0]))


# -- 10. the tape does not see later changes of the arguments -------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_the_tape_keeps_its_own_arguments(backend):
    x, w = gc.input("x", shape=(2, 3)), gc.input("w", shape=(3,))
    loss = gc.sum(gc.tanh(x.T * 2.0) @ gc.reshape(x, (2, 3))) + gc.sum(x * w)
    step = gc.compile_grad(loss, [x, w], [w], backend=backend)
    xv, wv = np.arange(6.0).reshape(2, 3) / 6, np.ones(3)
    expected = step.backward(step.forward(xv, wv)[1])
    _, tape = step.forward(xv, wv)
    xv[...] = 100.0  # changed in place between forward and backward
    np.testing.assert_array_equal(step.backward(tape), expected)


# -- 11. a 0-d output has one type on both backends -----------------------------------------
def test_a_0d_output_is_a_numpy_scalar_on_both_backends():
    x = gc.input("x", shape=(3,))
    results = [gc.compile([x], [gc.sum(x), x], backend=b)(np.ones(3))[0] for b in BACKENDS]
    assert [type(r) for r in results] == [np.float64, np.float64]
    assert [type(gc.compile([x], gc.sum(x), backend=b)(np.ones(3))) for b in BACKENDS] == [np.float64] * 2


# -- 12. IEEE corners: the sign of zero where graphc decides it -------------------------------
def test_the_sign_of_zero_agrees_with_numpy():
    x, y = gc.input("x", shape=(4,)), gc.input("y", shape=(4,))
    outputs = [gc.sign(x), *gc.grad(gc.sum(gc.abs(x)), [x]), gc.maximum(x, y), gc.minimum(x, y),
               gc.max(gc.reshape(x, (2, 2)), axis=1), x + 0.0, 0.0 + x, gc.relu(x)]
    xv, yv = np.array([-0.0, 0.0, -0.0, 0.0]), np.array([0.0, -0.0, -0.0, 0.0])
    compiled = gc.compile([x, y], outputs)(xv, yv)
    interpreted = gc.compile([x, y], outputs, backend="interpret")(xv, yv)
    numpy = [np.sign(xv), np.sign(xv), np.maximum(xv, yv), np.minimum(xv, yv), xv.reshape(2, 2).max(axis=1),
             xv + 0.0, 0.0 + xv, np.maximum(xv, 0.0)]
    for k, (c, i, n) in enumerate(zip(compiled, interpreted, numpy)):
        np.testing.assert_array_equal(np.signbit(c), np.signbit(n), err_msg=f"output {k} compiled")
        np.testing.assert_array_equal(np.signbit(i), np.signbit(n), err_msg=f"output {k} interpreted")


# -- 13. memory: a dropped function's kernels go with it ------------------------------------
def test_dropped_functions_release_their_kernels(cache_dir):
    f = gc.compile(*_scaled(3.125))
    kernels, kernel, module = weakref.ref(f.module), weakref.ref(f.kernel), weakref.ref(f.module.module)
    name = f.module.module.__name__
    g = gc.compile(*_scaled(3.125))
    assert g.module is f.module  # shared while a function lives
    del f, g
    pygc.collect()
    assert kernels() is None and kernel() is None and module() is None  # Numba's overloads go too
    assert name not in sys.modules and not disk._loaded

