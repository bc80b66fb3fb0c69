#![cfg(not(target_arch = "wasm32"))]
//! Checkpoints read over HTTP ranges (`patchlens::remote`), against the real-library fixtures served by an
//! in-process transport: the same pixels as a local read, in at most four requests, transferring at most the
//! kernel plus 1 MiB — the budget for the page and the CLI.

mod common;

use common::*;
use patchlens::remote::{open_target, Client, Opened, RemoteSource, RemoteStats, Reply, Transport};
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

/// A host serving the fixtures folder at `https://fixtures.test/<file>`, by ranges.
struct FixtureHost;

impl Client for FixtureHost {
    type Transport = FileServer;

    fn transport(&self, url: &str) -> FileServer {
        let name = url.rsplit('/').next().unwrap_or_default();
        // A file that is not there answers 416 to everything, as a zero-length one.
        let path = fixtures_dir().join(name);
        FileServer(
            FileSource::open(&path).unwrap_or_else(|_| FileSource::open(fixtures_dir().join("manifest.json")).unwrap()),
        )
    }

    fn get(&self, url: &str, _limit: usize) -> Result<(u16, Vec<u8>)> {
        let name = url.rsplit('/').next().unwrap_or_default();
        Ok(std::fs::read(fixtures_dir().join(name)).map_or((404, Vec::new()), |body| (200, body)))
    }
}

/// The second wave by URL: each format's pixels equal the local ones, a TensorFlow `.index` brings the data files
/// it names from beside it, and each stays within its budget — 4 requests where the format has an index (Keras
/// 2 and HF `tf_model.h5`, a TF checkpoint, TFLite), more where it has none (msgpack, pickles: one
/// request per large array skipped while listing) or the kernel is chunked (one request per chunk); kernel + 1 MiB.
#[test]
fn the_second_wave_opens_by_url_within_its_budget() {
    // (file, requests at most, bytes beyond the kernel at most)
    let cases: [(&str, u64, u64); 9] = [
        ("tf1_f32.index", 3, MIB),
        ("tf1_sharded.index", 4, MIB),
        ("augreg_b16_tf.index", 3, MIB),
        ("keras2_tiny.h5", 2, MIB),
        ("tf_model_vit_b16.h5", 4, MIB),
        ("hdf5_big_gzip.h5", 12, MIB), // 6 to list (64 KiB pages of headers), then one per chunk
        ("cnn_int8.tflite", 2, MIB),
        ("augreg_b16.msgpack", 100, MIB),
        ("detectron2_vitdet_big.pkl", 60, MIB),
    ];
    for (name, max_requests, extra) in cases {
        if !fixtures_dir().join(name).exists() {
            assert!(
                std::env::var_os("PATCHLENS_REQUIRE_BIG").is_none(),
                "{name} is missing: run make_fixtures.py --big"
            );
            continue;
        }
        let target = open_target(&format!("https://fixtures.test/{name}"), "https://hub.test", &FixtureHost)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(target.opened.len(), 1, "{name}: one checkpoint");
        let opened = &target.opened[0];
        let remote = opened.checkpoint.as_ref().unwrap_or_else(|e| panic!("{name}: {e}"));
        let rendered = remote.render(None, &GridOptions::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let manifest = manifest();
        let fixture = fixtures(&manifest).find(|f| str_of(f, "file") == name).unwrap();
        let mut files = vec![(name.to_string(), fixtures_dir().join(name))];
        for companion in fixture["companions"].as_array().into_iter().flatten().filter_map(|c| c.as_str()) {
            files.push((companion.to_string(), fixtures_dir().join(companion)));
        }
        let local: Vec<(String, Rc<dyn ByteSource>)> = files
            .iter()
            .map(|(n, p)| (n.clone(), Rc::new(FileSource::open(p).unwrap()) as Rc<dyn ByteSource>))
            .collect();
        let local = Checkpoint::open_files(local).remove(0).checkpoint.unwrap();
        let from_disk = local.render(None, &GridOptions::default()).unwrap();
        assert_eq!(rendered.grid.rgba, from_disk.grid.rgba, "{name}: the same pixels");
        let data_files = files.iter().filter(|(n, _)| n.contains(".data-")).count();
        assert_eq!(opened.files.len(), 1 + data_files, "{name}: {:?}", opened.files);
        let kernel =
            rendered.tensor.element_count().unwrap() as u64 * rendered.tensor.dtype.float_size().unwrap_or(1) as u64;
        let (requests, bytes) = (target.stats.requests(), target.stats.bytes());
        eprintln!("{name}: {requests} requests, {bytes} bytes, kernel {kernel}");
        assert!(requests <= max_requests, "{name}: {requests} requests");
        assert!(bytes <= kernel + extra, "{name}: {bytes} bytes for a kernel of {kernel}");
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
