"""The thin call path: a Python function specialised to one signature.

A call of a compiled graph should cost little more than the Numba call itself
(~0.2 µs). A generic checker loops over argument specs and costs several µs, so the
runtime writes a small Python function per signature: one boolean expression checks
the common case (exact types, dtypes, ranks, fixed dims, named dims consistent,
C-contiguous) and calls the kernel; anything else takes the slow path, which runs
the full checks (raising the errors that name the argument) and converts what can be
converted (a non-contiguous array is copied, a NumPy scalar or 0-d array unboxed) and
takes arguments by input name. Results the kernel may share with its arguments, its
constants or another result are copied (``borrowed``): every array returned is fresh.
A kernel with a memory plan also takes the calling thread's workspace and hands it
back (graphc.runtime.workspace); no result is ever in it. A kernel of many arrays takes
them packed (graphc.codegen.kernel, ``KernelWriter.pack``): its caller
(``make_packed_caller``) makes the same checks, allocates the results and passes every
array's address in one int64 array.

Both paths call the kernel's compiled entry point, not its Numba dispatcher: the
dispatcher types every argument again to pick an overload (~0.3 µs), while the entry
point just unboxes. It trusts its arguments to have exactly the compiled types (an
array of another dtype or rank would be misread), so only the checked paths call it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from graphc.codegen.memory import view_chain
from graphc.ir.node import Node
from graphc.ir.op import lookup
from graphc.ir.shapes import Prod, dim_value
from graphc.runtime.arguments import Signature
from graphc.runtime.workspace import Workspaces


def kernel_arguments(signature: Signature, args: tuple, kwargs: dict[str, object]) -> list:
    """The slow path's conversion: checked arrays, 0-d ones unboxed, all C-contiguous."""
    arrays, _ = signature.check(args, kwargs)
    return as_kernel_arguments(arrays)


def as_kernel_arguments(arrays: Sequence[np.ndarray]) -> list:
    """Checked arrays as a kernel takes them: 0-d ones unboxed, all C-contiguous."""
    return [a[()] if a.ndim == 0 else (a if type(a) is np.ndarray and a.flags.c_contiguous
                                       else np.ascontiguousarray(a)) for a in arrays]


def owner(node: Node) -> Node:
    """The node whose memory ``node``'s array may be: itself, or what it is a view of (a
    kernel's view ops, kind "view", return views of their operand where they can)."""
    return view_chain(node)[-1]


def borrowed(nodes: Sequence[Node]) -> list[bool]:
    """Which of ``nodes`` (a kernel's results) may share memory with an array the kernel
    did not allocate for them: a source's (an argument or an array constant, which a
    kernel returns as it is), or an earlier result's (an output listed twice, or a view
    of another). Those results are copied, so that every array a call returns is fresh
    and writable, as the interpreter's are; the others cost nothing more. 0-d results are
    NumPy scalars, never shared."""
    seen: set[Node] = set()
    flags = []
    for node in nodes:
        root = owner(node)
        flags.append(node.shape != () and (root in seen or lookup(root.op).kind == "source"))
        seen.add(root)
    return flags


def _fast_check(node: Node, arg: str, first_axis: dict[str, str], fixed: dict[str, int], env: dict) -> list[str]:
    """Conditions under which ``arg`` can go to the kernel as it is."""
    dtype = f"_dt_{arg}"
    env[dtype] = node.dtype
    if node.shape == ():
        # the NumPy scalar of the dtype, or a Python float for float64 (a Python int may be
        # out of int64's range: the slow path checks it)
        exact = (float, node.dtype.type) if node.dtype == np.float64 else (node.dtype.type,)
        env[f"_ty_{arg}"] = exact
        return [f"type({arg}) in _ty_{arg}"]
    conds = [f"type({arg}) is _ndarray", f"{arg}.dtype is {dtype}", f"{arg}.ndim == {len(node.shape)}",
             f"{arg}.flags.c_contiguous"]
    for axis, d in enumerate(node.shape):
        if isinstance(d, Prod):
            continue  # checked once every input's plain dims are named (_product_checks)
        if isinstance(d, int):
            conds.append(f"{arg}.shape[{axis}] == {d}")
        elif d in fixed:
            conds.append(f"{arg}.shape[{axis}] == {fixed[d]}")
        elif d in first_axis:
            conds.append(f"{arg}.shape[{axis}] == {first_axis[d]}")
        else:
            first_axis[d] = f"{arg}.shape[{axis}]"
    return conds


def _product_checks(signature: Signature, names: list[str], first_axis: dict[str, str]) -> list[str]:
    """Conditions on the inputs' product dims (N*4): their sizes, in terms of the plain
    dims already read; a product over a name no plain dim gives takes the slow path."""
    sizes = {**{n: str(v) for n, v in signature.fixed.items()}, **first_axis}
    conds = []
    for node, arg in zip(signature.inputs, names):
        for axis, d in enumerate(node.shape):
            if isinstance(d, Prod):
                if not all(n in sizes for n in d.names):
                    return ["False"]
                conds.append(f"{arg}.shape[{axis}] == {' * '.join([*(sizes[n] for n in d.names), str(d.factor)])}")
    return conds


def _fast_path(signature: Signature, names: list[str], env: dict) -> tuple[list[str], dict[str, str]]:
    """The conditions under which a call's arguments go to the kernel as they are, and
    where each named dim is read from (the first axis that carries it)."""
    conds: list[str] = []
    first_axis: dict[str, str] = {}
    for node, arg in zip(signature.inputs, names):
        conds += _fast_check(node, arg, first_axis, signature.fixed, env)
    for d in signature.nonempty:  # a reduction without identity (max) over it: 0 takes the slow path
        if d in first_axis:
            conds.append(f"{first_axis[d]} != 0")
    conds += _product_checks(signature, names, first_axis)
    return conds, first_axis


def _tuple(items: list[str]) -> str:
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


def make_caller(signature: Signature, kernel: Callable, constants: Sequence[np.ndarray],
                outputs: Sequence[Node], single: bool, workspace: bool = False) -> Callable:
    """A function with the signature's parameters that checks, calls and returns. With
    ``workspace`` (the kernel has a memory plan) it passes the calling thread's workspace
    last and keeps the one the kernel hands back (graphc.runtime.workspace); the
    function's globals hold them as ``_spaces``."""
    names = [f"a{k}" for k in range(len(signature.inputs))]
    env: dict = {"_ndarray": np.ndarray, "_kernel": kernel, "_signature": signature,
                 "_convert": kernel_arguments}
    consts = []
    for k, c in enumerate(constants):
        env[f"_c{k}"] = c
        consts.append(f"_c{k}")
    keep = []
    if workspace:
        env["_spaces"] = Workspaces()
        consts.append("_spaces.ws")
        keep = ["_spaces.ws = _w"]
    conds, _ = _fast_path(signature, names, env)
    conds = conds or ["True"]
    results = []
    for k, (node, copy) in enumerate(zip(outputs, borrowed(outputs))):
        if node.shape == ():  # a 0-d result is a NumPy scalar, as np.sum gives
            env[f"_sc{k}"] = node.dtype.type
            results.append(f"_sc{k}(r{k})")
        else:
            results.append(f"r{k}.copy()" if copy else f"r{k}")
    unpack = ", ".join([*(f"r{k}" for k in range(len(outputs))), *(["_w"] if workspace else [])]) + ","
    ret = results[0] if single else _tuple(results)
    indent = "    " if names else ""
    source = "\n".join([
        "def call(*args, **kwargs):",
        f"    if len(args) == {len(names)} and not kwargs:",
        *([f"        {', '.join(names)}, = args", f"        if {' and '.join(conds)}:"] if names else []),
        f"{indent}        {unpack} = _kernel({', '.join([*names, *consts])})",
        *(f"{indent}        {line}" for line in keep),
        f"{indent}        return {ret}",
        f"    {unpack} = _kernel({', '.join(['*_convert(_signature, args, kwargs)', *consts])})",
        *(f"    {line}" for line in keep),
        f"    return {ret}",
    ])
    exec(compile(source, f"<graphc caller {signature.fname}>", "exec"), env)
    call = env["call"]
    call.source = source
    return call


def make_packed_caller(signature: Signature, kernel: Callable, constants: Sequence[np.ndarray],
                       outputs: Sequence[Node], single: bool, workspace: bool = False) -> Callable:
    """``make_caller`` for a packed kernel (graphc.codegen.kernel, ``KernelWriter.pack``):
    after the same checks, it allocates the array results from the named dims, passes
    the addresses of the arguments and results in one int64 array (the arrays stay
    referenced here for the call), the 0-d arguments and every named dim, and returns
    the results it allocated: fresh arrays, none sharing memory with another."""
    names = [f"a{k}" for k in range(len(signature.inputs))]
    dims = [d for d in signature.dim_names if d not in signature.fixed]
    arrays = [k for k, node in enumerate(signature.inputs) if node.shape != ()]
    scalars = [k for k, node in enumerate(signature.inputs) if node.shape == ()]
    results = [(node.shape, node.dtype) for node in outputs if node.shape != ()]
    kinds = [node.dtype.type if node.shape == () else None for node in outputs]
    env: dict = {"_ndarray": np.ndarray, "_signature": signature, "_dims": dims, "_convert": as_kernel_arguments}
    if workspace:
        env["_spaces"] = Workspaces()

    def run(values: Sequence, sizes: Sequence[int]) -> object:
        bound = dict(signature.fixed)
        bound.update(zip(dims, sizes))
        made = [np.empty(tuple(dim_value(d, bound) for d in shape), dtype=dtype) for shape, dtype in results]
        addresses = np.array([*(values[k].ctypes.data for k in arrays), *(r.ctypes.data for r in made)],
                             dtype=np.int64)
        spaces = env["_spaces"] if workspace else None  # (f.memory.release() replaces them)
        extra = [spaces.ws] if spaces is not None else []
        returned = kernel(addresses, *(values[k] for k in scalars), *sizes, *constants, *extra)
        if spaces is not None:
            spaces.ws = returned[-1]
        made.reverse()
        zero_d = iter(returned)
        values = tuple(made.pop() if kind is None else kind(next(zero_d)) for kind in kinds)
        return values[0] if single else values

    env["_run"] = run
    conds, first_axis = _fast_path(signature, names, env)
    if not all(d in first_axis for d in dims):  # a name only a product carries: the slow path finds it
        conds = ["False"]
    sizes = _tuple([first_axis[d] for d in dims]) if conds != ["False"] else "()"
    source = "\n".join([
        "def call(*args, **kwargs):",
        f"    if len(args) == {len(names)} and not kwargs:",
        *([f"        {', '.join(names)}, = args"] if names else []),
        f"        if {' and '.join(conds) or 'True'}:",
        f"            return _run(args, {sizes})",
        "    values, dims = _signature.check(args, kwargs)",
        "    return _run(_convert(values), tuple(dims[d] for d in _dims))",
    ])
    exec(compile(source, f"<graphc packed caller {signature.fname}>", "exec"), env)
    call = env["call"]
    call.source = source
    return call
