use super::model::Quantization;
use super::*;
use crate::source::{Metered, SliceSource};

/// Real files from the TF 2.21 converter (tests/reference/make_tflite_fixtures.py).
const CNN_INT8: &[u8] = include_bytes!("../../tests/fixtures/committed/tflite/cnn_int8.tflite");
const CNN_F16: &[u8] = include_bytes!("../../tests/fixtures/committed/tflite/cnn_f16.tflite");
const MOVED: &[u8] = include_bytes!("../../tests/fixtures/committed/tflite/cnn_int8_offset_buffer.tflite");

fn open(bytes: &[u8]) -> Result<Tflite> {
    Tflite::open(Rc::new(SliceSource(bytes.to_vec())))
}

fn u32_at(bytes: &[u8], at: usize) -> usize {
    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize
}

/// Opens, lists and reads every tensor: whatever the bytes, each failure is one sentence.
fn walk(bytes: &[u8]) {
    let sentence = |e: Error| {
        let text = e.to_string();
        assert!(text.ends_with('.') && !text.contains('\n'), "not a sentence: {text}");
    };
    match open(bytes) {
        Err(e) => sentence(e),
        Ok(model) => {
            let _ = (model.notes(), model.preferred_default());
            for i in 0..model.names().len() {
                if let Err(e) = model.info(i) {
                    sentence(e);
                }
                if let Err(e) = model.read(i) {
                    sentence(e);
                }
            }
        }
    }
}

#[test]
fn reads_a_real_int8_model_and_names_its_filters() {
    let model = open(CNN_INT8).unwrap();
    assert_eq!((model.format(), model.layout()), ("tflite", KernelLayout::Ohwi));
    let pick = model.preferred_default().unwrap();
    assert!(pick.reason.contains("first CONV_2D"), "{}", pick.reason);
    let info = model.info(pick.index).unwrap();
    assert!(info.name.ends_with("stem_1/convolution"), "{}", info.name);
    assert_eq!((info.dtype.name(), info.shape.as_slice()), ("int8 (quantized)", &[48, 3, 3, 3][..]));
    let Values::F32(values) = model.read(pick.index).unwrap().values else { panic!("dequantized to f32") };
    assert_eq!(values.len(), 48 * 27);
    // Per-channel int8 weights use the full range in each channel: every filter has a ±127 × scale value.
    assert!(values.chunks(27).all(|filter| filter.iter().any(|v| *v != 0.0)));
    let notes = model.notes();
    assert!(notes.iter().any(|n| n.contains("is the filter of CONV_2D #")), "{notes:?}");
    assert!(notes.iter().any(|n| n.contains("DEPTHWISE_CONV_2D") && n.contains("not drawn")), "{notes:?}");
    assert!(notes.iter().any(|n| n.contains("activations")), "{notes:?}");
    let depthwise = model.names().iter().position(|n| n.ends_with("depthwise_1/depthwise")).unwrap();
    let refused = model.read(depthwise).unwrap_err().to_string();
    assert!(refused.contains("DEPTHWISE_CONV_2D") && refused.ends_with('.'), "{refused}");
}

#[test]
fn a_float16_filter_is_found_behind_its_dequantize() {
    let model = open(CNN_F16).unwrap();
    let info = model.info(model.preferred_default().unwrap().index).unwrap();
    assert_eq!((info.dtype.clone(), info.shape.clone()), (DType::F16, vec![48, 3, 3, 3]));
}

#[test]
fn a_buffer_past_the_flatbuffer_is_read_by_range() {
    let source = Rc::new(Metered::new(SliceSource(MOVED.to_vec())));
    let stats = source.stats();
    let model = Tflite::open(source).unwrap();
    let opened = (stats.reads(), stats.bytes());
    let pick = model.preferred_default().unwrap();
    let moved = model.read(pick.index).unwrap();
    let inline = open(CNN_INT8).unwrap().read(pick.index).unwrap();
    assert_eq!(moved.values, inline.values);
    // The Buffer table was already in the pages read to open; the data is one more read of exactly its bytes.
    assert_eq!((stats.reads() - opened.0, stats.bytes() - opened.1), (1, 48 * 27));
}

#[test]
fn every_cut_and_every_flipped_byte_is_an_error_or_a_model() {
    for cut in 0..CNN_INT8.len() {
        walk(&CNN_INT8[..cut]);
    }
    let mut bytes = CNN_INT8.to_vec();
    for at in 0..bytes.len() {
        let keep = bytes[at];
        for flip in [0x00, 0xff, 0x80, keep ^ 0x01] {
            bytes[at] = flip;
            walk(&bytes);
        }
        bytes[at] = keep;
    }
}

#[test]
fn lying_counts_fail_before_allocating() {
    // The root offset, then the Model's vtable: point the subgraphs vector's count at 2^32 - 1.
    let mut bytes = CNN_INT8.to_vec();
    let root = u32_at(&bytes, 0);
    let vtable = root - i32::from_le_bytes(bytes[root..root + 4].try_into().unwrap()) as usize;
    let subgraphs_field = root + u16::from_le_bytes(bytes[vtable + 8..vtable + 10].try_into().unwrap()) as usize;
    let subgraphs = subgraphs_field + u32_at(&bytes, subgraphs_field);
    bytes[subgraphs..subgraphs + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    let err = open(&bytes).err().unwrap().to_string();
    assert!(err.contains("4294967295") && err.ends_with('.'), "{err}");
    // A root offset past the end and a missing identifier.
    let mut bytes = CNN_INT8.to_vec();
    bytes[..4].copy_from_slice(&(CNN_INT8.len() as u32 + 7).to_le_bytes());
    assert!(open(&bytes).is_err());
    bytes[4..8].copy_from_slice(b"XXXX");
    assert!(open(&bytes).err().unwrap().to_string().contains("TFL3"));
}

fn quant(scales: &[f32], zero_points: &[i64], dimension: usize) -> Quantization {
    Quantization { scales: scales.to_vec(), zero_points: zero_points.to_vec(), dimension }
}

#[test]
fn dequantizes_per_tensor_and_per_channel_as_tflite_defines_it() {
    let info = |shape: &[usize]| TensorInfo {
        name: "w".into(),
        dtype: DType::Affine { storage: "int8" },
        shape: shape.to_vec(),
    };
    // int8, one scale: real = scale × (q − zero_point).
    let raw = [0u8, 1, 0xff, 0x80];
    let out = dequantize(&raw, model::TYPE_INT8, &quant(&[0.5], &[1], 0), &info(&[4])).unwrap();
    assert_eq!(out, vec![-0.5, 0.0, -1.0, -64.5]);
    // uint8 with a zero point of 128 (TF1-style quantized models).
    let out = dequantize(&[128, 255, 0], 3, &quant(&[0.25], &[128], 0), &info(&[3])).unwrap();
    assert_eq!(out, vec![0.0, 31.75, -32.0]);
    // Per channel along axis 0 of (2, 3) and along the last axis of (3, 2).
    let raw = [1u8, 2, 3, 1, 2, 3];
    let out = dequantize(&raw, model::TYPE_INT8, &quant(&[1.0, 10.0], &[], 0), &info(&[2, 3])).unwrap();
    assert_eq!(out, vec![1.0, 2.0, 3.0, 10.0, 20.0, 30.0]);
    let out = dequantize(&raw, model::TYPE_INT8, &quant(&[1.0, 10.0], &[0, 1], 1), &info(&[3, 2])).unwrap();
    assert_eq!(out, vec![1.0, 10.0, 3.0, 0.0, 2.0, 20.0]);
    // Counts that do not fit the shape are sentences, not panics.
    let err = dequantize(&raw, model::TYPE_INT8, &quant(&[1.0, 2.0, 3.0], &[], 0), &info(&[2, 3])).unwrap_err();
    assert!(err.to_string().contains("3 quantization scales but 2 channels along axis 0"), "{err}");
    let err = dequantize(&raw, model::TYPE_INT8, &quant(&[1.0, 2.0], &[0], 9), &info(&[2, 3])).unwrap_err();
    assert!(err.to_string().ends_with('.'), "{err}");
    let extreme = dequantize(&[0x80], model::TYPE_INT8, &quant(&[1.0], &[i64::MIN], 0), &info(&[1])).unwrap();
    assert!(extreme[0].is_finite());
}
