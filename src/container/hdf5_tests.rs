use super::*;
use crate::source::{Metered, SliceSource};
use crate::tensor::{DType, Values};

fn seed(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/hdf5").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn open_bytes(bytes: Vec<u8>) -> Result<Hdf5> {
    Hdf5::open(Rc::new(SliceSource(bytes)))
}

/// `seed + 0.25 i` for i in 0..n, as seeds_hdf5.py writes.
fn ramp(seed: f64, n: usize) -> Vec<f64> {
    (0..n).map(|i| seed + 0.25 * i as f64).collect()
}

fn values(t: &Tensor) -> Vec<f64> {
    match &t.values {
        Values::F32(v) => v.iter().map(|&x| f64::from(x)).collect(),
        Values::F64(v) => v.clone(),
    }
}

fn read_named(file: &Hdf5, name: &str) -> Result<Tensor> {
    let i = file.names().iter().position(|n| n == name).unwrap_or_else(|| panic!("no {name} in {:?}", file.names()));
    file.read(i)
}

#[test]
fn reads_an_earliest_file_symbol_tables_and_v1_headers() {
    let file = open_bytes(seed("earliest.h5")).unwrap();
    assert_eq!(file.names(), ["conv/conv/bias:0", "conv/conv/kernel:0", "dense/kernel", "steps"]);
    let kernel = read_named(&file, "conv/conv/kernel:0").unwrap();
    assert_eq!((kernel.info.dtype.clone(), kernel.info.shape.clone()), (DType::F32, vec![2, 2, 3, 2]));
    assert_eq!(values(&kernel), ramp(0.0, 24));
    assert_eq!(values(&read_named(&file, "conv/conv/bias:0").unwrap()), ramp(1.0, 2));
    // Chunked (2, 1) over (3, 2), gzip + shuffle, big-endian: edge chunks trimmed.
    assert_eq!(values(&read_named(&file, "dense/kernel").unwrap()), ramp(2.0, 6));
    assert_eq!(file.info(3).unwrap().dtype, DType::Other("int32".into()));
    assert!(matches!(file.read(3), Err(Error::NotDrawable(_))));
    assert_eq!((file.format(), file.layout_is_stated()), ("hdf5", false));
    assert_eq!(
        file.notes(),
        ["HDF5 attributes of the file: count = -3; keras_version = 2.15.0; layer_names = 2 strings; scale = 2 numbers."]
    );
}

#[test]
fn reads_attributes_of_every_kind() {
    let file = Hdf5File::open(Rc::new(SliceSource(seed("earliest.h5")))).unwrap();
    let root = file.root();
    assert_eq!(file.attribute_names(root).unwrap(), ["count", "keras_version", "layer_names", "scale"]);
    let get = |name| file.attribute(root, name).unwrap().unwrap();
    assert_eq!(get("layer_names"), Attribute::Strings(vec!["conv".into(), "dense".into()]));
    assert_eq!(get("keras_version"), Attribute::Strings(vec!["2.15.0".into()]));
    assert_eq!(get("count"), Attribute::Ints(vec![-3]));
    assert_eq!(get("scale"), Attribute::Floats(vec![0.5, 2.0]));
    assert_eq!(file.attribute(root, "missing").unwrap(), None);
    let conv = file.lookup("conv/conv").unwrap().unwrap();
    let links = file.children(conv).unwrap();
    assert_eq!(
        links.iter().map(|l| (l.name.as_str(), l.kind)).collect::<Vec<_>>(),
        [("bias:0", LinkKind::Dataset), ("kernel:0", LinkKind::Dataset)]
    );
    assert_eq!(file.lookup("/conv").unwrap().map(|o| file.kind(o).unwrap()), Some(LinkKind::Group));
    assert_eq!(file.lookup("conv/nothing").unwrap(), None);
    let dataset = file.dataset(links[1].target, "k").unwrap();
    assert_eq!(values(&file.read(&dataset).unwrap()), ramp(0.0, 24));
}

#[test]
fn reads_a_latest_file_link_messages_and_v4_chunk_indexes() {
    let file = open_bytes(seed("latest.h5")).unwrap();
    // track_order=True: creation order, not name order.
    assert_eq!(
        file.names(),
        [
            "model/z_kernel",
            "model/a_single",
            "model/fixed",
            "model/array",
            "model/single",
            "model/implicit",
            "model/compact"
        ]
    );
    let k = read_named(&file, "model/z_kernel").unwrap();
    assert_eq!((k.info.dtype.clone(), values(&k)), (DType::F16, ramp(3.0, 24)));
    assert_eq!(values(&read_named(&file, "model/a_single").unwrap()), ramp(4.0, 9));
    assert_eq!(values(&read_named(&file, "model/fixed").unwrap()), ramp(5.0, 20));
    assert_eq!(values(&read_named(&file, "model/array").unwrap()), ramp(6.0, 16));
    assert_eq!(values(&read_named(&file, "model/single").unwrap()), ramp(7.0, 6));
    assert_eq!(values(&read_named(&file, "model/implicit").unwrap()), ramp(8.0, 12));
    assert_eq!(values(&read_named(&file, "model/compact").unwrap()), vec![1.0, 2.0, 3.0]);
}

#[test]
fn reads_dense_links_and_attributes() {
    let file = Hdf5File::open(Rc::new(SliceSource(seed("dense.h5")))).unwrap();
    let names: Vec<String> = file.children(file.root()).unwrap().into_iter().map(|l| l.name).collect();
    let mut expected: Vec<String> = (0..12).map(|i| format!("w{i:02}")).collect();
    expected.insert(0, "ordered".into());
    assert_eq!(names, expected);
    let ordered = file.lookup("ordered").unwrap().unwrap();
    let names: Vec<String> = file.children(ordered).unwrap().into_iter().map(|l| l.name).collect();
    assert_eq!(names, ["zeta", "alpha", "mid", "beta", "eta", "theta", "iota", "kappa", "lambda", "mu"]);
    assert_eq!(file.attribute_names(ordered).unwrap()[..3], ["zeta", "alpha", "mid"]);
    assert_eq!(file.attribute(ordered, "lambda").unwrap(), Some(Attribute::Ints(vec![6])));
    assert_eq!(file.attribute_names(file.root()).unwrap().len(), 13);
    assert_eq!(file.attribute(file.root(), "attr07").unwrap(), Some(Attribute::Strings(vec!["value 7".into()])));
    assert_eq!(
        file.attribute(file.root(), "names").unwrap(),
        Some(Attribute::Strings(vec!["a".into(), "bb".into(), "ccc".into()]))
    );
    let notes = open_bytes(seed("dense.h5")).unwrap().notes();
    assert!(
        notes[0].starts_with("HDF5 attributes of the file: attr00 = value 0;") && notes[0].ends_with("(and 7 more).")
    );
    let w = file.lookup("w05").unwrap().unwrap();
    assert_eq!(values(&file.read(&file.dataset(w, "w05").unwrap()).unwrap()), vec![5.0, 5.0]);
}

#[test]
fn a_contiguous_read_is_one_read_of_its_bytes() {
    let source = Rc::new(Metered::new(SliceSource(seed("earliest.h5"))));
    let stats = source.stats();
    let file = Hdf5::open(source).unwrap();
    let (reads, bytes) = (stats.reads(), stats.bytes());
    read_named(&file, "conv/conv/kernel:0").unwrap();
    assert_eq!((stats.reads() - reads, stats.bytes() - bytes), (1, 96));
}

#[test]
fn the_seeds_cover_each_chunk_index() {
    let file = open_bytes(seed("latest.h5")).unwrap();
    let index: Vec<String> = (0..file.names().len())
        .map(|i| match &file.dataset(i).unwrap().storage.layout {
            Layout::Chunked { index, .. } => format!("{index:?}"),
            other => format!("{other:?}"),
        })
        .map(|s| s.split([' ', '(']).next().unwrap_or_default().to_string())
        .collect();
    assert_eq!(index, ["Contiguous", "Single", "FixedArray", "FixedArray", "Single", "Implicit", "Compact"]);
}

#[test]
fn refuses_what_it_does_not_read_by_name() {
    let file = open_bytes(seed("refused.h5")).unwrap();
    let err = |name: &str| {
        let e = read_named(&file, name).unwrap_err().to_string();
        assert!(e.ends_with('.') && !e.contains('\n'), "{e}");
        e
    };
    assert!(err("growable").contains("extensible array"));
    assert!(err("lzf").contains("LZF"));
    assert!(err("checksummed").contains("Fletcher32"));
    assert_eq!(values(&read_named(&file, "plain").unwrap()), ramp(9.0, 2));
    assert!(err("unwritten").contains("never written"));
    assert!(err("unwritten_chunks").contains("never written"));
}

/// One sentence: ends with a full stop, no line breaks, no panic text.
fn sentence(e: Error) -> String {
    let text = e.to_string();
    assert!(text.ends_with('.') && !text.contains('\n') && text.len() > 10, "not one sentence: {text}");
    text
}

fn find(bytes: &[u8], pattern: &[u8]) -> usize {
    bytes.windows(pattern.len()).position(|w| w == pattern).expect("pattern in the file")
}

#[cfg(target_pointer_width = "64")] // only the 2^40-row test, which is 64-bit only
fn u64s(values: &[u64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

#[test]
fn a_hard_link_to_an_ancestor_is_listed_once() {
    let file = open_bytes(seed("cycle.h5")).unwrap();
    assert_eq!(file.names(), ["a/b/w"]);
    let raw = Hdf5File::open(Rc::new(SliceSource(seed("cycle.h5")))).unwrap();
    let up = raw.lookup("a/b/up/b/up/b").unwrap().unwrap();
    assert_eq!(Some(up), raw.lookup("a/b").unwrap());
}

#[test]
fn addresses_past_the_end_are_sentences() {
    // Superblock v0 with 8-byte fields: the root's symbol table entry holds its header address at 64.
    let mut bytes = seed("earliest.h5");
    bytes[64..72].copy_from_slice(&0xffff_fff0u64.to_le_bytes());
    assert!(sentence(open_bytes(bytes).err().unwrap()).contains("past its end"));
    let mut bytes = seed("earliest.h5");
    bytes[64..72].copy_from_slice(&3u64.to_le_bytes());
    assert!(sentence(open_bytes(bytes).err().unwrap()).contains("no HDF5 object header"));
}

#[test]
#[cfg(target_pointer_width = "64")] // 2^40 is no usize on wasm32, where the dimension itself is refused
fn a_huge_dataspace_is_refused_before_allocating() {
    let mut bytes = seed("earliest.h5");
    // The kernel's dataspace: dims (2, 2, 3, 2); claim 2^40 rows instead.
    let at = find(&bytes, &u64s(&[2, 2, 3, 2]));
    bytes[at..at + 8].copy_from_slice(&(1u64 << 40).to_le_bytes());
    let file = open_bytes(bytes).unwrap();
    let i = file.names().iter().position(|n| n.ends_with("kernel:0")).unwrap();
    assert_eq!(file.info(i).unwrap().shape, [1 << 40, 2, 3, 2]);
    assert!(matches!(file.read(i), Err(Error::TooLarge(_))));
}

#[test]
fn a_contiguous_size_smaller_than_the_shape_is_a_sentence() {
    let mut bytes = seed("earliest.h5");
    // Layout v3, contiguous: version 3, class 1, address, size 96 (2·2·3·2 float32).
    let mut pattern = vec![3u8, 1];
    let at = (0..bytes.len() - 18)
        .find(|&i| bytes[i..i + 2] == pattern[..] && bytes[i + 10..i + 18] == 96u64.to_le_bytes())
        .expect("the kernel's layout message");
    bytes[at + 10..at + 18].copy_from_slice(&95u64.to_le_bytes());
    pattern.clear();
    let file = open_bytes(bytes).unwrap();
    let i = file.names().iter().position(|n| n.ends_with("kernel:0")).unwrap();
    assert!(sentence(file.read(i).unwrap_err()).contains("stores 95 bytes"));
}

#[test]
fn a_b_tree_node_pointing_at_itself_is_caught() {
    let mut bytes = seed("earliest.h5");
    let at = find(&bytes, b"TREE\x00");
    bytes[at + 5] = 1; // level 1: its child is read as a node
    bytes[at + 32..at + 40].copy_from_slice(&(at as u64).to_le_bytes());
    let text = sentence(open_bytes(bytes).err().unwrap());
    assert!(text.contains("B-tree"), "{text}");
}

#[test]
fn a_deflate_bomb_stops_at_the_chunk_size() {
    use flate2::{write::ZlibEncoder, Compression};
    use std::io::Write;
    let mut encoder = ZlibEncoder::new(Vec::new(), Compression::best());
    encoder.write_all(&vec![0u8; 16 << 20]).unwrap();
    let bomb = encoder.finish().unwrap();
    assert!(bomb.len() < 20_000);
    let text = sentence(super::hdf5_data::inflate(&bomb, 4096).unwrap_err());
    assert!(text.contains("more than its 4096 bytes"), "{text}");
    assert_eq!(super::hdf5_data::inflate(&bomb, 16 << 20).unwrap().len(), 16 << 20);
    assert!(super::hdf5_data::inflate(&bomb[..bomb.len() / 2], 16 << 20).is_err());
}

#[test]
fn every_cut_of_every_seed_fails_or_reads_without_panic() {
    for name in ["earliest.h5", "latest.h5", "dense.h5", "cycle.h5", "refused.h5"] {
        let bytes = seed(name);
        for cut in 0..bytes.len() {
            match open_bytes(bytes[..cut].to_vec()) {
                Err(e) => {
                    sentence(e);
                }
                Ok(file) => {
                    for i in 0..file.names().len() {
                        if let Err(e) = file.read(i) {
                            sentence(e);
                        }
                    }
                }
            }
        }
    }
}

/// The fuzz entry survives every cut of the committed seeds too.
#[test]
fn fuzz_seeds_open_and_survive_cuts() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/hdf5");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let file = open_bytes(bytes.clone()).unwrap();
        assert!((0..file.names().len()).any(|i| file.read(i).is_ok()));
        for cut in (0..bytes.len()).step_by(97) {
            crate::fuzzing::hdf5(&bytes[..cut]);
        }
        seen += 1;
    }
    assert!(seen >= 5, "only {seen} seeds");
}
