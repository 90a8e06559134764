"""The lecture's forward()/backward() API: two kernels with a tape in between.

``forward`` computes the loss and returns a ``Tape`` holding exactly the values the
backward kernel needs (chosen by the min-cut partition); ``backward`` consumes a tape
and the upstream gradient. A tape belongs to its call: the step object holds no state
but each thread's workspace (graphc.runtime.workspace), which no tape refers to (the
tape's values are the forward kernel's results, never in the workspace), so tapes from
several calls can be used in any order and from several threads.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from graphc.autodiff import grad
from graphc.codegen.kernel import KernelSpec, generate
from graphc.errors import ArgumentError, GraphError
from graphc.interpret import check_closed, evaluate, fresh_results, node_list, plan
from graphc.ir.graph import order
from graphc.ir.node import Node
from graphc.ir.numbering import Numbering
from graphc.ir.shapes import format_shape, resolve
from graphc.ops.sources import input as make_input
from graphc.passes import PassLog, optimize, select
from graphc.passes.partition import partition
from graphc.runtime.arguments import Signature, as_argument
from graphc.runtime.caller import as_kernel_arguments, owner
from graphc.runtime.compiled import load_kernels
from graphc.runtime.workspace import Memory, Workspaces


class Tape:
    """The values one forward call saved for its backward call."""

    __slots__ = ("step", "values", "dims")

    def __init__(self, step: GradStep, values: tuple, dims: dict[str, int]) -> None:
        self.step, self.values, self.dims = step, values, dims

    def __repr__(self) -> str:
        shapes = ", ".join(f"{n.label}:{np.shape(v)}" for n, v in zip(self.step.partition.tape, self.values))
        return f"<graphc.Tape of {len(self.values)} values: {shapes}>"


class GradStep:
    """``gc.compile_grad(loss, inputs, wrt)``: ``forward``, ``backward`` and both at once."""

    def __init__(self, loss: Node, inputs: Sequence[Node], wrt: Sequence[Node], backend: str = "numba",
                 cache: bool = True, passes: object = "all", allow_input_downcast: bool = False,
                 workspace: bool = True) -> None:
        if backend not in ("numba", "interpret"):
            raise GraphError(f"compile_grad: unknown backend {backend!r}: expected 'numba' or 'interpret'")
        self.backend = backend
        self.inputs = node_list(inputs, "the inputs")
        self.single = isinstance(wrt, Node)
        self.wrt = (wrt,) if self.single else node_list(wrt, "wrt")
        self.upstream = make_input("upstream", loss.shape, loss.dtype)  # dout: the output's shape
        grads = grad(loss, list(self.wrt), seed=self.upstream)
        check_closed(self.inputs, [loss], order([loss]))  # the gradients read nothing more
        self.signature = Signature(self.inputs, [loss, *grads], allow_downcast=allow_input_downcast)
        chosen = select(passes, "compile_grad")
        self.outputs = (loss, *grads)
        self.passes = PassLog(chosen, Numbering(self.outputs))  # what each pass changed
        loss_opt, *grads_opt = optimize(self.outputs, passes=chosen, log=self.passes)
        self.partition = partition(loss_opt, grads_opt, self.upstream)
        p = self.partition
        # backward params: the tape, the upstream gradient, and named dims no tape array carries
        carried = {d for t in (*p.tape, self.upstream) for d in t.shape if isinstance(d, str)}
        self.dim_params = [d for d in self.signature.dim_names if d not in carried]
        # the tape is among the forward kernel's outputs: never in the workspace
        fwd = KernelSpec("forward", list(self.inputs), p.forward_outputs, fuse="fusion" in chosen,
                         workspace=workspace)
        bwd = KernelSpec("backward", [*p.tape, self.upstream], p.backward_outputs, self.dim_params,
                         fuse="fusion" in chosen, workspace=workspace)
        self.specs = [fwd, bwd]
        # a tape keeps its own copy of the caller's arrays (and of views of them): changing
        # an argument in place between forward and backward cannot change the gradients
        self._keep = tuple(t.shape != () and any(owner(t) is i for i in self.inputs) for t in p.tape)
        if backend == "numba":
            ids = self.passes.numbering.restrict(order([*p.forward_outputs, *p.backward_outputs]))
            self.source = generate([fwd, bwd], ids)
            module, entries = load_kernels(self.source, [fwd, bwd], cache)
            self.module = module  # shared with other steps of the same source while one lives
            self.forward_kernel, self.backward_kernel = module.forward, module.backward  # Numba dispatchers
            # called with checked arguments of exactly the compiled types (tape values are
            # the forward kernel's own results or checked inputs)
            self._forward, self._backward = entries["forward"], entries["backward"]
            self._fconsts = tuple(c.attrs["value"] for c in fwd.constants)
            self._bconsts = tuple(c.attrs["value"] for c in bwd.constants)
            # the two kernels share each thread's workspace (graphc.runtime.workspace)
            self._spaces = Workspaces()
            self._fspace, self._bspace = fwd.memory is not None, bwd.memory is not None
            self.memory = Memory({"forward": fwd.memory, "backward": bwd.memory}, p.tape, self.signature.fixed,
                                 release=self._release, current=lambda: self._spaces.ws)
        else:
            self.source = None
            self._fplan = plan(p.forward_outputs, self.inputs)
            self._bplan = plan(p.backward_outputs, [*p.tape, self.upstream])
            self.memory = Memory({}, p.tape, self.signature.fixed, release=lambda: None, current=lambda: None)

    def _release(self) -> None:
        self._spaces = Workspaces()

    def show(self) -> str:
        """The optimized graph, split into the forward and backward kernels with the tape
        between them, numbered as ``gc.show`` numbers the declared graph (``gc.show(step)``)."""
        from graphc.inspect import show_compiled

        return show_compiled(self)

    def _repr_html_(self) -> str:
        from graphc.inspect import html

        return html(self)

    # -- the lecture's API ------------------------------------------------------------
    def forward(self, *args: object, **kwargs: object) -> tuple[np.ndarray, Tape]:
        """The loss, and the tape its backward call needs (arguments by position or name)."""
        p = self.partition
        if self.backend == "interpret":
            arrays, dims = self.signature.check(args, kwargs)
            values = evaluate(self._fplan, dict(zip(self.inputs, arrays)), dims)
            loss = _as_array(values[p.forward_outputs[0]], p.forward_outputs[0])
            return loss, Tape(self, tuple(_kept(values[t], k) for t, k in zip(p.tape, self._keep)), dims)
        arrays, dims = self.signature.check(args, kwargs)
        kargs = as_kernel_arguments(arrays)
        if self._fspace:
            *results, self._spaces.ws = self._forward(*kargs, *self._fconsts, self._spaces.ws)
        else:
            results = self._forward(*kargs, *self._fconsts)
        by_node = dict(zip(self.inputs, kargs))
        by_node.update(zip(p.forward_outputs, results))
        saved = tuple(_contiguous(_kept(by_node[t], k)) for t, k in zip(p.tape, self._keep))
        return _as_array(results[0], p.forward_outputs[0]), Tape(self, saved, dims)

    def backward(self, tape: Tape, upstream: object = None) -> tuple[np.ndarray, ...] | np.ndarray:
        """The gradients for ``wrt``, given the upstream gradient ``dout`` of the output's
        shape (for a scalar loss it defaults to 1.0)."""
        if not isinstance(tape, Tape) or tape.step is not self:
            raise ArgumentError(f"backward: expected a Tape made by this step's forward but got {tape!r}")
        if upstream is None:
            if self.upstream.shape != ():
                raise ArgumentError(f"backward: the output has shape {format_shape(self.upstream.shape)}: give "
                                    "its upstream gradient dout of that shape, backward(tape, dout)")
            upstream = 1.0
        seed = as_argument(self.upstream, upstream, self.signature.allow_downcast)
        expected = resolve(self.upstream.shape, tape.dims)
        if seed.shape != expected:
            raise ArgumentError(f"backward: the upstream gradient must have the output's shape "
                                f"{format_shape(self.upstream.shape)}, {expected} for this tape, but got {seed.shape}")
        if self.backend == "interpret":
            values = dict(zip(self.partition.tape, tape.values))
            values[self.upstream] = seed
            values = evaluate(self._bplan, values, tape.dims)
            # fresh, writable arrays, as the compiled kernel's (not a read-only broadcast view)
            grads = tuple(fresh_results([values[g] for g in self.partition.backward_outputs], tape.values))
        else:
            dims = [tape.dims[d] for d in self.dim_params]
            (seed,) = as_kernel_arguments([seed])
            if self._bspace:
                *grads, self._spaces.ws = self._backward(*tape.values, seed, *dims, *self._bconsts, self._spaces.ws)
            else:
                grads = self._backward(*tape.values, seed, *dims, *self._bconsts)
        grads = tuple(_as_array(g, n) for g, n in zip(grads, self.partition.backward_outputs))
        return grads[0] if self.single else grads

    def __call__(self, *args: object, **kwargs: object) -> tuple[np.ndarray, tuple[np.ndarray, ...] | np.ndarray]:
        loss, tape = self.forward(*args, **kwargs)
        return loss, self.backward(tape)


def _contiguous(value: object) -> object:
    if isinstance(value, np.ndarray) and not value.flags.c_contiguous:
        return np.ascontiguousarray(value)
    return value


def _kept(value: object, keep: bool) -> object:
    return value.copy() if keep else value  # type: ignore[attr-defined]


def _as_array(value: object, node: Node) -> object:
    return node.dtype.type(value) if node.shape == () else value
