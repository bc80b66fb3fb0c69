//! Times principal components step by step (samples, centring, scatter matrix, tridiagonalisation,
//! bisection, inverse iteration, back-transformation, signs, tiles) and the whole view as the page draws it
//! (`Checkpoint::render_pca`), first call and warm, for each checkpoint given. Natively:
//!
//!   cargo run --release --example pca_steps -- [--runs 7] model.npz kernel.npy ...
//!
//! and in wasm, in Node's V8 (the page's engine), built for WASI so the same code reads a clock
//! (benches/pca_steps.sh does both and prints them beside a baseline's). `--parity DIR` instead checks every
//! case of DIR/pca.json (tests/reference/fixtures_pca.py) as tests/pca.rs does, so the wasm build's SIMD
//! code is held to scikit-learn too: components within 1e-9, ratios within 1e-6, every pixel within a level.

use patchlens::analysis::pca::{pca_tiles, Pca, DEFAULT_COMPONENTS};
use patchlens::analysis::view::pca_defaults;
#[path = "support/seek.rs"]
mod seek;

use patchlens::Checkpoint;
use seek::SeekSource;
use std::time::Instant;

fn open(path: &str) -> Checkpoint {
    SeekSource::open(path).and_then(Checkpoint::open).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// One fit and its tiles: (step, milliseconds) in order, then the total.
fn timed_fit(filters: &patchlens::Filters) -> Vec<(&'static str, f64)> {
    let mut steps = Vec::new();
    let start = Instant::now();
    let mut last = start;
    let pca = Pca::fit_marked(filters, DEFAULT_COMPONENTS, &mut |step| {
        let now = Instant::now();
        steps.push((step, (now - last).as_secs_f64() * 1e3));
        last = now;
    })
    .unwrap_or_else(|e| panic!("{e}"));
    std::hint::black_box(pca_tiles(&pca));
    steps.push(("tiles", last.elapsed().as_secs_f64() * 1e3));
    steps.push(("fit + tiles", start.elapsed().as_secs_f64() * 1e3));
    steps
}

/// The whole view on a freshly opened checkpoint (its tensor read and decoded first, untimed).
fn timed_render(path: &str) -> f64 {
    let checkpoint = open(path);
    let _ = checkpoint.filters(None).unwrap_or_else(|e| panic!("{path}: {e}"));
    let start = Instant::now();
    let drawn = checkpoint.render_pca(None, None, DEFAULT_COMPONENTS, pca_defaults).unwrap_or_else(|e| panic!("{e}"));
    std::hint::black_box(drawn.grid.rgba.len());
    start.elapsed().as_secs_f64() * 1e3
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len() / 2).copied().unwrap_or(f64::NAN)
}

/// tests/pca.rs's parity check, in whatever engine runs this: true if every case is within the tolerances.
fn parity(dir: &str) -> bool {
    let text = std::fs::read_to_string(format!("{dir}/pca.json")).unwrap_or_else(|e| panic!("{dir}/pca.json: {e}"));
    let index: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("pca.json: {e}"));
    let floats = |v: &serde_json::Value| -> Vec<f64> {
        v.as_array().map(|a| a.iter().filter_map(|x| x.as_f64()).collect()).unwrap_or_default()
    };
    let read = |name: &serde_json::Value| std::fs::read(format!("{dir}/{}", name.as_str().unwrap_or(""))).unwrap();
    let mut good = true;
    for case in index["cases"].as_array().into_iter().flatten() {
        let name = case["name"].as_str().unwrap_or("?");
        let (_, filters) = open(&format!("{dir}/{}", case["file"].as_str().unwrap_or(""))).filters(None).unwrap();
        let pca = Pca::fit(&filters, case["count"].as_u64().unwrap_or(0) as usize).unwrap_or_else(|e| panic!("{e}"));
        let max_difference = |a: &[f64], b: &[f64]| {
            if a.len() != b.len() {
                return f64::INFINITY;
            }
            a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
        };
        let ratios = max_difference(pca.explained_variance_ratio(), &floats(&case["explained_variance_ratio"]));
        let want: Vec<f64> =
            read(&case["components"]).chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().unwrap())).collect();
        let components = max_difference(pca.components(), &want);
        let (tiles, want) = (pca_tiles(&pca), read(&case["tiles"]));
        let worst = tiles.iter().zip(&want).map(|(a, b)| a.abs_diff(*b)).max().unwrap_or(0);
        let off = tiles.iter().zip(&want).filter(|(a, b)| a != b).count();
        let ok = ratios <= 1e-6 && components <= 1e-9 && worst <= 1 && tiles.len() == want.len();
        good &= ok;
        println!(
            "{} {name}: ratios within {ratios:.1e}, components within {components:.1e}, {off} bytes off by {worst} at most",
            if ok { "ok" } else { "FAILED" }
        );
    }
    good
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(at) = args.iter().position(|a| a == "--parity") {
        let dir = args.get(at + 1).cloned().unwrap_or_else(|| "tests/fixtures/generated".into());
        std::process::exit(if parity(&dir) { 0 } else { 1 });
    }
    let mut number = |flag: &str, default: usize| match args.iter().position(|a| a == flag) {
        Some(at) => {
            let value = args.get(at + 1).and_then(|r| r.parse().ok()).unwrap_or(default);
            args.drain(at..(at + 2).min(args.len()));
            value
        }
        None => default,
    };
    // Warm runs are timed after `warm` untimed ones: V8 swaps in a wasm function's optimised code on its next
    // call once compiled (in the background), so the runs right after the first are a mixture.
    let (runs, warm) = (number("--runs", 7).max(2), number("--warm", 3));
    if let Some(at) = args.iter().position(|a| a == "--page-warm-up") {
        // What the page's worker does when idle, before the user's first view; the pause stands for the time
        // until that view, in which the engine finishes compiling what the warm-up made hot (in the background).
        args.remove(at);
        let start = Instant::now();
        patchlens::analysis::warm_up();
        println!("analysis::warm_up: {:.1} ms", start.elapsed().as_secs_f64() * 1e3);
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
    let engine = if cfg!(target_arch = "wasm32") { "wasm" } else { "native" };
    for path in &args {
        let (info, filters) = open(path).filters(None).unwrap_or_else(|e| panic!("{path}: {e}"));
        let name = path.rsplit('/').next().unwrap_or(path);
        let dims = filters.dims();
        println!(
            "{engine} {name} {} {dims:?}: ms, first call / min / median of {} after {warm} more",
            info.name,
            runs - 1
        );
        // The fit first: in the first file its first call is the process's, step by step.
        let mut fits = vec![timed_fit(&filters)];
        (0..warm).for_each(|_| _ = timed_fit(&filters));
        fits.extend((1..runs).map(|_| timed_fit(&filters)));
        // Then the whole view on a fresh checkpoint each time (its tensor read untimed), as the page draws it.
        let mut renders = vec![timed_render(path)];
        (0..warm).for_each(|_| _ = timed_render(path));
        renders.extend((1..runs).map(|_| timed_render(path)));
        for (i, (step, first)) in fits[0].iter().enumerate() {
            let warm: Vec<f64> = fits[1..].iter().map(|f| f[i].1).collect();
            let min = warm.iter().copied().fold(f64::INFINITY, f64::min);
            println!("  {step:<18} {first:8.2} {min:8.2} {:8.2}", median(warm.clone()));
        }
        let min = renders[1..].iter().copied().fold(f64::INFINITY, f64::min);
        println!("  {:<18} {:8.2} {min:8.2} {:8.2}", "render_pca (view)", renders[0], median(renders[1..].to_vec()));
    }
}
