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
from graphc.errors import CacheWarning
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


def test_cache_false_leaves_no_temporary_files(cache_dir, tmp_path, monkeypatch):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    f = gc.compile(*_scaled(2.875), cache=False)
    assert float(f(np.ones(4))) == pytest.approx(4 * 2.875 * np.tanh(1.0))
    assert not list(scratch.iterdir()) and not cache_dir.exists()


# -- 8. long names ---------------------------------------------------------------------------
def test_long_names_are_cut_short_in_code_and_kept_in_comments():
    long = "a" * 3000
    x, y = gc.input(long, shape=(3,)), gc.input(long[:-1] + "b", shape=(3,))
    f = gc.compile([x, y], [renamed(x * y, long + "c"), gc.sum(x)])
    prod, total = f(np.arange(3.0), np.full(3, 2.0))
    np.testing.assert_array_equal(prod, [0.0, 2.0, 4.0])
    assert total == 3.0
    assert max(len(line) for line in _code_lines(f.source)) < 300
    assert repr(long + "c") in f.source


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

