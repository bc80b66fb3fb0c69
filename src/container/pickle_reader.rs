//! The byte stream an unpickler reads: a pickle inside a byte source, read through a buffer so a
//! streamed pickle (the legacy format has no length prefix) costs one read per 64 KiB, not one per opcode.

use super::{malformed, MAX_PICKLE_BYTES};
use crate::error::{Error, Result};
use crate::source::{read_vec, ByteSource};

/// Bytes fetched per read when the pickle is streamed from the file (legacy format).
const READ_CHUNK: usize = 64 << 10;
/// Bytes fetched first after stepping over a payload: what follows is usually the next key and array
/// header (a few hundred bytes) and then the next payload, so a full chunk would mostly be data unread.
/// Each further read doubles, back up to [`READ_CHUNK`].
const AFTER_SKIP_CHUNK: usize = 4 << 10;
/// Text arguments (GLOBAL names, INT/LONG/FLOAT digits) are short lines.
const MAX_LINE: usize = 4096;

/// Reads a pickle from a byte source through a buffer, so a streamed pickle costs one read per
/// 64 KiB, not one per opcode.
pub struct PickleReader<'a> {
    source: &'a dyn ByteSource,
    pos: u64,
    /// Where reading must stop: the end of the source or of the size cap, whichever is first.
    end: u64,
    capped: bool,
    buffer: Vec<u8>,
    buffer_start: u64,
    /// Bytes the next refill fetches.
    chunk: usize,
}

impl<'a> PickleReader<'a> {
    /// A reader of the bytes from `start`, at most [`MAX_PICKLE_BYTES`] of them in all.
    pub fn new(source: &'a dyn ByteSource, start: u64) -> Self {
        let cap_end = start.saturating_add(MAX_PICKLE_BYTES);
        let end = source.len().min(cap_end);
        PickleReader {
            source,
            pos: start,
            end,
            capped: cap_end < source.len(),
            buffer: Vec::new(),
            buffer_start: start,
            chunk: READ_CHUNK,
        }
    }

    /// A reader of every byte from `start` to the source's end: a pickle that holds its arrays' data
    /// (NumPy) is as long as the file, and its payloads are stepped over, not read.
    pub fn to_end(source: &'a dyn ByteSource, start: u64) -> Self {
        let end = source.len();
        PickleReader {
            source,
            pos: start,
            end,
            capped: false,
            buffer: Vec::new(),
            buffer_start: start,
            chunk: READ_CHUNK,
        }
    }

    pub fn position(&self) -> u64 {
        self.pos
    }

    fn past_end(&self) -> Error {
        // When capped, the source holds more bytes: running out means the pickle is too long.
        if self.capped {
            Error::TooLarge(format!("The pickle is longer than the {} MiB patchlens reads.", MAX_PICKLE_BYTES >> 20))
        } else {
            Error::Truncated("The pickle ends in the middle of an opcode; the file may be cut short.".into())
        }
    }

    pub(super) fn take(&mut self, n: u64) -> Result<Vec<u8>> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.end).ok_or_else(|| self.past_end())?;
        let n = n as usize; // n <= end - pos <= MAX_PICKLE_BYTES
        let in_buffer = self.pos - self.buffer_start.min(self.pos);
        let from = usize::try_from(in_buffer).unwrap_or(usize::MAX);
        if self.pos < self.buffer_start || from.saturating_add(n) > self.buffer.len() {
            let chunk = (self.end - self.pos).min(self.next_chunk().max(n) as u64) as usize;
            self.buffer = read_vec(self.source, self.pos, chunk)?;
            self.buffer_start = self.pos;
            let out = self.buffer[..n].to_vec();
            self.pos = end;
            return Ok(out);
        }
        let out = self.buffer[from..from + n].to_vec();
        self.pos = end;
        Ok(out)
    }

    /// Steps over `n` bytes whose contents are never needed (bytes objects), without reading them.
    pub(super) fn skip(&mut self, n: u64) -> Result<()> {
        self.pos = self.pos.checked_add(n).filter(|&e| e <= self.end).ok_or_else(|| self.past_end())?;
        let buffer_end = self.buffer_start.saturating_add(self.buffer.len() as u64);
        if self.pos > buffer_end {
            self.chunk = AFTER_SKIP_CHUNK;
        }
        Ok(())
    }

    /// The size of the next refill; refills after it grow.
    fn next_chunk(&mut self) -> usize {
        let chunk = self.chunk;
        self.chunk = (chunk * 2).min(READ_CHUNK);
        chunk
    }

    pub(super) fn byte(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    pub(super) fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(&self.take(N as u64)?);
        Ok(out)
    }

    /// A newline-terminated argument of any length (protocol 0's STRING and UNICODE): where it lies,
    /// without the newline, and its bytes if there are at most `keep` of them. A long one is scanned in
    /// buffer-sized reads and never held.
    pub(super) fn line_span(&mut self, keep: u64) -> Result<(u64, u64, Option<Vec<u8>>)> {
        let start = self.pos;
        let mut kept = Vec::new();
        loop {
            if self.pos >= self.end {
                return Err(self.past_end());
            }
            let in_buffer = self.pos.checked_sub(self.buffer_start).and_then(|d| usize::try_from(d).ok());
            let from = match in_buffer {
                Some(from) if from < self.buffer.len() => from,
                _ => {
                    let chunk = (self.end - self.pos).min(self.next_chunk() as u64) as usize;
                    self.buffer = read_vec(self.source, self.pos, chunk)?;
                    self.buffer_start = self.pos;
                    0
                }
            };
            let rest = &self.buffer[from..];
            let newline = rest.iter().position(|&b| b == b'\n');
            let part = &rest[..newline.unwrap_or(rest.len())];
            let len = self.pos - start + part.len() as u64;
            if len <= keep {
                kept.extend_from_slice(part);
            }
            self.pos += part.len() as u64;
            if newline.is_some() {
                self.pos += 1;
                return Ok((start, len, (len <= keep).then_some(kept)));
            }
        }
    }

    /// A newline-terminated text argument, without the newline.
    pub(super) fn line(&mut self) -> Result<String> {
        let mut out = Vec::new();
        loop {
            match self.byte()? {
                b'\n' => return Ok(String::from_utf8_lossy(&out).into_owned()),
                _ if out.len() >= MAX_LINE => {
                    return Err(malformed(format!("A text argument in the pickle is longer than {MAX_LINE} bytes.")))
                }
                b => out.push(b),
            }
        }
    }
}
