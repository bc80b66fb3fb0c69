//! `.npz` archives (a zip of `.npy` files, as `np.savez` / `np.savez_compressed` write them)
//! and bare `.npy` files. Each entry's header is read on first use and remembered.

use super::npy::{self, NpyHeader};
use super::zip::{Method, ZipArchive, ZipEntry};
use super::Container;
use crate::error::{no_such_index, Error, Result};
use crate::kernel::KernelLayout;
use crate::sorting;
use crate::source::{read_vec, ByteSource, Window};
use crate::tensor::{checked_data_len, decode_floats, Tensor, TensorInfo, MAX_TENSOR_BYTES};
use std::cell::OnceCell;
use std::rc::Rc;

/// A parsed header and where the entry's data starts in the file.
#[derive(Clone)]
struct Located {
    header: NpyHeader,
    data_start: u64,
}

pub struct Npz {
    source: Rc<dyn ByteSource>,
    entries: Vec<ZipEntry>,
    names: Vec<String>,
    located: Vec<OnceCell<Result<Located>>>,
}

impl Npz {
    /// An archive whose central directory `container::open` has already read.
    pub fn from_archive(source: Rc<dyn ByteSource>, archive: ZipArchive) -> Result<Self> {
        let entries = archive.entries;
        // numpy names entries `key.npy`; the key is what users (and the reference notebook) use.
        let names = entries.iter().map(|e| e.name.strip_suffix(".npy").unwrap_or(&e.name).to_string()).collect();
        let located = entries.iter().map(|_| OnceCell::new()).collect();
        Ok(Npz { source, entries, names, located })
    }

    fn locate(&self, index: usize) -> Result<&Located> {
        self.locate_via(index, &*self.source)
    }

    /// The entry's header, read through `source` (the file, or a `Window` already holding it) the
    /// first time and remembered, errors included.
    fn locate_via(&self, index: usize, source: &dyn ByteSource) -> Result<&Located> {
        let cell = self.located.get(index).ok_or_else(|| no_such_index(index))?;
        cell.get_or_init(|| self.read_header(index, source)).as_ref().map_err(Clone::clone)
    }

    fn read_header(&self, index: usize, source: &dyn ByteSource) -> Result<Located> {
        let entry = &self.entries[index];
        let prefix = entry.read_prefix(source, npy::PREFIX_GUESS)?;
        let fetch = |len| entry.read_data(source, prefix.data_start, 0, len);
        let header = npy::read_header(prefix.bytes.clone(), fetch).map_err(|e| e.within(&self.names[index]))?;
        Ok(Located { header, data_start: prefix.data_start })
    }

    /// The headers not yet read, in groups that lie close together, each fetched in one read (start, end,
    /// entries): in a browser each read costs about a millisecond, a few KiB more per read almost nothing.
    fn header_groups(&self) -> Vec<(u64, u64, Vec<usize>)> {
        let file_len = self.source.len();
        let mut spans: Vec<(u64, u64, usize)> = (0..self.entries.len())
            .filter(|&i| self.located[i].get().is_none())
            .map(|i| {
                let (start, end) = self.entries[i].header_span(npy::PREFIX_GUESS, file_len);
                (start, end, i)
            })
            .collect();
        sorting::sort(&mut spans);
        let mut groups: Vec<(u64, u64, Vec<usize>)> = Vec::new();
        for (start, end, index) in spans {
            match groups.last_mut() {
                Some((group_start, group_end, members))
                    if start <= group_end.saturating_add(COALESCE_GAP)
                        && end.max(*group_end) - *group_start <= MAX_COALESCED_READ =>
                {
                    *group_end = end.max(*group_end);
                    members.push(index);
                }
                _ => groups.push((start, end, vec![index])),
            }
        }
        groups
    }

    /// Reads every header not yet read, the groups of `header_groups` together.
    fn locate_all(&self) {
        let groups = self.header_groups();
        // All groups are asked for together: over HTTP, a server that answers multi-range requests sends
        // them in one or two replies (a few hundred headers scattered over a GB), others as single ranges sent
        // together (so a page can fetch `listing_ranges` first).
        let ranges: Vec<(u64, u64)> = groups.iter().map(|&(start, end, _)| (start, end)).collect();
        let read = self.source.read_ranges(&ranges);
        for ((start, _, members), bytes) in groups.into_iter().zip(read) {
            match bytes {
                Ok(bytes) => {
                    let window = Window::holding(&*self.source, start, bytes);
                    for i in members {
                        let _ = self.locate_via(i, &window);
                    }
                }
                // The read's sentence (a broken reply, a lost network) is each of its headers' answer.
                Err(e) => {
                    for i in members {
                        let _ = self.located[i].set(Err(e.clone()));
                    }
                }
            }
        }
    }
}

/// Headers closer than this are fetched in one read when listing (see `locate_all`).
const COALESCE_GAP: u64 = 16 << 10;
/// No coalesced read grows past this.
const MAX_COALESCED_READ: u64 = 1 << 20;

fn info_of(name: &str, header: &NpyHeader) -> TensorInfo {
    TensorInfo { name: name.to_string(), dtype: header.dtype.clone(), shape: header.shape.clone() }
}

/// Reads one .npy payload given a way to fetch `len` bytes at `skip` into the .npy data.
fn read_npy(
    info: TensorInfo,
    header: &NpyHeader,
    stored: u64,
    fetch: impl FnOnce(u64, usize) -> Result<Vec<u8>>,
) -> Result<Tensor> {
    if header.dtype.float_size().is_none() {
        return Err(Error::NotDrawable(format!(
            "Tensor {} holds {} values; only float tensors can be drawn.",
            info.name, header.dtype
        )));
    }
    let available = stored.saturating_sub(header.data_offset as u64);
    let len = checked_data_len(&info, header.item_size, available)?;
    let bytes = fetch(header.data_offset as u64, len)?;
    let values = decode_floats(&bytes, &header.dtype, header.byte_order)?;
    Ok(Tensor { info, values, order: header.order })
}

impl Container for Npz {
    fn format(&self) -> &'static str {
        "npz"
    }

    fn layout(&self) -> KernelLayout {
        KernelLayout::Hwio
    }

    fn layout_is_stated(&self) -> bool {
        false
    }

    fn names(&self) -> &[String] {
        &self.names
    }

    fn info(&self, index: usize) -> Result<TensorInfo> {
        let located = self.locate(index)?;
        Ok(info_of(&self.names[index], &located.header))
    }

    fn infos(&self) -> Vec<Result<TensorInfo>> {
        self.locate_all();
        (0..self.names.len()).map(|i| self.info(i)).collect()
    }

    fn info_if_read(&self, index: usize) -> Option<Result<TensorInfo>> {
        let located = self.located.get(index)?.get()?;
        Some(located.as_ref().map(|l| info_of(&self.names[index], &l.header)).map_err(Clone::clone))
    }

    fn stored_bytes(&self, index: usize) -> Option<u64> {
        self.entries.get(index).map(|entry| entry.size)
    }

    fn listing_ranges(&self) -> Vec<(u64, u64)> {
        self.header_groups().into_iter().map(|(start, end, _)| (start, end)).collect()
    }

    fn read(&self, index: usize) -> Result<Tensor> {
        let entry = self.entries.get(index).ok_or_else(|| no_such_index(index))?;
        // A stored entry whose header is not known yet comes whole in one read: header and data
        // are adjacent, and in a browser every read costs a millisecond or more.
        let unread = self.located[index].get().is_none();
        if unread && entry.method == Method::Stored && entry.size <= MAX_TENSOR_BYTES as u64 {
            let (start, end) = entry.header_span(entry.size as usize, self.source.len());
            if let Ok(window) = Window::read(&*self.source, start, end) {
                return self.read_located(index, &window);
            }
        }
        self.read_located(index, &*self.source)
    }
}

impl Npz {
    fn read_located(&self, index: usize, source: &dyn ByteSource) -> Result<Tensor> {
        let located = self.locate_via(index, source)?;
        let entry = &self.entries[index];
        let info = info_of(&self.names[index], &located.header);
        read_npy(info, &located.header, entry.size, |skip, len| entry.read_data(source, located.data_start, skip, len))
    }
}

/// A bare `.npy` file: one tensor, named `array`.
pub struct Npy {
    source: Rc<dyn ByteSource>,
    header: NpyHeader,
    names: Vec<String>,
}

impl Npy {
    pub fn open(source: Rc<dyn ByteSource>) -> Result<Self> {
        let prefix = read_vec(&*source, 0, npy::PREFIX_GUESS.min(source.len() as usize))?;
        let header = npy::read_header(prefix, |len| read_vec(&*source, 0, len))?;
        Ok(Npy { source, header, names: vec!["array".to_string()] })
    }
}

impl Container for Npy {
    fn format(&self) -> &'static str {
        "npy"
    }

    fn layout(&self) -> KernelLayout {
        KernelLayout::Hwio
    }

    fn layout_is_stated(&self) -> bool {
        false
    }

    fn names(&self) -> &[String] {
        &self.names
    }

    fn info(&self, index: usize) -> Result<TensorInfo> {
        match index {
            0 => Ok(info_of(&self.names[0], &self.header)),
            _ => Err(no_such_index(index)),
        }
    }

    fn read(&self, index: usize) -> Result<Tensor> {
        let info = self.info(index)?;
        read_npy(info, &self.header, self.source.len(), |skip, len| read_vec(&*self.source, skip, len))
    }
}
