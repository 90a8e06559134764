"""The op registry's definitions and the public op functions.

Importing this package registers every op (graphc.ir.op.REGISTRY). Each op is defined
once, in one of these modules, with its shape rule, NumPy reference, VJP and codegen.
"""

from graphc.ops.composite import log_softmax, softmax
from graphc.ops.elementwise import (
    abs,
    add,
    cast,
    div,
    elu,
    equal,
    exp,
    greater,
    greater_equal,
    leaky_relu,
    less,
    less_equal,
    log,
    maximum,
    minimum,
    mul,
    neg,
    pow,
    relu,
    sigmoid,
    sign,
    sqrt,
    sub,
    tanh,
    where,
)
from graphc.ops.indexing import take_along_axis
from graphc.ops.joins import argmax, argmin, concatenate, pad, split, stack
from graphc.ops.reductions import max, mean, sum
from graphc.ops.sources import const, input, one_hot
from graphc.ops.structural import broadcast_to, matmul, reshape, transpose
from graphc.ops.windows import patches

__all__ = [
    "abs", "add", "broadcast_to", "cast", "const", "div", "elu", "equal", "exp", "greater",
    "greater_equal", "input", "leaky_relu", "less", "less_equal", "log", "log_softmax", "matmul",
    "max", "maximum", "mean", "minimum", "mul", "neg", "one_hot", "patches", "pow", "relu", "reshape",
    "sigmoid", "sign", "softmax", "sqrt", "sub", "sum", "tanh", "transpose", "where",
    "take_along_axis", "concatenate", "stack", "split", "pad", "argmax", "argmin",
]
