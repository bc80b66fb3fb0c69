use super::*;
use crate::container::protobuf::write_varint as varint;
use crate::source::{Metered, SliceSource};
use crate::tensor::{DType, Values};

/// A minimal protobuf writer for hand-built models.
#[derive(Default, Clone)]
struct Msg(Vec<u8>);

impl Msg {
    fn int(mut self, field: u32, v: u64) -> Self {
        varint(u64::from(field) << 3, &mut self.0);
        varint(v, &mut self.0);
        self
    }
    fn bytes(mut self, field: u32, payload: &[u8]) -> Self {
        varint(u64::from(field) << 3 | 2, &mut self.0);
        varint(payload.len() as u64, &mut self.0);
        self.0.extend_from_slice(payload);
        self
    }
    fn msg(self, field: u32, m: Msg) -> Self {
        self.bytes(field, &m.0)
    }
    fn str(self, field: u32, s: &str) -> Self {
        self.bytes(field, s.as_bytes())
    }
    fn fixed32(mut self, field: u32, v: u32) -> Self {
        varint(u64::from(field) << 3 | 5, &mut self.0);
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
}

fn tensor(name: &str, data_type: u64, dims: &[u64]) -> Msg {
    dims.iter().fold(Msg::default(), |m, &d| m.int(1, d)).int(2, data_type).str(8, name)
}

fn model(graph: Msg) -> Vec<u8> {
    let opset = Msg::default().str(1, "").int(2, 17);
    Msg::default().int(1, 8).str(2, "pytorch").str(3, "2.5").msg(7, graph).msg(8, opset).0
}

fn open_bytes(bytes: Vec<u8>, companions: &[NamedSource]) -> Result<Onnx> {
    Onnx::open(Rc::new(SliceSource(bytes)), companions)
}

fn f32s(values: &Values) -> Vec<f32> {
    match values {
        Values::F32(v) => v.clone(),
        Values::F64(v) => v.iter().map(|&x| x as f32).collect(),
    }
}

/// A model with one of each storage: raw float32, packed and unpacked float_data, float16 bits in
/// int32_data, double_data, a Constant node, an If subgraph holding an initializer, a sparse one.
fn every_storage() -> Vec<u8> {
    let raw: Vec<u8> = (0..24).flat_map(|i| (i as f32).to_le_bytes()).collect();
    let packed: Vec<u8> = [1.5f32, -2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
    let halves: Vec<u8> = [1.0f32, -2.0, 0.5].iter().fold(Vec::new(), |mut out, &v| {
        varint(u64::from(half::f16::from_f32(v).to_bits()), &mut out);
        out
    });
    let doubles: Vec<u8> = [0.1f64, 0.2].iter().flat_map(|v| v.to_le_bytes()).collect();
    let constant = Msg::default()
        .str(2, "/stem/Constant_output_0")
        .str(4, "Constant")
        .msg(5, Msg::default().str(1, "value").msg(5, tensor("", 1, &[2]).bytes(9, &packed)));
    let branch = Msg::default().str(2, "then").msg(5, tensor("branch.weight", 1, &[1]).bytes(9, &packed[..4]));
    let if_node = Msg::default().str(4, "If").msg(5, Msg::default().str(1, "then_branch").msg(6, branch));
    let sparse = Msg::default().msg(1, tensor("sparse.weight", 1, &[1]).bytes(9, &packed[..4])).int(3, 4).int(3, 4);
    let graph = Msg::default()
        .msg(1, constant)
        .msg(1, if_node)
        .str(2, "main_graph")
        .msg(5, tensor("conv.weight", 1, &[2, 3, 2, 2]).bytes(9, &raw))
        .msg(5, tensor("packed", 1, &[2]).bytes(4, &packed))
        .msg(5, tensor("unpacked", 1, &[2]).fixed32(4, 1.5f32.to_bits()).fixed32(4, (-2.0f32).to_bits()))
        .msg(5, tensor("half", 10, &[3]).bytes(5, &halves))
        .msg(5, tensor("double", 11, &[2]).bytes(10, &doubles))
        .msg(5, tensor("steps", 7, &[1]).bytes(7, &[3]))
        .msg(15, sparse);
    model(graph)
}

#[test]
fn lists_every_weight_in_file_order_and_reads_each_storage() {
    let onnx = open_bytes(every_storage(), &[]).unwrap();
    let names = ["/stem/Constant_output_0", "branch.weight", "conv.weight", "packed", "unpacked", "half", "double"];
    assert_eq!(&onnx.names()[..7], names);
    assert_eq!(&onnx.names()[7..], ["steps", "sparse.weight"]);
    assert_eq!(onnx.info(2).unwrap().shape, [2, 3, 2, 2]);
    assert_eq!(onnx.info(7).unwrap().dtype, DType::Other("int64".into()));
    assert_eq!(f32s(&onnx.read(0).unwrap().values), [1.5, -2.0]);
    assert_eq!(f32s(&onnx.read(1).unwrap().values), [1.5]);
    assert_eq!(f32s(&onnx.read(2).unwrap().values), (0..24).map(|i| i as f32).collect::<Vec<_>>());
    assert_eq!(f32s(&onnx.read(3).unwrap().values), [1.5, -2.0]);
    assert_eq!(f32s(&onnx.read(4).unwrap().values), [1.5, -2.0]);
    assert_eq!(f32s(&onnx.read(5).unwrap().values), [1.0, -2.0, 0.5]);
    assert_eq!(onnx.read(6).unwrap().values, Values::F64(vec![0.1, 0.2]));
    assert!(matches!(onnx.read(7), Err(Error::NotDrawable(_))));
    let sparse = onnx.info(8).unwrap_err().to_string();
    assert!(sparse.contains("sparse.weight is a sparse tensor"), "{sparse}");
    assert_eq!(onnx.notes(), ["ONNX model written by pytorch 2.5 (IR version 8, opset 17), graph main_graph."]);
    assert_eq!((onnx.format(), onnx.layout()), ("onnx", KernelLayout::Oihw));
}

#[test]
fn detection_needs_a_plausible_ir_version_and_a_graph() {
    assert!(looks_like_model(&every_storage()[..8]));
    assert!(!looks_like_model(b"\x08\x00abc") && !looks_like_model(b"\x08\xc8\x01") && !looks_like_model(b"\x89PNG"));
    // A safetensors file whose JSON header is 264 bytes long starts with the same two bytes.
    assert!(!looks_like_model(b"\x08\x01\x00\x00\x00\x00\x00\x00"));
    let no_graph = Msg::default().int(1, 8).str(2, "pytorch").0;
    assert!(matches!(open_bytes(no_graph, &[]), Err(Error::UnknownFormat(_))));
    let via_open = super::super::open(Rc::new(SliceSource(every_storage()))).unwrap();
    assert_eq!(via_open.format(), "onnx");
}

#[test]
fn external_data_is_read_from_the_companion_by_base_name() {
    let values: Vec<u8> = [7.0f32, 8.0, 9.0].iter().flat_map(|v| v.to_le_bytes()).collect();
    let mut data = vec![0u8; 4096];
    data.extend_from_slice(&values);
    let entry = |k: &str, v: &str| Msg::default().str(1, k).str(2, v);
    let external = |offset: &str| {
        let t = tensor("ext.weight", 1, &[3]).msg(13, entry("location", "sub/model.onnx.data"));
        model(Msg::default().msg(5, t.msg(13, entry("offset", offset)).msg(13, entry("length", "12")).int(14, 1)))
    };
    let companion =
        |bytes: Vec<u8>| NamedSource { name: "model.onnx.data".into(), source: Rc::new(SliceSource(bytes)) };

    let alone = open_bytes(external("4096"), &[]).unwrap();
    assert_eq!(alone.info(0).unwrap().shape, [3]);
    let err = alone.read(0).unwrap_err().to_string();
    assert_eq!(
        err,
        "Tensor ext.weight is stored in a separate file, model.onnx.data; drop it together with the .onnx file."
    );
    assert!(alone.notes()[1].contains("model.onnx.data"), "{:?}", alone.notes());

    let metered = Rc::new(Metered::new(SliceSource(data.clone())));
    let stats = metered.stats();
    let with =
        open_bytes(external("4096"), &[NamedSource { name: "model.onnx.data".into(), source: metered }]).unwrap();
    assert_eq!(f32s(&with.read(0).unwrap().values), [7.0, 8.0, 9.0]);
    assert_eq!((stats.reads(), stats.bytes()), (1, 12));
    assert_eq!(with.notes().len(), 1);

    let past = open_bytes(external("4092"), &[companion(data[..4100].to_vec())]).unwrap();
    let err = past.read(0).unwrap_err();
    assert!(matches!(err, Error::Truncated(_)) && err.to_string().contains("only 4100 bytes long"), "{err}");
    let bad = open_bytes(external("12x"), &[companion(data)]).unwrap();
    assert!(bad.read(0).unwrap_err().to_string().contains("'12x' is not a number"));
}

#[test]
fn shape_and_data_disagreements_are_errors() {
    let four = [0u8; 16];
    let cases = [
        tensor("short", 1, &[2, 3]).bytes(9, &four),
        tensor("long", 1, &[2]).bytes(9, &four),
        tensor("few", 1, &[5]).bytes(4, &four),
        tensor("many", 1, &[3]).bytes(4, &four),
        tensor("absent", 1, &[3]),
        tensor("huge", 1, &[1 << 40, 1 << 40]).bytes(9, &four),
        tensor("negative", 1, &[u64::MAX]).bytes(9, &four),
    ];
    for case in cases {
        let bytes = model(Msg::default().msg(5, case));
        let result = open_bytes(bytes, &[]).and_then(|onnx| onnx.read(0));
        let err = result.expect_err("an error");
        assert!(err.to_string().ends_with('.'), "{err}");
    }
}

#[test]
fn every_cut_and_every_flipped_byte_is_an_error_or_a_listing() {
    let bytes = every_storage();
    for cut in 0..bytes.len() {
        if let Ok(onnx) = open_bytes(bytes[..cut].to_vec(), &[]) {
            for i in 0..onnx.names().len() {
                let _ = onnx.read(i);
            }
        }
    }
    let cut = open_bytes(bytes[..bytes.len() - 3].to_vec(), &[]).err().unwrap();
    assert!(matches!(cut, Error::Truncated(_)), "{cut}");
    for at in 0..bytes.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut damaged = bytes.clone();
            damaged[at] ^= flip;
            if let Ok(onnx) = open_bytes(damaged, &[]) {
                for i in 0..onnx.names().len() {
                    let _ = (onnx.info(i), onnx.read(i));
                }
            }
        }
    }
}

#[test]
fn deep_subgraphs_are_skipped_not_recursed() {
    let mut graph = Msg::default().msg(5, tensor("deep.weight", 1, &[1]).bytes(9, &[0; 4]));
    for _ in 0..10_000 {
        let attribute = Msg::default().str(1, "body").msg(6, graph);
        graph = Msg::default().msg(1, Msg::default().str(4, "Loop").msg(5, attribute));
    }
    let onnx = open_bytes(model(graph), &[]).unwrap();
    assert!(onnx.names().is_empty());
    assert!(onnx.notes()[1].contains("nested more than 16 deep"), "{:?}", onnx.notes());
}

#[test]
fn opening_reads_headers_not_payloads() {
    let big = vec![0u8; 4 << 20];
    let mut graph = Msg::default();
    for i in 0..8 {
        graph = graph.msg(5, tensor(&format!("w{i}"), 1, &[1 << 20]).bytes(9, &big));
    }
    let source = Metered::new(SliceSource(model(graph)));
    let stats = source.stats();
    let onnx = Onnx::open(Rc::new(source), &[]).unwrap();
    assert_eq!(onnx.names().len(), 8);
    // One read per tensor header (each lies past a 4 MiB payload), each a small buffer.
    assert!(stats.reads() <= 9 && stats.bytes() <= 9 * (16 << 10), "{} reads, {} bytes", stats.reads(), stats.bytes());
    onnx.read(3).unwrap();
    assert_eq!(stats.reads(), 10);
}
