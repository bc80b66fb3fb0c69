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
    assert_eq!(file.names(), ["model/z_kernel", "model/a_single", "model/fixed", "model/implicit", "model/compact"]);
    let k = read_named(&file, "model/z_kernel").unwrap();
    assert_eq!((k.info.dtype.clone(), values(&k)), (DType::F16, ramp(3.0, 24)));
    assert_eq!(values(&read_named(&file, "model/a_single").unwrap()), ramp(4.0, 9));
    assert_eq!(values(&read_named(&file, "model/fixed").unwrap()), ramp(5.0, 20));
    assert_eq!(values(&read_named(&file, "model/implicit").unwrap()), ramp(6.0, 16));
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
