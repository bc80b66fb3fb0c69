//! The command-line tool, run as a user runs it: `list` marks the default tensor, `render`
//! writes a PNG whose pixels are scikit-learn's tiles, and bad files fail with a sentence.
//! The listing's rules, its JSON, the help and the exit statuses are in tests/cli_list.rs.
#![cfg(all(feature = "cli", not(target_arch = "wasm32")))]

mod common;

use common::*;
use std::process::Command;

fn patchlens(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_patchlens")).args(args).output().expect("run patchlens")
}

fn decode_png(path: &std::path::Path) -> (usize, usize, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut buf).unwrap();
    assert_eq!((frame.color_type, frame.bit_depth), (png::ColorType::Rgba, png::BitDepth::Eight));
    buf.truncate(frame.buffer_size());
    (frame.width as usize, frame.height as usize, buf)
}

fn out_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("patchlens-cli-{}-{name}.png", std::process::id()))
}

#[test]
fn list_marks_the_patch_embedding() {
    let file = fixtures_dir().join("hybrid.npz");
    let out = patchlens(&["list", "--all", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let marked: Vec<&str> = text.lines().filter(|l| l.starts_with('*')).collect();
    assert_eq!(marked.len(), 1, "{text}");
    assert!(marked[0].contains("conv_root/kernel") && marked[0].contains("7×7×3×64"), "{text}");
    let embedding = text.lines().find(|l| l.contains("embedding/kernel")).unwrap();
    assert!(embedding.contains("not drawable"), "the 1×1×1024 embedding is listed with its reason: {text}");
}

#[test]
fn png_with_no_gap_and_zoom_one_is_the_tiles_side_by_side() {
    let manifest = manifest();
    // npz in several dtypes and orders, then one file of every other format, and files given together.
    for name in [
        "stored_f32.npz",
        "grayscale.npz",
        "bf16.npz",
        "fortran_big_endian_f64.npz",
        "dino_checkpoint.pth",
        "legacy_f16.pt",
        "pnet.pt",
        "clip_bf16.safetensors",
        "clip_projector_f16.gguf",
        "cnn_typed.onnx",
        "model.safetensors.index.json",
        "vit_external.onnx",
        // The second wave: Keras, HDF5, TensorFlow (an index with its data, a SavedModel), TFLite, Flax, pickles.
        "keras2_tiny.h5",
        "tf_model.h5",
        "keras3_tiny.keras",
        "keras3_tiny.weights.h5",
        "hdf5_user_block.h5",
        "tf1_f32.index",
        "tf1_sharded.index",
        "variables.index",
        "cnn_int8.tflite",
        "fer_emotion_model_quantized.tflite",
        "vit_bf16.msgpack",
        "flax_model.msgpack",
        "detectron2_r50.pkl",
        "py2_protocol0.pkl",
        "paddle_vit.pdparams",
    ] {
        let fixture = fixtures(&manifest).find(|f| str_of(f, "file") == name).unwrap_or_else(|| panic!("{name}"));
        let default = str_of(fixture, "default_tensor");
        let tiles = fixture["tiles"].as_array().unwrap().iter().find(|t| str_of(t, "tensor") == default).unwrap();
        let ([kh, kw, c, n], expected) = expected_tiles(tiles);
        let out = out_path(name);
        let mut files = vec![fixtures_dir().join(name)];
        for companion in fixture["companions"].as_array().into_iter().flatten() {
            files.push(fixtures_dir().join(companion.as_str().unwrap()));
        }
        let count = n.to_string();
        let mut args: Vec<&str> = vec!["render"];
        args.extend(files.iter().map(|f| f.to_str().unwrap()));
        args.extend(["-o", out.to_str().unwrap(), "--count", &count, "--columns", &count, "--zoom", "1", "--gap", "0"]);
        let run = patchlens(&args);
        assert!(run.status.success(), "{name}: {}", String::from_utf8_lossy(&run.stderr));
        assert_read_within_the_files(name, &String::from_utf8_lossy(&run.stderr));
        let (width, height, rgba) = decode_png(&out);
        assert_eq!((width, height), (n * kw, kh), "{name}");
        for i in 0..n {
            for y in 0..kh {
                for x in 0..kw {
                    let p = (y * width + i * kw + x) * 4;
                    let t = ((i * kh + y) * kw + x) * c;
                    let want = if c == 1 { [expected[t]; 3] } else { [expected[t], expected[t + 1], expected[t + 2]] };
                    assert_eq!(&rgba[p..p + 4], &[want[0], want[1], want[2], 255], "{name} filter {i} ({y}, {x})");
                }
            }
        }
        std::fs::remove_file(out).ok();
    }
}

/// The "read X of Y bytes" the CLI says counts distinct bytes of the files: X ≤ Y.
fn assert_read_within_the_files(name: &str, said: &str) {
    let words: Vec<&str> = said.split_whitespace().collect();
    let at = words.iter().position(|w| *w == "read").unwrap_or_else(|| panic!("{name}: no count in {said:?}"));
    let number = |i: usize| words.get(i).and_then(|w| w.parse::<u64>().ok()).unwrap_or_else(|| panic!("{said:?}"));
    assert_eq!(words.get(at + 2), Some(&"of"), "{said:?}");
    let (read, size) = (number(at + 1), number(at + 3));
    assert!(read <= size, "{name}: {said}");
}

#[test]
fn list_shows_the_format_notes_and_why_the_default_was_picked() {
    let file = fixtures_dir().join("dino_checkpoint.pth");
    let out = patchlens(&["list", "--all", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let first = text.lines().next().unwrap();
    assert!(first.starts_with("dino_checkpoint.pth: pytorch,"), "{text}");
    assert!(text.contains("note: Not called, only named: argparse.Namespace"), "{text}");
    assert!(text.contains("default: teacher.backbone.patch_embed.proj.weight, named like the timm"), "{text}");
    // Columns stay aligned whatever the names' lengths: every row's dtype starts in the same column.
    let rows: Vec<&str> = text.lines().filter(|l| l.contains(" float32 ")).collect();
    let column = |row: &str| row.find(" float32 ").unwrap();
    assert!(rows.len() > 3 && rows.iter().all(|r| column(r) == column(rows[0])), "{text}");
    // A folder: every checkpoint in it, shards as one; files that are no checkpoint are skipped, said once.
    let folder = std::env::temp_dir().join(format!("patchlens-cli-folder-{}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    for name in [
        "model-00001-of-00003.safetensors",
        "model-00002-of-00003.safetensors",
        "model-00003-of-00003.safetensors",
        "model.safetensors.index.json",
        "pnet.pt",
        "notes.txt",
    ] {
        std::fs::copy(fixtures_dir().join(name), folder.join(name)).unwrap();
    }
    let out = patchlens(&["list", folder.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let headers: Vec<&str> = text.lines().filter(|l| !l.starts_with([' ', '*']) && l.contains(": ")).collect();
    assert!(headers[0].starts_with("model.safetensors: safetensors (sharded) (4 files)"), "{text}");
    assert!(headers.iter().any(|h| h.starts_with("pnet.pt: pytorch-legacy")), "{text}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("skipped notes.txt (not checkpoints)"));
    std::fs::remove_dir_all(folder).ok();
}

#[test]
fn layout_is_inferred_where_the_file_does_not_say_and_can_be_overridden() {
    let file = fixtures_dir().join("torch_layout.npz");
    let out = patchlens(&["list", file.to_str().unwrap()]);
    let text = String::from_utf8(out.stdout).unwrap();
    let row = text.lines().find(|l| l.contains("patch_embed.proj.weight ")).unwrap();
    assert!(row.starts_with('*') && row.contains("read as OIHW"), "{text}");
    assert!(!text.lines().find(|l| l.contains("flax_stem")).unwrap().contains("read as"), "ties keep HWIO: {text}");
    let png = out_path("layout");
    let forced = patchlens(&["render", file.to_str().unwrap(), "-o", png.to_str().unwrap(), "--layout", "hwio"]);
    assert!(!forced.status.success());
    let err = String::from_utf8_lossy(&forced.stderr);
    assert!(err.contains("cannot be drawn as HWIO: its filters have 8 input channels"), "{err}");
    let run = patchlens(&["render", file.to_str().unwrap(), "-o", png.to_str().unwrap(), "--layout", "OIHW"]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert!(String::from_utf8_lossy(&run.stderr).contains("(OIHW)"));
    let bad = patchlens(&["render", file.to_str().unwrap(), "-o", png.to_str().unwrap(), "--layout", "nchw"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--layout is hwio, oihw or ohwi, not 'nchw'."));
    std::fs::remove_file(png).ok();
}

#[test]
fn default_render_is_the_reference_grid() {
    let file = fixtures_dir().join("stored_f32.npz");
    let out = out_path("default");
    let run = patchlens(&["render", file.to_str().unwrap(), "-o", out.to_str().unwrap(), "--gap-color", "#102030"]);
    assert!(run.status.success());
    let note = String::from_utf8_lossy(&run.stderr);
    assert!(note.contains("embedding/kernel") && note.contains("128 of 768 filters"), "{note}");
    let (width, height, rgba) = decode_png(&out);
    // 8 rows of 16 tiles, 16 px at zoom 4, 2 px gaps.
    assert_eq!((width, height), (16 * 64 + 15 * 2, 8 * 64 + 7 * 2));
    assert_eq!(&rgba[64 * 4..64 * 4 + 4], &[0x10, 0x20, 0x30, 255], "first gap column");
    std::fs::remove_file(out).ok();
}

#[test]
fn bad_files_and_arguments_fail_with_a_sentence() {
    let text = fixtures_dir().join("notes.txt");
    let out = out_path("bad");
    let run = patchlens(&["render", text.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert!(!run.status.success());
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(err.contains("not a checkpoint") && !err.contains("panicked"), "{err}");
    assert!(!out.exists());
    let run = patchlens(&["render", text.to_str().unwrap(), "-o", out.to_str().unwrap(), "--zoom", "big"]);
    assert!(String::from_utf8_lossy(&run.stderr).contains("--zoom takes a whole number"));
    let run = patchlens(&["frobnicate"]);
    assert!(String::from_utf8_lossy(&run.stderr).contains("There is no command 'frobnicate'"));
}

#[test]
fn out_of_range_options_are_corrected_and_said_as_the_page_does() {
    let file = fixtures_dir().join("stored_f32.npz"); // 768 filters of 16×16
    let out = out_path("corrected");
    let run = patchlens(&[
        "render",
        file.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--count",
        "5000",
        "--columns",
        "0",
        "--zoom",
        "1",
        "--gap",
        "0",
    ]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let said = String::from_utf8_lossy(&run.stderr);
    assert!(said.contains("patchlens: --count: at most 768 — the number of filters.\n"), "{said}");
    assert!(said.contains("patchlens: --columns: at least 1.\n"), "{said}");
    assert!(said.contains("768 of 768 filters"), "{said}");
    let (width, height, _) = decode_png(&out);
    assert_eq!((width, height), (16, 768 * 16), "one column of every filter");
    std::fs::remove_file(out).ok();
}

#[test]
fn a_default_that_does_not_fit_the_kernel_is_corrected_silently() {
    let file = fixtures_dir().join("grayscale.npz");
    let out = out_path("quiet-default");
    let run = patchlens(&["render", file.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let said = String::from_utf8_lossy(&run.stderr);
    assert!(!said.contains("--count"), "the default count was not the user's: {said}");
    std::fs::remove_file(out).ok();
}

#[test]
fn the_filters_view_options_reach_the_png() {
    let file = fixtures_dir().join("stored_f32.npz");
    let plain = out_path("view-plain");
    let sorted = out_path("view-sorted");
    let path = |p: &std::path::PathBuf| p.to_str().unwrap().to_string();
    let base = ["render", file.to_str().unwrap(), "--count", "4", "--columns", "4", "--zoom", "1", "--gap", "0"];
    assert!(patchlens(&[&base[..], &["-o", &path(&plain)]].concat()).status.success());
    let run = patchlens(&[&base[..], &["-o", &path(&sorted), "--order", "norm", "--normalize", "symmetric"]].concat());
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let (_, _, a) = decode_png(&plain);
    let (width, _, b) = decode_png(&sorted);
    assert_eq!(width, 64);
    assert_ne!(a, b, "another order and normalisation draw other pixels");
    let run = patchlens(&[&base[..], &["-o", &path(&sorted), "--normalize", "each"]].concat());
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("--normalize is filter, global or symmetric, not 'each'."));
    let help = String::from_utf8(patchlens(&["render", "--help"]).stdout).unwrap();
    assert!(help.contains("--normalize MODE") && help.contains("--channels") && help.contains("--order file|norm"));
    std::fs::remove_file(plain).ok();
    std::fs::remove_file(sorted).ok();
}

#[test]
fn the_difference_view_draws_a_minus_b_of_two_checkpoints() {
    let (a, b) = (fixtures_dir().join("compare_a.npz"), fixtures_dir().join("compare_b.npz"));
    let out = out_path("difference");
    let args =
        ["render", a.to_str().unwrap(), b.to_str().unwrap(), "-o", out.to_str().unwrap(), "--view", "difference"];
    let run = patchlens(&[&args[..], &["--count", "4", "--columns", "4", "--zoom", "1", "--gap", "0"]].concat());
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let (width, height, _) = decode_png(&out);
    assert_eq!((width, height), (4 * 14, 14));
    let one = patchlens(&["render", a.to_str().unwrap(), "-o", out.to_str().unwrap(), "--view", "difference"]);
    assert_eq!(one.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&one.stderr).contains("the difference view draws two"));
    let bad = patchlens(&["render", a.to_str().unwrap(), "-o", out.to_str().unwrap(), "--view", "pie"]);
    assert_eq!(bad.status.code(), Some(2));
    std::fs::remove_file(out).ok();
}

#[test]
fn the_position_view_draws_the_figure() {
    let file = fixtures_dir().join("positions_augreg.npz"); // (1, 197, 64): a class token and 14 × 14 positions
    let out = out_path("positions");
    let run = patchlens(&[
        "render",
        file.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--view",
        "positions",
        "--zoom",
        "1",
    ]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let said = String::from_utf8_lossy(&run.stderr);
    assert!(said.contains("position cosine") && said.contains("14 × 14"), "{said}");
    let (width, height, rgba) = decode_png(&out);
    assert_eq!((width, height), (14 * 14 + 13, 14 * 14 + 13), "14 × 14 tiles of 14 px, 1-px gaps");
    assert_eq!(&rgba[14 * 4..14 * 4 + 4], &[0, 0, 0, 255], "the gaps are black");
    let dot = patchlens(&[
        "render",
        file.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--view",
        "positions",
        "--mode",
        "dot",
    ]);
    assert!(dot.status.success());
    assert_eq!(decode_png(&out).0, 196 * 4, "one 196 × 196 image at zoom 4");
    let bad = patchlens(&["render", file.to_str().unwrap(), "-o", out.to_str().unwrap(), "--position-grid", "14by14"]);
    assert_eq!(bad.status.code(), Some(2));
    std::fs::remove_file(out).ok();
}

#[test]
fn the_pca_view_draws_28_components_7_to_a_row() {
    let file = fixtures_dir().join("dinov2_vits14.npz");
    let out = out_path("pca");
    let run = patchlens(&[
        "render",
        file.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--view",
        "pca",
        "--zoom",
        "1",
        "--gap",
        "0",
    ]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert!(String::from_utf8_lossy(&run.stderr).contains("28 of 28 principal components"));
    assert_eq!(decode_png(&out).0, 7 * 14);
    let many = patchlens(&[
        "render",
        file.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--view",
        "pca",
        "--components",
        "999",
    ]);
    assert_eq!(many.status.code(), Some(2), "{}", String::from_utf8_lossy(&many.stderr));
    std::fs::remove_file(out).ok();
}

/// Built without `http`, a URL or a model id is refused in one sentence that says why.
#[cfg(not(feature = "http"))]
#[test]
fn urls_need_the_http_feature() {
    for (input, words) in [
        (
            "https://huggingface.co/google/vit-base-patch16-224",
            "is a URL, and this patchlens was built without the `http` feature",
        ),
        (
            "google/vit-base-patch16-224",
            "There is no file google/vit-base-patch16-224, and this patchlens was built without the `http` feature",
        ),
    ] {
        let run = patchlens(&["render", input, "-o", out_path("no-http").to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(1), "{stderr}");
        assert!(stderr.starts_with("patchlens: ") && stderr.contains(words), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
}
