//! HDF5 object headers (version 1, and version 2 "OHDR" with "OCHK" continuation blocks) as a list of
//! messages, plus the two simple heaps: local heaps (symbol-table names) and global heap collections
//! (variable-length strings). Version 2 checksums are not verified: every field read is bounds-checked
//! instead, so a damaged header is an error or a wrong listing, never a crash.

use super::hdf5::Hdf5File;
use super::hdf5_cursor::Cursor;
use super::hdf5_message::kind;
use crate::error::{malformed, Error, Result};
use std::collections::{HashMap, HashSet};

/// Continuation blocks of one header: real headers have a handful; more is a loop or a lie.
const MAX_HEADER_BLOCKS: usize = 1024;
/// Bytes of one object header, all blocks together: attributes in headers are ≤ 64 KiB each.
const MAX_HEADER_BYTES: usize = 16 << 20;
/// Bytes read for a header's prefix before its size is known (v2's prefix is at most 34 bytes).
const PREFIX_BYTES: usize = 64;
/// A local heap's data segment (group member names) and a global heap collection (vlen strings).
const MAX_HEAP_BYTES: u64 = 16 << 20;

/// One header message: its type, flags (bit 1: shared) and body.
#[derive(Debug, Clone)]
pub(super) struct Message {
    pub kind: u16,
    pub flags: u8,
    pub data: Vec<u8>,
}

#[derive(Debug, Clone, Default)]
pub(super) struct ObjectHeader {
    pub messages: Vec<Message>,
}

impl ObjectHeader {
    pub(super) fn first(&self, kind: u16) -> Option<&Message> {
        self.messages.iter().find(|m| m.kind == kind)
    }

    pub(super) fn all(&self, kind: u16) -> impl Iterator<Item = &Message> {
        self.messages.iter().filter(move |m| m.kind == kind)
    }
}

/// Reads the object header at `address` (relative to the file's base address).
pub(super) fn read_header(file: &Hdf5File, address: u64) -> Result<ObjectHeader> {
    let prefix = file.meta_upto(address, PREFIX_BYTES, "object header")?;
    match prefix.first() {
        Some(1) => read_v1(file, address, &prefix),
        Some(b'O') if prefix.starts_with(b"OHDR") => read_v2(file, address, &prefix),
        _ => Err(malformed(format!("There is no HDF5 object header at address {address}; the file is damaged."))),
    }
}

/// Continuation blocks still to read, with the loop and size guards.
struct Blocks {
    seen: HashSet<u64>,
    total: usize,
}

impl Blocks {
    fn admit(&mut self, address: u64, len: u64) -> Result<usize> {
        if !self.seen.insert(address) || self.seen.len() > MAX_HEADER_BLOCKS {
            return Err(malformed("An HDF5 object header's continuation blocks form a loop or are too many."));
        }
        let len = usize::try_from(len).ok().filter(|&n| n <= MAX_HEADER_BYTES - self.total.min(MAX_HEADER_BYTES));
        let len = len.ok_or_else(|| {
            Error::TooLarge(format!(
                "An HDF5 object header is larger than the {} MiB patchlens reads.",
                MAX_HEADER_BYTES >> 20
            ))
        })?;
        self.total += len;
        Ok(len)
    }
}

fn continuation(file: &Hdf5File, data: &[u8]) -> Result<(u64, u64)> {
    let mut c = Cursor::new(data, "continuation message");
    let address = c.address(file.sizes())?.ok_or_else(|| malformed("An HDF5 continuation message points nowhere."))?;
    Ok((address, c.length(file.sizes())?))
}

fn read_v1(file: &Hdf5File, address: u64, prefix: &[u8]) -> Result<ObjectHeader> {
    let mut c = Cursor::new(prefix, "object header");
    c.skip(2)?;
    let count = usize::from(c.u16()?);
    c.skip(4)?;
    let size = u64::from(c.u32()?);
    // The 12-byte prefix is padded to 16 so messages stay 8-byte aligned.
    let start = address.checked_add(16).ok_or_else(|| malformed("An HDF5 object header address overflows."))?;
    let mut blocks = Blocks { seen: HashSet::from([address]), total: 0 };
    let mut pending = vec![(start, blocks.admit(start, size)?)];
    let mut header = ObjectHeader::default();
    while let Some((at, len)) = pending.pop() {
        let bytes = file.meta(at, len, "object header")?;
        let mut c = Cursor::new(&bytes, "object header");
        while c.remaining() >= 8 && header.messages.len() < count {
            let kind = c.u16()?;
            let size = usize::from(c.u16()?);
            let flags = c.u8()?;
            c.skip(3)?;
            let data = c.take(size)?.to_vec();
            if kind == kind::CONTINUATION {
                let (next, next_len) = continuation(file, &data)?;
                pending.push((next, blocks.admit(next, next_len)?));
            }
            header.messages.push(Message { kind, flags, data });
        }
    }
    Ok(header)
}

fn read_v2(file: &Hdf5File, address: u64, prefix: &[u8]) -> Result<ObjectHeader> {
    let mut c = Cursor::new(prefix, "object header");
    c.skip(4)?;
    let version = c.u8()?;
    if version != 2 {
        return Err(malformed(format!("An HDF5 object header has version {version}; OHDR headers are version 2.")));
    }
    let flags = c.u8()?;
    if flags & 0x20 != 0 {
        c.skip(16)?; // access, modification, change and birth times
    }
    if flags & 0x10 != 0 {
        c.skip(4)?; // attribute storage phase change values
    }
    let size = c.uint(1 << (flags & 0x03))?;
    let start =
        address.checked_add(c.pos() as u64).ok_or_else(|| malformed("An HDF5 object header address overflows."))?;
    let with_order = flags & 0x04 != 0;
    let mut blocks = Blocks { seen: HashSet::from([address]), total: 0 };
    let mut pending = vec![(start, blocks.admit(start, size)?, false)];
    let mut header = ObjectHeader::default();
    while let Some((at, len, is_continuation)) = pending.pop() {
        let bytes = file.meta(at, len, "object header")?;
        let body = if is_continuation {
            if !bytes.starts_with(b"OCHK") || bytes.len() < 8 {
                return Err(malformed("An HDF5 object header continuation block lacks its OCHK signature."));
            }
            &bytes[4..bytes.len() - 4]
        } else {
            &bytes[..]
        };
        let mut c = Cursor::new(body, "object header");
        let message_head = if with_order { 6 } else { 4 };
        // Fewer bytes than a message header left over is gap (padding) before the next block.
        while c.remaining() >= message_head {
            let kind = u16::from(c.u8()?);
            let size = usize::from(c.u16()?);
            let flags = c.u8()?;
            if with_order {
                c.skip(2)?;
            }
            let data = c.take(size)?.to_vec();
            if kind == kind::CONTINUATION {
                let (next, next_len) = continuation(file, &data)?;
                pending.push((next, blocks.admit(next, next_len)?, true));
            }
            header.messages.push(Message { kind, flags, data });
        }
    }
    Ok(header)
}

/// A local heap's data segment: the NUL-terminated names of a symbol-table group's members.
pub(super) fn local_heap(file: &Hdf5File, address: u64) -> Result<Vec<u8>> {
    let sizes = file.sizes();
    let head = file.meta(address, 8 + 2 * sizes.length + sizes.offset, "local heap")?;
    let mut c = Cursor::new(&head, "local heap");
    if c.take(4)? != b"HEAP" {
        return Err(malformed(format!("There is no HDF5 local heap at address {address}; the file is damaged.")));
    }
    c.skip(4)?;
    let size = c.length(sizes)?;
    c.length(sizes)?; // free list
    let data = c.address(sizes)?.ok_or_else(|| malformed("An HDF5 local heap has no data segment."))?;
    if size > MAX_HEAP_BYTES {
        return Err(Error::TooLarge(format!(
            "An HDF5 local heap claims {size} bytes of names, more than patchlens reads."
        )));
    }
    file.meta(data, size as usize, "local heap")
}

/// The name at `offset` in a local heap's data segment.
pub(super) fn heap_name(heap: &[u8], offset: u64) -> Result<String> {
    let rest = usize::try_from(offset).ok().and_then(|at| heap.get(at..));
    let rest =
        rest.ok_or_else(|| malformed(format!("An HDF5 group names a member at heap offset {offset}, past its heap.")))?;
    let name = Cursor::new(rest, "local heap").c_string()?;
    Ok(String::from_utf8_lossy(name).into_owned())
}

/// A global heap collection ("GCOL"): its bytes and where each object lies in them.
pub(crate) struct GlobalCollection {
    bytes: Vec<u8>,
    objects: HashMap<u16, (usize, usize)>,
}

/// Reads and indexes the global heap collection at `address` (read once per collection).
pub(super) fn global_collection(file: &Hdf5File, address: u64) -> Result<GlobalCollection> {
    let sizes = file.sizes();
    let head = file.meta(address, 8 + sizes.length, "global heap")?;
    let mut c = Cursor::new(&head, "global heap");
    if c.take(4)? != b"GCOL" {
        return Err(malformed(format!("There is no HDF5 global heap at address {address}; the file is damaged.")));
    }
    c.skip(4)?;
    let size = c.length(sizes)?;
    if size > MAX_HEAP_BYTES {
        return Err(Error::TooLarge(format!("An HDF5 global heap claims {size} bytes, more than patchlens reads.")));
    }
    let bytes = file.meta(address, size as usize, "global heap")?;
    let mut objects = HashMap::new();
    let mut c = Cursor::new(&bytes, "global heap");
    c.skip(8 + sizes.length)?;
    while c.remaining() >= 8 + sizes.length {
        let index = c.u16()?;
        c.skip(6)?;
        let len = c.length(sizes)?;
        if index == 0 {
            break; // free space: the rest of the collection
        }
        let len =
            usize::try_from(len).map_err(|_| malformed("An HDF5 global heap object claims an impossible size."))?;
        let start = c.pos();
        c.skip(len)?;
        objects.insert(index, (start, len));
        // Objects are padded to 8 bytes; the last one may end the collection unpadded.
        if c.skip(len.div_ceil(8) * 8 - len).is_err() {
            break;
        }
    }
    Ok(GlobalCollection { bytes, objects })
}

impl GlobalCollection {
    /// Object `index` of the collection.
    pub(super) fn object(&self, index: u32) -> Result<&[u8]> {
        let range = u16::try_from(index).ok().and_then(|i| self.objects.get(&i));
        range.and_then(|&(start, len)| self.bytes.get(start..start + len)).ok_or_else(|| {
            malformed(format!(
                "An HDF5 variable-length value refers to global heap object {index}, which is not there."
            ))
        })
    }
}
