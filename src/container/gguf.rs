//! GGUF (ggml's format for llama.cpp models and CLIP/LLaVA projectors): typed metadata, tensor infos
//! with dims stored fastest-first, then aligned tensor data. Opening walks the header through large
//! buffered reads (skipping metadata by length); reading a tensor reads exactly its bytes.

#[path = "gguf_cursor.rs"]
mod cursor;

use super::{read_contiguous, Container};
use crate::error::{malformed, no_such_index, Error, Result};
use crate::kernel::KernelLayout;
use crate::source::ByteSource;
use crate::tensor::{ByteOrder, DType, Tensor, TensorInfo};
use cursor::{Cursor, TYPE_STRING, TYPE_UINT32};
use std::collections::HashSet;
use std::rc::Rc;

pub(crate) const MAGIC: &[u8; 4] = b"GGUF";
/// The spec's default when `general.alignment` is absent.
const DEFAULT_ALIGNMENT: u64 = 32;
/// ggml's GGML_MAX_DIMS: ggml refuses tensors with more dimensions.
const MAX_DIMS: u32 = 4;
/// Keys are at most 65535 bytes by the spec. Tensor names are at most 64 (ggml's GGML_MAX_NAME);
/// patchlens allows more, but not unbounded, as it keeps every name.
const MAX_KEY_LEN: usize = 65_535;
const MAX_NAME_LEN: usize = 1024;
/// Real models have a few thousand tensors at most; this bounds the names kept for a hostile header.
const MAX_TENSORS: u64 = 1 << 16;
/// Smallest possible metadata entry (key length, value type, 1-byte value) and tensor info (name
/// length, dims count, type, offset): bounds the counts a file of a given size can truly hold.
const MIN_KV_BYTES: u64 = 13;
const MIN_TENSOR_INFO_BYTES: u64 = 24;
/// Tensor infos allocated for up front; more grow the list as they are actually read.
const INFOS_PREALLOCATED: u64 = 4096;
/// String values shown in notes are cut to this; longer ones are skipped, not read.
const MAX_NOTE_STRING: usize = 4096;
const MAX_NOTE_CHARS: usize = 60;

/// Metadata shown in notes: the model as a whole, then a CLIP/LLaVA projector's vision settings.
const MODEL_KEYS: [(&str, &str); 2] = [("general.architecture", "architecture"), ("general.name", "name")];
const CLIP_KEYS: [(&str, &str); 3] = [
    ("clip.vision.image_size", "image size"),
    ("clip.vision.patch_size", "patch size"),
    ("clip.projector_type", "projector"),
];

/// What a ggml type number stands for: its name, elements per block, bytes per block and the dtype
/// patchlens lists (gguf-py constants.py `GGMLQuantizationType` and `GGML_QUANT_SIZES`).
fn ggml_type(number: u32) -> Option<(&'static str, u64, u64)> {
    const QK_K: u64 = 256;
    Some(match number {
        0 => ("F32", 1, 4),
        1 => ("F16", 1, 2),
        2 => ("Q4_0", 32, 2 + 16),
        3 => ("Q4_1", 32, 2 + 2 + 16),
        6 => ("Q5_0", 32, 2 + 4 + 16),
        7 => ("Q5_1", 32, 2 + 2 + 4 + 16),
        8 => ("Q8_0", 32, 2 + 32),
        9 => ("Q8_1", 32, 4 + 4 + 32),
        10 => ("Q2_K", QK_K, 2 + 2 + QK_K / 16 + QK_K / 4),
        11 => ("Q3_K", QK_K, 2 + QK_K / 4 + QK_K / 8 + 12),
        12 => ("Q4_K", QK_K, 2 + 2 + QK_K / 2 + 12),
        13 => ("Q5_K", QK_K, 2 + 2 + QK_K / 2 + QK_K / 8 + 12),
        14 => ("Q6_K", QK_K, 2 + QK_K / 2 + QK_K / 4 + QK_K / 16),
        15 => ("Q8_K", QK_K, 4 + QK_K + QK_K / 8),
        16 => ("IQ2_XXS", QK_K, 2 + QK_K / 4),
        17 => ("IQ2_XS", QK_K, 2 + QK_K / 4 + QK_K / 32),
        18 => ("IQ3_XXS", QK_K, 2 + QK_K / 4 + QK_K / 8),
        19 => ("IQ1_S", QK_K, 2 + QK_K / 8 + QK_K / 16),
        20 => ("IQ4_NL", 32, 2 + 16),
        21 => ("IQ3_S", QK_K, 2 + QK_K / 4 + QK_K / 8 + QK_K / 32 + 4),
        22 => ("IQ2_S", QK_K, 2 + QK_K / 4 + QK_K / 16),
        23 => ("IQ4_XS", QK_K, 2 + 2 + QK_K / 2 + QK_K / 64),
        24 => ("I8", 1, 1),
        25 => ("I16", 1, 2),
        26 => ("I32", 1, 4),
        27 => ("I64", 1, 8),
        28 => ("F64", 1, 8),
        29 => ("IQ1_M", QK_K, QK_K / 8 + QK_K / 16 + QK_K / 32),
        30 => ("BF16", 1, 2),
        34 => ("TQ1_0", QK_K, 2 + 4 * 13),
        35 => ("TQ2_0", QK_K, 2 + 64),
        39 => ("MXFP4", 32, 1 + 16),
        40 => ("NVFP4", 64, 4 + 32),
        41 => ("Q1_0", 128, 2 + 16),
        _ => return None,
    })
}

fn dtype_of(name: &str) -> DType {
    match name {
        "F32" => DType::F32,
        "F16" => DType::F16,
        "BF16" => DType::BF16,
        "F64" => DType::F64,
        "I8" => DType::Other("int8".into()),
        "I16" => DType::Other("int16".into()),
        "I32" => DType::Other("int32".into()),
        "I64" => DType::Other("int64".into()),
        quantized => DType::Quantized(quantized.to_string()),
    }
}

/// One tensor: its info (shape in PyTorch order) and where its bytes are.
struct Entry {
    info: TensorInfo,
    start: u64,
    len: u64,
}

/// A tensor info as stored, before the data section's start is known.
struct RawInfo {
    name: String,
    ne: Vec<u64>,
    type_number: u32,
    offset: u64,
}

pub struct Gguf {
    source: Rc<dyn ByteSource>,
    order: ByteOrder,
    names: Vec<String>,
    entries: Vec<Entry>,
    notes: Vec<String>,
}

impl Gguf {
    pub fn open(source: Rc<dyn ByteSource>) -> Result<Self> {
        let mut cursor = Cursor::new(&*source, 0);
        if cursor.bytes(4, "its magic number")? != MAGIC {
            return Err(malformed("This is not a GGUF file (the GGUF magic is missing)."));
        }
        let mut version = cursor.u32("its version")?;
        if version & 0xffff == 0 && version != 0 {
            // The version reads byte-swapped: the file was written big-endian (gguf-py's --bigendian).
            cursor.order = ByteOrder::Big;
            version = version.swap_bytes();
        }
        match version {
            2 | 3 => {}
            1 => {
                return Err(Error::Unsupported(
                    "This is a GGUF version 1 file, whose 32-bit counts patchlens does not read; convert it to version 3 with llama.cpp's tools.".into(),
                ))
            }
            v => return Err(Error::Unsupported(format!("GGUF version {v} is not supported (versions 2 and 3 are)."))),
        }
        let tensor_count = cursor.u64("its header")?;
        let kv_count = cursor.u64("its header")?;
        if kv_count > cursor.remaining() / MIN_KV_BYTES {
            return Err(malformed(format!(
                "The GGUF header claims {kv_count} metadata entries, more than the file's {} bytes could hold.",
                source.len()
            )));
        }
        let (alignment, notes) = read_metadata(&mut cursor, kv_count)?;
        if tensor_count > MAX_TENSORS {
            return Err(Error::TooLarge(format!(
                "The GGUF header claims {tensor_count} tensors, more than the {MAX_TENSORS} patchlens lists."
            )));
        }
        if tensor_count > cursor.remaining() / MIN_TENSOR_INFO_BYTES {
            return Err(malformed(format!(
                "The GGUF header claims {tensor_count} tensors, more than the file's {} bytes could describe.",
                source.len()
            )));
        }
        let mut raw = Vec::with_capacity(tensor_count.min(INFOS_PREALLOCATED) as usize);
        for _ in 0..tensor_count {
            raw.push(read_tensor_info(&mut cursor)?);
        }
        let data_start = cursor
            .pos()
            .checked_next_multiple_of(alignment)
            .ok_or_else(|| malformed("The GGUF tensor data would start past any file's end."))?;
        let entries = place(raw, data_start, alignment, source.len())?;
        let names = entries.iter().map(|e| e.info.name.clone()).collect();
        let order = cursor.order;
        let mut notes = notes;
        if order == ByteOrder::Big {
            notes.push("This GGUF file is big-endian.".into());
        }
        Ok(Gguf { source, order, names, entries, notes })
    }

    fn entry(&self, index: usize) -> Result<&Entry> {
        self.entries.get(index).ok_or_else(|| no_such_index(index))
    }
}

/// Walks the metadata: keeps `general.alignment` and the few keys shown in notes, skips the rest
/// (keys are not kept, so a repeated key other than the alignment goes unnoticed).
fn read_metadata(cursor: &mut Cursor, kv_count: u64) -> Result<(u64, Vec<String>)> {
    let mut alignment = DEFAULT_ALIGNMENT;
    let mut shown: Vec<(&str, String)> = Vec::new();
    let mut alignment_seen = false;
    for _ in 0..kv_count {
        let key = cursor.string(MAX_KEY_LEN, "a metadata key")?;
        let value_type = cursor.u32("a metadata value type")?;
        let wanted = MODEL_KEYS.iter().chain(&CLIP_KEYS).find(|(k, _)| *k == key);
        let wanted = wanted.filter(|(_, label)| shown.iter().all(|(l, _)| l != label));
        if key == "general.alignment" {
            if alignment_seen {
                return Err(malformed("The GGUF metadata has general.alignment twice."));
            }
            alignment_seen = true;
            if value_type != TYPE_UINT32 {
                return Err(malformed("The GGUF general.alignment is not a u32 as the format requires."));
            }
            alignment = u64::from(cursor.u32("general.alignment")?);
            if !alignment.is_power_of_two() {
                return Err(malformed(format!("The GGUF alignment {alignment} is not a power of two.")));
            }
        } else if let Some(&(_, label)) = wanted {
            let max = if value_type == TYPE_STRING { MAX_NOTE_STRING } else { 0 };
            if let Some(text) = cursor.value_text(value_type, &key, max)? {
                let cut: String = text.chars().take(MAX_NOTE_CHARS).collect();
                let ellipsis = if cut.len() < text.len() { "…" } else { "" };
                shown.push((label, format!("{label} {cut}{ellipsis}")));
            }
        } else {
            cursor.skip_value(value_type, &key, 0)?;
        }
    }
    let sentence = |keys: &[(&str, &str)], opening: &str| {
        let parts: Vec<&str> = keys
            .iter()
            .filter_map(|(_, label)| shown.iter().find(|(l, _)| l == label))
            .map(|(_, t)| t.as_str())
            .collect();
        (!parts.is_empty()).then(|| format!("{opening}: {}.", parts.join(", ")))
    };
    let notes = [sentence(&MODEL_KEYS, "Model"), sentence(&CLIP_KEYS, "CLIP vision encoder")].into_iter().flatten();
    Ok((alignment, notes.collect()))
}

fn read_tensor_info(cursor: &mut Cursor) -> Result<RawInfo> {
    let name = cursor.string(MAX_NAME_LEN, "a tensor name")?;
    let what = format!("the info of tensor {name}");
    let n_dims = cursor.u32(&what)?;
    if n_dims > MAX_DIMS {
        return Err(Error::Unsupported(format!(
            "Tensor {name} has {n_dims} dimensions; GGUF tensors have at most {MAX_DIMS}."
        )));
    }
    let ne = (0..n_dims).map(|_| cursor.u64(&what)).collect::<Result<Vec<u64>>>()?;
    let type_number = cursor.u32(&what)?;
    let offset = cursor.u64(&what)?;
    Ok(RawInfo { name, ne, type_number, offset })
}

/// Checks each tensor as ggml does (known type, rows a whole number of blocks, size representable,
/// offset aligned) and that its bytes lie inside the file; keeps the order of the tensor infos.
fn place(raw: Vec<RawInfo>, data_start: u64, alignment: u64, file_len: u64) -> Result<Vec<Entry>> {
    let mut names = HashSet::with_capacity(raw.len());
    let mut entries = Vec::with_capacity(raw.len());
    for RawInfo { name, ne, type_number, offset } in raw {
        if !names.insert(name.clone()) {
            return Err(malformed(format!("The GGUF file has two tensors named {name}.")));
        }
        let too_large = || Error::TooLarge(format!("Tensor {name} claims a shape whose size overflows."));
        // ggml keeps sizes in int64_t.
        let count = ne
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .filter(|&c| c <= i64::MAX as u64)
            .ok_or_else(too_large)?;
        // Dims are stored fastest-varying first; PyTorch order is the reverse.
        let shape = ne
            .iter()
            .rev()
            .map(|&d| usize::try_from(d))
            .collect::<std::result::Result<Vec<usize>, _>>()
            .map_err(|_| too_large())?;
        let (dtype, len) = match ggml_type(type_number) {
            Some((type_name, block, type_size)) => {
                let row = ne.first().copied().unwrap_or(1);
                if row % block != 0 {
                    return Err(malformed(format!(
                        "Tensor {name} is {type_name} with rows of {row} values, not a whole number of {block}-value blocks."
                    )));
                }
                (dtype_of(type_name), (count / block).checked_mul(type_size).ok_or_else(too_large)?)
            }
            // A type newer than patchlens: listed, never read, so its size need not be known.
            None => (DType::Quantized(format!("ggml type {type_number}")), 0),
        };
        if offset % alignment != 0 {
            return Err(malformed(format!(
                "Tensor {name} has its data at offset {offset}, not a multiple of the file's alignment {alignment}."
            )));
        }
        let start = data_start.checked_add(offset).filter(|&s| s <= file_len);
        let end = start.and_then(|s| s.checked_add(len)).filter(|&e| e <= file_len);
        let (Some(start), Some(_)) = (start, end) else {
            return Err(Error::Truncated(format!(
                "Tensor {name}'s {len} bytes of data at offset {offset} of the data section (from byte {data_start}) run past the end of the {file_len}-byte file."
            )));
        };
        entries.push(Entry { info: TensorInfo { name, dtype, shape }, start, len });
    }
    Ok(entries)
}

impl Container for Gguf {
    fn format(&self) -> &'static str {
        "gguf"
    }

    fn layout(&self) -> KernelLayout {
        KernelLayout::Oihw
    }

    fn names(&self) -> &[String] {
        &self.names
    }

    fn info(&self, index: usize) -> Result<TensorInfo> {
        Ok(self.entry(index)?.info.clone())
    }

    fn read(&self, index: usize) -> Result<Tensor> {
        let entry = self.entry(index)?;
        read_contiguous(&*self.source, entry.info.clone(), entry.start, entry.len, self.order)
    }

    fn read_leading(&self, index: usize, count: usize) -> Result<Option<Tensor>> {
        let entry = self.entry(index)?;
        // C order: the first slices are the first bytes.
        match super::leading(&entry.info, count) {
            Some(info) => read_contiguous(&*self.source, info, entry.start, entry.len, self.order).map(Some),
            None => Ok(None),
        }
    }

    fn notes(&self) -> Vec<String> {
        self.notes.clone()
    }
}

#[cfg(test)]
#[path = "gguf_tests.rs"]
mod tests;
