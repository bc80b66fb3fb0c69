"""TensorFlow's tensor bundle (`<prefix>.index` + `<prefix>.data-00000-of-00001`) written without TensorFlow,
so CI can build a big checkpoint: the index is a LevelDB-style sorted table laid out as TF's
table_builder.cc lays it (256 KiB data blocks, a restart every 16 keys, no compression, an empty metaindex
block, an index block with a restart per key and shortest separators, the 48-byte footer), its entries
BundleEntryProto messages; the data file is each tensor's bytes back to back in the order given.
make_tf_fixtures.py checks the output byte for byte against files real TensorFlow wrote."""
import struct

import numpy as np

BLOCK_SIZE = 262144       # tsl::table::Options::block_size
RESTART_INTERVAL = 16     # tsl::table::Options::block_restart_interval
MAGIC = 0xDB4775248B80FB57
MASK_DELTA = 0xA282EAD8
DT = {"float32": 1, "float64": 2, "int32": 3, "int64": 9, "bfloat16": 14, "float16": 19}
_POLY = 0x82F63B78


def _table():
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ _POLY if crc & 1 else crc >> 1
        table.append(crc)
    return table


TABLE = _table()
TABLE_NP = np.array(TABLE, dtype=np.uint32)


def _raw(reg, data):
    """The CRC register after `data` (no pre/post inversion), byte by byte."""
    for b in data:
        reg = TABLE[(reg ^ b) & 0xFF] ^ (reg >> 8)
    return reg


def _zero_tables(m):
    """Four byte tables whose XOR applies m zero bytes to a register (the step is linear over GF(2))."""
    basis = np.array([1 << k for k in range(32)], dtype=np.uint32)
    for _ in range(m):
        basis = TABLE_NP[basis & 0xFF] ^ (basis >> 8)
    basis = [int(v) for v in basis]
    tables = []
    for byte in range(4):
        t = []
        for value in range(256):
            acc = 0
            for bit in range(8):
                if value >> bit & 1:
                    acc ^= basis[8 * byte + bit]
            t.append(acc)
        tables.append(t)
    return tables


_ZERO_CACHE = {}
LANES = 4096


def _raw_fast(reg, data):
    """_raw over a long buffer: LANES runs of m bytes stepped together with numpy, then folded in order."""
    data = np.frombuffer(data, dtype=np.uint8)
    m = len(data) // LANES
    if m < 64:
        return _raw(reg, data.tobytes())
    body = data[:m * LANES].reshape(LANES, m)
    lanes = np.zeros(LANES, dtype=np.uint32)
    for j in range(m):
        lanes = TABLE_NP[(lanes ^ body[:, j]) & 0xFF] ^ (lanes >> 8)
    if m not in _ZERO_CACHE:
        _ZERO_CACHE[m] = _zero_tables(m)
    t0, t1, t2, t3 = _ZERO_CACHE[m]
    for lane in lanes.tolist():
        reg = t0[reg & 0xFF] ^ t1[(reg >> 8) & 0xFF] ^ t2[(reg >> 16) & 0xFF] ^ t3[reg >> 24] ^ lane
    return _raw(reg, data[m * LANES:].tobytes())


class Crc32c:
    """Castagnoli CRC, fed in pieces."""
    def __init__(self):
        self.reg = 0xFFFFFFFF

    def update(self, data):
        self.reg = _raw_fast(self.reg, data)
        return self

    def value(self):
        return self.reg ^ 0xFFFFFFFF


def crc32c(data):
    return Crc32c().update(data).value()


def mask(crc):
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + MASK_DELTA) & 0xFFFFFFFF


def varint(v):
    out = bytearray()
    while True:
        byte = v & 0x7F
        v >>= 7
        if v:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field(number, wire, payload):
    tag = varint(number << 3 | wire)
    if wire == 0:
        return tag + varint(payload)
    if wire == 2:
        return tag + varint(len(payload)) + payload
    if wire == 5:
        return tag + struct.pack("<I", payload)
    raise ValueError(wire)


def header_proto(num_shards=1):
    """BundleHeaderProto {num_shards, endianness: LITTLE (default, not written), version {producer: 1}}."""
    return field(1, 0, num_shards) + field(3, 2, field(1, 0, 1))


def entry_proto(dtype, shape, shard_id, offset, size, masked_crc):
    dims = b"".join(field(2, 2, field(1, 0, d) if d else b"") for d in shape)
    out = field(1, 0, DT[dtype]) + field(2, 2, dims)
    if shard_id:
        out += field(3, 0, shard_id)
    if offset:
        out += field(4, 0, offset)
    if size:
        out += field(5, 0, size)
    return out + field(6, 5, masked_crc)


class _Block:
    def __init__(self, interval):
        self.interval, self.buf, self.restarts, self.counter, self.last = interval, bytearray(), [0], 0, b""

    def add(self, key, value):
        shared = 0
        if self.counter < self.interval:
            limit = min(len(self.last), len(key))
            while shared < limit and self.last[shared] == key[shared]:
                shared += 1
        else:
            self.restarts.append(len(self.buf))
            self.counter = 0
        self.buf += varint(shared) + varint(len(key) - shared) + varint(len(value)) + key[shared:] + value
        self.last, self.counter = key, self.counter + 1

    def size_estimate(self):
        return len(self.buf) + 4 * len(self.restarts) + 4

    def finish(self):
        return bytes(self.buf) + b"".join(struct.pack("<I", r) for r in self.restarts) + struct.pack(
            "<I", len(self.restarts))

    def empty(self):
        return not self.buf


def _separator(start, limit):
    """leveldb BytewiseComparator::FindShortestSeparator."""
    n = 0
    while n < min(len(start), len(limit)) and start[n] == limit[n]:
        n += 1
    if n < min(len(start), len(limit)):
        byte = start[n]
        if byte < 0xFF and byte + 1 < limit[n]:
            return start[:n] + bytes([byte + 1])
    return start


def _successor(key):
    """leveldb BytewiseComparator::FindShortSuccessor."""
    for i, byte in enumerate(key):
        if byte != 0xFF:
            return key[:i] + bytes([byte + 1])
    return key


def write_table(path, items):
    """A sorted table of (key, value) pairs (keys sorted bytewise), as tsl::table::TableBuilder writes it."""
    out = bytearray()
    index = _Block(1)
    block = _Block(RESTART_INTERVAL)
    pending = None  # the handle of the last data block, whose index entry waits for the next key

    def write_block(b):
        contents = b.finish()
        handle = varint(len(out)) + varint(len(contents))
        out.extend(contents + b"\x00" + struct.pack("<I", mask(crc32c(contents + b"\x00"))))
        return handle

    last = b""
    for key, value in items:
        if pending is not None:
            index.add(_separator(last, key), pending)
            pending = None
        block.add(key, value)
        last = key
        if block.size_estimate() >= BLOCK_SIZE:
            pending = write_block(block)
            block = _Block(RESTART_INTERVAL)
    if not block.empty():
        pending = write_block(block)
    if pending is not None:
        index.add(_successor(last), pending)
    meta = write_block(_Block(RESTART_INTERVAL))
    index_handle = write_block(index)
    footer = (meta + index_handle).ljust(40, b"\x00") + struct.pack("<Q", MAGIC)
    out.extend(footer)
    with open(path, "wb") as f:
        f.write(out)


def write_bundle(prefix, tensors):
    """tensors: [(name, dtype, shape, chunks)] in data-file order, `chunks` an iterable of bytes. Writes
    `<prefix>.data-00000-of-00001` streaming, then `<prefix>.index` (keys sorted, the header entry first)."""
    entries = {}
    offset = 0
    with open(f"{prefix}.data-00000-of-00001", "wb") as data:
        for name, dtype, shape, chunks in tensors:
            crc, size = Crc32c(), 0
            for chunk in chunks:
                data.write(chunk)
                crc.update(chunk)
                size += len(chunk)
            entries[name.encode()] = entry_proto(dtype, shape, 0, offset, size, mask(crc.value()))
            offset += size
    items = [(b"", header_proto())] + sorted(entries.items())
    write_table(f"{prefix}.index", items)


def _read_varint(data, at):
    value, shift = 0, 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, at


def _block_entries(data):
    """[(key, value)] of a block's contents (restarts ignored)."""
    restarts = struct.unpack_from("<I", data, len(data) - 4)[0]
    end, at, key, out = len(data) - 4 - 4 * restarts, 0, b"", []
    while at < end:
        shared, at = _read_varint(data, at)
        own, at = _read_varint(data, at)
        size, at = _read_varint(data, at)
        key = key[:shared] + data[at:at + own]
        out.append((key, data[at + own:at + own + size]))
        at += own + size
    return out


def read_table(index):
    """[(key, value, (block offset, block size))] of a table's bytes, in order; for building damaged copies."""
    meta_offset, at = _read_varint(index, len(index) - 48)
    _, at = _read_varint(index, at)
    index_offset, at = _read_varint(index, at)
    index_size, _ = _read_varint(index, at)
    out = []
    for _, handle in _block_entries(index[index_offset:index_offset + index_size]):
        offset, at = _read_varint(handle, 0)
        size, _ = _read_varint(handle, at)
        out += [(k, v, (offset, size)) for k, v in _block_entries(index[offset:offset + size])]
    return out


def entry_fields(value):
    """{field number: value} of a BundleEntryProto's varint fields (dtype, shard_id, offset, size)."""
    fields, at = {}, 0
    while at < len(value):
        tag, at = _read_varint(value, at)
        wire = tag & 7
        if wire == 0:
            fields[tag >> 3], at = _read_varint(value, at)
        elif wire == 2:
            size, at = _read_varint(value, at)
            at += size
        elif wire == 5:
            at += 4
        else:
            raise ValueError(f"wire type {wire}")
    return fields
