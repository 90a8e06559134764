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
from graphc.ir.shapes import Prod, dim_names, dim_value, format_shape, merge_bindings, shape_names


class Signature:
    """The inputs of a compiled function, and the dims the graph itself binds."""

    def __init__(self, inputs: Sequence[Node], outputs: Sequence[Node], fname: str = "f",
                 allow_downcast: bool = False) -> None:
        self.inputs = tuple(inputs)
        self.allow_downcast = allow_downcast  # see as_argument
        self.fname = fname
        self.names = tuple(n.label for n in self.inputs)
        # a name the graph bound at declaration (x:(N,3) + z:(5,3) binds N=5) holds at call time
        self.fixed = dict(merge_bindings(fname, *(n.bindings for n in (*self.inputs, *outputs))))
        self.dim_names = tuple(sorted({name for n in self.inputs for name in shape_names(n.shape)}))
        # named dims a reduction without identity (max) runs over: a call may not make them 0
        self.nonempty: dict[str, Node] = {}
        for node in order(outputs):
            if lookup(node.op).nonempty:
                x = node.inputs[0]
                for axis in node.attrs["axes"]:
                    for name in dim_names(x.shape[axis]):  # a product is empty when a factor is
                        self.nonempty.setdefault(name, node)

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
        products: list[tuple[Node, tuple[int, ...], int]] = []
        for node, value in zip(self.inputs, args):
            array = as_argument(node, value, self.allow_downcast)
            check_shape(node, array.shape, dims, bound_by)
            products += [(node, array.shape, axis) for axis, d in enumerate(node.shape) if isinstance(d, Prod)]
            arrays.append(array)
        for node, shape, axis in products:  # once the plain names are bound
            check_product(node, shape, axis, dims, bound_by)
        for name, reduction in self.nonempty.items():
            if dims.get(name) == 0:
                source = f"argument {bound_by[name]}" if name in bound_by else "the graph"
                raise ArgumentError(f"{source}: named dim {name} is 0 but the {reduction.op} {reduction.label} "
                                    f"reduces over it: expected at least one element ({reduction.op} of no "
                                    "elements is undefined)")
        return arrays, dims


def as_argument(node: Node, value: object, allow_downcast: bool = False) -> np.ndarray:
    """``value`` as an array of ``node``'s dtype, or a DTypeError naming the argument.

    The rule: whatever ``np.asarray`` takes and converts to the input's dtype without loss
    is accepted and converted (an int64 or float32 array for a float64 input, a list, a
    Python number); a conversion that may lose something (float64 data for a float32
    input, floats for an int64 input) raises, unless ``allow_downcast`` (the compile
    option ``allow_input_downcast=True``, as in PyTensor), where NumPy's ``astype``
    rounds. Python numbers and lists of them are weak, as in an expression: a Python
    float is taken by a float32 input. Bools count as 0 and 1, as in NumPy."""
    if isinstance(value, np.ma.MaskedArray):  # as JAX: a kernel would read the masked-out values too
        raise ArgumentError(f"argument {node.label}: expected a NumPy array but got a masked array, whose mask "
                            "graphc cannot honour: pass value.filled(fill) or value.data")
    target = node.dtype
    if isinstance(value, np.ndarray) and value.dtype == target:
        return value
    weak = isinstance(value, (bool, int, float, list, tuple))
    if isinstance(value, (np.ndarray, np.generic)):
        source, given = value.dtype, f"{value.dtype}"
    elif weak:
        try:
            source = np.asarray(value).dtype
        except (ValueError, TypeError):
            raise DTypeError(f"argument {node.label}: expected an array of dtype {target} and shape "
                             f"{format_shape(node.shape)} but got a {type(value).__name__} that NumPy cannot make "
                             "an array of (rows of different lengths?)") from None
        given = f"a Python {type(value).__name__}" + (f" of {source}" if isinstance(value, (list, tuple)) else "")
    else:
        raise DTypeError(f"argument {node.label}: expected a NumPy array of dtype {target} "
                         f"and shape {format_shape(node.shape)} but got {type(value).__name__}")
    if source.kind not in "biuf" and not (weak and source.kind == "O"):  # "O": a Python int beyond int64
        raise DTypeError(f"argument {node.label}: expected dtype {target} but got {given} {value!r:.60}: "
                         "not a real number")
    exact = np.can_cast(source, target, "safe") or (weak and (source.kind in "biuO" or target.kind == "f"))
    if not exact and not allow_downcast:
        loss = ("the fractional part" if target.kind in "iu" and source.kind == "f" else
                "range" if target.kind in "iu" else "precision")
        raise DTypeError(f"argument {node.label}: expected dtype {target} but got {given}, and converting it "
                         f"may lose {loss}: pass {target} data, or compile with allow_input_downcast=True")
    try:
        return np.asarray(value, dtype=target)
    except (OverflowError, TypeError, ValueError):
        raise DTypeError(f"argument {node.label}: expected values of dtype {target} but got {given} {value!r:.60}, "
                         "out of its range") from None


def check_shape(node: Node, shape: tuple[int, ...], dims: dict[str, int], bound_by: dict[str, str]) -> None:
    """Check ``shape`` against ``node``'s declared shape, binding its named dims in ``dims``."""
    declared = node.shape
    if len(shape) != len(declared):
        raise ArgumentError(f"argument {node.label}: expected shape {format_shape(declared)} "
                            f"({len(declared)} dims) but got {shape} ({len(shape)} dims)")
    for axis, (want, got) in enumerate(zip(declared, shape)):
        if isinstance(want, Prod):
            continue  # checked by check_product once the plain names are bound
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


def check_product(node: Node, shape: tuple[int, ...], axis: int, dims: dict[str, int],
                  bound_by: dict[str, str]) -> None:
    """Check a product dim (N*4) of ``node`` against the size ``shape[axis]``; a product
    whose one name is still unbound binds it (N*4 of size 20 binds N = 5)."""
    want, got = node.shape[axis], shape[axis]
    names = dim_names(want)
    unbound = sorted({name for name in names if name not in dims})
    given = ", ".join(f"{name} = {dims[name]}" for name in sorted(set(names)) if name in dims)
    wrong = (f"argument {node.label}: expected shape {format_shape(node.shape)} but got {shape}: "
             f"dim {axis} ({want}) is {got}")
    if not unbound:
        if dim_value(want, dims) != got:
            raise ArgumentError(f"{wrong} but must be {dim_value(want, dims)} ({given})")
        return
    rest = dim_value(want, {**dims, **dict.fromkeys(unbound, 1)})
    if len(unbound) > 1 or names.count(unbound[0]) > 1 or rest == 0:
        raise ArgumentError(f"{wrong}, which does not determine {', '.join(unbound)}: give "
                            f"{' and '.join(unbound)} as a dim of its own in some argument")
    if got % rest:
        raise ArgumentError(f"{wrong} but must be a multiple of {rest}" + (f" ({given})" if given else ""))
    dims[unbound[0]] = got // rest
    bound_by[unbound[0]] = node.label
