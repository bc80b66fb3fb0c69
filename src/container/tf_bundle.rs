//! TensorFlow checkpoints (`tf.train.Checkpoint`, `tf.compat.v1.train.Saver`, a SavedModel's `variables/`):
//! a `<prefix>.index` sorted table (tf_table.rs) maps each tensor name to a BundleEntryProto (dtype, shape,
//! shard, offset, size, crc32c); the values are in `<prefix>.data-0000k-of-0000n`. Opening reads the index
//! (the first 64 KiB already read, the rest in one more read); drawing reads exactly the tensor's range of
//! its shard and checks its crc32c.

use super::tf_proto::{parse_entry, parse_header};
use super::tf_table::{self, BlockHandle, FOOTER_BYTES};
use super::{Container, NamedSource};
use crate::error::{no_such_index, Error, Result};
use crate::kernel::KernelLayout;
use crate::sorting;
use crate::source::{read_vec, ByteSource};
use crate::tensor::{checked_data_len, decode_floats, ByteOrder, MemoryOrder, Tensor, TensorInfo};
use std::rc::Rc;

/// The largest `.index` read: indexes of models with 100k variables are a few MB.
pub const MAX_INDEX_BYTES: u64 = 64 << 20;
/// Index blocks list data blocks; TF writes 256 KiB blocks, so even a huge index has a few hundred.
const MAX_DATA_BLOCKS: usize = 1 << 16;

/// The first bytes of an index: the first entry is the header, key "" (shared 0, key length 0), its
/// value a BundleHeaderProto, whose first field is num_shards (tag 0x08). No other format patchlens reads
/// starts with two zero bytes; the footer's magic is checked when the index is read.
pub(crate) fn looks_like_index(head: &[u8]) -> bool {
    matches!(head, [0, 0, len, 0x08, ..] if *len < 0x80)
}

pub(super) struct Entry {
    pub info: TensorInfo,
    pub shard: u64,
    pub offset: u64,
    pub size: u64,
    /// The masked crc32c TF stored for the tensor's bytes.
    pub crc: Option<u32>,
    /// Parts of a partitioned variable: listed, not joined.
    pub slices: usize,
}

pub struct TfBundle {
    names: Vec<String>,
    entries: Vec<Entry>,
    shards: Vec<NamedSource>,
    num_shards: u64,
    byte_order: ByteOrder,
    slice_keys: usize,
    saved_model: Vec<String>,
}

/// `X.data-00001-of-00002` → (`X`, 1, 2).
pub(crate) fn shard_name(name: &str) -> Option<(&str, u64, u64)> {
    let (prefix, rest) = name.rsplit_once(".data-")?;
    let (k, n) = rest.split_once("-of-")?;
    let number = |s: &str| (s.len() >= 5 && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten();
    Some((prefix, number(k)?, number(n)?))
}

/// The name TF gives shard `k` of `n` of the checkpoint `prefix`.
pub(crate) fn shard_file(prefix: &str, k: u64, n: u64) -> String {
    format!("{prefix}.data-{k:05}-of-{n:05}")
}

/// Files a SavedModel folder holds besides its variables.
pub(crate) const SAVED_MODEL_FILES: [&str; 3] = ["saved_model.pb", "fingerprint.pb", "keras_metadata.pb"];

impl TfBundle {
    /// Opens an index whose file name is not known (detected by its bytes): its shards are the
    /// companions named `….data-0000k-of-0000n` with one prefix.
    pub fn open(source: Rc<dyn ByteSource>, companions: &[NamedSource]) -> Result<Self> {
        let mut prefixes: Vec<&str> =
            companions.iter().filter_map(|c| shard_name(&c.name)).map(|(p, _, _)| p).collect();
        sorting::sort(&mut prefixes);
        prefixes.dedup();
        match prefixes.as_slice() {
            [prefix] => {
                let prefix = prefix.to_string();
                Self::open_named(source, &prefix, companions)
            }
            [] => {
                let bundle = Self::read_index(source, companions)?;
                Err(bundle.missing(None))
            }
            _ => Err(Error::Read(format!(
                "The data files of several TensorFlow checkpoints were given ({}); open each .index with its own data files.",
                prefixes.join(", ")
            ))),
        }
    }

    /// The data files the index of checkpoint `prefix` says it has (`prefix.data-0000k-of-0000n`), for
    /// callers that must fetch them first (URL mode, given only the index's address).
    pub fn data_files(source: Rc<dyn ByteSource>, prefix: &str) -> Result<Vec<String>> {
        let bundle = Self::read_index(source, &[])?;
        Ok((0..bundle.num_shards).map(|k| shard_file(prefix, k, bundle.num_shards)).collect())
    }

    /// Opens the index of the checkpoint `prefix` (`prefix.index`), its shards found among `companions`.
    pub fn open_named(source: Rc<dyn ByteSource>, prefix: &str, companions: &[NamedSource]) -> Result<Self> {
        let mut bundle = Self::read_index(source, companions)?;
        let count = bundle.num_shards;
        for k in 0..count {
            let name = shard_file(prefix, k, count);
            match companions.iter().find(|c| c.name == name) {
                Some(shard) => bundle.shards.push(shard.clone()),
                None => return Err(bundle.missing(Some(prefix))),
            }
        }
        Ok(bundle)
    }

    /// The sentence for data files that were not given (`prefix` when the index's name is known).
    fn missing(&self, prefix: Option<&str>) -> Error {
        let count = self.num_shards;
        let given: Vec<&str> = self.shards.iter().map(|s| s.name.as_str()).collect();
        let wanted: Vec<String> = (0..count)
            .map(|k| shard_file(prefix.unwrap_or("<name>"), k, count))
            .filter(|n| !given.contains(&n.as_str()))
            .collect();
        let which = if prefix.is_some() { "" } else { " (named like the .index file)" };
        Error::Read(format!(
            "This TensorFlow checkpoint index holds only names and shapes; its values are in {}{which}: open the .index together with its data file{}.",
            wanted.join(", "),
            if count == 1 { "" } else { "s" }
        ))
    }

    fn read_index(source: Rc<dyn ByteSource>, companions: &[NamedSource]) -> Result<Self> {
        let len = source.len();
        if len > MAX_INDEX_BYTES {
            return Err(Error::TooLarge(format!(
                "The TensorFlow checkpoint index is {len} bytes, more than the {} MiB an index can be.",
                MAX_INDEX_BYTES >> 20
            )));
        }
        if len < FOOTER_BYTES as u64 {
            return Err(Error::Truncated(
                "The TensorFlow checkpoint index is shorter than its 48-byte footer; it is cut short.".into(),
            ));
        }
        // The index is the checkpoint's metadata: the caller's window holds its first 64 KiB; a bigger index
        // comes whole in one more read rather than a read per block.
        let head = len.min(super::HEAD_BYTES);
        let mut file = read_vec(&*source, 0, head as usize)?;
        if len > head {
            file.extend(read_vec(&*source, head, (len - head) as usize)?);
        }
        let (_meta, index) = tf_table::footer(&file[file.len() - FOOTER_BYTES..])?;
        let index_block = tf_table::block(&file, index, "index")?;
        let handles = tf_table::entries(index_block, "index")?;
        if handles.len() > MAX_DATA_BLOCKS {
            return Err(Error::TooLarge(format!(
                "The TensorFlow checkpoint index lists {} blocks, more than the {MAX_DATA_BLOCKS} patchlens reads.",
                handles.len()
            )));
        }
        let saved_model = companions
            .iter()
            .filter(|c| SAVED_MODEL_FILES.contains(&c.name.as_str()))
            .map(|c| c.name.clone())
            .collect();
        let mut bundle = TfBundle {
            names: Vec::new(),
            entries: Vec::new(),
            shards: Vec::new(),
            num_shards: 0,
            byte_order: ByteOrder::Little,
            slice_keys: 0,
            saved_model,
        };
        let mut header = None;
        let mut last_key: Option<Vec<u8>> = None;
        let mut seen_blocks: Vec<BlockHandle> = Vec::with_capacity(handles.len());
        for (_, value) in &handles {
            let handle = tf_table::handle_value(&index_block[value.clone()])?;
            if handle == index || seen_blocks.contains(&handle) {
                return Err(Error::Malformed(
                    "The TensorFlow checkpoint index is damaged: its index block points at itself or at one block twice."
                        .into(),
                ));
            }
            seen_blocks.push(handle);
            let block = tf_table::block(&file, handle, "data")?;
            for (key, value) in tf_table::entries(block, "data")? {
                if last_key.as_ref().is_some_and(|last| key <= *last) {
                    return Err(Error::Malformed(
                        "The TensorFlow checkpoint index is damaged: its keys are out of order across blocks.".into(),
                    ));
                }
                let value = &block[value];
                if key.is_empty() {
                    header = Some(parse_header(value)?);
                } else if key.first() == Some(&0) {
                    // A slice of a partitioned variable (tensor_slice key, OrderedCode starting with 0).
                    bundle.slice_keys += 1;
                } else {
                    let name = String::from_utf8_lossy(&key).into_owned();
                    bundle.entries.push(parse_entry(&name, value)?);
                }
                last_key = Some(key);
            }
        }
        let (num_shards, byte_order) = header.ok_or_else(|| {
            Error::Malformed(
                "The TensorFlow checkpoint index has no bundle header (its entry \"\"); it is damaged.".into(),
            )
        })?;
        if let Some(entry) = bundle.entries.iter().find(|e| e.shard >= num_shards) {
            return Err(Error::Malformed(format!(
                "The TensorFlow checkpoint index puts tensor {} in shard {} of {num_shards}; it is damaged.",
                entry.info.name, entry.shard
            )));
        }
        bundle.byte_order = byte_order;
        bundle.num_shards = num_shards;
        bundle.names = bundle.entries.iter().map(|e| e.info.name.clone()).collect();
        Ok(bundle)
    }
}

impl Container for TfBundle {
    fn format(&self) -> &'static str {
        if self.saved_model.is_empty() {
            "tensorflow"
        } else {
            "tensorflow savedmodel"
        }
    }

    fn layout(&self) -> KernelLayout {
        // tf.nn.conv2d / Keras Conv2D kernels are (height, width, in, out).
        KernelLayout::Hwio
    }

    fn names(&self) -> &[String] {
        &self.names
    }

    fn info(&self, index: usize) -> Result<TensorInfo> {
        self.entries.get(index).map(|e| e.info.clone()).ok_or_else(|| no_such_index(index))
    }

    fn read(&self, index: usize) -> Result<Tensor> {
        let entry = self.entries.get(index).ok_or_else(|| no_such_index(index))?;
        let name = &entry.info.name;
        if entry.slices > 0 {
            return Err(Error::Unsupported(format!(
                "Tensor {name} is a partitioned variable saved in {} slices; patchlens does not join slices yet.",
                entry.slices
            )));
        }
        let size = entry.info.dtype.float_size().ok_or_else(|| {
            Error::NotDrawable(format!(
                "Tensor {name} holds {} values; only float tensors can be drawn.",
                entry.info.dtype
            ))
        })?;
        let shard = self.shards.get(entry.shard as usize).ok_or_else(|| no_such_index(index))?;
        let len = checked_data_len(&entry.info, size, entry.size)?;
        if len as u64 != entry.size {
            return Err(Error::Malformed(format!(
                "The TensorFlow checkpoint index gives tensor {name} {} bytes, but its shape {} takes {len}; it is damaged.",
                entry.size,
                entry.info.shape_text()
            )));
        }
        let end = entry.offset.checked_add(entry.size).filter(|&end| end <= shard.source.len());
        if end.is_none() {
            return Err(Error::Malformed(format!(
                "The TensorFlow checkpoint index puts tensor {name} at bytes {}–{} of {}, which is only {} bytes long; the data file does not belong to this index or is cut short.",
                entry.offset,
                entry.offset.saturating_add(entry.size),
                shard.name,
                shard.source.len()
            )));
        }
        let bytes = read_vec(&*shard.source, entry.offset, len)?;
        if let Some(stored) = entry.crc {
            if tf_table::mask(tf_table::crc32c(&[&bytes])) != stored {
                return Err(Error::Malformed(format!(
                    "The values of tensor {name} in {} do not match their checksum; the data file is damaged or belongs to another checkpoint.",
                    shard.name
                )));
            }
        }
        let values = decode_floats(&bytes, &entry.info.dtype, self.byte_order)?;
        Ok(Tensor { info: entry.info.clone(), values, order: MemoryOrder::C })
    }

    fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if !self.saved_model.is_empty() {
            notes.push(format!(
                "A TensorFlow SavedModel: its weights are read from variables/ ({} beside them are not read).",
                self.saved_model.join(", ")
            ));
        }
        if self.shards.len() > 1 {
            notes.push(format!("The values are in {} data files.", self.shards.len()));
        }
        if self.slice_keys > 0 {
            notes.push(format!(
                "{} slices of partitioned variables are listed under their variables' names, not drawn.",
                self.slice_keys
            ));
        }
        notes
    }

    fn companions_used(&self) -> Vec<String> {
        self.shards.iter().map(|s| s.name.clone()).chain(self.saved_model.iter().cloned()).collect()
    }
}

#[cfg(test)]
#[path = "tf_bundle_tests.rs"]
mod tests;
