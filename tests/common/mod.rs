//! Shared by the native integration tests: where the generated fixtures are and what the
//! manifest written by `tests/reference/make_fixtures.py` (numpy + scikit-learn) says.
#![allow(dead_code)]

pub mod sparse_npz;
pub mod synthetic;

use serde_json::Value;
use std::path::PathBuf;

pub fn fixtures_dir() -> PathBuf {
    std::env::var_os("PATCHLENS_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/generated"))
}

pub fn manifest() -> Value {
    generated_json("manifest.json")
}

/// A JSON index that `tests/reference/make_fixtures.py` wrote beside the fixtures (manifest.json, pca.json).
pub fn generated_json(file: &str) -> Value {
    let path = fixtures_dir().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}. Generate the fixtures first: `.venv/bin/python tests/reference/make_fixtures.py {}` (npm test does this).",
            path.display(),
            fixtures_dir().display()
        )
    });
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file} is not valid JSON: {e}"))
}

pub fn fixtures(manifest: &Value) -> impl Iterator<Item = &Value> {
    manifest["fixtures"].as_array().expect("fixtures array").iter()
}

pub fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("{key} is a string in {v}"))
}

pub fn dims(v: &Value) -> Vec<usize> {
    v.as_array().expect("shape array").iter().map(|d| d.as_u64().expect("dim") as usize).collect()
}

/// Expected tiles of one tensor, as (kernel shape [kh, kw, c, n], bytes ordered n, kh, kw, c).
pub fn expected_tiles(tiles: &Value) -> ([usize; 4], Vec<u8>) {
    let shape = dims(&tiles["kernel_shape"]);
    let bytes = std::fs::read(fixtures_dir().join(str_of(tiles, "file"))).expect("tiles file");
    assert_eq!(bytes.len(), shape.iter().product::<usize>(), "tiles file size");
    ([shape[0], shape[1], shape[2], shape[3]], bytes)
}
