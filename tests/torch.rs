//! PyTorch files beyond the shared fixture checks: the format each opens as, hostile pickles that must
//! open without running anything, notes naming refused globals, and how few reads a big .pth costs.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::*;
use patchlens::{Checkpoint, FileSource, GridOptions, SliceSource};

fn open(file: &str) -> Checkpoint {
    Checkpoint::open(FileSource::open(fixtures_dir().join(file)).unwrap()).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn torch_fixtures(manifest: &serde_json::Value) -> Vec<&serde_json::Value> {
    fixtures(manifest).filter(|f| f["format"].is_string() || f["hostile"].as_bool() == Some(true)).collect()
}

#[test]
fn each_torch_file_opens_as_its_format() {
    let manifest = manifest();
    let mut seen = 0;
    for fixture in torch_fixtures(&manifest) {
        let Some(format) = fixture["format"].as_str() else { continue };
        let file = str_of(fixture, "file");
        assert_eq!(open(file).format(), format, "{file}");
        seen += 1;
    }
    assert!(seen >= 17, "only {seen} torch fixtures");
}

#[test]
fn hostile_pickles_open_draw_and_run_nothing() {
    let manifest = manifest();
    let hostile: Vec<_> = fixtures(&manifest).filter(|f| f["hostile"].as_bool() == Some(true)).collect();
    assert_eq!(hostile.len(), 2);
    for fixture in hostile {
        let file = str_of(fixture, "file");
        let checkpoint = open(file);
        let _ = checkpoint.tensors();
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
}

#[test]
fn notes_say_what_the_file_is() {
    let whole = open("yolo_style.pt").notes().join(" ");
    assert!(whole.contains("whole model objects") && whole.contains("YoloModel"), "{whole}");
    let dino = open("dino_checkpoint.pth").notes().join(" ");
    assert!(dino.contains("Not called, only named: argparse.Namespace"), "{dino}");
    let script = open("torchscript.pt").notes().join(" ");
    assert!(script.contains("TorchScript"), "{script}");
    assert!(open("pnet.pt").notes().join(" ").contains("legacy"));
    assert!(open("zip_f32.pth").notes().is_empty());
}

#[test]
fn every_cut_of_a_torch_file_is_an_error_not_a_panic() {
    for file in ["zip_views.pth", "legacy_views.pt", "whole_cnn.pt"] {
        let bytes = std::fs::read(fixtures_dir().join(file)).unwrap();
        let step = (bytes.len() / 1500).max(1);
        for cut in (0..bytes.len()).step_by(step) {
            #[allow(clippy::unnecessary_to_owned)]
            if let Ok(checkpoint) = Checkpoint::open(SliceSource(bytes[..cut].to_vec())) {
                let _ = checkpoint.tensors();
                let _ = checkpoint.render(None, &GridOptions::default());
            }
        }
    }
}

/// The big DINO ViT-B/16 .pth (`--big`): drawing reads the zip's tail, data.pkl and the kernel's storage.
#[test]
fn big_pth_draws_in_few_reads() {
    let manifest = manifest();
    let Some(fixture) = fixtures(&manifest).find(|f| str_of(f, "file") == "dino_vitb16.pth") else {
        eprintln!("no dino_vitb16.pth: run make_fixtures.py with --big");
        return;
    };
    let kernel = fixture["kernel_bytes"].as_u64().unwrap();
    let checkpoint = open("dino_vitb16.pth");
    let opened = (checkpoint.reads(), checkpoint.bytes_read());
    checkpoint.render(None, &GridOptions::default()).unwrap();
    let (reads, bytes) = (checkpoint.reads(), checkpoint.bytes_read());
    eprintln!("dino_vitb16.pth: open {opened:?}, open + draw {reads} reads, {bytes} bytes (kernel {kernel})");
    assert!(reads <= 4, "{reads} reads");
    assert!(bytes <= kernel + (1 << 20));
}
