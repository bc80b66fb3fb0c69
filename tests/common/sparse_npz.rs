//! AugReg-shaped `.npz` files of any size that cost no disk: laid out byte for byte as `np.savez` (and
//! `benches/augreg.py`) lays them out — a stored zip entry per array with a zip64 local extra field, a
//! version 1.0 `.npy` header padded to 64 bytes, the central directory at the end — but every array's
//! values are zeros that are never stored. The arrays' CRCs are not written (patchlens does not read them).

use patchlens::{ByteSource, Result};

/// A file of `len` bytes that are zero but for `written` (offset, bytes) pieces, sorted and apart.
pub struct SparseFile {
    len: u64,
    written: Vec<(u64, Vec<u8>)>,
}

impl ByteSource for SparseFile {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let end = offset + buf.len() as u64;
        if end > self.len {
            return Err(patchlens::Error::Truncated("past the end of the sparse file.".into()));
        }
        buf.fill(0);
        let first = self.written.partition_point(|(at, bytes)| at + bytes.len() as u64 <= offset);
        for (at, bytes) in &self.written[first..] {
            if *at >= end {
                break;
            }
            let (from, to) = ((*at).max(offset), (at + bytes.len() as u64).min(end));
            buf[(from - offset) as usize..(to - offset) as usize]
                .copy_from_slice(&bytes[(from - at) as usize..(to - at) as usize]);
        }
        Ok(())
    }
}

/// The AugReg ViT parameter tree (`benches/augreg.py`'s `param_shapes`), sorted by name as the files list it.
pub fn augreg_shapes(width: usize, depth: usize, mlp: usize, heads: usize) -> Vec<(String, Vec<usize>)> {
    let d = width;
    let mut shapes: Vec<(String, Vec<usize>)> = vec![
        ("cls".into(), vec![1, 1, d]),
        ("embedding/kernel".into(), vec![16, 16, 3, d]),
        ("embedding/bias".into(), vec![d]),
        ("Transformer/posembed_input/pos_embedding".into(), vec![1, 197, d]),
        ("Transformer/encoder_norm/scale".into(), vec![d]),
        ("Transformer/encoder_norm/bias".into(), vec![d]),
        ("head/kernel".into(), vec![d, 1000]),
        ("head/bias".into(), vec![1000]),
    ];
    for i in 0..depth {
        let block = format!("Transformer/encoderblock_{i}");
        for norm in ["LayerNorm_0", "LayerNorm_2"] {
            shapes.push((format!("{block}/{norm}/scale"), vec![d]));
            shapes.push((format!("{block}/{norm}/bias"), vec![d]));
        }
        shapes.push((format!("{block}/MlpBlock_3/Dense_0/kernel"), vec![d, mlp]));
        shapes.push((format!("{block}/MlpBlock_3/Dense_0/bias"), vec![mlp]));
        shapes.push((format!("{block}/MlpBlock_3/Dense_1/kernel"), vec![mlp, d]));
        shapes.push((format!("{block}/MlpBlock_3/Dense_1/bias"), vec![d]));
        let attention = format!("{block}/MultiHeadDotProductAttention_1");
        for proj in ["query", "key", "value"] {
            shapes.push((format!("{attention}/{proj}/kernel"), vec![d, heads, d / heads]));
            shapes.push((format!("{attention}/{proj}/bias"), vec![heads, d / heads]));
        }
        shapes.push((format!("{attention}/out/kernel"), vec![heads, d / heads, d]));
        shapes.push((format!("{attention}/out/bias"), vec![d]));
    }
    shapes.sort();
    shapes
}

/// The AugReg ViT-L/16 tree: 392 arrays, 1.2 GB.
pub fn augreg_l16() -> SparseFile {
    sparse_npz(&augreg_shapes(1024, 24, 4096, 16))
}

/// A float32 `.npz` of `arrays`, as `np.savez` writes it.
pub fn sparse_npz(arrays: &[(String, Vec<usize>)]) -> SparseFile {
    let mut written = Vec::new();
    let mut central = Vec::new();
    let mut at = 0u64;
    for (name, shape) in arrays {
        let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
        let dims = if dims.len() == 1 { format!("{},", dims[0]) } else { dims.join(", ") };
        let mut dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({dims}), }}");
        // numpy's _write_array_header: room for the first axis to grow to 21 digits, then spaces and a
        // newline so that magic + version + length + dict is a multiple of 64.
        dict.push_str(&" ".repeat(21 - shape[0].to_string().len()));
        dict.push_str(&" ".repeat(64 - (10 + dict.len() + 1) % 64));
        dict.push('\n');
        let mut npy = b"\x93NUMPY\x01\x00".to_vec();
        npy.extend_from_slice(&(dict.len() as u16).to_le_bytes());
        npy.extend_from_slice(dict.as_bytes());
        let size = npy.len() as u64 + 4 * shape.iter().product::<usize>() as u64;
        let file_name = format!("{name}.npy");
        // The local header: stored, sizes in the zip64 extra field (np.savez's force_zip64=True).
        let mut local = Vec::new();
        local.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        local.extend_from_slice(&[45, 0, 0, 0, 0, 0, 0, 0x21, 0, 0x21]); // version, flags, stored, time, date
        local.extend_from_slice(&0u32.to_le_bytes()); // CRC, not computed
        local.extend_from_slice(&u32::MAX.to_le_bytes());
        local.extend_from_slice(&u32::MAX.to_le_bytes());
        local.extend_from_slice(&(file_name.len() as u16).to_le_bytes());
        local.extend_from_slice(&20u16.to_le_bytes());
        local.extend_from_slice(file_name.as_bytes());
        local.extend_from_slice(&1u16.to_le_bytes());
        local.extend_from_slice(&16u16.to_le_bytes());
        local.extend_from_slice(&size.to_le_bytes());
        local.extend_from_slice(&size.to_le_bytes());
        let header_offset = at;
        let local_len = local.len() as u64;
        local.extend_from_slice(&npy);
        written.push((at, local));
        at += local_len + size;
        // The central directory's entry: sizes and offset fit in 32 bits here (files under 4 GiB).
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&[45, 3, 45, 0, 0, 0, 0, 0, 0, 0x21, 0, 0x21]);
        central.extend_from_slice(&0u32.to_le_bytes());
        central.extend_from_slice(&(size as u32).to_le_bytes());
        central.extend_from_slice(&(size as u32).to_le_bytes());
        central.extend_from_slice(&(file_name.len() as u16).to_le_bytes());
        central.extend_from_slice(&[0; 8]); // extra, comment, disk, internal attributes
        central.extend_from_slice(&0o600u32.wrapping_shl(16).to_le_bytes());
        central.extend_from_slice(&(header_offset as u32).to_le_bytes());
        central.extend_from_slice(file_name.as_bytes());
    }
    let count = arrays.len() as u16;
    let mut end = Vec::new();
    end.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    end.extend_from_slice(&[0; 4]);
    end.extend_from_slice(&count.to_le_bytes());
    end.extend_from_slice(&count.to_le_bytes());
    end.extend_from_slice(&(central.len() as u32).to_le_bytes());
    end.extend_from_slice(&(at as u32).to_le_bytes());
    end.extend_from_slice(&0u16.to_le_bytes());
    central.extend_from_slice(&end);
    let len = at + central.len() as u64;
    written.push((at, central));
    SparseFile { len, written }
}
