"""Every script in examples/ runs in its fast mode (--quick) and shows what it claims:
the lecture's numbers, the accuracies, the files it writes."""

from __future__ import annotations

import re
import runpy
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SCRIPTS = sorted(p.name for p in EXAMPLES.glob("*.py") if not p.name.startswith("_"))


def run_example(name: str, args: list[str], monkeypatch, capsys) -> str:
    """Run examples/NAME as ``python examples/NAME ARGS`` would, in this process (its
    kernels then come from this process's memory and the disk cache); its output."""
    monkeypatch.setattr(sys, "argv", [str(EXAMPLES / name), *args])
    monkeypatch.syspath_prepend(str(EXAMPLES))  # as for a script: its neighbours import
    try:
        runpy.run_path(str(EXAMPLES / name), run_name="__main__")
    except SystemExit as exc:
        assert exc.code in (0, None), f"{name} exited with {exc.code}:\n{capsys.readouterr().out}"
    return capsys.readouterr().out


def accuracy(out: str, label: str) -> float:
    return float(re.search(rf"{label} accuracy (\d\.\d+)", out).group(1))


def test_every_example_is_covered():
    assert set(SCRIPTS) >= {"lecture_graphs.py", "wx_norm.py", "spiral.py", "digits_mlp.py", "digits_cnn.py",
                            "benchmark_vs_interpreter.py"}
    assert set(SCRIPTS) <= set(CHECKS) | {"custom_op.py"}, "add the new example's check to CHECKS"


def check_lecture_graphs(out: str, tmp_path: Path) -> None:
    assert "# distribute, grad of" in out and "# switch, grad of" in out
    for name in ("add_mul", "neuron"):
        assert (tmp_path / f"{name}.dot").read_text().startswith("digraph")


def check_wx_norm(out: str, tmp_path: Path) -> None:
    assert "f      = 0.116" in out
    assert "df/dW  = [[0.088, 0.176], [0.104, 0.208]]" in out
    assert "df/dx  = [[-0.112], [ 0.636]]" in out
    assert "gradients match the formulas and finite differences" in out


def check_spiral(out: str, tmp_path: Path) -> None:
    assert accuracy(out, "softmax classifier: training") < 0.7  # a line cannot follow a spiral
    assert accuracy(out, r"2-layer net \(100 hidden ReLUs\): training") >= 0.95
    assert (tmp_path / "spiral.png").stat().st_size > 10_000


def check_digits(out: str, tmp_path: Path) -> None:
    assert accuracy(out, "test") >= 0.95
    losses = [float(v) for v in re.findall(r"mean training loss (\d+\.\d+)", out)]
    assert losses[-1] < losses[0] / 2


def check_benchmark(out: str, tmp_path: Path) -> None:
    assert re.search(r"numba: +\d+\.\d us per call", out) and re.search(r"interpret: +\d+\.\d us per call", out)
    assert re.search(r"compiled is \d+\.\dx faster than interpreted", out)


def check_two_layer_net(out: str, tmp_path: Path) -> None:
    first, last = map(float, re.search(r"loss went from (\d+\.\d+) to (\d+\.\d+)", out).groups())
    assert last < first


def check_custom_op(out: str, tmp_path: Path) -> None:
    # softplus is fused (its scalar expression inline), cumsum_rows a call to the Numba function
    assert "cumsum_rows_kernel(softplus4, cumsum_rows5)  # the op's Numba function fills %5" in out
    assert "# %4 = softplus %3" in out
    assert re.search(r"= sigmoid %3 +# local, grad of %3", out)  # softplus' VJP, as gc.show lists it
    assert float(re.search(r"largest gradient difference (\S+)", out).group(1)) < 1e-12
    assert float(re.search(r"finite differences: largest relative error (\S+)", out).group(1)) < 1e-6
    losses = [float(v) for v in re.findall(r"step +\d+  loss (\d+\.\d+)", out)]
    assert losses[-1] < losses[0]


CHECKS = {
    "lecture_graphs.py": (lambda tmp: [str(tmp)], check_lecture_graphs),
    "wx_norm.py": (lambda tmp: ["--quick"], check_wx_norm),
    "spiral.py": (lambda tmp: ["--quick", "--plot", str(tmp / "spiral.png")], check_spiral),
    "digits_mlp.py": (lambda tmp: ["--quick"], check_digits),
    "digits_cnn.py": (lambda tmp: ["--quick"], check_digits),
    "benchmark_vs_interpreter.py": (lambda tmp: ["--quick"], check_benchmark),
    "two_layer_net.py": (lambda tmp: ["--quick"], check_two_layer_net),
    "custom_op.py": (lambda tmp: ["--quick"], check_custom_op),
}


@pytest.mark.parametrize("name", SCRIPTS)
def test_example_runs(name, tmp_path, monkeypatch, capsys):
    make_args, check = CHECKS.get(name, (lambda tmp: ["--quick"], lambda out, tmp: None))
    if name == "spiral.py":
        pytest.importorskip("matplotlib")
    out = run_example(name, make_args(tmp_path), monkeypatch, capsys)
    check(out, tmp_path)


def test_digits_without_scikit_learn(monkeypatch):
    """The generated stand-in for the digits: the shapes, range and labels of the real set."""
    monkeypatch.syspath_prepend(str(EXAMPLES))
    import numpy as np
    from _digits import generated_digits

    images, labels = generated_digits(200, np.random.default_rng(0))
    assert images.shape == (200, 8, 8) and images.dtype == np.float64 and labels.dtype == np.int64
    assert 0.0 <= images.min() and images.max() <= 1.0
    assert set(labels.tolist()) == set(range(10))


@pytest.mark.parametrize("name", ["digits_mlp.py", "digits_cnn.py"])
def test_digits_examples_on_the_generated_set(name, tmp_path, monkeypatch, capsys):
    """Where scikit-learn is missing (None in sys.modules fails its import), the digits
    examples train on the generated set and still reach 95%."""
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    out = run_example(name, ["--quick"], monkeypatch, capsys)
    assert out.startswith("generated 8x8 digits")
    check_digits(out, tmp_path)
