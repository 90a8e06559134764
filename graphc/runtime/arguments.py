"""Call-time argument checks shared by every backend.

A compiled function's signature is its input nodes. A call is checked for the count,
the type, the dtype and the shape of each argument, and named dims are bound
consistently across arguments; every error names the argument.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from graphc.errors import ArgumentError, DTypeError
from graphc.ir.graph import order
from graphc.ir.node import Node
from graphc.ir.op import lookup
from graphc.ir.shapes import format_shape, merge_bindings


class Signature:
    """The inputs of a compiled function, and the dims the graph itself binds."""

    def __init__(self, inputs: Sequence[Node], outputs: Sequence[Node], fname: str = "f") -> None:
        self.inputs = tuple(inputs)
        self.fname = fname
        self.names = tuple(n.label for n in self.inputs)
        # a name the graph bound at declaration (x:(N,3) + z:(5,3) binds N=5) holds at call time
        self.fixed = dict(merge_bindings(fname, *(n.bindings for n in (*self.inputs, *outputs))))
        self.dim_names = tuple(sorted({d for n in self.inputs for d in n.shape if isinstance(d, str)}))
        # named dims a reduction without identity (max) runs over: a call may not make them 0
        self.nonempty: dict[str, Node] = {}
        for node in order(outputs):
            if lookup(node.op).nonempty:
                x = node.inputs[0]
                for axis in node.attrs["axes"]:
                    if isinstance(x.shape[axis], str):
                        self.nonempty.setdefault(x.shape[axis], node)

    def describe(self) -> str:
        return f"{self.fname}({', '.join(f'{n.label}:{n.type_str}' for n in self.inputs)})"

    def bind(self, args: tuple, kwargs: dict[str, object]) -> tuple:
        """The arguments in the inputs' order: ``args``, then ``kwargs`` by input name."""
        if len(args) > len(self.inputs):
            return args  # check() names the count
        given = dict(zip(self.names, args))
        for name, value in kwargs.items():
            if name not in self.names:
                raise ArgumentError(f"{self.fname}: got the keyword argument {name!r} but the inputs are "
                                    f"{', '.join(self.names)}")
            if name in given:
                raise ArgumentError(f"{self.fname}: got input {name} both by position and by keyword")
            given[name] = value
        missing = [n for n in self.names if n not in given]
        if missing:
            raise ArgumentError(f"{self.fname}: expected {len(self.inputs)} arguments ({', '.join(self.names)}) "
                                f"but input {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing")
        return tuple(given[n] for n in self.names)

    def check(self, args: tuple, kwargs: dict[str, object] | None = None) -> tuple[list[np.ndarray], dict[str, int]]:
        """The arguments (by position, or by input name) as arrays of the declared dtypes,
        and the named dims' sizes."""
        if kwargs:
            args = self.bind(args, kwargs)
        if len(args) != len(self.inputs):
            raise ArgumentError(f"{self.fname}: expected {len(self.inputs)} arguments "
                                f"({', '.join(self.names)}) but got {len(args)}")
        dims = dict(self.fixed)
        bound_by: dict[str, str] = {}
        arrays = []
        for node, value in zip(self.inputs, args):
            array = as_argument(node, value)
            check_shape(node, array.shape, dims, bound_by)
            arrays.append(array)
        for name, reduction in self.nonempty.items():
            if dims.get(name) == 0:
                source = f"argument {bound_by[name]}" if name in bound_by else "the graph"
                raise ArgumentError(f"{source}: named dim {name} is 0 but the {reduction.op} {reduction.label} "
                                    f"reduces over it: expected at least one element ({reduction.op} of no "
                                    "elements is undefined)")
        return arrays, dims


def as_argument(node: Node, value: object) -> np.ndarray:
    """``value`` as an array of ``node``'s dtype, or a DTypeError naming the argument."""
    if isinstance(value, np.ma.MaskedArray):  # as JAX: a kernel would read the masked-out values too
        raise ArgumentError(f"argument {node.label}: expected a NumPy array but got a masked array, whose mask "
                            "graphc cannot honour: pass value.filled(fill) or value.data")
    if isinstance(value, np.ndarray):
        if value.dtype != node.dtype:
            raise DTypeError(f"argument {node.label}: expected dtype {node.dtype} but got {value.dtype}")
        return value
    if isinstance(value, (float, int, np.generic)) and not isinstance(value, (bool, np.bool_)):
        if isinstance(value, np.generic) and value.dtype != node.dtype:
            raise DTypeError(f"argument {node.label}: expected dtype {node.dtype} but got {value.dtype}")
        if isinstance(value, float) and node.dtype.kind != "f":
            raise DTypeError(f"argument {node.label}: expected dtype {node.dtype} but got a Python float")
        try:
            return np.asarray(value, dtype=node.dtype)
        except OverflowError:
            raise DTypeError(f"argument {node.label}: expected a value of dtype {node.dtype} but got the "
                             f"int {value}, which is out of its range") from None
    raise DTypeError(f"argument {node.label}: expected a NumPy array of dtype {node.dtype} "
                     f"and shape {format_shape(node.shape)} but got {type(value).__name__}")


def check_shape(node: Node, shape: tuple[int, ...], dims: dict[str, int], bound_by: dict[str, str]) -> None:
    """Check ``shape`` against ``node``'s declared shape, binding its named dims in ``dims``."""
    declared = node.shape
    if len(shape) != len(declared):
        raise ArgumentError(f"argument {node.label}: expected shape {format_shape(declared)} "
                            f"({len(declared)} dims) but got {shape} ({len(shape)} dims)")
    for axis, (want, got) in enumerate(zip(declared, shape)):
        if isinstance(want, int):
            if want != got:
                raise ArgumentError(f"argument {node.label}: expected shape {format_shape(declared)} "
                                    f"but got {shape}: dim {axis} must be {want}")
        elif dims.setdefault(want, got) != got:
            source = f"argument {bound_by[want]}" if want in bound_by else "the graph"
            raise ArgumentError(f"argument {node.label}: dim {axis} ({want}) is {got} but {want} "
                                f"is {dims[want]}, bound by {source}")
        else:
            bound_by.setdefault(want, node.label)
