//! TensorFlow Lite (`.tflite`): one FlatBuffer (identifier `TFL3`, schema tensorflow/compiler/mlir/lite/schema/
//! schema.fbs) holding operator codes, subgraphs of tensors and operators, and buffers of weights — inside the
//! FlatBuffer, or after it at an (offset, size) for models over 2 GB. Opening reads the tables; reading a
//! tensor reads its Buffer table and exactly its bytes. int8/uint8 weights are dequantized as TFLite does.

#[path = "tflite_model.rs"]
mod model;
pub(crate) use model::TYPE_INT8;

use super::flatbuf::{Buffer, Table, Vector};
use super::{read_contiguous, Container};
use crate::error::{malformed, no_such_index, Error, Result};
use crate::kernel::KernelLayout;
use crate::pick::Pick;
use crate::source::{read_vec, ByteSource};
use crate::tensor::{checked_data_len, ByteOrder, DType, MemoryOrder, Tensor, TensorInfo, Values};
pub(crate) use model::Quantization;
use model::{Model, Role};
use std::rc::Rc;

/// The FlatBuffer file identifier TFLite writes at bytes 4..8.
pub(crate) const IDENTIFIER: &[u8; 4] = b"TFL3";
/// Conv filters named in the notes, one sentence each: a note list stays short.
const MAX_FILTER_NOTES: usize = 4;

/// True if the file's first bytes carry TFLite's identifier.
pub(crate) fn looks_like(magic: &[u8]) -> bool {
    magic.get(4..8) == Some(IDENTIFIER.as_slice())
}

pub struct Tflite {
    source: Rc<dyn ByteSource>,
    buf: Buffer,
    model: Model,
    names: Vec<String>,
    notes: Vec<String>,
}

impl Tflite {
    pub fn open(source: Rc<dyn ByteSource>) -> Result<Self> {
        let buf = Buffer::new(Rc::clone(&source));
        let model = Model::read(&buf)?;
        let names = model.entries.iter().map(|e| e.info.name.clone()).collect();
        let notes = notes(&model);
        Ok(Tflite { source, buf, model, names, notes })
    }

    /// Where a buffer's bytes are: (file offset, length). Reads its Buffer table, nothing more.
    fn locate(&self, name: &str, buffer: u32) -> Result<(u64, u64)> {
        let pos = Table::table_pos_in(&self.buf, self.model.buffers, u64::from(buffer))?;
        let table = Table::at_pos(&self.buf, pos)?;
        // Buffer { data: [ubyte]; offset: ulong; size: ulong; } — offset/size hold data placed after the
        // FlatBuffer; the exporter writes offset 1 as "unset", so only offset > 1 is a place (offset_buffer.h).
        let offset = table.u64_or(&self.buf, 1, 0)?;
        if offset > 1 {
            let size = table.u64_or(&self.buf, 2, 0)?;
            if offset.checked_add(size).is_none_or(|end| end > self.buf.len()) {
                return Err(malformed(format!(
                    "Tensor {name}'s data is said to lie at bytes {offset}..+{size}, past the end of the file ({} bytes).",
                    self.buf.len()
                )));
            }
            return Ok((offset, size));
        }
        match table.vector(&self.buf, 0, 1)? {
            Some(Vector { len, start }) if len > 0 => Ok((start, len)),
            _ => {
                Err(malformed(format!("Tensor {name} is a constant whose buffer holds no data; the file is damaged.")))
            }
        }
    }
}

impl Container for Tflite {
    fn format(&self) -> &'static str {
        "tflite"
    }

    fn layout(&self) -> KernelLayout {
        KernelLayout::Ohwi
    }

    fn names(&self) -> &[String] {
        &self.names
    }

    fn info(&self, index: usize) -> Result<TensorInfo> {
        self.model.entries.get(index).map(|e| e.info.clone()).ok_or_else(|| no_such_index(index))
    }

    fn read(&self, index: usize) -> Result<Tensor> {
        let entry = self.model.entries.get(index).ok_or_else(|| no_such_index(index))?;
        let info = entry.info.clone();
        if let Some(Role::Depthwise(op)) = entry.role {
            return Err(Error::NotDrawable(format!(
                "Tensor {} is the filter of DEPTHWISE_CONV_2D #{op}, one {}×{} filter per channel, which patchlens does not draw.",
                info.name,
                info.shape.get(1).copied().unwrap_or(0),
                info.shape.get(2).copied().unwrap_or(0)
            )));
        }
        if let Some(external) = entry.external_buffer {
            return Err(Error::Unsupported(format!(
                "Tensor {} is stored in an external weights file (external buffer {external}), which patchlens does not read.",
                info.name
            )));
        }
        let item = match (&info.dtype, &entry.quantization) {
            (DType::Affine { .. }, Some(_)) => 1,
            (dtype, _) => dtype.float_size().ok_or_else(|| {
                Error::NotDrawable(format!(
                    "Tensor {} holds {dtype} values; only float tensors can be drawn.",
                    info.name
                ))
            })?,
        };
        let (start, len) = self.locate(&info.name, entry.buffer)?;
        let bytes = (info.element_count()? as u64).checked_mul(item as u64);
        if bytes != Some(len) {
            return Err(malformed(format!(
                "Tensor {} has shape {} ({} bytes) but its buffer holds {len} bytes; the file is damaged.",
                info.name,
                info.shape_text(),
                bytes.map_or_else(|| "too many".to_string(), |b| b.to_string())
            )));
        }
        match &entry.quantization {
            Some(quant) if matches!(info.dtype, DType::Affine { .. }) => {
                let len = checked_data_len(&info, 1, len)?;
                let raw = read_vec(&*self.source, start, len)?;
                let values = dequantize(&raw, entry.type_code, quant, &info)?;
                Ok(Tensor { info, values: Values::F32(values), order: MemoryOrder::C })
            }
            _ => read_contiguous(&*self.source, info, start, len, ByteOrder::Little),
        }
    }

    fn notes(&self) -> Vec<String> {
        self.notes.clone()
    }

    fn preferred_default(&self) -> Option<Pick> {
        self.model.first_conv.map(|(index, op)| Pick {
            index,
            reason: format!("the filter of the model's first CONV_2D (operator #{op})"),
        })
    }
}

/// TFLite's affine dequantization (schema.fbs QuantizationParameters): real = scale × (q − zero_point), one
/// scale and zero point per slice along `quantized_dimension` when there are several. In f32, as the
/// Dequantize kernels give it: the product of an f32 scale and a 9-bit integer rounds once either way.
pub(crate) fn dequantize(raw: &[u8], type_code: i8, quant: &Quantization, info: &TensorInfo) -> Result<Vec<f32>> {
    let scales = &quant.scales;
    let channels = scales.len();
    let zero_points: Vec<i64> = match quant.zero_points.len() {
        0 => vec![0; channels],
        n if n == channels => quant.zero_points.clone(),
        n => {
            return Err(malformed(format!(
                "Tensor {} has {channels} quantization scales but {n} zero points; the file is damaged.",
                info.name
            )))
        }
    };
    let stride = if channels > 1 {
        let along = info.shape.get(quant.dimension).copied();
        if along != Some(channels) {
            return Err(malformed(format!(
                "Tensor {} has {channels} quantization scales but {} channels along axis {}; the file is damaged.",
                info.name,
                along.map_or_else(|| "no".to_string(), |n| n.to_string()),
                quant.dimension
            )));
        }
        info.shape.iter().skip(quant.dimension + 1).product::<usize>().max(1)
    } else {
        1
    };
    let signed = type_code == model::TYPE_INT8;
    let pairs: Vec<(f32, i64)> = scales.iter().copied().zip(zero_points).collect();
    let Some(&first) = pairs.first() else {
        return Err(malformed(format!("Tensor {} is quantized but has no scale.", info.name)));
    };
    Ok(raw
        .iter()
        .enumerate()
        .map(|(k, &byte)| {
            let (scale, zero) =
                if channels > 1 { pairs.get((k / stride) % channels).copied().unwrap_or(first) } else { first };
            let q = if signed { i64::from(byte as i8) } else { i64::from(byte) };
            scale * (q.saturating_sub(zero) as f32)
        })
        .collect())
}

/// What the file says as a whole, one sentence each.
fn notes(model: &Model) -> Vec<String> {
    let mut notes = vec![format!(
        "TFLite model, schema version {}: {} operators{}.",
        model.version,
        model.operator_count,
        if model.subgraph_count > 1 {
            format!(" in the first of {} subgraphs (only its tensors are listed)", model.subgraph_count)
        } else {
            String::new()
        }
    )];
    if let Some(description) = model.description.as_ref().filter(|d| !d.is_empty()) {
        let short: String = description.chars().take(80).collect();
        notes.push(format!("The model describes itself as \"{}\".", short.trim_end_matches('.')));
    }
    let filters = model.entries.iter().filter_map(|e| e.role.map(|role| (e, role)));
    for (entry, role) in filters.take(MAX_FILTER_NOTES) {
        notes.push(match role {
            Role::Conv(op) => format!("Tensor {} is the filter of CONV_2D #{op}.", entry.info.name),
            Role::Depthwise(op) => format!(
                "Tensor {} is the filter of DEPTHWISE_CONV_2D #{op}, one filter per channel: listed, not drawn.",
                entry.info.name
            ),
        });
    }
    if model.activations > 0 {
        notes.push(format!(
            "{} tensors computed while the model runs (activations) are not listed: they are not stored in the file.",
            model.activations
        ));
    }
    notes
}

#[cfg(test)]
#[path = "tflite_tests.rs"]
mod tests;
