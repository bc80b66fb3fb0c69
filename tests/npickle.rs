//! Pickled NumPy files beyond the shared fixture checks: the format and layout each opens with, hostile
//! pickles that open without running anything, every cut of a real pickle, and how few bytes a 310 MB
//! detectron2 .pkl costs to list and draw.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::*;
use patchlens::{Checkpoint, FileSource, GridOptions, SliceSource};

fn open(file: &str) -> Checkpoint {
    Checkpoint::open(FileSource::open(fixtures_dir().join(file)).unwrap()).unwrap_or_else(|e| panic!("{file}: {e}"))
}

#[test]
fn each_pickle_opens_as_pickled_numpy_with_its_layout() {
    let manifest = manifest();
    let mut seen = 0;
    for fixture in fixtures(&manifest).filter(|f| f["npickle"].as_bool() == Some(true) && f["big"].is_null()) {
        let file = str_of(fixture, "file");
        let checkpoint = open(file);
        assert_eq!(checkpoint.format(), "numpy-pickle", "{file}");
        // detectron2, Detectron and Paddle files are PyTorch-like (out, in, kh, kw); a plain pickle states nothing.
        let stated = file.starts_with("detectron") || file.ends_with(".pdparams");
        assert_eq!(checkpoint.layout_is_stated(), stated, "{file}");
        seen += 1;
    }
    assert!(seen >= 13, "only {seen} pickled-NumPy fixtures");
    let notes = open("detectron2_r50.pkl").notes().join(" ");
    assert!(notes.contains("detectron2") && notes.contains("\"model\""), "{notes}");
    assert!(open("paddle_vit.pdparams").notes().join(" ").contains("PaddlePaddle"));
}

#[test]
fn hostile_pickles_open_draw_and_run_nothing() {
    let manifest = manifest();
    let fixture = fixtures(&manifest).find(|f| f["npickle_hostile"].as_bool() == Some(true)).expect("hostile fixture");
    let file = str_of(fixture, "file");
    let checkpoint = open(file);
    let rendered = checkpoint.render(None, &GridOptions::default()).unwrap();
    assert_eq!(rendered.tensor.name, "conv1.weight");
    let notes = checkpoint.notes().join(" ");
    for global in fixture["notes_contain"].as_array().unwrap() {
        assert!(notes.contains(global.as_str().unwrap()), "{file}: notes {notes:?} lack {global}");
    }
    for name in fixture["must_not_exist"].as_array().unwrap() {
        let path = fixtures_dir().join(name.as_str().unwrap());
        assert!(!path.exists(), "{file}: {} exists: something ran", path.display());
    }
}

#[test]
fn every_cut_of_a_real_pickle_is_an_error_not_a_panic() {
    for file in [
        "npickle_p0.pkl",
        "npickle_p2.pkl",
        "npickle_p5.pkl",
        "detectron_py2.pkl",
        "py2_protocol0.pkl",
        "object_dict.npy",
    ] {
        let bytes = std::fs::read(fixtures_dir().join(file)).unwrap();
        for cut in 0..bytes.len() {
            #[allow(clippy::unnecessary_to_owned)] // Checkpoint::open takes an owned, 'static source
            if let Ok(checkpoint) = Checkpoint::open(SliceSource(bytes[..cut].to_vec())) {
                panic!("{file} cut at {cut} of {} opened with {} tensors", bytes.len(), checkpoint.tensors().len());
            }
        }
    }
}

#[test]
fn a_big_detectron2_pickle_is_listed_by_stepping_over_its_payloads() {
    let manifest = manifest();
    let Some(fixture) = fixtures(&manifest).find(|f| f["npickle"].as_bool() == Some(true) && f["big"] == true) else {
        eprintln!("no big pickle in the manifest (run make_fixtures.py --big)");
        return;
    };
    let file = str_of(fixture, "file");
    let kernel_bytes = fixture["kernel_bytes"].as_u64().unwrap();
    let checkpoint = open(file);
    let (open_reads, open_bytes) = (checkpoint.reads(), checkpoint.bytes_read());
    let entries = fixture["tensors"].as_array().unwrap().len() as u64;
    // The first 64 KiB, then one 4 KiB read after each payload that does not fit in the buffer.
    assert!(open_reads <= entries + 2, "{file}: {open_reads} reads to list {entries} arrays");
    assert!(open_bytes <= (64 << 10) + entries * (8 << 10), "{file}: listing read {open_bytes} bytes");
    checkpoint.render(None, &GridOptions::default()).unwrap();
    assert_eq!(checkpoint.reads(), open_reads + 1, "{file}: the kernel is one read");
    assert_eq!(checkpoint.bytes_read() - open_bytes, kernel_bytes, "{file}: the kernel's bytes exactly");
    eprintln!(
        "{file}: {} bytes; listing {entries} arrays took {open_reads} reads, {open_bytes} bytes; drawing 1 read, {kernel_bytes} bytes",
        checkpoint.file_size()
    );
}
