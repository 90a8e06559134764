"""The dtypes graphc knows and how they combine.

The rule, as in JAX and PyTorch:
- a node's dtype is float64 (the default), float32 or int64;
- two nodes combine to the wider float; an int64 next to a float takes the float;
- a Python scalar is "weak": it takes the dtype of the node it meets, so
  ``0.1 * x32`` stays float32 (a float scalar next to an int64 node gives float64);
- a NumPy array constant is strong: it keeps its own dtype (cast to one of the three).
"""

from __future__ import annotations

import warnings

import numpy as np

from graphc.errors import DTypeError

FLOAT64 = np.dtype("float64")
FLOAT32 = np.dtype("float32")
INT64 = np.dtype("int64")
DTYPES = (FLOAT64, FLOAT32, INT64)

SHORT_NAMES = {FLOAT64: "f64", FLOAT32: "f32", INT64: "i64"}


def as_dtype(dtype: object, what: str = "dtype") -> np.dtype:
    """The graphc dtype named by ``dtype`` ("float64", np.float32, ...), or a DTypeError."""
    try:
        with warnings.catch_warnings():  # deprecated aliases ("a") are rejected below anyway
            warnings.simplefilter("ignore", DeprecationWarning)
            dt = None if dtype is None else np.dtype(dtype)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        dt = None
    if dt is None or dt not in DTYPES:  # (np.dtype("float64") == None is True: test None first)
        raise DTypeError(f"{what}: expected one of float64, float32, int64 but got {dtype!r}")
    return dt


def is_float(dtype: np.dtype) -> bool:
    return dtype.kind == "f"


def promote(*dtypes: np.dtype) -> np.dtype:
    """The dtype of an elementwise result of nodes of these dtypes (weak scalars excluded)."""
    if len(set(dtypes)) == 1:
        return dtypes[0]
    floats = [d for d in dtypes if is_float(d)]
    if not floats:
        return INT64
    return FLOAT64 if FLOAT64 in floats else FLOAT32


def array_dtype(value: np.ndarray) -> np.dtype:
    """The graphc dtype a NumPy constant is stored as: bools and ints become int64,
    float16 becomes float32 and other floats float64."""
    kind = value.dtype.kind
    if kind in "biu":
        return INT64
    if kind == "f":
        return FLOAT32 if value.dtype.itemsize <= 4 else FLOAT64
    raise DTypeError(f"constant: expected a real number array but got dtype {value.dtype}")
