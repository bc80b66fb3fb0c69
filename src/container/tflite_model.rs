//! The parts of a TFLite Model table patchlens needs, read once when the file is opened: operator codes,
//! the first subgraph's tensors and operators, where the buffers' tables are. Field numbers are schema.fbs's
//! (a field's slot is its position in the table's declaration).

use super::super::flatbuf::{longs, words, Buffer, Table, Vector};
use crate::error::{malformed, Error, Result};
use crate::tensor::{DType, TensorInfo};
use std::collections::{HashMap, HashSet};

/// TensorType values (schema.fbs `enum TensorType : byte`).
pub(crate) const TYPE_INT8: i8 = 9;
const TYPE_UINT8: i8 = 3;
/// BuiltinOperator values (schema.fbs `enum BuiltinOperator : int32`).
const CONV_2D: i32 = 3;
const DEPTHWISE_CONV_2D: i32 = 4;
const DEQUANTIZE: i32 = 6;

/// Real models have at most tens of thousands of tensors and operators; these bound what a hostile file
/// can make patchlens read and keep. Every count is also checked against the bytes the file holds.
const MAX_TENSORS: u64 = 1 << 18;
const MAX_OPERATORS: u64 = 1 << 18;
const MAX_OPERATOR_CODES: u64 = 1 << 12;
const MAX_BUFFERS: u64 = 1 << 20;
/// Operator inputs/outputs: a few each in practice (CONCATENATION may take hundreds).
const MAX_OP_TENSORS: u64 = 1 << 12;
/// TFLite kernels handle at most 6-D tensors; the schema allows any rank, patchlens up to this.
const MAX_DIMS: u64 = 16;
/// Quantization scales of one tensor: one per output channel at most.
const MAX_SCALES: u64 = 1 << 18;
const MAX_NAME_BYTES: u64 = 4096;
const MAX_DESCRIPTION_BYTES: u64 = 4096;
/// Totals over the whole model: FlatBuffers lets many tables share one vector, so per-table limits alone
/// would let a small hostile file make patchlens keep gigabytes (every tensor naming one long name).
const MAX_TOTAL_OP_TENSORS: u64 = 1 << 22;
const MAX_TOTAL_NAME_BYTES: u64 = 32 << 20;
const MAX_TOTAL_SCALES: u64 = 1 << 22;
/// Operators followed back through DEQUANTIZE ops to a stored filter.
const MAX_DEQUANTIZE_CHAIN: usize = 4;

/// How a tensor is used by the model's convolutions: (operator index) of the first use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    Conv(usize),
    Depthwise(usize),
}

/// Affine quantization: a scale and zero point per slice along `dimension` (or one for the tensor).
#[derive(Clone, Debug)]
pub(crate) struct Quantization {
    pub(crate) scales: Vec<f32>,
    pub(crate) zero_points: Vec<i64>,
    pub(crate) dimension: usize,
}

/// One stored (constant) tensor.
pub(crate) struct Entry {
    pub(crate) info: TensorInfo,
    pub(crate) type_code: i8,
    pub(crate) buffer: u32,
    pub(crate) quantization: Option<Quantization>,
    pub(crate) role: Option<Role>,
    pub(crate) external_buffer: Option<u32>,
}

pub(crate) struct Model {
    pub(crate) version: u32,
    pub(crate) description: Option<String>,
    pub(crate) subgraph_count: u64,
    pub(crate) operator_count: usize,
    pub(crate) entries: Vec<Entry>,
    /// Tensors left out as activations (operator outputs and graph inputs).
    pub(crate) activations: usize,
    /// The Model's `buffers` vector (of Buffer tables), read at draw time.
    pub(crate) buffers: Vector,
    /// The first CONV_2D's filter: (entry index, operator index).
    pub(crate) first_conv: Option<(usize, usize)>,
}

/// What has been kept so far, against the totals above.
#[derive(Default)]
struct Kept {
    op_tensors: u64,
    name_bytes: u64,
    scales: u64,
}

impl Kept {
    fn add(count: &mut u64, more: u64, max: u64, what: &str) -> Result<()> {
        *count = count.saturating_add(more);
        if *count > max {
            return Err(Error::TooLarge(format!(
                "The TFLite file lists more than {max} {what} in all, more than patchlens reads."
            )));
        }
        Ok(())
    }
}

struct Operator {
    code: i32,
    inputs: Vec<i32>,
    outputs: Vec<i32>,
}

fn int_vector(buf: &Buffer, table: &Table, slot: u16, max: u64, what: &str) -> Result<Vec<i32>> {
    match table.vector(buf, slot, 4)? {
        Some(v) => Ok(words(buf, v, max, what)?.into_iter().map(i32::from_le_bytes).collect()),
        None => Ok(Vec::new()),
    }
}

fn table_vector(buf: &Buffer, table: &Table, slot: u16, max: u64, what: &str) -> Result<Vector> {
    let v = table.vector(buf, slot, 4)?.unwrap_or(Vector { len: 0, start: 0 });
    if v.len > max {
        return Err(Error::TooLarge(format!(
            "The TFLite file lists {} {what}, more than the {max} patchlens reads.",
            v.len
        )));
    }
    Ok(v)
}

impl Model {
    pub(crate) fn read(buf: &Buffer) -> Result<Model> {
        if buf.len() < 8 || buf.bytes(4, 4)? != super::IDENTIFIER {
            return Err(malformed("The file does not carry the TFLite identifier TFL3 at bytes 4 to 8."));
        }
        let root = buf.root()?;
        // Model { version: uint; operator_codes; subgraphs; description: string; buffers; … }
        let version = root.u32_or(buf, 0, 0)?;
        let codes = operator_codes(buf, &root)?;
        let subgraphs = table_vector(buf, &root, 2, MAX_OPERATORS, "subgraphs")?;
        if subgraphs.len == 0 {
            return Err(malformed("The TFLite model has no subgraph, so it holds no tensors to draw."));
        }
        let description = root.string(buf, 3, MAX_DESCRIPTION_BYTES).ok().flatten();
        let buffers = table_vector(buf, &root, 4, MAX_BUFFERS, "buffers")?;
        let graph = root.table_in(buf, subgraphs, 0)?;
        // SubGraph { tensors; inputs: [int]; outputs: [int]; operators; name: string; }
        let tensors = table_vector(buf, &graph, 0, MAX_TENSORS, "tensors")?;
        let inputs = int_vector(buf, &graph, 1, MAX_TENSORS, "graph inputs")?;
        let op_tables = table_vector(buf, &graph, 3, MAX_OPERATORS, "operators")?;
        let mut ops = Vec::new();
        let mut kept = Kept::default();
        for k in 0..op_tables.len {
            let op = graph.table_in(buf, op_tables, k)?;
            // Operator { opcode_index: uint; inputs: [int]; outputs: [int]; … }
            let opcode = op.u32_or(buf, 0, 0)?;
            let code = codes.get(opcode as usize).copied().ok_or_else(|| {
                malformed(format!(
                    "Operator #{k} uses operator code {opcode}, but the model lists only {}; the file is damaged.",
                    codes.len()
                ))
            })?;
            let inputs = int_vector(buf, &op, 1, MAX_OP_TENSORS, "operator inputs")?;
            let outputs = int_vector(buf, &op, 2, MAX_OP_TENSORS, "operator outputs")?;
            let refs = (inputs.len() + outputs.len()) as u64;
            Kept::add(&mut kept.op_tensors, refs, MAX_TOTAL_OP_TENSORS, "operator inputs and outputs")?;
            ops.push(Operator { code, inputs, outputs });
        }
        // Tensors an operator computes, or the graph is fed, are activations: nothing of theirs is stored.
        let mut produced: HashMap<i32, usize> = HashMap::new();
        for (k, op) in ops.iter().enumerate() {
            for &t in &op.outputs {
                produced.entry(t).or_insert(k);
            }
        }
        let fed: HashSet<i32> = inputs.into_iter().collect();
        let roles = roles(&ops, &produced);
        let mut entries = Vec::new();
        let mut activations = 0;
        let mut index_of = HashMap::new();
        for i in 0..tensors.len {
            let id = i32::try_from(i).unwrap_or(i32::MAX);
            if produced.contains_key(&id) || fed.contains(&id) {
                activations += 1;
                continue;
            }
            let tensor = graph.table_in(buf, tensors, i)?;
            let Some(entry) = read_tensor(buf, &tensor, i, buffers.len)? else {
                activations += 1;
                continue;
            };
            Kept::add(
                &mut kept.name_bytes,
                entry.info.name.len() as u64,
                MAX_TOTAL_NAME_BYTES,
                "bytes of tensor names",
            )?;
            let scales = entry.quantization.as_ref().map_or(0, |q| q.scales.len()) as u64;
            Kept::add(&mut kept.scales, scales, MAX_TOTAL_SCALES, "quantization scales")?;
            index_of.insert(id, entries.len());
            entries.push(Entry { role: roles.get(&id).copied(), ..entry });
        }
        let first_conv = ops.iter().enumerate().find_map(|(k, op)| {
            (op.code == CONV_2D)
                .then(|| filter_of(op, &ops, &produced))
                .flatten()
                .and_then(|t| index_of.get(&t))
                .map(|&e| (e, k))
        });
        Ok(Model {
            version,
            description,
            subgraph_count: subgraphs.len,
            operator_count: ops.len(),
            entries,
            activations,
            buffers,
            first_conv,
        })
    }
}

/// Each operator code's builtin number: the larger of `deprecated_builtin_code` (int8, all a schema before
/// 2.3 had) and `builtin_code` (int32), as schema_utils.cc GetBuiltinCode reads it.
fn operator_codes(buf: &Buffer, root: &Table) -> Result<Vec<i32>> {
    let v = table_vector(buf, root, 1, MAX_OPERATOR_CODES, "operator codes")?;
    (0..v.len)
        .map(|k| {
            let code = root.table_in(buf, v, k)?;
            // OperatorCode { deprecated_builtin_code: byte; custom_code: string; version: int; builtin_code; }
            let deprecated = i32::from(code.i8_or(buf, 0, 0)?);
            let builtin = code.i32_or(buf, 3, 0)?;
            Ok(deprecated.max(builtin))
        })
        .collect()
}

/// The stored tensor an operator's filter (input 1) comes from, followed back through DEQUANTIZE ops
/// (float16 models keep float16 weights and dequantize them before each convolution).
fn filter_of(op: &Operator, ops: &[Operator], produced: &HashMap<i32, usize>) -> Option<i32> {
    let mut tensor = *op.inputs.get(1)?;
    for _ in 0..MAX_DEQUANTIZE_CHAIN {
        match produced.get(&tensor).and_then(|&k| ops.get(k)) {
            Some(source) if source.code == DEQUANTIZE => tensor = *source.inputs.first()?,
            _ => break,
        }
    }
    Some(tensor)
}

/// Which tensors are convolution filters, by their first use.
fn roles(ops: &[Operator], produced: &HashMap<i32, usize>) -> HashMap<i32, Role> {
    let mut roles = HashMap::new();
    for (k, op) in ops.iter().enumerate() {
        let role = match op.code {
            CONV_2D => Role::Conv(k),
            DEPTHWISE_CONV_2D => Role::Depthwise(k),
            _ => continue,
        };
        if let Some(t) = filter_of(op, ops, produced) {
            roles.entry(t).or_insert(role);
        }
    }
    roles
}

/// A Tensor table as patchlens lists it; `None` for one without data (buffer 0 is the empty sentinel).
fn read_tensor(buf: &Buffer, tensor: &Table, index: u64, buffer_count: u64) -> Result<Option<Entry>> {
    // Tensor { shape: [int]; type: TensorType; buffer: uint; name: string; quantization; is_variable;
    //          sparsity; shape_signature; has_rank; variant_tensors; external_buffer: uint; }
    let name =
        tensor.string(buf, 3, MAX_NAME_BYTES)?.filter(|n| !n.is_empty()).unwrap_or_else(|| format!("tensor {index}"));
    let buffer = tensor.u32_or(buf, 2, 0)?;
    let external = tensor.u32_or(buf, 10, 0)?;
    if buffer == 0 && external == 0 {
        return Ok(None);
    }
    if u64::from(buffer) >= buffer_count {
        return Err(malformed(format!(
            "Tensor {name} names buffer {buffer}, but the model has only {buffer_count} buffers; the file is damaged."
        )));
    }
    let shape = int_vector(buf, tensor, 0, MAX_DIMS, "dimensions of one tensor")?
        .into_iter()
        .map(|d| usize::try_from(d).map_err(|_| malformed(format!("Tensor {name} has a negative dimension ({d})."))))
        .collect::<Result<Vec<usize>>>()?;
    let type_code = tensor.i8_or(buf, 1, 0)?;
    let quantization = match tensor.table(buf, 4)? {
        Some(q) => quantization(buf, &q, &name)?,
        None => None,
    };
    let affine = quantization.is_some() && matches!(type_code, TYPE_INT8 | TYPE_UINT8);
    let dtype = dtype_of(type_code, affine);
    Ok(Some(Entry {
        info: TensorInfo { name, dtype, shape },
        type_code,
        buffer,
        quantization: quantization.filter(|_| affine),
        role: None,
        external_buffer: (external != 0).then_some(external),
    }))
}

/// QuantizationParameters { min: [float]; max: [float]; scale: [float]; zero_point: [long]; details_type;
/// details; quantized_dimension: int; } — `None` when it has no scales (not affine-quantized).
fn quantization(buf: &Buffer, q: &Table, name: &str) -> Result<Option<Quantization>> {
    let Some(scale) = q.vector(buf, 2, 4)? else { return Ok(None) };
    if scale.len == 0 {
        return Ok(None);
    }
    let scales = words(buf, scale, MAX_SCALES, "quantization scales of one tensor")?
        .into_iter()
        .map(f32::from_le_bytes)
        .collect();
    let zero_points = match q.vector(buf, 3, 8)? {
        Some(v) => {
            longs(buf, v, MAX_SCALES, "zero points of one tensor")?.into_iter().map(i64::from_le_bytes).collect()
        }
        None => Vec::new(),
    };
    let dimension = q.i32_or(buf, 6, 0)?;
    let dimension = usize::try_from(dimension)
        .map_err(|_| malformed(format!("Tensor {name} is quantized along axis {dimension}, which does not exist.")))?;
    Ok(Some(Quantization { scales, zero_points, dimension }))
}

/// The dtype patchlens lists for a TensorType; int8/uint8 with scales are affine-quantized (drawable).
fn dtype_of(code: i8, affine: bool) -> DType {
    let other = |name: &str| DType::Other(name.to_string());
    match code {
        0 => DType::F32,
        1 => DType::F16,
        10 => DType::F64,
        18 => DType::BF16,
        TYPE_INT8 if affine => DType::Affine { storage: "int8" },
        TYPE_UINT8 if affine => DType::Affine { storage: "uint8" },
        TYPE_INT8 => other("int8"),
        TYPE_UINT8 => other("uint8"),
        2 => other("int32"),
        4 => other("int64"),
        5 => other("string"),
        6 => other("bool"),
        7 => other("int16"),
        8 => other("complex64"),
        11 => other("complex128"),
        12 => other("uint64"),
        13 => other("resource"),
        14 => other("variant"),
        15 => other("uint32"),
        16 => other("uint16"),
        17 => other("int4"),
        19 => other("int2"),
        20 => other("uint4"),
        n => DType::Other(format!("TFLite type {n}")),
    }
}
