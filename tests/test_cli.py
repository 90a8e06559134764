"""The graphc command line: every command and option, with its output checked."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import numpy as np
import pytest

import graphc as gc
from graphc import cli
from graphc.bench import bench_environ
from graphc.bench import run as bench_run

GRAPH_FILE = '''
import graphc as gc

a, b = gc.input("a"), gc.input("b")
f = (a + b) * b

def two_outputs():
    x = gc.input("x", shape=("N", 3))
    return [gc.sum(gc.tanh(x)), gc.sum(x)]

number = 3

def layer(width):
    return gc.input("x", shape=(width,))
'''


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- help and version ------------------------------------------------------------------------
@pytest.mark.parametrize("command", [[], ["demo"], ["show"], ["bench"], ["cache"], ["cache", "info"],
                                     ["cache", "clear"]])
def test_help(command, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main([*command, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: graphc {' '.join(command)}".rstrip())
    if not command:
        for name in ("demo", "show", "bench", "cache"):
            assert re.search(rf"^    {name} ", out, re.M)


def test_no_command_prints_help_and_version(capsys):
    assert run(capsys)[1].startswith("usage: graphc")
    with pytest.raises(SystemExit):
        cli.main(["--version"])
    assert capsys.readouterr().out.strip() == f"graphc {gc.__version__}"


# -- demo --------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", ["numba", "interpret"])
def test_demo(backend, tmp_path, capsys):
    code, out, _ = run(capsys, "demo", "--backend", backend, "--dot", str(tmp_path), "--no-progress")
    assert code == 0
    assert out.count("they agree") == 3 and "all examples agree" in out
    assert "-4.00 ok" in out and "0.73 ok" in out  # the lecture's numbers
    steps = [float(v) for v in re.findall(r"step +\d+  loss +(\d+\.\d+)", out)]
    assert len(steps) == 5 and steps[-1] < steps[0] / 10  # the training run's loss falls
    assert re.search(rf"{backend} +\d+\.\d+ ms", out) and "interpret / " in out  # the closing timing
    assert sorted(p.name for p in tmp_path.iterdir()) == ["add_mul.dot", "neuron.dot", "w1.dot"]


# -- show --------------------------------------------------------------------------------------
@pytest.fixture
def graph_file(tmp_path):
    path = tmp_path / "model.py"
    path.write_text(GRAPH_FILE)
    return path


def test_show_differentiates_a_scalar_by_default(graph_file, capsys):
    code, out, _ = run(capsys, "show", f"{graph_file}:f")
    assert code == 0
    lines = out.splitlines()
    assert lines[:4] == ["%0:f64[] = input a", "%1:f64[] = input b", "%2:f64[] = add %0 %1", "%3:f64[] = mul %2 %1"]
    assert re.search(r"= mul %\d+ %1 +# switch, grad of", out)  # the mul gate switches
    assert re.search(r"= add %\d+ %\d+ +# sum, grad of", out)  # b is used twice: its gradients add
    assert lines[-1].startswith("outputs: %3 ") and len(lines[-1].split()) == 4  # f, df/da, df/db


def test_show_grad_no_grad_and_optimized(graph_file, capsys):
    _, out, _ = run(capsys, "show", f"{graph_file}:f", "--grad", "a")
    assert len(out.splitlines()[-1].split()) == 3  # f and df/da
    _, out, _ = run(capsys, "show", f"{graph_file}:f", "--no-grad")
    assert "grad of" not in out and out.splitlines()[-1] == "outputs: %3"
    _, plain, _ = run(capsys, "show", f"{graph_file}:f", "--grad", "a")
    _, out, _ = run(capsys, "show", f"{graph_file}:f", "--grad", "a", "--optimized")
    assert out.startswith("# after the optimization passes") and len(out.splitlines()) < len(plain.splitlines())
    b = re.search(r"^%(\d+):f64\[\] = input b", out, re.M).group(1)
    assert out.splitlines()[-1].endswith(f" %{b}")  # df/da = b: the passes fold the gates away


def test_show_a_function_returning_nodes(graph_file, capsys):
    code, out, _ = run(capsys, "show", f"{graph_file}:two_outputs")
    assert code == 0 and "tanh" in out and "grad of" in out  # the first output is a scalar: differentiated


def test_show_writes_pictures(graph_file, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    dot, svg, png = tmp_path / "g.dot", tmp_path / "out" / "g.svg", tmp_path / "g.png"
    code, out, _ = run(capsys, "show", f"{graph_file}:f", "--dot", str(dot), "--svg", str(svg), "--png", str(png))
    assert code == 0
    assert dot.read_text().startswith("digraph graphc {") and "cluster_backward" in dot.read_text()
    assert "<svg" in svg.read_text()
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    assert out.count("wrote ") == 3


@pytest.mark.parametrize("target, message", [
    ("{file}:missing", "defines no 'missing'; its nodes and functions: a, b, f, layer, two_outputs"),
    ("{file}:layer", "layer in {file} needs arguments (width); graphc show calls it with none"),
    ("{file}:number", "number in {file} is not a graphc node"),
    ("{file}", "expected FILE.py:NAME"),
    ("{dir}/nope.py:f", "no file {dir}/nope.py"),
])
def test_show_errors(graph_file, target, message, capsys):
    fill = {"file": graph_file, "dir": graph_file.parent}
    code, _, err = run(capsys, "show", target.format(**fill))
    assert code == 1 and message.format(**fill) in err


def test_show_unknown_grad_variable(graph_file, capsys):
    code, _, err = run(capsys, "show", f"{graph_file}:f", "--grad", "a,q")
    assert code == 1 and "--grad: the graph has no input q; its inputs: a, b" in err


# -- cache -------------------------------------------------------------------------------------
def _fake_entry(directory: Path, key: str, age_days: float) -> list[Path]:
    files = [directory / f"graphc_{key}.py", directory / "__pycache__" / f"graphc_{key}.kernel-3.py311.nbi"]
    for f in files:
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text("x" * 100)
        stamp = time.time() - age_days * 86400
        os.utime(f, (stamp, stamp))
    return files


def test_cache_info_and_clear(tmp_path, monkeypatch, capsys):
    cache = tmp_path / "cache"
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(cache))
    _, out, _ = run(capsys, "cache", "info")
    assert f"graphc kernel cache: {cache} (does not exist yet)" in out and "kernels: 0 (0 files" in out

    x = gc.input("x", shape=(3,))
    assert np.allclose(gc.compile([x], [x * 2.0])(np.ones(3))[0], 2.0)  # a real entry
    old = _fake_entry(cache, "0" * 32, age_days=10)
    _fake_entry(cache, "1" * 32, age_days=3)
    (cache / "notes.txt").write_text("not graphc's")
    _, out, _ = run(capsys, "cache", "info")
    assert "kernels: 3 (" in out
    assert re.search(r"oldest: +\d{4}-\d\d-\d\d \d\d:\d\d \(10\.0 days ago\)", out)
    assert re.search(r"newest: +\d{4}-\d\d-\d\d \d\d:\d\d \(0\.0 days ago\)", out)

    code, out, _ = run(capsys, "cache", "clear", "--older-than", "5")
    assert code == 0 and "removed 1 kernels older than 5 days (0.00 MB)" in out and "; 2 kept" in out
    assert not any(f.exists() for f in old)
    _, out, _ = run(capsys, "cache", "clear")
    assert "removed 2 kernels" in out and "; 0 kept" in out
    assert not list(cache.rglob("graphc_*")) and (cache / "notes.txt").exists()


def test_cache_clear_rejects_negative_days(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["cache", "clear", "--older-than", "-1"])
    assert exc.value.code == 2 and "expected a number of days >= 0" in capsys.readouterr().err


# -- bench -------------------------------------------------------------------------------------
@pytest.fixture
def pinned_env(monkeypatch):
    """The benchmark's BLAS settings in the environment, so `graphc bench` measures in
    this process rather than in a fresh one."""
    for key, value in bench_environ(os.environ).items():
        monkeypatch.setenv(key, value)


def test_bench_tables_json_and_plots(pinned_env, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out_json, plots = tmp_path / "r" / "bench.json", tmp_path / "plots"
    code, out, _ = run(capsys, "bench", "--workloads", "W3_add_mul,S", "--systems", "graphc,interpret",
                       "--dtypes", "f64", "--rounds", "3", "--min-time", "0.0005", "--sizes", "2",
                       "--json", str(out_json), "--plot", str(plots), "--plot-format", "png,svg", "--no-progress")
    assert code == 0
    assert "NumPy by hand vs finite differences: OK" in out
    assert "Median time per call, and its ratio to NumPy by hand" in out
    assert "The same, as ratios to graphc's interpreter" in out
    for mode in ("fwd", "fwd+bwd", "compile fwd", "compile fwd+bwd"):
        row = re.search(rf"^W3_add_mul +f64 +{re.escape(mode)} +(.*)$", out, re.M)
        assert row and "WRONG" not in row.group(1), mode
    # the ratio columns: numpy is 1.00x in the first table, interpret in the second
    assert re.search(r"^W3_add_mul +f64 +fwd +\S+ \S+ +1\.00x", out, re.M)
    assert re.search(r"^ +2 +\d+ +", out, re.M)  # S's row for n=2

    result = json.loads(out_json.read_text(), parse_constant=lambda c: pytest.fail(f"{c} is not JSON"))
    systems = {(r["system"], r["mode"]) for r in result["rows"]}
    assert {(s, m) for s in ("numpy", "graphc", "interpret") for m in ("fwd", "fwd+bwd")} <= systems
    assert all(r["seconds"] > 0 for r in result["rows"] if r["mode"] in ("fwd", "fwd+bwd"))
    machine = result["machine"]
    assert machine["usable_cores"] >= 1 and machine["cpu"] and "numpy" in machine["versions"]
    assert "OPENBLAS_THREAD_TIMEOUT" in machine["thread_env"] and "blas" in machine
    (s,) = result["scaling"]
    assert s["n"] == 2 and s["compile_cold"] > 0 and s["run"] > 0 and s["run_interpret"] > 0 and not s["problems"]
    assert result["settings"]["rounds"] == 3 and result["selftest"] == []
    # where the run's time went: each case's wall seconds, and the whole run's
    assert set(result["durations"]) == {"W3_add_mul f64", "S n=2"} and min(result["durations"].values()) > 0
    assert result["seconds"] > sum(result["durations"].values())
    assert re.search(r"^took \d+\.\d min; longest cases: (W3_add_mul f64|S n=2) ", out, re.M)
    for name in ("times.png", "times.svg", "scaling.png", "scaling.svg"):
        assert (plots / name).stat().st_size > 5000, name


def test_bench_other_options(pinned_env, monkeypatch, capsys):
    monkeypatch.delenv("PYTENSOR_FLAGS", raising=False)
    code, out, _ = run(capsys, "bench", "--workloads", "W3_neuron", "--systems", "graphc", "--modes", "fwd",
                       "--dtypes", "f32", "--quick", "--no-selftest", "--seed", "3", "--pytensor-cold",
                       "--no-progress")
    assert code == 0 and "finite differences" not in out
    assert re.search(r"^W3_neuron +f32 +fwd +\S+ \S+ +1\.00x", out, re.M)
    assert not re.search(r"^W3_neuron +f32 +fwd\+bwd ", out, re.M)
    assert "base_compiledir=" in os.environ["PYTENSOR_FLAGS"]


def test_bench_cold_compiles_from_empty_caches(pinned_env, monkeypatch, tmp_path, capsys):
    warm = tmp_path / "warm"
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(warm))
    for name in ("PYTENSOR_FLAGS", "TORCHINDUCTOR_CACHE_DIR"):
        monkeypatch.delenv(name, raising=False)
    code, out, _ = run(capsys, "bench", "--workloads", "W3_add_mul", "--systems", "graphc", "--dtypes", "f64",
                       "--cold", "--quick", "--no-selftest", "--no-progress")
    assert code == 0 and "Graph definition -> first result (one run each; empty disk caches)" in out
    cold = Path(os.environ["GRAPHC_CACHE_DIR"])
    assert cold != warm and cold.name.startswith("graphc-cold-") and any(cold.iterdir())  # the kernels went there
    assert not warm.exists()
    assert Path(os.environ["TORCHINDUCTOR_CACHE_DIR"]).name.startswith("torchinductor-cold-")
    assert "base_compiledir=" in os.environ["PYTENSOR_FLAGS"]


def test_bench_quick_defaults():
    parser = cli.build_parser()
    args = bench_run.settle(parser.parse_args(["bench", "--quick"]))
    assert (args.rounds, args.min_time, args.sizes, args.wide_sizes) == (5, 0.005, [10, 100], [10, 100])
    assert "WIDE" in args.workloads
    assert "W5_28x28" not in args.workloads and "S" in args.workloads and "W1" in args.workloads
    assert "torch-compile" not in args.systems and "graphc" in args.systems
    full = bench_run.settle(parser.parse_args(["bench", "--rounds", "7"]))
    assert full.rounds == 7 and full.workloads == bench_run.WORKLOAD_NAMES and "torch-compile" in full.systems


def test_bench_rejects_unknown_names(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["bench", "--workloads", "W1,W9"])
    assert exc.value.code == 2 and "unknown ['W9']; choose from W1," in capsys.readouterr().err


def test_bench_measures_in_a_fresh_process_when_blas_is_not_pinned(monkeypatch):
    monkeypatch.delenv("OPENBLAS_THREAD_TIMEOUT", raising=False)
    calls = []
    monkeypatch.setattr(bench_run.subprocess, "call", lambda cmd, env: calls.append((cmd, env)) or 0)
    assert cli.main(["bench", "--workloads", "W1", "--quick"]) == 0
    (cmd, env), = calls
    assert cmd[1:] == ["-m", "graphc.bench", "--workloads", "W1", "--quick"]
    assert env["OPENBLAS_THREAD_TIMEOUT"] == "4"


def test_bench_environ_keeps_the_users_settings():
    env = bench_environ({"OPENBLAS_THREAD_TIMEOUT": "100", "OMP_NUM_THREADS": "1"})
    assert env["OPENBLAS_THREAD_TIMEOUT"] == "100"
    assert "intra_op_parallelism_threads=1" in env["XLA_FLAGS"]
    assert bench_environ(env) == env  # settled: no second fresh process
