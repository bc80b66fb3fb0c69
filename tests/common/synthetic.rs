//! Small checkpoints written in the test itself, for what no fixture script makes: any names, any count.

/// A `.safetensors` file whose tensors, all zeros, have the given names, dtypes (`F32`, `I64`, …) and shapes.
pub fn safetensors_bytes(tensors: &[(&str, &str, &[usize])]) -> Vec<u8> {
    let size = |dtype: &str| match dtype {
        "F64" | "I64" => 8,
        "F32" | "I32" => 4,
        "F16" | "BF16" | "I16" => 2,
        _ => 1,
    };
    let mut entries = Vec::new();
    let mut offset = 0;
    for (name, dtype, shape) in tensors {
        let len = size(dtype) * shape.iter().product::<usize>();
        let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
        entries.push(format!(
            r#""{name}":{{"dtype":"{dtype}","shape":[{}],"data_offsets":[{offset},{}]}}"#,
            dims.join(","),
            offset + len
        ));
        offset += len;
    }
    let header = format!("{{{}}}", entries.join(","));
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.resize(out.len() + offset, 0);
    out
}
