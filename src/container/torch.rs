//! PyTorch zip checkpoints (`torch.save` since 1.6) and TorchScript archives: `<root>/data.pkl`
//! names the tensors, `<root>/data/<key>` holds each storage. Opening reads the pickle; drawing
//! reads only the bytes of the storage that the tensor's view touches, in one read.

use super::pickle::{unpickle_bytes, TensorRecipe, MAX_PICKLE_BYTES};
use super::torch_tree::{find_tensors, tree_notes, FoundTensor, StorageRef, Tree};
use super::zip::{Method, ZipArchive, ZipEntry};
use super::Container;
use crate::error::{malformed, no_such_index, Error, Result};
use crate::kernel::KernelLayout;
use crate::source::{ByteSource, Window};
use crate::tensor::{decode_floats, ByteOrder, MemoryOrder, Tensor, TensorInfo, MAX_TENSOR_BYTES};
use std::collections::HashMap;
use std::rc::Rc;

/// torch pads each entry's local header so data starts 64-byte aligned; the padding sits in a
/// local extra field the central directory does not show. Read this much more to catch it.
const LOCAL_PADDING_SLACK: u64 = 128;
/// A storage whose view starts this far in is read without its local header (two reads), rather
/// than reading the bytes before the view.
const HEADER_WITH_DATA_LIMIT: u64 = 64 << 10;
/// Small entries (byteorder) this close to data.pkl come in the same read.
const NEARBY: u64 = 64 << 10;

/// The root folder of a torch zip: the folder holding `data.pkl` ("" if it is at the top).
pub fn torch_root(archive: &ZipArchive) -> Option<String> {
    archive.entries.iter().find_map(|e| {
        let root = e.name.strip_suffix("data.pkl")?;
        (root.is_empty() || (root.ends_with('/') && root.matches('/').count() == 1)).then(|| root.to_string())
    })
}

/// A tensor as the container lists it: its name, info and where its storage lives.
struct Listed {
    info: TensorInfo,
    recipe: TensorRecipe,
    storage: std::result::Result<StorageRef, Error>,
    /// The zip entry holding the storage.
    entry_name: String,
}

pub struct TorchZip {
    source: Rc<dyn ByteSource>,
    entries: Vec<ZipEntry>,
    by_name: HashMap<String, usize>,
    names: Vec<String>,
    tensors: Vec<Listed>,
    byte_order: ByteOrder,
    torchscript: bool,
    notes: Vec<String>,
}

impl TorchZip {
    /// A torch archive whose central directory `container::open` has read; `root` from [`torch_root`].
    pub fn from_archive(source: Rc<dyn ByteSource>, archive: ZipArchive, root: String) -> Result<Self> {
        let entries = archive.entries;
        let by_name: HashMap<String, usize> = entries.iter().enumerate().map(|(i, e)| (e.name.clone(), i)).collect();
        let find = |name: &str| by_name.get(name).map(|&i| &entries[i]);
        let pickle_entry = find(&format!("{root}data.pkl")).ok_or_else(|| malformed("The archive has no data.pkl."))?;
        let torchscript = find(&format!("{root}constants.pkl")).is_some()
            || entries.iter().any(|e| e.name.starts_with(&format!("{root}code/")));

        // data.pkl and the small byteorder entry written just after it come in one read.
        let byteorder_entry = find(&format!("{root}byteorder"));
        let (pickle_bytes, byteorder) = read_pickle_and_byteorder(&*source, pickle_entry, byteorder_entry)?;
        let byte_order = match byteorder.as_deref() {
            None | Some(b"little") => ByteOrder::Little,
            Some(b"big") => ByteOrder::Big,
            Some(other) => {
                return Err(malformed(format!(
                    "The archive's byteorder entry says {:?}, neither little nor big.",
                    String::from_utf8_lossy(other)
                )))
            }
        };

        let data = unpickle_bytes(&pickle_bytes).map_err(|e| e.within("data.pkl"))?;
        let mut tree = Tree::default();
        find_tensors(&data, "", &mut tree);
        let mut refused = data.refused.clone();
        let data_count = tree.tensors.len();
        if torchscript {
            if let Some(entry) = find(&format!("{root}constants.pkl")) {
                let bytes = read_entry(&*source, entry, MAX_PICKLE_BYTES)?;
                let constants = unpickle_bytes(&bytes).map_err(|e| e.within("constants.pkl"))?;
                find_tensors(&constants, "constants", &mut tree);
                refused.extend(constants.refused.iter().filter(|r| !data.refused.contains(r)).cloned());
            }
        }
        let mut notes = Vec::new();
        if torchscript {
            notes.push("This is a TorchScript archive; patchlens lists its tensors and never runs its code.".into());
            // Module objects are expected here; naming their TorchScript classes adds nothing.
            tree.module_classes.clear();
            refused.retain(|name| !name.starts_with("__torch__."));
        }
        notes.extend(tree_notes(&refused, &tree));

        let tensors = tree
            .tensors
            .into_iter()
            .enumerate()
            .map(|(i, t)| {
                let folder = if i < data_count { "data" } else { "constants" };
                let entry_name = match &t.storage {
                    Ok(s) => format!("{root}{folder}/{}", s.key),
                    Err(_) => String::new(),
                };
                listed(t, entry_name)
            })
            .collect::<Vec<_>>();
        let names = tensors.iter().map(|t| t.info.name.clone()).collect();
        Ok(TorchZip { source, entries, by_name, names, tensors, byte_order, torchscript, notes })
    }

    /// Reads `len` bytes at `skip` into a storage entry: with its local header in one read when
    /// the view starts near the entry's start, else the header and then the span.
    fn read_storage(&self, entry: &ZipEntry, skip: u64, len: usize) -> Result<Vec<u8>> {
        let source = &*self.source;
        if entry.method == Method::Stored && skip <= HEADER_WITH_DATA_LIMIT {
            let want = usize::try_from(skip).unwrap_or(usize::MAX).saturating_add(len);
            let (start, end) = entry.header_span(want, source.len());
            let window = Window::read(source, start, end.saturating_add(LOCAL_PADDING_SLACK).min(source.len()))?;
            let prefix = entry.read_prefix(&window, 0)?;
            return entry.read_data(&window, prefix.data_start, skip, len);
        }
        let prefix = entry.read_prefix(source, 0)?;
        entry.read_data(source, prefix.data_start, skip, len)
    }
}

/// Reads data.pkl, and the byteorder entry in the same read when it lies close after it.
fn read_pickle_and_byteorder(
    source: &dyn ByteSource,
    pickle: &ZipEntry,
    byteorder: Option<&ZipEntry>,
) -> Result<(Vec<u8>, Option<Vec<u8>>)> {
    let size = pickle_size(pickle)?;
    let file_len = source.len();
    let (start, mut end) = pickle.header_span(size, file_len);
    end = end.saturating_add(LOCAL_PADDING_SLACK).min(file_len);
    if let Some(entry) = byteorder {
        let (b_start, b_end) = entry.header_span(16, file_len);
        if b_start >= start && b_end <= end.saturating_add(NEARBY) {
            end = end.max(b_end.saturating_add(LOCAL_PADDING_SLACK).min(file_len));
        }
    }
    let window = Window::read(source, start, end)?;
    let bytes = pickle.read_prefix(&window, size)?.bytes;
    let byteorder = match byteorder {
        Some(entry) => Some(read_entry(&window, entry, 16)?),
        None => None,
    };
    Ok((bytes, byteorder))
}

fn pickle_size(entry: &ZipEntry) -> Result<usize> {
    if entry.size > MAX_PICKLE_BYTES {
        return Err(Error::TooLarge(format!(
            "{} is {} bytes, more than the {} MiB patchlens reads.",
            entry.name,
            entry.size,
            MAX_PICKLE_BYTES >> 20
        )));
    }
    Ok(entry.size as usize)
}

/// A whole small entry (at most `cap` bytes).
fn read_entry(source: &dyn ByteSource, entry: &ZipEntry, cap: u64) -> Result<Vec<u8>> {
    if entry.size > cap {
        return Err(malformed(format!("Zip entry {} is {} bytes, longer than expected.", entry.name, entry.size)));
    }
    Ok(entry.read_prefix(source, entry.size as usize)?.bytes)
}

fn listed(found: FoundTensor, entry_name: String) -> Listed {
    let dtype = match &found.storage {
        Ok(s) => s.dtype.clone(),
        Err(_) => crate::tensor::DType::Other("unknown".into()),
    };
    let info = TensorInfo { name: found.name, dtype, shape: found.recipe.shape.clone() };
    Listed { info, recipe: found.recipe, storage: found.storage, entry_name }
}

/// The bytes of a storage a view touches: `(first byte, length)`, checked against the storage's
/// element count and the size limits before anything is read.
pub(crate) fn view_span(info: &TensorInfo, recipe: &TensorRecipe, storage: &StorageRef) -> Result<(u64, usize)> {
    let name = &info.name;
    let count = info.element_count()?;
    let decoded = count.checked_mul(info.dtype.decoded_size().max(storage.item_size));
    if decoded.is_none_or(|d| d > MAX_TENSOR_BYTES) {
        return Err(Error::TooLarge(format!(
            "Tensor {name} is more than the {} MiB patchlens reads at once.",
            MAX_TENSOR_BYTES >> 20
        )));
    }
    if count == 0 {
        return Ok((0, 0));
    }
    let overflow = || Error::Malformed(format!("Tensor {name} has strides that overflow."));
    let mut last = recipe.offset;
    for (&size, &stride) in recipe.shape.iter().zip(&recipe.stride) {
        let reach = ((size - 1) as u64).checked_mul(stride as u64).ok_or_else(overflow)?;
        last = last.checked_add(reach).ok_or_else(overflow)?;
    }
    if last >= storage.numel {
        return Err(malformed(format!(
            "Tensor {name} reaches element {last} of a storage that holds only {} elements.",
            storage.numel
        )));
    }
    let item = storage.item_size as u64;
    let span = (last - recipe.offset + 1).checked_mul(item).ok_or_else(overflow)?;
    if span > MAX_TENSOR_BYTES as u64 {
        return Err(Error::TooLarge(format!(
            "Tensor {name} is a view spread over {span} bytes of its storage, more than the {} MiB patchlens reads at once.",
            MAX_TENSOR_BYTES >> 20
        )));
    }
    Ok((recipe.offset.checked_mul(item).ok_or_else(overflow)?, span as usize))
}

/// The view's elements in C order, from the bytes `view_span` read (which start at its first element).
pub(crate) fn gather(bytes: &[u8], recipe: &TensorRecipe, item_size: usize) -> Vec<u8> {
    let shape = &recipe.shape;
    let count: usize = shape.iter().product();
    let mut contiguous_stride = 1usize;
    let contiguous = shape.iter().zip(&recipe.stride).rev().all(|(&size, &stride)| {
        let ok = size == 1 || stride == contiguous_stride;
        contiguous_stride = contiguous_stride.saturating_mul(size);
        ok
    });
    if contiguous {
        return bytes[..(count * item_size).min(bytes.len())].to_vec();
    }
    let mut out = Vec::with_capacity(count * item_size);
    let mut index = vec![0usize; shape.len()];
    for _ in 0..count {
        let at: usize = index.iter().zip(&recipe.stride).map(|(i, s)| i * s).sum::<usize>() * item_size;
        out.extend_from_slice(bytes.get(at..at + item_size).unwrap_or(&[]));
        for axis in (0..shape.len()).rev() {
            index[axis] += 1;
            if index[axis] < shape[axis] {
                break;
            }
            index[axis] = 0;
        }
    }
    out
}

/// Decodes the gathered bytes of a float tensor.
pub(crate) fn tensor_from(
    info: TensorInfo,
    bytes: &[u8],
    recipe: &TensorRecipe,
    storage: &StorageRef,
    order: ByteOrder,
) -> Result<Tensor> {
    let values = decode_floats(&gather(bytes, recipe, storage.item_size), &info.dtype, order)?;
    Ok(Tensor { info, values, order: MemoryOrder::C })
}

/// Fails unless the tensor's values are floats patchlens can decode.
pub(crate) fn check_float(info: &TensorInfo) -> Result<()> {
    if info.dtype.float_size().is_none() {
        return Err(Error::NotDrawable(format!(
            "Tensor {} holds {} values; only float tensors can be drawn.",
            info.name, info.dtype
        )));
    }
    Ok(())
}

impl Container for TorchZip {
    fn format(&self) -> &'static str {
        if self.torchscript {
            "torchscript"
        } else {
            "pytorch"
        }
    }

    fn layout(&self) -> KernelLayout {
        KernelLayout::Oihw
    }

    fn names(&self) -> &[String] {
        &self.names
    }

    fn info(&self, index: usize) -> Result<TensorInfo> {
        let tensor = self.tensors.get(index).ok_or_else(|| no_such_index(index))?;
        tensor.storage.as_ref().map_err(Clone::clone)?;
        Ok(tensor.info.clone())
    }

    fn read(&self, index: usize) -> Result<Tensor> {
        let tensor = self.tensors.get(index).ok_or_else(|| no_such_index(index))?;
        self.read_view(tensor, &tensor.info, &tensor.recipe)
    }

    fn read_leading(&self, index: usize, count: usize) -> Result<Option<Tensor>> {
        let tensor = self.tensors.get(index).ok_or_else(|| no_such_index(index))?;
        // The same view with fewer slices along its first axis: same offset and strides, a shorter span.
        let (Some(info), Some(&first)) = (super::leading(&tensor.info, count), tensor.recipe.shape.first()) else {
            return Ok(None);
        };
        if tensor.recipe.shape.len() != tensor.info.shape.len() || first != tensor.info.shape[0] {
            return Ok(None);
        }
        let mut recipe = tensor.recipe.clone();
        recipe.shape[0] = count;
        self.read_view(tensor, &info, &recipe).map(Some)
    }

    fn notes(&self) -> Vec<String> {
        self.notes.clone()
    }
}

impl TorchZip {
    /// Reads `tensor`'s storage as the view `info` / `recipe` (the tensor's own, or its first slices).
    fn read_view(&self, tensor: &Listed, info: &TensorInfo, recipe: &TensorRecipe) -> Result<Tensor> {
        let storage = tensor.storage.as_ref().map_err(Clone::clone)?;
        check_float(info)?;
        let (skip, len) = view_span(info, recipe, storage)?;
        let entry = self.by_name.get(&tensor.entry_name).map(|&i| &self.entries[i]).ok_or_else(|| {
            malformed(format!(
                "Tensor {} refers to {}, which the archive does not hold.",
                tensor.info.name, tensor.entry_name
            ))
        })?;
        let end = skip.checked_add(len as u64).filter(|&e| e <= entry.size);
        if end.is_none() {
            return Err(malformed(format!(
                "Tensor {} needs bytes {skip}..{} of {}, which holds only {} bytes.",
                info.name,
                skip.saturating_add(len as u64),
                tensor.entry_name,
                entry.size
            )));
        }
        let bytes = if len == 0 { Vec::new() } else { self.read_storage(entry, skip, len)? };
        tensor_from(info.clone(), &bytes, recipe, storage, self.byte_order)
    }
}

#[cfg(test)]
#[path = "torch_tests.rs"]
mod tests;
