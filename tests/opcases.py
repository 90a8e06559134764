"""One table of op test cases, shared by every test that checks ops against NumPy.

A case is a graphc expression over input nodes, the same expression written with NumPy
on arrays, the input shapes (named dims allowed: "N") and a domain per input that keeps
the check meaningful: positive numbers for log/sqrt, values away from the kink for
relu/abs, no ties for max unless the case is about ties.

    from opcases import CASES, make_inputs
    for case in CASES:
        nodes = case.inputs("float32")
        out = case.build(*nodes)
        arrays = make_inputs(case, "float32", seed=0)
        expected = case.ref(*arrays)

Every op of ``graphc.ops.__all__`` appears in at least one case (``covered_ops`` lists
them; test_ops.py checks the coverage), and so do the Python operators with numbers and
NumPy arrays on either side.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

import graphc as gc
from graphc.ir.node import apply
from graphc.ir.shapes import as_shape, resolve

DIMS: Mapping[str, int] = {"N": 3}  # the default size of a named dim
FLOATS = ("float32", "float64")

# tolerances for comparing against NumPy, by dtype
RTOL = {"float32": 2e-5, "float64": 1e-12, "int64": 0}
ATOL = {"float32": 2e-6, "float64": 1e-13, "int64": 0}

_rng = np.random.default_rng(1234)
C34 = _rng.standard_normal((3, 4))  # constants for the operator cases
C4 = _rng.standard_normal(4)
C45 = _rng.standard_normal((4, 5))
C24 = _rng.standard_normal((2, 4))


@dataclass(frozen=True)
class OpCase:
    """One expression to test.

    build(*nodes) -> Node and ref(*arrays) -> ndarray compute the same thing;
    ``shapes``/``domains``/``dtypes`` describe the inputs (a dtype of None means "the
    float dtype under test"); ``out_dtype`` None likewise; ``wrt`` lists the inputs whose
    gradient is checked (None: every float input, () when ``grad`` is False).
    """

    name: str
    build: Callable[..., gc.Node]
    ref: Callable[..., np.ndarray]
    shapes: tuple[tuple, ...]
    domains: tuple[str, ...]
    ops: tuple[str, ...]
    dtypes: tuple[str | None, ...] | None = None
    out_dtype: str | None = None
    grad: bool = True
    wrt: tuple[int, ...] | None = None
    tags: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        assert len(self.shapes) == len(self.domains), self.name
        assert self.dtypes is None or len(self.dtypes) == len(self.shapes), self.name

    def input_dtypes(self, dtype: str) -> tuple[str, ...]:
        return tuple(dtype if d is None else d for d in (self.dtypes or (None,) * len(self.shapes)))

    def output_dtype(self, dtype: str) -> str:
        """The result's dtype when the case runs with float dtype ``dtype``."""
        if self.out_dtype is None:
            return dtype
        if self.out_dtype == "other":
            return "float32" if dtype == "float64" else "float64"
        return self.out_dtype

    def inputs(self, dtype: str) -> list[gc.Node]:
        """Fresh input nodes x0, x1, ... for this case."""
        return [gc.input(f"x{i}", shape=s, dtype=d)
                for i, (s, d) in enumerate(zip(self.shapes, self.input_dtypes(dtype)))]

    def grad_inputs(self) -> tuple[int, ...]:
        if not self.grad:
            return ()
        if self.wrt is not None:
            return self.wrt
        return tuple(i for i, d in enumerate(self.input_dtypes("float64")) if d != "int64")

    def __repr__(self) -> str:
        return f"OpCase({self.name})"


def bind(shape: Sequence, dims: Mapping[str, int] = DIMS) -> tuple[int, ...]:
    """A declared shape with its named dims replaced by their sizes."""
    return tuple(d if isinstance(d, int) else resolve(as_shape(d, "bind"), dims)[0] for d in shape)


def node_shape(node: gc.Node, dims: Mapping[str, int] = DIMS) -> tuple[int, ...]:
    """A node's concrete shape: named dims from ``dims`` or from the graph's own bindings
    (``broadcast_to(x, ("M", 4))`` of a (3, 4) x binds M = 3)."""
    return bind(node.shape, {**dims, **dict(node.bindings)})


def sample(domain: str, shape: tuple[int, ...], dtype: str, rng: np.random.Generator) -> np.ndarray:
    """Random values of ``domain`` (see the module docstring) with this shape and dtype."""
    size = int(np.prod(shape, dtype=np.int64))
    if domain == "real":
        v = rng.standard_normal(size)
    elif domain == "positive":  # log, sqrt, pow's base
        v = rng.uniform(0.5, 2.0, size)
    elif domain == "nonzero":  # at least 0.2 away from the kink of relu/abs/sign and a pole
        v = rng.choice([-1.0, 1.0], size) * rng.uniform(0.2, 2.0, size)
    elif domain in ("gridA", "gridB"):  # two inputs that never tie: k + 1/4 vs k + 3/4
        v = rng.integers(-3, 3, size) + (0.25 if domain == "gridA" else 0.75)
    elif domain == "distinct":  # all elements at least 0.2 apart: a max has one winner
        v = (rng.permutation(size) - size / 2) * 0.3 + rng.uniform(-0.05, 0.05, size)
    elif domain == "ties":  # small integers: comparisons and sign see equal values and zeros
        v = rng.integers(-2, 3, size).astype(float)
    elif domain == "cond":  # the 0/1 condition of where
        v = rng.integers(0, 2, size).astype(float)
    elif domain.startswith("labels"):  # int labels in [0, K)
        v = rng.integers(0, int(domain[6:]), size)
    elif domain.startswith("index"):  # int indices in [-K, K): negative ones count from the end
        k = int(domain[5:])
        v = rng.integers(-k, k, size)
    elif domain == "int":
        v = rng.integers(-5, 6, size)
    elif domain == "nonfinite":  # IEEE specials among normal values: NumPy's results are the reference
        v = rng.standard_normal(size)
        specials = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0])
        v[rng.permutation(size)[: max(1, size // 3)]] = rng.choice(specials, max(1, size // 3))
    else:
        raise ValueError(f"unknown domain {domain!r}")
    return np.asarray(v.reshape(shape), dtype=dtype)


def make_inputs(case: OpCase, dtype: str = "float64", seed: int = 0,
                dims: Mapping[str, int] = DIMS) -> list[np.ndarray]:
    """Random inputs for ``case``: its floats in ``dtype``, named dims bound by ``dims``."""
    rng = np.random.default_rng(seed)
    return [sample(dom, bind(shape, dims), dt, rng)
            for shape, dom, dt in zip(case.shapes, case.domains, case.input_dtypes(dtype))]


def finite_difference(f: Callable[..., float], args: Sequence[np.ndarray], k: int, h: float = 1e-3) -> np.ndarray:
    """d f / d args[k] by the fourth-order central stencil
    (-f(x+2h) + 8 f(x+h) - 8 f(x-h) + f(x-2h)) / 12h: accurate to ~1e-11 in float64
    with h = 1e-3, where the two-point rule is limited to ~1e-9 by rounding."""
    args = [np.array(a, copy=True) for a in args]
    flat = args[k].reshape(-1)
    out = np.zeros(flat.shape, dtype=np.float64)
    for j in range(flat.size):
        saved = flat[j]
        values = []
        for step in (2, 1, -1, -2):
            flat[j] = saved + step * h
            values.append(float(f(*args)))
        flat[j] = saved
        out[j] = (-values[0] + 8 * values[1] - 8 * values[2] + values[3]) / (12 * h)
    return out.reshape(args[k].shape)


def relative_error(analytic: np.ndarray, numeric: np.ndarray, floor: float = 1e-6) -> float:
    """max |a - n| / max(|a|, |n|, floor): the lecture's relative error, with gradients
    smaller than ``floor`` compared absolutely."""
    analytic, numeric = np.asarray(analytic, dtype=np.float64), np.asarray(numeric, dtype=np.float64)
    if analytic.size == 0:
        return 0.0
    scale = np.maximum(np.maximum(np.abs(analytic), np.abs(numeric)), floor)
    return float(np.max(np.abs(analytic - numeric) / scale))


# -- NumPy references written independently of graphc's ----------------------------------------
def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _softmax(x, axis):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def _log_softmax(x, axis):
    s = x - np.max(x, axis=axis, keepdims=True)
    return s - np.log(np.sum(np.exp(s), axis=axis, keepdims=True))


def _one_hot(labels, classes, dtype):
    out = np.zeros(labels.shape + (classes,), dtype=dtype)
    for index in np.ndindex(labels.shape):
        if 0 <= labels[index] < classes:
            out[index + (labels[index],)] = 1
    return out


def _as(x, c):
    """A NumPy constant in x's dtype (graphc node or array), so cases run in float32 too."""
    return np.asarray(c, dtype=x.dtype)


# -- the table ---------------------------------------------------------------------------------
CASES: list[OpCase] = []


def case(name, build, ref, shapes, domains, ops, **kw) -> None:
    assert all(c.name != name for c in CASES), name
    CASES.append(OpCase(name, build, ref, tuple(tuple(s) for s in shapes), tuple(domains), tuple(ops), **kw))


# broadcast shape pairs: (name, shape a, shape b)
BROADCASTS = (
    ("same", (3, 4), (3, 4)),
    ("scalar_left", (), (3, 4)),
    ("scalar_right", (3, 4), ()),
    ("row", (1, 4), (3, 4)),
    ("col", (3, 4), (3, 1)),
    ("vec_left", (4,), (3, 4)),
    ("vec_right", (3, 4), (4,)),
    ("outer", (3, 1), (1, 4)),
    ("named_vec", ("N", 4), (4,)),
    ("named_col", ("N", 1), ("N", 4)),
    ("rank3", (2, 1, 4), (3, 1)),
)

BINARY = (  # op, gc function, NumPy reference, domains of a and b
    ("add", gc.add, np.add, ("real", "real")),
    ("sub", gc.sub, np.subtract, ("real", "real")),
    ("mul", gc.mul, np.multiply, ("real", "real")),
    ("div", gc.div, np.divide, ("real", "nonzero")),
    ("pow", gc.pow, np.power, ("positive", "real")),
    ("maximum", gc.maximum, np.maximum, ("gridA", "gridB")),
    ("minimum", gc.minimum, np.minimum, ("gridA", "gridB")),
)

for _op, _fn, _np, _doms in BINARY:
    for _bname, _sa, _sb in BROADCASTS:
        case(f"{_op}_{_bname}", _fn, _np, (_sa, _sb), _doms, (_op,))
        if _op in ("maximum", "minimum") and _bname in ("same", "vec_right"):
            # the other operand wins this time
            case(f"{_op}_{_bname}_swapped", _fn, _np, (_sa, _sb), _doms[::-1], (_op,))

UNARY = (  # op name, gc function, NumPy reference, domain
    ("neg", gc.neg, np.negative, "real"),
    ("exp", gc.exp, np.exp, "real"),
    ("log", gc.log, np.log, "positive"),
    ("sqrt", gc.sqrt, np.sqrt, "positive"),
    ("abs", gc.abs, np.abs, "nonzero"),
    ("tanh", gc.tanh, np.tanh, "real"),
    ("sigmoid", gc.sigmoid, _sigmoid, "real"),
    ("relu", gc.relu, lambda x: np.where(x > 0, x, 0 * x), "nonzero"),
    ("log1p", gc.log1p, np.log1p, "positive"),
    ("expm1", gc.expm1, np.expm1, "real"),
    ("softplus", gc.softplus, lambda x: np.logaddexp(0 * x, x), "nonzero"),
    ("square", gc.square, np.square, "real"),
)
UNARY_SHAPES = (("mat", (3, 4)), ("named", ("N", 2)), ("scalar", ()))

for _op, _fn, _np, _dom in UNARY:
    for _sname, _shape in UNARY_SHAPES:
        case(f"{_op}_{_sname}", _fn, _np, (_shape,), (_dom,), (_op,))

for _sname, _shape in UNARY_SHAPES:
    case(f"leaky_relu_{_sname}", gc.leaky_relu, lambda x: np.where(x > 0, x, 0.01 * x),
         (_shape,), ("nonzero",), ("leaky_relu",))
    case(f"leaky_relu_alpha_{_sname}", lambda x: gc.leaky_relu(x, alpha=0.1), lambda x: np.maximum(x, 0.1 * x),
         (_shape,), ("nonzero",), ("leaky_relu",))
    case(f"elu_{_sname}", gc.elu, lambda x: np.where(x > 0, x, np.exp(x) - 1), (_shape,), ("nonzero",), ("elu",))
    case(f"elu_alpha_{_sname}", lambda x: gc.elu(x, alpha=0.5), lambda x: np.where(x > 0, x, 0.5 * (np.exp(x) - 1)),
         (_shape,), ("nonzero",), ("elu",))
    case(f"sign_{_sname}", gc.sign, np.sign, (_shape,), ("ties",), ("sign",), grad=False)

# -- matmul ------------------------------------------------------------------------------------
for _name, _sa, _sb in (("2d_2d", (3, 4), (4, 5)), ("2d_1d", (3, 4), (4,)), ("1d_2d", (4,), (4, 5)),
                        ("1d_1d", (4,), (4,)), ("named_rows", ("N", 4), (4, 2)),
                        ("named_inner", (2, "N"), ("N", 5)), ("named_1d_2d", ("N",), ("N", 2))):
    case(f"matmul_{_name}", gc.matmul, np.matmul, (_sa, _sb), ("real", "real"), ("matmul",))
for _name, _sa, _sb in (("3d_2d", (2, 3, 4), (4, 5)), ("named_3d_1d", ("N", 3, 4), (4,)),
                        ("batched", (2, 3, 4), (2, 4, 5)), ("named_batched", ("N", 3, 4), ("N", 4, 2))):
    case(f"matmul_{_name}", gc.matmul, np.matmul, (_sa, _sb), ("real", "real"), ("matmul", "contract"))
case("matmul_transposed_left", lambda a, b: a.T @ b, lambda a, b: a.T @ b, ((4, 3), (4, 5)), ("real", "real"),
     ("matmul", "transpose"))
case("matmul_transposed_both", lambda a, b: a.T @ b.T, lambda a, b: a.T @ b.T, ((4, 3), (5, 4)),
     ("real", "real"), ("matmul", "transpose"))
case("matmul_permuted_left", lambda a, b: gc.transpose(a, (1, 0, 2)) @ b,
     lambda a, b: np.transpose(a, (1, 0, 2)) @ b, ((3, 2, 4), (4, 5)), ("real", "real"), ("matmul", "transpose"))
# contractions written as einsum: batch axes, several contracted axes, an axis summed
# first, operands whose axes must be regrouped (a copy), a result transposed to the order asked
for _name, _spec, _sa, _sb in (("rows_dot", "ij,ij->i", (3, 4), (3, 4)),
                               ("two_contracted", "ijk,jkl->il", (2, 3, 4), (3, 4, 5)),
                               ("contracted_orders_differ", "ijk,kjl->il", (2, 3, 4), (4, 3, 5)),
                               ("regrouped", "kij,jk->i", (4, 2, 3), (3, 4)),
                               ("summed_first", "ijk,kl->il", (2, 3, 4), (4, 5)),
                               ("conv_like", "nhwc,fc->nfhw", ("N", 2, 3, 4), (5, 4)),
                               ("batch_middle", "ibj,bjk->bik", (2, 3, 4), (3, 4, 5)),
                               ("outer", "i,j->ij", (3,), (4,))):
    case(f"einsum_{_name}", lambda a, b, s=_spec: gc.einsum(s, a, b), lambda a, b, s=_spec: np.einsum(s, a, b),
         (_sa, _sb), ("real", "real"), ("einsum", "contract"))

# -- transpose, reshape, broadcast_to --------------------------------------------------------------
# identity: the mark of a gate that hands a gradient on unchanged (see graphc.autodiff)
case("identity", lambda x: apply("identity", x) * 2.0, lambda x: x * 2.0, (("N", 4),), ("real",), ("identity",))

case("transpose_2d", gc.transpose, np.transpose, ((3, 4),), ("real",), ("transpose",))
case("transpose_named", gc.transpose, np.transpose, (("N", 4),), ("real",), ("transpose",))
for _axes in ((1, 0, 2), (2, 0, 1), (0, 2, 1), (-1, 0, 1)):
    case(f"transpose_3d_{'_'.join(map(str, _axes))}", lambda x, a=_axes: gc.transpose(x, a),
         lambda x, a=_axes: np.transpose(x, a), ((2, 3, 4),), ("real",), ("transpose",))
case("transpose_3d_default", gc.transpose, np.transpose, ((2, 3, 4),), ("real",), ("transpose",))

for _name, _src, _dst in (("2d", (3, 4), (4, 3)), ("flatten", (3, 4), (12,)), ("minus_one", (3, 4), (-1,)),
                          ("to_3d", (3, 4), (2, -1, 3)), ("to_2d", (2, 3, 4), (6, 4)),
                          ("scalar_to_1", (), (1, 1)), ("one_to_scalar", (1,), ()),
                          ("named_split", ("N", 6), ("N", 2, 3)), ("named_merge", ("N", 2, 3), ("N", -1)),
                          ("named_infer", ("N", 2, 3), (-1, 6)), ("named_unit", ("N",), ("N", 1)),
                          ("named_swap", ("N", 3), (3, "N"))):
    case(f"reshape_{_name}", lambda x, s=_dst: gc.reshape(x, s),
         lambda x, s=_dst, src=_src: np.reshape(x, bind(s, {"N": x.shape[src.index("N")] if "N" in src else 0})),
         (_src,), ("real",),
         ("reshape",))

# product dims: a named dim merged with fixed ones (N*2), split back, reduced, declared
case("reshape_product_merge", lambda x: gc.reshape(x, (-1, 3)), lambda x: x.reshape(-1, 3), (("N", 2, 3),),
     ("real",), ("reshape",))
case("reshape_product_split", lambda x: gc.reshape(gc.reshape(x, (-1, 3)) * 2.0, ("N", 2, 3)) - x,
     lambda x: x, (("N", 2, 3),), ("real",), ("reshape",))
case("reshape_product_regroup", lambda x: gc.reshape(gc.reshape(x, (-1, 3)), ("N", -1)),
     lambda x: x.reshape(x.shape[0], -1), (("N", 2, 3),), ("real",), ("reshape",))
case("reshape_product_sum", lambda x, b: gc.sum(gc.exp(gc.reshape(x, (-1, 3)) + b), axis=0),
     lambda x, b: np.sum(np.exp(x.reshape(-1, 3) + b), axis=0), (("N", 2, 3), (3,)), ("real", "real"),
     ("reshape", "sum"))
case("reshape_product_declared", lambda x: gc.reshape(x, ("N", 2, 3)), lambda x: x.reshape(-1, 2, 3),
     (("N*2", 3),), ("real",), ("reshape", "input"))

for _name, _src, _dst in (("vec", (4,), (3, 4)), ("col", (3, 1), (3, 4)), ("scalar", (), (2, 3)),
                          ("rank3", (2, 1, 4), (2, 3, 4))):
    case(f"broadcast_to_{_name}", lambda x, s=_dst: gc.broadcast_to(x, s),
         lambda x, s=_dst: np.broadcast_to(x, bind(s)), (_src,), ("real",), ("broadcast_to",))
case("broadcast_to_binds", lambda x: gc.broadcast_to(x, ("M", 4)) * 2.0, lambda x: x * 2.0, ((3, 4),), ("real",),
     ("broadcast_to",))  # a named target dim meets 3: it is bound to 3, as broadcasting binds
# a named target dim must be known at call time: here the second input carries N
case("broadcast_to_named", lambda x, y: gc.broadcast_to(x, ("N", 4)) * y,
     lambda x, y: np.broadcast_to(x, (y.shape[0], 4)) * y, ((1, 4), ("N", 1)), ("real", "real"), ("broadcast_to",))

# -- reductions ---------------------------------------------------------------------------------
def _logsumexp(x, axis=None, keepdims=False):
    m = np.max(x, axis=axis, keepdims=True)
    out = m + np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))
    return out if keepdims else np.squeeze(out, axis=axis)


REDUCTIONS = (("sum", gc.sum, np.sum, "real"), ("mean", gc.mean, np.mean, "real"),
              ("max", gc.max, np.max, "distinct"), ("min", gc.min, np.min, "distinct"),
              ("var", gc.var, np.var, "real"), ("std", gc.std, np.std, "distinct"),
              ("logsumexp", gc.logsumexp, _logsumexp, "real"))
AXES = ((None, "none"), (0, "0"), (1, "1"), (-1, "neg1"), ((0, 2), "0_2"), ((-1, 0), "neg1_0"))
for _op, _fn, _np, _dom in REDUCTIONS:
    for _axis, _aname in AXES:
        for _keep in (False, True):
            case(f"{_op}_axis_{_aname}{'_keep' if _keep else ''}",
                 lambda x, f=_fn, a=_axis, k=_keep: f(x, axis=a, keepdims=k),
                 lambda x, f=_np, a=_axis, k=_keep: f(x, axis=a, keepdims=k),
                 ((2, 3, 4),), (_dom,), (_op,) + (("sum", "div") if _op == "mean" else ()))
    for _axis, _aname in ((None, "none"), (0, "0"), (-1, "neg1")):
        case(f"{_op}_named_axis_{_aname}", lambda x, f=_fn, a=_axis: f(x, axis=a),
             lambda x, f=_np, a=_axis: f(x, axis=a), (("N", 4),), (_dom,), (_op,))
    if _op not in ("var", "std"):  # the variance of one element is 0: its std has no gradient
        case(f"{_op}_scalar", _fn, _np, ((),), (_dom,), (_op,))
    case(f"{_op}_vector", _fn, _np, ((5,),), (_dom,), (_op,))
for _op, _fn, _np in (("var", gc.var, np.var), ("std", gc.std, np.std)):
    for _ddof in (1, 2):
        case(f"{_op}_ddof{_ddof}", lambda x, f=_fn, d=_ddof: f(x, axis=1, ddof=d),
             lambda x, f=_np, d=_ddof: f(x, axis=1, ddof=d), ((3, 4),), ("distinct",), (_op,))
    case(f"{_op}_named_ddof1", lambda x, f=_fn: f(x, axis=0, ddof=1), lambda x, f=_np: f(x, axis=0, ddof=1),
         (("N", 4),), ("distinct",), (_op, "numel"))
case("logsumexp_large", lambda x: gc.logsumexp(x * 1000.0, axis=1), lambda x: _logsumexp(x * 1000.0, axis=1),
     ((3, 4),), ("distinct",), ("logsumexp",), grad=False)  # exp(1000 x) overflows: the max shift keeps it finite
for _name, _lo, _hi in (("both", -0.5, 0.5), ("low", 0.0, None), ("high", None, 0.3)):
    case(f"clip_{_name}", lambda x, lo=_lo, hi=_hi: gc.clip(x, lo, hi), lambda x, lo=_lo, hi=_hi: np.clip(x, lo, hi),
         ((3, 4),), ("gridA",), ("clip",))
case("clip_nodes", gc.clip, np.clip, ((3, 4), (4,), (3, 1)), ("gridA", "gridB", "gridB"), ("clip",))
case("log1p_tiny", lambda x: gc.log1p(x * 1e-12), lambda x: np.log1p(x * 1e-12), ((3, 4),), ("positive",),
     ("log1p",), grad=False)  # log(1 + x) would round these to 0 or to multiples of 1e-16
case("expm1_tiny", lambda x: gc.expm1(x * 1e-12), lambda x: np.expm1(x * 1e-12), ((3, 4),), ("real",),
     ("expm1",), grad=False)

# -- softmax and log_softmax ------------------------------------------------------------------------
for _op, _fn, _np in (("softmax", gc.softmax, _softmax), ("log_softmax", gc.log_softmax, _log_softmax)):
    for _axis, _aname in ((0, "0"), (-1, "neg1"), (1, "1")):
        case(f"{_op}_axis_{_aname}", lambda x, f=_fn, a=_axis: f(x, axis=a),
             lambda x, f=_np, a=_axis: f(x, a), ((3, 4),), ("real",), (_op, "max", "sum", "exp"))
    for _axis, _aname in ((0, "0"), (-1, "neg1")):
        case(f"{_op}_named_axis_{_aname}", lambda x, f=_fn, a=_axis: f(x, axis=a),
             lambda x, f=_np, a=_axis: f(x, a), (("N", 5),), ("real",), (_op,))
    case(f"{_op}_vector", _fn, lambda x, f=_np: f(x, -1), ((5,),), ("real",), (_op,))

# -- patches (the windows of conv2d and max_pool2d) and its adjoint ----------------------------------------------
def _windows_ref(x, k, st, pad):
    """patches by its definition, one element at a time (independent of the op's own reference)."""
    n, c, h, w = x.shape
    oh, ow = (h + 2 * pad[0] - k[0]) // st[0] + 1, (w + 2 * pad[1] - k[1]) // st[1] + 1
    out = np.zeros((n, oh, ow, c, *k), x.dtype)
    for a, b, d, e, i, j in np.ndindex(out.shape):
        row, col = b * st[0] - pad[0] + i, d * st[1] - pad[1] + j
        if 0 <= row < h and 0 <= col < w:
            out[a, b, d, e, i, j] = x[a, e, row, col]
    return out


def _windows_adjoint_ref(g, image, k, st, pad):
    """Each window element added back onto its pixel, one at a time."""
    n, c = g.shape[0], g.shape[3]
    out = np.zeros((n, c, *image), g.dtype)
    for a, b, d, e, i, j in np.ndindex(g.shape):
        row, col = b * st[0] - pad[0] + i, d * st[1] - pad[1] + j
        if 0 <= row < image[0] and 0 <= col < image[1]:
            out[a, e, row, col] += g[a, b, d, e, i, j]
    return out


for _name, _shape, _k, _st, _pad in (("k3_pad1", ("N", 2, 5, 6), (3, 3), (1, 1), (1, 1)),
                                     ("k2x3_strided", (2, 1, 5, 6), (2, 3), (2, 1), (0, 1)),
                                     ("pool2", (2, 3, 4, 5), (2, 2), (2, 2), (0, 0)),
                                     # padding wider than a window: whole windows in it
                                     ("k2_pad3", (1, 2, 3, 4), (2, 2), (1, 3), (3, 3))):
    case(f"patches_{_name}", lambda x, k=_k, s=_st, p=_pad: gc.patches(x, k, s, p),
         lambda x, k=_k, s=_st, p=_pad: _windows_ref(x, k, s, p), (_shape,), ("real",), ("patches",))
    _image = _shape[2:]
    _windows = (_shape[0], (_image[0] + 2 * _pad[0] - _k[0]) // _st[0] + 1,
                (_image[1] + 2 * _pad[1] - _k[1]) // _st[1] + 1, _shape[1], *_k)
    case(f"patches_adjoint_{_name}",
         lambda g, i=_image, k=_k, s=_st, p=_pad: apply("patches_adjoint", g, image=i, kernel=k, stride=s, padding=p),
         lambda g, i=_image, k=_k, s=_st, p=_pad: _windows_adjoint_ref(g, i, k, s, p), (_windows,), ("real",),
         ("patches_adjoint",))


# -- indexing: slices, integers, new axes; gathers by index arrays and int64 nodes ------------------------
_I4 = np.array([0, 2, 2, -1])  # a repeated and a negative index: their gradients sum
for _name, _shape, _key in (("int", (3, 4), 1), ("cols", (3, 4), (slice(None), slice(1, 3))),
                            ("ellipsis_step", (2, 3, 5), (Ellipsis, slice(None, None, 2))),
                            ("newaxis_negative", (3, 5), (None, -1, slice(None, None, -2))),
                            ("scalar", (3, 4), (1, -2)), ("descending", (6, 2), (slice(4, 0, -2), None)),
                            ("empty", (3, 4), (slice(2, 1),)),
                            ("named_first", ("N", 4), (0, slice(1, 3))), ("named_last", ("N", 4), (-1,)),
                            ("named_head", ("N", 4), (slice(None, 1), slice(None, None, -1))),
                            ("named_reversed", ("N", 4), (slice(None, None, -1), 2)),
                            ("named_newaxis", ("N", 4), (slice(None), None, slice(3, 0, -1))),
                            ("rows_const", (3, 4), (_I4,)),
                            ("pair_const", (4, 5), (np.arange(4), np.array([4, 0, -1, 2]))),
                            ("middle_const", (3, 4, 5), (slice(None), np.array([[0, 3], [3, 3]]))),
                            ("nonadjacent", (3, 4, 5), (_I4[:2], slice(None), 0)),
                            ("int_and_array", (3, 4, 5), (slice(None), 2, np.array([0, -1]))),
                            ("list", (3, 4), ([2, 0],)), ("empty_list", (3, 4), (slice(None), []))):
    _gathers = any(isinstance(k, (np.ndarray, list)) for k in (_key if isinstance(_key, tuple) else (_key,)))
    case(f"getitem_{_name}", lambda x, k=_key: x[k], lambda x, k=_key: x[k], (_shape,), ("real",),
         ("gather",) if _gathers else ("slice",))
case("getitem_embedding", lambda w, idx: w[idx], lambda w, idx: w[idx], ((5, 3), (2, 3)), ("real", "index5"),
     ("gather",), dtypes=(None, "int64"))
case("getitem_pair_nodes", lambda p, r, c: p[r, c], lambda p, r, c: p[r, c], ((4, 5), ("N",), ("N",)),
     ("real", "index4", "index5"), ("gather",), dtypes=(None, "int64", "int64"))
case("getitem_labels", lambda p, y: p[np.arange(3), y], lambda p, y: p[np.arange(3), y], ((3, 5), (3,)),
     ("real", "labels5"), ("gather",), dtypes=(None, "int64"))
case("getitem_scalar_node", lambda x, i: x[i, 1:], lambda x, i: x[i, 1:], ((3, 4), ()), ("real", "index3"),
     ("gather", "slice"), dtypes=(None, "int64"))
for _name, _shape, _ishape, _axis, _dom in (("rows", ("N", 5), ("N", 2), 1, "index5"),
                                            ("axis0", (3, 4), (2, 4), 0, "index3"),
                                            ("broadcast", (3, 4), (2, 1), 0, "index3"),
                                            ("neg_axis", (2, 3, 4), (2, 3, 2), -1, "index4")):
    case(f"take_along_axis_{_name}", lambda x, i, a=_axis: gc.take_along_axis(x, i, a),
         lambda x, i, a=_axis: np.take_along_axis(x, np.where(i < 0, i + x.shape[a], i), a),
         (_shape, _ishape), ("real", _dom), ("take_along_axis", "gather", "iota"), dtypes=(None, "int64"))


def _placed(g, shape, key, fill=0.0):
    out = np.full(shape, fill, g.dtype)
    out[key] = g
    return out


def _scattered(g, shape, index):
    out = np.zeros(shape, g.dtype)
    np.add.at(out, index, g)
    return out


case("unslice_strided", lambda g: apply("unslice", g, index=((1, 1, 2), (0, 2, 3)), shape=(4, 5), fill=0.0,
                                       what="unslice"),
     lambda g: _placed(g, (4, 5), (slice(1, 3), slice(0, 5, 2))), ((2, 3),), ("real",), ("unslice",))
case("unslice_named", lambda g: apply("unslice", g, index=((0, 1, "N"), None, 2), shape=("N", 3), fill=0.0,
                                     what="unslice"),
     lambda g: _placed(g, (g.shape[0], 3), (slice(None), None, 2)), (("N", 1),), ("real",), ("unslice",))
case("scatter_add_repeated", lambda g: apply("scatter_add", g, gc.const(_I4), axis=1, shape=(2, 3),
                                             what="scatter_add"),
     lambda g: _scattered(g, (2, 3), (slice(None), _I4)), ((2, 4),), ("real",), ("scatter_add",))


# -- concatenate, stack, split, pad, argmax, argmin -----------------------------------------------------------
for _name, _shapes, _axis in (("axis0", ((2, 3), (1, 3)), 0), ("named_axis1", (("N", 2), ("N", 3)), 1),
                              ("three_neg", ((2, 1, 3), (2, 2, 3), (2, 1, 3)), -2)):
    case(f"concatenate_{_name}", lambda *xs, a=_axis: gc.concatenate(xs, axis=a),
         lambda *xs, a=_axis: np.concatenate(xs, axis=a), _shapes, ("real",) * len(_shapes), ("concatenate",))
case("concatenate_promotes", lambda i, x: gc.concatenate([i, x]), lambda i, x: np.concatenate([i.astype(x.dtype), x]),
     ((2,), (3,)), ("int", "real"), ("concatenate", "cast"), dtypes=("int64", None))
for _name, _shapes, _axis in (("axis0", ((3,), (3,), (3,)), 0), ("last_named", (("N", 2), ("N", 2)), -1),
                              ("middle", ((2, 3), (2, 3)), 1)):
    case(f"stack_{_name}", lambda *xs, a=_axis: gc.stack(xs, axis=a), lambda *xs, a=_axis: np.stack(xs, axis=a),
         _shapes, ("real",) * len(_shapes), ("stack", "concatenate", "slice"))
case("split_sections", lambda x: gc.concatenate(gc.split(x, 2)[::-1]), lambda x: np.concatenate(np.split(x, 2)[::-1]),
     ((4, 3),), ("real",), ("split", "slice"))
case("split_indices_named", lambda x: gc.concatenate([p * (k + 1) for k, p in enumerate(gc.split(x, [1, 3], axis=1))],
                                                     axis=1),
     lambda x: np.concatenate([p * (k + 1) for k, p in enumerate(np.split(x, [1, 3], axis=1))], axis=1),
     (("N", 5),), ("real",), ("split", "slice"))
for _name, _shape, _width, _value in (("int", (2, 3), 1, 0), ("pairs_value", (2, 3), ((0, 1), (2, 0)), 0.5),
                                      ("named", ("N", 3), ((0, 0), (1, 2)), -1), ("pair", (4,), (3, 0), 0)):
    case(f"pad_{_name}", lambda x, w=_width, v=_value: gc.pad(x, w, constant_values=v),
         lambda x, w=_width, v=_value: np.pad(x, w, constant_values=v), (_shape,), ("real",), ("pad", "unslice"))
for _op, _fn, _np in (("argmax", gc.argmax, np.argmax), ("argmin", gc.argmin, np.argmin)):
    for _name, _shape, _axis, _keep in (("none", (3, 4), None, False), ("axis1", (3, 4), 1, False),
                                        ("axis0_keep", (2, 3, 4), 0, True), ("named", ("N", 4), -1, False),
                                        ("named_none_keep", ("N", 2), None, True), ("vector", (5,), 0, False)):
        case(f"{_op}_{_name}", lambda x, f=_fn, a=_axis, k=_keep: f(x, axis=a, keepdims=k),
             lambda x, f=_np, a=_axis, k=_keep: f(x, axis=a, keepdims=k), (_shape,), ("ties",), (_op,),
             out_dtype="int64", grad=False)
    case(f"{_op}_nonfinite", lambda x, f=_fn: f(x, axis=1), lambda x, f=_np: f(x, axis=1), ((4, 6),), ("nonfinite",),
         (_op,), out_dtype="int64", grad=False, tags=frozenset({"nonfinite"}))


# -- one_hot, where, comparisons, cast ------------------------------------------------------------------
for _name, _shape, _classes, _dom, _dt in (("vec", (5,), 4, "labels4", "float64"),
                                          ("named", ("N",), 3, "labels3", "float32"),
                                          ("mat", (2, 3), 5, "labels5", "float64"),
                                          ("out_of_range", (6,), 3, "labels5", "float64")):
    case(f"one_hot_{_name}", lambda labels, k=_classes, d=_dt: gc.one_hot(labels, k, dtype=d),
         lambda labels, k=_classes, d=_dt: _one_hot(labels, k, d), (_shape,), (_dom,), ("one_hot",),
         dtypes=("int64",), out_dtype=_dt, grad=False)

case("where_input_cond", gc.where, lambda c, a, b: np.where(c != 0, a, b),
     ((3, 1), (3, 4), (4,)), ("cond", "real", "real"), ("where",), wrt=(1, 2))
case("where_greater", lambda a, b: gc.where(gc.greater(a, 0.0), a, b), lambda a, b: np.where(a > 0, a, b),
     ((3, 4), (1, 4)), ("nonzero", "real"), ("where", "greater"))
case("where_scalar_branch", lambda c, a: gc.where(c, a, 0.0), lambda c, a: np.where(c != 0, a, 0 * a),
     (("N", 4), ("N", 4)), ("cond", "real"), ("where",), wrt=(1,))

COMPARISONS = (("greater", gc.greater, np.greater), ("greater_equal", gc.greater_equal, np.greater_equal),
               ("less", gc.less, np.less), ("less_equal", gc.less_equal, np.less_equal),
               ("equal", gc.equal, np.equal), ("not_equal", gc.not_equal, np.not_equal))
for _op, _fn, _np in COMPARISONS:
    case(f"{_op}_vec", _fn, lambda a, b, f=_np: f(a, b).astype(a.dtype), ((3, 4), (4,)), ("ties", "ties"),
         (_op,), grad=False)
    case(f"{_op}_scalar", lambda a, f=_fn: f(a, 0.0), lambda a, f=_np: f(a, 0).astype(a.dtype), (("N", 4),),
         ("ties",), (_op,), grad=False)
    case(f"{_op}_int64", _fn, lambda a, b, f=_np: f(a, b).astype(np.int64), ((3, 4), (3, 1)), ("int", "int"),
         (_op,), dtypes=("int64", "int64"), out_dtype="int64", grad=False)

case("cast_other_float", lambda x: gc.cast(x, "float32" if x.dtype == np.float64 else "float64"),
     lambda x: x.astype(np.float32 if x.dtype == np.float64 else np.float64), ((3, 4),), ("real",), ("cast",),
     out_dtype="other", grad=False)
case("cast_to_int64", lambda x: gc.cast(x, "int64"), lambda x: x.astype(np.int64), ((3, 4),), ("real",),
     ("cast",), out_dtype="int64", grad=False)
case("cast_from_int64", lambda i, like: gc.cast(i, like.dtype) * like,
     lambda i, like: i.astype(like.dtype) * like, ((3, 4), ()), ("int", "real"), ("cast", "mul"),
     dtypes=("int64", None))
case("cast_astype", lambda x: x.astype("int64") + x.astype(np.float32).astype(np.int64),
     lambda x: x.astype("int64") + x.astype(np.float32).astype(np.int64), ((3, 4),), ("real",), ("cast",),
     out_dtype="int64", grad=False)
case("cast_same_dtype", lambda x: gc.cast(x, x.dtype) * 2.0, lambda x: x * 2.0, ((3,),), ("real",),
     ("cast", "mul"))
case("mixed_int_float", gc.add, np.add, ((3, 4), (4,)), ("int", "real"), ("add", "cast"),
     dtypes=("int64", None))
case("int64_arithmetic", lambda a, b: a * b - a + 2, lambda a, b: a * b - a + 2, ((3, 4), (4,)), ("int", "int"),
     ("mul", "sub", "add"), dtypes=("int64", "int64"), out_dtype="int64")
case("int64_abs_neg_max", lambda a: gc.abs(-a) + gc.max(a, axis=0) + gc.sum(a, axis=0),
     lambda a: np.abs(-a) + np.max(a, axis=0) + np.sum(a, axis=0), ((3, 4),), ("int",),
     ("abs", "neg", "max", "sum"), dtypes=("int64",), out_dtype="int64")

# -- uniform: SplitMix64 written out with Python ints (independent of graphc's NumPy reference) -------------
def _splitmix_uniform(key, shape, dtype):
    mask, golden = 2**64 - 1, 0x9E3779B97F4A7C15

    def mix(z):
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        return z ^ (z >> 31)

    seed = mix((int(key) + golden) & mask)
    bits = 53 if dtype == "float64" else 24
    values = [(mix((seed + (i + 1) * golden) & mask) >> (64 - bits)) / 2.0**bits
              for i in range(int(np.prod(shape, dtype=np.int64)))]
    return np.array(values, dtype=dtype).reshape(shape)


for _dt in ("float64", "float32"):
    case(f"uniform_{_dt}", lambda k, d=_dt: gc.uniform(k, (3, 4), dtype=d),
         lambda k, d=_dt: _splitmix_uniform(k, (3, 4), d), ((),), ("int",), ("uniform",), dtypes=("int64",),
         out_dtype=_dt, grad=False)
case("uniform_named", lambda k, x: gc.uniform(k, x.shape, dtype=x.dtype) * x,
     lambda k, x: _splitmix_uniform(k, x.shape, x.dtype.name) * x, ((), ("N", 2)), ("int", "real"),
     ("uniform",), dtypes=("int64", None), wrt=(1,))


# -- const and input -----------------------------------------------------------------------------------
case("const_array", lambda x: x * gc.const(C34.astype(x.dtype)), lambda x: x * C34.astype(x.dtype),
     ((3, 4),), ("real",), ("const", "input", "mul"))
case("const_scalar_typed", lambda x: gc.const(2.5, dtype=x.dtype) - x, lambda x: 2.5 - x, (("N",),),
     ("real",), ("const", "sub"))
case("identity_input", lambda x: x, lambda x: x, (("N", 2),), ("real",), ("input",))

# -- the Python operators: numbers and NumPy arrays on either side ----------------------------------------
OPERATORS = (
    ("add_float", lambda x: x + 2.5, lambda x: x + 2.5, "real"),
    ("radd_float", lambda x: 2.5 + x, lambda x: 2.5 + x, "real"),
    ("add_int", lambda x: x + 2, lambda x: x + 2, "real"),
    ("add_array", lambda x: x + _as(x, C34), lambda x: x + _as(x, C34), "real"),
    ("radd_array", lambda x: _as(x, C4) + x, lambda x: _as(x, C4) + x, "real"),
    ("sub_float", lambda x: x - 1.5, lambda x: x - 1.5, "real"),
    ("rsub_float", lambda x: 1.5 - x, lambda x: 1.5 - x, "real"),
    ("sub_array", lambda x: x - _as(x, C4), lambda x: x - _as(x, C4), "real"),
    ("rsub_array", lambda x: _as(x, C34) - x, lambda x: _as(x, C34) - x, "real"),
    ("mul_int", lambda x: x * 3, lambda x: x * 3, "real"),
    ("rmul_float", lambda x: 0.1 * x, lambda x: 0.1 * x, "real"),
    ("mul_array", lambda x: x * _as(x, C4), lambda x: x * _as(x, C4), "real"),
    ("rmul_array", lambda x: _as(x, C34) * x, lambda x: _as(x, C34) * x, "real"),
    ("div_float", lambda x: x / 4.0, lambda x: x / 4.0, "real"),
    ("rdiv_float", lambda x: 2.0 / x, lambda x: 2.0 / x, "nonzero"),
    ("div_array", lambda x: x / _as(x, C4 + 3), lambda x: x / _as(x, C4 + 3), "real"),
    ("rdiv_array", lambda x: _as(x, C34) / x, lambda x: _as(x, C34) / x, "nonzero"),
    ("pow_int", lambda x: x ** 2, lambda x: x ** 2, "real"),
    ("pow_int3", lambda x: x ** 3, lambda x: x ** 3, "real"),
    ("pow_float", lambda x: x ** 0.5, lambda x: x ** 0.5, "positive"),
    ("rpow_int", lambda x: 2 ** x, lambda x: 2 ** x, "real"),
    ("rpow_array", lambda x: _as(x, np.abs(C4) + 0.5) ** x, lambda x: _as(x, np.abs(C4) + 0.5) ** x, "real"),
    ("neg", lambda x: -x, lambda x: -x, "real"),
    ("pos", lambda x: +x * 1.0, lambda x: +x * 1.0, "real"),
    ("matmul_array", lambda x: x @ _as(x, C45), lambda x: x @ _as(x, C45), "real"),
    ("rmatmul_array", lambda x: _as(x, C24) @ x.T, lambda x: _as(x, C24) @ x.T, "real"),
    ("dot_T", lambda x: x.T @ x, lambda x: x.T @ x, "real"),
    ("chain", lambda x: (2 * x - 1) ** 2 / (1 + x * x), lambda x: (2 * x - 1) ** 2 / (1 + x * x), "real"),
    # comparisons give 0/1 in the operand's dtype, as gc.greater does
    ("gt", lambda x: (x > 0) * x, lambda x: (x > 0) * x, "nonzero"),
    ("ge_lt", lambda x: (x >= 0.5) + (x < -0.5), lambda x: ((x >= 0.5) * 1 + (x < -0.5)).astype(x.dtype), "nonzero"),
    ("le", lambda x: (0 <= x) * 2.0, lambda x: (0 <= x).astype(x.dtype) * 2, "nonzero"),
    ("eq_ne", lambda x: (x == x) + (x != 0.0), lambda x: ((x == x) * 1 + (x != 0.0)).astype(x.dtype), "ties"),
    ("abs", lambda x: abs(x), np.abs, "nonzero"),
    # NumPy's methods
    ("methods_reduce", lambda x: x.sum(axis=0) + x.mean(axis=0) + x.max(axis=0) + x.min(0),
     lambda x: x.sum(axis=0) + x.mean(axis=0) + x.max(axis=0) + x.min(0), "distinct"),
    ("methods_var_std", lambda x: x.var(axis=1) * x.std(axis=1, ddof=1),
     lambda x: x.var(axis=1) * x.std(axis=1, ddof=1), "distinct"),
    ("methods_shape", lambda x: x.reshape(2, 6).transpose().reshape((4, 3)).transpose(1, 0).dot(x.T),
     lambda x: x.reshape(2, 6).transpose().reshape((4, 3)).transpose(1, 0).dot(x.T), "real"),
    ("methods_clip_size", lambda x: x.clip(-0.5, 0.5) * x.size, lambda x: x.clip(-0.5, 0.5) * x.size, "gridA"),
    # NumPy's functions and ufuncs on nodes
    ("np_ufuncs", lambda x: np.maximum(0, np.exp(x) - np.sqrt(np.abs(x))) + np.tanh(x) ** 2,
     lambda x: np.maximum(0, np.exp(x) - np.sqrt(np.abs(x))) + np.tanh(x) ** 2, "nonzero"),
    ("np_functions", lambda x: np.sum(np.where(x > 0, x, 0.1 * x), axis=1) + np.mean(np.reshape(x, (4, 3)), axis=0),
     lambda x: np.sum(np.where(x > 0, x, 0.1 * x), axis=1) + np.mean(np.reshape(x, (4, 3)), axis=0), "nonzero"),
    ("np_dot", lambda x: np.dot(x, _as(x, C45)) + np.matmul(x, _as(x, C45)),
     lambda x: np.dot(x, _as(x, C45)) + np.matmul(x, _as(x, C45)), "real"),
    ("np_array_left", lambda x: _as(x, C34) * x + _as(x, C4) - x == _as(x, C34),
     lambda x: (_as(x, C34) * x + _as(x, C4) - x == _as(x, C34)).astype(x.dtype), "real"),
)
for _name, _fn, _np, _dom in OPERATORS:
    case(f"operator_{_name}", _fn, _np, ((3, 4),), (_dom,), ("operators",))

for _name, _fn, _np in (("add", lambda a, b: a + b, np.add), ("sub", lambda a, b: a - b, np.subtract),
                        ("mul", lambda a, b: a * b, np.multiply), ("matmul", lambda a, b: a @ b, np.matmul)):
    case(f"operator_nodes_{_name}", _fn, _np, (("N", 4), (4,)), ("real", "real"), ("operators",))
case("operator_nodes_div", lambda a, b: a / b, np.divide, ((3, 1), (1, 4)), ("real", "nonzero"), ("operators",))
case("operator_nodes_pow", lambda a, b: a ** b, np.power, ((3, 4), (4,)), ("positive", "real"), ("operators",))
case("operator_T_3d", lambda x: x.T, lambda x: x.T, ((2, 3, 4),), ("real",), ("operators",))
case("operator_T_1d", lambda x: x.T * 1.0, lambda x: x.T * 1.0, ((4,),), ("real",), ("operators",))

# -- forward only: ties and IEEE specials (NaN, inf, signed zeros) give what NumPy gives -----------------------
for _op, _fn, _np, _doms in BINARY:
    if _op != "pow":
        case(f"{_op}_ties", _fn, _np, ((3, 4), (4,)), ("ties", "ties"), (_op,), grad=False, tags=frozenset({"ties"}))
case("max_ties", lambda x: gc.max(x, axis=1), lambda x: np.max(x, axis=1), ((3, 4),), ("ties",), ("max",),
     grad=False, tags=frozenset({"ties"}))

NONFINITE = frozenset({"nonfinite"})
for _op, _fn, _np in (("neg", gc.neg, np.negative), ("exp", gc.exp, np.exp), ("log", gc.log, np.log),
                      ("sqrt", gc.sqrt, np.sqrt), ("abs", gc.abs, np.abs), ("tanh", gc.tanh, np.tanh),
                      ("sigmoid", gc.sigmoid, _sigmoid), ("relu", gc.relu, lambda x: np.maximum(x, 0)),
                      ("leaky_relu", gc.leaky_relu, lambda x: np.where(x > 0, x, 0.01 * x)),
                      ("elu", gc.elu, lambda x: np.where(x > 0, x, np.exp(x) - 1)), ("sign", gc.sign, np.sign),
                      ("sum", lambda x: gc.sum(x, axis=0), lambda x: np.sum(x, axis=0)),
                      ("max", lambda x: gc.max(x, axis=1), lambda x: np.max(x, axis=1)),
                      ("softmax", lambda x: gc.softmax(x, axis=1), lambda x: _softmax(x, 1))):
    case(f"{_op}_nonfinite", _fn, _np, ((4, 6),), ("nonfinite",), (_op,), grad=False, tags=NONFINITE)
for _op, _fn, _np in (("add", gc.add, np.add), ("mul", gc.mul, np.multiply), ("div", gc.div, np.divide),
                      ("maximum", gc.maximum, np.maximum), ("minimum", gc.minimum, np.minimum),
                      ("greater", gc.greater, lambda a, b: (a > b).astype(a.dtype)),
                      ("equal", gc.equal, lambda a, b: (a == b).astype(a.dtype))):
    case(f"{_op}_nonfinite", _fn, _np, ((4, 6), (4, 6)), ("nonfinite", "nonfinite"), (_op,), grad=False,
         tags=NONFINITE)
    case(f"{_op}_nonfinite_vs_real", _fn, _np, ((4, 6), (6,)), ("nonfinite", "real"), (_op,), grad=False,
         tags=NONFINITE)
case("where_nonfinite", lambda c, a, b: gc.where(c, a, b), lambda c, a, b: np.where(c != 0, a, b),
     ((4, 6), (4, 6), (6,)), ("nonfinite", "nonfinite", "real"), ("where",), grad=False, tags=NONFINITE)

CASE_BY_NAME: dict[str, OpCase] = {c.name: c for c in CASES}


def covered_ops() -> set[str]:
    """The registry ops the table exercises (by declared ``ops`` of each case)."""
    return {op for c in CASES for op in c.ops}
