use super::*;
use crate::source::SliceSource;

const CNN_INT8: &[u8] = include_bytes!("../../tests/fixtures/committed/tflite/cnn_int8.tflite");

fn open(bytes: &[u8]) -> Result<Tflite> {
    Tflite::open(Rc::new(SliceSource(bytes.to_vec())))
}

#[test]
fn reads_a_real_int8_model() {
    let model = open(CNN_INT8).unwrap();
    assert_eq!((model.format(), model.layout()), ("tflite", KernelLayout::Ohwi));
    let pick = model.preferred_default().unwrap();
    let info = model.info(pick.index).unwrap();
    assert_eq!((info.dtype.name(), info.shape.as_slice()), ("int8 (quantized)", &[8, 3, 3, 3][..]));
    let tensor = model.read(pick.index).unwrap();
    assert_eq!(tensor.values.len(), 8 * 27);
}
