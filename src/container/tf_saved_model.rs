//! A SavedModel's `saved_model.pb` (SavedModel: schema version, MetaGraphDefs) and `fingerprint.pb`
//! (FingerprintDef: five hashes, a version, a uuid) hold no weights: recognised by their structure so
//! that either file alone gets a sentence saying what it is and what to open with it, never an ONNX error.

use super::protobuf::{Cursor, Fields, Value};
use crate::error::{Error, Result};
use crate::source::{read_vec, ByteSource};

/// fingerprint.pb is about 100 bytes; anything much longer is not one.
const MAX_FINGERPRINT_BYTES: u64 = 1 << 10;
/// SavedModel's only schema version (saved_model_schema_version = 1).
const SCHEMA_VERSION: u8 = 1;

/// What to open instead, said once for both files.
const WEIGHTS_ARE_ELSEWHERE: &str = "its weights are in the variables folder beside it (variables/variables.index and variables/variables.data-00000-of-00001): open the whole SavedModel folder, or those files together with it.";

/// `Err` with the sentence when `source` is a SavedModel graph or fingerprint; `Ok` otherwise.
pub(crate) fn refuse_saved_model_parts(source: &dyn ByteSource) -> Result<()> {
    let head = read_vec(source, 0, source.len().min(16) as usize)?;
    if is_saved_model(&head, source.len()) {
        return Err(Error::UnknownFormat(format!(
            "This is a TensorFlow SavedModel's graph (saved_model.pb), not a checkpoint: {WEIGHTS_ARE_ELSEWHERE}"
        )));
    }
    if source.len() <= MAX_FINGERPRINT_BYTES && is_fingerprint(&read_vec(source, 0, source.len() as usize)?) {
        return Err(Error::UnknownFormat(format!(
            "This is a TensorFlow SavedModel's fingerprint (fingerprint.pb), not a checkpoint: {WEIGHTS_ARE_ELSEWHERE}"
        )));
    }
    Ok(())
}

/// `08 01` (schema version 1), then field 2 (a MetaGraphDef) whose length fits the file, whose own first
/// field is 1 (meta_info_def) or 2 (graph_def). ONNX files start `08 <ir_version>` with ir_version ≥ 3 in
/// practice and a producer name string as field 2; the nested tag tells the rare version-1 ONNX file apart.
pub(crate) fn is_saved_model(head: &[u8], len: u64) -> bool {
    let [0x08, SCHEMA_VERSION, 0x12, rest @ ..] = head else { return false };
    let mut length = 0u64;
    for (i, &byte) in rest.iter().enumerate().take(5) {
        length |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            let first_tag = rest.get(i + 1).copied();
            return 4 + i as u64 + length <= len && matches!(first_tag, Some(0x0a | 0x12));
        }
    }
    false
}

/// Only FingerprintDef's fields with their wire types (1–5 varint hashes, 6 VersionDef, 7 uuid string),
/// the whole file consumed, hashes and version present.
pub(crate) fn is_fingerprint(bytes: &[u8]) -> bool {
    let source = crate::source::SliceSource(bytes);
    let mut cursor = Cursor::new(&source, 0, bytes.len() as u64);
    let mut fields = Fields::new(0, bytes.len() as u64);
    let mut seen = 0u8;
    loop {
        match fields.next(&mut cursor) {
            Ok(Some(field)) => {
                let fits =
                    matches!((field.number, field.value), (1..=5, Value::Varint(_)) | (6 | 7, Value::Bytes { .. }));
                if !fits {
                    return false;
                }
                seen |= 1 << (field.number - 1);
            }
            Ok(None) => return seen & 0b10_0001 == 0b10_0001,
            Err(_) => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_saved_model_parts_from_onnx() {
        assert!(is_saved_model(&[0x08, 0x01, 0x12, 0xce, 0x6b, 0x0a, 0xdc], 20000));
        // Longer than the file: not a SavedModel.
        assert!(!is_saved_model(&[0x08, 0x01, 0x12, 0xce, 0x6b, 0x0a], 200));
        // ONNX: ir_version 8, producer name "pytorch".
        assert!(!is_saved_model(b"\x08\x08\x12\x07pytorch", 20000));
        assert!(!is_saved_model(b"\x08\x01\x12\x07pytorch", 20000));
        let fingerprint = [0x08, 0x05, 0x10, 0x06, 0x18, 0x07, 0x20, 0x08, 0x28, 0x09, 0x32, 0x02, 0x08, 0x01];
        assert!(is_fingerprint(&fingerprint));
        assert!(!is_fingerprint(&fingerprint[..12]));
        // An ONNX header: field 2 is a string there, a varint in a fingerprint.
        assert!(!is_fingerprint(b"\x08\x08\x12\x07pytorch"));
    }
}
