//! TFLite files beyond the shared fixture checks: what each real converter output lists and picks, the
//! damaged files' sentences at the stage they must fail, and how few reads drawing a big model costs.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::*;
use patchlens::{Checkpoint, FileSource, GridOptions};

fn open(file: &str) -> Checkpoint {
    Checkpoint::open(FileSource::open(fixtures_dir().join(file)).unwrap()).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn tflite_fixtures(manifest: &serde_json::Value) -> Vec<&serde_json::Value> {
    fixtures(manifest).filter(|f| f["format"].as_str() == Some("tflite")).collect()
}

#[test]
fn every_converter_output_picks_its_first_conv_and_says_why() {
    let manifest = manifest();
    let mut seen = 0;
    for fixture in tflite_fixtures(&manifest).into_iter().filter(|f| f["big"].as_bool() != Some(true)) {
        let file = str_of(fixture, "file");
        let checkpoint = open(file);
        assert_eq!(checkpoint.format(), "tflite");
        let reason = checkpoint.default_reason().unwrap_or_default();
        assert!(reason.contains("first CONV_2D"), "{file}: {reason}");
        let notes = checkpoint.notes();
        assert!(notes.iter().any(|n| n.contains("is the filter of CONV_2D #")), "{file}: {notes:?}");
        assert!(notes.iter().all(|n| n.ends_with('.')), "{file}: {notes:?}");
        seen += 1;
    }
    assert!(seen >= 10, "only {seen} TFLite fixtures");
    // Quantized kernels list as such; the fer model's first conv is grayscale.
    let int8 = open("cnn_int8.tflite");
    let stem = int8.tensors().into_iter().find(|t| t.name.ends_with("stem_1/convolution")).unwrap();
    assert_eq!((stem.info.unwrap().dtype.name(), stem.problem), ("int8 (quantized)", None));
    let fer = open("fer_emotion_model_quantized.tflite");
    let (info, filters) = fer.filters(None).unwrap();
    assert_eq!((info.shape, filters.dims()), (vec![8, 3, 3, 1], [3, 3, 1, 8]));
}

#[test]
fn damaged_files_fail_where_they_must() {
    let manifest = manifest();
    let errors: Vec<_> =
        manifest["errors"].as_array().unwrap().iter().filter(|e| str_of(e, "file").starts_with("tflite_")).collect();
    assert!(errors.len() >= 9, "only {} damaged TFLite files", errors.len());
    for case in errors {
        let file = str_of(case, "file");
        let opened = Checkpoint::open(FileSource::open(fixtures_dir().join(file)).unwrap());
        let error = match (str_of(case, "stage"), opened) {
            ("open", Err(e)) => e,
            ("draw", Ok(checkpoint)) => {
                checkpoint.render(None, &GridOptions::default()).err().unwrap_or_else(|| panic!("{file} drew"))
            }
            (stage, Ok(_)) => panic!("{file} opened but must fail at {stage}"),
            (stage, Err(e)) => panic!("{file} failed to open ({e}) but must open and fail at {stage}"),
        };
        let text = error.to_string();
        assert!(text.ends_with('.') && (text.contains("TFLite") || text.contains("Tensor ")), "{file}: {text}");
    }
}

#[test]
fn a_big_model_is_drawn_in_a_few_reads() {
    let manifest = manifest();
    let Some(big) = tflite_fixtures(&manifest).into_iter().find(|f| f["big"].as_bool() == Some(true)) else {
        assert!(std::env::var_os("PATCHLENS_REQUIRE_BIG").is_none(), "no big TFLite fixture (make_fixtures.py --big)");
        return;
    };
    let checkpoint = open(str_of(big, "file"));
    let opening = checkpoint.reads();
    let rendered = checkpoint.render(None, &GridOptions::default()).unwrap();
    assert_eq!(rendered.filter_shape, [16, 16, 3]);
    // The head (64 KiB) and the page of the subgraph tables to open, then the kernel's own bytes.
    assert!(opening <= 3, "{opening} reads to open");
    assert!(checkpoint.reads() <= 4, "{} reads to open and draw", checkpoint.reads());
    let kernel = big["kernel_bytes"].as_u64().unwrap();
    eprintln!(
        "{}: {opening} reads to open, {} in all, {} bytes read for a {kernel}-byte kernel in a {}-byte file",
        str_of(big, "file"),
        checkpoint.reads(),
        checkpoint.bytes_read(),
        checkpoint.file_size()
    );
    assert!(checkpoint.bytes_read() < kernel + (256 << 10), "read {} bytes", checkpoint.bytes_read());
}
