//! safetensors: an 8-byte little-endian header length, that many bytes of JSON naming each tensor's
//! dtype, shape and byte range, then the data. Opening reads the header (one read, two if it is
//! longer than the first guess) and checks it as the safetensors crate does; a tensor is one read.

use super::{read_contiguous, Container};
use crate::error::{malformed, no_such_index, Error, Result};
use crate::kernel::KernelLayout;
use crate::sorting;
use crate::source::{read_vec, ByteSource};
use crate::tensor::{ByteOrder, DType, Tensor, TensorInfo};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use std::collections::HashSet;
use std::fmt;
use std::rc::Rc;

/// Bytes of the little-endian u64 header length that starts every file.
const LENGTH_FIELD: usize = 8;
/// The safetensors crate's own `MAX_HEADER_SIZE`: it refuses longer headers, so no valid file has one.
pub const MAX_HEADER_SIZE: u64 = 100_000_000;
/// Bytes read up front: a ViT-L header is ~40 KB, so one read usually brings all of it.
const FIRST_READ: u64 = 64 << 10;
/// `__metadata__` entries shown in a note, and characters of each value: a note is one short sentence.
const MAX_NOTE_ENTRIES: usize = 6;
const MAX_NOTE_VALUE_CHARS: usize = 80;

/// True if `prefix` (the file's first bytes) looks like a safetensors header start: a plausible
/// length and a JSON object right after it. Checked after the formats that have a magic number.
pub(crate) fn looks_like(prefix: &[u8]) -> bool {
    match (prefix.get(..LENGTH_FIELD), prefix.get(LENGTH_FIELD)) {
        (Some(len), Some(b'{')) => header_length(len) >= 2,
        _ => false,
    }
}

fn header_length(field: &[u8]) -> u64 {
    let mut bytes = [0u8; LENGTH_FIELD];
    bytes.copy_from_slice(&field[..LENGTH_FIELD]);
    u64::from_le_bytes(bytes)
}

/// One tensor as the header places it: absolute byte range in the file.
struct Entry {
    info: TensorInfo,
    start: u64,
    len: u64,
}

pub struct Safetensors {
    source: Rc<dyn ByteSource>,
    names: Vec<String>,
    entries: Vec<Entry>,
    notes: Vec<String>,
    /// The kernel layout of the library that wrote the file, when its metadata names one other than PyTorch.
    convention: Option<KernelLayout>,
}

impl Safetensors {
    pub fn open(source: Rc<dyn ByteSource>) -> Result<Self> {
        let file_len = source.len();
        let mut bytes = read_vec(&*source, 0, FIRST_READ.min(file_len) as usize)?;
        let field = bytes
            .get(..LENGTH_FIELD)
            .ok_or_else(|| Error::Truncated("The file ends inside the safetensors header length (8 bytes).".into()))?;
        let header_len = header_length(field);
        if header_len > MAX_HEADER_SIZE {
            return Err(Error::TooLarge(format!(
                "The safetensors header says it is {header_len} bytes long, more than the 100 MB patchlens reads."
            )));
        }
        let header_end = LENGTH_FIELD as u64 + header_len;
        if header_end > file_len {
            return Err(Error::Truncated(format!(
                "The safetensors header says it is {header_len} bytes long, but only {} bytes follow its length field.",
                file_len - LENGTH_FIELD as u64
            )));
        }
        if header_end > bytes.len() as u64 {
            let rest = read_vec(&*source, bytes.len() as u64, (header_end - bytes.len() as u64) as usize)?;
            bytes.extend_from_slice(&rest);
        }
        let json = bytes
            .get(LENGTH_FIELD..header_end as usize)
            .ok_or_else(|| Error::Read("Reading the safetensors header came back short.".into()))?;
        let header = parse_header(json)?;
        let entries = place(header.tensors, header_end, file_len)?;
        let names = entries.iter().map(|e| e.info.name.clone()).collect();
        let notes = metadata_note(&header.metadata).into_iter().collect();
        let convention = writer_convention(&header.metadata);
        Ok(Safetensors { source, names, entries, notes, convention })
    }

    fn entry(&self, index: usize) -> Result<&Entry> {
        self.entries.get(index).ok_or_else(|| no_such_index(index))
    }
}

/// What the JSON header says about one tensor (the crate's `TensorInfo`).
#[derive(Deserialize)]
struct RawTensor {
    dtype: String,
    shape: Vec<u64>,
    data_offsets: (u64, u64),
}

/// The header with tensors in the order written and `__metadata__` apart.
struct Header {
    tensors: Vec<(String, RawTensor)>,
    metadata: Vec<(String, serde_json::Value)>,
}

impl<'de> Deserialize<'de> for Header {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        deserializer.deserialize_map(HeaderVisitor)
    }
}

struct HeaderVisitor;

impl<'de> Visitor<'de> for HeaderVisitor {
    type Value = Header;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object of tensors")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Header, A::Error> {
        let mut header = Header { tensors: Vec::new(), metadata: Vec::new() };
        let mut metadata_seen = false;
        while let Some(key) = map.next_key::<String>()? {
            if key == "__metadata__" {
                if metadata_seen {
                    return Err(de::Error::custom("__metadata__ appears twice"));
                }
                metadata_seen = true;
                let entries: serde_json::Map<String, serde_json::Value> = map.next_value()?;
                header.metadata = entries.into_iter().collect();
            } else {
                let tensor = map.next_value()?;
                header.tensors.push((key, tensor));
            }
        }
        Ok(header)
    }
}

fn parse_header(json: &[u8]) -> Result<Header> {
    let header: Header = serde_json::from_slice(json).map_err(|e| {
        let what = if e.is_data() { "does not describe tensors as the format does" } else { "is not valid JSON" };
        malformed(format!("The safetensors header {what} ({e})."))
    })?;
    let mut seen = HashSet::with_capacity(header.tensors.len());
    if let Some((name, _)) = header.tensors.iter().find(|(name, _)| !seen.insert(name.as_str())) {
        return Err(malformed(format!("The safetensors header names tensor {name} twice.")));
    }
    Ok(header)
}

/// The dtype a safetensors dtype code stands for, and its bits per element when the crate knows it.
fn dtype_of(code: &str) -> (DType, Option<u64>) {
    let other = |name: &str| DType::Other(name.to_string());
    match code {
        "F64" => (DType::F64, Some(64)),
        "F32" => (DType::F32, Some(32)),
        "F16" => (DType::F16, Some(16)),
        "BF16" => (DType::BF16, Some(16)),
        "F8_E4M3" => (DType::F8E4M3, Some(8)),
        "F8_E5M2" => (DType::F8E5M2, Some(8)),
        "I64" => (other("int64"), Some(64)),
        "U64" => (other("uint64"), Some(64)),
        "I32" => (other("int32"), Some(32)),
        "U32" => (other("uint32"), Some(32)),
        "I16" => (other("int16"), Some(16)),
        "U16" => (other("uint16"), Some(16)),
        "I8" => (other("int8"), Some(8)),
        "U8" => (other("uint8"), Some(8)),
        "BOOL" => (other("bool"), Some(8)),
        "C64" => (other("complex64"), Some(64)),
        "F8_E8M0" => (other("float8_e8m0fnu"), Some(8)),
        "F8_E4M3FNUZ" => (other("float8_e4m3fnuz"), Some(8)),
        "F8_E5M2FNUZ" => (other("float8_e5m2fnuz"), Some(8)),
        "F6_E2M3" => (other("float6_e2m3fn"), Some(6)),
        "F6_E3M2" => (other("float6_e3m2fn"), Some(6)),
        "F4" => (other("float4_e2m1fn"), Some(4)),
        _ => (other(code), None),
    }
}

/// Orders tensors by data offset (file order, as the crate does) and checks what the crate checks:
/// ranges contiguous from 0 with no holes or overlaps, each exactly shape × dtype bytes, and the last
/// ending at the end of the file. Returns them with absolute offsets.
fn place(mut tensors: Vec<(String, RawTensor)>, data_start: u64, file_len: u64) -> Result<Vec<Entry>> {
    sorting::sort_by_key(&mut tensors, |(_, t)| t.data_offsets);
    let mut expected_start = 0u64;
    let mut entries = Vec::with_capacity(tensors.len());
    for (name, raw) in tensors {
        let (start, end) = raw.data_offsets;
        if start != expected_start || end < start {
            return Err(malformed(format!(
                "Tensor {name} says its data is at bytes {start}..{end}, but the previous tensor ends at {expected_start}; safetensors data must follow without gaps or overlaps."
            )));
        }
        expected_start = end;
        let (dtype, bits) = dtype_of(&raw.dtype);
        let shape = raw
            .shape
            .iter()
            .map(|&d| usize::try_from(d))
            .collect::<std::result::Result<Vec<usize>, _>>()
            .map_err(|_| Error::TooLarge(format!("Tensor {name} has a dimension too large to address.")))?;
        if let Some(bits) = bits {
            let overflow =
                || Error::TooLarge(format!("Tensor {name} claims a shape whose size overflows when multiplied out."));
            let count = raw.shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d)).ok_or_else(overflow)?;
            let total_bits = count.checked_mul(bits).ok_or_else(overflow)?;
            let size =
                if total_bits % 8 == 0 { format!("{} bytes", total_bits / 8) } else { format!("{total_bits} bits") };
            if total_bits % 8 != 0 || total_bits / 8 != end - start {
                return Err(malformed(format!(
                    "Tensor {name} is {} of shape {:?}, which is {size}, but its data range holds {} bytes.",
                    raw.dtype,
                    raw.shape,
                    end - start
                )));
            }
        }
        let info = TensorInfo { name, dtype, shape };
        entries.push(Entry { info, start: data_start.saturating_add(start), len: end - start });
    }
    let data_len = file_len - data_start;
    if expected_start > data_len {
        return Err(Error::Truncated(format!(
            "The safetensors header places tensor data up to byte {expected_start} after it, but only {data_len} bytes follow."
        )));
    }
    if expected_start < data_len {
        return Err(malformed(format!(
            "The file has {} bytes after the last tensor's data; the safetensors format allows none.",
            data_len - expected_start
        )));
    }
    Ok(entries)
}

/// The kernel layout of the library that wrote the file, from `__metadata__["format"]` as transformers and the
/// safetensors bindings write it: `None` for PyTorch's (`pt`, or no format), the stated (out, in, kh, kw);
/// TensorFlow's, Flax's, JAX's and NumPy's (kh, kw, in, out) and MLX's (out, kh, kw, in) are only conventions,
/// each 4-D tensor's shape having the last word, as in an `.npz`.
fn writer_convention(metadata: &[(String, serde_json::Value)]) -> Option<KernelLayout> {
    let format = metadata.iter().find(|(key, _)| key == "format")?.1.as_str()?;
    match format.to_ascii_lowercase().as_str() {
        "tf" | "tensorflow" | "keras" | "flax" | "jax" | "np" | "numpy" => Some(KernelLayout::Hwio),
        "mlx" => Some(KernelLayout::Ohwi),
        _ => None,
    }
}

/// `__metadata__` as one short sentence: its first entries by key, long values cut.
fn metadata_note(metadata: &[(String, serde_json::Value)]) -> Option<String> {
    if metadata.is_empty() {
        return None;
    }
    let shown: Vec<String> = metadata
        .iter()
        .take(MAX_NOTE_ENTRIES)
        .map(|(key, value)| {
            let text = match value {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let cut: String = text.chars().take(MAX_NOTE_VALUE_CHARS).collect();
            let ellipsis = if cut.len() < text.len() { "…" } else { "" };
            format!("{key} = {cut}{ellipsis}")
        })
        .collect();
    let more = metadata.len().saturating_sub(MAX_NOTE_ENTRIES);
    let more = if more > 0 { format!(" (and {more} more)") } else { String::new() };
    let text = format!("Metadata: {}{more}", shown.join("; "));
    Some(if text.ends_with('.') { text } else { text + "." })
}

impl Container for Safetensors {
    fn format(&self) -> &'static str {
        "safetensors"
    }

    fn layout(&self) -> KernelLayout {
        self.convention.unwrap_or(KernelLayout::Oihw)
    }

    fn layout_is_stated(&self) -> bool {
        self.convention.is_none()
    }

    fn names(&self) -> &[String] {
        &self.names
    }

    fn info(&self, index: usize) -> Result<TensorInfo> {
        Ok(self.entry(index)?.info.clone())
    }

    fn read(&self, index: usize) -> Result<Tensor> {
        let entry = self.entry(index)?;
        read_contiguous(&*self.source, entry.info.clone(), entry.start, entry.len, ByteOrder::Little)
    }

    fn read_leading(&self, index: usize, count: usize) -> Result<Option<Tensor>> {
        let entry = self.entry(index)?;
        // C order: the first slices are the first bytes.
        match super::leading(&entry.info, count) {
            Some(info) => read_contiguous(&*self.source, info, entry.start, entry.len, ByteOrder::Little).map(Some),
            None => Ok(None),
        }
    }

    fn notes(&self) -> Vec<String> {
        self.notes.clone()
    }
}

#[cfg(test)]
#[path = "safetensors_tests.rs"]
mod tests;
