//! Position-embedding similarity against matplotlib: each fixture of tests/reference/fixtures_positions.py
//! (AugReg, SigLIP, DINO, CLIP, DeiT, GGUF layouts) is opened through `Checkpoint`, its position embedding
//! picked and drawn both ways, and every pixel's colour-map entry compared with matplotlib's.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::*;
use patchlens::analysis::positions::{
    pick_position_embedding, render, tokens_and_width, PositionImage, SimilarityMode, SimilarityOptions, TokenGrid,
};
use patchlens::colormap::{Colormap, Lookup};
use patchlens::{Checkpoint, FileSource};

/// matplotlib's index files: 256 marks a bad (NaN) value, 65535 a gap between tiles.
const BAD: u16 = 256;
const GAP: u16 = 0xFFFF;

fn position_fixtures(manifest: &serde_json::Value) -> Vec<&serde_json::Value> {
    fixtures(manifest).filter(|f| f.get("positions").is_some()).collect()
}

fn open(file: &str) -> Checkpoint {
    Checkpoint::open(FileSource::open(fixtures_dir().join(file)).unwrap()).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn expected_index(file: &str, size: &serde_json::Value) -> (usize, usize, Vec<u16>) {
    let [width, height] = dims(size)[..] else { panic!("{file}: size is [width, height]") };
    let bytes = std::fs::read(fixtures_dir().join(file)).unwrap();
    assert_eq!(bytes.len(), width * height * 2, "{file}");
    (width, height, bytes.chunks_exact(2).map(|b| u16::from_le_bytes([b[0], b[1]])).collect())
}

/// Compares every pixel's entry with matplotlib's: at least 99.99 % equal, the rest one entry apart,
/// gaps and bad values exactly where matplotlib has them; and each pixel is drawn in its entry's colour.
fn compare(label: &str, image: &PositionImage, file: &str, size: &serde_json::Value) -> usize {
    let (width, height, want) = expected_index(file, size);
    assert_eq!((image.width, image.height), (width, height), "{label}: image size");
    let (mut compared, mut off_by_one) = (0usize, 0usize);
    for y in 0..height {
        for x in 0..width {
            let expected = want[y * width + x];
            let lookup = image.lookup_at(x, y);
            let pixel = &image.rgba[(y * width + x) * 4..][..4];
            match (expected, lookup) {
                (GAP, None) => assert_eq!(pixel, [0, 0, 0, 255], "{label}: gap at ({x}, {y})"),
                (BAD, Some(Lookup::Bad)) => assert_eq!(pixel, [0, 0, 0, 0], "{label}: bad at ({x}, {y})"),
                (entry, Some(got)) if entry < BAD && got != Lookup::Bad => {
                    let got = got.entry().map(u16::from).unwrap();
                    assert!(got.abs_diff(entry) <= 1, "{label}: ({x}, {y}) entry {got}, matplotlib {entry}");
                    off_by_one += usize::from(got != entry);
                    compared += 1;
                    assert_eq!(pixel, image.colorbar.colormap.rgba(Lookup::Entry(got as u8)), "{label}: ({x}, {y})");
                }
                (entry, got) => panic!("{label}: ({x}, {y}) is {got:?}, matplotlib's index {entry}"),
            }
        }
    }
    assert!(compared > 0, "{label}: nothing compared");
    assert!(off_by_one * 10_000 <= compared, "{label}: {off_by_one} of {compared} pixels one entry off");
    if off_by_one > 0 {
        eprintln!("{label}: {off_by_one} of {compared} pixels one entry off matplotlib's");
    }
    compared
}

#[test]
fn colour_tables_are_matplotlibs() {
    for map in [Colormap::Viridis, Colormap::Inferno] {
        let bytes = std::fs::read(fixtures_dir().join(format!("colormap.{}.u8", map.name()))).unwrap();
        assert_eq!(map.lut().as_flattened(), bytes.as_slice(), "{}", map.name());
    }
}

#[test]
fn every_pixel_matches_matplotlib_in_both_modes() {
    let manifest = manifest();
    let cases = position_fixtures(&manifest);
    assert!(cases.len() >= 6, "only {} position fixtures; is the manifest current?", cases.len());
    for fixture in cases {
        let file = str_of(fixture, "file");
        let want = &fixture["positions"];
        let checkpoint = open(file);

        let listed = checkpoint.tensors();
        let names: Vec<String> = listed.iter().map(|t| t.name.clone()).collect();
        let pick = pick_position_embedding(&names, |i| listed.get(i).and_then(|t| t.info.clone()))
            .unwrap_or_else(|| panic!("{file}: no position embedding picked"));
        assert_eq!(names[pick.index], str_of(want, "tensor"), "{file}: picked ({})", pick.reason);

        let (info, values) = checkpoint.tensor_values(&names[pick.index]).unwrap();
        let (tokens, _) = tokens_and_width(&info.shape).unwrap_or_else(|| panic!("{file}: shape {:?}", info.shape));
        let grid = TokenGrid::infer(tokens).unwrap();
        let expect = |key: &str| want[key].as_u64().unwrap() as usize;
        assert_eq!(
            (grid.extra, grid.rows, grid.cols),
            (expect("extra_tokens"), expect("rows"), expect("cols")),
            "{file}"
        );

        let cosine = render(&values, &info.shape, &grid, &SimilarityOptions::default()).unwrap();
        assert_eq!(cosine.gap, expect("gap"));
        compare(&format!("{file} cosine"), &cosine, str_of(want, "cosine"), &want["cosine_size"]);

        let options = SimilarityOptions { mode: SimilarityMode::Dot, ..Default::default() };
        let dot = render(&values, &info.shape, &grid, &options).unwrap();
        let range = want["dot_range"].as_array().unwrap();
        let (min, max) = (range[0].as_f64().unwrap(), range[1].as_f64().unwrap());
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * b.abs().max(1.0);
        assert!(close(dot.colorbar.min, min) && close(dot.colorbar.max, max), "{file}: {:?}", dot.colorbar);
        compare(&format!("{file} dot"), &dot, str_of(want, "dot"), &want["dot_size"]);
    }
}

#[test]
fn tensor_values_are_c_order_and_refusals_are_sentences() {
    // Fortran-order storage (the SigLIP fixture) is put in C order: the pixel test above fails otherwise.
    let checkpoint = open("positions_siglip.npz");
    let (info, values) = checkpoint.tensor_values("params/img/pos_embedding").unwrap();
    assert_eq!((info.shape.as_slice(), values.len()), ([1, 256, 48].as_slice(), 256 * 48));
    let (_, kernel) = checkpoint.tensor_values("params/img/embedding/kernel").unwrap();
    assert_eq!(kernel.len(), 16 * 16 * 3 * 48);
    let missing = checkpoint.tensor_values("pos_embed").unwrap_err().to_string();
    let ints = open("non_float.npz").tensor_values("counts").unwrap_err().to_string();
    for text in [missing, ints] {
        assert!(text.ends_with('.') && text.len() > 20, "{text}");
    }
}

/// Native timings for the two sizes the brief names (run with `--release -- --ignored --nocapture`).
#[test]
#[ignore]
fn timings() {
    for (tokens, width) in [(197, 768), (577, 1024)] {
        let values: Vec<f64> = (0..tokens * width).map(|i| ((i * 7919) % 1000) as f64 / 500.0 - 1.0).collect();
        let grid = TokenGrid::infer(tokens).unwrap();
        for mode in [SimilarityMode::Cosine, SimilarityMode::Dot] {
            let options = SimilarityOptions { mode, ..Default::default() };
            let mut best = f64::INFINITY;
            for _ in 0..5 {
                let started = std::time::Instant::now();
                let image = render(&values, &[1, tokens, width], &grid, &options).unwrap();
                best = best.min(started.elapsed().as_secs_f64());
                assert!(!image.rgba.is_empty());
            }
            eprintln!("{tokens} × {width} {}: {:.1} ms (best of 5)", mode.name(), best * 1e3);
        }
    }
}

/// The view as the page, CLI and API draw it: found by name, laid out by the grid. With the figure's defaults
/// (1-px black gaps, a row of tiles per grid row) it is the similarity image pixel for pixel; `dot` is one tile.
#[test]
fn the_view_lays_the_image_out_as_a_grid_of_tiles() {
    use patchlens::analysis::view::{position_defaults, PositionView};
    use patchlens::grid::GridOptions;
    let manifest = manifest();
    for fixture in position_fixtures(&manifest) {
        let file = str_of(fixture, "file");
        let checkpoint = open(file);
        let (name, reason) = checkpoint.default_position_embedding().unwrap();
        assert_eq!(name, str_of(&fixture["positions"], "tensor"), "{file}");
        assert!(!reason.is_empty());
        for mode in [SimilarityMode::Cosine, SimilarityMode::Dot] {
            let view = PositionView { mode, ..PositionView::default() };
            let drawn = checkpoint
                .render_positions(None, &view, |t| GridOptions { zoom: 1, ..position_defaults(mode, t) })
                .unwrap();
            let (info, values) = checkpoint.tensor_values(&name).unwrap();
            let gap = if mode == SimilarityMode::Cosine { 1 } else { 0 };
            let image = render(&values, &info.shape, &drawn.tokens, &SimilarityOptions { mode, gap }).unwrap();
            assert_eq!((drawn.grid.width, drawn.grid.height), (image.width, image.height), "{file} {mode:?}");
            for (p, (got, want)) in drawn.grid.rgba.chunks_exact(4).zip(image.rgba.chunks_exact(4)).enumerate() {
                let want = if want[3] == 0 { [0, 0, 0, 255] } else { [want[0], want[1], want[2], 255] };
                assert_eq!(got, want, "{file} {mode:?}: pixel {p}");
            }
            // Zoom and fitting work as for filters.
            let zoomed = checkpoint
                .render_positions(None, &view, |t| GridOptions { zoom: 2, ..position_defaults(mode, t) })
                .unwrap();
            assert_eq!(
                zoomed.grid.width,
                if gap == 1 { 2 * image.width - (drawn.tokens.cols - 1) } else { 2 * image.width }
            );
        }
    }
    let no_embedding = open("stored_f32.npz");
    let refused =
        no_embedding.render_positions(None, &PositionView::default(), |t| position_defaults(SimilarityMode::Cosine, t));
    assert!(refused.unwrap_err().to_string().starts_with("No position embedding was found"));
}
