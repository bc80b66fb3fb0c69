//! A bounds-checked little-endian reader over one HDF5 structure's bytes, with the file's sizes of
//! offsets and lengths (4 or 8 bytes). Every field read that runs past the structure is a sentence.

use crate::error::{Error, Result};

/// The address HDF5 writes for "nothing here": every bit set, whatever the size of offsets.
pub(super) const UNDEFINED: u64 = u64::MAX;

/// Bytes per file address and per length field, from the superblock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Sizes {
    pub offset: usize,
    pub length: usize,
}

pub(super) struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// What the bytes are, for the error sentence: "object header", "B-tree node", …
    what: &'static str,
}

impl<'a> Cursor<'a> {
    pub(super) fn new(bytes: &'a [u8], what: &'static str) -> Self {
        Cursor { bytes, pos: 0, what }
    }

    pub(super) fn pos(&self) -> usize {
        self.pos
    }

    pub(super) fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }

    pub(super) fn seek(&mut self, pos: usize) -> Result<()> {
        if pos > self.bytes.len() {
            return Err(self.short(pos - self.pos.min(pos)));
        }
        self.pos = pos;
        Ok(())
    }

    fn short(&self, n: usize) -> Error {
        Error::Truncated(format!(
            "An HDF5 {} ends early: {n} more bytes were needed at byte {} of its {}.",
            self.what,
            self.pos,
            self.bytes.len()
        ))
    }

    pub(super) fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&end| end <= self.bytes.len()).ok_or_else(|| self.short(n))?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    pub(super) fn skip(&mut self, n: usize) -> Result<()> {
        self.take(n).map(|_| ())
    }

    pub(super) fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    pub(super) fn u16(&mut self) -> Result<u16> {
        Ok(self.uint(2)? as u16)
    }

    pub(super) fn u32(&mut self) -> Result<u32> {
        Ok(self.uint(4)? as u32)
    }

    pub(super) fn u64(&mut self) -> Result<u64> {
        self.uint(8)
    }

    /// An unsigned little-endian integer of `n` ≤ 8 bytes.
    pub(super) fn uint(&mut self, n: usize) -> Result<u64> {
        if n > 8 {
            return Err(Error::Malformed(format!(
                "An HDF5 {} holds a {n}-byte integer field; at most 8 are read.",
                self.what
            )));
        }
        Ok(self.take(n)?.iter().rev().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    /// A file address: `None` for the undefined address (all bits set).
    pub(super) fn address(&mut self, sizes: Sizes) -> Result<Option<u64>> {
        let n = sizes.offset;
        let value = self.uint(n)?;
        let undefined = if n >= 8 { UNDEFINED } else { (1u64 << (8 * n)) - 1 };
        Ok((value != undefined).then_some(value))
    }

    pub(super) fn length(&mut self, sizes: Sizes) -> Result<u64> {
        self.uint(sizes.length)
    }

    /// A NUL-terminated string starting here (the NUL is consumed, not returned).
    pub(super) fn c_string(&mut self) -> Result<&'a [u8]> {
        let rest = &self.bytes[self.pos.min(self.bytes.len())..];
        let len = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| Error::Malformed(format!("A name in an HDF5 {} has no terminating NUL byte.", self.what)))?;
        let out = &rest[..len];
        self.pos += len + 1;
        Ok(out)
    }
}

/// Bytes needed to encode values up to `max` (HDF5's `H5VM_limit_enc_size`: floor(log2) / 8 + 1).
pub(super) fn bytes_for(max: u64) -> usize {
    let log2 = if max == 0 { 0 } else { 63 - max.leading_zeros() as usize };
    log2 / 8 + 1
}

/// Bytes needed for `bits` bits, rounded up.
pub(super) fn bytes_for_bits(bits: u32) -> usize {
    (bits as usize).div_ceil(8)
}
