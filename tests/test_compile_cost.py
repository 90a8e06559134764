"""What a cold compile costs Numba, pinned where the generated code decides it.

Numba's type inference re-runs every constraint of a function until no type changes;
a kernel whose types settle in the first pass costs one pass and the pass that finds
nothing changed. These tests compile with ``cache=False`` so Numba types every kernel.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest
from numba.core import typeinfer

import graphc as gc


@pytest.fixture
def kernel_rounds(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How many rounds of type inference each function Numba compiles takes."""
    rounds: dict[str, int] = {}
    propagate = typeinfer.TypeInferer.propagate

    def counting(self, raise_errors=True):
        network = self.constraints.propagate

        def one_round(inferer):
            rounds[inferer.func_id.func_name] = rounds.get(inferer.func_id.func_name, 0) + 1
            return network(inferer)

        self.constraints.propagate = one_round
        try:
            return propagate(self, raise_errors)
        finally:
            del self.constraints.propagate

    monkeypatch.setattr(typeinfer.TypeInferer, "propagate", counting)
    return rounds


def test_a_convolution_kernel_types_in_two_rounds(kernel_rounds: dict[str, int]) -> None:
    # patches walks its windows with a running counter: started from the literal 0,
    # Numba widened its type one loop level per round (seven rounds over the whole kernel)
    x, w = gc.input("x", (2, 3, 6, 6)), gc.input("w", (4, 3, 3, 3))
    loss = gc.sum(gc.nn.conv2d(x, w, padding=1) ** 2)
    f = gc.compile([x, w], [loss, *gc.grad(loss, [x, w])], cache=False)
    rng = np.random.default_rng(0)
    f(rng.standard_normal((2, 3, 6, 6)), rng.standard_normal((4, 3, 3, 3)))
    assert kernel_rounds["kernel"] == 2


@pytest.mark.parametrize("enabled", [True, False])
def test_the_collector_is_off_while_numba_compiles(enabled: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    import gc as collector

    from graphc.runtime import compiled

    seen = []
    compile_all = compiled._compile_all

    def recording(module, specs):
        seen.append(collector.isenabled())
        return compile_all(module, specs)

    monkeypatch.setattr(compiled, "_compile_all", recording)
    x = gc.input("x", (3,))
    (collector.enable if enabled else collector.disable)()
    try:
        f = gc.compile([x], gc.sum(gc.tanh(x) * 0.25), cache=False)
        assert collector.isenabled() is enabled  # as the program had it
    finally:
        collector.enable()
    assert seen == [False]
    assert f(np.ones(3)) == pytest.approx(3 * np.tanh(1.0) * 0.25)


def _select_loop(trips: int):
    @numba.njit
    def select(a, b):
        for i in range(trips):
            b[i] = a[i] if a[i] > b[i] else b[i] * 0.5

    return select


def _optimized_lines(function) -> int:
    function(np.ones(64), np.ones(64))
    return "\n".join(function.inspect_llvm().values()).count("\n")


def test_kernels_unroll_as_at_o2_and_other_numba_code_as_before():
    # a loop that -O3's unroll threshold (300) unrolls outright and -O2's (150) does not
    from graphc.runtime.compiled import _unrolled_as_at_o2

    before = _optimized_lines(_select_loop(32))
    with _unrolled_as_at_o2():
        during = _optimized_lines(_select_loop(32))
    after = _optimized_lines(_select_loop(32))
    assert during < before  # kept as a loop while graphc compiles
    assert after == before  # the user's own Numba functions: as Numba left them
