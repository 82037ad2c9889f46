"""NumPy arrays <-> KServe v2 tensors (InferInputTensor + raw bytes, and back).

Wire rules (KServe v2 / Triton): raw contents are row-major and little-endian; a BYTES tensor is
one buffer of elements, each a 4-byte little-endian length followed by that many bytes. Sizes
read from a response are checked against the bytes actually received before anything is
allocated from them.
"""
import struct

import numpy as np

from gridserve._errors import GridserveError, invalid_argument

# KServe datatype -> little-endian NumPy dtype (BYTES and BF16 are handled separately).
_NUMPY_BY_DATATYPE = {
    "BOOL": np.dtype("?"),
    "UINT8": np.dtype("u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
}
_DATATYPE_BY_KIND_SIZE = {(dt.kind, dt.itemsize): name for name, dt in _NUMPY_BY_DATATYPE.items()}

# Field of InferTensorContents holding each datatype when a server answers without raw contents.
_CONTENTS_FIELD = {
    "BOOL": "bool_contents",
    "UINT8": "uint_contents", "UINT16": "uint_contents", "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "INT8": "int_contents", "INT16": "int_contents", "INT32": "int_contents",
    "INT64": "int64_contents",
    "FP32": "fp32_contents", "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}

_LENGTH = struct.Struct("<I")


def datatype_of(array):
    """The KServe datatype for a NumPy array: BYTES for object, bytes and str arrays."""
    dt = array.dtype
    if dt.kind in ("O", "S", "U"):
        return "BYTES"
    name = _DATATYPE_BY_KIND_SIZE.get((dt.kind, dt.itemsize))
    if name is None:
        raise invalid_argument("NumPy dtype %s has no KServe datatype" % dt)
    return name


def numpy_dtype(datatype):
    """The NumPy dtype a tensor of `datatype` is returned as (object for BYTES, float32 for BF16)."""
    if datatype == "BYTES":
        return np.dtype(object)
    if datatype == "BF16":
        return np.dtype("<f4")
    try:
        return _NUMPY_BY_DATATYPE[datatype]
    except KeyError:
        raise invalid_argument("unknown datatype '%s'" % datatype) from None


def cast_to(array, datatype, name):
    """`array` as `datatype` when NumPy can convert it without changing any value's kind
    (float64 -> FP32, int64 -> INT32 when every value fits, str -> BYTES); else unchanged, and
    the server answers INVALID_ARGUMENT for the mismatch as it would for any client."""
    current = datatype_of(array)
    if current == datatype or datatype in ("BYTES", "BF16") or current == "BYTES":
        return array
    target = _NUMPY_BY_DATATYPE.get(datatype)
    if target is None or not np.can_cast(array.dtype, target, casting="same_kind"):
        return array
    converted = array.astype(target)
    if target.kind in "iu" and not np.array_equal(converted, array):
        raise invalid_argument("input '%s': values do not fit %s" % (name, datatype))
    return converted


def _element_bytes(value, name):
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytearray, memoryview, np.bytes_)):
        return bytes(value)
    raise invalid_argument("input '%s': BYTES elements must be bytes or str, got %s"
                           % (name, type(value).__name__))


def serialize_bytes(array, name="tensor"):
    """Row-major elements of a BYTES array, each length-prefixed."""
    parts = []
    for value in array.reshape(-1, order="C"):
        data = _element_bytes(value, name)
        parts.append(_LENGTH.pack(len(data)))
        parts.append(data)
    return b"".join(parts)


def to_raw(array, name):
    """(datatype, shape, raw little-endian bytes) for one input."""
    datatype = datatype_of(array)
    if datatype == "BYTES":
        return datatype, list(array.shape), serialize_bytes(array, name)
    wire = np.ascontiguousarray(array, dtype=_NUMPY_BY_DATATYPE[datatype])
    return datatype, list(array.shape), wire.tobytes()


def _element_count(shape, name):
    count = 1
    for d in shape:
        if d < 0:
            raise GridserveError.local_internal("output '%s': negative dimension in %s"
                                                % (name, list(shape)))
        count *= d
    return count


def deserialize_bytes(raw, count, name):
    """`count` length-prefixed elements from `raw`, as a flat object array of bytes."""
    out = np.empty(count, dtype=object)
    view = memoryview(raw)
    offset = 0
    for i in range(count):
        if offset + 4 > len(view):
            raise GridserveError.local_internal(
                "output '%s': BYTES contents end after %d of %d elements" % (name, i, count))
        (length,) = _LENGTH.unpack_from(view, offset)
        offset += 4
        if length > len(view) - offset:
            raise GridserveError.local_internal(
                "output '%s': element %d claims %d bytes, %d left" % (name, i, length,
                                                                      len(view) - offset))
        out[i] = bytes(view[offset:offset + length])
        offset += length
    if offset != len(view):
        raise GridserveError.local_internal(
            "output '%s': %d bytes after the last BYTES element" % (name, len(view) - offset))
    return out


def from_raw(datatype, shape, raw, name):
    """The NumPy array for one output's raw contents (shape checked against the byte count)."""
    shape = tuple(int(d) for d in shape)
    count = _element_count(shape, name)
    if datatype == "BYTES":
        return deserialize_bytes(raw, count, name).reshape(shape)
    if datatype == "BF16":
        if len(raw) != 2 * count:
            raise GridserveError.local_internal(
                "output '%s': %d bytes for %d BF16 elements" % (name, len(raw), count))
        bits = np.frombuffer(raw, dtype="<u2").astype("<u4") << 16
        return bits.view("<f4").reshape(shape)
    dtype = numpy_dtype(datatype)
    if len(raw) != dtype.itemsize * count:
        raise GridserveError.local_internal(
            "output '%s': %d bytes for shape %s of %s" % (name, len(raw), list(shape), datatype))
    # Copy: the response buffer is not ours to keep alive, and callers may write to the array.
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


def from_contents(tensor):
    """The NumPy array for an output sent in typed `contents` fields (servers that send no raw)."""
    name, datatype = tensor.name, tensor.datatype
    shape = tuple(int(d) for d in tensor.shape)
    count = _element_count(shape, name)
    field = _CONTENTS_FIELD.get(datatype)
    if field is None:
        raise GridserveError.local_internal(
            "output '%s': %s cannot travel in typed contents" % (name, datatype))
    values = getattr(tensor.contents, field)
    if len(values) != count:
        raise GridserveError.local_internal(
            "output '%s': %d values for shape %s" % (name, len(values), list(shape)))
    if datatype == "BYTES":
        out = np.empty(count, dtype=object)
        for i, v in enumerate(values):
            out[i] = bytes(v)
        return out.reshape(shape)
    return np.array(values, dtype=numpy_dtype(datatype)).reshape(shape)
