//! HDF5 fractal heaps ("FRHP"), where dense groups keep their link messages and dense attribute
//! storage its attribute messages. An object is found by descending the doubling table from the root
//! to the one direct block that holds it, and only the object's bytes are read from there.

use super::hdf5::Hdf5File;
use super::hdf5_cursor::{bytes_for, bytes_for_bits, Cursor};
use crate::error::{malformed, Error, Result};

/// Indirect blocks nested inside one another: a heap of 2^64 bytes needs fewer than 64.
const MAX_INDIRECT_DEPTH: usize = 64;
/// Entries of one indirect block read at once (rows × table width).
const MAX_BLOCK_ENTRIES: usize = 1 << 16;
/// Bytes of one heap object: link and attribute messages are ≤ 64 KiB of header data.
const MAX_OBJECT_BYTES: u64 = 1 << 20;

pub(super) struct FractalHeap {
    address: u64,
    width: u64,
    start_block: u64,
    max_direct_rows: u64,
    /// Bytes of a heap offset and of an object length inside a heap ID.
    offset_bytes: usize,
    length_bytes: usize,
    root: Option<u64>,
    root_rows: u64,
    checksummed_direct: bool,
}

impl FractalHeap {
    pub(super) fn open(file: &Hdf5File, address: u64) -> Result<FractalHeap> {
        let sizes = file.sizes();
        let len = 22 + 12 * sizes.length + 3 * sizes.offset;
        let head = file.meta(address, len, "fractal heap header")?;
        let mut c = Cursor::new(&head, "fractal heap header");
        if c.take(4)? != b"FRHP" || c.u8()? != 0 {
            return Err(malformed(format!("There is no HDF5 fractal heap at address {address}; the file is damaged.")));
        }
        let _id_len = c.u16()?;
        let filter_len = c.u16()?;
        let flags = c.u8()?;
        let max_managed = u64::from(c.u32()?);
        c.length(sizes)?; // next huge object id
        c.address(sizes)?; // huge object B-tree
        c.length(sizes)?; // free space
        c.address(sizes)?; // free-space manager
        for _ in 0..8 {
            c.length(sizes)?; // managed and huge/tiny space and counts
        }
        let width = u64::from(c.u16()?);
        let start_block = c.length(sizes)?;
        let max_direct = c.length(sizes)?;
        let heap_bits = u32::from(c.u16()?);
        c.u16()?; // starting rows of the root indirect block
        let root = c.address(sizes)?;
        let root_rows = u64::from(c.u16()?);
        if filter_len != 0 {
            return Err(Error::Unsupported(
                "This HDF5 file compresses a fractal heap, which patchlens does not read.".into(),
            ));
        }
        let power_of_two = |v: u64| v != 0 && v.is_power_of_two();
        if width == 0
            || !power_of_two(start_block)
            || !power_of_two(max_direct)
            || max_direct < start_block
            || heap_bits > 64
        {
            return Err(malformed("An HDF5 fractal heap header describes an impossible block table."));
        }
        let max_direct_rows = u64::from(max_direct.trailing_zeros() - start_block.trailing_zeros()) + 2;
        Ok(FractalHeap {
            address,
            width,
            start_block,
            max_direct_rows,
            offset_bytes: bytes_for_bits(heap_bits),
            length_bytes: bytes_for(max_direct.min(max_managed)),
            root,
            root_rows,
            checksummed_direct: flags & 0x02 != 0,
        })
    }

    /// Bytes spanned by a block of `row` in the doubling table.
    fn row_size(&self, row: u64) -> Result<u64> {
        let shift = row.saturating_sub(1);
        if shift >= 64 {
            return Err(malformed("An HDF5 fractal heap has more rows than its address space holds."));
        }
        self.start_block
            .checked_mul(1u64 << shift)
            .ok_or_else(|| malformed("An HDF5 fractal heap block size overflows."))
    }

    /// The object a heap ID names.
    pub(super) fn object(&self, file: &Hdf5File, id: &[u8]) -> Result<Vec<u8>> {
        let mut c = Cursor::new(id, "fractal heap ID");
        let first = c.u8()?;
        if first >> 6 != 0 {
            return Err(malformed("An HDF5 fractal heap ID has an unknown version."));
        }
        match (first >> 4) & 0x03 {
            0 => {
                let offset = c.uint(self.offset_bytes)?;
                let len = c.uint(self.length_bytes)?;
                if len > MAX_OBJECT_BYTES {
                    return Err(Error::TooLarge(format!(
                        "An HDF5 heap object claims {len} bytes, more than patchlens reads."
                    )));
                }
                self.managed(file, offset, len as usize)
            }
            2 => {
                // Tiny: the object sits in the ID itself; IDs longer than 18 bytes use a 12-bit length.
                let len = if id.len() > 18 {
                    ((usize::from(first & 0x0f) << 8) | usize::from(c.u8()?)) + 1
                } else {
                    usize::from(first & 0x0f) + 1
                };
                Ok(c.take(len)?.to_vec())
            }
            1 => Err(Error::Unsupported(
                "This HDF5 file keeps a huge object in a fractal heap, which patchlens does not read.".into(),
            )),
            _ => Err(malformed("An HDF5 fractal heap ID has an unknown type.")),
        }
    }

    fn managed(&self, file: &Hdf5File, offset: u64, len: usize) -> Result<Vec<u8>> {
        let sizes = file.sizes();
        let root = self.root.ok_or_else(|| malformed("An HDF5 fractal heap holds objects but has no root block."))?;
        let (mut block, mut block_offset, mut rows) = (root, 0u64, self.root_rows);
        let mut block_size = self.start_block;
        for _ in 0..MAX_INDIRECT_DEPTH {
            if rows == 0 {
                // A direct block: the object is at its heap offset less the block's.
                let inside = offset.saturating_sub(block_offset);
                let end = inside.checked_add(len as u64).filter(|&e| e <= block_size);
                let header =
                    5 + sizes.offset as u64 + self.offset_bytes as u64 + if self.checksummed_direct { 4 } else { 0 };
                if end.is_none() || inside < header {
                    return Err(malformed("An HDF5 fractal heap object runs outside its block."));
                }
                return file.meta(block.saturating_add(inside), len, "fractal heap object");
            }
            let entries = rows.checked_mul(self.width).filter(|&n| n as usize <= MAX_BLOCK_ENTRIES);
            let entries =
                entries.ok_or_else(|| malformed("An HDF5 fractal heap indirect block claims too many entries."))?;
            let prefix = 5 + sizes.offset + self.offset_bytes;
            let bytes = file.meta(block, prefix + entries as usize * sizes.offset, "fractal heap indirect block")?;
            let mut c = Cursor::new(&bytes, "fractal heap indirect block");
            if c.take(4)? != b"FHIB" {
                return Err(malformed("An HDF5 fractal heap indirect block lacks its FHIB signature."));
            }
            c.seek(prefix)?;
            let mut start = block_offset;
            let mut next = None;
            for i in 0..entries {
                let row = i / self.width;
                let size = self.row_size(row)?;
                let child = c.address(sizes)?;
                let end =
                    start.checked_add(size).ok_or_else(|| malformed("An HDF5 fractal heap block offset overflows."))?;
                if offset < end {
                    let child =
                        child.ok_or_else(|| malformed("An HDF5 heap ID points into an unallocated heap block."))?;
                    let child_rows = if row < self.max_direct_rows {
                        0
                    } else {
                        // An indirect child spanning `size` bytes has enough rows to cover it.
                        let row_span = self.start_block.checked_mul(self.width).map(u64::trailing_zeros);
                        let rows = row_span.and_then(|span| size.trailing_zeros().checked_sub(span));
                        u64::from(rows.ok_or_else(|| malformed("An HDF5 fractal heap block table is inconsistent."))?)
                            + 1
                    };
                    next = Some((child, start, child_rows, size));
                    break;
                }
                start = end;
            }
            let (child, start, child_rows, size) =
                next.ok_or_else(|| malformed("An HDF5 heap ID points past the end of its heap."))?;
            if child == block || child == self.address {
                return Err(malformed("An HDF5 fractal heap block points back at itself."));
            }
            (block, block_offset, rows, block_size) = (child, start, child_rows, size);
        }
        Err(malformed("An HDF5 fractal heap nests its blocks too deep."))
    }
}
