"""The disk cache: content-addressed files, atomic writes, damage, bypass, concurrency."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import graphc as gc
from graphc.runtime import cache as disk


def _graph(scale: float):
    x = gc.input("x", shape=(4,))
    return [x], gc.sum(gc.tanh(x) * scale)


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(disk, "_loaded", {})  # forget kernels loaded by other tests
    return tmp_path


def test_source_is_written_under_its_hash(cache_dir):
    f = gc.compile(*_graph(1.25))
    path = cache_dir / f"graphc_{disk.key_of(f.source)}.py"
    assert path.read_text() == f.source
    assert not list(cache_dir.glob("*.tmp"))


def test_damaged_entry_is_rebuilt(cache_dir):
    f = gc.compile(*_graph(1.5))
    path = cache_dir / f"graphc_{disk.key_of(f.source)}.py"
    path.write_text("raise SystemExit('a damaged entry was imported')\n")
    disk._loaded.clear()
    g = gc.compile(*_graph(1.5))
    assert path.read_text() == g.source
    assert float(g(np.ones(4))) == pytest.approx(4 * 1.5 * np.tanh(1.0))


def test_damaged_numba_cache_is_rebuilt(cache_dir):
    f = gc.compile(*_graph(1.75))
    for entry in (cache_dir / "__pycache__").glob("*.nbc"):
        entry.write_bytes(b"not a pickle")
    for entry in (cache_dir / "__pycache__").glob("*.nbi"):
        entry.write_bytes(entry.read_bytes()[:10])
    disk._loaded.clear()
    g = gc.compile(*_graph(1.75))
    assert float(g(np.ones(4))) == pytest.approx(4 * 1.75 * np.tanh(1.0))
    assert f.source == g.source


def test_cache_false_writes_nothing(cache_dir):
    f = gc.compile(*_graph(2.25), cache=False)
    assert float(f(np.ones(4))) == pytest.approx(4 * 2.25 * np.tanh(1.0))
    assert not list(cache_dir.iterdir())


def test_two_processes_compile_the_same_graph_at_once(tmp_path):
    script = textwrap.dedent("""
        import numpy as np, graphc as gc
        x = gc.input("x", shape=("N", 3))
        f = gc.compile([x], [gc.sum(gc.exp(x) * 3.5, axis=1)])
        out = f(np.ones((2, 3)))[0]
        assert np.allclose(out, 3 * 3.5 * np.e), out
        print("ok")
    """)
    env = {**os.environ, "GRAPHC_CACHE_DIR": str(tmp_path / "shared")}
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    procs = [subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, results):
        assert p.returncode == 0, err
        assert out.strip() == "ok"
    assert len(list((tmp_path / "shared").glob("graphc_*.py"))) == 1


def test_key_covers_versions(cache_dir, monkeypatch):
    source = "x = 1\n"
    before = disk.key_of(source)
    monkeypatch.setattr(gc, "__version__", "0.0.0-other")
    assert disk.key_of(source) != before
