//! ONNX `TensorProto`s: what a tensor is (name, data type, dims) and where its values lie — raw_data,
//! a typed repeated field (float_data, int32_data, double_data) or a range of an external file —
//! recorded while walking the model, then read on request in one range read.

use super::protobuf::{Cursor, Fields, Value};
use super::NamedSource;
use crate::error::{Error, Result};
use crate::source::{read_vec, ByteSource, Window};
use crate::tensor::{
    checked_data_len, decode_floats, ByteOrder, DType, MemoryOrder, Tensor, TensorInfo, MAX_TENSOR_BYTES,
};

/// numpy allows 64 dimensions; a tensor claiming more is damaged.
const MAX_DIMS: usize = 64;
/// TensorProto field numbers (onnx/onnx.proto).
const DIMS: u32 = 1;
const DATA_TYPE: u32 = 2;
const SEGMENT: u32 = 3;
const FLOAT_DATA: u32 = 4;
const INT32_DATA: u32 = 5;
const NAME: u32 = 8;
const RAW_DATA: u32 = 9;
const DOUBLE_DATA: u32 = 10;
const EXTERNAL_DATA: u32 = 13;
const DATA_LOCATION: u32 = 14;
/// `data_location = EXTERNAL`.
const EXTERNAL: u64 = 1;

/// Where a tensor's values are stored.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Data {
    /// `raw_data`: little-endian elements at `[start, start + len)` of the model file.
    Raw { start: u64, len: u64 },
    /// A typed repeated field (`field` 4, 5 or 10), packed or not, possibly split: every occurrence
    /// lies in `[start, end)`, which is walked again on read.
    Typed { field: u32, start: u64, end: u64 },
    /// Bytes at `offset` of the companion file `location` (a path relative to the model).
    External { location: String, offset: String, length: Option<String> },
    /// No values at all (only right for empty tensors).
    Absent,
}

/// How a tensor can be read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Kind {
    Dense,
    /// A `SparseTensorProto`: listed, never drawn.
    Sparse,
    /// A tensor split into `segment`s, which only streaming writers use.
    Segmented,
}

/// One weight tensor found in the model.
#[derive(Debug, Clone)]
pub(super) struct Record {
    pub info: TensorInfo,
    pub data: Data,
    pub kind: Kind,
}

/// ONNX `TensorProto.DataType` → patchlens dtype; integer and other types keep numpy's names.
fn dtype(code: u64) -> DType {
    let other = |name: &str| DType::Other(name.to_string());
    match code {
        1 => DType::F32,
        10 => DType::F16,
        11 => DType::F64,
        16 => DType::BF16,
        17 => DType::F8E4M3,
        19 => DType::F8E5M2,
        2 => other("uint8"),
        3 => other("int8"),
        4 => other("uint16"),
        5 => other("int16"),
        6 => other("int32"),
        7 => other("int64"),
        8 => other("string"),
        9 => other("bool"),
        12 => other("uint32"),
        13 => other("uint64"),
        14 => other("complex64"),
        15 => other("complex128"),
        18 => other("float8_e4m3fnuz"),
        20 => other("float8_e5m2fnuz"),
        21 => other("uint4"),
        22 => other("int4"),
        23 => other("float4_e2m1fn"),
        24 => other("float8_e8m0fnu"),
        25 => other("uint2"),
        26 => other("int2"),
        0 => other("undefined"),
        code => DType::Other(format!("ONNX type {code}")),
    }
}

/// The typed field that holds a float dtype's values when raw_data is not used.
fn typed_field(dtype: &DType) -> Option<u32> {
    match dtype {
        DType::F32 => Some(FLOAT_DATA),
        DType::F64 => Some(DOUBLE_DATA),
        // float16, bfloat16 and float8 are stored bit-wise in the low bits of int32_data.
        DType::F16 | DType::BF16 | DType::F8E4M3 | DType::F8E5M2 => Some(INT32_DATA),
        _ => None,
    }
}

fn field_name(field: u32) -> &'static str {
    match field {
        FLOAT_DATA => "float_data",
        INT32_DATA => "int32_data",
        _ => "double_data",
    }
}

fn dim(name: &str, value: u64) -> Result<usize> {
    // dims are int64 on the wire: a negative one arrives as a huge unsigned number.
    usize::try_from(value).ok().filter(|&d| d <= i64::MAX as usize).ok_or_else(|| {
        Error::Malformed(format!("Tensor {name} has a negative or impossibly large dimension in the ONNX model."))
    })
}

/// Reads the `TensorProto` at `[start, start + len)`; payloads are located, not read.
pub(super) fn parse_tensor(cursor: &mut Cursor, start: u64, len: u64) -> Result<Record> {
    let mut fields = Fields::of(start, len);
    let (mut dims, mut data_type, mut name) = (Vec::new(), 0u64, String::new());
    let (mut raw, mut typed, mut segmented) = (None, Vec::<(u32, u64, u64)>::new(), false);
    let (mut external, mut location) = (Vec::new(), 0u64);
    while let Some(field) = fields.next(cursor)? {
        match (field.number, field.value) {
            (DIMS, Value::Varint(d)) => dims.push(d),
            (DIMS, Value::Bytes { start, len }) => cursor.packed_varints(start, len, |d| {
                dims.push(d);
                Ok(dims.len() <= MAX_DIMS)
            })?,
            (DATA_TYPE, Value::Varint(code)) => data_type = code,
            (SEGMENT, _) => segmented = true,
            (NAME, Value::Bytes { len, .. }) => name = cursor.string(len)?,
            (RAW_DATA, Value::Bytes { start, len }) => raw = Some((start, len)),
            (FLOAT_DATA | INT32_DATA | DOUBLE_DATA, _) => {
                let end = fields.field_end();
                match typed.iter_mut().find(|(f, _, _)| *f == field.number) {
                    Some(range) => range.2 = end,
                    None => typed.push((field.number, field.tag_start, end)),
                }
            }
            (EXTERNAL_DATA, Value::Bytes { start, len }) => external.push(parse_entry(cursor, start, len)?),
            (DATA_LOCATION, Value::Varint(where_)) => location = where_,
            _ => {}
        }
        if dims.len() > MAX_DIMS {
            return Err(Error::Malformed(format!(
                "A tensor in the ONNX model claims more than {MAX_DIMS} dimensions."
            )));
        }
    }
    let shape = dims.into_iter().map(|d| dim(&name, d)).collect::<Result<Vec<_>>>()?;
    let info = TensorInfo { name, dtype: dtype(data_type), shape };
    let entry = |key: &str| external.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let data = if location == EXTERNAL {
        let location = entry("location").ok_or_else(|| {
            Error::Malformed(format!("Tensor {} says its data is external but names no file.", info.name))
        })?;
        Data::External { location, offset: entry("offset").unwrap_or_default(), length: entry("length") }
    } else if let Some((start, len)) = raw {
        Data::Raw { start, len }
    } else {
        let wanted = typed_field(&info.dtype);
        match typed.into_iter().find(|(f, _, _)| Some(*f) == wanted) {
            Some((field, start, end)) => Data::Typed { field, start, end },
            None => Data::Absent,
        }
    };
    let kind = if segmented { Kind::Segmented } else { Kind::Dense };
    Ok(Record { info, data, kind })
}

/// A `StringStringEntryProto` (key = 1, value = 2).
fn parse_entry(cursor: &mut Cursor, start: u64, len: u64) -> Result<(String, String)> {
    let mut fields = Fields::of(start, len);
    let (mut key, mut value) = (String::new(), String::new());
    while let Some(field) = fields.next(cursor)? {
        match (field.number, field.value) {
            (1, Value::Bytes { len, .. }) => key = cursor.string(len)?,
            (2, Value::Bytes { len, .. }) => value = cursor.string(len)?,
            _ => {}
        }
    }
    Ok((key, value))
}

/// A `SparseTensorProto` (values = 1, indices = 2, dims = 3): named after its values, listed only.
pub(super) fn parse_sparse(cursor: &mut Cursor, start: u64, len: u64) -> Result<Record> {
    let mut fields = Fields::of(start, len);
    let (mut values, mut dims) = (None, Vec::new());
    while let Some(field) = fields.next(cursor)? {
        match (field.number, field.value) {
            (1, Value::Bytes { start, len }) => values = Some(parse_tensor(cursor, start, len)?),
            (3, Value::Varint(d)) if dims.len() < MAX_DIMS => dims.push(d),
            (3, Value::Bytes { start, len }) => cursor.packed_varints(start, len, |d| {
                dims.push(d);
                Ok(dims.len() < MAX_DIMS)
            })?,
            _ => {}
        }
    }
    let values = values.ok_or_else(|| Error::Malformed("A sparse tensor in the ONNX model has no values.".into()))?;
    let shape = dims.into_iter().map(|d| dim(&values.info.name, d)).collect::<Result<Vec<_>>>()?;
    let info = TensorInfo { shape, ..values.info };
    Ok(Record { info, data: Data::Absent, kind: Kind::Sparse })
}

/// Reads a tensor's values: one range read of the model file or of the companion holding them.
pub(super) fn read(record: &Record, source: &dyn ByteSource, companions: &[NamedSource]) -> Result<Tensor> {
    let info = &record.info;
    match record.kind {
        Kind::Dense => {}
        Kind::Sparse => return Err(sparse_error(&info.name)),
        Kind::Segmented => {
            return Err(Error::Unsupported(format!(
                "Tensor {} is stored in segments, which patchlens does not read.",
                info.name
            )))
        }
    }
    let size = info.dtype.float_size().ok_or_else(|| {
        Error::NotDrawable(format!(
            "Tensor {} holds {} values; only float tensors can be drawn.",
            info.name, info.dtype
        ))
    })?;
    let bytes = match &record.data {
        Data::Raw { start, len } => {
            let bytes = exact_len(info, size, *len, "raw_data")?;
            read_vec(source, *start, bytes)?
        }
        Data::External { location, offset, length } => read_external(info, size, companions, location, offset, length)?,
        Data::Typed { field, start, end } => read_typed(info, size, source, *field, *start, *end)?,
        Data::Absent => {
            exact_len(info, size, 0, "data")?;
            Vec::new()
        }
    };
    let values = decode_floats(&bytes, &info.dtype, ByteOrder::Little)?;
    Ok(Tensor { info: info.clone(), values, order: MemoryOrder::C })
}

pub(super) fn sparse_error(name: &str) -> Error {
    Error::NotDrawable(format!("Tensor {name} is a sparse tensor; patchlens draws dense tensors only."))
}

/// The byte length the shape needs, which must be exactly what is stored.
fn exact_len(info: &TensorInfo, size: usize, stored: u64, what: &str) -> Result<usize> {
    let bytes = checked_data_len(info, size, stored)?;
    if bytes as u64 != stored {
        return Err(Error::Malformed(format!(
            "Tensor {} claims shape {} ({bytes} bytes) but its {what} holds {stored} bytes.",
            info.name,
            info.shape_text()
        )));
    }
    Ok(bytes)
}

/// The file an external `location` names, as a drop or a folder gives it: by base name, never by path.
pub(super) fn base_name(location: &str) -> &str {
    location.rsplit(['/', '\\']).next().unwrap_or(location)
}

fn read_external(
    info: &TensorInfo,
    size: usize,
    companions: &[NamedSource],
    location: &str,
    offset: &str,
    length: &Option<String>,
) -> Result<Vec<u8>> {
    let file = base_name(location);
    let companion = companions.iter().find(|c| c.name == file).ok_or_else(|| {
        Error::Read(format!(
            "Tensor {} is stored in a separate file, {file}; drop it together with the .onnx file.",
            info.name
        ))
    })?;
    let number = |text: &str, what: &str| {
        text.trim().parse::<u64>().map_err(|_| {
            Error::Malformed(format!("Tensor {}'s external data {what} '{text}' is not a number.", info.name))
        })
    };
    let offset = if offset.is_empty() { 0 } else { number(offset, "offset")? };
    let available = companion.source.len().saturating_sub(offset);
    let bytes = match length {
        Some(length) => exact_len(info, size, number(length, "length")?, "external length")?,
        None => checked_data_len(info, size, available)?,
    };
    let end = offset.saturating_add(bytes as u64);
    if end > companion.source.len() {
        return Err(Error::Truncated(format!(
            "Tensor {}'s data lies at bytes {offset} to {end} of {file}, but that file is only {} bytes long.",
            info.name,
            companion.source.len()
        )));
    }
    read_vec(&*companion.source, offset, bytes)
}

/// Reads the range holding every occurrence of a typed field in one read and gathers its values as
/// little-endian element bytes: f32/f64 as stored, float16/bfloat16/float8 from int32_data's low bits.
fn read_typed(
    info: &TensorInfo,
    size: usize,
    source: &dyn ByteSource,
    field: u32,
    start: u64,
    end: u64,
) -> Result<Vec<u8>> {
    let bytes = checked_data_len(info, size, u64::MAX)?;
    if end - start > MAX_TENSOR_BYTES as u64 {
        return Err(Error::TooLarge(format!(
            "Tensor {}'s values take {} bytes in the ONNX model, more than the {} MiB patchlens reads at once.",
            info.name,
            end - start,
            MAX_TENSOR_BYTES >> 20
        )));
    }
    let window = Window::read(source, start, end)?;
    let mut cursor = Cursor::new(&window, start, end);
    let mut fields = Fields::new(start, end);
    let mut out = Vec::with_capacity(bytes);
    let too_many = || {
        Error::Malformed(format!(
            "Tensor {} claims shape {} but its {} holds more values than that.",
            info.name,
            info.shape_text(),
            field_name(field)
        ))
    };
    while let Some(f) = fields.next(&mut cursor)? {
        if f.number != field {
            continue;
        }
        match f.value {
            Value::Fixed32(v) if field == FLOAT_DATA => out.extend_from_slice(&v.to_le_bytes()),
            Value::Fixed64(v) if field == DOUBLE_DATA => out.extend_from_slice(&v.to_le_bytes()),
            Value::Varint(v) if field == INT32_DATA => out.extend_from_slice(&v.to_le_bytes()[..size]),
            Value::Bytes { start, len } if field == INT32_DATA => cursor.packed_varints(start, len, |v| {
                out.extend_from_slice(&v.to_le_bytes()[..size]);
                if out.len() > bytes {
                    return Err(too_many());
                }
                Ok(true)
            })?,
            Value::Bytes { len, .. } => {
                if out.len() as u64 + len > bytes as u64 {
                    return Err(too_many());
                }
                cursor.read_into(&mut out, len)?;
            }
            _ => {
                return Err(Error::Malformed(format!(
                    "Tensor {}'s {} has a value of the wrong wire type.",
                    info.name,
                    field_name(field)
                )))
            }
        }
        if out.len() > bytes {
            return Err(too_many());
        }
    }
    if out.len() != bytes {
        return Err(Error::Malformed(format!(
            "Tensor {} claims shape {} ({} values) but its {} holds {}.",
            info.name,
            info.shape_text(),
            bytes / size,
            field_name(field),
            out.len() / size
        )));
    }
    Ok(out)
}
