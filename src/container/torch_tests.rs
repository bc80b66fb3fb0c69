use super::*;
use crate::tensor::DType;

fn recipe(offset: u64, shape: &[usize], stride: &[usize]) -> TensorRecipe {
    TensorRecipe { storage: super::super::pickle::Value::None, offset, shape: shape.to_vec(), stride: stride.to_vec() }
}

fn info(shape: &[usize]) -> TensorInfo {
    TensorInfo { name: "w".into(), dtype: DType::F32, shape: shape.to_vec() }
}

fn storage(numel: u64) -> StorageRef {
    StorageRef { key: "0".into(), dtype: DType::F32, item_size: 4, numel }
}

#[test]
fn a_view_reads_only_the_span_it_touches() {
    // (2, 3) transposed view of a (3, 2) storage starting at element 4 of 10.
    let r = recipe(4, &[2, 3], &[1, 2]);
    assert_eq!(view_span(&info(&[2, 3]), &r, &storage(10)).unwrap(), (16, 24));
    let bytes: Vec<u8> = (0u8..6).flat_map(|v| [v, 0, 0, 0]).collect();
    let gathered: Vec<u8> = gather(&bytes, &r, 4).chunks(4).map(|c| c[0]).collect();
    assert_eq!(gathered, [0, 2, 4, 1, 3, 5]);
}

#[test]
fn contiguous_views_are_taken_as_they_are() {
    let r = recipe(0, &[2, 1, 3], &[3, 7, 1]);
    let bytes: Vec<u8> = (0u8..24).collect();
    assert_eq!(gather(&bytes, &r, 4), bytes);
}

#[test]
fn views_past_their_storage_or_limits_are_refused() {
    let err = view_span(&info(&[2, 3]), &recipe(5, &[2, 3], &[3, 1]), &storage(10)).unwrap_err();
    assert!(err.to_string().contains("reaches element 10 of a storage that holds only 10"), "{err}");
    let err = view_span(&info(&[2, 2]), &recipe(0, &[2, 2], &[usize::MAX, 1]), &storage(10)).unwrap_err();
    assert!(err.to_string().ends_with('.'), "{err}");
    let spread = view_span(&info(&[2]), &recipe(0, &[2], &[usize::MAX / 8]), &storage(u64::MAX)).unwrap_err();
    assert!(matches!(spread, Error::TooLarge(_)), "{spread}");
    assert_eq!(view_span(&info(&[0, 3]), &recipe(99, &[0, 3], &[3, 1]), &storage(0)).unwrap(), (0, 0));
}
