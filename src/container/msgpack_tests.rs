use super::*;
use crate::source::{Metered, SliceSource};
use crate::tensor::Values;

/// A map header of `n` entries (fixmap, map16 or map32, as msgpack-python picks).
fn map(n: usize) -> Vec<u8> {
    match n {
        0..=15 => vec![0x80 | n as u8],
        16..=0xffff => [vec![0xde], (n as u16).to_be_bytes().to_vec()].concat(),
        _ => [vec![0xdf], (n as u32).to_be_bytes().to_vec()].concat(),
    }
}

fn s(text: &str) -> Vec<u8> {
    assert!(text.len() < 32);
    [vec![0xa0 | text.len() as u8], text.as_bytes().to_vec()].concat()
}

fn ext(code: i8, payload: &[u8]) -> Vec<u8> {
    let head = match payload.len() {
        16 => vec![0xd8, code as u8],
        n @ 0..=255 => vec![0xc7, n as u8, code as u8],
        n => [vec![0xc9], (n as u32).to_be_bytes().to_vec(), vec![code as u8]].concat(),
    };
    [head, payload.to_vec()].concat()
}

/// flax `_ndarray_to_bytes`: (shape, dtype name, bytes) as a msgpack 3-array, inside ext `code`.
fn array_of(code: i8, shape: &[u32], dtype: &str, data: &[u8]) -> Vec<u8> {
    let mut inner = vec![0x93, 0x90 | shape.len() as u8];
    for &d in shape {
        inner.extend(uint(d));
    }
    inner.extend(s(dtype));
    match data.len() {
        n @ 0..=255 => inner.extend([0xc4, n as u8]),
        n => inner.extend([vec![0xc6], (n as u32).to_be_bytes().to_vec()].concat()),
    }
    inner.extend(data);
    ext(code, &inner)
}

/// An unsigned integer in its shortest form, as msgpack-python writes it.
fn uint(d: u32) -> Vec<u8> {
    match d {
        0..=127 => vec![d as u8],
        128..=255 => vec![0xcc, d as u8],
        256..=0xffff => [vec![0xcd], (d as u16).to_be_bytes().to_vec()].concat(),
        _ => [vec![0xce], d.to_be_bytes().to_vec()].concat(),
    }
}

fn nd(shape: &[u32], values: &[f32]) -> Vec<u8> {
    let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    array_of(EXT_NDARRAY, shape, "float32", &data)
}

fn kernel_values() -> Vec<f32> {
    (0..2 * 2 * 3 * 4).map(|v| v as f32).collect()
}

/// {params: {embedding: {kernel: (2,2,3,4) f32, bias: int32 (4,)}}, step: 7}
fn sample() -> Vec<u8> {
    let bias = array_of(EXT_NDARRAY, &[4], "int32", &[0; 16]);
    [map(2), s("params"), map(1), s("embedding"), map(2), s("kernel"), nd(&[2, 2, 3, 4], &kernel_values())]
        .concat()
        .into_iter()
        .chain([s("bias"), bias, s("step"), vec![7]].concat())
        .collect()
}

fn open_bytes(bytes: Vec<u8>) -> Result<Msgpack> {
    Msgpack::open(Rc::new(SliceSource(bytes)))
}

fn err_of(bytes: Vec<u8>) -> String {
    let text = open_bytes(bytes).err().expect("should fail").to_string();
    assert!(text.ends_with('.') && !text.contains('\n'), "not one sentence: {text}");
    text
}

#[test]
fn lists_key_paths_dtypes_shapes_and_reads_a_kernel() {
    let file = open_bytes(sample()).unwrap();
    assert_eq!(file.names(), ["params/embedding/kernel", "params/embedding/bias"]);
    assert_eq!(file.info(1).unwrap().dtype, DType::Other("int32".into()));
    assert_eq!(file.info(0).unwrap().shape, [2, 2, 3, 4]);
    assert_eq!(file.layout(), KernelLayout::Hwio);
    assert_eq!(file.read(0).unwrap().values, Values::F32(kernel_values()));
    assert!(file.read(1).is_err());
    assert!(file.read(2).is_err());
    assert_eq!(file.notes().len(), 1, "the step counter is mentioned, not listed");
}

#[test]
fn reading_a_tensor_reads_only_its_bytes() {
    let metered = Rc::new(Metered::new(SliceSource(sample())));
    let stats = metered.stats();
    let file = Msgpack::open(metered.clone()).unwrap();
    let before = (stats.reads(), stats.bytes());
    file.read(0).unwrap();
    assert_eq!((stats.reads() - before.0, stats.bytes() - before.1), (1, 48 * 4));
}

#[test]
fn listing_skips_payloads_without_reading_them() {
    // Two 4 MiB payloads beyond the first window: listing reads the head, then a little after each.
    let big = vec![0f32; 1 << 20];
    let bytes =
        [map(3), s("a"), nd(&[1 << 20], &big), s("b"), nd(&[1 << 20], &big), s("c"), nd(&[2], &[1.0, 2.0])].concat();
    let metered = Rc::new(Metered::new(SliceSource(bytes)));
    let stats = metered.stats();
    let file = Msgpack::open(metered.clone()).unwrap();
    assert_eq!(file.names(), ["a", "b", "c"]);
    assert!(stats.bytes() < (64 << 10) + 2 * (8 << 10) + 100, "listing read {} bytes", stats.bytes());
    assert_eq!(stats.reads(), 3);
    assert_eq!(file.read(2).unwrap().values, Values::F32(vec![1.0, 2.0]));
}

#[test]
fn reads_chunked_arrays_numpy_scalars_and_fixext() {
    let values = kernel_values();
    let (first, rest) = values.split_at(20);
    let chunked = [
        map(3),
        s(CHUNKED_MARKER),
        vec![0xc3],
        s("shape"),
        map(4),
        [s("1"), vec![2], s("0"), vec![2], s("2"), vec![3], s("3"), vec![4]].concat(),
        s("chunks"),
        map(2),
        [s("0"), nd(&[20], first), s("1"), nd(&[28], rest)].concat(),
    ]
    .concat();
    // A float32 numpy scalar's record is exactly 16 bytes: msgpack-python writes it as fixext 16.
    let scalar = array_of(EXT_NPSCALAR, &[], "float32", &0.5f32.to_le_bytes());
    assert_eq!(scalar[0], 0xd8);
    let bytes = [map(2), s("k"), chunked, s("scale"), scalar].concat();
    let file = open_bytes(bytes).unwrap();
    assert_eq!(file.names(), ["k", "scale"]);
    assert_eq!(file.info(0).unwrap().shape, [2, 2, 3, 4]);
    assert_eq!(file.read(0).unwrap().values, Values::F32(values));
    assert_eq!(file.read(1).unwrap().values, Values::F32(vec![0.5]));
}

#[test]
fn recognises_flax_heads_and_nothing_else() {
    let whole = sample();
    assert!(looks_like(&whole));
    // A head cut inside the first payload (of a longer file, or a damaged one) still looks like one.
    assert!(looks_like(&whole[..40]));
    let train_state = [map(2), s("step"), vec![0], s("params"), map(0)].concat();
    assert!(looks_like(&train_state));
    for other in [
        &b"\x08\x07\x12\x07pytorch"[..],         // ONNX: ir_version tag
        b"\x80\x02\x8a\x0alZ\xfc",               // a pickle's PROTO opcode reads as an empty fixmap
        b"\x88\x00\x00\x00\x00\x00\x00\x00{\"a", // a safetensors length
        b"\x81\x01\x02",                         // integer key
        b"\x81\xa1a\xc7\x03\x01\x90\x90\x90",    // ext 1 whose inner record is not a triple
        b"\x81\xa1a\xc1",                        // the unused marker
        b"\x80",
    ] {
        assert!(!looks_like(other), "{other:?}");
    }
}

#[test]
fn hostile_structures_fail_with_one_sentence() {
    let deep = [b"\x81\xa1a".repeat(10_000), vec![0xc0]].concat();
    assert!(err_of(deep).contains("levels deep"));
    assert!(err_of(b"\xdf\xff\xff\xff\xff\xa6params\x80".to_vec()).contains("4294967295 entries"));
    let list = [map(1), s("a"), vec![0xdd, 0xff, 0xff, 0xff, 0xff]].concat();
    assert!(err_of(list).contains("items"));
    let bad_key = [map(2), s("a"), nd(&[1], &[1.0]), vec![0xa2, 0xff, 0xfe], nd(&[1], &[1.0])].concat();
    assert!(err_of(bad_key).contains("UTF-8"));
    let float_key = [map(1), vec![0xca, 0, 0, 0, 0], vec![0xc0]].concat();
    assert!(err_of(float_key).contains("neither a string nor an integer"));
    let twice = [map(2), s("a/b"), nd(&[1], &[1.0]), s("a"), map(1), s("b"), nd(&[1], &[1.0])].concat();
    assert!(err_of(twice).contains("two arrays named a/b"));
    let trailing = [sample(), vec![0]].concat();
    assert!(err_of(trailing).contains("1 bytes after its end"));
    let not_map = nd(&[1], &[1.0]);
    assert!(matches!(open_bytes(not_map), Err(Error::UnknownFormat(_))));
}

#[test]
fn lying_lengths_and_headers_fail_with_one_sentence() {
    let good = sample();
    // Every cut is an error, never a panic.
    for cut in 0..good.len() {
        let _ = err_of(good[..cut].to_vec());
    }
    // An ext32 length past the end of the file.
    let past = [map(1), s("k"), vec![0xc9, 0x7f, 0xff, 0xff, 0xff, 0x01, 0x93]].concat();
    assert!(err_of(past).contains("past the end of the"));
    // The shape claims five filters, the bytes hold four.
    let data: Vec<u8> = kernel_values().iter().flat_map(|v| v.to_le_bytes()).collect();
    let lying = [map(1), s("k"), array_of(EXT_NDARRAY, &[2, 2, 3, 5], "float32", &data)].concat();
    assert!(err_of(lying).contains("claims shape 2×2×3×5"));
    // The bin inside claims more bytes than its ext record holds.
    let mut short = [map(1), s("k"), nd(&[2], &[1.0, 2.0])].concat();
    let at = short.len() - 8 - 1;
    assert_eq!(short[at - 1..=at], [0xc4, 8]);
    short[at] = 9;
    assert!(err_of(short).contains("do not fill"));
    // An unknown dtype is listed, not read; a shape that overflows is refused.
    let odd = [map(1), s("k"), array_of(EXT_NDARRAY, &[3], "void96", &[0; 36])].concat();
    assert!(open_bytes(odd).unwrap().read(0).is_err());
    let huge = [map(1), s("k"), array_of(EXT_NDARRAY, &[u32::MAX, u32::MAX, u32::MAX], "float32", &[])].concat();
    assert!(!err_of(huge).is_empty());
    let bad_name = [map(1), s("k"), array_of(EXT_NDARRAY, &[1], "<f4", &[0; 4])].concat();
    assert!(err_of(bad_name).contains("numpy dtype name"));
}

#[test]
fn chunked_arrays_that_do_not_add_up_fail() {
    let chunked = |shape: Vec<u8>, chunks: Vec<u8>| {
        [map(1), s("k"), map(3), s(CHUNKED_MARKER), vec![0xc3], s("shape"), shape, s("chunks"), chunks].concat()
    };
    let one = [map(1), s("0"), nd(&[3], &[1.0, 2.0, 3.0])].concat();
    assert!(err_of(chunked([map(1), s("0"), vec![4]].concat(), one.clone())).contains("claims shape 4"));
    assert!(err_of(chunked([map(1), s("1"), vec![3]].concat(), one.clone())).contains("stray or repeated"));
    let mixed = [map(2), s("0"), nd(&[1], &[1.0]), s("1"), array_of(EXT_NDARRAY, &[1], "int32", &[0; 4])].concat();
    assert!(err_of(chunked([map(1), s("0"), vec![2]].concat(), mixed)).contains("different dtypes"));
    let late = [map(1), s("k"), map(2), s("shape"), map(0), s(CHUNKED_MARKER), vec![0xc3]].concat();
    assert!(matches!(open_bytes(late), Err(Error::Unsupported(_))));
}

#[test]
fn a_long_prefix_repeated_under_many_leaves_stops_at_the_names_budget() {
    let long = |c: char| [vec![0xda, 0x03, 0xe8], c.to_string().repeat(1000).into_bytes()].concat();
    let mut bytes = Vec::new();
    for c in ['a', 'b', 'c', 'd'] {
        bytes.extend([map(1), long(c)].concat());
    }
    let leaves = 5000;
    bytes.extend(map(leaves));
    for i in 0..leaves {
        bytes.extend([s(&i.to_string()), nd(&[1], &[1.0])].concat());
    }
    assert!(bytes.len() < 200 << 10);
    assert!(err_of(bytes).contains("add up to more than the 16 MiB"));
}
