use super::*;
use crate::source::{Metered, SliceSource};
use crate::tensor::Values;

/// A safetensors file from a JSON header and data, padded with spaces to 8 bytes as the crate does.
fn build(header: &str, data: &[u8]) -> Vec<u8> {
    let mut json = header.as_bytes().to_vec();
    while json.len() % 8 != 0 {
        json.push(b' ');
    }
    let mut out = (json.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&json);
    out.extend_from_slice(data);
    out
}

fn open_bytes(bytes: Vec<u8>) -> Result<Safetensors> {
    Safetensors::open(Rc::new(SliceSource(bytes)))
}

fn err_of(bytes: Vec<u8>) -> String {
    let text = open_bytes(bytes).err().expect("should fail").to_string();
    assert!(text.ends_with('.') && !text.contains('\n'), "not one sentence: {text}");
    text
}

/// A kernel (2, 3, 1, 1) f32 valued 0..6 after an i64 step counter, with metadata.
fn sample() -> Vec<u8> {
    let mut data = 7i64.to_le_bytes().to_vec();
    for v in 0..6 {
        data.extend_from_slice(&(v as f32).to_le_bytes());
    }
    build(
        r#"{"__metadata__":{"format":"pt","source":"test"},"w":{"dtype":"F32","shape":[2,3,1,1],"data_offsets":[8,32]},"step":{"dtype":"I64","shape":[],"data_offsets":[0,8]}}"#,
        &data,
    )
}

#[test]
fn lists_by_offset_and_reads_one_tensor_in_one_read() {
    let source = Rc::new(Metered::new(SliceSource(sample())));
    let stats = source.stats();
    let file = Safetensors::open(source).unwrap();
    assert_eq!(stats.reads(), 1, "the whole header comes in the first read");
    assert_eq!(file.names(), ["step", "w"]);
    assert_eq!(file.info(0).unwrap().dtype, DType::Other("int64".into()));
    assert_eq!(file.info(1).unwrap().shape, vec![2, 3, 1, 1]);
    assert_eq!((file.format(), file.layout()), ("safetensors", KernelLayout::Oihw));
    assert_eq!(file.notes(), ["Metadata: format = pt; source = test."]);
    let before = stats.bytes();
    let tensor = file.read(1).unwrap();
    assert_eq!(tensor.values, Values::F32(vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]));
    assert_eq!((stats.reads(), stats.bytes() - before), (2, 24));
    assert!(matches!(file.read(0), Err(Error::NotDrawable(_))));
    assert!(matches!(file.read(2), Err(Error::NoSuchTensor(_))));
}

#[test]
fn a_long_header_takes_exactly_one_more_read() {
    let long_name = "x".repeat(FIRST_READ as usize);
    let header = format!(r#"{{"{long_name}":{{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}}}"#);
    let source = Rc::new(Metered::new(SliceSource(build(&header, &[0, 0x3c, 0, 0xc0]))));
    let stats = source.stats();
    let file = Safetensors::open(source).unwrap();
    assert_eq!(stats.reads(), 2);
    assert_eq!(file.read(0).unwrap().values, Values::F32(vec![1.0, -2.0]));
}

#[test]
fn decodes_each_float_dtype_and_lists_the_rest() {
    let header = r#"{"a":{"dtype":"BF16","shape":[1],"data_offsets":[0,2]},"b":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[2,3]},"c":{"dtype":"F8_E5M2","shape":[1],"data_offsets":[3,4]},"d":{"dtype":"F64","shape":[1],"data_offsets":[4,12]},"e":{"dtype":"U8","shape":[1],"data_offsets":[12,13]},"f":{"dtype":"F4","shape":[2],"data_offsets":[13,14]},"g":{"dtype":"X9","shape":[3],"data_offsets":[14,15]}}"#;
    let mut data = half::bf16::from_f32(0.5).to_le_bytes().to_vec();
    data.extend_from_slice(&[0x38, 0x3c]);
    data.extend_from_slice(&0.25f64.to_le_bytes());
    data.extend_from_slice(&[1, 0, 0]);
    let file = open_bytes(build(header, &data)).unwrap();
    let values: Vec<Values> = (0..4).map(|i| file.read(i).unwrap().values).collect();
    assert_eq!(
        values,
        [Values::F32(vec![0.5]), Values::F32(vec![1.0]), Values::F32(vec![1.0]), Values::F64(vec![0.25])]
    );
    let dtypes: Vec<String> = (4..7).map(|i| file.info(i).unwrap().dtype.name().to_string()).collect();
    assert_eq!(dtypes, ["uint8", "float4_e2m1fn", "X9"]);
}

#[test]
fn detection_needs_a_length_and_a_brace() {
    assert!(looks_like(&sample()[..9]));
    assert!(!looks_like(&sample()[..8]));
    assert!(!looks_like(b"\x01\0\0\0\0\0\0\0{"));
    assert!(!looks_like(b"\x10\0\0\0\0\0\0\0["));
}

#[test]
fn lying_lengths_and_offsets_are_sentences() {
    let mut huge = sample();
    huge[..8].copy_from_slice(&u64::from(u32::MAX).to_le_bytes());
    assert!(err_of(huge).contains("4294967295 bytes long, more than the 100 MB"));
    let mut past_end = sample();
    past_end[..8].copy_from_slice(&1000u64.to_le_bytes());
    assert!(err_of(past_end).contains("bytes follow its length field"));

    let f32x2 = |offsets: &str| format!(r#"{{"a":{{"dtype":"F32","shape":[2],"data_offsets":{offsets}}}}}"#);
    assert!(err_of(build(&f32x2("[0,8]"), &[0; 4])).contains("only 4 bytes follow"));
    assert!(err_of(build(&f32x2("[0,8]"), &[0; 12])).contains("4 bytes after the last tensor"));
    assert!(err_of(build(&f32x2("[4,12]"), &[0; 12])).contains("without gaps or overlaps"));
    assert!(err_of(build(&f32x2("[8,0]"), &[0; 8])).contains("without gaps"));
    assert!(err_of(build(&f32x2("[0,12]"), &[0; 12])).contains("holds 12 bytes"));
    let overlap =
        r#"{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}}"#;
    assert!(err_of(build(overlap, &[0; 6])).contains("previous tensor ends at 4"));
    let huge_shape = r#"{"a":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,4]}}"#;
    assert!(err_of(build(huge_shape, &[0; 4])).contains("overflows"));
    let twice =
        r#"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}"#;
    assert!(err_of(build(twice, &[0; 2])).contains("names tensor a twice"));
}

#[test]
fn bad_json_is_a_sentence() {
    assert!(err_of(build("{not json", &[])).contains("is not valid JSON"));
    assert!(err_of(build(r#"{"a":{"dtype":"F32"}}"#, &[])).contains("does not describe tensors"));
    assert!(err_of(build(r#"{"a":[1,2]}"#, &[])).contains("does not describe tensors"));
    let nested = format!("{{\"__metadata__\":{}{}}}", "[".repeat(10_000), "]".repeat(10_000));
    assert!(err_of(build(&nested, &[])).contains("safetensors header"));
    assert!(err_of(vec![0x10, 0, 0]).contains("ends inside the safetensors header length"));
}

#[test]
fn every_cut_of_a_valid_file_is_an_error() {
    let bytes = sample();
    for cut in 0..bytes.len() {
        assert!(open_bytes(bytes[..cut].to_vec()).is_err(), "cut at {cut} opened");
    }
}

#[test]
fn metadata_notes_are_capped() {
    let entries: Vec<String> = (0..10).map(|i| format!(r#""k{i}":"{}""#, "v".repeat(200))).collect();
    let header = format!(r#"{{"__metadata__":{{{}}}}}"#, entries.join(","));
    let notes = open_bytes(build(&header, &[])).unwrap().notes();
    assert_eq!(notes.len(), 1);
    assert!(notes[0].len() < 700 && notes[0].ends_with("(and 4 more)."), "{}", notes[0]);
}

/// The committed fuzz seeds are valid files (the fuzzer should start from real structure), and the
/// fuzz entry survives every cut of them.
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn fuzz_seeds_open_and_survive_cuts() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/safetensors");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let file = open_bytes(bytes.clone()).unwrap();
        assert!((0..file.names().len()).any(|i| file.read(i).is_ok()));
        for cut in (0..bytes.len()).step_by(7) {
            crate::fuzzing::safetensors(&bytes[..cut]);
        }
        seen += 1;
    }
    assert!(seen >= 4, "only {seen} seeds");
}

#[test]
fn a_file_written_by_tensorflow_flax_or_mlx_reads_kernels_in_that_librarys_layout() {
    let kernel = |format: &str, shape: &str| {
        let data: Vec<u8> = (0..2 * 2 * 3 * 4).flat_map(|v| (v as f32).to_le_bytes()).collect();
        let header = format!(
            r#"{{"__metadata__":{{"format":"{format}"}},"w":{{"dtype":"F32","shape":{shape},"data_offsets":[0,{}]}}}}"#,
            data.len()
        );
        crate::Checkpoint::open(SliceSource(build(&header, &data))).unwrap()
    };
    let layout_of = |checkpoint: &crate::Checkpoint| checkpoint.tensors()[0].layout;
    // PyTorch's (the default) is stated: a (2, 2, 3, 4) kernel stays (out, in, kh, kw), which cannot be drawn.
    assert_eq!(layout_of(&kernel("pt", "[2,2,3,4]")), Some(KernelLayout::Oihw));
    for format in ["tf", "flax", "np"] {
        let checkpoint = kernel(format, "[2,2,3,4]");
        assert_eq!(layout_of(&checkpoint), Some(KernelLayout::Hwio), "{format}");
        assert!(checkpoint.render(None, &crate::GridOptions::default()).is_ok(), "{format}");
        // A PyTorch-shaped kernel in such a file is still read by its shape.
        assert_eq!(layout_of(&kernel(format, "[4,3,2,2]")), Some(KernelLayout::Oihw), "{format}");
    }
    assert_eq!(layout_of(&kernel("mlx", "[4,2,2,3]")), Some(KernelLayout::Ohwi));
}
