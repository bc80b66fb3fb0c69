//! `patchlens list` as users and programs read it (natural order, drawable tensors by default, long names
//! that keep the columns, JSON that says what `Checkpoint::tensors()` says), the help of each command and
//! the exit statuses: 0 done, 1 bad input, 2 bad usage.
#![cfg(all(feature = "cli", not(target_arch = "wasm32")))]

mod common;

use common::synthetic::safetensors_bytes;
use common::*;
use patchlens::natural::natural_cmp;
use patchlens::{Checkpoint, FileSource};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn patchlens(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_patchlens")).args(args).output().expect("run patchlens")
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A file written by the test into its own scratch folder.
fn scratch_file(test: &str, name: &str, bytes: &[u8]) -> PathBuf {
    let folder = std::env::temp_dir().join(format!("patchlens-cli-list-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    let path = folder.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The tensor rows of a text listing (not the header, notes, count or default lines).
fn rows(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.starts_with(['*', ' ']) && !l.starts_with("  note: ") && !l.starts_with("  (")).collect()
}

#[test]
fn list_shows_names_in_natural_order_and_the_file_keeps_its_own() {
    let names = ["encoderblock_10/kernel", "encoderblock_1/kernel", "encoderblock_2/kernel", "encoderblock_0/kernel"];
    let tensors: Vec<(&str, &str, &[usize])> = names.iter().map(|n| (*n, "F32", &[8, 3, 2, 2][..])).collect();
    let file = scratch_file("natural", "blocks.safetensors", &safetensors_bytes(&tensors));
    let out = patchlens(&["list", arg(&file)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let listed: Vec<&str> = rows(&text).iter().map(|r| r[2..].split(' ').next().unwrap()).collect();
    assert_eq!(
        listed,
        ["encoderblock_0/kernel", "encoderblock_1/kernel", "encoderblock_2/kernel", "encoderblock_10/kernel"],
        "{text}"
    );
    // Indexes refer to the file's order, which stays as the file has it.
    let checkpoint = Checkpoint::open(FileSource::open(&file).unwrap()).unwrap();
    let file_order: Vec<String> = checkpoint.tensors().into_iter().map(|t| t.name).collect();
    assert_ne!(file_order, listed, "this file's own order is not the natural one");
    std::fs::remove_dir_all(file.parent().unwrap()).ok();
}

#[test]
fn by_default_only_drawable_tensors_and_all_lists_the_rest_with_reasons() {
    let file = fixtures_dir().join("dino_checkpoint.pth");
    let brief = stdout(&patchlens(&["list", arg(&file)]));
    let all = stdout(&patchlens(&["list", "--all", arg(&file)]));
    assert_eq!(rows(&brief).len(), 2, "the teacher's and the student's patch embedding: {brief}");
    assert!(rows(&brief).iter().all(|r| !r.contains("not drawable")), "{brief}");
    assert!(brief.contains("\n  (28 more tensors cannot be drawn; --all lists them with the reason)\n"), "{brief}");
    assert_eq!(rows(&all).len(), 30, "{all}");
    assert_eq!(rows(&all).iter().filter(|r| r.contains("  not drawable: ")).count(), 28, "{all}");
    assert!(!all.contains("more tensors"), "{all}");
    for text in [&brief, &all] {
        assert!(text.starts_with("dino_checkpoint.pth: pytorch, 30 tensors, "), "{text}");
        assert!(text.ends_with("the teacher's weights, preferred over the student's\n"), "{text}");
    }
}

#[test]
fn with_nothing_drawable_the_reasons_are_listed_anyway() {
    let file = fixtures_dir().join("no_drawable.npz");
    let out = patchlens(&["list", arg(&file)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(rows(&text).len(), 2, "{text}");
    assert!(rows(&text).iter().all(|r| r.contains("not drawable: ")), "{text}");
    assert!(text.ends_with("(no patch embedding found; pick a tensor with --tensor)\n"), "{text}");
    assert_eq!(text, stdout(&patchlens(&["list", "--all", arg(&file)])));
}

#[test]
fn a_long_name_takes_its_own_line_and_the_columns_stay_aligned() {
    let long = format!("model.encoder.{}.patch_embedding.weight", "stage_0.block_0.".repeat(4)).replace("..", ".");
    assert!(long.chars().count() > 90, "{long}");
    let file = scratch_file(
        "long",
        "long.safetensors",
        &safetensors_bytes(&[
            ("patch_embed.proj.weight", "F32", &[8, 3, 4, 4]),
            (&long, "F16", &[4, 3, 2, 2]),
            ("blocks.2.conv.weight", "F64", &[4, 1, 3, 3]),
            ("blocks.2.conv.bias", "F32", &[4]),
        ]),
    );
    let text = stdout(&patchlens(&["list", "--all", arg(&file)]));
    let lines: Vec<&str> = text.lines().collect();
    let at = lines.iter().position(|l| l.ends_with(&long)).unwrap_or_else(|| panic!("the whole name: {text}"));
    assert_eq!(lines[at], format!("  {long}"), "alone on its line");
    assert!(lines[at + 1].trim_start().starts_with("float16  4×3×2×2"), "its row continues below: {text}");
    // Every dtype, the long name's included, starts in one column, and no line but the long name's is wide.
    let column = |line: &str| line.find("float").unwrap_or_else(|| panic!("{line}: {text}"));
    let typed: Vec<&str> = lines.iter().copied().filter(|l| l.contains("float")).collect();
    assert_eq!(typed.len(), 4, "{text}");
    assert!(typed.iter().all(|l| column(l) == column(typed[0])), "{text}");
    assert_eq!(column(typed[0]), "* patch_embed.proj.weight  ".len(), "the name column is the short names': {text}");
    std::fs::remove_dir_all(file.parent().unwrap()).ok();
}

/// One tensor of `--json`, as `Checkpoint::tensors()` describes it.
fn expected_tensor(entry: &patchlens::TensorEntry) -> Value {
    let mut object = serde_json::json!({
        "name": entry.name,
        "dtype": entry.info.as_ref().map_or("unknown".to_string(), |i| i.dtype.to_string()),
        "shape": entry.info.as_ref().map_or(vec![], |i| i.shape.clone()),
        "drawable": entry.problem.is_none(),
    });
    let fields = object.as_object_mut().unwrap();
    if let Some(reason) = &entry.problem {
        fields.insert("reason".into(), reason.as_str().into());
    }
    if let Some(layout) = entry.layout {
        fields.insert("layout".into(), layout.name().into());
    }
    if entry.layout_inferred {
        fields.insert("layoutInferred".into(), true.into());
    }
    if let Some(what) = entry.recognized {
        fields.insert("recognized".into(), what.into());
    }
    object
}

#[test]
fn json_is_one_document_that_matches_the_checkpoints_tensors() {
    let names = [
        "dino_checkpoint.pth",
        "torch_layout.npz",
        "hybrid.npz",
        "clip_projector_q8_q4.gguf",
        "cnn_typed.onnx",
        "ints_beside.safetensors",
        "notes.txt",
    ];
    let paths: Vec<PathBuf> = names.iter().map(|n| fixtures_dir().join(n)).collect();
    let mut args = vec!["list", "--json"];
    args.extend(paths.iter().map(|p| arg(p)));
    let out = patchlens(&args);
    assert_eq!(out.status.code(), Some(1), "notes.txt is no checkpoint: {}", stderr(&out));
    assert!(stderr(&out).contains("notes.txt: This file is not a checkpoint"), "{}", stderr(&out));
    let document: Value = serde_json::from_str(&stdout(&out)).expect("--json prints JSON");
    let listed = document["checkpoints"].as_array().unwrap();
    assert_eq!(listed.len(), names.len());
    for ((name, path), entry) in names.iter().zip(&paths).zip(listed) {
        assert_eq!(entry["label"], *name);
        assert_eq!(entry["files"], serde_json::json!([name]));
        if *name == "notes.txt" {
            assert_eq!(entry.as_object().unwrap().len(), 3, "label, files and error: {entry}");
            assert!(entry["error"].as_str().unwrap().starts_with("This file is not a checkpoint"), "{entry}");
            continue;
        }
        let checkpoint = Checkpoint::open(FileSource::open(path).unwrap()).unwrap();
        assert_eq!(entry["format"], checkpoint.format(), "{name}");
        assert_eq!(entry["fileSize"], checkpoint.file_size(), "{name}");
        assert_eq!(entry["defaultTensor"], serde_json::json!(checkpoint.default_tensor()), "{name}");
        assert_eq!(entry["defaultReason"], serde_json::json!(checkpoint.default_reason()), "{name}");
        assert_eq!(entry["notes"], serde_json::json!(checkpoint.notes()), "{name}");
        let mut expected: Vec<Value> = checkpoint.tensors().iter().map(expected_tensor).collect();
        expected.sort_by(|a, b| natural_cmp(a["name"].as_str().unwrap(), b["name"].as_str().unwrap()));
        assert_eq!(entry["tensors"], Value::Array(expected), "{name}: every tensor, in natural order");
    }
    // Key order is stable, the same as the wasm TensorInfo's.
    let text = stdout(&out);
    let first = text.find("\"label\"").unwrap();
    let order: Vec<usize> =
        ["\"label\"", "\"files\"", "\"format\"", "\"fileSize\"", "\"defaultTensor\"", "\"tensors\""]
            .iter()
            .map(|k| first + text[first..].find(k).unwrap())
            .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
    assert!(text.starts_with("{\n  \"checkpoints\": [\n    {\n"), "pretty-printed: {text}");
    assert!(text.contains("\"layoutInferred\": true"), "torch_layout.npz's inferred layout: {text}");
    let failed = "\"label\": \"notes.txt\",\n      \"files\": [\n        \"notes.txt\"\n      ],\n      \"error\": ";
    assert!(text.contains(failed), "{text}");
}

#[test]
fn help_for_each_command_names_every_flag_and_its_default() {
    let help = |args: &[&str]| {
        let out = patchlens(args);
        assert_eq!((out.status.code(), stderr(&out).as_str()), (Some(0), ""), "{args:?}");
        stdout(&out)
    };
    let render = help(&["render", "--help"]);
    assert_eq!(render, help(&["help", "render"]));
    assert_eq!(render, help(&["render", "-h", "--zoom", "big"]), "help wins over a bad value");
    for flag in ["-o, --output OUT.png", "--tensor NAME", "--layout hwio|oihw|ohwi", "--count N", "--columns C"] {
        assert!(render.contains(flag), "{flag}: {render}");
    }
    for (flag, default) in [
        ("--count", "128"),
        ("--columns", "16"),
        ("--zoom", "4"),
        ("--gap G ", "2"),
        ("--gap-color", "#1b1e24"),
        ("--tensor", "the patch embedding"),
        ("--layout", "the file's own convention"),
    ] {
        let rest = &render[render.find(flag).unwrap()..];
        let entry = &rest[..rest[1..].find("\n  -").map_or(rest.len(), |end| end + 1)];
        assert!(entry.contains(&format!("(default: {default}")), "{flag} shows its default {default}: {render}");
    }
    let list = help(&["list", "--help"]);
    assert_eq!(list, help(&["help", "list"]));
    assert_eq!(list, help(&["list", "x", "-h"]));
    assert!(list.contains("--all") && list.contains("--json") && list.contains("-h, --help"), "{list}");
    assert!(list.contains("(default: only the drawable"), "{list}");
    let top = help(&["--help"]);
    assert_eq!(top, help(&["help"]));
    assert_eq!(top, help(&["-h"]));
    for status in ["0  done", "1  bad input", "2  bad usage"] {
        assert!(top.contains(status), "{status}: {top}");
    }
}

#[test]
fn version_is_cargo_tomls() {
    let manifest = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    let version = manifest.lines().find_map(|l| l.strip_prefix("version = \"")).unwrap().trim_end_matches('"');
    for flag in ["--version", "-V"] {
        let out = patchlens(&[flag]);
        assert_eq!((out.status.code(), stdout(&out)), (Some(0), format!("patchlens {version}\n")));
    }
}

#[test]
fn exit_status_is_0_done_1_bad_input_2_bad_usage() {
    let npz = fixtures_dir().join("stored_f32.npz");
    let (npz, text) = (arg(&npz), fixtures_dir().join("notes.txt"));
    let png = std::env::temp_dir().join(format!("patchlens-cli-list-{}-status.png", std::process::id()));
    let png = arg(&png);
    let missing_dir = std::env::temp_dir().join("patchlens-no-such-folder").join("grid.png");
    let two = [fixtures_dir().join("f16.npz"), fixtures_dir().join("bf16.npz")];
    let cases: &[(&[&str], i32)] = &[
        (&["list", npz], 0),
        (&["list", "--all", "--json", npz], 0),
        (&["render", npz, "-o", png], 0),
        (&["render", "-o", png, "--", npz], 0),
        (&["list", "no-such-file.npz"], 1),
        (&["list", arg(&text)], 1),
        (&["render", arg(&text), "-o", png], 1),
        (&["render", npz, "-o", png, "--tensor", "cls"], 1),
        (&["render", npz, "-o", png, "--tensor", "nope"], 1),
        (&["render", npz, "-o", arg(&missing_dir)], 1),
        (&["render", arg(&two[0]), arg(&two[1]), "-o", png], 1),
        (&[], 2),
        (&["frobnicate"], 2),
        (&["--frobnicate"], 2),
        (&["help", "frobnicate"], 2),
        (&["list"], 2),
        (&["list", "--long", npz], 2),
        (&["render", npz], 2),
        (&["render", "-o", png], 2),
        (&["render", npz, "-o"], 2),
        (&["render", npz, "-o", png, "--zoom", "big"], 2),
        (&["render", npz, "-o", png, "--count", "-3"], 2),
        (&["render", npz, "-o", png, "--layout", "nchw"], 2),
        (&["render", npz, "-o", png, "--gap-color", "blue"], 2),
        (&["render", npz, "-o", png, "--colums", "3"], 2),
    ];
    for (args, status) in cases {
        let out = patchlens(args);
        assert_eq!(out.status.code(), Some(*status), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        match status {
            0 => {}
            1 => assert!(err.starts_with("patchlens: ") && err.trim_end().ends_with('.'), "{args:?}: {err}"),
            _ => {
                // One sentence and where the help is; never the whole usage.
                let lines: Vec<&str> = err.lines().collect();
                assert_eq!(lines.len(), 2, "{args:?}: {err}");
                assert!(lines[0].starts_with("patchlens: ") && lines[0].ends_with('.'), "{args:?}: {err}");
                assert!(lines[1].starts_with("Run `patchlens ") && lines[1].contains("--help`"), "{args:?}: {err}");
            }
        }
    }
    std::fs::remove_file(png).ok();
}
