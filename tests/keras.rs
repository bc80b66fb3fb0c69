//! Keras files beyond the shared fixture checks: the format each opens as, the notes, the order rule (the
//! first conv in the model's order, not by name), and the big .keras whose weights are read by range.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::*;
use patchlens::{Checkpoint, FileSource, GridOptions};

fn open(file: &str) -> Checkpoint {
    Checkpoint::open(FileSource::open(fixtures_dir().join(file)).unwrap()).unwrap_or_else(|e| panic!("{file}: {e}"))
}

#[test]
fn each_keras_file_opens_as_its_format_with_its_notes() {
    let manifest = manifest();
    let mut seen = 0;
    for fixture in fixtures(&manifest).filter(|f| f["keras"].as_bool() == Some(true)) {
        let file = str_of(fixture, "file");
        let checkpoint = open(file);
        assert_eq!(checkpoint.format(), str_of(fixture, "format"), "{file}");
        let notes = checkpoint.notes();
        assert!(notes.iter().any(|n| n.contains("Keras")), "{file}: {notes:?}");
        for want in fixture["notes_contain"].as_array().into_iter().flatten() {
            let want = want.as_str().unwrap();
            assert!(notes.iter().any(|n| n.contains(want)), "{file}: no note mentions {want}: {notes:?}");
        }
        assert!(notes.iter().all(|n| n.ends_with('.')), "{file}: {notes:?}");
        seen += 1;
    }
    assert!(seen >= 7, "only {seen} Keras fixtures");
}

#[test]
fn the_first_conv_in_model_order_is_drawn_not_the_first_by_name() {
    for (file, first, later) in [
        ("keras3_tiny.keras", "stem/kernel", "a_conv/kernel"),
        ("keras2_tiny.h5", "stem/kernel:0", "a_conv/kernel:0"),
        ("keras2_tiny_weights.h5", "stem/kernel:0", "a_conv/kernel:0"),
    ] {
        let checkpoint = open(file);
        let names: Vec<String> = checkpoint.tensors().into_iter().map(|t| t.name).collect();
        let at = |name: &str| names.iter().position(|n| n == name).unwrap_or_else(|| panic!("{file}: no {name}"));
        assert!(at(first) < at(later), "{file}: {names:?}");
        assert_eq!(checkpoint.default_tensor().as_deref(), Some(first), "{file}");
    }
}

#[test]
fn broken_keras_files_say_what_is_wrong() {
    let manifest = manifest();
    let case = manifest["errors"].as_array().unwrap().iter().find(|e| e["file"] == "keras3_deflated.keras").unwrap();
    let err = Checkpoint::open(FileSource::open(fixtures_dir().join(str_of(case, "file"))).unwrap()).err().unwrap();
    assert!(err.to_string().contains(str_of(case, "contains")), "{err}");
}

/// The big files: a .keras whose model.weights.h5 is read inside the zip, by range, and an HF tf_model.h5.
/// HDF5 as h5py (and so Keras) writes it puts each group's and dataset's header beside that dataset's data,
/// so listing costs about one small read per weight; the data read is the kernel's alone.
#[test]
fn big_keras_files_read_the_kernel_and_little_else() {
    let manifest = manifest();
    let mut seen = 0;
    for file in ["keras3_big.keras", "tf_model_vit_b16.h5"] {
        let Some(fixture) = fixtures(&manifest).find(|f| f["file"] == file) else { continue };
        let checkpoint = open(file);
        let rendered = checkpoint.render(None, &GridOptions::default()).unwrap();
        assert_eq!(rendered.tensor.name, str_of(fixture, "default_tensor"));
        let kernel = fixture["kernel_bytes"].as_u64().unwrap();
        let tensors = fixture["tensors"].as_array().unwrap().len() as u64;
        let (read, reads) = (checkpoint.bytes_read(), checkpoint.reads());
        eprintln!("{file}: {read} bytes in {reads} reads for a {kernel}-byte kernel, {tensors} tensors");
        let extra = fixture["extra_budget"].as_u64().unwrap_or(1 << 20);
        assert!(read >= kernel && read <= kernel + extra, "{file}: read {read} bytes for a {kernel}-byte kernel");
        assert!(reads <= tensors + 8, "{file}: {reads} reads to open and draw");
        seen += 1;
    }
    if std::env::var_os("PATCHLENS_REQUIRE_BIG").is_some() {
        assert_eq!(seen, 2, "the big Keras fixtures are missing (make_fixtures.py --big)");
    }
}

/// Issue 14: a Keras 3 `.keras` opens from config.json and the layers listing, not every layer's headers (each
/// beside its layer's data, so one read apiece): the big file's open and default draw are the zip's head and
/// tail, the weights file's first page, the `layers` symbol table (five scattered pieces) and the kernel; the
/// listing afterwards still walks every layer, by name as before.
#[test]
fn a_keras3_archive_opens_and_draws_in_a_handful_of_reads() {
    let committed = fixtures_dir().join("../committed/keras");
    for file in ["keras3_tiny.keras", "keras3_vitlike.keras"] {
        let checkpoint = Checkpoint::open(FileSource::open(committed.join(file)).unwrap()).unwrap();
        checkpoint.render(None, &GridOptions::default()).unwrap();
        assert_eq!(checkpoint.reads(), 1, "{file}: a small .keras is drawn from its first read");
    }
    let manifest = manifest();
    let Some(fixture) = fixtures(&manifest).find(|f| f["file"] == "keras3_big.keras") else {
        assert!(
            std::env::var_os("PATCHLENS_REQUIRE_BIG").is_none(),
            "keras3_big.keras is missing (make_fixtures.py --big)"
        );
        return;
    };
    let checkpoint = open("keras3_big.keras");
    let opening = checkpoint.reads();
    let rendered = checkpoint.render(None, &GridOptions::default()).unwrap();
    assert_eq!(rendered.tensor.name, "patch_embed/kernel");
    let drawn = checkpoint.reads();
    assert!(opening <= 8, "{opening} reads to open");
    assert_eq!(drawn, opening + 1, "the kernel in one read, its layer's headers from the page already read");
    let names: Vec<String> = checkpoint.tensors().into_iter().map(|t| t.name).collect();
    let want: Vec<&str> = fixture["tensors"].as_array().unwrap().iter().map(|t| str_of(t, "name")).collect();
    assert_eq!(names, want);
    eprintln!(
        "keras3_big.keras: {opening} reads to open, {drawn} with the draw, {} with the listing",
        checkpoint.reads()
    );
}
