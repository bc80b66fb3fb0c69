//! Checkpoint containers: each format lists its tensors and reads one tensor's bytes on request.
//! Format detection by magic bytes happens here, in one place; adding a format is one new file
//! and one line in [`open`].

pub(crate) mod flatbuf;
pub(crate) mod gguf;
pub(crate) mod hdf5;
pub(crate) mod keras;
mod keras_layout;
mod keras_plan;
pub mod memory;
pub(crate) mod msgpack;
pub(crate) mod npy;
mod npz;
pub(crate) mod numpy_pickle;
pub(crate) mod onnx;
mod onnx_tensor;
pub(crate) mod pickle;
pub(crate) mod protobuf;
pub(crate) mod safetensors;
pub(crate) mod shards;
pub(crate) mod tf_bundle;
mod tf_proto;
mod tf_saved_model;
mod tf_table;
pub(crate) mod tflite;
mod torch;
mod torch_legacy;
mod torch_tree;
pub(crate) mod zip;

use crate::error::{Error, Result};
use crate::kernel::KernelLayout;
use crate::source::{read_vec, ByteSource, Window};
use crate::tensor::{checked_data_len, decode_floats, ByteOrder, MemoryOrder, Tensor, TensorInfo};
use std::rc::Rc;

/// One checkpoint file, opened. Indices run over `names()`, in the file's own order.
pub trait Container {
    /// Short format name shown to users: `npz`, `npy`, …
    fn format(&self) -> &'static str;
    /// How this format's convolution kernels are laid out.
    fn layout(&self) -> KernelLayout;
    /// False where `layout` is only a convention the file may not follow (a bare `.npy`, an `.npz`
    /// holding a PyTorch weight): each 4-D tensor's layout is then inferred from its shape.
    fn layout_is_stated(&self) -> bool {
        true
    }
    /// Every tensor's name, cheap (no reads beyond the index the container already holds).
    fn names(&self) -> &[String];
    /// A tensor's dtype and shape; may read a small header the first time.
    fn info(&self, index: usize) -> Result<TensorInfo>;
    /// Every tensor's info, in order. Formats whose headers are scattered through the file
    /// override this to fetch nearby headers together.
    fn infos(&self) -> Vec<Result<TensorInfo>> {
        (0..self.names().len()).map(|i| self.info(i)).collect()
    }
    /// A tensor's info without reading: `None` where it would take a read of its own (an `.npz` entry's header
    /// not yet read). Most formats hold every tensor's info in the index they opened with.
    fn info_if_read(&self, index: usize) -> Option<Result<TensorInfo>> {
        Some(self.info(index))
    }
    /// The bytes the file stores for a tensor, where its index says so without reading its header (an `.npz`
    /// entry's size in the zip directory); `None` elsewhere.
    fn stored_bytes(&self, index: usize) -> Option<u64> {
        let _ = index;
        None
    }
    /// The ranges (start, end) that `infos` will read together (`ByteSource::read_ranges`) now: a page can
    /// fetch them concurrently first. Empty for formats that read no ranges together.
    fn listing_ranges(&self) -> Vec<(u64, u64)> {
        Vec::new()
    }
    /// A tensor's values; reads exactly that tensor's bytes.
    fn read(&self, index: usize) -> Result<Tensor>;
    /// The first `count` slices of a tensor along its first axis (a tensor of shape `(count, …)`), reading
    /// only their bytes, where the format stores them that way; `None` where it cannot, and for a `count`
    /// that is not less than the first axis. For an (n, c, kh, kw) kernel these are its first filters: the
    /// default grid of a ViT-B/16 needs 128 of 768, a sixth of the bytes.
    fn read_leading(&self, index: usize, count: usize) -> Result<Option<Tensor>> {
        let _ = (index, count);
        Ok(None)
    }
    /// Things worth telling the user about the file as a whole, one sentence each: metadata,
    /// globals a pickle named that were not called, … Empty for most files.
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }
    /// The tensor the format itself says meets the pixels (TFLite: the first CONV_2D's filter), and why;
    /// known names still win over it (see `pick::pick_patch_embedding_preferring`).
    fn preferred_default(&self) -> Option<crate::pick::Pick> {
        None
    }
    /// Base names of the companion files this checkpoint reads (ONNX external data): part of it, not
    /// checkpoints of their own.
    fn companions_used(&self) -> Vec<String> {
        Vec::new()
    }
}

/// A file given together with the one being opened (a multi-file drop, a folder): ONNX external
/// data, the other shards of a sharded checkpoint. `name` is the file's base name.
#[derive(Clone)]
pub struct NamedSource {
    pub name: String,
    pub source: Rc<dyn ByteSource>,
}

/// Reads a tensor stored as one contiguous run of C-order values at `start` (`stored` bytes are set
/// aside for it): the float check, the size check before allocating, one read, decoding.
pub(crate) fn read_contiguous(
    source: &dyn ByteSource,
    info: TensorInfo,
    start: u64,
    stored: u64,
    byte_order: ByteOrder,
) -> Result<Tensor> {
    let size = info.dtype.float_size().ok_or_else(|| {
        Error::NotDrawable(format!(
            "Tensor {} holds {} values; only float tensors can be drawn.",
            info.name, info.dtype
        ))
    })?;
    let len = checked_data_len(&info, size, stored)?;
    let bytes = read_vec(source, start, len)?;
    let values = decode_floats(&bytes, &info.dtype, byte_order)?;
    Ok(Tensor { info, values, order: MemoryOrder::C })
}

/// `info` cut to its first `count` slices along the first axis, or `None` when that is not fewer than it has.
pub(crate) fn leading(info: &TensorInfo, count: usize) -> Option<TensorInfo> {
    let first = *info.shape.first()?;
    (count > 0 && count < first).then(|| {
        let mut shape = info.shape.clone();
        shape[0] = count;
        TensorInfo { shape, ..info.clone() }
    })
}

/// How much of a file's start is read when it is opened (see [`open_with`]).
pub const HEAD_BYTES: u64 = 64 << 10;

/// Opens a checkpoint, choosing the format from its first bytes.
pub fn open(source: Rc<dyn ByteSource>) -> Result<Box<dyn Container>> {
    open_with(source, &[])
}

/// As [`open_with`], for a file called `name`. A `.npz` is a zip of `.npy` files with nothing to read at its
/// front: its central directory at the end lists every entry, and an entry's header comes with its data. So it is
/// opened from its end, without the head read every other format starts with (in a browser, a millisecond or
/// more of the drop's time). Anything else, or a file so named that has no readable zip directory, is opened by
/// its content as usual, so a wrong name costs one read and changes nothing else.
pub fn open_named(source: Rc<dyn ByteSource>, name: &str, companions: &[NamedSource]) -> Result<Box<dyn Container>> {
    if name.to_ascii_lowercase().ends_with(".npz") {
        if let Ok(archive) = zip::ZipArchive::read(&*source) {
            let zip_of_npy = archive.entries.iter().all(|e| e.name.ends_with(".npy"));
            if zip_of_npy && !archive.entries.is_empty() {
                return Ok(Box::new(npz::Npz::from_archive(source, archive)?));
            }
        }
    }
    open_with(source, companions)
}

/// Opens a checkpoint that may refer to other files given with it (`companions`).
pub fn open_with(source: Rc<dyn ByteSource>, companions: &[NamedSource]) -> Result<Box<dyn Container>> {
    if source.is_empty() {
        return Err(Error::UnknownFormat("The file is empty.".into()));
    }
    // One read of the file's first bytes serves the magic numbers and, kept with the container, usually
    // the whole header too: a safetensors header, GGUF metadata, an ONNX graph's start, the data.pkl at
    // the front of a PyTorch zip, a legacy pickle. In a browser every read costs a millisecond or more.
    let head = Window::read(Rc::clone(&source), 0, HEAD_BYTES.min(source.len()))?;
    let magic = head.bytes().get(..16).unwrap_or(head.bytes()).to_vec();
    #[cfg(feature = "full")]
    let detected = Detected::of(head.bytes());
    let source: Rc<dyn ByteSource> = Rc::new(head);
    if magic.starts_with(b"PK\x03\x04") || magic.starts_with(b"PK\x05\x06") {
        // Zip holds npz and PyTorch archives alike; the entry names tell them apart.
        let archive = zip::ZipArchive::read(&*source)?;
        #[cfg(feature = "full")]
        if keras::is_keras_archive(&archive) {
            return Ok(Box::new(keras::Keras::from_zip(source, &archive)?));
        }
        #[cfg(feature = "full")]
        if let Some(root) = torch::torch_root(&archive) {
            return Ok(Box::new(torch::TorchZip::from_archive(source, archive, root)?));
        }
        return Ok(Box::new(npz::Npz::from_archive(source, archive)?));
    }
    if magic.starts_with(npy::MAGIC) {
        #[cfg(feature = "full")]
        if let Some(start) = detected.object_npy_start {
            return Ok(Box::new(numpy_pickle::NumpyPickle::open(source, start)?));
        }
        return Ok(Box::new(npz::Npy::open(source)?));
    }
    #[cfg(feature = "full")]
    return open_other(source, companions, &magic, detected);
    #[cfg(not(feature = "full"))]
    {
        let _ = companions;
        Err(Error::UnknownFormat(
            "This module reads only NumPy .npz and .npy files; the page's full module reads the others.".into(),
        ))
    }
}

/// What the head says beyond the magic number, for the formats that have none or hide it.
#[cfg(feature = "full")]
struct Detected {
    flax_msgpack: bool,
    object_npy_start: Option<u64>,
    /// HDF5's signature may follow a user block (at 512, 1024, 2048, …), so it is looked for in the head.
    hdf5: bool,
}

#[cfg(feature = "full")]
impl Detected {
    fn of(head: &[u8]) -> Detected {
        Detected {
            flax_msgpack: msgpack::looks_like(head),
            object_npy_start: numpy_pickle::object_npy_pickle_start(head),
            hdf5: hdf5::looks_like(head),
        }
    }
}

/// Every format but npz and npy (which [`open_with`] opens itself, as the page's first module does).
#[cfg(feature = "full")]
fn open_other(
    source: Rc<dyn ByteSource>,
    companions: &[NamedSource],
    magic: &[u8],
    detected: Detected,
) -> Result<Box<dyn Container>> {
    if magic.starts_with(torch_legacy::MAGIC) {
        return Ok(Box::new(torch_legacy::TorchLegacy::open(source)?));
    }
    if magic.starts_with(gguf::MAGIC) {
        return Ok(Box::new(gguf::Gguf::open(source)?));
    }
    if tflite::looks_like(magic) {
        return Ok(Box::new(tflite::Tflite::open(source)?));
    }
    if detected.hdf5 {
        // A Keras file is an HDF5 file whose attributes and groups say so; any other is plain HDF5.
        return match keras::Keras::detect(hdf5::Hdf5File::open(source)?)? {
            Ok(keras) => Ok(Box::new(keras)),
            Err(file) => Ok(Box::new(hdf5::Hdf5::from_file(file)?)),
        };
    }
    if safetensors::looks_like(magic) {
        return Ok(Box::new(safetensors::Safetensors::open(source)?));
    }
    // A TensorFlow index's magic is in its footer; its first entry (the header, key "") is checked first.
    if tf_bundle::looks_like_index(magic) {
        return Ok(Box::new(tf_bundle::TfBundle::open(source, companions)?));
    }
    // A SavedModel's graph or fingerprint (no magic either) would otherwise be taken for ONNX.
    tf_saved_model::refuse_saved_model_parts(&*source)?;
    // msgpack has no magic number either; its map marker and structural check (string keys, an ndarray's
    // inner header) cannot match an ONNX model, whose first byte is a field tag (0x08 for ir_version).
    if detected.flax_msgpack {
        return Ok(Box::new(msgpack::Msgpack::open(source)?));
    }
    // ONNX has no magic number: it is tried after every format that has one.
    if onnx::looks_like_model(magic) {
        return Ok(Box::new(onnx::Onnx::open(source, companions)?));
    }
    if numpy_pickle::looks_like(magic) {
        return Ok(Box::new(numpy_pickle::NumpyPickle::open(source, 0)?));
    }
    Err(Error::UnknownFormat(
        "This file is not a checkpoint patchlens can read: it is not a PyTorch, safetensors, Keras / HDF5, TensorFlow, TFLite, Flax msgpack, GGUF or ONNX file, nor a NumPy .npz, .npy or pickle.".into(),
    ))
}

/// Runs the formats' own per-byte loops once on made-up data (see [`crate::warm`]): the TensorFlow index's
/// crc32c, TFLite's dequantization, HDF5's shuffle filter and the inflater (gzip chunks, deflated zip entries).
/// The shared decoders are warmed by drawing files.
pub fn warm_up_loops() -> Result<()> {
    let bytes: Vec<u8> = crate::warm::numbers(1 << 18).iter().map(|v| (v * 255.0) as i8 as u8).collect();
    std::hint::black_box(tf_table::crc32c(&[&bytes]));
    std::hint::black_box(hdf5::unshuffle(&bytes, 4));
    // A gzip-chunked HDF5 kernel (and a deflated zip entry) spends its time inflating: float32s stored shuffled, as
    // h5py's shuffle + gzip filters leave them, on a coarse grid so that the stream has matches as well as literals.
    let shuffled = crate::warm::coarse_floats_shuffled(1 << 16);
    std::hint::black_box(hdf5::inflate(&crate::warm::zlib_fixed(&shuffled), shuffled.len())?);
    let filters = 64;
    let info = TensorInfo {
        name: "warm-up".into(),
        dtype: crate::tensor::DType::Affine { storage: "int8" },
        shape: vec![filters, 16, 16, bytes.len() / (filters * 256)],
    };
    let quantization = tflite::Quantization {
        scales: (0..filters).map(|i| 0.01 + i as f32 * 1e-4).collect(),
        zero_points: vec![0; filters],
        dimension: 0,
    };
    std::hint::black_box(tflite::dequantize(&bytes, tflite::TYPE_INT8, &quantization, &info)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::SliceSource;

    #[test]
    fn detects_by_magic_and_names_what_it_reads() {
        let err = open(Rc::new(SliceSource(b"\x89PNG\r\n\x1a\n....".to_vec()))).err().unwrap();
        assert!(matches!(err, Error::UnknownFormat(_)), "{err}");
        assert!(err.to_string().contains(".npz"));
        let err = open(Rc::new(SliceSource(Vec::new()))).err().unwrap();
        assert_eq!(err.to_string(), "The file is empty.");
        assert!(open(Rc::new(SliceSource(b"PK".to_vec()))).is_err());
    }
}
