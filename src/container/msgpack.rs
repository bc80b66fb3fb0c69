//! Flax / JAX msgpack (`flax.serialization.to_bytes`, Hugging Face's `flax_model.msgpack`): nested maps
//! with string keys whose leaves are ext values holding a small msgpack (shape, dtype name, raw bytes).
//! Opening walks the tree with ranged reads, skipping every payload by its length; names are key paths
//! joined with '/'; reading a tensor reads exactly its bytes (a chunked array's chunks, in order).

#[path = "msgpack_cursor.rs"]
mod cursor;

use super::{read_contiguous, Container};
use crate::error::{malformed, no_such_index, Error, Result};
use crate::kernel::KernelLayout;
use crate::source::{read_vec, ByteSource, SliceSource};
use crate::tensor::{checked_data_len, decode_floats, ByteOrder, DType, MemoryOrder, Tensor, TensorInfo};
use cursor::{Cursor, Head};
use std::collections::HashSet;
use std::rc::Rc;

/// flax `_MsgpackExtType`: ndarray, native complex, numpy scalar (stored as a 0-d ndarray).
const EXT_NDARRAY: i8 = 1;
const EXT_COMPLEX: i8 = 2;
const EXT_NPSCALAR: i8 = 3;
/// The key flax's `_chunk` puts first in the map that replaces an array over `MAX_CHUNK_SIZE` (1 GiB).
const CHUNKED_MARKER: &str = "__msgpack_chunked_array__";
/// Maps and lists inside each other: Flax trees are under ten deep (optimizer state a few more); this
/// bounds the recursion on hostile files.
const MAX_DEPTH: usize = 64;
/// Values walked in all (keys, leaves, list items): real checkpoints hold a few thousand; this bounds time.
const MAX_VALUES: u64 = 1 << 22;
/// Tensors listed: every name is kept, so a hostile file must not make millions.
const MAX_TENSORS: usize = 1 << 16;
/// A key, a whole '/'-joined name, and all names together: Flax module and parameter names are short,
/// and a hostile file could otherwise repeat one long prefix under every leaf.
const MAX_KEY_LEN: usize = 1024;
const MAX_NAME_LEN: usize = 4096;
const MAX_NAME_BYTES: usize = 16 << 20;
/// numpy's NPY_MAXDIMS (64 since numpy 2): no ndarray has more axes.
const MAX_DIMS: u64 = 64;
/// numpy dtype names (`float32`, `bfloat16`, `float8_e4m3fn`) are short.
const MAX_DTYPE_LEN: usize = 32;
/// Chunks of one chunked array: each holds 1 GiB, so this is far beyond any real array.
const MAX_CHUNKS: u64 = 4096;
/// Levels of the head walked to recognise the format: deep enough to reach a first ndarray.
const PROBE_DEPTH: usize = 16;

/// One tensor: its info and where its bytes are (one run, or a chunked array's runs in order).
struct Entry {
    info: TensorInfo,
    runs: Vec<(u64, u64)>,
}

pub struct Msgpack {
    source: Rc<dyn ByteSource>,
    names: Vec<String>,
    entries: Vec<Entry>,
    other_leaves: u64,
}

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

/// An ndarray's inner header as flax's `_ndarray_to_bytes` writes it: a 3-array of (shape, dtype name,
/// bin), up to the data.
fn inner_header(cursor: &mut Cursor) -> Result<InnerHeader> {
    let start = cursor.pos();
    let bad = |what: &str| malformed(format!("The array stored at byte {start} of the msgpack file {what}."));
    if cursor.head()? != Head::Array(3) {
        return Err(bad("is not the (shape, dtype, bytes) triple flax writes"));
    }
    let Head::Array(dims) = cursor.head()? else { return Err(bad("has a shape that is not a list")) };
    if dims > MAX_DIMS {
        return Err(bad(&format!("claims {dims} dimensions, more than numpy's {MAX_DIMS}")));
    }
    let mut shape = Vec::with_capacity(dims as usize);
    for _ in 0..dims {
        match cursor.head()? {
            Head::Int(d) if d >= 0 => {
                shape.push(usize::try_from(d).map_err(|_| bad("has a dimension too large for this machine"))?)
            }
            _ => return Err(bad("has a shape entry that is not a non-negative integer")),
        }
    }
    let dtype = match cursor.head()? {
        Head::Str(len) | Head::Bin(len) => cursor.text(len, MAX_DTYPE_LEN, "a dtype name")?,
        _ => return Err(bad("has a dtype name that is not a string")),
    };
    if dtype.is_empty() || !dtype.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(bad("has a dtype name that is not a numpy dtype name"));
    }
    let Head::Bin(len) = cursor.head()? else { return Err(bad("has its data in something other than bytes")) };
    Ok(InnerHeader { start, shape, dtype, data_start: cursor.pos(), len })
}

/// An ndarray ext's inner header, read by [`inner_header`].
struct InnerHeader {
    start: u64,
    shape: Vec<usize>,
    dtype: String,
    data_start: u64,
    len: u64,
}

/// [`inner_header`], checked to fill the ext record exactly. Returns the shape, dtype name and the data's
/// (start, length); the cursor is left at the data.
fn ndarray_header(cursor: &mut Cursor, ext_len: u64) -> Result<(Vec<usize>, String, u64, u64)> {
    if ext_len > cursor.remaining() {
        return Err(Error::Truncated(format!(
            "The array stored at byte {} of the msgpack file claims a {ext_len}-byte record, past the end of the {}-byte file; it may be cut short.",
            cursor.pos(),
            cursor.file_len()
        )));
    }
    let InnerHeader { start, shape, dtype, data_start, len } = inner_header(cursor)?;
    if (data_start - start).checked_add(len) != Some(ext_len) {
        return Err(malformed(format!(
            "The array stored at byte {start} of the msgpack file holds {len} bytes of data that do not fill its {ext_len}-byte record."
        )));
    }
    Ok((shape, dtype, data_start, len))
}

/// The dtype patchlens lists for a numpy dtype name, and its item size when known.
fn dtype_of(name: &str) -> (DType, Option<u64>) {
    match name {
        "float32" => (DType::F32, Some(4)),
        "float16" => (DType::F16, Some(2)),
        "bfloat16" => (DType::BF16, Some(2)),
        "float64" => (DType::F64, Some(8)),
        "float8_e4m3fn" => (DType::F8E4M3, Some(1)),
        "float8_e5m2" => (DType::F8E5M2, Some(1)),
        other => {
            let size = match other {
                "bool" | "int8" | "uint8" => Some(1),
                "int16" | "uint16" => Some(2),
                "int32" | "uint32" => Some(4),
                "int64" | "uint64" | "complex64" => Some(8),
                "complex128" => Some(16),
                _ => None,
            };
            (DType::Other(other.to_string()), size)
        }
    }
}

/// Walks the tree once, collecting the tensors in file order.
struct Walker<'a> {
    cursor: Cursor<'a>,
    entries: Vec<Entry>,
    seen: HashSet<String>,
    name_bytes: usize,
    values: u64,
    other_leaves: u64,
}

impl Walker<'_> {
    fn count(&mut self) -> Result<()> {
        self.values += 1;
        if self.values > MAX_VALUES {
            return Err(Error::TooLarge(format!(
                "The msgpack file holds more than {MAX_VALUES} values, more than patchlens walks through."
            )));
        }
        Ok(())
    }

    fn value(&mut self, path: &mut String, depth: usize) -> Result<()> {
        self.count()?;
        if depth > MAX_DEPTH {
            return Err(Error::Unsupported(format!(
                "The msgpack file nests maps or lists more than {MAX_DEPTH} levels deep, deeper than any Flax checkpoint."
            )));
        }
        match self.cursor.head()? {
            Head::Map(count) => self.map(count, path, depth + 1),
            Head::Array(count) => self.list(count, path, depth + 1),
            Head::Ext(EXT_NDARRAY | EXT_NPSCALAR, len) => {
                let (shape, dtype, start, len) = ndarray_header(&mut self.cursor, len)?;
                self.cursor.skip(len)?;
                let info = self.info(path, shape, &dtype, len)?;
                self.push(Entry { info, runs: vec![(start, len)] })
            }
            Head::Str(len) | Head::Bin(len) | Head::Ext(_, len) => {
                self.other_leaves += 1;
                self.cursor.skip(len)
            }
            Head::Nil | Head::Bool(_) | Head::Int(_) | Head::Float(_) => {
                self.other_leaves += 1;
                Ok(())
            }
        }
    }

    /// A tensor's info, once its stored bytes are checked against its shape and dtype.
    fn info(&self, name: &str, shape: Vec<usize>, dtype: &str, stored: u64) -> Result<TensorInfo> {
        let (dtype, size) = dtype_of(dtype);
        let info = TensorInfo { name: name.to_string(), dtype, shape };
        let count = info.element_count()?;
        if let Some(size) = size {
            let needed = (count as u64).checked_mul(size);
            if needed != Some(stored) {
                return Err(malformed(format!(
                    "Tensor {name} claims shape {} of {} but {stored} bytes are stored for it.",
                    info.shape_text(),
                    info.dtype
                )));
            }
        }
        Ok(info)
    }

    fn push(&mut self, entry: Entry) -> Result<()> {
        if self.entries.len() >= MAX_TENSORS {
            return Err(Error::TooLarge(format!(
                "The msgpack file holds more than {MAX_TENSORS} arrays, more than patchlens lists."
            )));
        }
        self.name_bytes += entry.info.name.len();
        if self.name_bytes > MAX_NAME_BYTES {
            return Err(Error::TooLarge(format!(
                "The names of the msgpack file's arrays add up to more than the {} MiB patchlens keeps.",
                MAX_NAME_BYTES >> 20
            )));
        }
        if !self.seen.insert(entry.info.name.clone()) {
            return Err(malformed(format!("The msgpack file has two arrays named {}.", entry.info.name)));
        }
        self.entries.push(entry);
        Ok(())
    }

    /// A map key as text: flax writes strings; msgpack_restore also accepts integers and bytes.
    fn key(&mut self) -> Result<String> {
        self.count()?;
        let at = self.cursor.pos();
        match self.cursor.head()? {
            Head::Str(len) | Head::Bin(len) => self.cursor.text(len, MAX_KEY_LEN, "a map key"),
            Head::Int(i) => Ok(i.to_string()),
            _ => Err(malformed(format!(
                "The msgpack file has a map key at byte {at} that is neither a string nor an integer."
            ))),
        }
    }

    fn map(&mut self, count: u64, path: &mut String, depth: usize) -> Result<()> {
        // Each entry takes at least two bytes (a one-byte key and a one-byte value).
        if count > self.cursor.remaining() / 2 {
            return Err(self.too_many(count, "entries"));
        }
        for index in 0..count {
            let key = self.key()?;
            if key == CHUNKED_MARKER {
                if index != 0 {
                    return Err(Error::Unsupported(format!(
                        "Array {path} is chunked with its {CHUNKED_MARKER} key after others, which patchlens does not read."
                    )));
                }
                return self.chunked(count, path);
            }
            self.child(path, &key, depth)?;
        }
        Ok(())
    }

    fn list(&mut self, count: u64, path: &mut String, depth: usize) -> Result<()> {
        if count > self.cursor.remaining() {
            return Err(self.too_many(count, "items"));
        }
        for index in 0..count {
            self.child(path, &index.to_string(), depth)?;
        }
        Ok(())
    }

    fn too_many(&self, count: u64, what: &str) -> Error {
        malformed(format!(
            "The msgpack file claims {count} {what} at byte {}, more than its {} bytes could hold.",
            self.cursor.pos(),
            self.cursor.file_len()
        ))
    }

    fn child(&mut self, path: &mut String, key: &str, depth: usize) -> Result<()> {
        let parent = path.len();
        if !path.is_empty() {
            path.push('/');
        }
        path.push_str(key);
        if path.len() > MAX_NAME_LEN {
            return Err(Error::TooLarge(format!(
                "The msgpack file has a key path longer than the {MAX_NAME_LEN} bytes patchlens keeps."
            )));
        }
        self.value(path, depth)?;
        path.truncate(parent);
        Ok(())
    }

    /// flax `_chunk`: {marker: True, "shape": {"0": d0, …}, "chunks": {"0": 1-D ndarray, …}}, read back
    /// by `_unchunk` as the chunks concatenated and reshaped. `count` counts the marker's entry.
    fn chunked(&mut self, count: u64, path: &str) -> Result<()> {
        let bad = |what: &str| malformed(format!("The chunked array {path} {what}."));
        if self.cursor.head()? != Head::Bool(true) {
            return Err(bad("has a marker that is not true"));
        }
        let (mut shape, mut chunks) = (None, None);
        for _ in 1..count {
            let key = self.key()?;
            let Head::Map(n) = self.cursor.head()? else {
                return Err(bad("has a shape or chunk list that is not a map"));
            };
            if n > MAX_CHUNKS.max(MAX_DIMS) {
                return Err(bad(&format!("claims {n} chunks or dimensions")));
            }
            match key.as_str() {
                "shape" if shape.is_none() => shape = Some(self.indexed(n, path, |w, _| w.dimension(path))?),
                "chunks" if chunks.is_none() => chunks = Some(self.indexed(n, path, |w, _| w.chunk(path))?),
                _ => return Err(bad(&format!("has an unexpected key {key}"))),
            }
        }
        let (Some(shape), Some(chunks)) = (shape, chunks) else { return Err(bad("lacks its shape or its chunks")) };
        let Some((dtype, _, _)) = chunks.first() else { return Err(bad("has no chunks")) };
        if chunks.iter().any(|(d, _, _)| d != dtype) {
            return Err(bad("mixes chunks of different dtypes"));
        }
        let stored = chunks.iter().map(|(_, _, run)| run.1).sum();
        let info = self.info(path, shape, dtype, stored)?;
        let counted = chunks.iter().try_fold(0usize, |sum, (_, n, _)| sum.checked_add(*n));
        if counted != Some(info.element_count()?) {
            return Err(bad("has chunks that do not add up to its shape"));
        }
        self.push(Entry { info, runs: chunks.into_iter().map(|(_, _, run)| run).collect() })
    }

    /// A map {"0": v0, "1": v1, …} read into a list (flax `_dict_to_tuple`); the keys may come in any order.
    fn indexed<T>(
        &mut self,
        n: u64,
        path: &str,
        mut item: impl FnMut(&mut Self, usize) -> Result<T>,
    ) -> Result<Vec<T>> {
        let mut slots: Vec<Option<T>> = (0..n).map(|_| None).collect();
        for _ in 0..n {
            let key = self.key()?;
            let slot = key.parse::<usize>().ok().and_then(|i| slots.get_mut(i)).filter(|s| s.is_none());
            let Some(slot) = slot else {
                return Err(malformed(format!("The chunked array {path} has a stray or repeated index {key}.")));
            };
            *slot = Some(item(self, 0)?);
        }
        Ok(slots.into_iter().flatten().collect())
    }

    fn dimension(&mut self, path: &str) -> Result<usize> {
        match self.cursor.head()? {
            Head::Int(d) if d >= 0 => usize::try_from(d).map_err(|_| {
                malformed(format!("The chunked array {path} has a dimension too large for this machine."))
            }),
            _ => {
                Err(malformed(format!("The chunked array {path} has a dimension that is not a non-negative integer.")))
            }
        }
    }

    /// One chunk: a 1-D ndarray. Returns its dtype name, element count and data run.
    fn chunk(&mut self, path: &str) -> Result<(String, usize, (u64, u64))> {
        let Head::Ext(EXT_NDARRAY, len) = self.cursor.head()? else {
            return Err(malformed(format!("The chunked array {path} has a chunk that is not an array.")));
        };
        let (shape, dtype, start, len) = ndarray_header(&mut self.cursor, len)?;
        self.cursor.skip(len)?;
        let [count] = shape[..] else {
            return Err(malformed(format!("The chunked array {path} has a chunk that is not 1-D.")));
        };
        Ok((dtype, count, (start, len)))
    }
}

/// The tensors of the whole file, and how many other leaves it holds.
fn walk(source: &dyn ByteSource) -> Result<(Vec<Entry>, u64)> {
    let mut cursor = Cursor::new(source, super::HEAD_BYTES as usize);
    let Head::Map(count) = cursor.head()? else {
        return Err(Error::UnknownFormat(
            "This msgpack file does not hold a map of names to arrays, as Flax writes.".into(),
        ));
    };
    let mut walker =
        Walker { cursor, entries: Vec::new(), seen: HashSet::new(), name_bytes: 0, values: 1, other_leaves: 0 };
    walker.map(count, &mut String::new(), 1)?;
    let trailing = walker.cursor.remaining();
    if trailing > 0 {
        return Err(malformed(format!(
            "The msgpack file has {trailing} bytes after its end; it may be two files joined or a damaged one."
        )));
    }
    Ok((walker.entries, walker.other_leaves))
}

impl Msgpack {
    pub fn open(source: Rc<dyn ByteSource>) -> Result<Self> {
        let (entries, other_leaves) = walk(&*source)?;
        let names = entries.iter().map(|e| e.info.name.clone()).collect();
        Ok(Msgpack { source, names, entries, other_leaves })
    }

    fn entry(&self, index: usize) -> Result<&Entry> {
        self.entries.get(index).ok_or_else(|| no_such_index(index))
    }
}

impl Container for Msgpack {
    fn format(&self) -> &'static str {
        "msgpack"
    }

    /// Flax's `nn.Conv` kernels are (kh, kw, in, out).
    fn layout(&self) -> KernelLayout {
        KernelLayout::Hwio
    }

    fn names(&self) -> &[String] {
        &self.names
    }

    fn info(&self, index: usize) -> Result<TensorInfo> {
        Ok(self.entry(index)?.info.clone())
    }

    fn read(&self, index: usize) -> Result<Tensor> {
        let entry = self.entry(index)?;
        let info = entry.info.clone();
        // numpy's tobytes('C') in the writer's byte order: every machine flax runs on is little-endian.
        if let [(start, len)] = entry.runs[..] {
            return read_contiguous(&*self.source, info, start, len, ByteOrder::Little);
        }
        let size = info.dtype.float_size().ok_or_else(|| {
            Error::NotDrawable(format!(
                "Tensor {} holds {} values; only float tensors can be drawn.",
                info.name, info.dtype
            ))
        })?;
        let stored = entry.runs.iter().map(|run| run.1).sum();
        let len = checked_data_len(&info, size, stored)?;
        let mut bytes = Vec::with_capacity(len);
        for &(start, run) in &entry.runs {
            // Each run is part of `len`, which fits: checked just above.
            let run = usize::try_from(run)
                .map_err(|_| malformed(format!("Tensor {} has a chunk too large to read.", info.name)))?;
            bytes.extend(read_vec(&*self.source, start, run)?);
        }
        let values = decode_floats(&bytes, &info.dtype, ByteOrder::Little)?;
        Ok(Tensor { info, values, order: MemoryOrder::C })
    }

    fn notes(&self) -> Vec<String> {
        match self.other_leaves {
            0 => Vec::new(),
            1 => {
                vec!["The file also holds one value that is not an array (a number, string or None); it is not listed."
                    .into()]
            }
            n => vec![format!(
                "The file also holds {n} values that are not arrays (numbers, strings, None); they are not listed."
            )],
        }
    }
}

#[cfg(test)]
#[path = "msgpack_tests.rs"]
mod tests;
