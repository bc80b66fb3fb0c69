//! The protobuf messages of a TensorFlow checkpoint index (tensor_bundle.proto, tensor_shape.proto,
//! types.proto): BundleHeaderProto, BundleEntryProto and its TensorShapeProto, walked in memory with the
//! shared wire walker (protobuf.rs), each failure a sentence about the index.

use super::protobuf::{Cursor, Fields, Value};
use super::tf_bundle::Entry;
use crate::error::{Error, Result};
use crate::source::SliceSource;
use crate::tensor::{ByteOrder, DType, TensorInfo};

/// TF's own limit on a tensor's rank (TensorShape kMaxDims).
const MAX_DIMS: usize = 254;
/// A checkpoint saved on more devices than this is not one patchlens was given.
const MAX_SHARDS: u64 = 1 << 14;
/// What TF appends to an object-graph checkpoint's keys, dropped from the names shown.
const VARIABLE_SUFFIX: &str = "/.ATTRIBUTES/VARIABLE_VALUE";

/// A protobuf message held in memory, walked with the shared wire walker; its errors are reported as
/// damage to `what` (the walker's own sentences speak of ONNX).
fn walk_message(bytes: &[u8], what: &str, mut each: impl FnMut(u32, Value, &mut Cursor) -> Result<()>) -> Result<()> {
    let source = SliceSource(bytes);
    let mut cursor = Cursor::new(&source, 0, bytes.len() as u64);
    let mut fields = Fields::new(0, bytes.len() as u64);
    let damaged = |e: Error| match e {
        Error::Malformed(_) | Error::Truncated(_) | Error::TooLarge(_) | Error::Read(_) => {
            Error::Malformed(format!("The TensorFlow checkpoint index is damaged: {what} is not a valid message."))
        }
        other => other,
    };
    while let Some(field) = fields.next(&mut cursor).map_err(damaged)? {
        each(field.number, field.value, &mut cursor)?;
    }
    Ok(())
}

fn payload(bytes: &[u8], value: Value) -> &[u8] {
    match value {
        Value::Bytes { start, len } => {
            let end = start.saturating_add(len);
            bytes.get(start as usize..end.min(bytes.len() as u64) as usize).unwrap_or(&[])
        }
        _ => &[],
    }
}

/// BundleHeaderProto: num_shards (1), endianness (2: 0 little, 1 big); the version (3) is not checked.
pub(super) fn parse_header(bytes: &[u8]) -> Result<(u64, ByteOrder)> {
    let (mut shards, mut big) = (0u64, 0u64);
    walk_message(bytes, "the bundle header", |number, value, _| {
        match (number, value) {
            (1, Value::Varint(v)) => shards = v,
            (2, Value::Varint(v)) => big = v,
            _ => {}
        }
        Ok(())
    })?;
    if shards == 0 || shards > MAX_SHARDS {
        return Err(Error::Malformed(format!(
            "The TensorFlow checkpoint index says the checkpoint has {shards} data files; it is damaged."
        )));
    }
    let order = match big {
        0 => ByteOrder::Little,
        1 => ByteOrder::Big,
        other => {
            return Err(Error::Malformed(format!(
                "The TensorFlow checkpoint index gives an unknown byte order ({other}); it is damaged."
            )))
        }
    };
    Ok((shards, order))
}

/// BundleEntryProto: dtype (1), shape (2), shard_id (3), offset (4), size (5), crc32c (6), slices (7).
pub(super) fn parse_entry(key: &str, bytes: &[u8]) -> Result<Entry> {
    let name = key.strip_suffix(VARIABLE_SUFFIX).unwrap_or(key).to_string();
    let mut entry = Entry {
        info: TensorInfo { name: name.clone(), dtype: DType::Other("invalid".into()), shape: Vec::new() },
        shard: 0,
        offset: 0,
        size: 0,
        crc: None,
        slices: 0,
    };
    let what = format!("the entry of tensor {name}");
    let mut dtype = 0u64;
    walk_message(bytes, &what, |number, value, _| {
        match (number, value) {
            (1, Value::Varint(v)) => dtype = v,
            (2, Value::Bytes { .. }) => entry.info.shape = parse_shape(&name, payload(bytes, value))?,
            (3, Value::Varint(v)) => entry.shard = v,
            (4, Value::Varint(v)) => entry.offset = v,
            (5, Value::Varint(v)) => entry.size = v,
            (6, Value::Fixed32(v)) => entry.crc = Some(v),
            (7, Value::Bytes { .. }) => entry.slices += 1,
            _ => {}
        }
        Ok(())
    })?;
    entry.info.dtype = tf_dtype(dtype);
    if i64::try_from(entry.offset).is_err() || i64::try_from(entry.size).is_err() {
        return Err(Error::Malformed(format!(
            "The TensorFlow checkpoint index gives tensor {name} a negative offset or size; it is damaged."
        )));
    }
    Ok(entry)
}

/// TensorShapeProto: dims (2, each a Dim with size 1), unknown_rank (3).
fn parse_shape(name: &str, bytes: &[u8]) -> Result<Vec<usize>> {
    let mut shape = Vec::new();
    let mut unknown = false;
    let bad = |why: &str| Error::Malformed(format!("The TensorFlow checkpoint index gives tensor {name} {why}."));
    walk_message(bytes, &format!("the shape of tensor {name}"), |number, value, _| {
        match (number, value) {
            (2, Value::Bytes { .. }) => {
                if shape.len() >= MAX_DIMS {
                    return Err(bad(&format!("more than {MAX_DIMS} dimensions")));
                }
                let mut size = 0u64;
                walk_message(payload(bytes, value), "a dimension", |n, v, _| {
                    if let (1, Value::Varint(s)) = (n, v) {
                        size = s;
                    }
                    Ok(())
                })?;
                let size = i64::try_from(size).ok().and_then(|s| usize::try_from(s).ok());
                shape.push(size.ok_or_else(|| bad("a dimension of unknown or negative size"))?);
            }
            (3, Value::Varint(v)) => unknown = v != 0,
            _ => {}
        }
        Ok(())
    })?;
    if unknown {
        return Err(bad("a shape of unknown rank"));
    }
    Ok(shape)
}

/// TF's DataType numbers (types.proto): the float ones patchlens draws, the rest by their TF name.
fn tf_dtype(number: u64) -> DType {
    let other = match number {
        1 => return DType::F32,
        2 => return DType::F64,
        14 => return DType::BF16,
        19 => return DType::F16,
        24 => return DType::F8E5M2,
        25 => return DType::F8E4M3,
        3 => "int32",
        4 => "uint8",
        5 => "int16",
        6 => "int8",
        7 => "string",
        8 => "complex64",
        9 => "int64",
        10 => "bool",
        11 => "qint8",
        12 => "quint8",
        13 => "qint32",
        15 => "qint16",
        16 => "quint16",
        17 => "uint16",
        18 => "complex128",
        20 => "resource",
        21 => "variant",
        22 => "uint32",
        23 => "uint64",
        26 => "float8_e4m3fnuz",
        27 => "float8_e4m3b11fnuz",
        28 => "float8_e5m2fnuz",
        29 => "int4",
        30 => "uint4",
        31 => "int2",
        32 => "uint2",
        33 => "float4_e2m1fn",
        n => return DType::Other(format!("TensorFlow type {n}")),
    };
    DType::Other(other.into())
}
