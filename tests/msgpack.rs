//! Flax msgpack files beyond the shared fixture checks: each opens as msgpack, notes count the leaves that
//! are not arrays, damaged files say what is wrong, and how many reads listing and drawing a big tree cost.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::*;
use patchlens::{Checkpoint, FileSource, GridOptions};

fn open(file: &str) -> patchlens::Result<Checkpoint> {
    Checkpoint::open(FileSource::open(fixtures_dir().join(file)).unwrap())
}

#[test]
fn each_flax_file_opens_as_msgpack_with_its_notes() {
    let manifest = manifest();
    let mut seen = 0;
    for fixture in fixtures(&manifest).filter(|f| f["format"].as_str() == Some("msgpack")) {
        let file = str_of(fixture, "file");
        let checkpoint = open(file).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(checkpoint.format(), "msgpack", "{file}");
        let notes = checkpoint.notes().join(" ");
        for wanted in fixture["notes_contain"].as_array().into_iter().flatten() {
            assert!(notes.contains(wanted.as_str().unwrap()), "{file}: notes '{notes}'");
        }
        seen += 1;
    }
    assert!(seen >= 9, "only {seen} msgpack fixtures");
}

#[test]
fn damaged_flax_files_say_what_is_wrong() {
    let expected = [
        ("msgpack_cut.msgpack", "it may be cut short"),
        ("msgpack_ext_past_end.msgpack", "past the end of the"),
        ("msgpack_lying_shape.msgpack", "claims shape 4×4×3×17"),
        ("msgpack_deep.msgpack", "levels deep"),
        ("msgpack_map32_huge.msgpack", "4294967295 entries"),
        ("msgpack_key_not_utf8.msgpack", "not valid UTF-8"),
    ];
    let manifest = manifest();
    let errors: Vec<&str> = manifest["errors"].as_array().unwrap().iter().map(|e| str_of(e, "file")).collect();
    for (file, phrase) in expected {
        assert!(errors.contains(&file), "{file} is not in the manifest");
        let error = open(file).err().unwrap_or_else(|| panic!("{file} opened")).to_string();
        assert!(error.contains(phrase), "{file}: {error}");
    }
}

/// The AugReg B/16 tree (346 MB, `--big`): listing walks 200 arrays' entries between payloads; each refill
/// after a big payload is one read. Drawing is one more read of exactly the kernel's bytes.
#[test]
fn a_big_flax_tree_is_listed_in_few_small_reads_and_drawn_in_one() {
    let file = "augreg_b16.msgpack";
    if !fixtures_dir().join(file).exists() {
        assert!(std::env::var_os("PATCHLENS_REQUIRE_BIG").is_none(), "{file} is missing");
        return;
    }
    let manifest = manifest();
    let fixture = fixtures(&manifest).find(|f| str_of(f, "file") == file).unwrap();
    let checkpoint = open(file).unwrap();
    let (reads, bytes) = (checkpoint.reads(), checkpoint.bytes_read());
    eprintln!("{file}: opening (listing) took {reads} reads, {bytes} bytes");
    assert_eq!(checkpoint.tensors().len(), fixture["tensors"].as_array().unwrap().len());
    assert_eq!(checkpoint.reads(), reads, "listing is done at open");
    assert!(reads <= 100, "{reads} reads to list");
    assert!(bytes <= (64 << 10) + reads * (8 << 10), "{bytes} bytes to list");
    let rendered = checkpoint.render(None, &GridOptions::default()).unwrap();
    assert_eq!(rendered.tensor.name, "params/embedding/kernel");
    let kernel = 16 * 16 * 3 * 768 * 4;
    assert_eq!(checkpoint.reads(), reads + 1, "the kernel in one read");
    assert_eq!(checkpoint.bytes_read(), bytes + kernel);
    eprintln!("{file}: drawing took 1 read of {kernel} bytes; {} bytes in all", checkpoint.bytes_read());
}
