"""The hot loops of W2's kernels vectorize: their optimized LLVM IR holds vector types."""

from __future__ import annotations

import re

import numpy as np
import pytest

import graphc as gc


def w2(dtype):
    x = gc.input("x", shape=("N",), dtype=dtype)
    a, b = gc.input("a", dtype=dtype), gc.input("b", dtype=dtype)
    loss = gc.sum(gc.sigmoid(a * x + b) * gc.tanh(x) + gc.maximum(x, 0.1 * x))
    return [x, a, b], loss


VECTOR = {"float64": r"<\d+ x double>", "float32": r"<\d+ x float>"}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_w2_kernels_vectorize(dtype):
    inputs, loss = w2(dtype)
    step = gc.compile_grad(loss, inputs=inputs, wrt=inputs, cache=False)  # fresh code: inspectable
    values = [np.linspace(-3, 3, 1001).astype(dtype), np.asarray(0.7, dtype), np.asarray(-0.3, dtype)]
    step(*values)
    for kernel in (step.forward_kernel, step.backward_kernel):
        ir = "\n".join(kernel.inspect_llvm().values())
        assert re.search(VECTOR[dtype], ir), f"{kernel.__name__} did not vectorize"
        # the transcendental functions are inlined, not called per element
        assert not re.search(r"call .*@(exp|tanh|log)f?\(", ir)
