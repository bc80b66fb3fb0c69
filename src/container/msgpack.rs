//! Flax / JAX msgpack (`flax.serialization.to_bytes`, Hugging Face's `flax_model.msgpack`): nested maps
//! with string keys whose leaves are ext values holding a small msgpack (shape, dtype name, raw bytes).
//! Opening walks the tree with ranged reads, skipping every payload by its length; names are key paths
//! joined with '/'; reading a tensor reads exactly its bytes (a chunked array's chunks, in order).

#[path = "msgpack_chunked.rs"]
mod chunked;
#[path = "msgpack_cursor.rs"]
mod cursor;
#[path = "msgpack_probe.rs"]
mod probe;

use super::{read_contiguous, Container};
use crate::error::{malformed, no_such_index, Error, Result};
use crate::kernel::KernelLayout;
use crate::source::{read_vec, ByteSource};
use crate::tensor::{checked_data_len, decode_floats, ByteOrder, DType, MemoryOrder, Tensor, TensorInfo};
use cursor::{Cursor, Head};
pub(crate) use probe::looks_like;
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
