//! Sharded checkpoints opened as a multi-file drop: with the index only the shard that holds the kernel is
//! read; without it every shard's header is; files of different checkpoints stay apart.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::*;
use patchlens::source::{Metered, ReadStats};
use patchlens::{ByteSource, Checkpoint, FileSource, GridOptions};
use std::rc::Rc;

/// Files as `Checkpoint::open_files` takes them.
type Files = Vec<(String, Rc<dyn ByteSource>)>;

/// The files, each behind its own meter, so a test can see which of them were read.
fn metered(names: &[&str]) -> (Files, Vec<Rc<ReadStats>>) {
    let mut stats = Vec::new();
    let files = names
        .iter()
        .map(|name| {
            let source = Metered::new(FileSource::open(fixtures_dir().join(name)).unwrap());
            stats.push(source.stats());
            (name.to_string(), Rc::new(source) as Rc<dyn ByteSource>)
        })
        .collect();
    (files, stats)
}

#[test]
fn with_an_index_only_the_kernels_shard_is_opened() {
    let names = [
        "model.safetensors.index.json",
        "model-00001-of-00003.safetensors",
        "model-00002-of-00003.safetensors",
        "model-00003-of-00003.safetensors",
    ];
    let (files, stats) = metered(&names);
    let mut opened = Checkpoint::open_files(files);
    assert_eq!(opened.len(), 1);
    let group = opened.remove(0);
    assert_eq!(group.label, "model.safetensors");
    assert_eq!(group.files, names);
    let checkpoint = group.checkpoint.unwrap();
    let rendered = checkpoint.render(None, &GridOptions::default()).unwrap();
    assert_eq!(rendered.tensor.name, "vit.embeddings.patch_embeddings.projection.weight");
    let reads: Vec<u64> = stats.iter().map(|s| s.reads()).collect();
    assert!(reads[0] > 0 && reads[2] > 0, "the index and the kernel's shard are read: {reads:?}");
    assert_eq!((reads[1], reads[3]), (0, 0), "the other shards are not touched: {reads:?}");
    assert!(
        checkpoint.notes()[0].contains("3 shards listed by model.safetensors.index.json"),
        "{:?}",
        checkpoint.notes()
    );
    // Listing opens the rest.
    assert_eq!(checkpoint.tensors().len(), 6);
    assert!(stats.iter().all(|s| s.reads() > 0));
}

#[test]
fn shards_missing_from_the_drop_are_named() {
    let (files, _) = metered(&["model.safetensors.index.json", "model-00001-of-00003.safetensors"]);
    let opened = Checkpoint::open_files(files);
    assert_eq!(opened.len(), 1);
    let error = opened.into_iter().next().unwrap().checkpoint.err().unwrap().to_string();
    assert!(error.contains("(model-00002-of-00003.safetensors, model-00003-of-00003.safetensors)"), "{error}");
}

#[test]
fn different_checkpoints_stay_apart_and_shards_group_by_name() {
    let names = [
        "model-00002-of-00003.safetensors",
        "stored_f32.npz",
        "model-00001-of-00003.safetensors",
        "model-00003-of-00003.safetensors",
        "notes.txt",
    ];
    let (files, _) = metered(&names);
    let opened = Checkpoint::open_files(files);
    let labels: Vec<&str> = opened.iter().map(|o| o.label.as_str()).collect();
    assert_eq!(labels, ["model.safetensors", "stored_f32.npz", "notes.txt"]);
    assert!(opened[0].checkpoint.is_ok() && opened[1].checkpoint.is_ok());
    assert!(opened[2].checkpoint.is_err(), "a text file is a panel with an error, not dropped");
    let shards = opened[0].checkpoint.as_ref().unwrap();
    assert_eq!(shards.default_tensor().as_deref(), Some("vit.embeddings.patch_embeddings.projection.weight"));
}
