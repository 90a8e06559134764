"""The generated source of one kernel, pinned: the lecture's sigmoid neuron and its
gradients (the lecture's scalar form). Code generation refactors must leave it byte-identical; a deliberate
change to the generated code updates tests/golden/sigmoid_neuron.txt (run this file
with GRAPHC_UPDATE_GOLDEN=1 and review the diff)."""

from __future__ import annotations

import os
from pathlib import Path

import graphc as gc
from graphc.codegen.kernel import KernelSpec, generate
from graphc.passes import optimize

GOLDEN = Path(__file__).parent / "golden" / "sigmoid_neuron.txt"


def _neuron_source() -> str:
    w0, x0, w1, x1, w2 = (gc.input(n) for n in ("w0", "x0", "w1", "x1", "w2"))
    f = 1.0 / (1.0 + gc.exp(-(w0 * x0 + w1 * x1 + w2)))
    inputs = [w0, x0, w1, x1, w2]
    outputs = optimize([f, *gc.grad(f, inputs)])
    return generate([KernelSpec("kernel", inputs, outputs)])


def test_sigmoid_neuron_kernel_is_unchanged():
    source = _neuron_source()
    if os.environ.get("GRAPHC_UPDATE_GOLDEN"):
        GOLDEN.write_text(source)
    assert source == GOLDEN.read_text()
