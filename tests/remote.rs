#![cfg(not(target_arch = "wasm32"))]
//! Checkpoints read over HTTP ranges (`patchlens::remote`), against the real-library fixtures served by an
//! in-process transport: the same pixels as a local read, in at most four requests, transferring at most the
//! kernel plus 1 MiB — the budget for the page and the CLI; an `.npz`'s pixels and whole listing in
//! at most six from a server that answers multi-range requests as nginx does.

mod common;

use common::sparse_npz::{augreg_l16, augreg_shapes, sparse_npz};
use common::*;
use patchlens::listing::{listed_tensors, listed_tensors_read};
use patchlens::remote::{open_target, Client, Opened, RangesReply, RemoteSource, RemoteStats, Reply, Transport};
use patchlens::{ByteSource, Checkpoint, FileSource, GridOptions, Result};
use std::cell::RefCell;
use std::rc::Rc;

/// How a test server answers a request for several ranges.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Multi {
    /// As nginx: `206 multipart/byteranges`, the parts in the order asked (HEAD: the same headers).
    Parts,
    /// As S3 and GCS: the whole file, 200.
    Whole,
    /// Honest to the HEAD, then a GET reply bent one way: another boundary in the body than in its header,
    WrongBoundary,
    /// a part that is not one of the ranges asked for (one byte further),
    OutsideAsked,
    /// the last part left out,
    MissingPart,
    /// or the body followed by a megabyte more.
    Overlong,
}

/// A well-behaved range server over a file on disk (or any source), with its multi-range behaviour.
struct FileServer<S = FileSource> {
    file: S,
    multi: Multi,
    /// The Range header of every request, HEADs marked.
    log: RefCell<Vec<String>>,
}

impl<S> FileServer<S> {
    fn new(file: S, multi: Multi) -> Self {
        FileServer { file, multi, log: RefCell::default() }
    }
}

const BOUNDARY: &str = "00000000000000000001";

impl<S: ByteSource> Transport for FileServer<S> {
    fn get(&self, first: u64, last: u64) -> Result<Reply> {
        let size = self.file.len();
        if first >= size {
            return Ok(Reply { status: 416, ..Reply::default() });
        }
        self.log.borrow_mut().push(format!("{first}-{last}"));
        let last = last.min(size - 1);
        let mut body = vec![0; (last - first + 1) as usize];
        self.file.read_at(first, &mut body)?;
        Ok(Reply {
            status: 206,
            content_range: Some(format!("bytes {first}-{last}/{size}")),
            etag: Some("\"fixture\"".into()),
            body,
        })
    }

    fn head_size(&self) -> Result<Option<u64>> {
        Ok(Some(self.file.len()))
    }

    /// As nginx's range filter: each `first-last` in the order asked, clamped to the file; the whole file
    /// when the ranges add up to more than it (nginx's guard against overlapping ranges).
    fn get_ranges(&self, header: &str, max_body: Option<usize>) -> Result<Option<RangesReply>> {
        self.log.borrow_mut().push(if max_body.is_some() { header.to_string() } else { format!("HEAD {header}") });
        let size = self.file.len();
        let specs = header.strip_prefix("bytes=").unwrap_or_default().split(',');
        let ranges: Vec<(u64, u64)> = specs
            .filter_map(|spec| spec.trim().split_once('-'))
            .filter_map(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?.min(size - 1))))
            .filter(|&(a, b)| a <= b)
            .collect();
        let total: u64 = ranges.iter().map(|&(a, b)| b - a + 1).sum();
        let etag = Some("\"fixture\"".to_string());
        if self.multi == Multi::Whole || ranges.is_empty() || total > size {
            // The client leaves such a body unread, so none is made.
            return Ok(Some(RangesReply { status: 200, etag, ..RangesReply::default() }));
        }
        let mut sent = ranges.clone();
        match self.multi {
            Multi::OutsideAsked if max_body.is_some() => sent[0] = (sent[0].0 + 1, sent[0].1 + 1),
            Multi::MissingPart if max_body.is_some() => {
                sent.pop();
            }
            _ => {}
        }
        let mut body = Vec::new();
        for &(first, last) in &sent {
            let part = format!("\r\n--{BOUNDARY}\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes {first}-{last}/{size}\r\n\r\n");
            body.extend_from_slice(part.as_bytes());
            let mut bytes = vec![0; (last - first + 1) as usize];
            self.file.read_at(first, &mut bytes)?;
            body.extend_from_slice(&bytes);
        }
        body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
        let mut boundary = BOUNDARY.to_string();
        match self.multi {
            Multi::WrongBoundary => boundary = boundary.replace('1', "2"),
            Multi::Overlong => body.extend(std::iter::repeat_n(b'-', MIB as usize)),
            _ => {}
        }
        Ok(Some(RangesReply {
            status: 206,
            content_type: Some(format!("multipart/byteranges; boundary={boundary}")),
            etag,
            // A HEAD has none; a GET is read no further than the client allows, and one byte past it.
            body: match max_body {
                None => Vec::new(),
                Some(max) => body.into_iter().take(max + 1).collect(),
            },
            ..RangesReply::default()
        }))
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
        let server = FileServer::new(FileSource::open(&path).unwrap(), Multi::Parts);
        let opened = RemoteSource::open(server, name, Rc::clone(&stats)).unwrap();
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
        let file =
            FileSource::open(&path).unwrap_or_else(|_| FileSource::open(fixtures_dir().join("manifest.json")).unwrap());
        FileServer::new(file, Multi::Parts)
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

/// The npz files an `.npz` by URL is tried on: the AugReg B/16 fixture (written by numpy) when it is there,
/// and AugReg-shaped files laid out as np.savez lays them out, with zeros for values (no disk): B/16 (200
/// arrays) and L/16 (392 arrays, 1.2 GB).
fn augreg_npzs() -> Vec<(&'static str, Opener)> {
    let mut files: Vec<(&'static str, Opener)> = vec![
        ("AugReg B/16 layout", Box::new(|| Box::new(sparse_npz(&augreg_shapes(768, 12, 3072, 12))))),
        ("AugReg L/16 layout", Box::new(|| Box::new(augreg_l16()))),
    ];
    let fixture = fixtures_dir().join("augreg_b16.npz");
    if fixture.exists() {
        files.insert(0, ("augreg_b16.npz", Box::new(move || Box::new(FileSource::open(&fixture).unwrap()))));
    } else {
        assert!(
            std::env::var_os("PATCHLENS_REQUIRE_BIG").is_none(),
            "augreg_b16.npz is missing: run make_fixtures.py --big"
        );
    }
    files
}

/// Makes a fresh source of one file (one for the server, one for the local reference).
type Opener = Box<dyn Fn() -> Box<dyn ByteSource>>;

/// Opens `file` by URL from a server that answers multi-range requests as `multi` says, draws the default
/// tensor and lists every tensor: (pixels, listing, requests, bytes, what the server was asked).
fn draw_and_list(
    file: Box<dyn ByteSource>,
    multi: Multi,
) -> (Vec<u8>, Vec<patchlens::ListedTensor>, u64, u64, Vec<String>) {
    let (remote, server, stats) = open_by_url(file, multi);
    let pixels = remote.render(None, &GridOptions::default()).unwrap().grid.rgba;
    let listing = listed_tensors(&remote);
    let log = server.log.borrow().clone();
    (pixels, listing, stats.requests(), stats.bytes(), log)
}

/// Opens `file` as `model.npz` by URL from a server that answers multi-range requests as `multi` says: the
/// checkpoint, the server (for its log) and the request counts.
fn open_by_url(file: Box<dyn ByteSource>, multi: Multi) -> (Checkpoint, Rc<FileServer<BoxedSource>>, Rc<RemoteStats>) {
    let server = Rc::new(FileServer::new(BoxedSource(file), multi));
    let stats = Rc::new(RemoteStats::default());
    let Opened::Ranged(source) =
        RemoteSource::open(Shared(Rc::clone(&server)), "model.npz", Rc::clone(&stats)).unwrap()
    else {
        panic!("the server reads ranges")
    };
    (Checkpoint::open(source).unwrap(), server, stats)
}

/// A server the test keeps a hold of, to read its log afterwards.
struct Shared(Rc<FileServer<BoxedSource>>);

impl Transport for Shared {
    fn get(&self, first: u64, last: u64) -> Result<Reply> {
        self.0.get(first, last)
    }
    fn head_size(&self) -> Result<Option<u64>> {
        self.0.head_size()
    }
    fn get_ranges(&self, ranges: &str, max_body: Option<usize>) -> Result<Option<RangesReply>> {
        self.0.get_ranges(ranges, max_body)
    }
}

/// Issue 14: an `.npz` by URL draws in 3 requests (the head, the zip directory, the kernel's entry), then
/// lists every tensor — names, dtypes, shapes, drawable or why not — exactly as from the file on disk, in one
/// HEAD and one or two multi-range GETs (100 ranges each): ≤ 6 requests in all, where one request per header group took 77 for B/16 and 149 for L/16.
#[test]
fn an_npz_by_url_draws_and_lists_every_tensor_in_six_requests() {
    for (name, open) in augreg_npzs() {
        let local = Checkpoint::open(BoxedSource(open())).unwrap();
        let (local_pixels, local_listing) =
            (local.render(None, &GridOptions::default()).unwrap().grid.rgba, listed_tensors(&local));
        let (pixels, listing, requests, bytes, log) = draw_and_list(open(), Multi::Parts);
        assert_eq!(pixels, local_pixels, "{name}: the same pixels");
        assert_eq!(listing, local_listing, "{name}: the same listing");
        assert!(listing.len() >= 200 && listing.iter().all(|t| t.dtype == "float32"), "{name}: {}", listing.len());
        eprintln!(
            "{name}: pixels and {} tensors listed in {requests} requests, {bytes} bytes: {:?}",
            listing.len(),
            shorten(&log)
        );
        assert!(requests <= 6, "{name}: {requests} requests: {:?}", shorten(&log));
        assert_eq!(log.iter().filter(|r| r.starts_with("HEAD")).count(), 1, "{name}: one HEAD asks first");
        // The kernel and the header groups (small arrays near headers come with them), as before.
        assert!(bytes <= 5 * MIB, "{name}: {bytes} bytes");
    }
}

/// A server that answers several ranges with the whole file (S3, GCS, Azure): its HEAD says so, no GET asks
/// for several ranges, and the headers come one group per request, as before — the same listing.
#[test]
fn an_npz_from_a_server_without_multi_range_lists_by_single_ranges() {
    for (name, open) in augreg_npzs() {
        let local = listed_tensors(&Checkpoint::open(BoxedSource(open())).unwrap());
        let (_, listing, requests, bytes, log) = draw_and_list(open(), Multi::Whole);
        assert_eq!(listing, local, "{name}: the same listing");
        let heads = log.iter().filter(|r| r.starts_with("HEAD")).count();
        let multi_gets = log.iter().filter(|r| !r.starts_with("HEAD") && r.contains(',')).count();
        assert_eq!((heads, multi_gets), (1, 0), "{name}: {:?}", shorten(&log));
        eprintln!("{name}: without multi-range, {requests} requests, {bytes} bytes");
        // Three to draw, the HEAD, then one per group of nearby headers (74 for B/16, 146 for L/16).
        assert!(requests > 6 && bytes <= 5 * MIB, "{name}: {requests} requests, {bytes} bytes");
    }
}

/// Issue 14: from such a server, the names and sizes the zip directory gives are listed without a request more:
/// pixels and list in 3 requests. The drawn entry has its dtype and shape; every other entry its size in the
/// directory instead, which holds its data (the header is at most a few hundred bytes more). Reading every shape
/// afterwards gives the listing from the file on disk.
#[test]
fn an_npz_from_a_server_without_multi_range_lists_names_and_sizes_without_a_request() {
    for (name, open) in augreg_npzs() {
        let local = Checkpoint::open(BoxedSource(open())).unwrap();
        let local_listing = listed_tensors(&local);
        let (remote, _, stats) = open_by_url(open(), Multi::Whole);
        let drawn = remote.render(None, &GridOptions::default()).unwrap().tensor;
        let after_pixels = stats.requests();
        let quick = listed_tensors_read(&remote);
        assert_eq!(stats.requests(), after_pixels, "{name}: the names-and-sizes listing asks for nothing");
        assert!(after_pixels <= 6, "{name}: pixels and list in {after_pixels} requests");
        assert_eq!(
            quick.iter().map(|t| &t.name).collect::<Vec<_>>(),
            local_listing.iter().map(|t| &t.name).collect::<Vec<_>>(),
            "{name}: every name, in the same order"
        );
        for (listed, full) in quick.iter().zip(&local_listing) {
            if listed.name == drawn.name {
                assert_eq!(listed, full, "{name}: the drawn entry, with its header");
                continue;
            }
            let bytes = listed.unread_bytes.unwrap_or_else(|| panic!("{name}: {} has no size", listed.name));
            let data = full.shape.iter().product::<usize>() as u64 * 4;
            assert!((data..data + 1024).contains(&bytes), "{name}: {} {bytes} bytes for {data}", listed.name);
            assert_eq!((listed.dtype.as_str(), listed.drawable, &listed.reason), ("unknown", false, &None));
        }
        eprintln!("{name}: pixels and {} names with sizes in {after_pixels} requests", quick.len());
        assert_eq!(listed_tensors(&remote), local_listing, "{name}: then every shape, as from the disk");
    }
}

/// A multipart reply that is wrong in any way is a sentence for each header it should have brought — never a
/// dtype or shape read from other bytes. The pixels, drawn before the listing, are unharmed.
#[test]
fn a_broken_multipart_reply_is_one_sentence_never_a_wrong_listing() {
    let cases = [
        (
            Multi::WrongBoundary,
            "The server sent a multipart reply whose parts are not marked by its boundary for model.npz.",
        ),
        (Multi::OutsideAsked, "The server sent other bytes than the ones asked for for model.npz."),
        (Multi::MissingPart, "The server sent a multipart reply without some of the ranges asked for for model.npz."),
        (Multi::Overlong, "The server sent a multipart reply longer than the ranges asked for for model.npz."),
    ];
    let open = || Box::new(sparse_npz(&augreg_shapes(768, 12, 3072, 12))) as Box<dyn ByteSource>;
    let local = listed_tensors(&Checkpoint::open(BoxedSource(open())).unwrap());
    for (multi, sentence) in cases {
        let (pixels, listing, _, _, _) = draw_and_list(open(), multi);
        assert!(!pixels.is_empty());
        assert_eq!(listing.len(), local.len());
        let mut refused = 0;
        for (remote, local) in listing.iter().zip(&local) {
            if remote != local {
                assert_eq!(
                    (remote.name.as_str(), remote.dtype.as_str()),
                    (local.name.as_str(), "unknown"),
                    "{multi:?}"
                );
                assert_eq!(remote.reason.as_deref(), Some(sentence), "{multi:?}: {}", remote.name);
                refused += 1;
            }
        }
        // Right are only the headers known before the listing (the kernel's) or held by the replies already
        // in hand (the probed head, the zip directory's read); every other one carries the sentence.
        assert!(refused >= local.len() - 10, "{multi:?}: {refused} refused");
    }
}

/// A boxed source as a `ByteSource` (so one opener serves the server and the local reference).
struct BoxedSource(Box<dyn ByteSource>);

impl ByteSource for BoxedSource {
    fn len(&self) -> u64 {
        self.0.len()
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.0.read_at(offset, buf)
    }
}

/// A request log, long ranges lists cut to their count.
fn shorten(log: &[String]) -> Vec<String> {
    log.iter()
        .map(|r| match r.matches(',').count() {
            0 => r.clone(),
            n => format!("{}{} ranges", if r.starts_with("HEAD") { "HEAD " } else { "" }, n + 1),
        })
        .collect()
}

/// The layout the tests above stand on: the AugReg-shaped file is the fixture numpy wrote, byte for byte in
/// its size and listing (only the values, zeros here, differ).
#[test]
fn the_sparse_augreg_layout_is_the_one_numpy_writes() {
    let fixture = fixtures_dir().join("augreg_b16.npz");
    if !fixture.exists() {
        return;
    }
    let sparse = sparse_npz(&augreg_shapes(768, 12, 3072, 12));
    let real = FileSource::open(&fixture).unwrap();
    assert_eq!(sparse.len(), real.len());
    let real = listed_tensors(&Checkpoint::open(real).unwrap());
    let sparse = listed_tensors(&Checkpoint::open(sparse).unwrap());
    assert_eq!(real, sparse);
}

/// The fuzzer's scripted server (`patchlens::fuzzing::remote`) over a many-entry npz: every bend of the
/// HEAD and of the multi-range GET that follow the pixels, and of the reads around them, runs without a panic.
#[test]
fn every_scripted_bend_of_a_listing_runs_clean() {
    let arrays: Vec<(String, Vec<usize>)> = (0..40).map(|i| (format!("layer_{i}/kernel"), vec![64 + i, 300])).collect();
    let file = sparse_npz(&arrays);
    let mut bytes = vec![0; file.len() as usize];
    file.read_at(0, &mut bytes).unwrap();
    for step in 0..6 {
        for bend in 0..=255u8 {
            let mut script = vec![0u8; 6];
            script[step] = bend;
            let data = [&[2u8, script.len() as u8][..], &script, &bytes].concat();
            patchlens::fuzzing::remote(&data);
        }
    }
}
