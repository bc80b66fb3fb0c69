//! Entry points for the cargo-fuzz targets in `fuzz/`: each feeds arbitrary bytes to one parser.
//! Any panic here is a bug; errors are the expected outcome for most inputs.

use crate::container::{npy, pickle, zip::ZipArchive};
use crate::grid::GridOptions;
use crate::source::SliceSource;
use crate::Checkpoint;

/// The `.npy` header parser alone.
pub fn npy_header(data: &[u8]) {
    let _ = npy::parse_header(data);
}

/// The zip reader: central directory, then every entry's header and (bounded) data.
pub fn zip(data: &[u8]) {
    let source = SliceSource(data);
    if let Ok(archive) = ZipArchive::read(&source) {
        for entry in archive.entries.iter().take(64) {
            if let Ok(prefix) = entry.read_prefix(&source, 512) {
                let len = entry.size.min(1 << 20) as usize;
                let _ = entry.read_data(&source, prefix.data_start, 0, len);
            }
        }
    }
}

/// The whole pipeline as a user drives it: open, list, pick, render.
pub fn checkpoint(data: &[u8]) {
    #[allow(clippy::unnecessary_to_owned)] // a Checkpoint owns its source, so it needs the bytes
    if let Ok(checkpoint) = Checkpoint::open(SliceSource(data.to_vec())) {
        let _ = checkpoint.tensors();
        let options = GridOptions { count: 16, zoom: 1, ..GridOptions::default() };
        let _ = checkpoint.render(None, &options);
    }
}

/// The unpickler alone: any bytes as a pickle (limits, memo, marks, globals).
pub fn pickle(data: &[u8]) {
    let _ = pickle::unpickle_bytes(data);
}

/// PyTorch files (zip, TorchScript, legacy) through the whole pipeline; seeds in fuzz/seeds/torch/.
/// The same as [`checkpoint`], kept as its own target so its corpus stays torch-shaped.
pub fn torch(data: &[u8]) {
    checkpoint(data);
}
