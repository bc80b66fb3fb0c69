#![cfg(not(target_arch = "wasm32"))]
//! Checkpoints read over HTTP ranges (`patchlens::remote`), against the real-library fixtures served by an
//! in-process transport: the same pixels as a local read, in at most four requests, transferring at most the
//! kernel plus 1 MiB — the budget for the page and the CLI.

mod common;

use common::*;
use patchlens::remote::{Opened, RemoteSource, RemoteStats, Reply, Transport};
use patchlens::{ByteSource, Checkpoint, FileSource, GridOptions, Result};
use std::rc::Rc;

/// A well-behaved range server over a file on disk.
struct FileServer(FileSource);

impl Transport for FileServer {
    fn get(&self, first: u64, last: u64) -> Result<Reply> {
        let size = self.0.len();
        if first >= size {
            return Ok(Reply { status: 416, ..Reply::default() });
        }
        let last = last.min(size - 1);
        let mut body = vec![0; (last - first + 1) as usize];
        self.0.read_at(first, &mut body)?;
        Ok(Reply {
            status: 206,
            content_range: Some(format!("bytes {first}-{last}/{size}")),
            etag: Some("\"fixture\"".into()),
            body,
        })
    }

    fn head_size(&self) -> Result<Option<u64>> {
        Ok(Some(self.0.len()))
    }
}

const MIB: u64 = 1 << 20;

#[test]
fn each_format_draws_from_ranges_within_the_budget() {
    // The three big files, and one small file of every other format.
    let files = [
        "augreg_b16.npz",
        "dino_vitb16.pth",
        "hf_vit_l16.safetensors",
        "compressed_f32.npz",
        "dino_checkpoint.pth",
        "legacy_f32.pt",
        "clip_projector_f32.gguf",
        "cnn_typed.onnx",
        "dinov2_small_patch_embed.safetensors",
    ];
    let big = ["augreg_b16.npz", "dino_vitb16.pth", "hf_vit_l16.safetensors"];
    for name in files {
        let path = fixtures_dir().join(name);
        if big.contains(&name) && !path.exists() {
            // Written by make_fixtures.py --big, which `npm test` runs (and then requires).
            assert!(
                std::env::var_os("PATCHLENS_REQUIRE_BIG").is_none(),
                "{name} is missing: run make_fixtures.py --big"
            );
            eprintln!("{name}: skipped (make_fixtures.py --big writes it)");
            continue;
        }
        let stats = Rc::new(RemoteStats::default());
        let opened = RemoteSource::open(FileServer(FileSource::open(&path).unwrap()), name, Rc::clone(&stats)).unwrap();
        let Opened::Ranged(source) = opened else { panic!("{name}: the server reads ranges") };
        let remote = Checkpoint::open(source).unwrap();
        let local = Checkpoint::open(FileSource::open(&path).unwrap()).unwrap();
        let options = GridOptions::default();
        let (over_http, from_disk) = (remote.render(None, &options).unwrap(), local.render(None, &options).unwrap());
        assert_eq!(over_http.grid.rgba, from_disk.grid.rgba, "{name}: the same pixels");
        let kernel =
            from_disk.tensor.element_count().unwrap() as u64 * from_disk.tensor.dtype.float_size().unwrap_or(8) as u64;
        assert!(stats.requests() <= 4, "{name}: {} requests", stats.requests());
        assert!(stats.bytes() <= kernel + MIB, "{name}: {} bytes for a kernel of {kernel}", stats.bytes());
        eprintln!("{name}: {} requests, {} bytes, kernel {kernel}", stats.requests(), stats.bytes());
    }
}

/// The `remote` fuzz target's committed seeds (tests/reference/seeds_remote.py) run through it without a
/// panic, so the target starts from inputs that reach the reply checks and the formats behind them.
#[test]
fn the_fuzz_seeds_run_clean() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/remote");
    let mut seeds: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    seeds.sort();
    assert!(seeds.len() >= 15, "{} seeds in {}", seeds.len(), dir.display());
    for seed in seeds {
        patchlens::fuzzing::remote(&std::fs::read(&seed).unwrap());
    }
}
