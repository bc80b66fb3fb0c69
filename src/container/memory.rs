//! Tensors already in memory: a NumPy array, a state dict or a model's parameters in a Python process (the
//! Python package hands them over as named, typed, shaped runs of little-endian, C-order bytes, each read only
//! when drawn). No file format and no index: the names and shapes are given, and the kernel convention is the
//! library's the tensors came from — stated for PyTorch's (out, in, kh, kw), inferred from the shape for NumPy
//! and JAX arrays as for an `.npz`.

use super::{leading, read_contiguous, Container};
use crate::error::{no_such_index, Error, Result};
use crate::kernel::KernelLayout;
use crate::source::ByteSource;
use crate::tensor::{ByteOrder, DType, Tensor, TensorInfo};
use std::rc::Rc;

/// One tensor handed over: its bytes are `data`, all of it.
pub struct MemoryTensor {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub data: Rc<dyn ByteSource>,
}

/// Where the tensors came from: how their kernels are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Convention {
    /// PyTorch: (out, in, kh, kw), stated.
    Torch,
    /// NumPy, JAX or anything else: (kh, kw, in, out) by convention, each 4-D tensor's layout inferred from its
    /// shape.
    Arrays,
}

pub struct Memory {
    names: Vec<String>,
    tensors: Vec<MemoryTensor>,
    convention: Convention,
}

impl Memory {
    /// Checks that each float tensor's bytes are as many as its shape says, so a wrong hand-over is a sentence
    /// when opening rather than a bad picture.
    pub fn new(tensors: Vec<MemoryTensor>, convention: Convention) -> Result<Memory> {
        if tensors.is_empty() {
            return Err(Error::UnknownFormat("There are no arrays to draw: the object holds none.".into()));
        }
        for t in &tensors {
            let info = TensorInfo { name: t.name.clone(), dtype: t.dtype.clone(), shape: t.shape.clone() };
            if let Some(size) = t.dtype.float_size() {
                let expected = info.element_count()?.checked_mul(size);
                if expected.map(|e| e as u64) != Some(t.data.len()) {
                    return Err(Error::Malformed(format!(
                        "Array {} holds {} bytes where its {} shape {} needs {}.",
                        t.name,
                        t.data.len(),
                        t.dtype,
                        info.shape_text(),
                        expected.map_or("more than can be counted".into(), |e| e.to_string())
                    )));
                }
            }
        }
        let names = tensors.iter().map(|t| t.name.clone()).collect();
        Ok(Memory { names, tensors, convention })
    }

    fn entry(&self, index: usize) -> Result<&MemoryTensor> {
        self.tensors.get(index).ok_or_else(|| no_such_index(index))
    }
}

impl Container for Memory {
    fn format(&self) -> &'static str {
        match self.convention {
            Convention::Torch => "PyTorch tensors in memory",
            Convention::Arrays => "arrays in memory",
        }
    }

    fn layout(&self) -> KernelLayout {
        match self.convention {
            Convention::Torch => KernelLayout::Oihw,
            Convention::Arrays => KernelLayout::Hwio,
        }
    }

    fn layout_is_stated(&self) -> bool {
        self.convention == Convention::Torch
    }

    fn names(&self) -> &[String] {
        &self.names
    }

    fn info(&self, index: usize) -> Result<TensorInfo> {
        let t = self.entry(index)?;
        Ok(TensorInfo { name: t.name.clone(), dtype: t.dtype.clone(), shape: t.shape.clone() })
    }

    fn read(&self, index: usize) -> Result<Tensor> {
        let info = self.info(index)?;
        let data = &self.entry(index)?.data;
        read_contiguous(&**data, info, 0, data.len(), ByteOrder::Little)
    }

    fn read_leading(&self, index: usize, count: usize) -> Result<Option<Tensor>> {
        let info = self.info(index)?;
        let data = &self.entry(index)?.data;
        // C order: the first slices are the first bytes.
        match leading(&info, count) {
            Some(part) => read_contiguous(&**data, part, 0, data.len(), ByteOrder::Little).map(Some),
            None => Ok(None),
        }
    }
}

/// In-memory tensors laid out as a safetensors file, without copying them: the header's bytes, then each
/// tensor's bytes at `offsets[i]` (`None`: a dtype safetensors has no name for, left out of the file). The Python
/// widget serves this file by ranges to the page's module, reading each range from the header or the tensor.
pub struct SafetensorsPlan {
    pub header: Vec<u8>,
    pub offsets: Vec<Option<u64>>,
    pub len: u64,
}

/// Lays out `(name, dtype, shape, byte length)` tensors as a safetensors file in that order. The metadata's
/// `format` keeps the convention: `pt` for PyTorch's stated (out, in, kh, kw), `np` for an array's, whose kernels
/// the reader infers from their shapes (see `safetensors::writer_convention`).
pub fn safetensors_plan(tensors: &[(String, String, Vec<usize>, u64)], convention: Convention) -> SafetensorsPlan {
    let format = match convention {
        Convention::Torch => "pt",
        Convention::Arrays => "np",
    };
    let mut header = format!(r#"{{"__metadata__":{{"format":"{format}"}}"#);
    let mut offsets = Vec::with_capacity(tensors.len());
    let mut at = 0u64;
    for (name, dtype, shape, len) in tensors {
        let Some(code) = safetensors_dtype(dtype) else {
            offsets.push(None);
            continue;
        };
        let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
        let end = at.saturating_add(*len);
        let name = serde_json::to_string(name).unwrap_or_else(|_| "\"?\"".into());
        header.push_str(&format!(
            r#",{name}:{{"dtype":"{code}","shape":[{}],"data_offsets":[{at},{end}]}}"#,
            dims.join(",")
        ));
        offsets.push(Some(at));
        at = end;
    }
    header.push('}');
    // Padded with spaces to 8 bytes, as the safetensors crate writes it.
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let start = 8 + header.len() as u64;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    SafetensorsPlan {
        header: bytes,
        offsets: offsets.into_iter().map(|o| o.map(|o| o + start)).collect(),
        len: start.saturating_add(at),
    }
}

/// safetensors' name for a NumPy-style dtype name.
fn safetensors_dtype(dtype: &str) -> Option<&'static str> {
    Some(match dtype {
        "float64" => "F64",
        "float32" => "F32",
        "float16" => "F16",
        "bfloat16" => "BF16",
        "float8_e4m3fn" => "F8_E4M3",
        "float8_e5m2" => "F8_E5M2",
        "int64" => "I64",
        "int32" => "I32",
        "int16" => "I16",
        "int8" => "I8",
        "uint64" => "U64",
        "uint32" => "U32",
        "uint16" => "U16",
        "uint8" => "U8",
        "bool" => "BOOL",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::SliceSource;
    use crate::Checkpoint;

    fn tensor(name: &str, dtype: DType, shape: &[usize], bytes: Vec<u8>) -> MemoryTensor {
        MemoryTensor { name: name.into(), dtype, shape: shape.to_vec(), data: Rc::new(SliceSource(bytes)) }
    }

    fn f32_bytes(values: impl Iterator<Item = f32>) -> Vec<u8> {
        values.flat_map(f32::to_le_bytes).collect()
    }

    #[test]
    fn a_torch_state_dict_draws_its_patch_embedding_reading_only_the_filters_drawn() {
        let weight = f32_bytes((0..8 * 3 * 2 * 2).map(|i| (i % 7) as f32));
        let tensors = vec![
            tensor("cls_token", DType::F32, &[1, 1, 8], f32_bytes((0..8).map(|i| i as f32))),
            tensor("patch_embed.proj.weight", DType::F32, &[8, 3, 2, 2], weight),
            tensor("steps", DType::Other("int64".into()), &[], vec![0; 8]),
        ];
        let checkpoint = Checkpoint::in_memory(tensors, Convention::Torch).unwrap();
        assert_eq!(checkpoint.default_tensor().as_deref(), Some("patch_embed.proj.weight"));
        let options = crate::GridOptions { count: 2, ..Default::default() };
        let drawn = checkpoint.render(None, &options).unwrap();
        assert_eq!((drawn.grid.filters_shown, drawn.grid.filters_total), (2, 8));
        assert_eq!(drawn.layout, KernelLayout::Oihw);
        assert_eq!(checkpoint.distinct_bytes_read(), 2 * 3 * 2 * 2 * 4, "only the two filters drawn are read");
    }

    #[test]
    fn a_numpy_kernel_in_torch_layout_is_read_as_its_shape_says() {
        let tensors = vec![tensor("w", DType::F32, &[8, 3, 2, 2], f32_bytes((0..96).map(|i| i as f32)))];
        let checkpoint = Checkpoint::in_memory(tensors, Convention::Arrays).unwrap();
        let entry = &checkpoint.tensors()[0];
        assert_eq!((entry.layout, entry.layout_inferred), (Some(KernelLayout::Oihw), true));
    }

    #[test]
    fn a_plan_is_a_safetensors_file_that_draws_as_the_tensors_do() {
        let kernel: Vec<u8> = f32_bytes((0..8 * 3 * 2 * 2).map(|i| (i % 5) as f32));
        let step = 7i64.to_le_bytes().to_vec();
        for (convention, shape) in [(Convention::Torch, [8, 3, 2, 2]), (Convention::Arrays, [2, 2, 3, 8])] {
            let entries = vec![
                ("step \"quoted\"".to_string(), "int64".to_string(), vec![], 8),
                ("odd".to_string(), "complex64".to_string(), vec![2], 16),
                ("conv1.weight".to_string(), "float32".to_string(), shape.to_vec(), kernel.len() as u64),
            ];
            let plan = safetensors_plan(&entries, convention);
            let mut file = plan.header.clone();
            assert_eq!(plan.offsets[1], None, "complex64 has no safetensors name");
            assert_eq!(plan.offsets[0], Some(file.len() as u64));
            file.extend_from_slice(&step);
            assert_eq!(plan.offsets[2], Some(file.len() as u64));
            file.extend_from_slice(&kernel);
            assert_eq!(plan.len, file.len() as u64);
            let from_file = Checkpoint::open(SliceSource(file)).unwrap();
            let tensors = vec![tensor("conv1.weight", DType::F32, &shape, kernel.clone())];
            let from_memory = Checkpoint::in_memory(tensors, convention).unwrap();
            let options = crate::GridOptions::default();
            let (a, b) = (from_file.render(None, &options).unwrap(), from_memory.render(None, &options).unwrap());
            assert_eq!((a.grid.rgba, a.layout), (b.grid.rgba, b.layout), "{convention:?}");
            assert_eq!(from_file.tensors()[0].name, "step \"quoted\"");
        }
    }

    #[test]
    fn bytes_that_do_not_fit_the_shape_are_one_sentence() {
        let tensors = vec![tensor("w", DType::F16, &[2, 3], vec![0; 10])];
        let error = Checkpoint::in_memory(tensors, Convention::Arrays).err().unwrap();
        assert_eq!(error.to_string(), "Array w holds 10 bytes where its float16 shape 2×3 needs 12.");
        let error = Checkpoint::in_memory(Vec::new(), Convention::Arrays).err().unwrap();
        assert_eq!(error.to_string(), "There are no arrays to draw: the object holds none.");
    }
}
