//! HDF5 (h5py, Keras, TensorFlow): a range-based reader of the subset weights files use. Opening reads
//! the superblock; groups and attributes are read from object headers on demand (cached), and a
//! dataset's read fetches exactly its bytes (contiguous: one read; chunked: the chunk index and its
//! chunks). `Hdf5` lists every dataset depth-first by path; `Hdf5File` is the API other containers
//! (Keras) build on.

// The reader's parts, one structure each, kept beside this file.
#[path = "hdf5_attribute.rs"]
mod hdf5_attribute;
#[path = "hdf5_btree.rs"]
mod hdf5_btree;
#[path = "hdf5_cursor.rs"]
mod hdf5_cursor;
#[path = "hdf5_data.rs"]
mod hdf5_data;
#[path = "hdf5_group.rs"]
mod hdf5_group;
#[path = "hdf5_header.rs"]
mod hdf5_header;
#[path = "hdf5_heap.rs"]
mod hdf5_heap;
#[path = "hdf5_message.rs"]
mod hdf5_message;

use super::Container;
use crate::error::{malformed, no_such_index, Error, Result};
use crate::kernel::KernelLayout;
use crate::source::{read_vec, ByteSource};
use crate::tensor::{checked_data_len, decode_floats, MemoryOrder, Tensor, TensorInfo};
use hdf5_cursor::{Cursor, Sizes};
pub(crate) use hdf5_data::{inflate, unshuffle};
use hdf5_data::{read_bytes, Storage};
use hdf5_header::{read_header, ObjectHeader};
use hdf5_message::{self as message, kind, Datatype, Layout};
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

pub(crate) use hdf5_attribute::Attribute;

/// The 8-byte HDF5 signature.
pub(crate) const MAGIC: &[u8] = b"\x89HDF\r\n\x1a\n";
/// A user block puts the superblock at 512, 1024, 2048, …; searched up to this offset.
const MAX_USER_BLOCK: u64 = 1 << 20;
/// Metadata is read in pages of this size and kept: headers, heaps and B-tree nodes of one group
/// usually sit together, so one read serves many of them (a 300 MB Keras-like file of 100 layers is
/// listed in 5 reads of 64 KiB where 4 KiB pages took 61: each read is a round trip in URL mode).
const PAGE: u64 = 64 << 10;
/// Pages kept (4 MiB); the cache is emptied when full.
const MAX_PAGES: usize = 64;
/// Metadata reads larger than this bypass the page cache.
const MAX_PAGED_READ: usize = 64 << 10;
/// Object headers kept parsed.
const MAX_CACHED_HEADERS: usize = 4096;
/// Groups nested inside one another when listing: Keras nests 4 or 5 deep.
const MAX_DEPTH: usize = 64;
/// Objects (groups and datasets) listed in one file.
const MAX_OBJECTS: usize = 200_000;
/// Root attributes shown in the note, and characters of each value: a note is one short sentence.
const MAX_NOTE_ENTRIES: usize = 6;
const MAX_NOTE_VALUE_CHARS: usize = 60;

/// An object (group or dataset) in the file: its header's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ObjectRef(pub(crate) u64);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LinkKind {
    Group,
    Dataset,
    /// Soft and external links (their target is not followed), and objects that are neither.
    Other,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Link {
    pub name: String,
    pub target: ObjectRef,
    pub kind: LinkKind,
}

/// A dataset: what it lists as, and how it is stored.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Dataset {
    pub info: TensorInfo,
    pub(crate) datatype_is_float: bool,
    pub(crate) byte_order: crate::tensor::ByteOrder,
    pub(crate) storage: Storage,
    /// Why it cannot be read although it can be listed (a filter patchlens lacks).
    pub(crate) refusal: Option<Error>,
}

pub(crate) struct Hdf5File {
    source: Rc<dyn ByteSource>,
    sizes: Sizes,
    /// Absolute position of address 0 (the superblock's base address).
    base: u64,
    root: ObjectRef,
    pages: RefCell<HashMap<u64, Rc<[u8]>>>,
    headers: RefCell<HashMap<u64, Rc<ObjectHeader>>>,
    global_heaps: RefCell<HashMap<u64, Rc<hdf5_header::GlobalCollection>>>,
}

/// Where the superblock may start: 0, then 512, 1024, 2048, … (after a user block).
fn signature_offsets() -> impl Iterator<Item = u64> {
    std::iter::once(0)
        .chain(std::iter::successors(Some(512u64), |&at| Some(at * 2)))
        .take_while(|&at| at <= MAX_USER_BLOCK)
}

/// True if an HDF5 signature starts `head` (the file's first bytes) or a user-block boundary in it.
pub(crate) fn looks_like(head: &[u8]) -> bool {
    signature_offsets().any(|at| head.get(at as usize..).is_some_and(|rest| rest.starts_with(MAGIC)))
}

impl Hdf5File {
    pub(crate) fn open(source: Rc<dyn ByteSource>) -> Result<Hdf5File> {
        let len = source.len();
        let mut start = None;
        for at in signature_offsets().take_while(|&at| at.saturating_add(8) <= len) {
            let mut sig = [0u8; 8];
            source.read_at(at, &mut sig)?;
            if sig == MAGIC {
                start = Some(at);
                break;
            }
        }
        let start =
            start.ok_or_else(|| Error::UnknownFormat("This file has no HDF5 signature where one belongs.".into()))?;
        let head = read_vec(&*source, start, (len - start).min(256) as usize)?;
        let mut c = Cursor::new(&head, "superblock");
        c.skip(8)?;
        let version = c.u8()?;
        let (sizes, root) = match version {
            0 | 1 => {
                c.skip(4)?;
                let sizes = Sizes { offset: usize::from(c.u8()?), length: usize::from(c.u8()?) };
                check_sizes(sizes)?;
                c.skip(1 + 4 + 4 + if version == 1 { 4 } else { 0 })?;
                c.address(sizes)?; // base address: see `base` below
                c.skip(3 * sizes.offset)?;
                // The root group's symbol table entry: link name offset, then its header address.
                c.skip(sizes.offset)?;
                (sizes, c.address(sizes)?)
            }
            2 | 3 => {
                let sizes = Sizes { offset: usize::from(c.u8()?), length: usize::from(c.u8()?) };
                check_sizes(sizes)?;
                c.skip(1)?;
                c.address(sizes)?; // base address: see `base` below
                c.skip(2 * sizes.offset)?;
                (sizes, c.address(sizes)?)
            }
            other => {
                return Err(Error::Unsupported(format!(
                    "This HDF5 file has superblock version {other}; patchlens reads versions 0 to 3."
                )))
            }
        };
        let root = root.ok_or_else(|| malformed("This HDF5 file has no root group."))?;
        // Addresses count from the superblock, wherever a user block put it, as the HDF5 library
        // does when the stored base address disagrees with where the signature was found.
        let base = start;
        let file = Hdf5File {
            source,
            sizes,
            base,
            root: ObjectRef(root),
            pages: RefCell::default(),
            headers: RefCell::default(),
            global_heaps: RefCell::default(),
        };
        file.header(file.root)?;
        Ok(file)
    }

    pub(crate) fn root(&self) -> ObjectRef {
        self.root
    }

    fn sizes(&self) -> Sizes {
        self.sizes
    }

    /// The absolute byte range of `len` bytes at file address `address`, checked against the file.
    fn absolute(&self, address: u64, len: usize) -> Result<u64> {
        let at = self.base.checked_add(address);
        match at.and_then(|a| a.checked_add(len as u64)) {
            Some(end) if end <= self.source.len() => Ok(self.base + address),
            _ => Err(Error::Truncated(format!(
                "This HDF5 file points at {len} bytes at address {address}, past its end ({} bytes); it is damaged or cut short.",
                self.source.len()
            ))),
        }
    }

    /// Metadata bytes, served from the page cache.
    fn meta(&self, address: u64, len: usize, _what: &'static str) -> Result<Vec<u8>> {
        let at = self.absolute(address, len)?;
        if len > MAX_PAGED_READ {
            return read_vec(&*self.source, at, len);
        }
        if len == 0 {
            // No page to find: `end - 1` would fall in the page before `at`'s.
            return Ok(Vec::new());
        }
        let end = at + len as u64;
        let (first, last) = (at / PAGE, (end.saturating_sub(1)) / PAGE);
        let mut pages = self.pages.borrow_mut();
        if pages.len() + (last - first + 1) as usize > MAX_PAGES {
            pages.clear();
        }
        // Missing pages are fetched in one read.
        let missing: Vec<u64> = (first..=last).filter(|p| !pages.contains_key(p)).collect();
        if let (Some(&lo), Some(&hi)) = (missing.first(), missing.last()) {
            let from = lo * PAGE;
            let to = ((hi + 1) * PAGE).min(self.source.len());
            let bytes = read_vec(&*self.source, from, (to - from) as usize)?;
            for p in lo..=hi {
                let s = ((p - lo) * PAGE) as usize;
                let e = (s + PAGE as usize).min(bytes.len());
                pages.entry(p).or_insert_with(|| Rc::from(&bytes[s.min(e)..e]));
            }
        }
        let mut out = Vec::with_capacity(len);
        for p in first..=last {
            let page = pages.get(&p).ok_or_else(|| Error::Read("Reading the HDF5 file came back short.".into()))?;
            let s = if p == first { (at - p * PAGE) as usize } else { 0 };
            let e = if p == last { (end - p * PAGE) as usize } else { PAGE as usize };
            out.extend_from_slice(
                page.get(s..e).ok_or_else(|| Error::Read("Reading the HDF5 file came back short.".into()))?,
            );
        }
        Ok(out)
    }

    /// Up to `len` metadata bytes at `address`, fewer if the file ends first.
    fn meta_upto(&self, address: u64, len: usize, what: &'static str) -> Result<Vec<u8>> {
        let available = self.source.len().saturating_sub(self.base.saturating_add(address));
        self.meta(address, len.min(usize::try_from(available).unwrap_or(usize::MAX)), what)
    }

    /// Dataset bytes: one read, never cached.
    fn raw(&self, address: u64, len: usize) -> Result<Vec<u8>> {
        let at = self.absolute(address, len)?;
        read_vec(&*self.source, at, len)
    }

    fn header(&self, object: ObjectRef) -> Result<Rc<ObjectHeader>> {
        if let Some(h) = self.headers.borrow().get(&object.0) {
            return Ok(Rc::clone(h));
        }
        let header = Rc::new(read_header(self, object.0)?);
        let mut headers = self.headers.borrow_mut();
        if headers.len() >= MAX_CACHED_HEADERS {
            headers.clear();
        }
        headers.insert(object.0, Rc::clone(&header));
        Ok(header)
    }

    /// What an object is, from its header's messages.
    pub(crate) fn kind(&self, object: ObjectRef) -> Result<LinkKind> {
        let header = self.header(object)?;
        let has = |k| header.first(k).is_some();
        Ok(if has(kind::LAYOUT) {
            LinkKind::Dataset
        } else if has(kind::SYMBOL_TABLE) || has(kind::LINK_INFO) || has(kind::LINK) || has(kind::GROUP_INFO) {
            LinkKind::Group
        } else {
            LinkKind::Other
        })
    }

    /// A group's members, in creation order when the group tracks it, else in name order.
    pub(crate) fn children(&self, group: ObjectRef) -> Result<Vec<Link>> {
        let header = self.header(group)?;
        let links = hdf5_group::links(self, &header)?;
        links
            .into_iter()
            .map(|(name, address)| {
                let (target, kind) = match address {
                    Some(a) => (ObjectRef(a), self.kind(ObjectRef(a))?),
                    None => (ObjectRef(u64::MAX), LinkKind::Other),
                };
                Ok(Link { name, target, kind })
            })
            .collect()
    }

    /// A group's member names alone, without reading each member's header to say what it is: the Keras 3
    /// plan names layers from config.json, and each layer's header sits beside that layer's data.
    pub(crate) fn link_names(&self, group: ObjectRef) -> Result<Vec<String>> {
        let header = self.header(group)?;
        Ok(hdf5_group::links(self, &header)?.into_iter().map(|(name, _)| name).collect())
    }

    /// The object at a `/`-separated path from the root (`""` or `"/"` is the root).
    pub(crate) fn lookup(&self, path: &str) -> Result<Option<ObjectRef>> {
        let mut at = self.root;
        for part in path.split('/').filter(|p| !p.is_empty()) {
            let header = self.header(at)?;
            let links = hdf5_group::links(self, &header)?;
            match links.into_iter().find(|(name, _)| name == part) {
                Some((_, Some(address))) => at = ObjectRef(address),
                _ => return Ok(None),
            }
        }
        Ok(Some(at))
    }

    pub(crate) fn attribute_names(&self, object: ObjectRef) -> Result<Vec<String>> {
        let header = self.header(object)?;
        Ok(hdf5_attribute::raw_attributes(self, &header)?.into_iter().map(|(name, _)| name).collect())
    }

    pub(crate) fn attribute(&self, object: ObjectRef, name: &str) -> Result<Option<Attribute>> {
        let header = self.header(object)?;
        let all = hdf5_attribute::raw_attributes(self, &header)?;
        match all.into_iter().find(|(n, _)| n == name) {
            Some((_, message)) => hdf5_attribute::decode(self, &message).map(Some),
            None => Ok(None),
        }
    }

    /// The dataset at `object`, listed as `name`.
    pub(crate) fn dataset(&self, object: ObjectRef, name: &str) -> Result<Dataset> {
        let header = self.header(object)?;
        let within = |e: Error| e.within(&format!("dataset {name}"));
        let find = |k: u16, what: &str| {
            let m = header.first(k).ok_or_else(|| malformed(format!("HDF5 dataset {name} has no {what} message.")))?;
            if m.flags & 0x02 != 0 {
                return Err(Error::Unsupported(format!(
                    "HDF5 dataset {name} uses a shared {what} (a committed type), which patchlens does not read."
                )));
            }
            Ok(m)
        };
        let dims = message::dataspace(&find(kind::DATASPACE, "dataspace")?.data, self.sizes).map_err(within)?;
        let datatype = message::datatype(&find(kind::DATATYPE, "datatype")?.data).map_err(within)?;
        let dims = dims.unwrap_or_else(|| vec![0]);
        let layout =
            message::layout(&find(kind::LAYOUT, "data layout")?.data, self.sizes, dims.len()).map_err(within)?;
        // A filter patchlens lacks makes the dataset unreadable, not unlistable: it fails on read.
        let (filters, refusal) = match header.first(kind::FILTERS).map(|m| message::filters(&m.data)) {
            Some(Ok(filters)) => (filters, None),
            Some(Err(e @ Error::Unsupported(_))) => (Vec::new(), Some(within(e))),
            Some(Err(e)) => return Err(within(e)),
            None => (Vec::new(), None),
        };
        if let Layout::Chunked { chunk, .. } = &layout {
            if chunk.len() != dims.len() {
                return Err(malformed(format!("HDF5 dataset {name} has chunks of a different rank than its shape.")));
            }
        }
        let shape = dims
            .iter()
            .map(|&d| usize::try_from(d))
            .collect::<std::result::Result<Vec<usize>, _>>()
            .map_err(|_| Error::TooLarge(format!("HDF5 dataset {name} has a dimension too large to address.")))?;
        let (datatype_is_float, byte_order) = match &datatype {
            Datatype::Float { order, dtype, .. } => (dtype.float_size().is_some(), *order),
            Datatype::Int { order, .. } => (false, *order),
            _ => (false, crate::tensor::ByteOrder::Little),
        };
        let element_size = datatype.size().max(1);
        let info = TensorInfo { name: name.to_string(), dtype: datatype.dtype(), shape };
        let storage = Storage { dims, element_size, layout, filters };
        Ok(Dataset { info, datatype_is_float, byte_order, storage, refusal })
    }

    /// A dataset's values; reads only its own bytes.
    pub(crate) fn read(&self, dataset: &Dataset) -> Result<Tensor> {
        if let Some(refusal) = &dataset.refusal {
            return Err(refusal.clone());
        }
        let info = dataset.info.clone();
        let size = info.dtype.float_size().filter(|_| dataset.datatype_is_float).ok_or_else(|| {
            Error::NotDrawable(format!(
                "Tensor {} holds {} values; only float tensors can be drawn.",
                info.name, info.dtype
            ))
        })?;
        let len = checked_data_len(&info, size, u64::MAX)?;
        let bytes = read_bytes(self, &dataset.storage, len).map_err(|e| e.within(&format!("dataset {}", info.name)))?;
        let values = decode_floats(&bytes, &info.dtype, dataset.byte_order)?;
        Ok(Tensor { info, values, order: MemoryOrder::C })
    }
}

fn check_sizes(sizes: Sizes) -> Result<()> {
    let ok = |n: usize| matches!(n, 2 | 4 | 8);
    if ok(sizes.offset) && ok(sizes.length) {
        Ok(())
    } else {
        Err(Error::Unsupported(format!(
            "This HDF5 file uses {}-byte addresses and {}-byte lengths; patchlens reads 2, 4 or 8.",
            sizes.offset, sizes.length
        )))
    }
}

/// A plain HDF5 file as a container: every dataset, depth-first by path.
pub struct Hdf5 {
    file: Hdf5File,
    names: Vec<String>,
    datasets: Vec<Result<Dataset>>,
    notes: Vec<String>,
}

/// The root group's attributes as one sentence (`keras_version = 2.15.0; layer_names = 3 strings`);
/// `None` when it has none or they cannot be read (the listing does not depend on them).
fn root_note(file: &Hdf5File) -> Option<String> {
    let names = file.attribute_names(file.root()).ok().filter(|n| !n.is_empty())?;
    let shown: Vec<String> = names
        .iter()
        .take(MAX_NOTE_ENTRIES)
        .map(|name| {
            let value = match file.attribute(file.root(), name) {
                Ok(Some(Attribute::Strings(s))) if s.len() == 1 => s[0].clone(),
                Ok(Some(Attribute::Strings(s))) => format!("{} strings", s.len()),
                Ok(Some(Attribute::Ints(v))) if v.len() == 1 => v[0].to_string(),
                Ok(Some(Attribute::Floats(v))) if v.len() == 1 => v[0].to_string(),
                Ok(Some(Attribute::Ints(v))) => format!("{} integers", v.len()),
                Ok(Some(Attribute::Floats(v))) => format!("{} numbers", v.len()),
                Ok(Some(Attribute::Other(what))) => what,
                Ok(None) | Err(_) => "unreadable".into(),
            };
            let cut: String = value.chars().take(MAX_NOTE_VALUE_CHARS).collect();
            let ellipsis = if cut.len() < value.len() { "…" } else { "" };
            format!("{name} = {cut}{ellipsis}")
        })
        .collect();
    let more = names.len().saturating_sub(MAX_NOTE_ENTRIES);
    let more = if more > 0 { format!(" (and {more} more)") } else { String::new() };
    let text = format!("HDF5 attributes of the file: {}{more}", shown.join("; "));
    Some(if text.ends_with('.') { text } else { text + "." })
}

impl Hdf5 {
    pub fn open(source: Rc<dyn ByteSource>) -> Result<Hdf5> {
        Self::from_file(Hdf5File::open(source)?)
    }

    /// A file already opened (and looked at by the Keras container): its cached pages are reused.
    pub(crate) fn from_file(file: Hdf5File) -> Result<Hdf5> {
        let mut names = Vec::new();
        let mut datasets = Vec::new();
        let mut seen = HashSet::from([file.root()]);
        // Depth-first in member order: each group's members as they come, a subgroup walked when met.
        let mut stack = vec![(file.children(file.root())?.into_iter(), String::new())];
        while let Some((members, prefix)) = stack.last_mut() {
            let Some(link) = members.next() else {
                stack.pop();
                continue;
            };
            let path = format!("{prefix}{}", link.name);
            // A hard link to an object already listed (an ancestor: a cycle) is not walked again.
            if link.kind == LinkKind::Other || !seen.insert(link.target) {
                continue;
            }
            if seen.len() > MAX_OBJECTS {
                return Err(Error::TooLarge(format!("This HDF5 file holds more than {MAX_OBJECTS} objects.")));
            }
            match link.kind {
                LinkKind::Dataset => {
                    datasets.push(file.dataset(link.target, &path));
                    names.push(path);
                }
                _ => {
                    if stack.len() >= MAX_DEPTH {
                        return Err(malformed(format!("This HDF5 file nests groups more than {MAX_DEPTH} deep.")));
                    }
                    let members = file.children(link.target)?.into_iter();
                    stack.push((members, format!("{path}/")));
                }
            }
        }
        let notes = root_note(&file).into_iter().collect();
        Ok(Hdf5 { file, names, datasets, notes })
    }

    fn dataset(&self, index: usize) -> Result<&Dataset> {
        match self.datasets.get(index) {
            Some(Ok(d)) => Ok(d),
            Some(Err(e)) => Err(e.clone()),
            None => Err(no_such_index(index)),
        }
    }
}

impl Container for Hdf5 {
    fn format(&self) -> &'static str {
        "hdf5"
    }

    /// TensorFlow's convention, though plain HDF5 states none: each kernel's layout is inferred.
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
        Ok(self.dataset(index)?.info.clone())
    }

    fn read(&self, index: usize) -> Result<Tensor> {
        self.file.read(self.dataset(index)?)
    }

    fn notes(&self) -> Vec<String> {
        self.notes.clone()
    }
}

#[cfg(test)]
#[path = "hdf5_tests.rs"]
mod tests;
