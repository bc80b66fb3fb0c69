//! PyTorch's legacy checkpoint format (before 1.6, or `_use_new_zipfile_serialization=False`):
//! five pickles in a row (magic number, protocol, sys_info, the object, the sorted storage keys),
//! then each storage as a u64 element count and its raw bytes. A storage's offset follows from
//! the keys before it and their sizes, so drawing reads only that storage's span.

use super::pickle::{unpickle, Node, PickleReader, Unpickled, Value};
use super::torch::{check_float, tensor_from, view_span};
use super::torch_tree::{find_tensors, tree_notes, FoundTensor, StorageRef, Tree};
use super::Container;
use crate::error::{malformed, no_such_index, Error, Result};
use crate::kernel::KernelLayout;
use crate::source::{read_vec, ByteSource};
use crate::tensor::{ByteOrder, DType, Tensor, TensorInfo};
use std::collections::HashMap;
use std::rc::Rc;

/// PROTO 2, LONG1 of 10 bytes, then the magic number 0x1950a86a20f9469cfc6c little-endian.
pub const MAGIC: &[u8] = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19";
/// A view starting this far into its storage is read without the storage's count (two reads).
const COUNT_WITH_DATA_LIMIT: u64 = 64 << 10;

struct Listed {
    info: TensorInfo,
    found: FoundTensor,
}

pub struct TorchLegacy {
    source: Rc<dyn ByteSource>,
    names: Vec<String>,
    tensors: Vec<Listed>,
    /// File offset of each storage's u64 element count, by key; an error if it cannot be known.
    offsets: HashMap<String, std::result::Result<u64, Error>>,
    byte_order: ByteOrder,
    notes: Vec<String>,
}

impl TorchLegacy {
    pub fn open(source: Rc<dyn ByteSource>) -> Result<Self> {
        let mut reader = PickleReader::new(&*source, 0);
        let context = |what: &'static str| move |e: Error| e.within(&format!("the legacy PyTorch file's {what}"));
        unpickle(&mut reader).map_err(context("magic number"))?;
        let protocol = unpickle(&mut reader).map_err(context("protocol version"))?;
        if protocol.root != Value::Int(1001) {
            return Err(Error::Unsupported("This legacy PyTorch file has a protocol version other than 1001.".into()));
        }
        let sys_info = unpickle(&mut reader).map_err(context("system information"))?;
        let byte_order = if little_endian(&sys_info) { ByteOrder::Little } else { ByteOrder::Big };
        let data = unpickle(&mut reader).map_err(context("object pickle"))?;
        let keys = unpickle(&mut reader).map_err(context("storage key list"))?;
        let storages_start = reader.position();

        let mut tree = Tree::default();
        find_tensors(&data, "", &mut tree);
        let offsets = storage_offsets(&keys, &tree, storages_start)?;
        let mut notes = tree_notes(&data.refused, &tree);
        notes.insert(
            0,
            "This is a legacy-format PyTorch file (saved before PyTorch 1.6 or without the zip format).".into(),
        );
        let tensors: Vec<Listed> = tree
            .tensors
            .into_iter()
            .map(|found| {
                let dtype = found.storage.as_ref().map(|s| s.dtype.clone()).unwrap_or(DType::Other("unknown".into()));
                let info = TensorInfo { name: found.name.clone(), dtype, shape: found.recipe.shape.clone() };
                Listed { info, found }
            })
            .collect();
        let names = tensors.iter().map(|t| t.info.name.clone()).collect();
        Ok(TorchLegacy { source, names, tensors, offsets, byte_order, notes })
    }

    fn storage_offset(&self, storage: &StorageRef) -> Result<u64> {
        match self.offsets.get(&storage.key) {
            Some(offset) => offset.clone(),
            None => Err(malformed(format!("Storage {} is missing from the file's storage list.", storage.key))),
        }
    }
}

/// sys_info's `little_endian` (true if absent).
fn little_endian(sys_info: &Unpickled) -> bool {
    match sys_info.node(&sys_info.root) {
        Some(Node::Dict(entries)) => !entries
            .iter()
            .any(|(k, v)| matches!(k, Value::Str(s) if &**s == "little_endian") && *v == Value::Bool(false)),
        _ => true,
    }
}

/// Where each storage starts: storages follow one another in key-list order, each as an 8-byte
/// count and `numel × item size` bytes. A key no tensor names has an unknown size, so every
/// storage after it has an unknown offset.
fn storage_offsets(
    keys: &Unpickled,
    tree: &Tree,
    start: u64,
) -> Result<HashMap<String, std::result::Result<u64, Error>>> {
    let Some(Node::List(keys_list)) = keys.node(&keys.root) else {
        return Err(malformed("The legacy PyTorch file's storage key list is not a list."));
    };
    let mut sizes: HashMap<&str, u64> = HashMap::new();
    for storage in tree.tensors.iter().filter_map(|t| t.storage.as_ref().ok()) {
        let bytes = storage.numel.saturating_mul(storage.item_size as u64);
        sizes.insert(&storage.key, bytes);
    }
    let mut offsets = HashMap::new();
    let mut next: std::result::Result<u64, Error> = Ok(start);
    for key in keys_list {
        let key = match key {
            Value::Str(s) => s.to_string(),
            _ => return Err(malformed("The legacy PyTorch file's storage key list holds a non-string.")),
        };
        offsets.insert(key.clone(), next.clone());
        next = match (next, sizes.get(key.as_str())) {
            (Ok(at), Some(&bytes)) => at.checked_add(8).and_then(|a| a.checked_add(bytes)).ok_or_else(|| {
                malformed("The legacy PyTorch file's storages add up to more bytes than a file can hold.")
            }),
            (Ok(_), None) => Err(Error::Unsupported(format!(
                "Storage {key} is listed but no tensor uses it, so the storages after it cannot be located."
            ))),
            (Err(e), _) => Err(e),
        };
    }
    Ok(offsets)
}

impl Container for TorchLegacy {
    fn format(&self) -> &'static str {
        "pytorch-legacy"
    }

    fn layout(&self) -> KernelLayout {
        KernelLayout::Oihw
    }

    fn names(&self) -> &[String] {
        &self.names
    }

    fn info(&self, index: usize) -> Result<TensorInfo> {
        let tensor = self.tensors.get(index).ok_or_else(|| no_such_index(index))?;
        tensor.found.storage.as_ref().map_err(Clone::clone)?;
        Ok(tensor.info.clone())
    }

    fn read(&self, index: usize) -> Result<Tensor> {
        let tensor = self.tensors.get(index).ok_or_else(|| no_such_index(index))?;
        let storage = tensor.found.storage.as_ref().map_err(Clone::clone)?;
        check_float(&tensor.info)?;
        let (skip, len) = view_span(&tensor.info, &tensor.found.recipe, storage)?;
        let at = self.storage_offset(storage)?;
        let data_start = at.checked_add(8).ok_or_else(|| malformed("A storage offset overflows."))?;
        let overflow = || malformed("A storage offset overflows.");
        let (count, bytes) = if skip <= COUNT_WITH_DATA_LIMIT {
            let whole = read_vec(&*self.source, at, 8usize.saturating_add(skip as usize).saturating_add(len))?;
            let (count, rest) = whole.split_at(8);
            (u64_le(count), rest[skip as usize..].to_vec())
        } else {
            let count = read_vec(&*self.source, at, 8)?;
            let start = data_start.checked_add(skip).ok_or_else(overflow)?;
            (u64_le(&count), read_vec(&*self.source, start, len)?)
        };
        if count != storage.numel {
            return Err(malformed(format!(
                "Storage {} should hold {} elements but the file says {count} where it should start.",
                storage.key, storage.numel
            )));
        }
        tensor_from(tensor.info.clone(), &bytes, &tensor.found.recipe, storage, self.byte_order)
    }

    fn notes(&self) -> Vec<String> {
        self.notes.clone()
    }
}

fn u64_le(bytes: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(word)
}
