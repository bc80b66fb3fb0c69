//! Every fixture written by real numpy is read, listed and drawn, and every byte of every tile
//! is compared with scikit-learn's MinMaxScaler + imshow's conversion (tests/reference/tiles.py).
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::*;
use patchlens::{Checkpoint, FileSource, GridOptions, SliceSource};

fn open(file: &str) -> Checkpoint {
    let path = fixtures_dir().join(file);
    Checkpoint::open(FileSource::open(&path).unwrap()).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// A fixture with the files it comes with (`companions`: ONNX external data), opened together as a
/// multi-file drop would open them; exactly one checkpoint must come out.
fn open_fixture(fixture: &serde_json::Value) -> Checkpoint {
    let file = str_of(fixture, "file");
    let Some(companions) = fixture["companions"].as_array() else { return open(file) };
    let names = std::iter::once(file).chain(companions.iter().map(|c| c.as_str().expect("companion name")));
    let files = names
        .map(|name| {
            let source = FileSource::open(fixtures_dir().join(name)).unwrap();
            (name.to_string(), std::rc::Rc::new(source) as std::rc::Rc<dyn patchlens::ByteSource>)
        })
        .collect();
    let mut opened = Checkpoint::open_files(files);
    assert_eq!(opened.len(), 1, "{file} and its companions are one checkpoint");
    let group = opened.remove(0);
    assert_eq!(group.files.len(), 1 + companions.len(), "{file}: {:?}", group.files);
    group.checkpoint.unwrap_or_else(|e| panic!("{file}: {e}"))
}

#[test]
fn every_tile_equals_scikit_learn() {
    let manifest = manifest();
    let mut checked = 0;
    for fixture in fixtures(&manifest).filter(|f| f["big"].as_bool() != Some(true)) {
        let file = str_of(fixture, "file");
        let checkpoint = open_fixture(fixture);
        for tiles in fixture["tiles"].as_array().unwrap() {
            let tensor = str_of(tiles, "tensor");
            let ([kh, kw, c, n], expected) = expected_tiles(tiles);
            let (_, filters) = checkpoint.filters(Some(tensor)).unwrap_or_else(|e| panic!("{file} {tensor}: {e}"));
            assert_eq!(filters.dims(), [kh, kw, c, n], "{file} {tensor}");
            let tile_len = kh * kw * c;
            for i in 0..n {
                let tile = filters.tile(i).unwrap();
                let want = &expected[i * tile_len..(i + 1) * tile_len];
                if tile != want {
                    let at = tile.iter().zip(want).position(|(a, b)| a != b).unwrap();
                    panic!(
                        "{file} {tensor}: filter {i} differs at byte {at}: {} vs scikit-learn {}",
                        tile[at], want[at]
                    );
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} tensors were checked; is the manifest complete?");
}

#[test]
fn lists_every_tensor_and_picks_the_same_default() {
    let manifest = manifest();
    for fixture in fixtures(&manifest).filter(|f| f["big"].as_bool() != Some(true)) {
        let file = str_of(fixture, "file");
        let checkpoint = open_fixture(fixture);
        let listed = checkpoint.tensors();
        let want = fixture["tensors"].as_array().unwrap();
        assert_eq!(listed.len(), want.len(), "{file}: tensor count");
        for (got, want) in listed.iter().zip(want) {
            let info = got.info.as_ref().unwrap_or_else(|| panic!("{file} {}: {:?}", got.name, got.problem));
            assert_eq!(got.name, str_of(want, "name"), "{file}");
            assert_eq!(info.dtype.name(), str_of(want, "dtype"), "{file} {}", got.name);
            assert_eq!(info.shape, dims(&want["shape"]), "{file} {}", got.name);
        }
        assert_eq!(
            checkpoint.default_tensor().as_deref(),
            fixture["default_tensor"].as_str(),
            "{file}: default tensor"
        );
    }
}

#[test]
fn zero_gap_zoom_one_grid_is_the_tiles_side_by_side() {
    let manifest = manifest();
    let fixture = fixtures(&manifest).find(|f| str_of(f, "file") == "stored_f32.npz").expect("stored_f32 fixture");
    let ([kh, kw, c, n], expected) = expected_tiles(&fixture["tiles"][0]);
    let bytes = std::fs::read(fixtures_dir().join("stored_f32.npz")).unwrap();
    // The in-memory source must give the same pixels as the file source.
    let checkpoint = Checkpoint::open(SliceSource(bytes)).unwrap();
    let options = GridOptions { count: n, columns: n, zoom: 1, gap: 0, ..GridOptions::default() };
    let grid = checkpoint.render(None, &options).unwrap().grid;
    assert_eq!((grid.width, grid.height), (n * kw, kh));
    for i in 0..n {
        for y in 0..kh {
            for x in 0..kw {
                let p = (y * grid.width + i * kw + x) * 4;
                let t = ((i * kh + y) * kw + x) * c;
                assert_eq!(&grid.rgba[p..p + 3], &expected[t..t + 3], "filter {i} pixel ({y}, {x})");
            }
        }
    }
}

#[test]
fn broken_files_fail_with_a_sentence() {
    let manifest = manifest();
    for case in manifest["errors"].as_array().unwrap() {
        let file = str_of(case, "file");
        // A broken file that needs its companions to show its damage (a TF index and its data file).
        let opened = if case["companions"].is_array() {
            let companions = case["companions"].as_array().unwrap().iter().map(|c| c.as_str().unwrap());
            let names = std::iter::once(file).chain(companions);
            let files = names
                .map(|name| {
                    let source = FileSource::open(fixtures_dir().join(name)).unwrap();
                    (name.to_string(), std::rc::Rc::new(source) as std::rc::Rc<dyn patchlens::ByteSource>)
                })
                .collect();
            Checkpoint::open_files(files).remove(0).checkpoint
        } else {
            Checkpoint::open(FileSource::open(fixtures_dir().join(file)).unwrap())
        };
        let error = match opened {
            Err(e) => e,
            Ok(checkpoint) => {
                assert_eq!(str_of(case, "stage"), "draw", "{file} should fail to open");
                let _ = checkpoint.tensors();
                checkpoint.render(None, &GridOptions::default()).err().unwrap_or_else(|| panic!("{file} drew"))
            }
        };
        let text = error.to_string();
        assert!(text.len() > 10 && text.ends_with('.'), "{file}: '{text}' is not a sentence");
        assert!(!text.contains("panicked"), "{file}: {text}");
    }
}

#[test]
fn every_cut_of_a_real_archive_is_an_error_not_a_panic() {
    for file in ["compressed_f32.npz", "zip64_deflated.npz", "npy_v3.npz"] {
        let bytes = std::fs::read(fixtures_dir().join(file)).unwrap();
        let step = (bytes.len() / 2000).max(1);
        for cut in (0..bytes.len()).step_by(step).chain(bytes.len().saturating_sub(300)..bytes.len()) {
            #[allow(clippy::unnecessary_to_owned)] // Checkpoint::open takes an owned, 'static source
            if let Ok(checkpoint) = Checkpoint::open(SliceSource(bytes[..cut].to_vec())) {
                let _ = checkpoint.tensors();
                assert!(
                    checkpoint.render(None, &GridOptions::default()).is_err() || cut == bytes.len(),
                    "{file} cut at {cut} drew"
                );
            }
        }
    }
}

/// Big files (`--big`: AugReg-shaped .npz and the other formats' big fixtures): opening and drawing
/// reads at most the kernel plus the fixture's `extra_budget` (1 MiB unless it says otherwise).
#[test]
fn big_checkpoints_read_little_more_than_the_kernel() {
    let manifest = manifest();
    let mut seen = 0;
    for fixture in fixtures(&manifest).filter(|f| f["big"].as_bool() == Some(true)) {
        let file = str_of(fixture, "file");
        let kernel_bytes = fixture["kernel_bytes"].as_u64().unwrap();
        let extra = fixture["extra_budget"].as_u64().unwrap_or(1 << 20);
        let checkpoint = open_fixture(fixture);
        let rendered = checkpoint.render(None, &GridOptions::default()).unwrap();
        assert_eq!(Some(rendered.tensor.name.as_str()), fixture["default_tensor"].as_str(), "{file}");
        assert_eq!(rendered.grid.filters_shown, 128);
        let read = checkpoint.bytes_read();
        // At least the drawn filters' own bytes; a format storing the kernel filter by filter reads only those.
        let total = rendered.grid.filters_total as u64;
        let drawn_bytes = kernel_bytes * rendered.grid.filters_shown as u64 / total;
        assert!(read >= drawn_bytes, "{file}: read {read} bytes, less than the {drawn_bytes} of the filters drawn");
        assert!(read <= kernel_bytes + extra, "{file}: read {read} bytes for a {kernel_bytes}-byte kernel");
        if ["pytorch", "safetensors", "gguf"].contains(&checkpoint.format()) {
            assert!(read <= drawn_bytes + extra, "{file}: read {read} bytes to draw {drawn_bytes} bytes of filters");
        }
        if let Some(max_reads) = fixture["max_reads"].as_u64() {
            let reads = checkpoint.reads();
            assert!(reads <= max_reads, "{file}: {reads} reads from drop to pixels, more than {max_reads}");
        }
        let entries = fixture["tensors"].as_array().unwrap().len() as u64;
        let reads_before = checkpoint.reads();
        assert_eq!(checkpoint.tensors().len() as u64, entries);
        if file.ends_with(".npz") {
            // Listing an npz reads every header; nearby ones come in one read, which may carry up to
            // COALESCE_GAP (16 KiB) of data between them, so allow half that per entry on average.
            let listing_reads = checkpoint.reads() - reads_before;
            assert!(listing_reads < entries / 2, "{file}: {listing_reads} reads to list {entries} tensors");
            let budget = kernel_bytes + (1 << 20) + entries * (8 << 10);
            assert!(checkpoint.bytes_read() <= budget, "{file}: listing read {} bytes", checkpoint.bytes_read());
        }
        seen += 1;
    }
    if std::env::var_os("PATCHLENS_REQUIRE_BIG").is_some() {
        assert!(
            seen > 0,
            "PATCHLENS_REQUIRE_BIG is set but the manifest has no big fixtures (run make_fixtures.py --big)"
        );
    }
}

/// What a user is told was read counts each byte of the file once: never more than the file holds, however
/// often a header is read again (a zip's local header after its directory, a pickle streamed twice).
#[test]
fn bytes_read_are_distinct_bytes_of_the_file() {
    let manifest = manifest();
    let mut checked = 0;
    for fixture in fixtures(&manifest).filter(|f| f["big"].as_bool() != Some(true)) {
        let file = str_of(fixture, "file");
        let checkpoint = open_fixture(fixture);
        let _ = checkpoint.tensors();
        if fixture["default_tensor"].is_string() {
            checkpoint.render(None, &GridOptions::default()).unwrap_or_else(|e| panic!("{file}: {e}"));
        }
        let (read, size) = (checkpoint.distinct_bytes_read(), checkpoint.file_size());
        assert!(read <= size, "{file}: read {read} of {size} bytes");
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} fixtures");
}
