//! A dataset's element bytes: compact (in the header), contiguous (one read) or chunked (the chunk
//! index, then each chunk: inflated within its size, unshuffled, and copied into place, the parts past
//! the dataset's edge dropped). Chunks never written read as zeros (h5py's default fill value); a
//! dataset with no storage at all is refused.

use super::hdf5_btree::v1_leaves;
use super::hdf5_cursor::Cursor;
use super::hdf5_message::{ChunkIndex, Filter, Layout};
use super::Hdf5File;
use crate::error::{malformed, Error, Result};
use flate2::{Decompress, FlushDecompress, Status};

/// Chunks of one dataset: a first-layer kernel has a few; a hostile index could claim billions.
const MAX_CHUNKS: u64 = 1 << 20;

/// How a dataset is stored, as its header says.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Storage {
    pub(super) dims: Vec<u64>,
    pub(super) element_size: usize,
    pub(super) layout: Layout,
    pub(super) filters: Vec<Filter>,
}

/// The `len` bytes of a dataset's elements, in C order.
pub(super) fn read_bytes(file: &Hdf5File, storage: &Storage, len: usize) -> Result<Vec<u8>> {
    match &storage.layout {
        Layout::Compact(bytes) => bytes
            .get(..len)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| malformed("An HDF5 compact dataset holds fewer bytes than its shape needs.")),
        Layout::Contiguous { address: None, .. } => Err(never_written()),
        Layout::Contiguous { address: Some(address), size } => {
            if (*size) < len as u64 {
                return Err(malformed(format!("An HDF5 dataset stores {size} bytes but its shape needs {len}.")));
            }
            file.raw(*address, len)
        }
        Layout::Chunked { chunk, index } => read_chunked(file, storage, chunk, index, len),
    }
}

/// A dataset with no storage allocated holds only its fill value: nothing worth drawing, and a tiny
/// hostile file could otherwise make the reader allocate the largest tensor it accepts.
fn never_written() -> Error {
    Error::NotDrawable(
        "This HDF5 dataset was never written (no storage is allocated for it); it holds only its fill value.".into(),
    )
}

/// A chunk's place: its first element's coordinates, file address, stored size and filter mask.
struct Chunk {
    origin: Vec<u64>,
    address: u64,
    stored: u64,
    mask: u32,
}

/// Chunks stored back to back are read together up to this many bytes: one read where there were one per
/// chunk, holding no more compressed bytes at once than a tensor's worth could need.
const MAX_RUN_BYTES: usize = 64 << 20;

fn read_chunked(file: &Hdf5File, storage: &Storage, chunk: &[u64], index: &ChunkIndex, len: usize) -> Result<Vec<u8>> {
    let dims = &storage.dims;
    let element = storage.element_size as u64;
    let overflow = || Error::TooLarge("An HDF5 chunk is too large to read.".into());
    let chunk_elements = chunk.iter().try_fold(1u64, |a, &d| a.checked_mul(d)).ok_or_else(overflow)?;
    let chunk_bytes = chunk_elements.checked_mul(element).filter(|&b| b <= crate::tensor::MAX_TENSOR_BYTES as u64);
    let chunk_bytes = chunk_bytes.ok_or_else(overflow)?;
    let grid: Vec<u64> = dims.iter().zip(chunk).map(|(&d, &c)| d.div_ceil(c)).collect();
    let count = grid.iter().try_fold(1u64, |a, &g| a.checked_mul(g)).filter(|&n| n <= MAX_CHUNKS);
    let count = count
        .ok_or_else(|| Error::TooLarge("An HDF5 dataset is split into more chunks than patchlens reads.".into()))?;
    let origin_of = |mut linear: u64| {
        let mut origin = vec![0u64; grid.len()];
        for axis in (0..grid.len()).rev() {
            origin[axis] = (linear % grid[axis]) * chunk[axis];
            linear /= grid[axis];
        }
        origin
    };
    let chunks: Vec<Chunk> = match index {
        ChunkIndex::BTreeV1 { address: None }
        | ChunkIndex::Single { address: None, .. }
        | ChunkIndex::Implicit { address: None }
        | ChunkIndex::FixedArray { address: None, .. } => Vec::new(),
        ChunkIndex::BTreeV1 { address: Some(root) } => {
            let key_size = 8 + 8 * (dims.len() + 1);
            let mut out = Vec::new();
            for (key, address) in v1_leaves(file, *root, 1, key_size)? {
                let mut c = Cursor::new(&key, "chunk B-tree key");
                let stored = u64::from(c.u32()?);
                let mask = c.u32()?;
                let origin = (0..dims.len()).map(|_| c.u64()).collect::<Result<Vec<u64>>>()?;
                out.push(Chunk { origin, address, stored, mask });
            }
            out
        }
        ChunkIndex::Single { address: Some(address), filtered } => {
            let (stored, mask) = filtered.unwrap_or((chunk_bytes, 0));
            vec![Chunk { origin: vec![0; dims.len()], address: *address, stored, mask }]
        }
        ChunkIndex::Implicit { address: Some(address) } => (0..count)
            .map(|i| {
                let at = i.checked_mul(chunk_bytes).and_then(|o| o.checked_add(*address)).ok_or_else(overflow)?;
                Ok(Chunk { origin: origin_of(i), address: at, stored: chunk_bytes, mask: 0 })
            })
            .collect::<Result<_>>()?,
        ChunkIndex::FixedArray { address: Some(address), .. } => {
            let entries = fixed_array(file, *address, count, !storage.filters.is_empty())?;
            entries
                .into_iter()
                .enumerate()
                .filter_map(|(i, (at, stored, mask))| {
                    at.map(|address| Chunk { origin: origin_of(i as u64), address, stored: stored.unwrap_or(chunk_bytes), mask })
                })
                .collect()
        }
        ChunkIndex::Unread(what) => {
            return Err(Error::Unsupported(format!(
                "This HDF5 dataset indexes its chunks with {what} (it has unlimited dimensions), which patchlens does not read yet."
            )))
        }
    };
    if chunks.is_empty() && len > 0 {
        return Err(never_written());
    }
    if chunks.len() as u64 > count {
        return Err(malformed("An HDF5 chunk index lists more chunks than the dataset has."));
    }
    let checked = |c: &Chunk| -> Result<usize> {
        if c.origin.iter().zip(dims).zip(chunk).any(|((&o, &d), &k)| o >= d || o % k != 0) {
            return Err(malformed("An HDF5 chunk index places a chunk outside its dataset."));
        }
        let stored = usize::try_from(c.stored).ok().filter(|&s| s as u64 <= chunk_bytes.saturating_mul(2) + 1024);
        let stored = stored.ok_or_else(|| malformed("An HDF5 chunk claims to be much larger than its chunk size."))?;
        file.absolute(c.address, stored)?;
        Ok(stored)
    };
    let mut out = vec![0u8; len];
    let mut at = 0;
    while let Some(first) = chunks.get(at) {
        // A run of chunks stored back to back, each one checked as before, comes in one read.
        let mut run = vec![checked(first)?];
        let mut end = first.address.checked_add(run[0] as u64);
        while let Some(next) = chunks.get(at + run.len()) {
            let total: usize = run.iter().sum();
            let joins = end == Some(next.address) && total < MAX_RUN_BYTES;
            match checked(next) {
                Ok(stored) if joins && total.checked_add(stored).is_some_and(|t| t <= MAX_RUN_BYTES) => {
                    end = next.address.checked_add(stored as u64);
                    run.push(stored);
                }
                _ => break,
            }
        }
        let raw = file.raw(first.address, run.iter().sum())?;
        let mut offset = 0;
        for (c, &stored) in chunks[at..].iter().zip(&run) {
            let piece =
                raw.get(offset..offset + stored).ok_or_else(|| malformed("An HDF5 chunk run was cut short."))?;
            offset += stored;
            let data = unfilter(piece.to_vec(), &storage.filters, c.mask, chunk_bytes as usize, storage.element_size)?;
            place(&mut out, &data, dims, chunk, &c.origin, storage.element_size);
        }
        at += run.len();
    }
    Ok(out)
}

/// One fixed array entry: the chunk's address (`None`: never written), stored size and filter mask.
type ArrayEntry = (Option<u64>, Option<u64>, u32);

/// A fixed array index's entries, one per chunk.
fn fixed_array(file: &Hdf5File, address: u64, count: u64, filtered: bool) -> Result<Vec<ArrayEntry>> {
    let sizes = file.sizes();
    let head = file.meta(address, 8 + sizes.length + sizes.offset, "fixed array header")?;
    let mut c = Cursor::new(&head, "fixed array header");
    if c.take(4)? != b"FAHD" {
        return Err(malformed(format!("There is no HDF5 fixed array at address {address}; the file is damaged.")));
    }
    c.skip(2)?;
    let entry_size = usize::from(c.u8()?);
    let page_bits = u32::from(c.u8()?);
    let entries = c.length(sizes)?;
    let block = c.address(sizes)?.ok_or_else(|| malformed("An HDF5 fixed array has no data block."))?;
    if entries != count {
        return Err(malformed(format!("An HDF5 fixed array lists {entries} chunks for a dataset of {count}.")));
    }
    if page_bits < 64 && entries > (1u64 << page_bits) {
        return Err(Error::Unsupported(
            "This HDF5 dataset has so many chunks that its index is paged, which patchlens does not read yet.".into(),
        ));
    }
    let min_entry = sizes.offset + if filtered { 5 } else { 0 };
    if entry_size < min_entry {
        return Err(malformed("An HDF5 fixed array's entries are too small for what they hold."));
    }
    let prefix = 6 + sizes.offset;
    let body = file.meta(block, prefix + entries as usize * entry_size, "fixed array data block")?;
    let mut c = Cursor::new(&body, "fixed array data block");
    if c.take(4)? != b"FADB" {
        return Err(malformed("An HDF5 fixed array data block lacks its FADB signature."));
    }
    c.seek(prefix)?;
    (0..entries)
        .map(|_| {
            let entry = c.take(entry_size)?;
            let mut e = Cursor::new(entry, "fixed array entry");
            let at = e.address(sizes)?;
            if !filtered {
                return Ok((at, None, 0));
            }
            let size = e.uint(entry_size - sizes.offset - 4)?;
            Ok((at, Some(size), e.u32()?))
        })
        .collect()
}

/// Undoes the pipeline on one chunk, last filter first; a set bit in `mask` means that filter was skipped.
fn unfilter(mut data: Vec<u8>, filters: &[Filter], mask: u32, chunk_bytes: usize, element: usize) -> Result<Vec<u8>> {
    for (i, filter) in filters.iter().enumerate().rev() {
        if i < 32 && mask & (1 << i) != 0 {
            continue;
        }
        data = match filter {
            Filter::Deflate => inflate(&data, chunk_bytes)?,
            Filter::Shuffle => unshuffle(&data, element),
        };
    }
    if data.len() < chunk_bytes {
        return Err(malformed(format!(
            "An HDF5 chunk holds {} bytes where its shape needs {chunk_bytes}.",
            data.len()
        )));
    }
    Ok(data)
}

/// Inflates a zlib stream into at most `limit` bytes: output beyond the chunk size is a deflate bomb.
/// The buffer grows with the output, so a small hostile chunk claiming a huge size allocates little.
pub(crate) fn inflate(input: &[u8], limit: usize) -> Result<Vec<u8>> {
    // One byte of room past the limit tells a stream that fits from one that overflows.
    let room = limit.saturating_add(1);
    let mut out = vec![0u8; input.len().saturating_mul(4).max(4096).min(room)];
    let mut inflater = Decompress::new(true);
    let damaged = || malformed("An HDF5 chunk's deflate data is damaged.");
    // Streaming (not `Finish`): miniz gives up on a one-shot inflate whose first buffer is too small.
    loop {
        let (in_at, out_at) = (inflater.total_in() as usize, inflater.total_out() as usize);
        let status = inflater
            .decompress(
                input.get(in_at..).unwrap_or(&[]),
                out.get_mut(out_at..).unwrap_or(&mut []),
                FlushDecompress::None,
            )
            .map_err(|_| damaged())?;
        let produced = inflater.total_out() as usize;
        match status {
            Status::StreamEnd if produced <= limit => {
                out.truncate(produced);
                return Ok(out);
            }
            _ if produced > limit => {
                return Err(Error::Malformed(format!(
                    "An HDF5 chunk inflates to more than its {limit} bytes; the file is damaged or hostile."
                )))
            }
            _ if produced == out.len() => out.resize(out.len().saturating_mul(2).min(room), 0),
            _ if produced == out_at && inflater.total_in() as usize == in_at => return Err(damaged()),
            _ => {}
        }
    }
}

/// The shuffle filter stored byte k of every element together; this puts each element back.
pub(crate) fn unshuffle(data: &[u8], element: usize) -> Vec<u8> {
    if element <= 1 {
        return data.to_vec();
    }
    let count = data.len() / element;
    let mut out = vec![0u8; data.len()];
    for byte in 0..element {
        let plane = &data[byte * count..(byte + 1) * count];
        for (i, &b) in plane.iter().enumerate() {
            out[i * element + byte] = b;
        }
    }
    // Bytes past the last whole element were left as they were.
    out[count * element..].copy_from_slice(&data[count * element..]);
    out
}

/// Copies a chunk (C order over `chunk`) into the dataset (C order over `dims`), trimming at the edges.
fn place(out: &mut [u8], data: &[u8], dims: &[u64], chunk: &[u64], origin: &[u64], element: usize) {
    let rank = dims.len();
    if rank == 0 {
        let n = element.min(out.len()).min(data.len());
        out[..n].copy_from_slice(&data[..n]);
        return;
    }
    let last = rank - 1;
    // The part of the chunk inside the dataset (callers check every origin lies inside).
    let inside: Vec<u64> = (0..rank).map(|a| chunk[a].min(dims[a].saturating_sub(origin[a]))).collect();
    let run = inside[last] as usize * element;
    // Iterate over every row (all axes but the last) of that part.
    let mut at = vec![0u64; rank];
    loop {
        let mut src = 0u64;
        let mut dst = 0u64;
        for a in 0..rank {
            src = src * chunk[a] + at[a];
            dst = dst * dims[a] + origin[a] + at[a];
        }
        let (src, dst) = (src as usize * element, dst as usize * element);
        if let (Some(from), Some(to)) = (data.get(src..src + run), out.get_mut(dst..dst + run)) {
            to.copy_from_slice(from);
        }
        // Next row: advance the axes before the last like an odometer.
        let mut axis = last;
        loop {
            if axis == 0 {
                return;
            }
            axis -= 1;
            at[axis] += 1;
            if at[axis] < inside[axis] {
                break;
            }
            at[axis] = 0;
        }
    }
}
