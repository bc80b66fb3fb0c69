//! Recognising a Flax msgpack file, which has no magic number, from the structure of its first bytes.

use super::cursor::{Cursor, Head};
use super::{inner_header, EXT_COMPLEX, EXT_NDARRAY, EXT_NPSCALAR, MAX_KEY_LEN};
use crate::error::{Error, Result};
use crate::source::SliceSource;

/// Levels of the head walked to recognise the format: deep enough to reach a first ndarray.
const PROBE_DEPTH: usize = 16;

/// Whether a file's first bytes look like a Flax msgpack state dict: a map whose first key is a string
/// and whose first value is a map (checked the same way, a few levels down), an ndarray ext with a valid
/// inner header, or a scalar followed by another string key. `head` may be the whole file or its start.
pub(crate) fn looks_like(head: &[u8]) -> bool {
    if !matches!(head.first(), Some(0x80..=0x8f | 0xde | 0xdf)) {
        return false;
    }
    let source = SliceSource(head);
    let mut cursor = Cursor::new(&source, head.len());
    match probe_map(&mut cursor, 0) {
        Ok(plausible) => plausible,
        // The head ended inside a plausible structure: the rest of a longer file, or a damaged one whose
        // reader then says where it ends.
        Err(Error::Truncated(_)) => true,
        Err(_) => false,
    }
}

fn probe_map(cursor: &mut Cursor, depth: usize) -> Result<bool> {
    let Head::Map(count) = cursor.head()? else { return Ok(false) };
    probe_entries(cursor, count, depth)
}

/// Checks a map's first entry (its head already read) and, after a scalar or an empty map, the next key.
fn probe_entries(cursor: &mut Cursor, count: u64, depth: usize) -> Result<bool> {
    if count == 0 || !probe_key(cursor)? {
        return Ok(false);
    }
    match cursor.head()? {
        Head::Map(inner) if inner > 0 && depth < PROBE_DEPTH => probe_entries(cursor, inner, depth + 1),
        Head::Map(0) => Ok(count == 1 || probe_key(cursor)?),
        Head::Map(_) => Ok(true),
        // The record's length is the reader's to check: a lying one is reported, not taken for another format.
        Head::Ext(EXT_NDARRAY | EXT_NPSCALAR, _) => match inner_header(cursor) {
            Ok(_) => Ok(true),
            Err(truncated @ Error::Truncated(_)) => Err(truncated),
            Err(_) => Ok(false),
        },
        Head::Ext(EXT_COMPLEX, _) => Ok(true),
        head @ (Head::Nil | Head::Bool(_) | Head::Int(_) | Head::Float(_) | Head::Str(_)) => {
            if let Head::Str(len) = head {
                cursor.skip(len)?;
            }
            Ok(count == 1 || probe_key(cursor)?)
        }
        _ => Ok(false),
    }
}

fn probe_key(cursor: &mut Cursor) -> Result<bool> {
    match cursor.head()? {
        Head::Str(len) => Ok(cursor.text(len, MAX_KEY_LEN, "a map key").is_ok()),
        _ => Ok(false),
    }
}
