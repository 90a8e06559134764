"""A compiled graph: optimized, generated, jitted, and called through a thin path."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from graphc.codegen.kernel import KernelSpec, generate
from graphc.interpret import check_closed
from graphc.ir.graph import order
from graphc.ir.node import Node
from graphc.passes import optimize
from graphc.runtime import cache as disk
from graphc.runtime.arguments import Signature


class Compiled:
    """``gc.compile(inputs, outputs)`` with the Numba backend. ``f.source`` is the kernel."""

    backend = "numba"

    def __init__(self, inputs: Sequence[Node], outputs: Sequence[Node] | Node, cache: bool = True) -> None:
        self.single = isinstance(outputs, Node)
        self.outputs = (outputs,) if self.single else tuple(outputs)
        self.inputs = tuple(inputs)
        check_closed(self.inputs, self.outputs, order(self.outputs))
        self.signature = Signature(self.inputs, self.outputs)
        self.optimized = optimize(self.outputs)
        spec = KernelSpec("kernel", list(self.inputs), self.optimized)
        self.source = generate([spec])
        self._module = disk.load(self.source, cache)
        self._constants = tuple(c.attrs["value"] for c in spec.constants)
        self._scalar_in = tuple(n.shape == () for n in self.inputs)
        self._scalar_out = tuple((n.shape == (), n.dtype) for n in self.optimized)

    def __call__(self, *args: object) -> np.ndarray | tuple[np.ndarray, ...]:
        arrays, _ = self.signature.check(args)
        kargs = [a[()] if scalar else (a if a.flags.c_contiguous else np.ascontiguousarray(a))
                 for a, scalar in zip(arrays, self._scalar_in)]
        results = self._run(kargs)
        out = tuple(np.asarray(r, dtype=dt) if scalar else r for r, (scalar, dt) in zip(results, self._scalar_out))
        return out[0] if self.single else out

    def _run(self, kargs: list) -> tuple:
        try:
            return self._module.kernel(*kargs, *self._constants)
        except Exception as error:  # a damaged Numba cache entry: rebuild it once
            if not _is_cache_failure(error):
                raise
            self._module = disk.purge(self._module)
            return self._module.kernel(*kargs, *self._constants)


def _is_cache_failure(error: Exception) -> bool:
    import pickle

    return isinstance(error, (pickle.UnpicklingError, EOFError, ValueError)) and "graphc" not in type(error).__module__
