//! ONNX models (`.onnx`, a protobuf `ModelProto`): weights are the graph's initializers and the
//! `value` tensors of its Constant nodes, subgraphs included. Opening walks the protobuf once,
//! skipping every payload by its length; reading a tensor reads its bytes in one range.

use super::onnx_tensor::{self, Kind, Record};
use super::protobuf::{Cursor, Fields, Value};
use super::{Container, NamedSource};
use crate::error::{no_such_index, Error, Result};
use crate::kernel::KernelLayout;
use crate::source::ByteSource;
use crate::tensor::{Tensor, TensorInfo};
use std::rc::Rc;

/// IR versions so far run 1–13; a first varint far beyond that is not an ONNX model.
const MAX_IR_VERSION: u8 = 64;
/// Subgraphs (If/Loop/Scan bodies) nest a few levels in real models; deeper ones are skipped, which
/// also bounds the walker's recursion on hostile files.
const MAX_SUBGRAPH_DEPTH: usize = 16;
/// Real models hold at most a few thousand weights; this bounds memory for lying files.
const MAX_TENSORS: usize = 1 << 16;

/// Tags (field number << 3 | wire type) of the ModelProto fields that can follow ir_version; the
/// one-byte prefix of the two-byte tags 20, 25 and 26 (training_info, functions, configuration).
const MODEL_TAGS_AFTER_IR_VERSION: [u8; 11] = [0x12, 0x1a, 0x22, 0x28, 0x32, 0x3a, 0x42, 0x72, 0xa2, 0xca, 0xd2];

/// True if `prefix` (the file's first bytes) starts like a `ModelProto`: field 1, a varint, holding
/// a plausible ir_version, then another ModelProto field (a safetensors length such as
/// `08 01 00 …` fails here). ONNX has no magic number, so `container::open_with` asks this last.
pub(crate) fn looks_like_model(prefix: &[u8]) -> bool {
    match prefix {
        [0x08, version, rest @ ..] if (1..=MAX_IR_VERSION).contains(version) => {
            rest.first().is_none_or(|tag| MODEL_TAGS_AFTER_IR_VERSION.contains(tag))
        }
        _ => false,
    }
}

/// What the walk of a model collects.
#[derive(Default)]
struct Walk {
    tensors: Vec<Record>,
    skipped_subgraphs: usize,
    graph_found: bool,
    graph_name: String,
    ir_version: u64,
    producer: String,
    producer_version: String,
    opset: Option<u64>,
}

pub struct Onnx {
    source: Rc<dyn ByteSource>,
    companions: Vec<NamedSource>,
    names: Vec<String>,
    tensors: Vec<Record>,
    notes: Vec<String>,
}

impl Onnx {
    pub fn open(source: Rc<dyn ByteSource>, companions: &[NamedSource]) -> Result<Self> {
        let mut cursor = Cursor::new(&*source, 0, source.len());
        let mut walk = Walk::default();
        walk_model(&mut cursor, source.len(), &mut walk)?;
        if !walk.graph_found {
            return Err(Error::UnknownFormat(
                "This file starts like an ONNX model but holds no graph, so patchlens cannot read it.".into(),
            ));
        }
        let notes = notes(&walk, companions);
        for (index, record) in walk.tensors.iter_mut().enumerate() {
            if record.info.name.is_empty() {
                record.info.name = format!("(unnamed tensor {index})");
            }
        }
        let names = walk.tensors.iter().map(|t| t.info.name.clone()).collect();
        Ok(Onnx { source, companions: companions.to_vec(), names, tensors: walk.tensors, notes })
    }
}

fn notes(walk: &Walk, companions: &[NamedSource]) -> Vec<String> {
    let mut about = String::from("ONNX model");
    if !walk.producer.is_empty() {
        about = format!("{about} written by {} {}", walk.producer, walk.producer_version).trim_end().to_string();
    }
    let opset = walk.opset.map(|v| format!(", opset {v}")).unwrap_or_default();
    about += &format!(" (IR version {}{opset})", walk.ir_version);
    if !walk.graph_name.is_empty() {
        about += &format!(", graph {}", walk.graph_name);
    }
    let mut notes = vec![about + "."];
    let mut missing: Vec<&str> = Vec::new();
    for file in walk.tensors.iter().filter_map(|r| external_file(&r.data)) {
        if !companions.iter().any(|c| c.name == file) && !missing.contains(&file) {
            missing.push(file);
        }
    }
    if !missing.is_empty() {
        let files = missing.iter().take(3).copied().collect::<Vec<_>>().join(", ");
        notes.push(format!("Weights are stored in separate files ({files}); drop them together with the .onnx file."));
    }
    if walk.skipped_subgraphs > 0 {
        notes.push(format!(
            "{} subgraphs nested more than {MAX_SUBGRAPH_DEPTH} deep were not searched for weights.",
            walk.skipped_subgraphs
        ));
    }
    notes
}

/// ModelProto: ir_version = 1, producer_name = 2, producer_version = 3, graph = 7, opset_import = 8.
fn walk_model(cursor: &mut Cursor, end: u64, walk: &mut Walk) -> Result<()> {
    let mut fields = Fields::new(0, end);
    while let Some(field) = fields.next(cursor)? {
        match (field.number, field.value) {
            (1, Value::Varint(v)) => walk.ir_version = v,
            (2, Value::Bytes { len, .. }) => walk.producer = cursor.string(len)?,
            (3, Value::Bytes { len, .. }) => walk.producer_version = cursor.string(len)?,
            (7, Value::Bytes { start, len }) => {
                walk.graph_found = true;
                walk_graph(cursor, start, len, 0, walk)?;
            }
            (8, Value::Bytes { start, len }) => {
                // OperatorSetIdProto: domain = 1, version = 2; the default domain is "" or "ai.onnx".
                let (mut domain, mut version) = (String::new(), None);
                let mut opset = Fields::of(start, len);
                while let Some(f) = opset.next(cursor)? {
                    match (f.number, f.value) {
                        (1, Value::Bytes { len, .. }) => domain = cursor.string(len)?,
                        (2, Value::Varint(v)) => version = Some(v),
                        _ => {}
                    }
                }
                if domain.is_empty() || domain == "ai.onnx" {
                    walk.opset = version.or(walk.opset);
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn push(walk: &mut Walk, record: Record) -> Result<()> {
    if walk.tensors.len() >= MAX_TENSORS {
        return Err(Error::TooLarge(format!(
            "The ONNX model holds more than {MAX_TENSORS} weight tensors, more than patchlens lists."
        )));
    }
    walk.tensors.push(record);
    Ok(())
}

/// GraphProto: node = 1, name = 2, initializer = 5, sparse_initializer = 15. Tensors are listed in
/// file order: nodes (Constant values, subgraphs) come first as writers serialize by field number.
fn walk_graph(cursor: &mut Cursor, start: u64, len: u64, depth: usize, walk: &mut Walk) -> Result<()> {
    if depth > MAX_SUBGRAPH_DEPTH {
        walk.skipped_subgraphs += 1;
        return Ok(());
    }
    let mut fields = Fields::of(start, len);
    while let Some(field) = fields.next(cursor)? {
        match (field.number, field.value) {
            (1, Value::Bytes { start, len }) => walk_node(cursor, start, len, depth, walk)?,
            (2, Value::Bytes { len, .. }) if depth == 0 => walk.graph_name = cursor.string(len)?,
            (5, Value::Bytes { start, len }) => push(walk, onnx_tensor::parse_tensor(cursor, start, len)?)?,
            (15, Value::Bytes { start, len }) => push(walk, onnx_tensor::parse_sparse(cursor, start, len)?)?,
            _ => {}
        }
    }
    Ok(())
}

/// NodeProto: output = 2, op_type = 4, attribute = 5. A Constant's `value` (or `sparse_value`) is a
/// weight named after the node's output, as exporters that fold constants write them.
fn walk_node(cursor: &mut Cursor, start: u64, len: u64, depth: usize, walk: &mut Walk) -> Result<()> {
    let mut fields = Fields::of(start, len);
    let (mut output, mut op_type, mut value) = (None, String::new(), None);
    while let Some(field) = fields.next(cursor)? {
        match (field.number, field.value) {
            (2, Value::Bytes { len, .. }) if output.is_none() => output = Some(cursor.string(len)?),
            (4, Value::Bytes { len, .. }) => op_type = cursor.string(len)?,
            (5, Value::Bytes { start, len }) => {
                if let Some(tensor) = walk_attribute(cursor, start, len, depth, walk)? {
                    value = Some(tensor);
                }
            }
            _ => {}
        }
    }
    if let (Some(mut record), "Constant") = (value, op_type.as_str()) {
        record.info.name = output.unwrap_or(record.info.name);
        push(walk, record)?;
    }
    Ok(())
}

/// AttributeProto: name = 1, t = 5, g = 6, graphs = 11, sparse_tensor = 22. Walks subgraphs; returns
/// the tensor of an attribute named `value` or `sparse_value` (what a Constant node holds).
fn walk_attribute(cursor: &mut Cursor, start: u64, len: u64, depth: usize, walk: &mut Walk) -> Result<Option<Record>> {
    let mut fields = Fields::of(start, len);
    let (mut name, mut tensor) = (String::new(), None);
    while let Some(field) = fields.next(cursor)? {
        match (field.number, field.value) {
            (1, Value::Bytes { len, .. }) => name = cursor.string(len)?,
            (5, Value::Bytes { start, len }) => tensor = Some(onnx_tensor::parse_tensor(cursor, start, len)?),
            (22, Value::Bytes { start, len }) => tensor = Some(onnx_tensor::parse_sparse(cursor, start, len)?),
            (6 | 11, Value::Bytes { start, len }) => walk_graph(cursor, start, len, depth + 1, walk)?,
            _ => {}
        }
    }
    Ok(tensor.filter(|_| name == "value" || name == "sparse_value"))
}

impl Container for Onnx {
    fn format(&self) -> &'static str {
        "onnx"
    }

    fn layout(&self) -> KernelLayout {
        // Conv weights are (M, C/group, kH, kW), as in PyTorch.
        KernelLayout::Oihw
    }

    fn names(&self) -> &[String] {
        &self.names
    }

    fn info(&self, index: usize) -> Result<TensorInfo> {
        let record = self.record(index)?;
        match record.kind {
            Kind::Sparse => Err(onnx_tensor::sparse_error(&record.info.name)),
            _ => Ok(record.info.clone()),
        }
    }

    fn read(&self, index: usize) -> Result<Tensor> {
        onnx_tensor::read(self.record(index)?, &*self.source, &self.companions)
    }

    fn notes(&self) -> Vec<String> {
        self.notes.clone()
    }

    fn companions_used(&self) -> Vec<String> {
        let mut used: Vec<String> = Vec::new();
        for file in self.tensors.iter().filter_map(|r| external_file(&r.data)) {
            if self.companions.iter().any(|c| c.name == file) && !used.iter().any(|u| u == file) {
                used.push(file.to_string());
            }
        }
        used
    }
}

/// The base name of the file a tensor's external data lives in, if it has any.
fn external_file(data: &onnx_tensor::Data) -> Option<&str> {
    match data {
        onnx_tensor::Data::External { location, .. } => Some(onnx_tensor::base_name(location)),
        _ => None,
    }
}

impl Onnx {
    fn record(&self, index: usize) -> Result<&Record> {
        self.tensors.get(index).ok_or_else(|| no_such_index(index))
    }
}

#[cfg(test)]
#[path = "onnx_tests.rs"]
mod tests;
