//! Reads counted on real files from the fixture writers: a GGUF whose 200k-string tokenizer comes
//! before the tensors is walked in a few large reads, and a safetensors header in one.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::*;
use patchlens::{Checkpoint, FileSource, GridOptions};

fn open(file: &str) -> Checkpoint {
    Checkpoint::open(FileSource::open(fixtures_dir().join(file)).unwrap()).unwrap_or_else(|e| panic!("{file}: {e}"))
}

#[test]
fn a_200k_string_tokenizer_takes_a_few_large_reads() {
    let checkpoint = open("llm_tokenizer.gguf");
    let opening = checkpoint.reads();
    // The magic, then 64 KiB, then 1 MiB chunks over ~4.3 MB of metadata.
    assert!(opening <= 8, "{opening} reads to open");
    eprintln!("llm_tokenizer.gguf: {opening} reads, {} bytes to open", checkpoint.bytes_read());
    let rendered = checkpoint.render(None, &GridOptions::default()).unwrap();
    assert_eq!(rendered.tensor.name, "v.patch_embd.weight");
    assert_eq!(checkpoint.reads(), opening + 1, "the kernel is one read");
    assert!(checkpoint.bytes_read() < checkpoint.file_size(), "read {} bytes", checkpoint.bytes_read());
}

#[test]
fn headers_come_with_the_first_read_and_the_kernel_in_one_more() {
    // The first read (64 KiB) holds the magic and the header; a file that small is drawn from it alone.
    for file in ["clip_projector_f32.gguf", "hf_vit_f32.safetensors", "dinov2_small_patch_embed.safetensors"] {
        let checkpoint = open(file);
        assert_eq!(checkpoint.reads(), 1, "{file}: the magic and the header in one read");
        checkpoint.render(None, &GridOptions::default()).unwrap();
        let kernel_reads = u64::from(checkpoint.file_size() > 64 << 10);
        assert_eq!(checkpoint.reads(), 1 + kernel_reads, "{file}: the kernel in one read at most");
    }
}
