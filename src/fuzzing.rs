//! Entry points for the cargo-fuzz targets in `fuzz/`: each feeds arbitrary bytes to one parser.
//! Any panic here is a bug; errors are the expected outcome for most inputs.

use crate::container::hdf5::{Hdf5, Hdf5File};
use crate::container::{
    gguf::Gguf, msgpack::Msgpack, npy, numpy_pickle, onnx::Onnx, pickle, safetensors::Safetensors, tf_bundle,
    tflite::Tflite, zip::ZipArchive, Container, NamedSource,
};
use crate::grid::GridOptions;
use crate::source::SliceSource;
use crate::Checkpoint;
use std::rc::Rc;

/// Tensors read per fuzz input: enough to reach every code path, bounded so each input stays fast.
const MAX_TENSORS_READ: usize = 64;

/// Lists a container and reads its first tensors and notes.
fn walk(container: &dyn Container) {
    let _ = container.notes();
    for i in 0..container.names().len().min(MAX_TENSORS_READ) {
        let _ = container.info(i);
        let _ = container.read(i);
    }
}

/// The safetensors reader: length field, JSON header, validation, then every tensor's bytes.
pub fn safetensors(data: &[u8]) {
    if let Ok(file) = Safetensors::open(Rc::new(SliceSource(data.to_vec()))) {
        walk(&file);
    }
}

/// The `.npy` header parser alone.
pub fn npy_header(data: &[u8]) {
    let _ = npy::parse_header(data);
}

/// The zip reader: central directory, then every entry's header and (bounded) data; then the input opened as a
/// file named `.npz` is (from its end, `container::open_named`), listed, and its first tensors read.
pub fn zip(data: &[u8]) {
    let source = SliceSource(data);
    if let Ok(archive) = ZipArchive::read(&source) {
        for entry in archive.entries.iter().take(64) {
            if let Ok(prefix) = entry.read_prefix(&source, 512) {
                let len = entry.size.min(1 << 20) as usize;
                let _ = entry.read_data(&source, prefix.data_start, 0, len);
            }
        }
    }
    if let Ok(npz) = crate::container::open_named(Rc::new(SliceSource(data.to_vec())), "fuzz.npz", &[]) {
        let _ = npz.infos();
        for index in 0..npz.names().len().min(16) {
            let _ = npz.read(index);
        }
    }
}

/// The ONNX reader (its protobuf walker included): open, list, read every tensor. The input is also
/// given as the companion `data.bin`, so tensors whose external data names that file are read too.
pub fn onnx(data: &[u8]) {
    let source: Rc<SliceSource<Vec<u8>>> = Rc::new(SliceSource(data.to_vec()));
    let companions = [NamedSource { name: "data.bin".into(), source: source.clone() }];
    if let Ok(model) = Onnx::open(source, &companions) {
        let _ = (model.infos(), model.notes());
        for i in 0..model.names().len().min(64) {
            let _ = model.read(i);
        }
    }
}

/// The whole pipeline as a user drives it: open, list (by names first, as the page lists an `.npz` from an object
/// store, then in full), pick, render — in every view, since each computes on the file's numbers (NaN,
/// infinities, zero filters, odd shapes).
pub fn checkpoint(data: &[u8]) {
    use crate::analysis::positions::SimilarityMode;
    use crate::analysis::view::{position_defaults, PositionView};
    use crate::view::{FilterView, Order};
    #[allow(clippy::unnecessary_to_owned)] // a Checkpoint owns its source, so it needs the bytes
    if let Ok(checkpoint) = Checkpoint::open(SliceSource(data.to_vec())) {
        let _ = checkpoint.tensors_read();
        let _ = checkpoint.tensors();
        let options = GridOptions { count: 16, zoom: 1, ..GridOptions::default() };
        let _ = checkpoint.render(None, &options);
        let sorted = FilterView { normalize: crate::Normalize::Symmetric, channels: true, order: Order::Norm };
        let _ = checkpoint.render_view(None, None, &sorted, &GridOptions { caption: 3, ..options.clone() });
        let _ = checkpoint.render_pca(None, None, 4, |_| options.clone());
        for mode in [SimilarityMode::Cosine, SimilarityMode::Dot] {
            let view = PositionView { mode, ..PositionView::default() };
            let _ = checkpoint.render_positions(None, &view, |t| GridOptions { zoom: 1, ..position_defaults(mode, t) });
        }
    }
}

/// The GGUF reader: header, metadata walk (skips, nested arrays, strings), tensor infos, then tensors.
pub fn gguf(data: &[u8]) {
    if let Ok(file) = Gguf::open(Rc::new(SliceSource(data.to_vec()))) {
        walk(&file);
    }
}

/// TensorFlow checkpoints: a 4-byte little-endian length, that many bytes of `.index`, then the data file
/// (the index itself when nothing follows), given as every shard of checkpoints of 1 to 4 shards.
pub fn tf_bundle(data: &[u8]) {
    let Some((len, rest)) = data.split_first_chunk::<4>() else { return };
    let (index, shard) = rest.split_at((u32::from_le_bytes(*len) as usize).min(rest.len()));
    let shard: Rc<SliceSource<Vec<u8>>> = Rc::new(SliceSource(if shard.is_empty() { index } else { shard }.to_vec()));
    let companions: Vec<NamedSource> = (1..=4u64)
        .flat_map(|n| (0..n).map(move |k| tf_bundle::shard_file("fuzz", k, n)))
        .map(|name| NamedSource { name, source: shard.clone() })
        .collect();
    let index: Rc<SliceSource<Vec<u8>>> = Rc::new(SliceSource(index.to_vec()));
    if let Ok(bundle) = tf_bundle::TfBundle::open_named(index.clone(), "fuzz", &companions) {
        walk(&bundle);
    }
    let _ = crate::container::open_with(index, &companions[..1]);
}

/// The TFLite reader (its FlatBuffers walker included): tables, operators, quantization, then every tensor's
/// Buffer table and bytes (inline or at an offset past the FlatBuffer), dequantized.
pub fn tflite(data: &[u8]) {
    if let Ok(model) = Tflite::open(Rc::new(SliceSource(data.to_vec()))) {
        let _ = model.preferred_default();
        walk(&model);
    }
}

/// The Flax msgpack reader: detection, the tree walk (skips, chunked arrays, limits), then tensors.
pub fn msgpack(data: &[u8]) {
    let _ = crate::container::msgpack::looks_like(data);
    if let Ok(file) = Msgpack::open(Rc::new(SliceSource(data.to_vec()))) {
        walk(&file);
    }
}

/// The unpickler alone: any bytes as a pickle (limits, memo, marks, globals).
pub fn pickle(data: &[u8]) {
    let _ = pickle::unpickle_bytes(data);
}

/// Pickled NumPy arrays (plain pickles at every protocol, detectron2/Paddle files, object `.npy`): open,
/// list, read every array; seeds in fuzz/seeds/numpy_pickle/.
pub fn numpy_pickle(data: &[u8]) {
    let start = numpy_pickle::object_npy_pickle_start(data).unwrap_or(0);
    if let Ok(file) = numpy_pickle::NumpyPickle::open(Rc::new(SliceSource(data.to_vec())), start) {
        walk(&file);
    }
}

/// PyTorch files (zip, TorchScript, legacy) through the whole pipeline; seeds in fuzz/seeds/torch/.
/// The same as [`checkpoint`], kept as its own target so its corpus stays torch-shaped.
pub fn torch(data: &[u8]) {
    checkpoint(data);
}

/// HTTP reading (`remote`): the first byte picks a part. 0: the text a user or server hands over (a
/// `Content-Range`, a pasted address); 1: the hub's JSON (a model listing, a shard index); 2: a checkpoint
/// read through `RemoteSource` from a scripted server — `data[1]` bytes of script, then the file — whose
/// every reply the script may bend (another status, the whole file, a lying range, length or ETag).
pub fn remote(data: &[u8]) {
    use crate::remote::{hub, parse_content_range, Opened, RemoteSource};
    let Some((&part, rest)) = data.split_first() else { return };
    match part % 3 {
        0 => {
            let text = String::from_utf8_lossy(rest);
            let _ = parse_content_range(&text);
            let _ = hub::parse_target(&text, hub::HUB);
            let _ = crate::remote::file_name(&text);
            // The same bytes as a multipart/byteranges body and as the Content-Type naming its boundary.
            let _ = crate::remote::multipart::boundary(&text);
            let _ = crate::remote::multipart::parts(rest, "B", 64);
        }
        1 => {
            let _ = hub::choose_weights(rest, "o/m");
            let _ = hub::file_sizes(rest);
            let _ = hub::index_shards(rest);
        }
        _ => {
            let Some((&script_len, rest)) = rest.split_first() else { return };
            let (script, file) = rest.split_at((script_len as usize).min(rest.len()));
            let server = ScriptedServer { file: file.to_vec(), script: script.to_vec(), step: Default::default() };
            let stats = Rc::default();
            if let Ok(Opened::Ranged(source)) = RemoteSource::open(server, "fuzz.bin", stats) {
                if let Ok(checkpoint) = Checkpoint::open(source) {
                    let _ = checkpoint.render(None, &GridOptions { count: 16, zoom: 1, ..GridOptions::default() });
                    let _ = checkpoint.tensors_read();
                    let _ = checkpoint.tensors();
                }
            }
        }
    }
}

/// A server holding `file` whose n-th reply is bent by script byte n (honest once the script runs out).
struct ScriptedServer {
    file: Vec<u8>,
    script: Vec<u8>,
    step: std::cell::Cell<usize>,
}

impl crate::remote::Transport for ScriptedServer {
    fn get(&self, first: u64, last: u64) -> crate::Result<crate::remote::Reply> {
        use crate::remote::Reply;
        let step = self.step.get();
        self.step.set(step + 1);
        let bend = self.script.get(step).copied().unwrap_or(0);
        let size = self.file.len() as u64;
        let etag = Some(if bend & 0x10 != 0 { "\"b\"" } else { "\"a\"" }.to_string());
        if first >= size {
            return Ok(Reply { status: 416, ..Reply::default() });
        }
        let last = last.min(size - 1);
        let mut body = self.file[first as usize..=last as usize].to_vec();
        let (mut from, mut to, mut total) = (first, last, size);
        match bend & 0x0f {
            1 => return Ok(Reply { status: 200, etag, body: self.file.clone(), ..Reply::default() }),
            2 => return Ok(Reply { status: [401, 404, 500, 302][(bend >> 5) as usize % 4], ..Reply::default() }),
            3 => from += 1,
            4 => to = to.saturating_sub(1),
            5 => total += 1,
            6 => {
                body.pop();
            }
            7 => return Ok(Reply { status: 206, content_range: None, etag, body }),
            8 => return Err(crate::Error::Network("The fuzzed network dropped.".into())),
            _ => {}
        }
        Ok(Reply { status: 206, content_range: Some(format!("bytes {from}-{to}/{total}")), etag, body })
    }

    fn head_size(&self) -> crate::Result<Option<u64>> {
        Ok(Some(self.file.len() as u64))
    }

    /// Several ranges (an npz listing), answered with parts as nginx does, bent by the same script: the
    /// whole file, one range only, the parts shifted or cut, another boundary, the file's bytes as the body.
    fn get_ranges(&self, header: &str, max_body: Option<usize>) -> crate::Result<Option<crate::remote::RangesReply>> {
        use crate::remote::{multipart, RangesReply};
        let step = self.step.get();
        self.step.set(step + 1);
        let bend = self.script.get(step).copied().unwrap_or(0);
        let size = self.file.len() as u64;
        let mut ranges: Vec<(u64, u64)> = header
            .strip_prefix("bytes=")
            .unwrap_or_default()
            .split(',')
            .filter_map(|spec| {
                let (a, b) = spec.split_once('-')?;
                Some((a.parse().ok()?, b.parse::<u64>().ok()?.min(size.checked_sub(1)?)))
            })
            .filter(|&(a, b)| a <= b)
            .collect();
        let etag = Some(if bend & 0x10 != 0 { "\"b\"" } else { "\"a\"" }.to_string());
        let mut boundary = "0000000001".to_string();
        match bend & 0x0f {
            1 => return Ok(Some(RangesReply { status: 200, etag, ..RangesReply::default() })),
            2 => return Err(crate::Error::Network("The fuzzed network dropped.".into())),
            3 => ranges.iter_mut().for_each(|r| *r = (r.0.saturating_add(1), r.1.saturating_add(1).min(size - 1))),
            4 => ranges.truncate(1),
            5 => {
                ranges.pop();
            }
            6 => boundary = "0000000002".to_string(),
            _ => {}
        }
        let mut body = multipart::nginx_body("0000000001", &self.file, &ranges);
        match bend & 0x0f {
            7 => body.truncate(body.len() / 2),
            8 => body = self.file.clone(),
            _ => {}
        }
        if max_body.is_none() {
            body.clear();
        }
        let content_type = Some(format!("multipart/byteranges; boundary={boundary}"));
        Ok(Some(RangesReply { status: 206, content_type, etag, body, ..RangesReply::default() }))
    }
}

/// The HDF5 reader: superblock, group walk and every dataset, then every attribute of the root and of
/// each group on the way (the Keras container's calls).
pub fn hdf5(data: &[u8]) {
    let Ok(file) = Hdf5::open(Rc::new(SliceSource(data.to_vec()))) else { return };
    walk(&file);
    if let Ok(raw) = Hdf5File::open(Rc::new(SliceSource(data.to_vec()))) {
        let root = raw.root();
        let links = raw.children(root).unwrap_or_default();
        for link in links.iter().take(MAX_TENSORS_READ) {
            let _ = raw.lookup(&format!("{}/{}", link.name, link.name));
        }
        for object in std::iter::once(root).chain(links.into_iter().map(|l| l.target)).take(MAX_TENSORS_READ) {
            for name in raw.attribute_names(object).unwrap_or_default().iter().take(MAX_TENSORS_READ) {
                let _ = raw.attribute(object, name);
            }
        }
    }
}

/// Keras files as a dropped file goes: the `.keras` zip (config.json, the weights file read in place inside
/// it) and the Keras naming of an HDF5 file's groups; then every weight listed is read.
pub fn keras(data: &[u8]) {
    if let Ok(file) = crate::container::open(Rc::new(SliceSource(data.to_vec()))) {
        walk(&*file);
    }
}
