//! The CLI's URL mode (feature `http`) against the checkpoint host of the e2e tests
//! (tests/server/checkpoint-server.mjs, run with node): the same PNG as from disk within the budget
//! (≤ 4 requests, ≤ kernel + 1 MiB in the server's own log), redirects, hub model ids and a sharded repo read
//! only where the kernel is, the whole-file fallback, and each failure as one sentence.
#![cfg(all(feature = "cli", feature = "http", not(target_arch = "wasm32")))]

mod common;

use common::*;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

const MIB: u64 = 1 << 20;

/// The checkpoint host, serving the generated fixtures, stopped when dropped.
struct Server {
    child: Child,
    origin: String,
}

impl Server {
    /// Starts the host with a mock hub of `hub` (`{"owner/name": {"files": {hubPath: fixture}}}`); `None`, with
    /// a message, when there is no `node` to run it.
    fn start(hub: Value) -> Option<Server> {
        if Command::new("node").arg("--version").output().is_err() {
            eprintln!("SKIPPED: `node` is not installed, and it runs the checkpoint host these tests read from.");
            return None;
        }
        let hub_file =
            std::env::temp_dir().join(format!("patchlens-cli-http-{}-{}.json", std::process::id(), unique()));
        std::fs::write(&hub_file, hub.to_string()).unwrap();
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/server/checkpoint-server.mjs");
        let mut child = Command::new("node")
            .arg(script)
            .arg("--root")
            .arg(fixtures_dir())
            .arg("--hub")
            .arg(&hub_file)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the checkpoint host");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let origins: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("the host said {line:?}: {e}"));
        Some(Server { child, origin: origins["origin"].as_str().unwrap().to_string() })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.origin)
    }

    /// The requests since the last reset, as the host logged them.
    fn log(&self) -> Vec<Value> {
        let mut response = ureq::get(&self.url("__log")).call().unwrap();
        serde_json::from_slice(&response.body_mut().read_to_vec().unwrap()).unwrap()
    }

    fn reset(&self) {
        ureq::get(&self.url("__reset")).call().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn patchlens(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_patchlens")).args(args).output().expect("run patchlens")
}

fn out_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("patchlens-cli-http-{}-{}-{name}.png", std::process::id(), unique()))
}

/// Renders `input` (a path, URL or model id, with extra arguments) and returns the PNG's bytes and stderr.
fn render(input: &str, extra: &[&str]) -> (Vec<u8>, String) {
    let out = out_path("render");
    let mut args = vec!["render", input, "-o", out.to_str().unwrap()];
    args.extend(extra);
    let run = patchlens(&args);
    let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
    assert!(run.status.success(), "{input}: {stderr}");
    let png = std::fs::read(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    (png, stderr)
}

fn local(fixture: &str) -> String {
    fixtures_dir().join(fixture).to_str().unwrap().to_string()
}

/// The CLI's own count: "over HTTP: N requests, M bytes transferred".
fn said_counts(stderr: &str) -> (u64, u64) {
    let line =
        stderr.lines().find_map(|l| l.strip_prefix("patchlens: over HTTP: ")).unwrap_or_else(|| panic!("{stderr}"));
    let words: Vec<&str> = line.split([' ', ',']).filter(|w| !w.is_empty()).collect();
    (words[0].parse().unwrap(), words[2].parse().unwrap())
}

/// Ranged replies (the log without the redirects) and the body bytes they carried.
fn transferred(log: &[Value]) -> (u64, u64) {
    let replies: Vec<&Value> = log.iter().filter(|e| e["status"] != 302).collect();
    (replies.len() as u64, replies.iter().map(|e| e["bytes"].as_u64().unwrap_or(0)).sum())
}

/// A big fixture (`make_fixtures.py --big`), or `None` with a message when it was not generated — unless
/// PATCHLENS_REQUIRE_BIG says it must be there (npm test).
fn big_fixture(manifest: &Value, name: &str) -> Option<u64> {
    let fixture = fixtures(manifest).find(|f| str_of(f, "file") == name);
    match fixture.filter(|_| fixtures_dir().join(name).exists()) {
        Some(f) => Some(f["kernel_bytes"].as_u64().unwrap()),
        None if std::env::var_os("PATCHLENS_REQUIRE_BIG").is_some() => panic!("{name}: no big fixture"),
        None => {
            eprintln!("SKIPPED {name}: generate the big fixtures (make_fixtures.py --big).");
            None
        }
    }
}

#[test]
fn big_files_by_url_draw_the_local_pixels_within_the_budget() {
    let Some(server) = Server::start(json!({})) else { return };
    let manifest = manifest();
    for name in ["augreg_b16.npz", "dino_vitb16.pth", "hf_vit_l16.safetensors"] {
        let Some(kernel) = big_fixture(&manifest, name) else { continue };
        let (from_disk, _) = render(&local(name), &[]);
        server.reset();
        let (over_http, stderr) = render(&server.url(&format!("files/{name}")), &[]);
        assert!(from_disk == over_http, "{name}: the PNG differs from the local render");
        let log = server.log();
        let (requests, bytes) = transferred(&log);
        assert_eq!(requests, log.len() as u64, "{name}: no redirects on /files/");
        assert!(requests <= 4, "{name}: {requests} requests: {log:?}");
        assert!(bytes <= kernel + MIB, "{name}: {bytes} bytes for a kernel of {kernel}");
        assert_eq!(said_counts(&stderr), (requests, bytes), "{name}: the CLI counts what the server sent");
        eprintln!("{name}: {requests} requests, {bytes} bytes, kernel {kernel}");
    }
}

#[test]
fn a_redirect_to_another_origin_is_followed() {
    let Some(server) = Server::start(json!({})) else { return };
    let name = "dinov2_small_patch_embed.safetensors";
    let (from_disk, _) = render(&local(name), &[]);
    let (over_http, stderr) = render(&server.url(&format!("redirect/{name}")), &[]);
    assert!(from_disk == over_http, "the PNG differs from the local render");
    let log = server.log();
    assert_eq!((log[0]["origin"].as_str(), log[0]["status"].as_u64()), (Some("main"), Some(302)), "{log:?}");
    // Once redirected, the reads go to the CDN directly.
    assert!(log[1..].iter().all(|e| e["origin"] == "cdn" && e["status"] == 206), "{log:?}");
    let (requests, bytes) = transferred(&log);
    assert!(requests <= 4, "{log:?}");
    assert_eq!(said_counts(&stderr), (requests, bytes));
}

#[test]
fn hub_models_open_by_id_and_a_sharded_one_reads_only_the_kernels_shard() {
    let manifest = manifest();
    let big = big_fixture(&manifest, "big-model.safetensors.index.json");
    let shards = |stem: &str, index: &str| {
        let mut files = serde_json::Map::new();
        files.insert("config.json".into(), "manifest.json".into());
        files.insert("model.safetensors.index.json".into(), index.into());
        for i in 1..=3 {
            let shard = format!("{stem}-0000{i}-of-00003.safetensors");
            files.insert(shard.clone(), shard.into());
        }
        json!({ "files": files })
    };
    let hub = json!({
        "org/dinov2-small": { "files": {
            "config.json": "manifest.json",
            "pytorch_model.bin": "pytorch_model.bin",
            "model.safetensors": "dinov2_small_patch_embed.safetensors",
        }},
        "org/sharded": shards("model", "model.safetensors.index.json"),
        "org/big-sharded": shards("big-model", "big-model.safetensors.index.json"),
    });
    let Some(server) = Server::start(hub) else { return };
    let hub_flag = ["--hub", server.origin.as_str()];

    // A single file, by id and by its page's address; the listing names it `owner/name · file`.
    let (from_disk, _) = render(&local("dinov2_small_patch_embed.safetensors"), &[]);
    for input in ["org/dinov2-small".to_string(), server.url("org/dinov2-small")] {
        server.reset();
        let (by_id, _) = render(&input, &hub_flag);
        assert!(by_id == from_disk, "{input}: the PNG differs from the local render");
        let log = server.log();
        assert_eq!(log[0]["path"], "/api/models/org/dinov2-small?blobs=true", "{log:?}");
        let (requests, _) = transferred(&log);
        assert!(requests <= 4, "{input}: {log:?}");
    }
    let listed = patchlens(&["list", "org/dinov2-small", "--hub", &server.origin]);
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(text.starts_with("org/dinov2-small · model.safetensors: safetensors"), "{text}");

    // Sharded: the index, then only the shard holding the kernel (the second of the small set, the third of
    // the big one); the others are never asked for.
    let mut sets = vec![("org/sharded", "model.safetensors.index.json", "model-00002-of-00003", None)];
    if let Some(kernel) = big {
        sets.push(("org/big-sharded", "big-model.safetensors.index.json", "big-model-00003-of-00003", Some(kernel)));
    }
    for (id, index, kernel_shard, kernel) in sets {
        let (from_disk, _) = render(&local(index), &[]);
        server.reset();
        let (by_id, stderr) = render(id, &hub_flag);
        assert!(by_id == from_disk, "{id}: the PNG differs from the local render");
        let log = server.log();
        let shards_read: Vec<&str> =
            log.iter().filter_map(|e| e["path"].as_str()).filter(|p| p.ends_with(".safetensors")).collect();
        assert!(!shards_read.is_empty() && shards_read.iter().all(|p| p.contains(kernel_shard)), "{id}: {log:?}");
        let (requests, bytes) = transferred(&log);
        // The listing, the index, and the kernel's shard: its header, then the kernel.
        assert!(requests <= 4, "{id}: {requests} requests: {log:?}");
        if let Some(kernel) = kernel {
            assert!(bytes <= kernel + MIB, "{id}: {bytes} bytes for a kernel of {kernel}");
        }
        // The CLI counts the hub's JSON too, which the host logs with no byte count.
        assert_eq!(said_counts(&stderr).0, requests, "{id}: {stderr}");
        eprintln!("{id}: {requests} requests, {bytes} bytes of weights");
    }
}

#[test]
fn a_server_without_ranges_is_downloaded_whole() {
    let Some(server) = Server::start(json!({})) else { return };
    let name = "dinov2_small_patch_embed.safetensors";
    let (from_disk, _) = render(&local(name), &[]);
    let (whole, stderr) = render(&server.url(&format!("norange/{name}")), &[]);
    assert!(whole == from_disk, "the PNG differs from the local render");
    assert!(stderr.contains("the server does not send parts of"), "{stderr}");
    assert!(!stderr.contains("downloading"), "progress is for a terminal, not a pipe: {stderr}");
    let log = server.log();
    assert_eq!(log.len(), 1, "one request, the file from memory after it: {log:?}");
    assert_eq!(log[0]["status"], 200);
}

/// Each failure is exit status 1 and one line: `patchlens: ` and a sentence.
#[test]
fn each_failure_is_one_sentence() {
    let Some(server) = Server::start(json!({})) else { return };
    // Bigger than the first request (64 KiB), so that a second one is needed.
    let name = "dinov2_small_patch_embed.safetensors";
    let refused_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }; // closed again: nothing listens there now
    let refused_hub = format!("http://127.0.0.1:{refused_port}");
    let cases = [
        (server.url("files/no-such-file.pth"), vec![], "There is no file no-such-file.pth at this address (404)."),
        (server.url(&format!("status/401/{name}")), vec![], "gated or private"),
        (server.url(&format!("status/503/{name}")), vec![], "try again later"),
        (server.url(&format!("changing/{name}")), vec![], "changed on the server while it was being read"),
        // The host drops the connection when the second request comes, on the connection the first used.
        (server.url(&format!("cut/{name}")), vec![], "closed the connection before dinov2_small_patch_embed.safetensors was read in full; try again."),
        (format!("http://127.0.0.1:{refused_port}/files/{name}"), vec![], "refused the connection"),
        (
            format!("http://nonexistent.invalid/files/{name}"),
            vec![],
            "Could not reach nonexistent.invalid for dinov2_small_patch_embed.safetensors: no host is named nonexistent.invalid",
        ),
        (
            "org/some-model".to_string(),
            vec!["--hub", refused_hub.as_str()],
            "Could not reach the hub at http://127.0.0.1:",
        ),
        (
            "org/no-such-model".to_string(),
            vec!["--hub", server.origin.as_str()],
            "org/no-such-model (401): it is gated or private",
        ),
    ];
    for (input, extra, words) in cases {
        let out = out_path("failure");
        let mut args = vec!["render", input.as_str(), "-o", out.to_str().unwrap()];
        args.extend(extra);
        let run = patchlens(&args);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(1), "{input}: {stderr}");
        assert!(stderr.contains(words), "{input}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{input}: {stderr}");
        assert!(stderr.starts_with("patchlens: ") && stderr.trim_end().ends_with('.'), "{input}: {stderr}");
        assert!(!out.exists(), "{input}: no PNG written");
    }
}

/// Issue 14: `patchlens list --all` of an `.npz` by URL lists every tensor as from disk. The host answers
/// several ranges as nginx does, so the headers come in one HEAD and one multi-range GET: ≤ 5 requests for
/// B/16 (one per group of headers before, 77); from a host that answers them with the whole file (S3, GCS)
/// the HEAD says so, no multi-range GET is sent, and the groups come one by one, the same listing.
#[test]
fn an_npz_by_url_lists_in_a_handful_of_requests() {
    let Some(server) = Server::start(json!({})) else { return };
    let Some(_) = big_fixture(&manifest(), "augreg_b16.npz") else { return };
    let from_disk = patchlens(&["list", "--all", "--json", &local("augreg_b16.npz")]);
    assert!(from_disk.status.success());
    let listing = |json: &[u8]| {
        let mut value: Value = serde_json::from_slice(json).unwrap();
        let tensors = value["checkpoints"][0]["tensors"].take();
        assert_eq!(tensors.as_array().map(Vec::len), Some(200));
        tensors
    };
    for (query, max_requests) in [("", 5), ("?multirange=whole", 80)] {
        server.reset();
        let url = server.url(&format!("files/augreg_b16.npz{query}"));
        let run = patchlens(&["list", "--all", "--json", &url]);
        let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
        assert!(run.status.success(), "{query}: {stderr}");
        assert_eq!(listing(&run.stdout), listing(&from_disk.stdout), "{query}: the same tensors");
        let log = server.log();
        let (requests, bytes) = transferred(&log);
        assert_eq!(said_counts(&stderr), (requests, bytes), "{query}: the CLI counts what the host sent");
        let heads = log.iter().filter(|e| e["method"] == "HEAD").count();
        let multi = log.iter().filter(|e| e["method"] == "GET" && e["range"].as_str().is_some_and(|r| r.contains(',')));
        let multi: Vec<_> = multi.collect();
        eprintln!("{query}: {requests} requests, {bytes} bytes, {heads} HEAD, {} multi-range GETs", multi.len());
        assert!(requests <= max_requests, "{query}: {requests} requests");
        assert_eq!(heads, 1, "{query}: one HEAD asks first");
        if query.is_empty() {
            assert_eq!((multi.len(), multi[0]["status"].as_u64()), (1, Some(206)), "{log:?}");
        } else {
            assert!(multi.is_empty() && bytes < 2 * MIB, "{query}: never the whole file: {bytes} bytes");
        }
    }
}

/// Issue 14, an object store (S3, GCS: several ranges answered with the whole file, `multirange=whole`, 20 ms
/// before each answer): `patchlens list` of an `.npz` sends the header groups' single-range GETs together —
/// the host sees several in flight at once, never more than the client's `MAX_IN_FLIGHT` — in no more
/// requests than one after another took (77 for B/16 after the HEAD), and lists every tensor as from disk.
#[test]
fn an_npz_from_an_object_store_lists_with_its_requests_in_flight_together() {
    let Some(server) = Server::start(json!({})) else { return };
    let Some(_) = big_fixture(&manifest(), "augreg_b16.npz") else { return };
    let tensors = |json: &[u8]| {
        let mut value: Value = serde_json::from_slice(json).unwrap();
        value["checkpoints"][0]["tensors"].take()
    };
    let from_disk = patchlens(&["list", "--all", "--json", &local("augreg_b16.npz")]);
    assert!(from_disk.status.success());
    let url = server.url("files/augreg_b16.npz?multirange=whole&delay=20");
    let run = patchlens(&["list", "--all", "--json", &url]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let listed = tensors(&run.stdout);
    assert_eq!(listed.as_array().map(Vec::len), Some(200));
    assert_eq!(listed, tensors(&from_disk.stdout), "the same tensors as from disk");
    let log = server.log();
    let (requests, bytes) = transferred(&log);
    let gets: Vec<&Value> = log.iter().filter(|e| e["method"] == "GET").collect();
    let most_at_once = log.iter().filter_map(|e| e["inFlight"].as_u64()).max().unwrap_or(0);
    eprintln!("object store: {requests} requests, {bytes} bytes, at most {most_at_once} in flight at once");
    assert!(gets.iter().all(|e| e["status"] == 206 && !e["range"].as_str().unwrap_or(",").contains(',')), "{log:?}");
    assert_eq!(log.iter().filter(|e| e["method"] == "HEAD").count(), 1, "one HEAD asks first");
    assert!(requests <= 80 && bytes < 2 * MIB, "{requests} requests, {bytes} bytes");
    assert!(
        (2..=patchlens::remote::http::MAX_IN_FLIGHT as u64).contains(&most_at_once),
        "requests in flight together: at most {most_at_once} at once"
    );
}
