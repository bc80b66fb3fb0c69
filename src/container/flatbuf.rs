//! FlatBuffers read by hand, by range: a root offset, tables found through their vtables, vectors and
//! strings behind forward offsets (google/flatbuffers docs, "FlatBuffers internals"). Bytes come through
//! a small page cache, so the scattered tables of a model cost a few ranged reads, never the whole file.

use crate::error::{malformed, Error, Result};
use crate::source::ByteSource;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

/// Bytes fetched per read: tables of one kind sit together, so one page usually serves many of them.
const PAGE: u64 = 64 << 10;
/// Pages kept at once (4 MiB); when full the cache starts over, so memory stays bounded on any file.
const MAX_PAGES: usize = 64;
/// Nested tables followed from the root. A schema-driven reader only descends the schema's own levels
/// (Model → SubGraph → Tensor → QuantizationParameters), so this only guards against a misuse.
const MAX_DEPTH: u8 = 8;
/// A vtable is at least its own length and the table's length (two u16).
const VTABLE_HEADER: u16 = 4;

/// The bytes of a FlatBuffer, read by range through a page cache.
pub(crate) struct Buffer {
    source: Rc<dyn ByteSource>,
    len: u64,
    pages: RefCell<BTreeMap<u64, Rc<[u8]>>>,
}

impl Buffer {
    pub(crate) fn new(source: Rc<dyn ByteSource>) -> Buffer {
        let len = source.len();
        Buffer { source, len, pages: RefCell::new(BTreeMap::new()) }
    }

    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    fn page(&self, index: u64) -> Result<Rc<[u8]>> {
        if let Some(page) = self.pages.borrow().get(&index) {
            return Ok(Rc::clone(page));
        }
        let start = index * PAGE;
        let len = PAGE.min(self.len.saturating_sub(start)) as usize;
        let mut bytes = vec![0u8; len];
        self.source.read_at(start, &mut bytes)?;
        let page: Rc<[u8]> = bytes.into();
        let mut pages = self.pages.borrow_mut();
        if pages.len() >= MAX_PAGES {
            pages.clear();
        }
        pages.insert(index, Rc::clone(&page));
        Ok(page)
    }

    /// Fills `buf` from `offset`, failing with a sentence if that runs past the end.
    fn fill(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let end = offset.checked_add(buf.len() as u64).filter(|&end| end <= self.len).ok_or_else(|| {
            malformed(format!(
                "The TFLite file points to offset {offset}, past its end ({} bytes); the file is damaged or cut short.",
                self.len
            ))
        })?;
        let mut at = offset;
        while at < end {
            let page = self.page(at / PAGE)?;
            let from = (at % PAGE) as usize;
            let take = ((end - at) as usize).min(page.len().saturating_sub(from));
            let done = (at - offset) as usize;
            match (page.get(from..from + take), buf.get_mut(done..done + take)) {
                (Some(src), Some(dst)) if take > 0 => dst.copy_from_slice(src),
                _ => return Err(Error::Read("Reading the TFLite file came back short.".into())),
            }
            at += take as u64;
        }
        Ok(())
    }

    pub(crate) fn bytes(&self, offset: u64, len: usize) -> Result<Vec<u8>> {
        // The range is checked against the file before anything is allocated.
        if offset.checked_add(len as u64).is_none_or(|end| end > self.len) {
            return Err(malformed(format!(
                "The TFLite file points to {len} bytes at offset {offset}, past its end ({} bytes); the file is damaged or cut short.",
                self.len
            )));
        }
        let mut buf = vec![0u8; len];
        self.fill(offset, &mut buf)?;
        Ok(buf)
    }

    fn array<const N: usize>(&self, offset: u64) -> Result<[u8; N]> {
        let mut buf = [0u8; N];
        self.fill(offset, &mut buf)?;
        Ok(buf)
    }

    pub(crate) fn u8(&self, offset: u64) -> Result<u8> {
        Ok(self.array::<1>(offset)?[0])
    }

    pub(crate) fn u16(&self, offset: u64) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array(offset)?))
    }

    pub(crate) fn u32(&self, offset: u64) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(offset)?))
    }

    pub(crate) fn i32(&self, offset: u64) -> Result<i32> {
        Ok(i32::from_le_bytes(self.array(offset)?))
    }

    pub(crate) fn u64(&self, offset: u64) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(offset)?))
    }

    /// The root table: a u32 offset at byte 0.
    pub(crate) fn root(&self) -> Result<Table> {
        let at = u64::from(self.u32(0)?);
        Table::at(self, at, 0)
    }

    /// The target of the forward offset (u32) stored at `at`.
    fn follow(&self, at: u64) -> Result<u64> {
        let target = at + u64::from(self.u32(at)?);
        if target >= self.len {
            return Err(malformed(format!(
                "The TFLite file has an offset at byte {at} pointing past its end; the file is damaged."
            )));
        }
        Ok(target)
    }
}

/// One table: where it is and what its vtable says.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Table {
    pos: u64,
    vtable: u64,
    vtable_len: u16,
    table_len: u16,
    depth: u8,
}

/// A vector's elements: how many and where the first one is.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Vector {
    pub(crate) len: u64,
    pub(crate) start: u64,
}

impl Table {
    fn at(buf: &Buffer, pos: u64, depth: u8) -> Result<Table> {
        if depth > MAX_DEPTH {
            return Err(malformed("The TFLite file nests its tables deeper than the schema allows; it is damaged."));
        }
        if pos.checked_add(4).is_none_or(|end| end > buf.len()) {
            return Err(malformed(format!(
                "The TFLite file points to a table at byte {pos}, past its end ({} bytes); the file is damaged or cut short.",
                buf.len()
            )));
        }
        // A table starts with a signed offset back (or forward) to its vtable.
        let vtable = i64::try_from(pos)
            .ok()
            .and_then(|p| p.checked_sub(i64::from(buf.i32(pos).ok()?)))
            .and_then(|v| u64::try_from(v).ok())
            .filter(|&v| v < buf.len())
            .ok_or_else(|| {
                malformed(format!(
                    "The table at byte {pos} of the TFLite file has its vtable outside the file; the file is damaged."
                ))
            })?;
        let vtable_len = buf.u16(vtable)?;
        let table_len = buf.u16(vtable + 2)?;
        if vtable_len < VTABLE_HEADER || vtable_len % 2 != 0 || vtable + u64::from(vtable_len) > buf.len() {
            return Err(malformed(format!(
                "The vtable at byte {vtable} of the TFLite file is malformed; the file is damaged."
            )));
        }
        if table_len < 4 || pos + u64::from(table_len) > buf.len() {
            return Err(malformed(format!(
                "The table at byte {pos} of the TFLite file runs past its end; the file is damaged."
            )));
        }
        Ok(Table { pos, vtable, vtable_len, table_len, depth })
    }

    /// Where field `slot` lives, if present; `size` is its width, checked to lie inside the table.
    fn field(&self, buf: &Buffer, slot: u16, size: u16) -> Result<Option<u64>> {
        let entry = VTABLE_HEADER + 2 * slot;
        if entry >= self.vtable_len {
            return Ok(None);
        }
        let offset = buf.u16(self.vtable + u64::from(entry))?;
        if offset == 0 {
            return Ok(None);
        }
        if u32::from(offset) + u32::from(size) > u32::from(self.table_len) {
            return Err(malformed(format!(
                "A field of the table at byte {} of the TFLite file lies outside the table; the file is damaged.",
                self.pos
            )));
        }
        Ok(Some(self.pos + u64::from(offset)))
    }

    pub(crate) fn u8_or(&self, buf: &Buffer, slot: u16, default: u8) -> Result<u8> {
        self.field(buf, slot, 1)?.map_or(Ok(default), |at| buf.u8(at))
    }

    pub(crate) fn i8_or(&self, buf: &Buffer, slot: u16, default: i8) -> Result<i8> {
        Ok(self.u8_or(buf, slot, default as u8)? as i8)
    }

    pub(crate) fn u32_or(&self, buf: &Buffer, slot: u16, default: u32) -> Result<u32> {
        self.field(buf, slot, 4)?.map_or(Ok(default), |at| buf.u32(at))
    }

    pub(crate) fn i32_or(&self, buf: &Buffer, slot: u16, default: i32) -> Result<i32> {
        self.field(buf, slot, 4)?.map_or(Ok(default), |at| buf.i32(at))
    }

    pub(crate) fn u64_or(&self, buf: &Buffer, slot: u16, default: u64) -> Result<u64> {
        self.field(buf, slot, 8)?.map_or(Ok(default), |at| buf.u64(at))
    }

    /// A sub-table field.
    pub(crate) fn table(&self, buf: &Buffer, slot: u16) -> Result<Option<Table>> {
        match self.field(buf, slot, 4)? {
            Some(at) => Table::at(buf, buf.follow(at)?, self.depth + 1).map(Some),
            None => Ok(None),
        }
    }

    /// A vector field of `elem`-byte elements, checked to fit in the file before any is read.
    pub(crate) fn vector(&self, buf: &Buffer, slot: u16, elem: u64) -> Result<Option<Vector>> {
        let Some(at) = self.field(buf, slot, 4)? else { return Ok(None) };
        let target = buf.follow(at)?;
        let len = u64::from(buf.u32(target)?);
        let start = target + 4;
        if len.checked_mul(elem).and_then(|bytes| bytes.checked_add(start)).is_none_or(|end| end > buf.len()) {
            return Err(malformed(format!(
                "A vector at byte {target} of the TFLite file claims {len} elements, more than the file holds; the file is damaged."
            )));
        }
        Ok(Some(Vector { len, start }))
    }

    /// A string field (a byte vector; FlatBuffers strings are UTF-8, read lossily), at most `max` bytes.
    pub(crate) fn string(&self, buf: &Buffer, slot: u16, max: u64) -> Result<Option<String>> {
        let Some(v) = self.vector(buf, slot, 1)? else { return Ok(None) };
        if v.len > max {
            return Err(malformed(format!(
                "A name in the TFLite file is {} bytes long, more than the {max} patchlens reads.",
                v.len
            )));
        }
        Ok(Some(String::from_utf8_lossy(&buf.bytes(v.start, v.len as usize)?).into_owned()))
    }

    /// Element `i` of a vector of tables.
    pub(crate) fn table_in(&self, buf: &Buffer, v: Vector, i: u64) -> Result<Table> {
        Table::at(buf, buf.follow(v.start + 4 * i)?, self.depth + 1)
    }

    /// Where element `i` of a vector of tables points, without reading that table.
    pub(crate) fn table_pos_in(buf: &Buffer, v: Vector, i: u64) -> Result<u64> {
        buf.follow(v.start + 4 * i)
    }

    /// The table at `pos` (a position from [`Table::table_pos_in`]), one level below the root.
    pub(crate) fn at_pos(buf: &Buffer, pos: u64) -> Result<Table> {
        Table::at(buf, pos, 1)
    }
}

/// Every element of a vector of 4-byte scalars, read in one go (its length was checked against the file).
pub(crate) fn words(buf: &Buffer, v: Vector, max: u64, what: &str) -> Result<Vec<[u8; 4]>> {
    if v.len > max {
        return Err(Error::TooLarge(format!(
            "The TFLite file lists {} {what}, more than the {max} patchlens reads.",
            v.len
        )));
    }
    let bytes = buf.bytes(v.start, (v.len * 4) as usize)?;
    Ok(bytes.chunks_exact(4).map(|c| [c[0], c[1], c[2], c[3]]).collect())
}

/// Every element of a vector of 8-byte scalars.
pub(crate) fn longs(buf: &Buffer, v: Vector, max: u64, what: &str) -> Result<Vec<[u8; 8]>> {
    if v.len > max {
        return Err(Error::TooLarge(format!(
            "The TFLite file lists {} {what}, more than the {max} patchlens reads.",
            v.len
        )));
    }
    let bytes = buf.bytes(v.start, (v.len * 8) as usize)?;
    Ok(bytes.chunks_exact(8).map(|c| [c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]).collect())
}
