//! Tensors as containers describe them (name, dtype, shape) and their values once read.
//! Half-precision types are widened to f32 here; f64 stays f64 so scaling matches scikit-learn.

use crate::error::{Error, Result};
use std::fmt;

/// Element types a checkpoint can hold. Only the float ones can be drawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DType {
    F16,
    BF16,
    F32,
    F64,
    /// float8 e4m3fn (no infinities; S.1111.111 is NaN), as safetensors' `F8_E4M3`.
    F8E4M3,
    /// float8 e5m2: the top byte of an IEEE float16.
    F8E5M2,
    /// A block-quantized type (GGUF's Q4_K, Q8_0, …), kept by its name: listed, not drawn.
    Quantized(String),
    /// Integers with an affine scale and zero point (TFLite int8/uint8 weights): the container
    /// dequantizes them to f32 (`scale × (q − zero_point)`), so they draw. `storage` is `int8`, `uint8`, ….
    Affine {
        storage: &'static str,
    },
    /// Anything else (integers, bools, complex, …), kept by its numpy-style name for listing.
    Other(String),
}

impl DType {
    pub fn name(&self) -> &str {
        match self {
            DType::F16 => "float16",
            DType::BF16 => "bfloat16",
            DType::F32 => "float32",
            DType::F64 => "float64",
            DType::F8E4M3 => "float8_e4m3fn",
            DType::F8E5M2 => "float8_e5m2",
            DType::Quantized(name) | DType::Other(name) => name,
            DType::Affine { storage } => match *storage {
                "int8" => "int8 (quantized)",
                "uint8" => "uint8 (quantized)",
                "int16" => "int16 (quantized)",
                _ => "integers (quantized)",
            },
        }
    }

    /// The type a NumPy-style name stands for (`float32`, `bfloat16`, `float8_e4m3fn`, …); any other name is
    /// kept as it is, for listing.
    pub fn from_name(name: &str) -> DType {
        match name {
            "float16" => DType::F16,
            "bfloat16" => DType::BF16,
            "float32" => DType::F32,
            "float64" => DType::F64,
            "float8_e4m3fn" => DType::F8E4M3,
            "float8_e5m2" => DType::F8E5M2,
            other => DType::Other(other.to_string()),
        }
    }

    /// Bytes per element once decoded (f16 and bf16 widen to f32); 0 for types never decoded.
    pub fn decoded_size(&self) -> usize {
        match self {
            DType::F8E4M3 | DType::F8E5M2 | DType::F16 | DType::BF16 | DType::F32 | DType::Affine { .. } => 4,
            DType::F64 => 8,
            DType::Quantized(_) | DType::Other(_) => 0,
        }
    }

    /// Bytes per element, for the float types that can be decoded.
    pub fn float_size(&self) -> Option<usize> {
        match self {
            DType::F8E4M3 | DType::F8E5M2 => Some(1),
            DType::F16 | DType::BF16 => Some(2),
            DType::F32 => Some(4),
            DType::F64 => Some(8),
            DType::Quantized(_) | DType::Affine { .. } | DType::Other(_) => None,
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteOrder {
    Little,
    Big,
}

/// How the elements of a tensor are laid out in its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryOrder {
    /// Row-major: the last axis varies fastest.
    C,
    /// Column-major: the first axis varies fastest (numpy's `fortran_order`).
    Fortran,
}

/// The largest tensor patchlens will read into memory. A wasm32 module has 4 GiB of address
/// space in all; first-layer kernels are a few MB, so this only stops lying headers.
pub const MAX_TENSOR_BYTES: usize = 512 << 20;

/// What a container says about one tensor, without reading its values.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<usize>,
}

impl TensorInfo {
    /// Number of elements, or an error if the shape overflows when multiplied out.
    pub fn element_count(&self) -> Result<usize> {
        element_count(&self.name, &self.shape)
    }

    /// Shape written the way people write it: `16×16×3×768`.
    pub fn shape_text(&self) -> String {
        let parts: Vec<String> = self.shape.iter().map(|d| d.to_string()).collect();
        if parts.is_empty() {
            "scalar".to_string()
        } else {
            parts.join("×")
        }
    }
}

pub(crate) fn element_count(name: &str, shape: &[usize]) -> Result<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)).ok_or_else(|| {
        Error::TooLarge(format!("Tensor {name} claims a shape whose size overflows when multiplied out."))
    })
}

/// A tensor's values, widened to the float type it will be scaled in.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    F32(Vec<f32>),
    F64(Vec<f64>),
}

impl Values {
    pub fn len(&self) -> usize {
        match self {
            Values::F32(v) => v.len(),
            Values::F64(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A tensor read from a checkpoint: its description, values and the order they are stored in.
#[derive(Debug, Clone)]
pub struct Tensor {
    pub info: TensorInfo,
    pub values: Values,
    pub order: MemoryOrder,
}

/// Checks a tensor's claimed size against the limit and the bytes actually stored for it,
/// before anything is allocated. Returns the byte length of its data.
pub fn checked_data_len(info: &TensorInfo, item_size: usize, stored: u64) -> Result<usize> {
    let count = info.element_count()?;
    let overflow =
        || Error::TooLarge(format!("Tensor {} claims a shape whose size overflows when multiplied out.", info.name));
    let bytes = count.checked_mul(item_size).ok_or_else(overflow)?;
    // Half-precision values are widened to f32, so the decoded copy can be twice the stored one.
    let decoded = count.checked_mul(info.dtype.decoded_size().max(item_size)).ok_or_else(overflow)?;
    if decoded > MAX_TENSOR_BYTES {
        return Err(Error::TooLarge(format!(
            "Tensor {} is {decoded} bytes once decoded, more than the {} MiB patchlens reads at once.",
            info.name,
            MAX_TENSOR_BYTES >> 20
        )));
    }
    if bytes as u64 > stored {
        return Err(Error::Malformed(format!(
            "Tensor {} claims shape {} ({bytes} bytes) but only {stored} bytes are stored for it.",
            info.name,
            info.shape_text()
        )));
    }
    Ok(bytes)
}

/// Decodes raw element bytes of a float dtype into values. `bytes.len()` must equal count × size.
pub fn decode_floats(bytes: &[u8], dtype: &DType, byte_order: ByteOrder) -> Result<Values> {
    let not_float = || Error::NotDrawable(format!("Values of type {dtype} cannot be drawn; only float tensors can."));
    let size = dtype.float_size().ok_or_else(not_float)?;
    if bytes.len() % size != 0 {
        return Err(Error::Malformed(format!(
            "The data of a {dtype} tensor is {} bytes, not a multiple of {size}.",
            bytes.len()
        )));
    }
    let big = byte_order == ByteOrder::Big;
    // One loop per type and byte order, so each compiles to plain loads (a per-element byte-order
    // branch made decoding half the cost of drawing a grid).
    macro_rules! decode {
        ($bytes:literal, $from_le:expr, $from_be:expr) => {{
            let words = bytes.chunks_exact($bytes).map(|c| {
                let mut w = [0u8; $bytes];
                w.copy_from_slice(c);
                w
            });
            if big {
                words.map($from_be).collect()
            } else {
                words.map($from_le).collect()
            }
        }};
    }
    Ok(match dtype {
        DType::F16 => {
            Values::F32(decode!(2, |w| half::f16::from_le_bytes(w).to_f32(), |w| half::f16::from_be_bytes(w).to_f32()))
        }
        DType::BF16 => {
            Values::F32(decode!(2, |w| half::bf16::from_le_bytes(w).to_f32(), |w| half::bf16::from_be_bytes(w).to_f32()))
        }
        DType::F32 => Values::F32(decode!(4, f32::from_le_bytes, f32::from_be_bytes)),
        DType::F64 => Values::F64(decode!(8, f64::from_le_bytes, f64::from_be_bytes)),
        DType::F8E4M3 => Values::F32(bytes.iter().map(|&b| f8_e4m3fn_to_f32(b)).collect()),
        DType::F8E5M2 => Values::F32(bytes.iter().map(|&b| half::f16::from_bits(u16::from(b) << 8).to_f32()).collect()),
        DType::Quantized(_) | DType::Affine { .. } | DType::Other(_) => return Err(not_float()),
    })
}

/// float8 e4m3fn → f32: bias 7, 3 mantissa bits, subnormals, no infinities, S.1111.111 is NaN.
fn f8_e4m3fn_to_f32(byte: u8) -> f32 {
    let sign = if byte & 0x80 != 0 { -1.0 } else { 1.0 };
    let exponent = i32::from((byte >> 3) & 0x0f);
    let mantissa = f32::from(byte & 0x07);
    if exponent == 0x0f && byte & 0x07 == 0x07 {
        return f32::NAN;
    }
    // Every e4m3 value is exact in f32, so the arithmetic below rounds nothing.
    let magnitude =
        if exponent == 0 { mantissa / 8.0 * 2f32.powi(-6) } else { (1.0 + mantissa / 8.0) * 2f32.powi(exponent - 7) };
    sign * magnitude
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_each_float_type_and_byte_order() {
        let le = 1.5f32.to_le_bytes();
        let be = 1.5f32.to_be_bytes();
        assert_eq!(decode_floats(&le, &DType::F32, ByteOrder::Little).unwrap(), Values::F32(vec![1.5]));
        assert_eq!(decode_floats(&be, &DType::F32, ByteOrder::Big).unwrap(), Values::F32(vec![1.5]));
        let h = half::f16::from_f32(-2.0).to_le_bytes();
        assert_eq!(decode_floats(&h, &DType::F16, ByteOrder::Little).unwrap(), Values::F32(vec![-2.0]));
        let b = half::bf16::from_f32(0.25).to_le_bytes();
        assert_eq!(decode_floats(&b, &DType::BF16, ByteOrder::Little).unwrap(), Values::F32(vec![0.25]));
        let d = 0.1f64.to_be_bytes();
        assert_eq!(decode_floats(&d, &DType::F64, ByteOrder::Big).unwrap(), Values::F64(vec![0.1]));
    }

    #[test]
    fn decodes_float8() {
        let e4m3 = |b: u8| match decode_floats(&[b], &DType::F8E4M3, ByteOrder::Little).unwrap() {
            Values::F32(v) => v[0],
            _ => unreachable!(),
        };
        // Values from ml_dtypes.float8_e4m3fn: 0x38 = 1.0, 0x7e = 448 (the largest), 0x01 = 2^-9, 0xb8 = -1.
        assert_eq!((e4m3(0x38), e4m3(0x7e), e4m3(0x01), e4m3(0xb8)), (1.0, 448.0, 2f32.powi(-9), -1.0));
        assert!(e4m3(0x7f).is_nan() && e4m3(0xff).is_nan());
        let e5m2 = decode_floats(&[0x3c, 0x7c, 0xc0], &DType::F8E5M2, ByteOrder::Little).unwrap();
        assert_eq!(e5m2, Values::F32(vec![1.0, f32::INFINITY, -2.0]));
    }

    #[test]
    fn rejects_ragged_bytes_and_non_floats() {
        assert!(decode_floats(&[0u8; 3], &DType::F32, ByteOrder::Little).is_err());
        assert!(decode_floats(&[0u8; 4], &DType::Other("int32".into()), ByteOrder::Little).is_err());
    }

    #[test]
    fn size_checks_count_the_widened_copy_and_the_stored_bytes() {
        let info = |dtype, n: usize| TensorInfo { name: "k".into(), dtype, shape: vec![n] };
        let half_limit = MAX_TENSOR_BYTES / 2;
        // float16 that fits as stored but not once widened to f32.
        assert!(matches!(checked_data_len(&info(DType::F16, half_limit), 2, u64::MAX), Err(Error::TooLarge(_))));
        assert_eq!(checked_data_len(&info(DType::F16, half_limit / 2), 2, u64::MAX).unwrap(), half_limit);
        // A header that promises more than the entry holds.
        let err = checked_data_len(&info(DType::F32, 100), 4, 399).unwrap_err();
        assert!(err.to_string().contains("only 399 bytes are stored"), "{err}");
    }

    #[test]
    fn element_count_detects_overflow() {
        assert_eq!(element_count("t", &[2, 3, 4]).unwrap(), 24);
        assert!(element_count("t", &[usize::MAX, 2]).is_err());
        assert_eq!(element_count("t", &[]).unwrap(), 1);
    }
}
