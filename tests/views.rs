//! The filters view's options against their numpy formulas (tests/reference/tiles.py, written at test time
//! into views.json): `global` and `symmetric` normalisation byte for byte, the norm order index for index,
//! and the grid they make — reordered, and with each filter's channels apart.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::*;
use patchlens::grid::GridOptions;
use patchlens::{Checkpoint, FileSource, FilterView, Normalize, Order};
use serde_json::Value;

fn views() -> Value {
    let text = std::fs::read_to_string(fixtures_dir().join("views.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn cases() -> Vec<Value> {
    let path = fixtures_dir().join("views.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run tests/reference/make_fixtures.py", path.display()));
    let views: Value = serde_json::from_str(&text).unwrap();
    let cases = views["cases"].as_array().unwrap().clone();
    assert!(cases.len() >= 8, "views.json lists the cases");
    cases
}

fn open(case: &Value) -> (Checkpoint, patchlens::Filters) {
    let checkpoint = Checkpoint::open(FileSource::open(fixtures_dir().join(str_of(case, "file"))).unwrap()).unwrap();
    let (_, filters) = checkpoint.filters(Some(str_of(case, "tensor"))).unwrap();
    (checkpoint, filters)
}

#[test]
fn global_and_symmetric_tiles_equal_numpy_byte_for_byte() {
    for case in cases() {
        let (_, filters) = open(&case);
        let [kh, kw, c, n] = filters.dims();
        assert_eq!(dims(&case["kernel_shape"]), [kh, kw, c, n]);
        let all: Vec<usize> = (0..n).collect();
        for (mode, normalize) in [("global", Normalize::Global), ("symmetric", Normalize::Symmetric)] {
            let expected = std::fs::read(fixtures_dir().join(str_of(&case, mode))).unwrap();
            let tiles = filters.tiles_of(&all, normalize);
            let tile_len = kh * kw * c;
            for (i, tile) in tiles.iter().enumerate() {
                assert_eq!(
                    tile,
                    &expected[i * tile_len..(i + 1) * tile_len],
                    "{} {mode}: filter {i}",
                    str_of(&case, "file")
                );
            }
        }
    }
}

#[test]
fn norm_order_equals_numpy_argsort() {
    for case in cases() {
        let (_, filters) = open(&case);
        let expected: Vec<usize> =
            case["norm_order"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
        assert_eq!(filters.norm_order(), expected, "{}", str_of(&case, "file"));
    }
}

#[test]
fn the_grid_draws_filters_in_norm_order_and_channels_apart() {
    let case = cases().into_iter().find(|c| str_of(c, "file") == "dinov2_vits14.npz").unwrap();
    let (checkpoint, filters) = open(&case);
    let [kh, kw, c, _] = filters.dims();
    let order: Vec<usize> =
        case["norm_order"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
    let side_by_side = GridOptions { count: 5, columns: 5, zoom: 1, gap: 0, ..GridOptions::default() };
    let view = FilterView { order: Order::Norm, ..FilterView::default() };
    let rendered = checkpoint.render_view(None, None, &view, &side_by_side).unwrap();
    assert_eq!(rendered.shown, order[..5], "the file index of each tile drawn");
    let pixel = |x: usize, y: usize| &rendered.grid.rgba[(y * rendered.grid.width + x) * 4..][..3];
    for (k, &index) in order[..5].iter().enumerate() {
        let tile = filters.tile(index).unwrap();
        assert_eq!(pixel(k * kw + 3, 2), &tile[(2 * kw + 3) * c..][..3], "tile {k} is filter {index}");
    }

    // --channels: one cell per filter holding its R, G and B planes in grey, `gap` apart.
    let apart = FilterView { channels: true, ..FilterView::default() };
    let options = GridOptions { count: 2, columns: 2, zoom: 1, gap: 1, ..GridOptions::default() };
    let rendered = checkpoint.render_view(None, None, &apart, &options).unwrap();
    let cell = 3 * kw + 2;
    assert_eq!((rendered.grid.width, rendered.grid.height), (2 * cell + 1, kh));
    let tile = filters.tile(1).unwrap();
    for channel in 0..3 {
        let x = cell + 1 + channel * (kw + 1) + 4;
        let at = (rendered.grid.width * 6 + x) * 4;
        let value = tile[(6 * kw + 4) * c + channel];
        assert_eq!(&rendered.grid.rgba[at..at + 3], &[value; 3], "filter 1, channel {channel}");
    }
}

#[test]
fn the_inspectors_numbers_equal_numpy() {
    for case in cases() {
        let (_, filters) = open(&case);
        let expected = case["stats"].as_array().unwrap();
        let indices: Vec<usize> = (0..expected.len()).collect();
        for (i, (stats, row)) in filters.stats(&indices).iter().zip(expected).enumerate() {
            let number = |v: &Value| v.as_f64().unwrap_or_else(|| v.as_str().unwrap().parse::<f64>().unwrap());
            let want: Vec<f64> = row.as_array().unwrap().iter().map(number).collect();
            let got = [stats.min, stats.max, stats.mean, stats.norm];
            for (what, (g, w)) in ["min", "max", "mean", "norm"].iter().zip(got.iter().zip(&want)) {
                // numpy sums pairwise, patchlens in order: the mean may differ in the last bits.
                let close = (g.is_nan() && w.is_nan()) || g == w || (g - w).abs() <= 1e-12 * w.abs().max(1e-300);
                assert!(close, "{} filter {i} {what}: {g} vs numpy's {w}", str_of(&case, "file"));
            }
        }
    }
}

#[test]
fn the_difference_of_two_checkpoints_equals_numpy() {
    let pair = &views()["difference"];
    let open_file =
        |key: &str| Checkpoint::open(FileSource::open(fixtures_dir().join(str_of(pair, key))).unwrap()).unwrap();
    let (a, b) = (open_file("a"), open_file("b"));
    let (_, fa) = a.filters(None).unwrap();
    let (_, fb) = b.filters(None).unwrap();
    let change = patchlens::compare::difference(&fa, &fb).unwrap();
    let number = |v: &Value| v.as_f64().unwrap_or_else(|| v.as_str().unwrap().parse::<f64>().unwrap());
    let cosine: Vec<f64> = pair["cosine"].as_array().unwrap().iter().map(number).collect();
    for (i, (got, want)) in change.cosine.iter().zip(&cosine).enumerate() {
        // numpy's reduction may group its additions differently: equal to the last bits.
        let close = (got - want).abs() <= 1e-12 || (got.is_nan() && want.is_nan());
        assert!(close, "filter {i}: cosine {got} vs numpy's {want}");
    }
    assert_eq!(change.cosine[3], 1.0, "the filter left alone");
    let order: Vec<usize> = pair["order"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
    assert_eq!(change.most_changed_first(), order);
    let n = fa.dims()[3];
    let expected = std::fs::read(fixtures_dir().join(str_of(pair, "symmetric"))).unwrap();
    let tiles = change.filters.tiles_of(&(0..n).collect::<Vec<_>>(), Normalize::Symmetric);
    assert_eq!(tiles.concat(), expected, "A − B, symmetric");

    // The view: most changed first, with each tile's similarity.
    let options = GridOptions { count: 4, columns: 4, zoom: 1, gap: 0, ..GridOptions::default() };
    let rendered = patchlens::compare::render_difference(&a, &b, [None, None], [None, None], &options).unwrap();
    assert_eq!(rendered.shown, order[..4]);
    assert_eq!(
        rendered.similarity.as_deref().unwrap(),
        &order[..4].iter().map(|&i| change.cosine[i]).collect::<Vec<_>>()[..]
    );
    let other = Checkpoint::open(FileSource::open(fixtures_dir().join("grayscale.npz")).unwrap()).unwrap();
    let refused = patchlens::compare::render_difference(&a, &other, [None, None], [None, None], &options);
    assert!(refused.unwrap_err().to_string().contains("differ in shape"));
}
