use super::*;
use crate::source::{Metered, SliceSource};
use crate::tensor::Values;

/// Pickle opcodes for the values these tests need, protocol 4 style.
#[derive(Default)]
struct Writer(Vec<u8>);

impl Writer {
    fn raw(&mut self, bytes: &[u8]) -> &mut Self {
        self.0.extend_from_slice(bytes);
        self
    }
    fn int(&mut self, v: i64) -> &mut Self {
        match i32::try_from(v) {
            Ok(v) => self.raw(b"J").raw(&v.to_le_bytes()),
            Err(_) => self.raw(b"\x8a\x08").raw(&v.to_le_bytes()),
        }
    }
    fn text(&mut self, s: &str) -> &mut Self {
        self.raw(b"X").raw(&(s.len() as u32).to_le_bytes()).raw(s.as_bytes())
    }
    fn bytes(&mut self, data: &[u8]) -> &mut Self {
        self.raw(b"B").raw(&(data.len() as u32).to_le_bytes()).raw(data)
    }
    fn dtype(&mut self, code: &str, order: &str) -> &mut Self {
        self.raw(b"cnumpy\ndtype\n").text(code).raw(b"\x89\x88\x87R(K\x03").text(order);
        self.raw(b"NNN").int(-1).int(-1).raw(b"K\x00tb")
    }
    /// `_reconstruct` + BUILD as numpy's array_reduce writes it; `data` pushes the payload.
    fn array(&mut self, code: &str, order: &str, shape: &[i64], fortran: bool, data: impl Fn(&mut Self)) -> &mut Self {
        self.raw(b"cnumpy._core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85C\x01b\x87R(K\x01(");
        for &d in shape {
            self.int(d);
        }
        self.raw(b"t").dtype(code, order).raw(if fortran { b"\x88" } else { b"\x89" });
        data(self);
        self.raw(b"tb")
    }
}

fn f32_bytes(values: &[f32], big: bool) -> Vec<u8> {
    values.iter().flat_map(|v| if big { v.to_be_bytes() } else { v.to_le_bytes() }).collect()
}

/// {'model': {'conv1.weight': <2×3 f32>, 'bias': <3 big-endian f32>}, '__author__': 'x'}
fn detectron_like() -> Vec<u8> {
    let mut w = Writer::default();
    w.raw(b"\x80\x04}(").text("model").raw(b"}(").text("conv1.weight");
    w.array("f4", "<", &[2, 3], false, |w| {
        w.bytes(&f32_bytes(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], false));
    });
    w.text("bias").array("f4", ">", &[3], false, |w| {
        w.bytes(&f32_bytes(&[0.5, -1.0, 2.0], true));
    });
    w.raw(b"u").text("__author__").text("x").raw(b"u.");
    w.0
}

fn open(bytes: Vec<u8>) -> Result<NumpyPickle> {
    NumpyPickle::open(Rc::new(SliceSource(bytes)), 0)
}

fn values(t: &Tensor) -> Vec<f32> {
    match &t.values {
        Values::F32(v) => v.clone(),
        Values::F64(v) => v.iter().map(|&x| x as f32).collect(),
    }
}

#[test]
fn reads_arrays_named_by_their_keys_without_the_wrapper() {
    let file = open(detectron_like()).unwrap();
    assert_eq!(file.names(), ["conv1.weight", "bias"]);
    assert!(file.layout_is_stated(), "detectron2's keys state the layout");
    let conv = file.read(0).unwrap();
    assert_eq!((conv.info.shape.clone(), values(&conv)), (vec![2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]));
    assert_eq!(values(&file.read(1).unwrap()), vec![0.5, -1.0, 2.0], "'>' in the dtype state is big-endian");
    assert!(file.notes().iter().any(|n| n.contains("detectron2")), "{:?}", file.notes());
}

#[test]
fn text_encoded_data_decodes_to_its_bytes() {
    // Protocol 2 under Python 3 writes bytes as `_codecs.encode(text, 'latin1')`: a BINUNICODE whose
    // UTF-8 characters are the bytes; long text is located, short text kept.
    let data: Vec<f32> = (0..2000).map(|i| i as f32 * 0.25 - 7.0).collect();
    let raw = f32_bytes(&data, false);
    let text: String = raw.iter().map(|&b| char::from(b)).collect();
    assert!(text.len() > 4096, "long enough to be located");
    let mut w = Writer::default();
    w.raw(b"\x80\x02}(").text("long").array("f4", "<", &[2000], false, |w| {
        w.raw(b"c_codecs\nencode\n").text(&text).text("latin1").raw(b"\x86R");
    });
    let short: String = f32_bytes(&[1.5, -2.0], false).iter().map(|&b| char::from(b)).collect();
    w.text("short").array("f4", "<", &[2], false, |w| {
        w.raw(b"c_codecs\nencode\n").text(&short).text("latin1").raw(b"\x86R");
    });
    w.raw(b"u.");
    let file = open(w.0).unwrap();
    assert!(!file.layout_is_stated(), "a plain pickle states no layout");
    assert_eq!(values(&file.read(0).unwrap()), data);
    assert_eq!(values(&file.read(1).unwrap()), vec![1.5, -2.0]);
}

#[test]
fn protocol_0_literals_decode() {
    // Python 2 protocol 0: S'...' with escapes for the data (long), then a short one.
    let raw = f32_bytes(&(0..1200).map(|i| (i % 97) as f32).collect::<Vec<_>>(), false);
    let mut literal = b"S'".to_vec();
    for &b in &raw {
        literal.extend_from_slice(format!("\\x{b:02x}").as_bytes());
    }
    literal.extend_from_slice(b"'\n");
    let mut p = b"(dp0\nS'conv1_w'\np1\ncnumpy.core.multiarray\n_reconstruct\np2\n(cnumpy\nndarray\np3\n(I0\ntp4\nS'b'\np5\ntp6\nRp7\n(I1\n(I1200\ntp8\ncnumpy\ndtype\np9\n(S'f4'\np10\nI0\nI1\ntp11\nRp12\n(I3\nS'<'\np13\nNNNI-1\nI-1\nI0\ntp14\nbI00\n".to_vec();
    p.extend_from_slice(&literal);
    p.extend_from_slice(b"tp15\nbs.");
    assert!(looks_like(&p));
    let file = open(p).unwrap();
    assert_eq!(file.names(), ["conv1_w"]);
    assert_eq!(
        file.read(0).unwrap().values,
        crate::tensor::decode_floats(&raw, &DType::F32, ByteOrder::Little).unwrap()
    );
}

#[test]
fn frombuffer_and_scalars_and_fortran() {
    // Protocol 5: _frombuffer(bytearray, dtype, shape, 'F'); a numpy scalar beside it.
    let mut w = Writer::default();
    w.raw(b"\x80\x05}(").text("w").raw(b"cnumpy._core.numeric\n_frombuffer\n(\x96");
    w.raw(&24u64.to_le_bytes()).raw(&f32_bytes(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], false));
    w.dtype("f4", "<").raw(b"K\x02K\x03\x86").text("F").raw(b"tR");
    w.text("lr").raw(b"cnumpy._core.multiarray\nscalar\n").dtype("f8", "<").raw(b"C\x08").raw(&0.5f64.to_le_bytes());
    w.raw(b"\x86Ru.");
    let file = open(w.0).unwrap();
    let t = file.read(0).unwrap();
    assert_eq!((t.order, t.info.shape.clone()), (MemoryOrder::Fortran, vec![2, 3]));
    let lr = file.read(1).unwrap();
    assert_eq!((lr.info.shape.len(), lr.values), (0, Values::F64(vec![0.5])));
}

#[test]
fn dtype_codes_map_as_numpy_names_them() {
    let name = |code: &str| parse_dtype(code, None).map(|(d, _, size)| (d.name().to_string(), size));
    assert_eq!(name("f4"), Some(("float32".into(), 4)));
    assert_eq!(name("<f2"), Some(("float16".into(), 2)));
    assert_eq!(name("e"), Some(("float16".into(), 2)));
    assert_eq!(name("d"), Some(("float64".into(), 8)));
    assert_eq!(name("U3"), Some(("str96".into(), 12)));
    assert_eq!(name("O8"), Some(("object".into(), 8)));
    assert_eq!(name("i8"), Some(("int64".into(), 8)));
    assert_eq!(name("zz"), None);
    assert_eq!(name(""), None);
    assert_eq!(parse_dtype(">f8", None).map(|(_, o, _)| o), Some(ByteOrder::Big));
    assert_eq!(parse_dtype("f8", Some('>')).map(|(_, o, _)| o), Some(ByteOrder::Big));
}

#[test]
fn shapes_that_lie_about_their_data_fail_with_a_sentence() {
    for (shape, len) in [(vec![2i64, 3], 20usize), (vec![2, 3], 28), (vec![1 << 40, 1 << 40], 8), (vec![1 << 62, 4], 0)]
    {
        let mut w = Writer::default();
        w.raw(b"\x80\x04}(").text("k").array("f4", "<", &shape, false, |w| {
            w.bytes(&vec![0u8; len]);
        });
        w.raw(b"u.");
        let file = open(w.0).unwrap();
        let err = file.read(0).unwrap_err().to_string();
        assert!(err.ends_with('.') && err.len() > 20, "{shape:?} {len}: {err}");
    }
}

#[test]
fn hostile_globals_are_named_not_called_and_no_arrays_is_a_sentence() {
    let evil = b"\x80\x02}(X\x01\x00\x00\x00xcposix\nsystem\nX\x07\x00\x00\x00rm -rf \x85Ru.".to_vec();
    let err = open(evil).err().unwrap().to_string();
    assert!(err.contains("no NumPy arrays"), "{err}");
    let mut with_array = detectron_like();
    with_array.truncate(with_array.len() - 2); // before the last SETITEMS and STOP
    with_array.extend_from_slice(b"X\x01\x00\x00\x00ecbuiltins\neval\nX\x01\x00\x00\x001\x85Ru.");
    let file = open(with_array).unwrap();
    assert!(file.notes().iter().any(|n| n.contains("builtins.eval")), "{:?}", file.notes());
}

#[test]
fn every_truncation_and_byte_flip_is_an_error_not_a_panic() {
    let full = detectron_like();
    for cut in 0..full.len() {
        if let Ok(file) = open(full[..cut].to_vec()) {
            panic!("cut at {cut} opened with {:?}", file.names());
        }
    }
    for i in 0..full.len() {
        for v in [0u8, 0xff, b'(', b'.', b'K', 0x8a] {
            let mut b = full.clone();
            b[i] = v;
            if let Ok(file) = open(b) {
                for k in 0..file.names().len() {
                    let _ = (file.info(k), file.read(k));
                }
            }
        }
    }
}

#[test]
fn listing_steps_over_payloads_and_reading_reads_one_range() {
    // Ten 1 MiB arrays: opening reads a few KiB around each header, drawing reads exactly one array.
    let mut w = Writer::default();
    w.raw(b"\x80\x04}(");
    for i in 0..10 {
        w.text(&format!("w{i}")).array("f4", "<", &[1 << 18], false, |w| {
            w.raw(b"\x8e").raw(&(1u64 << 20).to_le_bytes()).raw(&vec![0u8; 1 << 20]);
        });
    }
    w.raw(b"u.");
    let source = Rc::new(Metered::new(SliceSource(w.0)));
    let stats = source.stats();
    let file = NumpyPickle::open(source, 0).unwrap();
    assert_eq!(file.names().len(), 10);
    // The first 64 KiB (which `open_with`'s window already holds), then 4 KiB after each payload.
    assert!(stats.bytes() <= (64 << 10) + 10 * (4 << 10), "opening read {} bytes", stats.bytes());
    assert!(stats.reads() <= 11, "opening took {} reads: one, then one after each payload", stats.reads());
    let before = (stats.reads(), stats.bytes());
    file.read(7).unwrap();
    assert_eq!((stats.reads() - before.0, stats.bytes() - before.1), (1, 1 << 20));
}

#[test]
fn tells_pickles_and_object_npy_files_apart() {
    assert!(looks_like(b"\x80\x04\x95"));
    assert!(looks_like(b"(dp0\nS'a'"));
    assert!(looks_like(b"}q\x00(X"));
    assert!(looks_like(b"cnumpy.core.multiarray\n_reconstruct"));
    assert!(!looks_like(b"\x80\x06"));
    assert!(!looks_like(b"PK\x03\x04"));
    assert!(!looks_like(b"{\"__metadata__\""));
    let dict = "{'descr': '|O', 'fortran_order': False, 'shape': (), }";
    let mut npy = b"\x93NUMPY\x01\x00".to_vec();
    npy.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    npy.extend_from_slice(dict.as_bytes());
    assert_eq!(object_npy_pickle_start(&npy), Some(npy.len() as u64));
    let f4 = String::from_utf8_lossy(&npy).replace("|O", "<f4").into_bytes();
    assert_eq!(object_npy_pickle_start(&f4), None);
    assert_eq!(object_npy_pickle_start(b"\x93NUMPY"), None);
}

#[test]
fn paddle_name_and_array_pairs_are_named_by_their_key() {
    // paddle.save of a tensor: builtins.tuple(('conv2d_0.w_0', array)).
    let mut w = Writer::default();
    w.raw(b"\x80\x04}(").text("conv1.weight").raw(b"cbuiltins\ntuple\n").text("conv2d_0.w_0");
    w.array("f4", "<", &[2], false, |w| {
        w.bytes(&f32_bytes(&[1.0, 2.0], false));
    });
    w.raw(b"\x86\x85Ru.");
    let file = open(w.0).unwrap();
    assert_eq!(file.names(), ["conv1.weight"]);
    assert_eq!(values(&file.read(0).unwrap()), vec![1.0, 2.0]);
    assert!(file.notes().is_empty(), "builtins.tuple is data, not a refused global: {:?}", file.notes());
}

#[test]
fn shared_and_cyclic_graphs_are_walked_in_bounded_time_and_memory() {
    // A list holding itself 60 000 times: every visit would push 60 000 children.
    let mut p = b"\x80\x04]q\x00(".to_vec();
    for _ in 0..60_000 {
        p.extend_from_slice(b"h\x00");
    }
    p.extend_from_slice(b"e.");
    let started = std::time::Instant::now();
    let err = open(p).err().expect("no arrays").to_string();
    assert!(err.contains("no NumPy arrays"), "{err}");
    assert!(started.elapsed().as_secs() < 5, "took {:?}", started.elapsed());
}

#[test]
fn deep_paths_of_long_keys_cost_no_more_than_their_names() {
    // 200 nested dicts keyed by 4000-character names, then 60 000 references to one array: copying
    // each array's path would take 48 GB.
    let key = "k".repeat(4000);
    let mut w = Writer::default();
    w.raw(b"\x80\x04");
    for _ in 0..200 {
        w.raw(b"}").text(&key);
    }
    w.raw(b"](").array("f4", "<", &[1], false, |w| {
        w.bytes(&[0, 0, 128, 63]);
    });
    w.raw(b"\x94");
    for _ in 0..60_000 {
        w.raw(b"h\x00");
    }
    w.raw(b"e");
    for _ in 0..200 {
        w.raw(b"s");
    }
    w.raw(b".");
    let file = open(w.0).unwrap();
    assert_eq!(file.names().len(), 60_001);
    assert!(file.names().iter().all(|n| n.len() <= 1024 + '…'.len_utf8()), "names are cut at 1024 bytes");
    assert_eq!(values(&file.read(60_000).unwrap()), vec![1.0]);
}
