//! TensorFlow checkpoints written by real TensorFlow (tests/fixtures/committed/tf/, make_tf_fixtures.py)
//! opened as a drop or a folder opens them: an index with its data files is one checkpoint, a SavedModel's
//! files are one, and every file given without what it needs gets a sentence saying what to add.
#![cfg(not(target_arch = "wasm32"))]

use patchlens::source::{Metered, ReadStats};
use patchlens::{ByteSource, Checkpoint, FileSource, GridOptions};
use std::path::PathBuf;
use std::rc::Rc;

fn committed(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/committed/tf").join(name)
}

fn open(names: &[&str]) -> (Vec<patchlens::checkpoint::Opened>, Vec<Rc<ReadStats>>) {
    let mut stats = Vec::new();
    let files = names
        .iter()
        .map(|name| {
            let source = Metered::new(FileSource::open(committed(name)).unwrap());
            stats.push(source.stats());
            (name.to_string(), Rc::new(source) as Rc<dyn ByteSource>)
        })
        .collect();
    (Checkpoint::open_files(files), stats)
}

fn only_error(names: &[&str]) -> String {
    let (mut opened, _) = open(names);
    assert_eq!(opened.len(), 1, "{names:?}");
    let text = opened.remove(0).checkpoint.err().expect("an error").to_string();
    assert!(text.ends_with('.') && !text.contains("ONNX"), "{text}");
    text
}

#[test]
fn a_savedmodel_folder_is_one_checkpoint_drawn_from_its_variables() {
    let names = ["fingerprint.pb", "saved_model.pb", "variables.data-00000-of-00001", "variables.index"];
    let (mut opened, stats) = open(&names);
    assert_eq!(opened.len(), 1);
    let group = opened.remove(0);
    assert_eq!(group.label, "saved_model");
    assert_eq!(group.files.len(), 4, "{:?}", group.files);
    let checkpoint = group.checkpoint.unwrap();
    assert!(checkpoint.notes().iter().any(|n| n.contains("SavedModel")));
    let rendered = checkpoint.render(None, &GridOptions::default()).unwrap();
    assert_eq!(rendered.tensor.name, "embedding/kernel");
    // The graph and fingerprint are never read.
    assert_eq!((stats[0].reads(), stats[1].reads()), (0, 0));
}

#[test]
fn parts_given_alone_say_what_to_add() {
    assert!(only_error(&["saved_model.pb"]).contains("variables folder"));
    assert!(only_error(&["fingerprint.pb"]).contains("variables folder"));
    assert!(only_error(&["tf1_f32.index"]).contains("tf1_f32.data-00000-of-00001"));
    assert!(only_error(&["tf1_f32.data-00000-of-00001"]).contains("open tf1_f32.index with it"));
    let missing = only_error(&["tf1_sharded.index", "tf1_sharded.data-00000-of-00002"]);
    assert!(missing.contains("tf1_sharded.data-00001-of-00002") && !missing.contains("00000-of"), "{missing}");
}

#[test]
fn graph_and_fingerprint_opened_by_bytes_alone_are_not_taken_for_onnx() {
    for name in ["saved_model.pb", "fingerprint.pb"] {
        let error = Checkpoint::open(FileSource::open(committed(name)).unwrap()).err().unwrap().to_string();
        assert!(error.contains("SavedModel") && error.contains("variables"), "{name}: {error}");
    }
}

#[test]
fn two_checkpoints_dropped_together_stay_apart_and_draw_with_two_reads() {
    let names = ["tf1_f32.data-00000-of-00001", "tf1_f32.index", "tf1_half.data-00000-of-00001", "tf1_half.index"];
    let (opened, stats) = open(&names);
    let labels: Vec<&str> = opened.iter().map(|o| o.label.as_str()).collect();
    assert_eq!(labels, ["tf1_f32", "tf1_half"]);
    let checkpoint = opened.into_iter().next().unwrap().checkpoint.unwrap();
    let rendered = checkpoint.render(None, &GridOptions::default()).unwrap();
    assert_eq!(rendered.tensor.name, "embedding/kernel");
    // The index in one read, the kernel's exact bytes in one more.
    assert_eq!((stats[1].reads(), stats[0].reads(), stats[0].bytes()), (1, 1, 4 * 4 * 3 * 8 * 4));
    assert_eq!(stats[3].reads() + stats[2].reads(), 1, "the other checkpoint's index only");
}

#[test]
fn keras_optimizer_slots_and_bookkeeping_are_listed_not_picked() {
    let (mut opened, _) = open(&["tf2_keras.index", "tf2_keras.data-00000-of-00001"]);
    let checkpoint = opened.remove(0).checkpoint.unwrap();
    let names: Vec<String> = checkpoint.tensors().into_iter().map(|t| t.name).collect();
    assert!(names.contains(&"model/layer_with_weights-0/kernel/.OPTIMIZER_SLOT/optimizer/m".to_string()));
    assert!(names.contains(&"save_counter".to_string()) && names.contains(&"_CHECKPOINTABLE_OBJECT_GRAPH".to_string()));
    assert_eq!(checkpoint.default_tensor().as_deref(), Some("model/layer_with_weights-0/kernel"));
}

/// The CLI given a SavedModel folder reads its variables/ subfolder; given an index, the data files beside it.
#[cfg(feature = "cli")]
#[test]
fn the_cli_finds_a_savedmodels_variables_and_an_indexs_data_files() {
    let folder = std::env::temp_dir().join(format!("patchlens-tf-cli-{}", std::process::id()));
    let variables = folder.join("saved").join("variables");
    std::fs::create_dir_all(&variables).unwrap();
    for name in ["saved_model.pb", "fingerprint.pb"] {
        std::fs::copy(committed(name), folder.join("saved").join(name)).unwrap();
    }
    for name in ["variables.index", "variables.data-00000-of-00001"] {
        std::fs::copy(committed(name), variables.join(name)).unwrap();
    }
    for name in ["tf1_half.index", "tf1_half.data-00000-of-00001"] {
        std::fs::copy(committed(name), folder.join(name)).unwrap();
    }
    let run = |arg: &std::path::Path| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_patchlens")).arg("list").arg(arg).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = run(&folder.join("saved"));
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.starts_with("saved_model: tensorflow savedmodel (4 files)") && out.contains("embedding/kernel"),
        "{out}"
    );
    let (code, out, err) = run(&folder.join("tf1_half.index"));
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with("tf1_half: tensorflow (2 files)"), "{out}");
    std::fs::remove_dir_all(folder).ok();
}
