//! Warm-up inputs: small checkpoints written here, in memory, for a caller with an engine that compiles in tiers.
//!
//! V8 runs a wasm function's first calls in its baseline compiler and optimises only the ones that turn out hot;
//! a function in the middle of a long loop keeps its baseline code until its next call. So the first file a page
//! draws runs the decoding, scaling and grid loops at baseline speed (about 4× slower here: 15–25 ms against 4 ms
//! for a ViT-B/16 kernel), and so does the first file of every dtype and layout after it. Drawing these files once,
//! while the page is idle, leaves the optimised code in place for the user's file. They are written by the code
//! below (never embedded), big enough that every hot loop runs long enough to be optimised (V8's budget is a few
//! million executed instructions per function) and small enough to take a few milliseconds each once it is.
//! The same holds for the code that runs once per file: reading an index, picking among its names, the pickle
//! machine. A one-tensor file runs that code too briefly, so the main file of each reader also carries a ViT-B's
//! other tensors, tiny (`companions`): the ~150 names a real checkpoint's index lists.

use crate::container::npy::MAGIC as NPY_MAGIC;

/// The made-up kernel's shape, (kh, kw, c, n): 147 456 values, as many as a quarter of a ViT-B/16's.
const SIDE: usize = 16;
const CHANNELS: usize = 3;
const FILTERS: usize = 192;

#[path = "warm_hdf5.rs"]
mod hdf5;

/// One tensor of a made-up file: its name's parts (joined as the format joins them), shape, and float32 bytes.
struct Member {
    path: Vec<String>,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl Member {
    fn new(path: &[&str], shape: &[usize], data: Vec<u8>) -> Member {
        Member { path: path.iter().map(|p| p.to_string()).collect(), shape: shape.to_vec(), data }
    }

    fn name(&self, separator: &str) -> String {
        self.path.join(separator)
    }
}

/// A ViT-B/16's tensors other than its patch embedding, each a few numbers: 12 blocks of 12 (two norms, attention,
/// MLP) and the 7 around them, named with timm's parts (a format's own separator joins them).
fn companions() -> Vec<Member> {
    let tiny = |shape: &[usize]| {
        let count = shape.iter().product();
        numbers(count).iter().flat_map(|&v| (v as f32).to_le_bytes()).collect::<Vec<u8>>()
    };
    let mut out = Vec::new();
    for (path, shape) in [(vec!["cls_token"], vec![1, 1, 2]), (vec!["pos_embed"], vec![1, 3, 2])] {
        out.push(Member::new(&path, &shape, tiny(&shape)));
    }
    out.push(Member::new(&["patch_embed", "proj", "bias"], &[2], tiny(&[2])));
    for block in 0..12 {
        let block = block.to_string();
        for layer in ["norm1", "attn.qkv", "attn.proj", "norm2", "mlp.fc1", "mlp.fc2"] {
            let matrix = layer.contains('.');
            for (kind, shape) in [("weight", if matrix { vec![2, 2] } else { vec![2] }), ("bias", vec![2])] {
                let mut path = vec!["blocks", block.as_str()];
                path.extend(layer.split('.'));
                path.push(kind);
                out.push(Member::new(&path, &shape, tiny(&shape)));
            }
        }
    }
    for (path, shape) in [
        (vec!["norm", "weight"], vec![2]),
        (vec!["norm", "bias"], vec![2]),
        (vec!["head", "weight"], vec![2, 2]),
        (vec!["head", "bias"], vec![2]),
    ] {
        out.push(Member::new(&path, &shape, tiny(&shape)));
    }
    out
}

/// The companions with the kernel among them, where timm's order puts it (after the tokens and its bias).
fn with_companions(kernel: Member) -> Vec<Member> {
    let mut members = companions();
    members.insert(2, kernel);
    members
}

/// A file to draw once, and how: the name it is opened under and the page's render options, as JSON.
pub struct WarmUpFile {
    pub name: &'static str,
    pub bytes: Vec<u8>,
    pub options: &'static str,
}

/// A fixed, dependency-free run of numbers in [-0.5, 0.5): a linear congruential generator's upper bits.
pub(crate) fn numbers(count: usize) -> Vec<f64> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..count)
        .map(|_| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            ((state >> 11) as f64 / (1u64 << 53) as f64) - 0.5
        })
        .collect()
}

/// HDF5's shuffle filter: the bytes of `element`-byte values regrouped by their place in the value (every first byte,
/// then every second, …), the inverse of the reader's `unshuffle`.
pub(crate) fn shuffle(data: &[u8], element: usize) -> Vec<u8> {
    (0..element).flat_map(|k| data.iter().skip(k).step_by(element).copied()).collect()
}

/// `count` float32s on a coarse grid, shuffled as h5py's shuffle filter stores them: their byte planes hold runs, so
/// a stream of them has matches as well as literals, as a gzip-chunked kernel's has (what the warm-up inflates).
pub(crate) fn coarse_floats_shuffled(count: usize) -> Vec<u8> {
    let floats: Vec<u8> = numbers(count).iter().flat_map(|&v| ((v * 64.0).round() as f32).to_le_bytes()).collect();
    shuffle(&floats, 4)
}

/// The files, one per path through the decoders that a real checkpoint takes: every float width and byte order,
/// C and Fortran order, a kernel stored (kh, kw, c, n) as in JAX and (n, c, kh, kw) as in PyTorch, and the filter
/// views' options; and one per reader whose format is simple to write (npz, npy, safetensors, a PyTorch zip with
/// its pickle, GGUF, Flax msgpack, HDF5 as Keras 2 lays it out and as h5py stores a gzip-chunked kernel). Each is a
/// valid file of its format, drawn by the same code as a dropped one. This is the `index`th, written on its own so
/// that a caller drawing them one at a time holds one at a time (the page's worker: its memory's high-water
/// mark); `None` past the last.
pub fn file(index: usize) -> Option<WarmUpFile> {
    let values = numbers(SIDE * SIDE * CHANNELS * FILTERS);
    let hwio = [SIDE, SIDE, CHANNELS, FILTERS];
    let oihw = [FILTERS, CHANNELS, SIDE, SIDE];
    let f32s = |big: bool| -> Vec<u8> {
        values.iter().flat_map(|&v| if big { (v as f32).to_be_bytes() } else { (v as f32).to_le_bytes() }).collect()
    };
    let f64s = || -> Vec<u8> { values.iter().flat_map(|v| v.to_le_bytes()).collect() };
    let f16s = || -> Vec<u8> { values.iter().flat_map(|&v| half::f16::from_f64(v).to_le_bytes()).collect() };
    let bf16s = || -> Vec<u8> { values.iter().flat_map(|&v| half::bf16::from_f64(v).to_le_bytes()).collect() };
    Some(match index {
        0 => WarmUpFile {
            name: "warm-up-f32.npz",
            bytes: npz(&with_companions(Member::new(&["embedding", "kernel"], &hwio, f32s(false)))),
            options: r#"{"count":128}"#,
        },
        1 => WarmUpFile {
            name: "warm-up-views.npz",
            bytes: stored_zip(&[("embedding/kernel.npy", npy(">f4", true, &hwio, &f32s(true)))]),
            options: r#"{"count":128,"normalize":"global","order":"norm"}"#,
        },
        2 => WarmUpFile {
            name: "warm-up-f64.npy",
            bytes: npy("<f8", false, &hwio, &f64s()),
            options: r#"{"count":128,"normalize":"symmetric","channels":true}"#,
        },
        3 => WarmUpFile {
            name: "warm-up-f32.safetensors",
            bytes: safetensors(
                "F32",
                &with_companions(Member::new(&["patch_embed", "proj", "weight"], &oihw, f32s(false))),
            ),
            options: r#"{"count":128}"#,
        },
        4 => WarmUpFile {
            name: "warm-up-f16.safetensors",
            bytes: safetensors("F16", &[Member::new(&["patch_embed", "proj", "weight"], &oihw, f16s())]),
            options: r#"{"count":128}"#,
        },
        5 => WarmUpFile {
            name: "warm-up.pth",
            bytes: torch_zip(&with_companions(Member::new(&["patch_embed", "proj", "weight"], &oihw, f32s(false)))),
            options: r#"{"count":128}"#,
        },
        6 => WarmUpFile {
            name: "warm-up.gguf",
            bytes: gguf(&with_companions(Member::new(&["v", "patch_embd", "weight"], &oihw, f32s(false)))),
            options: r#"{"count":128}"#,
        },
        7 => WarmUpFile {
            name: "warm-up.msgpack",
            bytes: flax_msgpack(&with_companions(Member::new(&["embedding", "kernel"], &hwio, f32s(false)))),
            options: r#"{"count":128}"#,
        },
        8 => WarmUpFile {
            name: "warm-up-keras.h5",
            bytes: keras2_h5(&with_companions(Member::new(&["patch_embed", "proj", "kernel"], &hwio, f32s(false)))),
            options: r#"{"count":128}"#,
        },
        9 => WarmUpFile {
            name: "warm-up-gzip.h5",
            bytes: plain_h5(&with_companions(Member::new(&["patch_embed", "proj", "kernel"], &hwio, f32s(false)))),
            options: r#"{"count":128}"#,
        },
        10 => WarmUpFile {
            name: "warm-up-bf16.safetensors",
            bytes: safetensors("BF16", &[Member::new(&["patch_embed", "proj", "weight"], &oihw, bf16s())]),
            options: r#"{"count":128}"#,
        },
        _ => return None,
    })
}

/// Every file, in order.
pub fn files() -> Vec<WarmUpFile> {
    (0..).map_while(file).collect()
}

/// A Keras 2 HDF5 file as Hugging Face's `tf_model.h5` is laid out: one layer in `layer_names`, every weight
/// named in its `weight_names` (`<layer>/<path>:0`) and stored at `<layer>/<weight name>`, contiguous.
fn keras2_h5(members: &[Member]) -> Vec<u8> {
    let layer = "vit_model";
    let mut root = hdf5::Group::default();
    let mut weights = Vec::new();
    for m in members {
        let weight = format!("{layer}/{}:0", m.name("/"));
        root.dataset(&format!("{layer}/{weight}"), &m.shape, m.data.clone(), hdf5::Storage::Contiguous);
        weights.push(weight);
    }
    root.strings(layer, "weight_names", weights);
    root.strings("", "layer_names", vec![layer.to_string()]);
    root.strings("", "backend", vec!["tensorflow".to_string()]);
    hdf5::file(&root)
}

/// A plain HDF5 file as h5py writes one with `shuffle=True, compression="gzip"`: each tensor at its path, the
/// kernel in one compressed chunk (the rest contiguous, as tiny datasets usually are).
fn plain_h5(members: &[Member]) -> Vec<u8> {
    let mut root = hdf5::Group::default();
    for m in members {
        let storage = if m.shape.len() == 4 { hdf5::Storage::ShuffledGzip } else { hdf5::Storage::Contiguous };
        root.dataset(&format!("{}:0", m.name("/")), &m.shape, m.data.clone(), storage);
    }
    hdf5::file(&root)
}

/// A version-1.0 `.npy` file: magic, header dict padded to a multiple of 64, data.
fn npy(descr: &str, fortran: bool, shape: &[usize], data: &[u8]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    let fortran = if fortran { "True" } else { "False" };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': ({}), }}", dims.join(", "));
    let unpadded = NPY_MAGIC.len() + 4 + header.len() + 1;
    header.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    header.push('\n');
    let mut out = NPY_MAGIC.to_vec();
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

/// An `.npz` as `np.savez` writes float32 arrays: each member `name.npy`, stored.
fn npz(members: &[Member]) -> Vec<u8> {
    let files: Vec<(String, Vec<u8>)> =
        members.iter().map(|m| (format!("{}.npy", m.name("/")), npy("<f4", false, &m.shape, &m.data))).collect();
    stored_zip(&files.iter().map(|(name, data)| (name.as_str(), data.clone())).collect::<Vec<_>>())
}

/// A zip of stored (uncompressed) members, as `np.savez` writes them (checksums left zero: never checked).
fn stored_zip(members: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut directory = Vec::new();
    for (name, data) in members {
        let offset = out.len() as u32;
        let size = data.len() as u32;
        let fields = |out: &mut Vec<u8>| {
            out.extend_from_slice(&[0; 8]); // flags, method (0: stored), time, date
            out.extend_from_slice(&[0; 4]); // crc32
            out.extend_from_slice(&size.to_le_bytes());
            out.extend_from_slice(&size.to_le_bytes());
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(&[0, 0]); // extra field length
        };
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&20u16.to_le_bytes());
        fields(&mut out);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        directory.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        directory.extend_from_slice(&[20, 0, 20, 0]); // made by, needed
        fields(&mut directory);
        directory.extend_from_slice(&[0; 10]); // comment length, disk, internal and external attributes
        directory.extend_from_slice(&offset.to_le_bytes());
        directory.extend_from_slice(name.as_bytes());
    }
    let start = out.len() as u32;
    out.extend_from_slice(&directory);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]); // this disk, the directory's disk
    out.extend_from_slice(&(members.len() as u16).to_le_bytes());
    out.extend_from_slice(&(members.len() as u16).to_le_bytes());
    out.extend_from_slice(&(directory.len() as u32).to_le_bytes());
    out.extend_from_slice(&start.to_le_bytes());
    out.extend_from_slice(&[0, 0]); // comment length
    out
}

/// A PyTorch zip as `torch.save` writes a state dict of float32 tensors: `archive/data.pkl` (protocol 2: an
/// OrderedDict whose values are `torch._utils._rebuild_tensor_v2(persistent storage, offset, shape, stride,
/// requires_grad, OrderedDict())`), each storage as `archive/data/{k}`, and `archive/version`.
fn torch_zip(members: &[Member]) -> Vec<u8> {
    fn text(out: &mut Vec<u8>, s: &str) {
        out.push(b'X'); // BINUNICODE
        out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    fn int(out: &mut Vec<u8>, n: usize) {
        out.push(b'J'); // BININT
        out.extend_from_slice(&(n as i32).to_le_bytes());
    }
    fn ints(out: &mut Vec<u8>, ns: &[usize]) {
        out.push(b'(');
        ns.iter().for_each(|&n| int(out, n));
        out.push(b't');
    }
    let mut pickle = b"\x80\x02ccollections\nOrderedDict\n)R(".to_vec();
    for (key, member) in members.iter().enumerate() {
        let shape = &member.shape;
        let strides: Vec<usize> = (0..shape.len()).map(|axis| shape[axis + 1..].iter().product()).collect();
        text(&mut pickle, &member.name("."));
        pickle.extend_from_slice(b"ctorch._utils\n_rebuild_tensor_v2\n((");
        text(&mut pickle, "storage");
        pickle.extend_from_slice(b"ctorch\nFloatStorage\n");
        text(&mut pickle, &key.to_string());
        text(&mut pickle, "cpu");
        int(&mut pickle, member.data.len() / 4);
        pickle.extend_from_slice(b"tQ"); // the persistent id's tuple, BINPERSID
        int(&mut pickle, 0); // storage offset
        ints(&mut pickle, shape);
        ints(&mut pickle, &strides);
        // requires_grad False, the backward hooks (an empty OrderedDict), the call's tuple, REDUCE.
        pickle.extend_from_slice(b"\x89ccollections\nOrderedDict\n)RtR");
    }
    pickle.extend_from_slice(b"u."); // SETITEMS, STOP
    let mut files = vec![("archive/data.pkl".to_string(), pickle)];
    files.extend(members.iter().enumerate().map(|(key, m)| (format!("archive/data/{key}"), m.data.clone())));
    files.push(("archive/version".to_string(), b"3\n".to_vec()));
    stored_zip(&files.iter().map(|(name, data)| (name.as_str(), data.clone())).collect::<Vec<_>>())
}

/// A GGUF v3 file as clip.cpp names a vision tower's tensors: f32, dimensions listed fastest first (GGML's order,
/// so (n, c, kh, kw) is written kw, kh, c, n), each tensor's data aligned to 32 bytes.
fn gguf(members: &[Member]) -> Vec<u8> {
    const ALIGN: usize = 32;
    let text = |out: &mut Vec<u8>, s: &str| {
        out.extend_from_slice(&(s.len() as u64).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    };
    let mut out = b"GGUF".to_vec();
    out.extend_from_slice(&3u32.to_le_bytes());
    out.extend_from_slice(&(members.len() as u64).to_le_bytes()); // tensors
    out.extend_from_slice(&1u64.to_le_bytes()); // metadata pairs
    text(&mut out, "general.architecture");
    out.extend_from_slice(&8u32.to_le_bytes()); // a string
    text(&mut out, "clip");
    let mut data = Vec::new();
    for member in members {
        text(&mut out, &member.name("."));
        out.extend_from_slice(&(member.shape.len() as u32).to_le_bytes());
        member.shape.iter().rev().for_each(|&d| out.extend_from_slice(&(d as u64).to_le_bytes()));
        out.extend_from_slice(&0u32.to_le_bytes()); // GGML_TYPE_F32
        out.extend_from_slice(&(data.len() as u64).to_le_bytes()); // offset in the data section
        data.extend_from_slice(&member.data);
        data.resize(data.len().next_multiple_of(ALIGN), 0);
    }
    out.resize(out.len().next_multiple_of(ALIGN), 0);
    out.extend_from_slice(&data);
    out
}

/// A Flax checkpoint as `flax.serialization.to_bytes` writes `{"params": tree}`: nested msgpack maps by the names'
/// parts, each array an ext of type 1 holding (shape, dtype name, bytes).
fn flax_msgpack(members: &[Member]) -> Vec<u8> {
    enum Node<'a> {
        Array(&'a Member),
        Map(Vec<(&'a str, Node<'a>)>),
    }
    fn insert<'a>(entries: &mut Vec<(&'a str, Node<'a>)>, path: &'a [String], member: &'a Member) {
        let Some((first, rest)) = path.split_first() else { return };
        if rest.is_empty() {
            entries.push((first, Node::Array(member)));
            return;
        }
        let existing = entries.iter().position(|(key, node)| key == first && matches!(node, Node::Map(_)));
        let at = existing.unwrap_or_else(|| {
            entries.push((first, Node::Map(Vec::new())));
            entries.len() - 1
        });
        if let (_, Node::Map(children)) = &mut entries[at] {
            insert(children, rest, member);
        }
    }
    fn key(out: &mut Vec<u8>, s: &str) {
        out.push(0xd9); // str8
        out.push(s.len() as u8);
        out.extend_from_slice(s.as_bytes());
    }
    fn write(out: &mut Vec<u8>, node: &Node) {
        match node {
            Node::Map(entries) => {
                out.push(0xde); // map16
                out.extend_from_slice(&(entries.len() as u16).to_be_bytes());
                for (name, child) in entries {
                    key(out, name);
                    write(out, child);
                }
            }
            Node::Array(member) => {
                let mut array = vec![0x93, 0x90 | member.shape.len() as u8]; // (shape, dtype, bytes); shape a fixarray
                for &d in &member.shape {
                    array.push(0xcd); // uint16
                    array.extend_from_slice(&(d as u16).to_be_bytes());
                }
                key(&mut array, "float32");
                array.push(0xc6); // bin32
                array.extend_from_slice(&(member.data.len() as u32).to_be_bytes());
                array.extend_from_slice(&member.data);
                out.push(0xc9); // ext32
                out.extend_from_slice(&(array.len() as u32).to_be_bytes());
                out.push(1); // flax's ndarray ext type
                out.extend_from_slice(&array);
            }
        }
    }
    // Flax keeps every parameter under "params".
    let mut params = Vec::new();
    for member in members {
        insert(&mut params, &member.path, member);
    }
    let mut out = Vec::new();
    write(&mut out, &Node::Map(vec![("params", Node::Map(params))]));
    out
}

/// A safetensors file of tensors of one dtype (`F32`, `F16`, `BF16`: the members' bytes are already that width),
/// named as timm names a ViT's.
fn safetensors(dtype: &str, members: &[Member]) -> Vec<u8> {
    let mut entries = Vec::new();
    let mut data = Vec::new();
    for member in members {
        let dims: Vec<String> = member.shape.iter().map(usize::to_string).collect();
        let end = data.len() + member.data.len();
        entries.push(format!(
            r#""{}":{{"dtype":"{dtype}","shape":[{}],"data_offsets":[{},{end}]}}"#,
            member.name("."),
            dims.join(","),
            data.len()
        ));
        data.extend_from_slice(&member.data);
    }
    let header = format!("{{{}}}", entries.join(","));
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&data);
    out
}

/// `data` as a zlib stream of one fixed-Huffman deflate block (RFC 1950, RFC 1951 §3.2.6): greedy matches at a few
/// distances, literals between them. Enough to run an inflater's symbol decoding and match copying, the loops a
/// gzip-chunked HDF5 kernel or a deflated zip entry spends its time in, without linking a compressor into the module.
pub(crate) fn zlib_fixed(data: &[u8]) -> Vec<u8> {
    const LENGTH_BASE: [usize; 29] = [
        3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227,
        258,
    ];
    const LENGTH_EXTRA: [u32; 29] =
        [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
    const DISTANCE_BASE: [usize; 30] = [
        1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097,
        6145, 8193, 12289, 16385, 24577,
    ];
    const DISTANCE_EXTRA: [u32; 30] =
        [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
    // The distances tried at each byte: repeated bytes, float32 neighbours, a row of 64 values.
    const DISTANCES: [usize; 4] = [1, 4, 256, 4096];

    struct Bits {
        out: Vec<u8>,
        acc: u64,
        count: u32,
    }
    impl Bits {
        /// `count` bits of `value`, least significant first (extra bits, block header).
        fn put(&mut self, value: u64, count: u32) {
            self.acc |= value << self.count;
            self.count += count;
            while self.count >= 8 {
                self.out.push(self.acc as u8);
                self.acc >>= 8;
                self.count -= 8;
            }
        }
        /// A Huffman code, most significant bit first.
        fn code(&mut self, code: u32, length: u32) {
            self.put(u64::from(code.reverse_bits() >> (32 - length)), length);
        }
        fn symbol(&mut self, symbol: usize) {
            match symbol {
                0..=143 => self.code(0x30 + symbol as u32, 8),
                144..=255 => self.code(0x190 + (symbol - 144) as u32, 9),
                256..=279 => self.code((symbol - 256) as u32, 7),
                _ => self.code(0xc0 + (symbol - 280) as u32, 8),
            }
        }
    }

    let mut bits = Bits { out: vec![0x78, 0x01], acc: 0, count: 0 };
    bits.put(0b011, 3); // the final block, fixed Huffman codes
    let mut at = 0;
    while at < data.len() {
        let longest = |distance: usize| {
            if distance > at {
                return 0;
            }
            (0..258.min(data.len() - at)).take_while(|&k| data[at + k] == data[at + k - distance]).count()
        };
        let (length, distance) = DISTANCES.iter().map(|&d| (longest(d), d)).max().unwrap_or((0, 1));
        if length < 3 {
            bits.symbol(usize::from(data[at]));
            at += 1;
            continue;
        }
        let code = LENGTH_BASE.iter().rposition(|&base| base <= length).unwrap_or(0);
        bits.symbol(257 + code);
        bits.put((length - LENGTH_BASE[code]) as u64, LENGTH_EXTRA[code]);
        let code = DISTANCE_BASE.iter().rposition(|&base| base <= distance).unwrap_or(0);
        bits.code(code as u32, 5);
        bits.put((distance - DISTANCE_BASE[code]) as u64, DISTANCE_EXTRA[code]);
        at += length;
    }
    bits.symbol(256); // end of block
    bits.put(0, 7); // to a byte boundary
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in data {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    bits.out.extend_from_slice(&((b << 16) | a).to_be_bytes());
    bits.out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::SliceSource;
    use crate::{grid::GridOptions, Checkpoint};

    #[test]
    fn every_warm_up_file_opens_and_draws_its_made_up_kernel() {
        for file in files() {
            let checkpoint =
                Checkpoint::open(SliceSource(file.bytes.clone())).unwrap_or_else(|e| panic!("{}: {e}", file.name));
            let rendered =
                checkpoint.render(None, &GridOptions::default()).unwrap_or_else(|e| panic!("{}: {e}", file.name));
            // Each goes through the reader its name says, so each warms that reader's code.
            let format = match file.name.rsplit('.').next() {
                Some("pth") => "pytorch",
                Some("h5") if file.name.contains("keras") => "keras",
                Some("h5") => "hdf5",
                Some(extension) => extension,
                None => "",
            };
            assert_eq!(checkpoint.format(), format, "{}", file.name);
            assert_eq!(rendered.filter_shape, [SIDE, SIDE, CHANNELS], "{}", file.name);
            assert_eq!(rendered.grid.filters_shown, 128, "{}", file.name);
            // The main file of each reader lists a ViT's index, so the code run once per file is warmed too.
            let listed = checkpoint.tensors().len();
            let main = [
                "warm-up-f32.npz",
                "warm-up-f32.safetensors",
                "warm-up.pth",
                "warm-up.gguf",
                "warm-up.msgpack",
                "warm-up-keras.h5",
                "warm-up-gzip.h5",
            ];
            let expected = if main.contains(&file.name) { companions().len() + 1 } else { 1 };
            assert_eq!(listed, expected, "{}", file.name);
            assert!(serde_json::from_str::<serde_json::Value>(file.options).is_ok(), "{}", file.name);
        }
    }

    #[test]
    fn the_zlib_stream_inflates_to_its_data() {
        // Shuffled float32s on a coarse grid, as the warm-up inflates them: their low bytes are runs of zeros.
        let data = coarse_floats_shuffled(5000);
        let stream = zlib_fixed(&data);
        assert!(stream.len() < data.len(), "matches shorten it: {} of {}", stream.len(), data.len());
        let mut inflated = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::ZlibDecoder::new(stream.as_slice()), &mut inflated).unwrap();
        assert_eq!(inflated, data);
        assert_eq!(zlib_fixed(&[]).len(), 2 + 2 + 4); // header, one empty block, adler32
    }

    #[test]
    fn shuffling_groups_the_bytes_by_place_and_unshuffling_undoes_it() {
        let data: Vec<u8> = (0..12).collect();
        assert_eq!(shuffle(&data, 4), [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]);
        let floats: Vec<u8> = numbers(1000).iter().flat_map(|&v| (v as f32).to_le_bytes()).collect();
        assert_eq!(crate::container::hdf5::unshuffle(&shuffle(&floats, 4), 4), floats);
    }

    #[test]
    fn the_loops_run_on_their_made_up_data() {
        crate::container::warm_up_loops().expect("the made-up int8 kernel dequantizes");
    }
}
