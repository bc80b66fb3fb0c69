//! Reads counted on h5py's files (tests/reference/fixtures_hdf5.py): listing a 300 MB Keras-like file
//! reads its headers only, a contiguous kernel is one read, a chunked one its index and its chunks.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::*;
use patchlens::{Checkpoint, FileSource, GridOptions};

fn open(file: &str) -> Option<Checkpoint> {
    let path = fixtures_dir().join(file);
    path.exists().then(|| Checkpoint::open(FileSource::open(&path).unwrap()).unwrap_or_else(|e| panic!("{file}: {e}")))
}

#[test]
fn a_small_file_is_listed_from_the_first_read_and_drawn_in_one_more() {
    let checkpoint = open("hdf5_keras_earliest.h5").expect("run make_fixtures.py");
    assert_eq!(checkpoint.reads(), 1, "the whole 28 KB file comes with the first 64 KiB");
    assert_eq!(checkpoint.tensors().len(), 4);
    checkpoint.render(None, &GridOptions::default()).unwrap();
    assert_eq!(checkpoint.reads(), 1);
}

/// (file, most reads to open and list, most reads to draw the kernel once listed)
const BIG: [(&str, u64, u64); 2] = [("hdf5_big_contiguous.h5", 8, 1), ("hdf5_big_gzip.h5", 8, 8)];

#[test]
fn a_300_mb_file_is_listed_from_its_headers_and_drawn_from_its_kernel() {
    let mut seen = 0;
    for (file, open_reads, draw_reads) in BIG {
        let Some(checkpoint) = open(file) else { continue };
        let listed = checkpoint.tensors().len();
        let (reads, bytes) = (checkpoint.reads(), checkpoint.bytes_read());
        eprintln!("{file}: {listed} tensors listed in {reads} reads, {bytes} bytes of {}", checkpoint.file_size());
        assert_eq!(listed, 102, "{file}");
        assert!(reads <= open_reads, "{file}: {reads} reads to list");
        assert!(bytes <= 512 << 10, "{file}: listing read {bytes} bytes");
        let rendered = checkpoint.render(None, &GridOptions::default()).unwrap();
        assert_eq!(rendered.tensor.name, "layer000/layer000/kernel:0");
        let kernel = 16 * 16 * 3 * 768 * 4;
        let (draw, drawn) = (checkpoint.reads() - reads, checkpoint.bytes_read() - bytes);
        eprintln!("{file}: kernel drawn in {draw} reads, {drawn} bytes");
        assert!(draw <= draw_reads, "{file}: {draw} reads to draw");
        assert!(drawn <= kernel + (64 << 10), "{file}: {drawn} bytes for a {kernel}-byte kernel");
        seen += 1;
    }
    if std::env::var_os("PATCHLENS_REQUIRE_BIG").is_some() {
        assert_eq!(seen, 2, "PATCHLENS_REQUIRE_BIG is set but the big HDF5 fixtures are missing");
    }
}

/// h5py writes a gzip dataset's chunks back to back: the six chunks of the big kernel come in one read.
#[test]
fn chunks_stored_back_to_back_come_in_one_read() {
    let Some(checkpoint) = open("hdf5_big_gzip.h5") else {
        assert!(
            std::env::var_os("PATCHLENS_REQUIRE_BIG").is_none(),
            "hdf5_big_gzip.h5 is missing (make_fixtures.py --big)"
        );
        return;
    };
    let opening = checkpoint.reads();
    let rendered = checkpoint.render(None, &GridOptions::default()).unwrap();
    assert_eq!(rendered.tensor.name, "layer000/layer000/kernel:0");
    assert_eq!(checkpoint.reads(), opening + 1, "the kernel's chunks in one read");
}
