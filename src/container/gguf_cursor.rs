//! A forward reader over a GGUF header: serves the many small fields (keys, counts, tokenizer strings)
//! from large ranged reads, and skips values by their length without reading them when it can.

use crate::error::{malformed, Error, Result};
use crate::source::{read_vec, ByteSource};
use crate::tensor::ByteOrder;

/// The first read: the whole header of a vision model or projector file (tens of KiB) in one go.
pub(super) const FIRST_READ: usize = 64 << 10;
/// Later reads, when the header goes on (LLM tokenizers: tens of MB of strings): each read costs
/// a millisecond in a browser whatever its size, so fewer larger ones.
const CHUNK: usize = 1 << 20;
/// Metadata values (array elements included) walked before giving up: real tokenizers have a few
/// hundred thousand strings and merges; this bounds time on hostile files.
const MAX_ITEMS_WALKED: u64 = 32 << 20;
/// Arrays inside arrays: the format allows nesting, no model uses more than one level.
const MAX_ARRAY_DEPTH: usize = 4;

/// GGUF metadata value types (gguf.md `gguf_metadata_value_type`).
pub(super) const TYPE_UINT32: u32 = 4;
pub(super) const TYPE_STRING: u32 = 8;
const TYPE_ARRAY: u32 = 9;

/// Bytes of a fixed-size metadata value type, or `None` for strings, arrays and unknown types.
fn scalar_size(value_type: u32) -> Option<u64> {
    match value_type {
        0 | 1 | 7 => Some(1), // u8, i8, bool
        2 | 3 => Some(2),     // u16, i16
        4..=6 => Some(4),     // u32, i32, f32
        10..=12 => Some(8),   // u64, i64, f64
        _ => None,
    }
}

pub(super) struct Cursor<'a> {
    source: &'a dyn ByteSource,
    pub(super) order: ByteOrder,
    file_len: u64,
    buf: Vec<u8>,
    buf_start: u64,
    pos: u64,
    next_read: usize,
    items_walked: u64,
}

impl<'a> Cursor<'a> {
    pub(super) fn new(source: &'a dyn ByteSource, pos: u64) -> Self {
        let file_len = source.len();
        Cursor {
            source,
            order: ByteOrder::Little,
            file_len,
            buf: Vec::new(),
            buf_start: 0,
            pos,
            next_read: FIRST_READ,
            items_walked: 0,
        }
    }

    pub(super) fn pos(&self) -> u64 {
        self.pos
    }

    pub(super) fn remaining(&self) -> u64 {
        self.file_len.saturating_sub(self.pos)
    }

    fn end_of(&self, n: u64, what: &str) -> Result<u64> {
        self.pos
            .checked_add(n)
            .filter(|&end| end <= self.file_len)
            .ok_or_else(|| Error::Truncated(format!("The GGUF file ends inside {what} (at byte {}).", self.pos)))
    }

    /// The next `n` bytes; refills the buffer from the current position with one large read if needed.
    pub(super) fn bytes(&mut self, n: usize, what: &str) -> Result<&[u8]> {
        let end = self.end_of(n as u64, what)?;
        let buffered_end = self.buf_start + self.buf.len() as u64;
        if self.pos < self.buf_start || end > buffered_end {
            let len = (n.max(self.next_read) as u64).min(self.file_len - self.pos) as usize;
            self.buf = read_vec(self.source, self.pos, len)?;
            self.buf_start = self.pos;
            self.next_read = CHUNK;
        }
        let from = (self.pos - self.buf_start) as usize;
        self.pos = end;
        self.buf.get(from..from + n).ok_or_else(|| Error::Read("A GGUF header read came back short.".into()))
    }

    pub(super) fn skip(&mut self, n: u64, what: &str) -> Result<()> {
        self.pos = self.end_of(n, what)?;
        Ok(())
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N, what)?);
        Ok(out)
    }

    pub(super) fn u32(&mut self, what: &str) -> Result<u32> {
        let bytes = self.array(what)?;
        Ok(match self.order {
            ByteOrder::Little => u32::from_le_bytes(bytes),
            ByteOrder::Big => u32::from_be_bytes(bytes),
        })
    }

    pub(super) fn u64(&mut self, what: &str) -> Result<u64> {
        let bytes = self.array(what)?;
        Ok(match self.order {
            ByteOrder::Little => u64::from_le_bytes(bytes),
            ByteOrder::Big => u64::from_be_bytes(bytes),
        })
    }

    /// A GGUF string (u64 length, UTF-8 bytes) of at most `max` bytes.
    pub(super) fn string(&mut self, max: usize, what: &str) -> Result<String> {
        let len = self.u64(what)?;
        if len > max as u64 {
            return Err(Error::TooLarge(format!(
                "The GGUF file says {what} is {len} bytes long, more than the {max} patchlens reads."
            )));
        }
        let bytes = self.bytes(len as usize, what)?.to_vec();
        String::from_utf8(bytes).map_err(|_| malformed(format!("In the GGUF file, {what} is not valid UTF-8.")))
    }

    fn count_item(&mut self) -> Result<()> {
        self.items_walked += 1;
        if self.items_walked > MAX_ITEMS_WALKED {
            return Err(Error::TooLarge(format!(
                "The GGUF metadata holds more than {MAX_ITEMS_WALKED} values, more than patchlens walks through."
            )));
        }
        Ok(())
    }

    /// Steps over one metadata value of `value_type` without keeping it: fixed-size arrays by their
    /// byte length, strings by their length field, arrays of strings one length field at a time.
    pub(super) fn skip_value(&mut self, value_type: u32, key: &str, depth: usize) -> Result<()> {
        self.count_item()?;
        let what = format!("the value of {key}");
        if let Some(size) = scalar_size(value_type) {
            return self.skip(size, &what);
        }
        match value_type {
            TYPE_STRING => {
                let len = self.u64(&what)?;
                self.skip(len, &what)
            }
            TYPE_ARRAY if depth >= MAX_ARRAY_DEPTH => Err(Error::Unsupported(format!(
                "The GGUF metadata {key} nests arrays more than {MAX_ARRAY_DEPTH} deep."
            ))),
            TYPE_ARRAY => {
                let element_type = self.u32(&what)?;
                let count = self.u64(&what)?;
                match scalar_size(element_type) {
                    Some(size) => {
                        let len = count.checked_mul(size).ok_or_else(|| too_long_array(key, count))?;
                        self.skip(len, &what)
                    }
                    None => {
                        for _ in 0..count {
                            self.skip_value(element_type, key, depth + 1)?;
                        }
                        Ok(())
                    }
                }
            }
            other => Err(unknown_value_type(key, other)),
        }
    }

    /// A scalar or string value as text for a note, or `None` (after skipping it) for anything else.
    pub(super) fn value_text(&mut self, value_type: u32, key: &str, max_string: usize) -> Result<Option<String>> {
        let what = format!("the value of {key}");
        let text = match value_type {
            0 => self.array::<1>(&what)?[0].to_string(),
            1 => (self.array::<1>(&what)?[0] as i8).to_string(),
            7 => (self.array::<1>(&what)?[0] != 0).to_string(),
            4 => self.u32(&what)?.to_string(),
            5 => (self.u32(&what)? as i32).to_string(),
            6 => f32::from_bits(self.u32(&what)?).to_string(),
            10 => self.u64(&what)?.to_string(),
            11 => (self.u64(&what)? as i64).to_string(),
            12 => f64::from_bits(self.u64(&what)?).to_string(),
            TYPE_STRING => {
                let len = self.u64(&what)?;
                if len > max_string as u64 {
                    self.skip(len, &what)?;
                    return Ok(None);
                }
                String::from_utf8_lossy(self.bytes(len as usize, &what)?).into_owned()
            }
            _ => {
                self.skip_value(value_type, key, 0)?;
                return Ok(None);
            }
        };
        Ok(Some(text))
    }
}

fn too_long_array(key: &str, count: u64) -> Error {
    malformed(format!("The GGUF metadata {key} claims {count} elements, more than any file holds."))
}

pub(super) fn unknown_value_type(key: &str, value_type: u32) -> Error {
    malformed(format!("The GGUF metadata {key} has value type {value_type}, which the format does not define."))
}
