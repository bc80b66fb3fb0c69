//! A read-only zip reader that works by ranges: the end record and central directory are found
//! from the tail of the file (normally one read), and an entry's bytes are read only when asked.
//! Stored and deflated entries, zip64 archives. Everything is bounds-checked; nothing panics.

use crate::error::{malformed, Error, Result};
use crate::source::{read_vec, ByteSource};
use flate2::{Decompress, FlushDecompress, Status};

const EOCD_SIGNATURE: u32 = 0x0605_4b50;
const EOCD_LEN: usize = 22;
const ZIP64_LOCATOR_SIGNATURE: u32 = 0x0706_4b50;
const ZIP64_LOCATOR_LEN: usize = 20;
const ZIP64_EOCD_SIGNATURE: u32 = 0x0606_4b50;
const ZIP64_EOCD_LEN: usize = 56;
const CENTRAL_SIGNATURE: u32 = 0x0201_4b50;
const CENTRAL_LEN: usize = 46;
const LOCAL_SIGNATURE: u32 = 0x0403_4b50;
const LOCAL_LEN: usize = 30;
const ZIP64_EXTRA_ID: u16 = 0x0001;
/// The end record sits within the last 22 + 65535 (longest comment) bytes. One read of that much
/// finds it and, for archives of up to ~600 entries (a ViT-L has 392), the whole directory too: in a
/// browser a read costs a millisecond or more whatever its size, so one large read beats two small.
const TAIL_LEN: u64 = (EOCD_LEN + u16::MAX as usize) as u64;
/// Room for a local zip64 extra field (20 bytes) that the central directory does not show.
const LOCAL_EXTRA_SLACK: usize = 32;
/// A central directory larger than this is not a checkpoint we can list in a browser tab.
const MAX_CENTRAL_DIRECTORY: u64 = 64 << 20;
/// Compressed bytes read per step when inflating an entry.
const INFLATE_CHUNK: usize = 256 << 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Stored,
    Deflated,
}

#[derive(Debug, Clone)]
pub struct ZipEntry {
    pub name: String,
    pub method: Method,
    pub compressed_size: u64,
    pub size: u64,
    local_offset: u64,
    /// Name and extra lengths from the central directory: a good guess for the local header's.
    central_header_guess: usize,
}

#[derive(Debug)]
pub struct ZipArchive {
    pub entries: Vec<ZipEntry>,
}

/// Little-endian field reader over a byte slice that errors instead of panicking.
struct Fields<'a> {
    bytes: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Fields<'a> {
    fn new(bytes: &'a [u8], what: &'static str) -> Self {
        Fields { bytes, pos: 0, what }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| malformed(format!("The zip {} is cut short.", self.what)))?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn u16(&mut self) -> Result<u16> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64> {
        let b = self.take(8)?;
        let mut w = [0u8; 8];
        w.copy_from_slice(b);
        Ok(u64::from_le_bytes(w))
    }
}

/// Where the central directory is and how many entries it claims.
struct Directory {
    offset: u64,
    size: u64,
    entries: u64,
}

impl ZipArchive {
    /// Reads the central directory: one read of the file's tail, plus one for a zip64 end record
    /// and one for a directory that does not fit in the tail; never one read per entry.
    pub fn read(source: &dyn ByteSource) -> Result<Self> {
        let len = source.len();
        let tail_start = len.saturating_sub(TAIL_LEN);
        let tail = read_vec(source, tail_start, (len - tail_start) as usize)?;
        let eocd_pos = find_eocd(&tail).ok_or_else(|| {
            Error::Truncated("The zip archive has no end record; the file may be cut short.".to_string())
        })?;
        let mut dir = parse_eocd(&tail[eocd_pos..])?;
        let eocd_abs = tail_start + eocd_pos as u64;

        let needs_zip64 =
            dir.offset == u32::MAX as u64 || dir.size == u32::MAX as u64 || dir.entries == u16::MAX as u64;
        if let Some(zip64) = read_zip64_directory(source, eocd_abs, &tail, tail_start)? {
            dir = zip64;
        } else if needs_zip64 {
            return Err(malformed("The zip archive needs a zip64 end record, but it is missing."));
        }

        let end = dir.offset.checked_add(dir.size).filter(|&e| e <= eocd_abs);
        if end.is_none() {
            return Err(malformed("The zip central directory points outside the file."));
        }
        if dir.size > MAX_CENTRAL_DIRECTORY {
            return Err(Error::TooLarge(format!(
                "The zip central directory is {} bytes, more than the {MAX_CENTRAL_DIRECTORY}-byte limit.",
                dir.size
            )));
        }
        let central = if dir.offset >= tail_start {
            let start = (dir.offset - tail_start) as usize;
            tail[start..start + dir.size as usize].to_vec()
        } else {
            read_vec(source, dir.offset, dir.size as usize)?
        };
        let entries = parse_central_directory(&central, dir.entries)?;
        Ok(ZipArchive { entries })
    }
}

fn find_eocd(tail: &[u8]) -> Option<usize> {
    let last = tail.len().checked_sub(EOCD_LEN)?;
    (0..=last).rev().find(|&i| tail[i..i + 4] == EOCD_SIGNATURE.to_le_bytes())
}

fn parse_eocd(bytes: &[u8]) -> Result<Directory> {
    let mut f = Fields::new(bytes, "end record");
    f.u32()?;
    let (disk, cd_disk) = (f.u16()?, f.u16()?);
    if disk != 0 || cd_disk != 0 {
        return Err(Error::Unsupported("Multi-part (spanned) zip archives are not supported.".into()));
    }
    f.u16()?;
    let entries = f.u16()? as u64;
    let size = f.u32()? as u64;
    let offset = f.u32()? as u64;
    Ok(Directory { offset, size, entries })
}

/// Finds the zip64 end record through its locator, just before the classic end record.
fn read_zip64_directory(
    source: &dyn ByteSource,
    eocd_abs: u64,
    tail: &[u8],
    tail_start: u64,
) -> Result<Option<Directory>> {
    let Some(locator_abs) = eocd_abs.checked_sub(ZIP64_LOCATOR_LEN as u64) else { return Ok(None) };
    let Some(locator_rel) = locator_abs.checked_sub(tail_start) else { return Ok(None) };
    let locator = &tail[locator_rel as usize..locator_rel as usize + ZIP64_LOCATOR_LEN];
    let mut f = Fields::new(locator, "zip64 locator");
    if f.u32()? != ZIP64_LOCATOR_SIGNATURE {
        return Ok(None);
    }
    f.u32()?;
    let record_abs = f.u64()?;
    if record_abs >= locator_abs {
        return Err(malformed("The zip64 locator points past itself."));
    }
    // torch always writes zip64 records; the record sits in the tail already read, so no new read.
    let in_tail = record_abs
        .checked_sub(tail_start)
        .and_then(|start| tail.get(start as usize..(start as usize).checked_add(ZIP64_EOCD_LEN)?));
    let record = match in_tail {
        Some(bytes) => bytes.to_vec(),
        None => read_vec(source, record_abs, ZIP64_EOCD_LEN)?,
    };
    let mut f = Fields::new(&record, "zip64 end record");
    if f.u32()? != ZIP64_EOCD_SIGNATURE {
        return Err(malformed("The zip64 locator does not point at a zip64 end record."));
    }
    f.take(8 + 2 + 2 + 4 + 4 + 8)?;
    let entries = f.u64()?;
    let size = f.u64()?;
    let offset = f.u64()?;
    Ok(Some(Directory { offset, size, entries }))
}

fn parse_central_directory(bytes: &[u8], claimed: u64) -> Result<Vec<ZipEntry>> {
    // Each record is at least 46 bytes, so the claim is bounded by the bytes we hold.
    if claimed > (bytes.len() / CENTRAL_LEN) as u64 {
        return Err(malformed(format!("The zip directory claims {claimed} entries but is too short to hold them.")));
    }
    let mut f = Fields::new(bytes, "central directory");
    let mut entries = Vec::with_capacity(claimed as usize);
    for _ in 0..claimed {
        if f.u32()? != CENTRAL_SIGNATURE {
            return Err(malformed("The zip central directory is damaged (bad entry signature)."));
        }
        f.take(4)?;
        let flags = f.u16()?;
        let method = f.u16()?;
        f.take(8)?;
        let mut compressed_size = f.u32()? as u64;
        let mut size = f.u32()? as u64;
        let name_len = f.u16()? as usize;
        let extra_len = f.u16()? as usize;
        let comment_len = f.u16()? as usize;
        f.take(8)?;
        let mut local_offset = f.u32()? as u64;
        let name = String::from_utf8_lossy(f.take(name_len)?).into_owned();
        let extra = f.take(extra_len)?;
        f.take(comment_len)?;

        apply_zip64_extra(extra, &mut size, &mut compressed_size, &mut local_offset)?;
        if flags & 1 != 0 {
            return Err(Error::Unsupported(format!("Zip entry {name} is encrypted; patchlens cannot read it.")));
        }
        let method = match method {
            0 => Method::Stored,
            8 => Method::Deflated,
            other => {
                return Err(Error::Unsupported(format!(
                    "Zip entry {name} uses compression method {other}; only stored and deflate are supported."
                )))
            }
        };
        entries.push(ZipEntry {
            name,
            method,
            compressed_size,
            size,
            local_offset,
            central_header_guess: name_len + extra_len,
        });
    }
    Ok(entries)
}

/// Replaces 0xFFFFFFFF placeholders with the 64-bit values of the zip64 extra field, in spec order.
fn apply_zip64_extra(mut extra: &[u8], size: &mut u64, compressed: &mut u64, offset: &mut u64) -> Result<()> {
    while extra.len() >= 4 {
        let id = u16::from_le_bytes([extra[0], extra[1]]);
        let len = u16::from_le_bytes([extra[2], extra[3]]) as usize;
        let body = extra.get(4..4 + len).ok_or_else(|| malformed("A zip extra field is cut short."))?;
        if id == ZIP64_EXTRA_ID {
            let mut f = Fields::new(body, "zip64 extra field");
            for field in [size, compressed, offset] {
                if *field == u32::MAX as u64 {
                    *field = f.u64()?;
                }
            }
            return Ok(());
        }
        extra = &extra[4 + len..];
    }
    Ok(())
}

/// The first bytes of an entry's (uncompressed) data, and where its data begins in the file.
pub struct Prefix {
    pub bytes: Vec<u8>,
    pub data_start: u64,
}

impl ZipEntry {
    /// Reads the local header and the first `want` bytes of uncompressed data (fewer if the entry
    /// is shorter), in one read for stored entries: the header and the data's start are adjacent.
    pub fn read_prefix(&self, source: &dyn ByteSource, want: usize) -> Result<Prefix> {
        let want = want.min(usize::try_from(self.size).unwrap_or(usize::MAX));
        let (start, end) = self.header_span(want, source.len());
        let chunk = read_vec(source, start, (end - start) as usize)?;
        let mut f = Fields::new(&chunk, "local header");
        if f.u32()? != LOCAL_SIGNATURE {
            return Err(malformed(format!("Zip entry {} does not start with a local header.", self.name)));
        }
        f.take(22)?;
        let header_len = LOCAL_LEN + f.u16()? as usize + f.u16()? as usize;
        let data_start = self.local_offset + header_len as u64;
        self.check_data_fits(source, data_start)?;

        let bytes = match self.method {
            Method::Stored => match chunk.get(header_len..header_len + want) {
                Some(b) => b.to_vec(),
                None => read_vec(source, data_start, want)?,
            },
            Method::Deflated => {
                let mut out = vec![0u8; want];
                self.inflate_into(source, data_start, 0, &mut out)?;
                out
            }
        };
        Ok(Prefix { bytes, data_start })
    }

    /// The file range `read_prefix(want)` reads first: the local header, with room for a local zip64
    /// extra field (np.savez writes one the central directory does not show), and for stored
    /// entries the first `want` bytes of data. Clamped to the file's length `file_len`.
    pub fn header_span(&self, want: usize, file_len: u64) -> (u64, u64) {
        let data = if self.method == Method::Stored { want.min(self.size.min(usize::MAX as u64) as usize) } else { 0 };
        let len = (LOCAL_LEN + self.central_header_guess + LOCAL_EXTRA_SLACK + data) as u64;
        let start = self.local_offset.min(file_len);
        (start, start.saturating_add(len).min(file_len))
    }

    /// Reads `len` uncompressed bytes starting `skip` bytes into the entry's data.
    pub fn read_data(&self, source: &dyn ByteSource, data_start: u64, skip: u64, len: usize) -> Result<Vec<u8>> {
        let end = skip.checked_add(len as u64).filter(|&e| e <= self.size);
        if end.is_none() {
            return Err(malformed(format!("Zip entry {} is shorter than the tensor it holds.", self.name)));
        }
        match self.method {
            Method::Stored => read_vec(source, data_start + skip, len),
            Method::Deflated => {
                let mut out = vec![0u8; len];
                self.inflate_into(source, data_start, skip, &mut out)?;
                Ok(out)
            }
        }
    }

    fn check_data_fits(&self, source: &dyn ByteSource, data_start: u64) -> Result<()> {
        let stored_len = if self.method == Method::Stored { self.size } else { self.compressed_size };
        match data_start.checked_add(stored_len) {
            Some(end) if end <= source.len() => Ok(()),
            _ => Err(Error::Truncated(format!(
                "Zip entry {} runs past the end of the file; it may be cut short.",
                self.name
            ))),
        }
    }

    /// Inflates the entry from its start, dropping the first `skip` bytes, until `out` is full.
    fn inflate_into(&self, source: &dyn ByteSource, data_start: u64, skip: u64, out: &mut [u8]) -> Result<()> {
        let mut inflater = Decompress::new(false);
        let mut input = Vec::new();
        let mut input_pos = 0usize;
        let mut read_offset = 0u64;
        let mut discard = vec![0u8; if skip > 0 { INFLATE_CHUNK } else { 0 }];
        let mut filled = 0usize;
        let damaged = || malformed(format!("The compressed data of zip entry {} is damaged.", self.name));
        while filled < out.len() {
            if input_pos == input.len() && read_offset < self.compressed_size {
                let n = (self.compressed_size - read_offset).min(INFLATE_CHUNK as u64) as usize;
                input = read_vec(source, data_start + read_offset, n)?;
                read_offset += n as u64;
                input_pos = 0;
            }
            let produced_before = inflater.total_out();
            let consumed_before = inflater.total_in();
            let to_skip = skip.saturating_sub(produced_before);
            let target: &mut [u8] = if to_skip > 0 {
                let n = to_skip.min(discard.len() as u64) as usize;
                &mut discard[..n]
            } else {
                &mut out[filled..]
            };
            let status =
                inflater.decompress(&input[input_pos..], target, FlushDecompress::None).map_err(|_| damaged())?;
            let consumed = (inflater.total_in() - consumed_before) as usize;
            let produced = (inflater.total_out() - produced_before) as usize;
            input_pos += consumed;
            if to_skip == 0 {
                filled += produced;
            }
            // With all input in, a call still drains output the inflater holds; no progress = damaged.
            let stuck = consumed == 0 && produced == 0;
            if filled < out.len() && (stuck || status == Status::StreamEnd) {
                return Err(damaged());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "zip_tests.rs"]
mod tests;
