//! ONNX beyond what tests/fixtures.rs checks for every format: external data given as a companion
//! file (container level: `Checkpoint` cannot take companions yet), the missing-file sentence, sparse
//! weights, deep subgraphs, and how many reads opening and drawing take.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::*;
use patchlens::container::{self, NamedSource};
use patchlens::source::Metered;
use patchlens::{Checkpoint, FileSource, Filters, GridOptions};
use std::rc::Rc;

fn file(name: &str) -> Rc<FileSource> {
    Rc::new(FileSource::open(fixtures_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}")))
}

fn companion(name: &str) -> NamedSource {
    NamedSource { name: name.into(), source: file(name) }
}

#[test]
fn external_data_draws_every_tile_like_scikit_learn_when_its_file_is_given() {
    let manifest = manifest();
    let mut checked = 0;
    let onnx_with_data = |f: &&serde_json::Value| !f["companions"].is_null() && str_of(f, "file").ends_with(".onnx");
    for fixture in fixtures(&manifest).filter(onnx_with_data) {
        let name = str_of(fixture, "file");
        let companions: Vec<NamedSource> =
            fixture["companions"].as_array().unwrap().iter().map(|c| companion(c.as_str().unwrap())).collect();
        let onnx = container::open_with(file(name), &companions).unwrap();
        for tiles in fixture["tiles"].as_array().unwrap() {
            let tensor = str_of(tiles, "tensor");
            let index = onnx.names().iter().position(|n| n == tensor).unwrap();
            let filters = Filters::from_tensor(onnx.read(index).unwrap(), onnx.layout()).unwrap();
            let ([kh, kw, c, n], expected) = expected_tiles(tiles);
            assert_eq!(filters.dims(), [kh, kw, c, n], "{name} {tensor}");
            for i in 0..n {
                let tile_len = kh * kw * c;
                assert_eq!(filters.tile(i).unwrap(), &expected[i * tile_len..(i + 1) * tile_len], "{name} filter {i}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 1, "no ONNX fixture with companion files in the manifest");
}

#[test]
fn a_missing_data_file_is_named_in_one_sentence() {
    let checkpoint =
        Checkpoint::open(FileSource::open(fixtures_dir().join("vit_external_nodata.onnx")).unwrap()).unwrap();
    assert!(checkpoint.tensors().iter().all(|t| t.info.is_some()), "listing needs no data file");
    let err = checkpoint.render(None, &GridOptions::default()).unwrap_err().to_string();
    assert_eq!(
        err,
        "Tensor patch_embed.proj.weight is stored in a separate file, vit_external.onnx.data; drop it together with the .onnx file."
    );
}

#[test]
fn external_offsets_past_the_data_file_end_are_an_error() {
    let name = "onnx_external_past_end.onnx";
    let onnx = container::open_with(file(name), &[companion("onnx_external_past_end.onnx.data")]).unwrap();
    let index = onnx.names().iter().position(|n| n == "patch_embed.proj.weight").unwrap();
    let err = onnx.read(index).unwrap_err().to_string();
    assert!(err.contains("but that file is only 20000 bytes long."), "{err}");
}

#[test]
fn sparse_weights_are_listed_with_a_reason_and_deep_subgraphs_skipped() {
    let checkpoint = Checkpoint::open(FileSource::open(fixtures_dir().join("onnx_sparse_only.onnx")).unwrap()).unwrap();
    let listed = checkpoint.tensors();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, "stem.weight");
    assert!(listed[0].problem.as_deref().unwrap().contains("sparse tensor"), "{:?}", listed[0].problem);
    let deep = container::open(file("onnx_deep_nesting.onnx")).unwrap();
    assert!(deep.names().is_empty());
    assert!(deep.notes().iter().any(|n| n.contains("nested more than 16 deep")), "{:?}", deep.notes());
}

#[test]
fn notes_say_who_wrote_the_model() {
    let onnx = container::open(file("vit_tiny.onnx")).unwrap();
    let notes = onnx.notes();
    assert_eq!(notes.len(), 1);
    assert!(notes[0].starts_with("ONNX model written by patchlens-fixtures 1.0 (IR version "), "{notes:?}");
    assert!(notes[0].ends_with(", opset 21), graph main_graph."), "{notes:?}");
}

/// Opening and drawing a small model: the whole index in one read, the kernel in one more.
#[test]
fn a_small_model_opens_and_draws_in_three_reads() {
    let checkpoint = Checkpoint::open(FileSource::open(fixtures_dir().join("vit_tiny.onnx")).unwrap()).unwrap();
    // The 8-byte sniff in container::open_with, then one 16 KiB buffer read; the kernel lies past it.
    checkpoint.tensors();
    checkpoint.render(None, &GridOptions::default()).unwrap();
    assert!(checkpoint.reads() <= 4, "{} reads", checkpoint.reads());
}

/// The big ViT-S/16-shaped model (make_fixtures.py --big): reads and bytes to open and draw.
#[test]
fn big_model_reads_few_ranges() {
    let manifest = manifest();
    let Some(fixture) =
        fixtures(&manifest).find(|f| f["big"].as_bool() == Some(true) && str_of(f, "file").ends_with(".onnx"))
    else {
        return;
    };
    let name = str_of(fixture, "file");
    let metered = Metered::new(FileSource::open(fixtures_dir().join(name)).unwrap());
    let stats = metered.stats();
    let onnx = container::open(Rc::new(metered)).unwrap();
    let (open_reads, open_bytes) = (stats.reads(), stats.bytes());
    let checkpoint = Checkpoint::open(FileSource::open(fixtures_dir().join(name)).unwrap()).unwrap();
    checkpoint.render(None, &GridOptions::default()).unwrap();
    eprintln!(
        "{name}: {} tensors; open {open_reads} reads / {open_bytes} bytes; open + render {} reads / {} bytes",
        onnx.names().len(),
        checkpoint.reads(),
        checkpoint.bytes_read()
    );
    // One buffer per run of small tensors between large payloads, and one read for the kernel.
    assert!(checkpoint.reads() <= 80, "{} reads", checkpoint.reads());
}

fn seeds() -> Vec<(String, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/onnx");
    let mut seeds: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(p).unwrap()))
        .collect();
    seeds.sort();
    seeds
}

/// The committed fuzz seeds are valid models whose every float tensor reads, external data included.
#[test]
fn fuzz_seeds_are_valid_models() {
    let seeds = seeds();
    assert!(seeds.len() >= 5);
    for (name, bytes) in seeds {
        let source = Rc::new(patchlens::SliceSource(bytes));
        let companions = [NamedSource { name: "data.bin".into(), source: source.clone() }];
        let onnx = container::open_with(source, &companions).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!onnx.names().is_empty(), "{name}");
        for (i, info) in onnx.infos().into_iter().enumerate() {
            match info {
                Ok(info) if info.dtype.float_size().is_some() => {
                    onnx.read(i).unwrap_or_else(|e| panic!("{name} {}: {e}", info.name));
                }
                _ => {}
            }
        }
    }
}

/// cargo-fuzz is not always at hand: a few thousand deterministic mutations of each seed through the
/// fuzz entry point (bytes flipped, cut, duplicated, varints made huge) must never panic.
#[test]
fn mutated_seeds_never_panic() {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for (_, seed) in seeds() {
        for _ in 0..3000 {
            let mut bytes = seed.clone();
            for _ in 0..1 + next() % 4 {
                let at = (next() % bytes.len().max(1) as u64) as usize;
                match next() % 5 {
                    0 => bytes[at] ^= 1 << (next() % 8),
                    1 => bytes.truncate(at),
                    2 => bytes.splice(at..at, [0xff, 0xff, 0xff, 0xff, 0x0f]).for_each(drop),
                    3 => bytes[at] = (next() % 256) as u8,
                    _ => {
                        let end = (at + (next() % 64) as usize).min(bytes.len());
                        let copy = bytes[at..end].to_vec();
                        bytes.splice(at..at, copy).for_each(drop);
                    }
                }
                if bytes.is_empty() {
                    break;
                }
            }
            patchlens::fuzzing::onnx(&bytes);
        }
    }
}

/// Every cut of real models is an error sentence or (cut at a boundary between top-level fields,
/// which protobuf cannot tell from an end) a smaller model: never a panic.
#[test]
fn every_cut_of_a_real_model_is_an_error_or_a_smaller_model() {
    for name in ["cnn_typed.onnx", "f16_int32.onnx", "constant_node.onnx", "vit_tiny.onnx"] {
        let bytes = std::fs::read(fixtures_dir().join(name)).unwrap();
        let step = (bytes.len() / 3000).max(1);
        let mut opened = 0;
        for cut in (0..bytes.len()).step_by(step).chain(bytes.len().saturating_sub(200)..bytes.len()) {
            #[allow(clippy::unnecessary_to_owned)] // Checkpoint::open takes an owned, 'static source
            match Checkpoint::open(patchlens::SliceSource(bytes[..cut].to_vec())) {
                Ok(checkpoint) => {
                    opened += 1;
                    let _ = checkpoint.tensors();
                    if let Err(e) = checkpoint.render(None, &GridOptions::default()) {
                        assert!(e.to_string().ends_with('.'), "{name} cut at {cut}: {e}");
                    }
                }
                Err(e) => assert!(e.to_string().ends_with('.'), "{name} cut at {cut}: {e}"),
            }
        }
        // Only cuts right after a whole top-level field (the graph, before opset_import) open.
        assert!(opened <= 3, "{name}: {opened} cuts opened");
    }
}
