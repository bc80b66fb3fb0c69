use super::*;
use crate::source::{Metered, SliceSource};
use crate::tensor::Values;

/// A minimal GGUF writer for tests, little- or big-endian.
struct Writer {
    big: bool,
    out: Vec<u8>,
}

impl Writer {
    fn new(big: bool, version: u32, tensors: u64, kvs: u64) -> Self {
        let mut w = Writer { big, out: b"GGUF".to_vec() };
        w.u32(version);
        w.u64(tensors);
        w.u64(kvs);
        w
    }
    fn u32(&mut self, v: u32) -> &mut Self {
        self.out.extend_from_slice(&if self.big { v.to_be_bytes() } else { v.to_le_bytes() });
        self
    }
    fn u64(&mut self, v: u64) -> &mut Self {
        self.out.extend_from_slice(&if self.big { v.to_be_bytes() } else { v.to_le_bytes() });
        self
    }
    fn str(&mut self, s: &str) -> &mut Self {
        self.u64(s.len() as u64);
        self.out.extend_from_slice(s.as_bytes());
        self
    }
    fn kv_str(&mut self, key: &str, value: &str) -> &mut Self {
        self.str(key).u32(8).str(value)
    }
    fn kv_u32(&mut self, key: &str, value: u32) -> &mut Self {
        self.str(key).u32(4).u32(value)
    }
    fn tensor(&mut self, name: &str, ne: &[u64], type_number: u32, offset: u64) -> &mut Self {
        self.str(name).u32(ne.len() as u32);
        for &d in ne {
            self.u64(d);
        }
        self.u32(type_number).u64(offset)
    }
    fn pad(&mut self, alignment: usize) -> &mut Self {
        while self.out.len() % alignment != 0 {
            self.out.push(0);
        }
        self
    }
}

/// A projector-like file: notes keys, arrays to skip, an f32 (4, 3, 2, 2) kernel valued 0..48, an
/// i32 tensor and a Q8_0 one.
fn sample(big: bool) -> Vec<u8> {
    let mut w = Writer::new(big, 3, 3, 7);
    w.kv_str("general.architecture", "clip").kv_str("general.name", "tiny projector");
    w.kv_u32("clip.vision.image_size", 224).kv_u32("clip.vision.patch_size", 14);
    w.str("tokenizer.scores").u32(9).u32(6).u64(3).u32(0).u32(0).u32(0); // f32 array, skipped by length
    w.str("tokenizer.tokens").u32(9).u32(8).u64(2).str("a").str("bc"); // strings, walked
    w.str("nested").u32(9).u32(9).u64(1).u32(0).u64(2); // an array of one u8 array
    w.out.extend_from_slice(&[1, 2]);
    w.tensor("v.patch_embd.weight", &[2, 2, 3, 4], 0, 0);
    w.tensor("v.steps", &[2], 26, 192);
    w.tensor("v.q", &[32, 2], 8, 224);
    w.pad(32);
    for v in 0..48 {
        let v = v as f32;
        w.out.extend_from_slice(&if big { v.to_be_bytes() } else { v.to_le_bytes() });
    }
    w.out.extend_from_slice(&[0; 32]); // v.steps, padded
    w.out.extend_from_slice(&[0; 68]); // two Q8_0 blocks
    w.out
}

fn open_bytes(bytes: Vec<u8>) -> Result<Gguf> {
    Gguf::open(Rc::new(SliceSource(bytes)))
}

fn err_of(bytes: Vec<u8>) -> String {
    let text = open_bytes(bytes).err().expect("should fail").to_string();
    assert!(text.ends_with('.') && !text.contains('\n'), "not one sentence: {text}");
    text
}

#[test]
fn lists_in_info_order_with_pytorch_shapes_and_reads_one_tensor() {
    for big in [false, true] {
        let source = Rc::new(Metered::new(SliceSource(sample(big))));
        let stats = source.stats();
        let file = Gguf::open(source).unwrap();
        assert_eq!(stats.reads(), 1, "the header comes in one read");
        assert_eq!(file.names(), ["v.patch_embd.weight", "v.steps", "v.q"]);
        let infos: Vec<TensorInfo> = (0..3).map(|i| file.info(i).unwrap()).collect();
        assert_eq!(infos[0].shape, vec![4, 3, 2, 2]);
        assert_eq!(infos[1].dtype, DType::Other("int32".into()));
        assert_eq!((infos[2].dtype.clone(), infos[2].shape.clone()), (DType::Quantized("Q8_0".into()), vec![2, 32]));
        let values = file.read(0).unwrap().values;
        assert_eq!(values, Values::F32((0..48).map(|v| v as f32).collect()));
        assert_eq!(stats.reads(), 2);
        assert!(matches!(file.read(1), Err(Error::NotDrawable(_))));
        assert!(matches!(file.read(2), Err(Error::NotDrawable(_))));
        let mut notes = vec![
            "Model: architecture clip, name tiny projector.".to_string(),
            "CLIP vision encoder: image size 224, patch size 14.".to_string(),
        ];
        if big {
            notes.push("This GGUF file is big-endian.".into());
        }
        assert_eq!(file.notes(), notes);
        assert_eq!((file.format(), file.layout()), ("gguf", KernelLayout::Oihw));
    }
}

#[test]
fn every_cut_of_a_valid_file_is_an_error() {
    let bytes = sample(false);
    for cut in 0..bytes.len() {
        assert!(open_bytes(bytes[..cut].to_vec()).is_err(), "cut at {cut} opened");
    }
}

#[test]
fn versions_one_and_four_are_refused_by_name() {
    assert!(err_of(Writer::new(false, 1, 0, 0).out).contains("version 1"));
    assert!(err_of(Writer::new(false, 4, 0, 0).out).contains("GGUF version 4 is not supported"));
    assert!(open_bytes(Writer::new(false, 2, 0, 0).out).unwrap().names().is_empty());
}

#[test]
fn lying_counts_offsets_and_types_are_sentences() {
    assert!(err_of(Writer::new(false, 3, 1 << 40, 0).out).contains("claims 1099511627776 tensors"));
    let mut many = Writer::new(false, 3, 60_000, 0).out;
    many.resize(many.len() + 60_000 * 24 - 1, 0);
    assert!(err_of(many).contains("more than the file's"));
    assert!(err_of(Writer::new(false, 3, 0, 1 << 40).out).contains("metadata entries"));
    let one = |ne: &[u64], type_number: u32, offset: u64, data: usize| {
        let mut w = Writer::new(false, 3, 1, 0);
        w.tensor("k", ne, type_number, offset).pad(32);
        w.out.resize(w.out.len() + data, 0);
        w.out
    };
    assert!(open_bytes(one(&[4], 0, 0, 16)).is_ok());
    assert!(err_of(one(&[4], 0, 0, 15)).contains("run past the end"));
    assert!(err_of(one(&[4], 0, 32, 16)).contains("run past the end"));
    assert!(err_of(one(&[4], 0, 8, 64)).contains("not a multiple of the file's alignment 32"));
    assert!(err_of(one(&[u64::MAX, 2], 0, 0, 64)).contains("overflows"));
    assert!(err_of(one(&[16], 8, 0, 64)).contains("not a whole number of 32-value blocks"));
    assert!(err_of(one(&[1, 1, 1, 1, 1], 0, 0, 64)).contains("5 dimensions"));
    let unknown = open_bytes(one(&[4], 99, 0, 0)).unwrap();
    assert_eq!(unknown.info(0).unwrap().dtype, DType::Quantized("ggml type 99".into()));
    let mut twice = Writer::new(false, 3, 2, 0);
    twice.tensor("k", &[1], 0, 0).tensor("k", &[1], 0, 32).pad(32);
    twice.out.resize(twice.out.len() + 64, 0);
    assert!(err_of(twice.out).contains("two tensors named k"));
}

#[test]
fn bad_metadata_is_a_sentence() {
    let mut w = Writer::new(false, 3, 0, 1);
    w.str("odd").u32(13).u32(0);
    assert!(err_of(w.out).contains("value type 13"));
    let mut w = Writer::new(false, 3, 0, 1);
    w.kv_u32("general.alignment", 48);
    assert!(err_of(w.out).contains("not a power of two"));
    let mut w = Writer::new(false, 3, 0, 1);
    w.str("general.alignment").u32(10).u64(64);
    assert!(err_of(w.out).contains("not a u32"));
    let mut w = Writer::new(false, 3, 0, 1);
    w.str("deep").u32(9);
    for _ in 0..10 {
        w.u32(9).u64(1); // an array whose one element is an array …
    }
    w.out.resize(w.out.len() + 100, 0);
    assert!(err_of(w.out).contains("nests arrays"));
    let mut w = Writer::new(false, 3, 0, 2);
    w.kv_u32("general.alignment", 32).kv_u32("general.alignment", 64);
    assert!(err_of(w.out).contains("general.alignment twice"));
    let mut w = Writer::new(false, 3, 0, 1);
    w.str("huge").u32(9).u32(12).u64(u64::MAX / 4);
    let text = err_of(w.out);
    assert!(text.contains("elements, more than any file holds"), "{text}");
    let mut w = Writer::new(false, 3, 0, 1);
    w.u64(1 << 40);
    w.out.resize(w.out.len() + 100, 0);
    assert!(err_of(w.out).contains("more than the 65535"));
}

#[test]
fn custom_alignment_places_the_data() {
    let mut w = Writer::new(false, 3, 1, 1);
    w.kv_u32("general.alignment", 64).tensor("k", &[2], 0, 64).pad(64);
    w.out.resize(w.out.len() + 64, 0);
    w.out.extend_from_slice(&[0, 0, 0x80, 0x3f, 0, 0, 0, 0x40]);
    assert_eq!(open_bytes(w.out).unwrap().read(0).unwrap().values, Values::F32(vec![1.0, 2.0]));
}

/// An LLM-sized tokenizer (200k strings, ~2.6 MB) is walked in a handful of large reads.
#[test]
fn a_huge_tokenizer_costs_a_few_reads() {
    let mut w = Writer::new(false, 3, 1, 2);
    w.str("tokenizer.ggml.tokens").u32(9).u32(8).u64(200_000);
    for i in 0..200_000 {
        w.str(&format!("tok{i}"));
    }
    w.str("tokenizer.ggml.scores").u32(9).u32(6).u64(200_000);
    w.out.resize(w.out.len() + 800_000, 0);
    w.tensor("conv1.weight", &[1, 1, 3, 2], 0, 0).pad(32);
    w.out.resize(w.out.len() + 24, 0);
    let header_len = w.out.len() as u64;
    let source = Rc::new(Metered::new(SliceSource(w.out)));
    let stats = source.stats();
    let file = Gguf::open(source).unwrap();
    assert_eq!(file.info(0).unwrap().shape, vec![2, 3, 1, 1]);
    // 64 KiB, then 1 MiB chunks; the scores array is skipped by its length, not read.
    assert!(stats.reads() <= 5, "{} reads", stats.reads());
    assert!(stats.bytes() <= header_len + (1 << 20), "{} bytes", stats.bytes());
}

/// The committed fuzz seeds are valid files, and the fuzz entry survives every cut of them.
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn fuzz_seeds_open_and_survive_cuts() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/gguf");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let file = open_bytes(bytes.clone()).unwrap();
        assert!((0..file.names().len()).any(|i| file.read(i).is_ok()));
        for cut in (0..bytes.len()).step_by(7) {
            crate::fuzzing::gguf(&bytes[..cut]);
        }
        seen += 1;
    }
    assert!(seen >= 4, "only {seen} seeds");
}
