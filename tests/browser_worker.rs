//! In a real dedicated worker: a Blob is read lazily through FileReaderSync, and exactly the
//! expected ranges are read: the file's head (magic and header), the zip tail, and the kernel's entry
//! in one range; a PyTorch file and a set of shards read the same way.
#![cfg(target_arch = "wasm32")]

use patchlens::source::ByteSource;
use patchlens::web::{BlobSource, Checkpoint as JsCheckpoint};
use patchlens::{Checkpoint, GridOptions};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_dedicated_worker);

const NPZ: &[u8] = include_bytes!("fixtures/generated/stored_f32.npz");
const TILES: &[u8] = include_bytes!("fixtures/generated/stored_f32.0.tiles.u8");
const KERNEL_BYTES: u64 = 16 * 16 * 3 * 768 * 4;

fn blob(bytes: &[u8]) -> web_sys::Blob {
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(bytes));
    web_sys::Blob::new_with_u8_array_sequence(&parts).unwrap()
}

/// Records every (offset, length) asked of the Blob.
struct Recording {
    inner: BlobSource,
    reads: Rc<RefCell<Vec<(u64, usize)>>>,
}

impl ByteSource for Recording {
    fn len(&self) -> u64 {
        self.inner.len()
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> patchlens::Result<()> {
        self.reads.borrow_mut().push((offset, buf.len()));
        self.inner.read_at(offset, buf)
    }
}

#[wasm_bindgen_test]
fn blob_is_read_by_ranges_only() {
    let reads = Rc::new(RefCell::new(Vec::new()));
    let source = Recording { inner: BlobSource::new(blob(NPZ)).unwrap(), reads: Rc::clone(&reads) };
    let len = NPZ.len() as u64;
    let checkpoint = Checkpoint::open(source).unwrap();
    let rendered = checkpoint.render(None, &GridOptions::default()).unwrap();
    assert_eq!(rendered.tensor.name, "embedding/kernel");

    let reads = reads.borrow().clone();
    assert_eq!(reads.len(), 3, "head, tail, kernel entry: {reads:?}");
    assert_eq!(reads[0], (0, 65536), "the head: format magic (and, in most formats, the header)");
    assert_eq!(reads[1], (len - 65557, 65557), "zip tail: 22 + 65535 bytes, the end record and directory");
    let (entry_at, entry_len) = reads[2];
    // The kernel's local header, .npy header and data, in one range: a header is well under 1 KiB.
    assert!(entry_len as u64 >= KERNEL_BYTES && entry_len as u64 <= KERNEL_BYTES + 1024, "{reads:?}");
    assert!(entry_at > 0 && entry_at + entry_len as u64 <= len, "{reads:?}");
    let total: u64 = reads.iter().map(|r| r.1 as u64).sum();
    assert!(total <= KERNEL_BYTES + (1 << 20), "read {total} of {len}");

    // The bytes that came through the Blob give scikit-learn's tiles.
    let (_, filters) = checkpoint.filters(None).unwrap();
    for i in [0, 1, 127, 767] {
        assert_eq!(filters.tile(i).unwrap(), &TILES[i * 768..(i + 1) * 768], "filter {i}");
    }
}

/// Hugging Face ViT-S/14 names, float16, written by torch.save (tests/reference/make_torch_fixtures.py).
const PTH: &[u8] = include_bytes!("fixtures/committed/torch/pytorch_model.bin");
const PTH_KERNEL_BYTES: u64 = 384 * 3 * 14 * 14 * 2;

#[wasm_bindgen_test]
fn a_pytorch_file_is_read_by_ranges_only() {
    let reads = Rc::new(RefCell::new(Vec::new()));
    let source = Recording { inner: BlobSource::new(blob(PTH)).unwrap(), reads: Rc::clone(&reads) };
    let checkpoint = Checkpoint::open(source).unwrap();
    let rendered = checkpoint.render(None, &GridOptions::default()).unwrap();
    assert_eq!(rendered.tensor.name, "vit.embeddings.patch_embeddings.projection.weight");
    let reads = reads.borrow().clone();
    // The head (with data.pkl at the zip's front), the zip tail, and of the kernel's storage only the filters
    // drawn: it is stored (n, c, kh, kw), so the first 128 are its first bytes (Container::read_leading).
    assert!(reads.len() <= 4, "{reads:?}");
    assert!(rendered.grid.filters_shown < rendered.grid.filters_total, "the fixture has more filters than are drawn");
    let drawn = PTH_KERNEL_BYTES * rendered.grid.filters_shown as u64 / rendered.grid.filters_total as u64;
    let total: u64 = reads.iter().map(|r| r.1 as u64).sum();
    assert!(total >= drawn && total <= drawn + (1 << 20), "read {total} of {} for {drawn} bytes of filters", PTH.len());
    assert!(reads.iter().any(|&(_, len)| len as u64 >= drawn), "the drawn filters in one read: {reads:?}");
}

const INDEX: &[u8] = include_bytes!("fixtures/generated/model.safetensors.index.json");
const SHARDS: [(&str, &[u8]); 3] = [
    ("model-00001-of-00003.safetensors", include_bytes!("fixtures/generated/model-00001-of-00003.safetensors")),
    ("model-00002-of-00003.safetensors", include_bytes!("fixtures/generated/model-00002-of-00003.safetensors")),
    ("model-00003-of-00003.safetensors", include_bytes!("fixtures/generated/model-00003-of-00003.safetensors")),
];

fn file(bytes: &[u8], name: &str) -> web_sys::File {
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(bytes));
    web_sys::File::new_with_u8_array_sequence(&parts, name).unwrap()
}

#[wasm_bindgen_test]
fn open_files_makes_one_checkpoint_of_shards_and_their_index() {
    let files = js_sys::Array::new();
    files.push(&file(INDEX, "model.safetensors.index.json"));
    for (name, bytes) in SHARDS {
        files.push(&file(bytes, name));
    }
    files.push(&file(NPZ, "stored_f32.npz"));
    let opened = JsCheckpoint::open_files(files).unwrap();
    assert_eq!(opened.length(), 2);
    let label = |i: u32| js_sys::Reflect::get(&opened.get(i), &"label".into()).unwrap().as_string().unwrap();
    assert_eq!((label(0), label(1)), ("model.safetensors".to_string(), "stored_f32.npz".to_string()));
    let files_of_first = js_sys::Reflect::get(&opened.get(0), &"files".into()).unwrap();
    assert_eq!(js_sys::Array::from(&files_of_first).length(), 4);
    let checkpoint = js_sys::Reflect::get(&opened.get(0), &"checkpoint".into()).unwrap();
    let render = js_sys::Reflect::get(&checkpoint, &"render".into()).unwrap();
    let grid = js_sys::Function::from(render).call0(&checkpoint).unwrap();
    let tensor = js_sys::Reflect::get(&grid, &"tensor".into()).unwrap().as_string().unwrap();
    assert_eq!(tensor, "vit.embeddings.patch_embeddings.projection.weight");
}

#[wasm_bindgen_test]
fn js_checkpoint_from_blob_reports_bytes_read() {
    let checkpoint = JsCheckpoint::from_blob(blob(NPZ)).unwrap();
    assert_eq!(checkpoint.file_size() as usize, NPZ.len());
    assert_eq!(checkpoint.default_tensor().as_deref(), Some("embedding/kernel"));
    // Opening reads the head and the zip tail; the embedding's .npy header lies within the head here
    // (only small entries come before it), so naming the default reads nothing more.
    assert_eq!(checkpoint.reads(), 2.0);
    checkpoint.render(None).unwrap();
    // This file is little more than its kernel, so the head, tail and kernel together touch all of it.
    let read = checkpoint.bytes_read();
    assert!(read >= KERNEL_BYTES as f64 && read <= NPZ.len() as f64, "{read} distinct bytes of {}", NPZ.len());
    let transferred = checkpoint.bytes_transferred();
    assert!(transferred >= read && transferred <= (KERNEL_BYTES + (1 << 20)) as f64, "{transferred} bytes transferred");
}

#[wasm_bindgen_test]
fn offscreen_canvas_in_a_worker() {
    let checkpoint = JsCheckpoint::from_blob(blob(NPZ)).unwrap();
    let canvas = web_sys::OffscreenCanvas::new(1, 1).unwrap();
    let info = checkpoint.render_to_canvas(canvas.clone().into(), None).unwrap();
    let width = js_sys::Reflect::get(&info, &"width".into()).unwrap().as_f64().unwrap();
    assert_eq!(canvas.width() as f64, width);
}
