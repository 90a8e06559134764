"""Reshaped and transposed views of arrays for generated kernels, as Numba intrinsics.

A fused loop walks C-contiguous arrays as flat vectors, and a kernel allocates flat
and views the buffer with the node's shape. ``a.reshape(...)`` does both, but Numba
lowers every reshape through a helper it compiles (``_attempt_nocopy_reshape``, for the
strided case these kernels never have): measured at 0.6 s of W1's 2 s cold compile.
These intrinsics emit the view directly: same data, same owner (the result holds a
reference, as reshape's does), new shape and strides. The generator calls them only
on C-contiguous arrays whose size matches; typing rejects any other layout.

``fill`` sets every element of a C-contiguous array, for the same reason: a kernel's
``for i in range(n): a[i] = v`` costs Numba a range iterator (its zero-step check and
error path included) and an indexed store, about 180 LLVM instructions to build and
optimize, where the intrinsic is a bare loop of a dozen (one that LLVM turns into a
memset for zeros, as it did the Python loop).
"""

from __future__ import annotations

from numba.core import cgutils, types
from numba.core.imputils import impl_ret_borrowed
from numba.extending import intrinsic
from numba.np.arrayobj import make_array, populate_array

from graphc.codegen.memory import ALIGN


def _view(context, builder, src_type, src_value, dst_type, dims, strides=None):
    """An array of ``dst_type`` over ``src_value``'s buffer with shape ``dims`` and
    ``strides`` (C strides when None)."""
    src = make_array(src_type)(context, builder, src_value)
    dst = make_array(dst_type)(context, builder)
    itemsize = src.itemsize
    if strides is None:
        strides = [itemsize]
        for d in reversed(dims[1:]):
            strides.insert(0, builder.mul(strides[0], d))
    populate_array(dst, data=src.data, shape=cgutils.pack_array(builder, dims),
                   strides=cgutils.pack_array(builder, strides), itemsize=itemsize,
                   meminfo=src.meminfo, parent=src.parent)
    return impl_ret_borrowed(context, builder, dst_type, dst._getvalue())


@intrinsic
def flat_view(typingctx, a):
    """``a.reshape(a.size)`` for a C-contiguous ``a``, without a helper function."""
    if not isinstance(a, types.Array) or a.layout != "C":
        return None
    result = a.copy(ndim=1, layout="C")

    def codegen(context, builder, sig, args):
        src = make_array(sig.args[0])(context, builder, args[0])
        return _view(context, builder, sig.args[0], args[0], sig.return_type, [src.nitems])

    return result(a), codegen


@intrinsic
def shaped_view(typingctx, a, shape):
    """``a.reshape(shape)`` for a C-contiguous ``a`` of ``prod(shape)`` elements."""
    if not isinstance(a, types.Array) or a.layout != "C" or not isinstance(shape, types.BaseTuple):
        return None
    if not all(isinstance(t, types.Integer) for t in shape) or len(shape) == 0:
        return None
    result = a.copy(ndim=len(shape), layout="C")

    def codegen(context, builder, sig, args):
        items = cgutils.unpack_tuple(builder, args[1], len(shape))
        dims = [context.cast(builder, v, t, types.intp) for v, t in zip(items, sig.args[1])]
        return _view(context, builder, sig.args[0], args[0], sig.return_type, dims)

    return result(a, shape), codegen


@intrinsic(prefer_literal=True)
def permuted_view(typingctx, a, axes):
    """``a.transpose(axes)`` for constant ``axes``: the same buffer with its shape and
    strides permuted. (Numba's transpose compiles a helper whose error path formats
    strings: 4 s of cold compile the first time a process meets it.)"""
    if not isinstance(a, types.Array) or not isinstance(axes, types.BaseTuple) or len(axes) != a.ndim:
        return None
    if not all(isinstance(t, types.IntegerLiteral) for t in axes):
        return None
    order = [t.literal_value for t in axes]
    if sorted(order) != list(range(a.ndim)):
        return None
    layout = "C" if order == list(range(a.ndim)) and a.layout == "C" else (
        "F" if order == list(reversed(range(a.ndim))) and a.layout == "C" else "A")
    result = a.copy(layout=layout)

    def codegen(context, builder, sig, args):
        src = make_array(sig.args[0])(context, builder, args[0])
        shape = cgutils.unpack_tuple(builder, src.shape, a.ndim)
        strides = cgutils.unpack_tuple(builder, src.strides, a.ndim)
        return _view(context, builder, sig.args[0], args[0], sig.return_type, [shape[k] for k in order],
                     [strides[k] for k in order])

    return result(a, axes), codegen




@intrinsic
def workspace_view(typingctx, ws, offset, shape, dtype):
    """An array of ``dtype`` (``np.float64``, ...) at byte ``offset`` past the first
    64-byte boundary of the uint8 workspace ``ws``: 1-D of ``shape`` elements for an int
    ``shape``, else C-contiguous of that shape (a tuple of ints), holding a reference to
    ``ws`` (graphc.codegen.memory plans the offsets; the kernel checked that ``ws`` holds
    ALIGN - 1 + offset + size * itemsize bytes)."""
    if not (isinstance(ws, types.Array) and ws.dtype == types.uint8 and ws.ndim == 1 and ws.layout == "C"):
        return None
    if not (isinstance(offset, types.Integer) and isinstance(dtype, types.NumberClass)):
        return None
    if isinstance(shape, types.Integer):
        ndim = 1
    elif isinstance(shape, types.BaseTuple) and len(shape) and all(isinstance(t, types.Integer) for t in shape):
        ndim = len(shape)
    else:
        return None
    result = types.Array(dtype.instance_type, ndim, "C")

    def codegen(context, builder, sig, args):
        src = make_array(sig.args[0])(context, builder, args[0])
        dst = make_array(sig.return_type)(context, builder)
        intp = context.get_value_type(types.intp)
        address = builder.ptrtoint(src.data, intp)
        aligned = builder.and_(builder.add(address, intp(ALIGN - 1)), intp(-ALIGN))
        at = builder.add(aligned, context.cast(builder, args[1], sig.args[1], types.intp))
        item = context.get_data_type(sig.return_type.dtype)
        data = builder.inttoptr(at, item.as_pointer())
        itemsize = context.get_constant(types.intp, context.get_abi_sizeof(item))
        if ndim == 1 and isinstance(sig.args[2], types.Integer):
            dims = [context.cast(builder, args[2], sig.args[2], types.intp)]
        else:
            items = cgutils.unpack_tuple(builder, args[2], ndim)
            dims = [context.cast(builder, v, t, types.intp) for v, t in zip(items, sig.args[2])]
        strides = [itemsize]
        for d in reversed(dims[1:]):
            strides.insert(0, builder.mul(strides[0], d))
        populate_array(dst, data=data, shape=cgutils.pack_array(builder, dims),
                       strides=cgutils.pack_array(builder, strides), itemsize=itemsize,
                       meminfo=src.meminfo, parent=None)
        return impl_ret_borrowed(context, builder, sig.return_type, dst._getvalue())

    return result(ws, offset, shape, dtype), codegen


@intrinsic
def fill(typingctx, a, value):
    """``a[:] = value`` for a C-contiguous ``a`` and a number ``value`` (cast to ``a``'s
    dtype as an indexed store casts it)."""
    if not isinstance(a, types.Array) or a.layout != "C" or not isinstance(value, (types.Number, types.Boolean)):
        return None

    def codegen(context, builder, sig, args):
        array = make_array(sig.args[0])(context, builder, args[0])
        item = context.cast(builder, args[1], sig.args[1], sig.args[0].dtype)
        with cgutils.for_range(builder, array.nitems) as loop:
            builder.store(context.get_value_as_data(builder, sig.args[0].dtype, item),
                          builder.gep(array.data, [loop.index]))
        return context.get_dummy_value()

    return types.none(a, value), codegen


@intrinsic
def address_of(typingctx, a):
    """The address of ``a``'s first element, as an int64 (for an address table: see
    graphc.codegen.split). The address holds no reference: whoever made the table keeps
    ``a`` alive while it is read (``keep_alive``)."""
    if not isinstance(a, types.Array):
        return None

    def codegen(context, builder, sig, args):
        src = make_array(sig.args[0])(context, builder, args[0])
        return builder.ptrtoint(src.data, context.get_value_type(types.int64))

    return types.int64(a), codegen


@intrinsic
def address_view(typingctx, address, count, dtype):
    """``count`` elements of ``dtype`` (``np.float64``, ...) at ``address`` (an int64
    from ``address_of``, or from the caller's table of its arrays' addresses), as a 1-D C
    array owning no reference: no reference counting, and valid while the array the
    address came from lives."""
    if not (isinstance(address, types.Integer) and isinstance(count, types.Integer)
            and isinstance(dtype, types.NumberClass)):
        return None
    result = types.Array(dtype.instance_type, 1, "C")

    def codegen(context, builder, sig, args):
        dst = make_array(sig.return_type)(context, builder)
        item = context.get_data_type(sig.return_type.dtype)
        at = context.cast(builder, args[0], sig.args[0], types.intp)
        itemsize = context.get_constant(types.intp, context.get_abi_sizeof(item))
        n = context.cast(builder, args[1], sig.args[1], types.intp)
        populate_array(dst, data=builder.inttoptr(at, item.as_pointer()), shape=cgutils.pack_array(builder, [n]),
                       strides=cgutils.pack_array(builder, [itemsize]), itemsize=itemsize, meminfo=None,
                       parent=None)
        return dst._getvalue()

    return result(address, count, dtype), codegen


@intrinsic
def keep_alive(typingctx, a):
    """Nothing, but a use of ``a``: Numba releases an array after its variable's last
    use, so a kernel that handed out the array's address (``address_of``) names it here,
    after the last call reading through the address."""
    if not isinstance(a, types.Array):
        return None

    def codegen(context, builder, sig, args):
        return context.get_dummy_value()

    return types.none(a), codegen
