//! A protobuf wire-format walker over a `ByteSource`: tags, varints and lengths, nothing more.
//! Payloads nobody asks for are skipped by their length, never read; small fields are served from
//! a buffer refilled by range reads, so walking a message costs few reads whatever its size.

use crate::error::{Error, Result};
use crate::source::ByteSource;

/// The buffer's size right after a jump: big enough for the next few small fields (an ONNX
/// tensor's dims, type and name) without carrying much of a large payload we will skip.
const JUMP_CHUNK: usize = 16 << 10;
/// Reads that continue where the buffer ended double up to this: dense runs of small fields
/// (an ONNX graph's nodes) then cost one read per 64 KiB.
const MAX_CHUNK: usize = 64 << 10;
/// A varint is at most 10 bytes (64 bits, 7 per byte).
const MAX_VARINT_BYTES: usize = 10;
/// Strings patchlens keeps (names, op types, external-data keys) are short; longer is an error.
pub(crate) const MAX_STRING_BYTES: usize = 4 << 10;

/// Protobuf wire types that appear in proto2/proto3 messages (groups, 3 and 4, never do in ONNX).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Value {
    Varint(u64),
    Fixed64(u64),
    Fixed32(u32),
    /// A length-delimited payload at `start`, `len` bytes long, not read.
    Bytes {
        start: u64,
        len: u64,
    },
}

/// One field of a message: its number, its value and where its tag starts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field {
    pub number: u32,
    pub value: Value,
    pub tag_start: u64,
}

/// Reads a source byte by byte from a buffer that is refilled by range reads at the position asked
/// for; never reads at or past `limit`.
pub(crate) struct Cursor<'a> {
    source: &'a dyn ByteSource,
    limit: u64,
    pos: u64,
    buf: Vec<u8>,
    buf_start: u64,
    next_chunk: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor that reads `source` from `start` up to `limit` (at most the source's length).
    pub fn new(source: &'a dyn ByteSource, start: u64, limit: u64) -> Self {
        let limit = limit.min(source.len());
        Cursor { source, limit, pos: start, buf: Vec::new(), buf_start: 0, next_chunk: JUMP_CHUNK }
    }

    pub fn position(&self) -> u64 {
        self.pos
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Moves to `pos` without reading; the next byte asked for decides whether a read is needed.
    pub fn seek(&mut self, pos: u64) {
        self.pos = pos;
    }

    fn buffered(&self) -> Option<usize> {
        let from = self.pos.checked_sub(self.buf_start)?;
        (from < self.buf.len() as u64).then_some(from as usize)
    }

    fn refill(&mut self) -> Result<()> {
        let sequential = self.pos == self.buf_start + self.buf.len() as u64 && !self.buf.is_empty();
        self.next_chunk = if sequential { (self.next_chunk * 2).min(MAX_CHUNK) } else { JUMP_CHUNK };
        let left = self.limit.saturating_sub(self.pos);
        if left == 0 {
            return Err(Error::Truncated(format!(
                "The ONNX model ends early: it stops at byte {} in the middle of a field.",
                self.limit
            )));
        }
        let len = (self.next_chunk as u64).min(left) as usize;
        self.buf.resize(len, 0);
        self.source.read_at(self.pos, &mut self.buf)?;
        self.buf_start = self.pos;
        Ok(())
    }

    pub fn byte(&mut self) -> Result<u8> {
        let at = match self.buffered() {
            Some(at) => at,
            None => {
                self.refill()?;
                0
            }
        };
        self.pos += 1;
        Ok(self.buf[at])
    }

    pub fn varint(&mut self) -> Result<u64> {
        let start = self.pos;
        let mut value = 0u64;
        for i in 0..MAX_VARINT_BYTES {
            let byte = self.byte()?;
            value |= u64::from(byte & 0x7f).checked_shl(7 * i as u32).unwrap_or(0);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(Error::Malformed(format!(
            "The ONNX model has a number at byte {start} longer than a protobuf varint can be."
        )))
    }

    pub fn fixed<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut bytes = [0u8; N];
        for b in &mut bytes {
            *b = self.byte()?;
        }
        Ok(bytes)
    }

    /// Calls `each` with the varints of a packed repeated field lying at `[start, start + len)` (the
    /// cursor is at `start`) until it returns false; a varint straddling the end is an error.
    pub fn packed_varints(&mut self, start: u64, len: u64, mut each: impl FnMut(u64) -> Result<bool>) -> Result<()> {
        let end = start.saturating_add(len);
        self.seek(start);
        while self.pos < end {
            let value = self.varint()?;
            if self.pos > end {
                return Err(Error::Malformed(format!(
                    "The ONNX model is damaged: a packed number list at byte {start} ends inside a number."
                )));
            }
            if !each(value)? {
                break;
            }
        }
        Ok(())
    }

    /// Appends `len` bytes at the cursor to `out`, a buffer at a time.
    pub fn read_into(&mut self, out: &mut Vec<u8>, len: u64) -> Result<()> {
        let end = self.pos.checked_add(len).filter(|&end| end <= self.limit).ok_or_else(|| {
            Error::Truncated(format!("The ONNX model ends early: {len} bytes were expected at byte {}.", self.pos))
        })?;
        while self.pos < end {
            let at = match self.buffered() {
                Some(at) => at,
                None => {
                    self.refill()?;
                    0
                }
            };
            let take = (self.buf.len() - at).min((end - self.pos) as usize);
            out.extend_from_slice(&self.buf[at..at + take]);
            self.pos += take as u64;
        }
        Ok(())
    }

    /// `len` bytes at the cursor, for short strings only (checked against [`MAX_STRING_BYTES`]).
    pub fn string(&mut self, len: u64) -> Result<String> {
        if len > MAX_STRING_BYTES as u64 {
            return Err(Error::TooLarge(format!(
                "A name at byte {} of the ONNX model is {len} bytes long, more than the {MAX_STRING_BYTES} patchlens reads.",
                self.pos
            )));
        }
        let mut bytes = Vec::with_capacity(len as usize);
        self.read_into(&mut bytes, len)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// The fields of one message lying at `[start, end)`, one at a time. Whatever the caller did with
/// the previous field (read it, descended into it, ignored it), `next` resumes after it.
pub(crate) struct Fields {
    resume: u64,
    end: u64,
}

impl Fields {
    pub fn new(start: u64, end: u64) -> Self {
        Fields { resume: start, end }
    }

    /// The fields of a length-delimited payload.
    pub fn of(start: u64, len: u64) -> Self {
        Fields::new(start, start + len)
    }

    /// Where the field `next` returned last ends.
    pub fn field_end(&self) -> u64 {
        self.resume
    }

    pub fn next(&mut self, cursor: &mut Cursor) -> Result<Option<Field>> {
        if self.resume >= self.end {
            return Ok(None);
        }
        cursor.seek(self.resume);
        let tag_start = self.resume;
        let tag = cursor.varint()?;
        let number = u32::try_from(tag >> 3).ok().filter(|&n| n != 0).ok_or_else(|| {
            Error::Malformed(format!("The ONNX model has an invalid field number at byte {tag_start}."))
        })?;
        let value = match tag & 7 {
            0 => Value::Varint(cursor.varint()?),
            1 => Value::Fixed64(u64::from_le_bytes(cursor.fixed()?)),
            2 => {
                let len = cursor.varint()?;
                Value::Bytes { start: cursor.position(), len }
            }
            5 => Value::Fixed32(u32::from_le_bytes(cursor.fixed()?)),
            kind => {
                return Err(Error::Malformed(format!(
                    "The ONNX model has a field of unknown wire type {kind} at byte {tag_start}."
                )))
            }
        };
        let end = match value {
            Value::Bytes { start, len } => start.saturating_add(len),
            _ => cursor.position(),
        };
        if end > self.end {
            return Err(self.overrun(tag_start, end, cursor.limit()));
        }
        self.resume = end;
        Ok(Some(Field { number, value, tag_start }))
    }

    /// A field that claims to run past its message: past the file's end is a truncation, inside
    /// the file a lying length.
    fn overrun(&self, tag_start: u64, end: u64, limit: u64) -> Error {
        if end > limit && self.end >= limit {
            Error::Truncated(format!(
                "The ONNX model ends early: a field at byte {tag_start} runs to byte {end}, but the file is only {limit} bytes long."
            ))
        } else {
            Error::Malformed(format!(
                "The ONNX model is damaged: a field at byte {tag_start} runs to byte {end}, past the end of the message holding it (byte {}).",
                self.end
            ))
        }
    }
}

/// Appends `v` as a protobuf varint: the writer the tests of every protobuf-based reader build files with.
#[cfg(test)]
pub(crate) fn write_varint(mut v: u64, out: &mut Vec<u8>) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::{Metered, SliceSource};

    fn varint(v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        write_varint(v, &mut out);
        out
    }

    #[test]
    fn walks_each_wire_type_and_skips_payloads_unread() {
        let mut msg = vec![0x08, 0x96, 0x01]; // field 1 varint 150
        msg.extend([0x11, 1, 0, 0, 0, 0, 0, 0, 0]); // field 2 fixed64 1
        msg.extend([0x1d, 2, 0, 0, 0]); // field 3 fixed32 2
        msg.push(0x22); // field 4 bytes, 200 000 long
        msg.extend(varint(200_000));
        msg.extend(std::iter::repeat_n(0xee, 200_000));
        msg.extend([0x2a, 2, b'h', b'i']); // field 5 "hi"
        let source = Metered::new(SliceSource(msg.clone()));
        let stats = source.stats();
        let mut cursor = Cursor::new(&source, 0, msg.len() as u64);
        let mut fields = Fields::new(0, msg.len() as u64);
        let mut seen = Vec::new();
        while let Some(field) = fields.next(&mut cursor).unwrap() {
            if let (5, Value::Bytes { len, .. }) = (field.number, field.value) {
                assert_eq!(cursor.string(len).unwrap(), "hi");
            }
            seen.push((field.number, field.value));
        }
        assert_eq!(seen[0], (1, Value::Varint(150)));
        assert_eq!(seen[1], (2, Value::Fixed64(1)));
        assert_eq!(seen[2], (3, Value::Fixed32(2)));
        assert!(matches!(seen[3], (4, Value::Bytes { len: 200_000, .. })));
        // The 200 000-byte payload was jumped over: one read at the start, one at the last field.
        assert_eq!(stats.reads(), 2);
        assert!(stats.bytes() < 2 * JUMP_CHUNK as u64, "{}", stats.bytes());
    }

    #[test]
    fn lying_lengths_and_cuts_are_errors() {
        let msg = [0x0a, 0x05, 1, 2]; // 5 bytes promised, 2 present
        let source = SliceSource(msg);
        let mut cursor = Cursor::new(&source, 0, 4);
        let err = Fields::new(0, 4).next(&mut cursor).unwrap_err();
        assert!(matches!(err, Error::Truncated(_)), "{err}");
        // Inside a message that ends before the file does, the same lie is damage, not a cut.
        let msg = [0x0a, 0x05, 1, 2, 3, 4, 5, 6, 7];
        let source = SliceSource(msg);
        let mut cursor = Cursor::new(&source, 0, 9);
        let err = Fields::new(0, 4).next(&mut cursor).unwrap_err();
        assert!(matches!(err, Error::Malformed(_)) && err.to_string().ends_with('.'), "{err}");
        // Eleven continuation bytes, a group and field number 0.
        for bad in [&[0x08u8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01][..], &[0x0b], &[0x00]] {
            let source = SliceSource(bad);
            let mut cursor = Cursor::new(&source, 0, bad.len() as u64);
            assert!(Fields::new(0, bad.len() as u64).next(&mut cursor).is_err());
        }
        // A length near u64::MAX must not overflow.
        let mut msg = vec![0x0a];
        msg.extend(varint(u64::MAX));
        let source = SliceSource(msg.clone());
        let mut cursor = Cursor::new(&source, 0, msg.len() as u64);
        assert!(Fields::new(0, msg.len() as u64).next(&mut cursor).is_err());
    }

    #[test]
    fn packed_varints_stop_at_their_end_and_refuse_a_straddling_one() {
        let bytes = [0x01, 0x96, 0x01, 0x05, 0x80];
        let source = SliceSource(bytes);
        let mut cursor = Cursor::new(&source, 0, 5);
        let mut seen = Vec::new();
        cursor
            .packed_varints(0, 4, |v| {
                seen.push(v);
                Ok(true)
            })
            .unwrap();
        assert_eq!(seen, [1, 150, 5]);
        // The last varint's continuation bit runs it past the field's 3 bytes.
        let mut cursor = Cursor::new(&source, 0, 5);
        assert!(cursor.packed_varints(0, 2, |_| Ok(true)).is_err());
    }

    #[test]
    fn sequential_refills_grow_and_long_strings_are_refused() {
        let msg: Vec<u8> = std::iter::repeat_n([0x08u8, 0x01], 100_000).flatten().collect();
        let source = Metered::new(SliceSource(msg.clone()));
        let stats = source.stats();
        let mut cursor = Cursor::new(&source, 0, msg.len() as u64);
        let mut fields = Fields::new(0, msg.len() as u64);
        let mut count = 0;
        while fields.next(&mut cursor).unwrap().is_some() {
            count += 1;
        }
        assert_eq!(count, 100_000);
        // 200 000 bytes: 16 + 32 + 64 + 64 … KiB.
        assert!(stats.reads() <= 5, "{} reads", stats.reads());
        assert_eq!(stats.bytes(), msg.len() as u64);
        let mut cursor = Cursor::new(&source, 0, msg.len() as u64);
        assert!(matches!(cursor.string(1 << 20), Err(Error::TooLarge(_))));
    }
}
