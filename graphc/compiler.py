"""``gc.compile`` and ``gc.compile_grad``: from declared nodes to a callable."""

from __future__ import annotations

from collections.abc import Sequence

from graphc.errors import GraphError
from graphc.interpret import Interpreted
from graphc.ir.node import Node
from graphc.passes import select

BACKENDS = ("numba", "interpret")


def compile(inputs: Sequence[Node], outputs: Sequence[Node] | Node, backend: str = "numba",  # noqa: A001
            cache: bool = True, passes: str | Sequence[str] = "all", allow_input_downcast: bool = False,
            workspace: bool = True):
    """A function of ``inputs`` returning ``outputs`` (a tuple, or one array for one node).

    backend "numba" (default) generates and jits one kernel; "interpret" evaluates the
    graph node by node with NumPy (the baseline). ``cache=False`` bypasses the disk cache.
    ``passes`` (numba backend): "all" (default), "none", or a list of names among
    "simplify", "fold", "cse", "fusion"; ``gc.explain(f)`` tells what each changed.
    Arguments are converted to the inputs' dtypes where no value can change (lists, int
    data for a float input, float32 data for float64); ``allow_input_downcast=True``
    converts lossy ones too (float64 data for a float32 input), which otherwise raise.
    ``workspace`` (numba backend): intermediates live in a workspace kept per thread
    between calls, sharing buffers where their lifetimes allow (``f.memory`` reports its
    bytes; ``f.source`` lists the plan); False allocates each one afresh per call.
    """
    chosen = select(passes)
    if backend == "interpret":
        return Interpreted(inputs, outputs, allow_input_downcast=allow_input_downcast)
    if backend == "numba":
        from graphc.runtime.compiled import Compiled

        return Compiled(inputs, outputs, cache=cache, passes=chosen, allow_input_downcast=allow_input_downcast,
                        workspace=workspace)
    raise GraphError(f"compile: unknown backend {backend!r}: expected one of {', '.join(BACKENDS)}")


def compile_grad(loss: Node, inputs: Sequence[Node], wrt: Sequence[Node], backend: str = "numba",
                 cache: bool = True, passes: str | Sequence[str] = "all", allow_input_downcast: bool = False,
                 workspace: bool = True):
    """The lecture's forward()/backward(dout) pair for ``loss`` (a scalar, or any array
    whose upstream gradient backward takes): see graphc.runtime.step. ``passes``,
    ``allow_input_downcast`` and ``workspace`` as for ``gc.compile`` (the two kernels
    share a thread's workspace; a tape is never in it)."""
    from graphc.runtime.step import GradStep

    return GradStep(loss, inputs, wrt, backend=backend, cache=cache, passes=select(passes, "compile_grad"),
                    allow_input_downcast=allow_input_downcast, workspace=workspace)


def warm_up() -> None:
    """Pay the Numba backend's one-time start-up now rather than in the first compile.

    ``import graphc`` does not import Numba (inspecting and interpreting graphs need
    none of it). The first numba-backend compile then imports Numba and fills its
    typing and lowering registries, which imports SciPy's linear algebra: about a second,
    once per process, even when every kernel comes from the disk cache. A server or a
    notebook can call this at start-up. Calling it again costs nothing.
    """
    from graphc.runtime.compiled import start_numba

    start_numba()
