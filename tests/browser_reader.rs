//! `Checkpoint.openReaders`: files read through a synchronous JS `read(offset, length)` (what Node backs
//! with fs.readSync). The ranges asked for, `close` once the module lets go, and each way a reader can be
//! wrong coming back as one sentence, never a panic.
#![cfg(target_arch = "wasm32")]

use js_sys::{Array, Function, Object, Reflect};
use patchlens::web::Checkpoint;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const NPZ: &[u8] = include_bytes!("fixtures/generated/stored_f32.npz");
const KERNEL_BYTES: f64 = (16 * 16 * 3 * 768 * 4) as f64;

/// A reader over `bytes` whose `read` body is `read_body` (JS, with `bytes`, `offset`, `length` in scope);
/// every call is logged in `reader.calls`, and `close()` counts itself in `reader.closed`.
fn reader(name: &str, bytes: &[u8], read_body: &str) -> Object {
    let make = Function::new_with_args(
        "name, bytes",
        &format!(
            "const reader = {{ name, size: bytes.length, calls: [], closed: 0,
               read(offset, length) {{ this.calls.push([offset, length]); {read_body} }},
               close() {{ this.closed += 1; }} }};
             return reader;"
        ),
    );
    make.call2(&JsValue::NULL, &name.into(), &js_sys::Uint8Array::from(bytes)).unwrap().into()
}

const SLICE: &str = "return bytes.slice(offset, offset + length);";

fn get(object: &JsValue, key: &str) -> JsValue {
    Reflect::get(object, &key.into()).unwrap()
}

fn error_of(opened: &Array) -> String {
    get(&opened.get(0), "error").as_string().unwrap_or_default()
}

#[wasm_bindgen_test]
fn reads_only_the_ranges_needed_and_closes_when_freed() {
    let file = reader("stored_f32.npz", NPZ, SLICE);
    let opened = Checkpoint::open_readers(Array::of1(&file)).unwrap();
    assert_eq!(opened.length(), 1);
    let checkpoint = get(&opened.get(0), "checkpoint");
    assert!(!checkpoint.is_undefined(), "{}", error_of(&opened));
    let grid = Function::from(get(&checkpoint, "render")).call0(&checkpoint).unwrap();
    assert_eq!(get(&grid, "tensor").as_string().unwrap(), "embedding/kernel");
    let calls = Array::from(&get(&file, "calls"));
    // A file named .npz opens from its end: the zip tail, then the kernel entry in one read. Nothing at the front.
    assert_eq!(calls.length(), 2, "{calls:?}");
    let tail = Array::from(&calls.get(0));
    assert_eq!(tail.get(0).as_f64().unwrap() + tail.get(1).as_f64().unwrap(), NPZ.len() as f64, "{calls:?}");
    let kernel_read = Array::from(&calls.get(1)).get(1).as_f64().unwrap();
    assert!((KERNEL_BYTES..KERNEL_BYTES + 1024.0).contains(&kernel_read), "{calls:?}");
    assert_eq!(get(&file, "closed").as_f64(), Some(0.0), "open while the checkpoint is");
    Function::from(get(&checkpoint, "free")).call0(&checkpoint).unwrap();
    assert_eq!(get(&file, "closed").as_f64(), Some(1.0), "closed once freed");
}

#[wasm_bindgen_test]
fn a_reader_that_fails_is_one_sentence() {
    let cases = [
        (
            "throwing",
            "throw new Error('EIO: i/o error, read');",
            "Could not read throwing at offset 0 (EIO: i/o error, read).",
        ),
        (
            "short",
            "return bytes.slice(offset, offset + length - 1);",
            "Reading short returned 65535 bytes where 65536 were asked for; the file may have changed.",
        ),
        ("not bytes", "return 'text';", "The read function for not bytes returned no Uint8Array."),
    ];
    for (name, body, sentence) in cases {
        let file = reader(name, NPZ, body);
        let opened = Checkpoint::open_readers(Array::of1(&file)).unwrap();
        assert_eq!(error_of(&opened), sentence);
        assert_eq!(get(&file, "closed").as_f64(), Some(1.0), "{name}: closed when the open failed");
    }
}

#[wasm_bindgen_test]
fn a_malformed_reader_is_refused_in_one_sentence() {
    let no_size =
        Function::new_no_args("return { name: 'a.npz', size: -1, read() {} };").call0(&JsValue::NULL).unwrap();
    let no_read = Function::new_no_args("return { name: 'a.npz', size: 10 };").call0(&JsValue::NULL).unwrap();
    for (value, expected) in [
        (JsValue::from(3), "File 1 given to openReaders is not an object with name, size and read."),
        (no_size, "File 1 given to openReaders has no size (a whole number of bytes)."),
        (no_read, "File 1 given to openReaders has no read(offset, length) function."),
    ] {
        let error = Checkpoint::open_readers(Array::of1(&value)).expect_err("refused");
        assert_eq!(js_sys::Error::from(error).message(), expected);
    }
}

#[wasm_bindgen_test]
fn an_index_names_its_shards() {
    let index = br#"{"metadata": {}, "weight_map": {"a": "m-00002-of-00002.safetensors", "b": "m-00001-of-00002.safetensors"}}"#;
    let shards = Checkpoint::shards_named_by_index(reader("m.safetensors.index.json", index, SLICE).into()).unwrap();
    assert_eq!(shards, vec!["m-00001-of-00002.safetensors".to_string(), "m-00002-of-00002.safetensors".to_string()]);
}
