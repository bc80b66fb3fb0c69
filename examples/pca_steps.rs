//! Times principal components step by step (samples, centring, scatter matrix, tridiagonalisation,
//! bisection, inverse iteration, back-transformation, signs, tiles) and the whole view as the page draws it
//! (`Checkpoint::render_pca`), first call and warm, for each checkpoint given. Natively:
//!
//!   cargo run --release --example pca_steps -- [--runs 7] model.npz kernel.npy ...
//!
//! and in wasm, in Node's V8 (the page's engine), built for WASI so the same code reads a clock
//! (benches/pca_wasm.sh does both and prints them side by side).

use patchlens::analysis::pca::{pca_tiles, Pca, DEFAULT_COMPONENTS};
use patchlens::analysis::view::pca_defaults;
use patchlens::{ByteSource, Checkpoint, Error, Result};
use std::cell::RefCell;
use std::io::{Read, Seek, SeekFrom};
use std::time::Instant;

/// A file read by seeking, which WASI has too (the crate's `FileSource` is native only).
struct SeekSource {
    file: RefCell<std::fs::File>,
    len: u64,
}

impl ByteSource for SeekSource {
    fn len(&self) -> u64 {
        self.len
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let mut file = self.file.borrow_mut();
        file.seek(SeekFrom::Start(offset)).and_then(|_| file.read_exact(buf)).map_err(|e| Error::Read(format!("{e}.")))
    }
}

fn open(path: &str) -> Checkpoint {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    Checkpoint::open(SeekSource { file: RefCell::new(file), len }).unwrap_or_else(|e| panic!("{path}: {e}"))
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

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut runs = 7;
    if let Some(at) = args.iter().position(|a| a == "--runs") {
        runs = args.get(at + 1).and_then(|r| r.parse().ok()).unwrap_or(runs);
        args.drain(at..(at + 2).min(args.len()));
    }
    let engine = if cfg!(target_arch = "wasm32") { "wasm" } else { "native" };
    for path in &args {
        let (info, filters) = open(path).filters(None).unwrap_or_else(|e| panic!("{path}: {e}"));
        let name = path.rsplit('/').next().unwrap_or(path);
        println!("{engine} {name} {} {:?}: ms, first call / min / median of {runs}", info.name, filters.dims());
        let fits: Vec<_> = (0..runs.max(1)).map(|_| timed_fit(&filters)).collect();
        for (i, (step, first)) in fits[0].iter().enumerate() {
            let warm: Vec<f64> = fits[1..].iter().map(|f| f[i].1).collect();
            let min = warm.iter().copied().fold(f64::INFINITY, f64::min);
            println!("  {step:<18} {first:8.2} {min:8.2} {:8.2}", median(warm.clone()));
        }
        let renders: Vec<f64> = (0..runs.max(1)).map(|_| timed_render(path)).collect();
        let min = renders[1..].iter().copied().fold(f64::INFINITY, f64::min);
        println!("  {:<18} {:8.2} {min:8.2} {:8.2}", "render_pca (view)", renders[0], median(renders[1..].to_vec()));
    }
}
