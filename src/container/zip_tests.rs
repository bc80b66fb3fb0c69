use super::*;
use crate::source::SliceSource;
use flate2::{write::DeflateEncoder, Compression};
use std::io::Write;

/// A minimal zip writer for tests: stored or deflated entries, optional zip64 end records.
fn build_zip(entries: &[(&str, &[u8], bool)], zip64: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data, deflate) in entries {
        let payload = if *deflate {
            let mut e = DeflateEncoder::new(Vec::new(), Compression::default());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        } else {
            data.to_vec()
        };
        let method: u16 = if *deflate { 8 } else { 0 };
        let offset = out.len() as u32;
        out.extend_from_slice(&LOCAL_SIGNATURE.to_le_bytes());
        out.extend_from_slice(&[20, 0, 0, 0]);
        out.extend_from_slice(&method.to_le_bytes());
        out.extend_from_slice(&[0; 8]);
        out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&payload);

        central.extend_from_slice(&CENTRAL_SIGNATURE.to_le_bytes());
        central.extend_from_slice(&[20, 0, 20, 0, 0, 0]);
        central.extend_from_slice(&method.to_le_bytes());
        central.extend_from_slice(&[0; 8]);
        central.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        central.extend_from_slice(&(data.len() as u32).to_le_bytes());
        central.extend_from_slice(&(name.len() as u16).to_le_bytes());
        central.extend_from_slice(&[0; 8]);
        central.extend_from_slice(&[0; 4]);
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let cd_offset = out.len() as u64;
    out.extend_from_slice(&central);
    let n = entries.len() as u64;
    if zip64 {
        let record = out.len() as u64;
        out.extend_from_slice(&ZIP64_EOCD_SIGNATURE.to_le_bytes());
        out.extend_from_slice(&44u64.to_le_bytes());
        out.extend_from_slice(&[45, 0, 45, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        for v in [n, n, central.len() as u64, cd_offset] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&ZIP64_LOCATOR_SIGNATURE.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&record.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
    }
    out.extend_from_slice(&EOCD_SIGNATURE.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    let count = if zip64 { u16::MAX } else { n as u16 };
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    let (size, off) = if zip64 { (u32::MAX, u32::MAX) } else { (central.len() as u32, cd_offset as u32) };
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(&off.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8).collect()
}

#[test]
fn reads_stored_and_deflated_entries_by_range() {
    let big = payload(600_000);
    let zip = build_zip(&[("a.npy", b"hello world", false), ("b.npy", &big, true)], false);
    let src = SliceSource(zip);
    let archive = ZipArchive::read(&src).unwrap();
    assert_eq!(archive.entries.len(), 2);
    let a = &archive.entries[0];
    assert_eq!((a.name.as_str(), a.method, a.size), ("a.npy", Method::Stored, 11));
    let p = a.read_prefix(&src, 5).unwrap();
    assert_eq!(p.bytes, b"hello");
    assert_eq!(a.read_data(&src, p.data_start, 6, 5).unwrap(), b"world");

    let b = &archive.entries[1];
    assert_eq!(b.method, Method::Deflated);
    let p = b.read_prefix(&src, 100).unwrap();
    assert_eq!(p.bytes, &big[..100]);
    // Skipping more than one inflate chunk exercises the discard path.
    let skip = 300_000;
    assert_eq!(b.read_data(&src, p.data_start, skip, 1000).unwrap(), &big[skip as usize..skip as usize + 1000]);
    assert_eq!(b.read_data(&src, p.data_start, 0, big.len()).unwrap(), big);
    assert!(b.read_data(&src, p.data_start, 1, big.len()).is_err());
}

#[test]
fn reads_zip64_end_records() {
    let zip = build_zip(&[("x.npy", b"abc", false)], true);
    let archive = ZipArchive::read(&SliceSource(zip)).unwrap();
    assert_eq!(archive.entries[0].name, "x.npy");
}

#[test]
fn every_truncation_is_an_error_not_a_panic() {
    let zip = build_zip(&[("a.npy", &payload(3000), true), ("b.npy", b"0123456789", false)], false);
    for cut in 0..zip.len() {
        let src = SliceSource(&zip[..cut]);
        if let Ok(archive) = ZipArchive::read(&src) {
            for e in &archive.entries {
                if let Ok(p) = e.read_prefix(&src, 64) {
                    let _ = e.read_data(&src, p.data_start, 0, e.size as usize);
                }
            }
        }
    }
}

#[test]
fn corrupt_bytes_are_errors_not_panics() {
    let zip = build_zip(&[("a.npy", &payload(3000), true), ("b.npy", b"0123456789", false)], true);
    for i in 0..zip.len() {
        for v in [0x00u8, 0xff, 0x7f] {
            let mut z = zip.clone();
            z[i] = v;
            let src = SliceSource(z);
            if let Ok(archive) = ZipArchive::read(&src) {
                for e in &archive.entries {
                    if let Ok(p) = e.read_prefix(&src, 64) {
                        let _ = e.read_data(&src, p.data_start, 0, (e.size as usize).min(1 << 20));
                    }
                }
            }
        }
    }
}

#[test]
fn not_a_zip_says_so() {
    let err = ZipArchive::read(&SliceSource(b"just some text, not an archive".to_vec())).unwrap_err();
    assert!(err.to_string().contains("end record"), "{err}");
}
