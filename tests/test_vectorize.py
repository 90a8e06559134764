"""The hot loops of W2's kernels vectorize: their optimized LLVM IR holds vector types, as
wide as the host's registers (512 bits with AVX-512: graphc.codegen.vecmath.wide_vectors)."""

from __future__ import annotations

import re

import llvmlite.binding as llvm
import numpy as np
import pytest

import graphc as gc


def w2(dtype):
    x = gc.input("x", shape=("N",), dtype=dtype)
    a, b = gc.input("a", dtype=dtype), gc.input("b", dtype=dtype)
    loss = gc.sum(gc.sigmoid(a * x + b) * gc.tanh(x) + gc.maximum(x, 0.1 * x))
    return [x, a, b], loss


VECTOR = {"float64": r"<\d+ x double>", "float32": r"<\d+ x float>"}
WIDEST = {"float64": "<8 x double>", "float32": "<16 x float>"}  # 512 bits
AVX512 = "+avx512f" in llvm.get_host_cpu_features().flatten()


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_w2_kernels_vectorize(dtype):
    inputs, loss = w2(dtype)
    step = gc.compile_grad(loss, inputs=inputs, wrt=inputs, cache=False)  # fresh code: inspectable
    values = [np.linspace(-3, 3, 1001).astype(dtype), np.asarray(0.7, dtype), np.asarray(-0.3, dtype)]
    step(*values)
    for kernel in (step.forward_kernel, step.backward_kernel):
        ir = "\n".join(kernel.inspect_llvm().values())
        assert re.search(VECTOR[dtype], ir), f"{kernel.__name__} did not vectorize"
        assert '"prefer-vector-width"="512"' in ir
        if AVX512:  # where LLVM would take 256-bit vectors by itself (its tuning for Intel's cores)
            assert WIDEST[dtype] in ir, f"{kernel.__name__} did not use 512-bit vectors"
        # the transcendental functions are inlined, not called per element
        assert not re.search(r"call .*@(exp|tanh|log)f?\(", ir)
