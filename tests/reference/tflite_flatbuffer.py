"""A few exact edits of TFLite FlatBuffers, by hand (the schema's field slots; google/flatbuffers' binary
format: a u32 root offset, tables with a signed offset to their vtable, forward u32 offsets to vectors,
tables and strings, vectors prefixed by a u32 count). Used to damage real files on purpose, to move a
buffer's data past the FlatBuffer (the (offset, size) form of models over 2 GB) and to grow a kernel.
No TensorFlow needed: CI runs it; make_tflite_fixtures.py checks its output with the real interpreter."""
import struct

# Field slots (position in the table's declaration in schema.fbs).
MODEL_SUBGRAPHS, MODEL_BUFFERS = 2, 4
SUBGRAPH_TENSORS = 0
TENSOR_SHAPE, TENSOR_BUFFER, TENSOR_NAME, TENSOR_QUANTIZATION = 0, 2, 3, 4
QUANT_SCALE, QUANT_ZERO_POINT = 2, 3
BUFFER_DATA = 0


def u16(b, at):
    return struct.unpack_from("<H", b, at)[0]


def u32(b, at):
    return struct.unpack_from("<I", b, at)[0]


def field(b, table, slot):
    """Where field `slot` of the table at `table` lives, or None if absent."""
    vtable = table - struct.unpack_from("<i", b, table)[0]
    entry = 4 + 2 * slot
    if entry >= u16(b, vtable):
        return None
    offset = u16(b, vtable + entry)
    return table + offset if offset else None


def follow(b, at):
    return at + u32(b, at)


def vector(b, table, slot):
    """(position of the count, count, position of the first element) of a vector field."""
    at = follow(b, field(b, table, slot))
    return at, u32(b, at), at + 4


def table_at(b, vec_first, i):
    return follow(b, vec_first + 4 * i)


def root(b):
    return u32(b, 0)


def subgraph0(b):
    _, _, first = vector(b, root(b), MODEL_SUBGRAPHS)
    return table_at(b, first, 0)


def tensors(b):
    """{name: table position} of the first subgraph's tensors."""
    _, count, first = vector(b, subgraph0(b), SUBGRAPH_TENSORS)
    out = {}
    for i in range(count):
        t = table_at(b, first, i)
        _, n, start = vector(b, t, TENSOR_NAME)
        out[bytes(b[start:start + n]).decode()] = t
    return out


def buffer_table(b, index):
    _, _, first = vector(b, root(b), MODEL_BUFFERS)
    return table_at(b, first, index), first + 4 * index


def tensor_buffer(b, tensor):
    return u32(b, field(b, tensor, TENSOR_BUFFER))


def buffer_data(b, index):
    """(start, length) of a buffer's inline data."""
    table, _ = buffer_table(b, index)
    _, n, start = vector(b, table, BUFFER_DATA)
    return start, n


def move_buffer_past_end(data, index, new_bytes=None, gap=0, zero_old=True):
    """Points buffer `index` at a new Buffer table {offset, size} appended after the FlatBuffer, with its data
    (or `new_bytes`) after it, 64-byte aligned, `gap` zero bytes further on. The old inline data is zeroed, so
    a reader that still read it would draw zeros. Returns the new file."""
    b = bytearray(data)
    old_start, old_len = buffer_data(b, index)
    payload = bytes(b[old_start:old_start + old_len]) if new_bytes is None else new_bytes
    if zero_old:
        b[old_start:old_start + old_len] = bytes(old_len)
    _, element = buffer_table(b, index)
    b += bytes((-len(b)) % 8)
    # vtable: its own length (3 slots: data absent, offset, size), the table's length, the field offsets.
    vtable = len(b)
    b += struct.pack("<HHHHH", 10, 4 + 4 + 16, 0, 8, 16) + bytes(6)  # padded to 16 bytes
    table = len(b)
    if table % 8:
        raise AssertionError("table must be 8-byte aligned for its u64 fields")
    data_at = table + 24 + gap
    data_at += (-data_at) % 64
    b += struct.pack("<i", table - vtable) + bytes(4) + struct.pack("<QQ", data_at, len(payload))
    struct.pack_into("<I", b, element, table - element)
    b += bytes(data_at - len(b)) + payload
    return bytes(b)


def set_shape(data, name, shape):
    """Rewrites a tensor's shape in place (same rank)."""
    b = bytearray(data)
    t = tensors(b)[name]
    count_at, n, first = vector(b, t, TENSOR_SHAPE)
    if n != len(shape):
        raise ValueError("set_shape keeps the rank")
    struct.pack_into(f"<{n}i", b, first, *shape)
    return bytes(b)
