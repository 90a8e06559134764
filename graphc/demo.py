"""``graphc demo``, the tour a new user sees first.

The demo declares the lecture's two circuits and the two-layer net W1 (N=64,
1000-100-10, sigmoid, squared error), prints each backward graph, runs it through a
compiled backend and through the interpreter, checks that the two agree (and, for the
circuits, that they give the lecture's numbers), trains W1 for a few dozen steps of
gradient descent with the loss falling, and times it compiled against interpreted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
from tqdm import tqdm

import graphc as gc
from graphc.bench.harness import PAUSE, time_interleaved

TIMING_ROUNDS, TIMING_SAMPLE = 15, 0.005  # samples of each, and seconds of calls in a sample
TRAIN_STEPS = 60
LEARNING_RATE = 1e-3
RULE = "=" * 78


@dataclass
class Example:
    """A scalar loss, the inputs it is differentiated against, and values for them."""

    key: str  # file name of its DOT output
    title: str
    formula: str
    inputs: list[gc.Node]
    loss: gc.Node
    values: list[np.ndarray]
    wrt: list[gc.Node] = field(default_factory=list)
    lecture: dict[str, float] = field(default_factory=dict)  # the lecture's numbers, 2 decimals
    summarize: bool = False  # print gradient norms instead of values (large arrays)
    out_name: str = "f"
    note: str = ""  # printed under the listing

    @cached_property
    def outputs(self) -> list[gc.Node]:
        """The loss and its gradients, built once so every backend gets the same graph."""
        return [self.loss, *gc.grad(self.loss, self.wrt)]

    @property
    def labels(self) -> list[str]:
        return [self.out_name] + [f"d{self.out_name}/d{w.label}" for w in self.wrt]


# -- the examples ---------------------------------------------------------------------------
def add_mul_example() -> Example:
    """The lecture's first circuit: f = (x + y) z at x=-2, y=5, z=-4."""
    x, y, z = gc.input("x"), gc.input("y"), gc.input("z")
    f = (x + y) * z
    return Example("add_mul", "the add and mul gates", "f = (x + y) * z   at x=-2, y=5, z=-4",
                   [x, y, z], f, [np.array(v) for v in (-2.0, 5.0, -4.0)], wrt=[x, y, z],
                   lecture={"f": -12.0, "df/dx": -4.0, "df/dy": -4.0, "df/dz": 3.0},
                   note="df/dx and df/dy are identity nodes of one value: the add gate distributes the "
                        "upstream gradient to both\ninputs unchanged (the passes remove the marks), and the mul "
                        "gate switches: each input gets the other input\ntimes the upstream gradient.")


def neuron_example() -> Example:
    """The lecture's sigmoid neuron, gate by gate, at w=[2,-3,-3], x=[-1,-2]."""
    w0, w1, w2, x0, x1 = (gc.input(n) for n in ("w0", "w1", "w2", "x0", "x1"))
    f = 1.0 / (1.0 + gc.exp(-(w0 * x0 + w1 * x1 + w2)))
    values = [np.array(v) for v in (2.0, -3.0, -3.0, -1.0, -2.0)]
    lecture = {"f": 0.73, "df/dw0": -0.2, "df/dw1": -0.39, "df/dw2": 0.2, "df/dx0": 0.39, "df/dx1": -0.59}
    return Example("neuron", "the sigmoid neuron", "f = 1 / (1 + exp(-(w0*x0 + w1*x1 + w2)))",
                   [w0, w1, w2, x0, x1], f, values, wrt=[w0, w1, w2, x0, x1], lecture=lecture,
                   note="The chain neg, exp, +1, 1/x is a sigmoid: gc.sigmoid(z) is the same circuit as one "
                        "gate,\nwhose local gradient is (1 - f) f.")


def w1_example() -> Example:
    """W1: the cs231n two-layer net, N=64, 1000-100-10."""
    x, y = gc.input("x", shape=("N", 1000)), gc.input("y", shape=("N", 10))
    w1, w2 = gc.input("w1", shape=(1000, 100)), gc.input("w2", shape=(100, 10))
    loss = gc.sum((gc.sigmoid(x @ w1) @ w2 - y) ** 2)
    rng = np.random.default_rng(0)
    # weights scaled by 1/sqrt(fan_in) so the sigmoid is not saturated
    values = [rng.standard_normal((64, 1000)), rng.standard_normal((64, 10)),
              rng.standard_normal((1000, 100)) / np.sqrt(1000), rng.standard_normal((100, 10)) / np.sqrt(100)]
    return Example("w1", "W1, the two-layer net", "loss = sum((sigmoid(x @ w1) @ w2 - y) ** 2),  N=64",
                   [x, y, w1, w2], loss, values, wrt=[w1, w2], summarize=True, out_name="loss")


# -- running and reporting -------------------------------------------------------------------
def _describe(value: np.ndarray, summarize: bool) -> str:
    if summarize and value.ndim:
        return f"{'x'.join(map(str, value.shape))} array, norm {np.linalg.norm(value):.6g}"
    return f"{float(value): .6g}"


def _rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    scale = max(float(np.max(np.abs(b), initial=0.0)), 1e-300)
    return float(np.max(np.abs(a - b), initial=0.0)) / scale


def run_example(ex: Example, backend: str, dot_dir: Path | None) -> bool:
    """Print the example's graphs and results; True if the backends (and the lecture) agree."""
    print(RULE)
    print(f"{ex.title}:  {ex.formula}")
    print(RULE)
    outputs = ex.outputs
    print(gc.show(*outputs))
    if ex.note:
        print(ex.note)
    if dot_dir is not None:
        path = dot_dir / f"{ex.key}.dot"
        path.write_text(gc.to_dot(*outputs))
        print(f"(DOT written to {path}; render it with: dot -Tsvg {path} -o {path.with_suffix('.svg')})")
    compiled = gc.compile(ex.inputs, outputs, backend=backend)(*ex.values)
    interpreted = gc.compile(ex.inputs, outputs, backend="interpret")(*ex.values)
    print()
    header = f"{'':10} {backend:>30} {'interpret':>30}"
    print(header + (f" {'lecture':>9}" if ex.lecture else ""))
    ok = True
    worst = 0.0
    for label, c, i in zip(ex.labels, compiled, interpreted):
        worst = max(worst, _rel_diff(c, i))
        line = f"{label:10} {_describe(c, ex.summarize):>30} {_describe(i, ex.summarize):>30}"
        if label in ex.lecture:
            matches = abs(float(c) - ex.lecture[label]) < 0.006  # the lecture rounds to 2 decimals
            ok &= matches
            line += f" {ex.lecture[label]:9.2f} {'ok' if matches else 'MISMATCH'}"
        print(line)
    agree = worst < 1e-9
    print(f"compiled vs interpreted: largest relative difference {worst:.1e} -> "
          f"{'they agree' if agree else 'THEY DIFFER'}")
    return ok and agree


def time_w1(ex: Example, backend: str) -> None:
    """Print the median time of W1's loss and gradients, compiled and interpreted.

    Samples of each alternate, each after a rest (graphc.bench.harness): a call right
    after a NumPy matrix product shares a core with NumPy's OpenBLAS workers, which
    spin for about 0.1 s after it, so calls taken in turn, one by one, timed each
    function with the other's threads still running."""
    compiled = gc.compile(ex.inputs, ex.outputs, backend=backend)
    interpreted = gc.compile(ex.inputs, ex.outputs, backend="interpret")
    times = time_interleaved({"compiled": lambda: compiled(*ex.values), "interpreted": lambda: interpreted(*ex.values)},
                             rounds=TIMING_ROUNDS, min_time=TIMING_SAMPLE, pause=PAUSE)
    t_c, t_i = times["compiled"], times["interpreted"]
    print()
    print(f"timing W1 forward+backward on this machine, median of {TIMING_ROUNDS} samples of "
          f"{TIMING_SAMPLE * 1e3:.0f} ms each:")
    print(f"  {backend:10} {t_c * 1e3:9.3f} ms")
    print(f"  {'interpret':10} {t_i * 1e3:9.3f} ms")
    print(f"  interpret / {backend} = {t_i / t_c:.2f}x")
    if backend == "interpret":
        print("  (both sides interpret here; run without --backend to time the compiled kernels)")


def train_w1(ex: Example, backend: str, steps: int = TRAIN_STEPS, progress: bool = True) -> tuple[float, float]:
    """Gradient descent on W1's weights with compile_grad's forward/backward pair; prints
    the loss as it falls and returns the first and last loss."""
    w1, w2 = ex.wrt
    step = gc.compile_grad(ex.loss, inputs=ex.inputs, wrt=[w1, w2], backend=backend)
    xv, yv, w1v, w2v = (v.copy() for v in ex.values)  # the timing below uses the untrained values
    print()
    print(f"training W1: {steps} steps of gradient descent, learning rate {LEARNING_RATE}, "
          f"step = gc.compile_grad(loss, inputs, wrt=[w1, w2])")
    losses = []
    with tqdm(range(steps), desc="training W1", unit="step", disable=not progress or None, leave=False) as bar:
        for t in bar:
            loss, tape = step.forward(xv, yv, w1v, w2v)  # the tape keeps what backward needs
            dw1, dw2 = step.backward(tape)  # upstream gradient d loss / d loss = 1
            w1v -= LEARNING_RATE * dw1
            w2v -= LEARNING_RATE * dw2
            losses.append(float(loss))
            bar.set_postfix(loss=f"{losses[-1]:.2f}")
            if t % (steps // 4 or 1) == 0 or t == steps - 1:
                tqdm.write(f"  step {t:3d}  loss {losses[-1]:9.3f}")
    print(f"  loss {losses[0]:.3f} -> {losses[-1]:.3f}: " + ("falling" if losses[-1] < losses[0] else "NOT FALLING"))
    return losses[0], losses[-1]


def demo(backend: str, dot_dir: Path | None, progress: bool = True) -> int:
    """Run the three examples and the timing; the exit status is 0 if all agree."""
    if dot_dir is not None:
        dot_dir.mkdir(parents=True, exist_ok=True)
    print(f"graphc {gc.__version__} demo: backward graphs, '{backend}' vs the interpreter")
    print("In the listings, each backward node says its gate pattern and whose gradient it is:")
    print("add distributes, max routes, mul switches, and gradients add at branches (sum).")
    w1 = w1_example()
    ok = True
    for ex in (add_mul_example(), neuron_example(), w1):
        ok &= run_example(ex, backend, dot_dir)
    first, last = train_w1(w1, backend, progress=progress)
    ok &= last < first
    time_w1(w1, backend)
    print()
    print("all examples agree" if ok else "SOME EXAMPLES DISAGREE (see above)")
    return 0 if ok else 1
