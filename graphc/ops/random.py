"""Counter-based random numbers: ``uniform(key, shape)``, a pure function of its key.

As in JAX, there is no generator state: the numbers are a hash of (key, position), so
the same key gives the same numbers, on either backend and in any order of evaluation,
and a new draw needs a new key (an int64 input the caller changes per step). The hash
is SplitMix64's (Steele, Lea and Flood 2014): the key is mixed into a stream seed, and
element i is mix(seed + (i + 1) * golden), its top 53 (float64) or 24 (float32) bits
scaled into [0, 1). Both backends compute the same bits, so they agree exactly.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from graphc.errors import DTypeError, ShapeError
from graphc.ir import dtypes
from graphc.ir.node import Node, apply
from graphc.ir.op import Op, register
from graphc.ir.shapes import as_shape, resolve
from graphc.ops._common import as_node

GOLDEN, MIX1, MIX2 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB
BITS = {"float64": 53, "float32": 24}  # the bits of a uniform number: the dtype's mantissa


def _mix_ref(z: np.ndarray) -> np.ndarray:
    """SplitMix64's finalizer on uint64 arrays (NumPy wraps uint64 arithmetic around)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(MIX1)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(MIX2)
    return z ^ (z >> np.uint64(31))


def _uniform_ref(args, attrs, dims):
    dtype = np.dtype(attrs["dtype"])
    shape = resolve(attrs["shape"], dims)
    key = np.asarray(args[0], dtype=np.int64).reshape(1).view(np.uint64)
    seed = _mix_ref(key + np.uint64(GOLDEN))
    counters = np.arange(1, math.prod(shape) + 1, dtype=np.uint64)
    bits = _mix_ref(seed + counters * np.uint64(GOLDEN)) >> np.uint64(64 - BITS[dtype.name])
    return (bits.astype(dtype) * dtype.type(2.0 ** -BITS[dtype.name])).reshape(shape)


def _uniform_infer(op: str, inputs: tuple[Node, ...], attrs: dict[str, Any]):
    (key,) = inputs
    if key.dtype != dtypes.INT64 or key.shape != ():
        raise DTypeError(f"{op}: the key {key.label} must be an int64 scalar but is {key.type_str}")
    return attrs["shape"], dtypes.as_dtype(attrs["dtype"], op), ()


def _uniform_lower(w, node: Node, name: str, args: list, note: str) -> None:
    dtype = node.dtype
    size = w.size_expr(node.shape)
    flat = name if len(node.shape) == 1 else w.namer.fresh(f"{name}_flat")
    seed, z = w.namer.fresh(f"{name}_seed"), w.namer.fresh("z")

    def mix(depth: int) -> None:
        w.emit(f"{z} = ({z} ^ ({z} >> np.uint64(30))) * np.uint64({MIX1:#x})  # SplitMix64's mix", depth)
        w.emit(f"{z} = ({z} ^ ({z} >> np.uint64(27))) * np.uint64({MIX2:#x})", depth)
        w.emit(f"{z} = {z} ^ ({z} >> np.uint64(31))", depth)

    w.emit(f"{z} = np.uint64({args[0].expr}) + np.uint64({GOLDEN:#x}){note}: the key's stream")
    mix(1)
    w.emit(f"{seed} = {z}")
    w.emit(f"{flat} = np.empty({size}, dtype={w.np_dtype(node)})")
    w.emit(f"for i in range({size}):")
    w.emit(f"{z} = {seed} + np.uint64(i + 1) * np.uint64({GOLDEN:#x})  # element i: a hash of (key, i)", 2)
    mix(2)
    bits = BITS[dtype.name]
    w.emit(f"{flat}[i] = np.{dtype.name}({z} >> np.uint64({64 - bits})) * np.{dtype.name}({2.0 ** -bits!r})", 2)
    if node.shape == ():
        w.emit(f"{name} = {flat}[0]")
    elif flat != name:
        w.emit(f"{name} = {w.shaped(flat, node.shape)}")


register(Op("uniform", infer=_uniform_infer, numpy=_uniform_ref, lower=_uniform_lower, vjp=None, gate="local",
            kind="opaque", doc="counter-based uniform random numbers in [0, 1): a hash of (key, position)"))


def uniform(key: object, shape: tuple = (), dtype: object = "float64", name: str | None = None) -> Node:
    """Uniform random numbers in [0, 1) of ``shape`` (named dims allowed), a pure function
    of the int64 scalar ``key``: the same key gives the same numbers (see the module)."""
    node = as_node(key, "uniform")
    target = dtypes.as_dtype(dtype, "uniform")
    if not dtypes.is_float(target):
        raise DTypeError(f"uniform: expected a float dtype but got {target}")
    shape = as_shape(shape, "uniform")
    if any(not isinstance(d, (int, str)) for d in shape):
        raise ShapeError(f"uniform: expected a shape of ints and names but got {shape!r}")
    return apply("uniform", node, shape=shape, dtype=target.name, name=name)
