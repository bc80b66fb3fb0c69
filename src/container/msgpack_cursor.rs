//! A forward reader over msgpack: decodes one value's head (marker and length) at a time from buffered
//! ranged reads, and skips strings, bins and ext payloads by their length without reading them.

use crate::error::{malformed, Error, Result};
use crate::source::{read_vec, ByteSource};

/// Refills after skipping a big payload: the next map entry's key and an ndarray's inner header are a few
/// dozen bytes, the bias beside a kernel a few KiB. Each refill costs a read (an HTTP request in URL mode)
/// and its bytes count against the budget of listing a big file.
const READ_AHEAD: usize = 4 << 10;
/// A run of small payloads (a transformer block's norms and biases, tens of KiB) is read in growing
/// refills, doubling up to this, so it takes a few reads rather than one per payload.
const MAX_READ_AHEAD: usize = 16 << 10;

/// One msgpack value's head: what it is and, for containers and byte runs, how long.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Head {
    Nil,
    Bool(bool),
    /// Any integer, signed or not, widened.
    Int(i128),
    Float(f64),
    /// A str of this many bytes (not yet read).
    Str(u64),
    /// A bin of this many bytes (not yet read).
    Bin(u64),
    Array(u64),
    Map(u64),
    /// An extension value: type code and payload length (payload not yet read).
    Ext(i8, u64),
}

pub(super) struct Cursor<'a> {
    source: &'a dyn ByteSource,
    file_len: u64,
    buf: Vec<u8>,
    buf_start: u64,
    pos: u64,
    /// Size of the next refill: the first read covers the window `open_with` already holds.
    next_read: usize,
    /// Whether the last skip jumped a payload bigger than any refill (the next refill starts small again).
    skipped_far: bool,
}

impl<'a> Cursor<'a> {
    pub(super) fn new(source: &'a dyn ByteSource, first_read: usize) -> Self {
        let file_len = source.len();
        Cursor { source, file_len, buf: Vec::new(), buf_start: 0, pos: 0, next_read: first_read, skipped_far: false }
    }

    pub(super) fn pos(&self) -> u64 {
        self.pos
    }

    pub(super) fn file_len(&self) -> u64 {
        self.file_len
    }

    pub(super) fn remaining(&self) -> u64 {
        self.file_len.saturating_sub(self.pos)
    }

    fn end_of(&self, n: u64) -> Result<u64> {
        self.pos.checked_add(n).filter(|&end| end <= self.file_len).ok_or_else(|| {
            Error::Truncated(format!(
                "The msgpack file ends early: {n} more bytes were needed at byte {}, but it is {} bytes long.",
                self.pos, self.file_len
            ))
        })
    }

    /// The next `n` bytes; refills the buffer from the current position with one read if needed.
    pub(super) fn bytes(&mut self, n: usize) -> Result<&[u8]> {
        let end = self.end_of(n as u64)?;
        let buffered_end = self.buf_start + self.buf.len() as u64;
        if self.pos < self.buf_start || end > buffered_end {
            if self.skipped_far {
                self.next_read = READ_AHEAD;
            }
            let len = (n.max(self.next_read) as u64).min(self.file_len - self.pos) as usize;
            self.buf = read_vec(self.source, self.pos, len)?;
            self.buf_start = self.pos;
            self.next_read = if self.buf_start == 0 { READ_AHEAD } else { (self.next_read * 2).min(MAX_READ_AHEAD) };
        }
        let from = (self.pos - self.buf_start) as usize;
        self.pos = end;
        self.buf.get(from..from + n).ok_or_else(|| Error::Read("A msgpack read came back short.".into()))
    }

    pub(super) fn skip(&mut self, n: u64) -> Result<()> {
        self.pos = self.end_of(n)?;
        self.skipped_far = n > MAX_READ_AHEAD as u64;
        Ok(())
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    fn be(&mut self, size: usize) -> Result<u64> {
        Ok(match size {
            1 => u64::from(self.u8()?),
            2 => u64::from(u16::from_be_bytes(self.array()?)),
            4 => u64::from(u32::from_be_bytes(self.array()?)),
            _ => u64::from_be_bytes(self.array()?),
        })
    }

    /// Decodes the head of the next value (msgpack spec "Formats").
    pub(super) fn head(&mut self) -> Result<Head> {
        let at = self.pos;
        let marker = self.u8()?;
        Ok(match marker {
            0x00..=0x7f => Head::Int(i128::from(marker)),
            0x80..=0x8f => Head::Map(u64::from(marker & 0x0f)),
            0x90..=0x9f => Head::Array(u64::from(marker & 0x0f)),
            0xa0..=0xbf => Head::Str(u64::from(marker & 0x1f)),
            0xc0 => Head::Nil,
            0xc2 => Head::Bool(false),
            0xc3 => Head::Bool(true),
            0xc4 => Head::Bin(self.be(1)?),
            0xc5 => Head::Bin(self.be(2)?),
            0xc6 => Head::Bin(self.be(4)?),
            0xc7..=0xc9 => {
                let len = self.be(1 << (marker - 0xc7))?;
                Head::Ext(self.u8()? as i8, len)
            }
            0xca => Head::Float(f64::from(f32::from_bits(self.be(4)? as u32))),
            0xcb => Head::Float(f64::from_bits(self.be(8)?)),
            0xcc..=0xcf => Head::Int(i128::from(self.be(1 << (marker - 0xcc))?)),
            0xd0 => Head::Int(i128::from(self.u8()? as i8)),
            0xd1 => Head::Int(i128::from(self.be(2)? as u16 as i16)),
            0xd2 => Head::Int(i128::from(self.be(4)? as u32 as i32)),
            0xd3 => Head::Int(i128::from(self.be(8)? as i64)),
            0xd4..=0xd8 => {
                let kind = self.u8()? as i8;
                Head::Ext(kind, 1 << (marker - 0xd4))
            }
            0xd9 => Head::Str(self.be(1)?),
            0xda => Head::Str(self.be(2)?),
            0xdb => Head::Str(self.be(4)?),
            0xdc => Head::Array(self.be(2)?),
            0xdd => Head::Array(self.be(4)?),
            0xde => Head::Map(self.be(2)?),
            0xdf => Head::Map(self.be(4)?),
            0xe0..=0xff => Head::Int(i128::from(marker as i8)),
            _ => return Err(malformed(format!("The msgpack file has the unused marker 0xc1 at byte {at}."))),
        })
    }

    /// A str or bin of `len` bytes (its head already read) as UTF-8 text of at most `max` bytes.
    pub(super) fn text(&mut self, len: u64, max: usize, what: &str) -> Result<String> {
        if len > max as u64 {
            return Err(Error::TooLarge(format!(
                "The msgpack file has {what} of {len} bytes, more than the {max} patchlens reads."
            )));
        }
        let at = self.pos;
        let bytes = self.bytes(len as usize)?.to_vec();
        String::from_utf8(bytes)
            .map_err(|_| malformed(format!("The msgpack file has {what} at byte {at} that is not valid UTF-8.")))
    }
}
