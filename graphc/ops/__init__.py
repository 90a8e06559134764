"""The op registry's definitions and the public op functions.

Importing this package registers every op (graphc.ir.op.REGISTRY). Each op is defined
once, in one of these modules, with its shape rule, NumPy reference, VJP and codegen.
"""

from graphc.ops.composite import clip, log_softmax, logsumexp, min, softmax, softplus, square, std, var
from graphc.ops.contraction import einsum, matmul
from graphc.ops.elementwise import (
    abs,
    add,
    cast,
    div,
    elu,
    equal,
    exp,
    expm1,
    greater,
    greater_equal,
    leaky_relu,
    less,
    less_equal,
    log,
    log1p,
    maximum,
    minimum,
    mul,
    neg,
    not_equal,
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
from graphc.ops.random import uniform
from graphc.ops.reductions import max, mean, sum
from graphc.ops.sources import const, input, one_hot
from graphc.ops.structural import broadcast_to, reshape, transpose
from graphc.ops.windows import patches

__all__ = [
    "abs", "add", "broadcast_to", "cast", "clip", "const", "div", "einsum", "elu", "equal", "exp", "expm1",
    "greater", "greater_equal", "input", "leaky_relu", "less", "less_equal", "log", "log1p", "log_softmax",
    "logsumexp", "matmul", "max", "maximum", "mean", "min", "minimum", "mul", "neg", "not_equal", "one_hot",
    "patches", "pow", "relu", "reshape", "sigmoid", "sign", "softmax", "softplus", "sqrt", "square", "std", "sub",
    "sum", "tanh", "transpose", "uniform", "var", "where",
    "take_along_axis", "concatenate", "stack", "split", "pad", "argmax", "argmin",
]
