//! What a user pasted, opened: a file's URL read by ranges, or a hub model whose file list names the weights —
//! one file, or a shard index whose shards are read only where the kernel is. Pure Rust: a [`Client`] brings
//! the network (the CLI's blocking HTTP client, an in-memory one in tests).

use super::hub::{self, Target, Weights};
use super::{file_name, status_error, Opened as Fetched, RemoteSource, RemoteStats, Transport};
use crate::checkpoint::{Checkpoint, Opened};
use crate::container::shards::MAX_INDEX_BYTES;
use crate::container::tf_bundle::TfBundle;
use crate::error::{Error, Result};
use crate::source::{ByteSource, SliceSource};
use std::rc::Rc;

/// The hub's file list of one model: a few KB, a few MB for a repository of thousands of files.
pub const MAX_LISTING_BYTES: usize = 16 << 20;

/// The network, as [`open_target`] needs it.
pub trait Client {
    type Transport: Transport + 'static;

    /// A way of reading the file at `url` by ranges.
    fn transport(&self, url: &str) -> Self::Transport;

    /// One whole GET of a small document of the hub (its JSON: a file list, a shard index), redirects
    /// followed: its status and body. A body longer than `limit` bytes is `Err(Error::Read)`; no reply at all
    /// is the sentence that names the hub (`unreached::Asked::Hub`), not the model or file asked for.
    fn get(&self, url: &str, limit: usize) -> Result<(u16, Vec<u8>)>;
}

/// The checkpoints behind what was pasted, and what reading them cost.
pub struct OpenedTarget {
    /// One checkpoint (a file, or an index and its shards), labelled by its file name, or for a hub model
    /// `owner/name · file`.
    pub opened: Vec<Opened>,
    /// Requests and bytes for everything: the listing, the index, and every read of the weights.
    pub stats: Rc<RemoteStats>,
    /// The server ignored `Range` and sent the whole file, which is now read from memory.
    pub whole_file: bool,
}

/// The files behind what was pasted, each read by ranges (nothing fetched yet but the hub's listing and a shard
/// index), for a caller that serves their bytes itself (the Python widget); [`open_target`] opens them.
pub struct TargetFiles {
    /// (name, source) of each file: the weights, or an index (in memory) and its shards, or a TF index and its data.
    pub files: Vec<(String, Rc<dyn ByteSource>)>,
    /// `owner/name` (and `@revision` when not `main`) for a hub model: the checkpoints' labels start with it.
    pub model: Option<String>,
    pub stats: Rc<RemoteStats>,
    /// The server ignored `Range` and sent a whole file, which is now read from memory.
    pub whole_file: bool,
}

/// Opens `input` — a file's URL, a hub model id or page (`hub::parse_target`) — through `client`. A model's
/// file list comes from the hub at `hub` (with sizes, so its files are read without a probe); a shard index is
/// fetched whole, and a shard costs no request until a tensor in it is read.
pub fn open_target(input: &str, hub: &str, client: &impl Client) -> Result<OpenedTarget> {
    let TargetFiles { files, model, stats, whole_file } = target_files(input, hub, client)?;
    let mut opened = Checkpoint::open_files(files);
    if let Some(model) = model {
        for checkpoint in &mut opened {
            checkpoint.label = format!("{model} · {}", checkpoint.label);
        }
    }
    Ok(OpenedTarget { opened, stats, whole_file })
}

/// The files [`open_target`] opens, found but not opened.
pub fn target_files(input: &str, hub: &str, client: &impl Client) -> Result<TargetFiles> {
    let text = input.trim();
    // An address on the hub's host that is no model or file page (a mock hub serving files too) is a file.
    let target =
        hub::parse_target(input, hub).or_else(|| hub::is_http_url(text).then(|| Target::File(text.to_string())));
    let target = target.ok_or_else(|| {
        Error::Read(format!(
            "'{}' is neither an http(s) address nor a hub model id such as google/vit-base-patch16-224.",
            input.trim()
        ))
    })?;
    let stats = Rc::new(RemoteStats::default());
    let mut whole_file = false;
    let (files, model) = match target {
        Target::File(url) => {
            let name = file_name(&url);
            let (source, whole) = open_file(client, &url, &name, None, &stats)?;
            whole_file = whole;
            let mut files = vec![(name.clone(), Rc::clone(&source))];
            // A TensorFlow checkpoint's values are in data files beside its index, named by it.
            let prefix =
                name.strip_suffix(".index").filter(|_| reads_files_beside(&url) && looks_like_tf_index(&*source));
            if let Some(prefix) = prefix {
                for data in TfBundle::data_files(Rc::clone(&source), prefix)? {
                    let data_url = sibling_url(&url, &data);
                    let (data_source, whole) = open_file(client, &data_url, &data, None, &stats)?;
                    whole_file |= whole;
                    files.push((data, data_source));
                }
            }
            (files, None)
        }
        Target::Model { id, revision } => {
            let listing = model_listing(client, hub, &id, &revision, &stats)?;
            let sizes = hub::file_sizes(&listing);
            let files = match hub::choose_weights(&listing, &id)? {
                Weights::File(path) => {
                    let url = hub::file_url(hub, &id, &revision, &path);
                    let name = file_name(&path);
                    let (source, whole) = open_file(client, &url, &name, sizes.get(&path).copied(), &stats)?;
                    whole_file = whole;
                    vec![(name, source)]
                }
                Weights::Index(path) => {
                    let url = hub::file_url(hub, &id, &revision, &path);
                    let index_name = file_name(&path);
                    let index = document(client, &url, MAX_INDEX_BYTES, &stats)
                        .and_then(|(status, body)| ok_or_status(status, body, &index_name))?;
                    // Shards are named relative to the index's folder.
                    let folder = path.rsplit_once('/').map(|(dir, _)| format!("{dir}/")).unwrap_or_default();
                    let mut files = Vec::new();
                    for shard in hub::index_shards(&index)? {
                        let shard_path = format!("{folder}{shard}");
                        let url = hub::file_url(hub, &id, &revision, &shard_path);
                        let size = sizes.get(&shard_path).copied();
                        let (source, whole) = open_file(client, &url, &shard, size, &stats)?;
                        whole_file |= whole;
                        files.push((shard, source));
                    }
                    files.insert(0, (index_name, Rc::new(SliceSource(index)) as Rc<dyn ByteSource>));
                    files
                }
            };
            let model = if revision == "main" { id } else { format!("{id}@{revision}") };
            (files, Some(model))
        }
    };
    Ok(TargetFiles { files, model, stats, whole_file })
}

/// True for a file whose checkpoint lies partly in files beside it, named by it (a TensorFlow `.index` and
/// its `.data-0000k-of-0000n`): `open_target` fetches those too, so a single-file reader cannot open it.
pub fn reads_files_beside(url: &str) -> bool {
    file_name(url).ends_with(".index")
}

/// True when `source` starts as a TensorFlow checkpoint index does (its header entry).
fn looks_like_tf_index(source: &dyn ByteSource) -> bool {
    let mut head = [0u8; 16];
    let len = source.len().min(head.len() as u64) as usize;
    source.read_at(0, &mut head[..len]).is_ok() && crate::container::tf_bundle::looks_like_index(&head[..len])
}

/// The address of file `name` in the same folder as `url` (query and fragment dropped).
fn sibling_url(url: &str, name: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    match path.rsplit_once('/') {
        Some((folder, _)) => format!("{folder}/{name}"),
        None => name.to_string(),
    }
}

/// A file to read by ranges: with no probe when its size is known, else probed — and read from memory when
/// the server sent all of it (the `bool`).
fn open_file<C: Client>(
    client: &C,
    url: &str,
    name: &str,
    size: Option<u64>,
    stats: &Rc<RemoteStats>,
) -> Result<(Rc<dyn ByteSource>, bool)> {
    let transport = client.transport(url);
    if let Some(size) = size {
        return Ok((Rc::new(RemoteSource::with_size(transport, name, size, Rc::clone(stats))), false));
    }
    Ok(match RemoteSource::open(transport, name, Rc::clone(stats))? {
        Fetched::Ranged(source) => (Rc::new(source), false),
        Fetched::Whole(bytes) => (Rc::new(SliceSource(bytes)), true),
    })
}

/// The hub's file list of model `id`, with the hub's refusals in words.
fn model_listing<C: Client>(client: &C, hub: &str, id: &str, revision: &str, stats: &RemoteStats) -> Result<Vec<u8>> {
    let (status, body) = document(client, &hub::api_url(hub, id, revision), MAX_LISTING_BYTES, stats)?;
    match status {
        200..=299 => Ok(body),
        // The hub answers 401 for a model that does not exist as well as for one it will not show.
        401 | 403 => Err(Error::Read(format!(
            "The hub does not show the model {id} ({status}): it is gated or private, or no model has that name."
        ))),
        404 => Err(Error::Read(format!("The hub has no model {id}, or no revision {revision} of it (404)."))),
        status => Err(status_error(status, &format!("the file list of {id}"))),
    }
}

fn document<C: Client>(client: &C, url: &str, limit: usize, stats: &RemoteStats) -> Result<(u16, Vec<u8>)> {
    let (status, body) = client.get(url, limit)?;
    stats.record(body.len());
    Ok((status, body))
}

fn ok_or_status(status: u16, body: Vec<u8>, name: &str) -> Result<Vec<u8>> {
    match status {
        200..=299 => Ok(body),
        status => Err(status_error(status, name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grid::GridOptions;
    use crate::remote::Reply;
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    const HUB: &str = "https://hub.test";

    /// An in-memory network: files by URL, hub listings by model id, and every request asked, in order.
    #[derive(Default)]
    struct Net {
        files: BTreeMap<String, Vec<u8>>,
        models: BTreeMap<String, Vec<&'static str>>,
        no_ranges: bool,
        api_status: Option<u16>,
        /// Leave sizes out of the listing (an older hub, or `blobs=true` ignored).
        no_sizes: bool,
        asked: RefCell<Vec<String>>,
    }

    #[derive(Clone)]
    struct Memory(Rc<Net>);

    struct Connection {
        net: Rc<Net>,
        url: String,
    }

    impl Transport for Connection {
        fn get(&self, first: u64, last: u64) -> Result<Reply> {
            self.net.asked.borrow_mut().push(format!("{} {first}-{last}", file_name(&self.url)));
            let Some(bytes) = self.net.files.get(&self.url) else {
                return Ok(Reply { status: 404, ..Reply::default() });
            };
            let etag = Some("\"1\"".to_string());
            if self.net.no_ranges {
                return Ok(Reply { status: 200, etag, body: bytes.clone(), ..Reply::default() });
            }
            let size = bytes.len() as u64;
            let last = last.min(size - 1);
            Ok(Reply {
                status: 206,
                content_range: Some(format!("bytes {first}-{last}/{size}")),
                etag,
                body: bytes[first as usize..=last as usize].to_vec(),
            })
        }

        fn head_size(&self) -> Result<Option<u64>> {
            Ok(self.net.files.get(&self.url).map(|b| b.len() as u64))
        }
    }

    impl Client for Memory {
        type Transport = Connection;

        fn transport(&self, url: &str) -> Connection {
            Connection { net: Rc::clone(&self.0), url: url.to_string() }
        }

        fn get(&self, url: &str, _limit: usize) -> Result<(u16, Vec<u8>)> {
            self.0.asked.borrow_mut().push(format!("GET {}", url.trim_start_matches(HUB)));
            if let Some(id) =
                url.strip_prefix(&format!("{HUB}/api/models/")).and_then(|r| r.strip_suffix("?blobs=true"))
            {
                if let Some(status) = self.0.api_status {
                    return Ok((status, b"{\"error\": \"no\"}".to_vec()));
                }
                let Some(files) = self.0.models.get(id) else { return Ok((401, Vec::new())) };
                let siblings: Vec<_> = files
                    .iter()
                    .map(|f| {
                        let size = self.0.files.get(&hub::file_url(HUB, id, "main", f)).map(Vec::len);
                        match size.filter(|_| !self.0.no_sizes) {
                            Some(size) => serde_json::json!({ "rfilename": f, "size": size }),
                            None => serde_json::json!({ "rfilename": f }),
                        }
                    })
                    .collect();
                return Ok((200, serde_json::to_vec(&serde_json::json!({ "id": id, "siblings": siblings })).unwrap()));
            }
            Ok(match self.0.files.get(url) {
                Some(bytes) => (200, bytes.clone()),
                None => (404, Vec::new()),
            })
        }
    }

    /// A safetensors file of f32 tensors (name, shape), each filled with a ramp.
    fn safetensors(tensors: &[(&str, &[usize])]) -> Vec<u8> {
        let mut header = serde_json::Map::new();
        let mut data = Vec::new();
        for (name, shape) in tensors {
            let count: usize = shape.iter().product();
            let start = data.len();
            data.extend((0..count).flat_map(|i| ((i % 97) as f32 - 48.0).to_le_bytes()));
            header.insert(
                name.to_string(),
                serde_json::json!({ "dtype": "F32", "shape": shape, "data_offsets": [start, data.len()] }),
            );
        }
        let header = serde_json::to_vec(&header).unwrap();
        let mut file = (header.len() as u64).to_le_bytes().to_vec();
        file.extend(header);
        file.extend(data);
        file
    }

    const KERNEL: &str = "patch_embed.proj.weight";

    fn vit() -> Vec<u8> {
        safetensors(&[("cls_token", &[1, 1, 64]), (KERNEL, &[64, 3, 4, 4]), ("head.weight", &[10, 64])])
    }

    fn net(files: Vec<(String, Vec<u8>)>, models: &[(&str, &[&'static str])]) -> Net {
        Net {
            files: files.into_iter().collect(),
            models: models.iter().map(|(id, files)| (id.to_string(), files.to_vec())).collect(),
            ..Net::default()
        }
    }

    fn open(input: &str, net: Net) -> (Result<OpenedTarget>, Vec<String>) {
        let client = Memory(Rc::new(net));
        let opened = open_target(input, HUB, &client);
        let asked = client.0.asked.borrow().clone();
        (opened, asked)
    }

    /// The only checkpoint opened, drawn; its label.
    fn drawn(target: &OpenedTarget) -> String {
        let [opened] = target.opened.as_slice() else { panic!("{} checkpoints", target.opened.len()) };
        let checkpoint = opened.checkpoint.as_ref().unwrap();
        let rendered = checkpoint.render(None, &GridOptions::default()).unwrap();
        assert_eq!(rendered.tensor.name, KERNEL);
        opened.label.clone()
    }

    #[test]
    fn a_file_url_is_probed_then_read_by_ranges() {
        let url = "https://cdn.test/w/vit.safetensors?download=1";
        let (target, asked) = open(url, net(vec![(url.into(), vit())], &[]));
        let target = target.unwrap();
        assert_eq!(drawn(&target), "vit.safetensors");
        assert!(!target.whole_file);
        // The file is smaller than the probe: one request holds it all.
        assert_eq!(asked, ["vit.safetensors 0-65535"]);
        assert_eq!((target.stats.requests(), target.stats.bytes()), (1, vit().len() as u64));
    }

    #[test]
    fn a_model_with_only_tensorflow_or_flax_weights_opens_them() {
        let tf_model = include_bytes!("../../tests/fixtures/committed/keras/tf_model.h5").to_vec();
        let flax = include_bytes!("../../tests/fixtures/committed/msgpack/flax_model.msgpack").to_vec();
        for (file, bytes, tensor) in [
            ("tf_model.h5", tf_model, "tf_vi_t_model/vit/embeddings/patch_embeddings/projection/kernel:0"),
            ("flax_model.msgpack", flax, "vit/embeddings/patch_embeddings/projection/kernel"),
        ] {
            let url = hub::file_url(HUB, "org/old", "main", file);
            let listed: &[&str] = &["config.json", "README.md", "flax_model.msgpack", "tf_model.h5"];
            let listed = if file == "tf_model.h5" { listed } else { &listed[..3] };
            let (target, _) = open("org/old", net(vec![(url, bytes)], &[("org/old", listed)]));
            let target = target.unwrap_or_else(|e| panic!("{file}: {e}"));
            let [opened] = target.opened.as_slice() else { panic!("{file}: one checkpoint") };
            assert_eq!(opened.label, format!("org/old · {file}"));
            let rendered = opened.checkpoint.as_ref().unwrap().render(None, &GridOptions::default()).unwrap();
            assert_eq!(rendered.tensor.name, tensor);
        }
    }

    #[test]
    fn a_model_with_model_safetensors_is_read_without_a_probe() {
        let url = hub::file_url(HUB, "org/vit", "main", "model.safetensors");
        let files: &[&str] = &["config.json", "pytorch_model.bin", "model.safetensors"];
        let (target, asked) = open("https://hub.test/org/vit", net(vec![(url, vit())], &[("org/vit", files)]));
        let target = target.unwrap();
        assert_eq!(drawn(&target), "org/vit · model.safetensors");
        assert_eq!(asked[0], "GET /api/models/org/vit?blobs=true");
        // The listing gave the size, so the format's first read is asked as it is, not as a 64 KiB probe.
        assert_eq!(asked[1..], [format!("model.safetensors 0-{}", vit().len() - 1)]);
        assert_eq!(target.stats.requests(), asked.len() as u64);
    }

    #[test]
    fn a_sharded_model_reads_only_the_shard_holding_the_kernel() {
        let padding = 300_000; // floats in each shard that does not hold the kernel
        let shard = |i: usize| format!("model-0000{i}-of-00003.safetensors");
        let shards = [
            safetensors(&[("cls_token", &[1, 1, 64]), ("blocks.0.attn.qkv.weight", &[padding])]),
            safetensors(&[(KERNEL, &[64, 3, 4, 4])]),
            safetensors(&[("head.weight", &[padding])]),
        ];
        let mut weight_map = serde_json::Map::new();
        for (tensor, i) in [("cls_token", 1), ("blocks.0.attn.qkv.weight", 1), (KERNEL, 2), ("head.weight", 3)] {
            weight_map.insert(tensor.into(), shard(i).into());
        }
        let index = serde_json::to_vec(&serde_json::json!({ "metadata": {}, "weight_map": weight_map })).unwrap();
        let url = |path: &str| hub::file_url(HUB, "org/big", "main", path);
        let mut files = vec![(url("model.safetensors.index.json"), index)];
        files.extend(shards.iter().enumerate().map(|(i, bytes)| (url(&shard(i + 1)), bytes.clone())));
        let listed: &[&str] = &[
            "model.safetensors.index.json",
            "model-00001-of-00003.safetensors",
            "model-00002-of-00003.safetensors",
            "model-00003-of-00003.safetensors",
        ];
        let (target, asked) = open("org/big", net(files, &[("org/big", listed)]));
        let target = target.unwrap();
        assert_eq!(drawn(&target), "org/big · model.safetensors");
        assert_eq!(
            asked[..2],
            ["GET /api/models/org/big?blobs=true", "GET /org/big/resolve/main/model.safetensors.index.json"]
        );
        assert!(asked[2..].iter().all(|a| a.starts_with("model-00002-of-00003.safetensors ")), "{asked:?}");
        assert!(asked.len() <= 5, "{asked:?}");
        assert!(target.stats.bytes() < 64 * 1024, "{} bytes", target.stats.bytes());
    }

    #[test]
    fn a_server_without_ranges_hands_over_the_whole_file() {
        let url = "https://example.test/vit.safetensors";
        let (target, asked) = open(url, Net { no_ranges: true, ..net(vec![(url.into(), vit())], &[]) });
        let target = target.unwrap();
        assert!(target.whole_file);
        assert_eq!(drawn(&target), "vit.safetensors");
        assert_eq!(asked.len(), 1, "read from memory after the first reply");
    }

    #[test]
    fn a_listing_without_sizes_probes_the_file() {
        let url = hub::file_url(HUB, "org/vit", "main", "model.safetensors");
        let listed: &[&str] = &["model.safetensors"];
        let (target, asked) =
            open("org/vit", Net { no_sizes: true, ..net(vec![(url, vit())], &[("org/vit", listed)]) });
        assert_eq!(drawn(&target.unwrap()), "org/vit · model.safetensors");
        assert_eq!(asked[1], "model.safetensors 0-65535");
    }

    #[test]
    fn refusals_and_missing_weights_are_sentences() {
        let err = |input: &str, net: Net| open(input, net).0.err().unwrap().to_string();
        assert_eq!(
            err("org/secret", Net::default()),
            "The hub does not show the model org/secret (401): it is gated or private, or no model has that name."
        );
        let refused = Net { api_status: Some(403), ..Net::default() };
        assert!(err("org/gated", refused).contains("org/gated (403): it is gated or private"));
        let failing = Net { api_status: Some(502), ..Net::default() };
        assert!(err("org/m", failing).contains("try again later"));
        let readme: &[&str] = &["README.md", "config.json"];
        let message = err("org/text", net(Vec::new(), &[("org/text", readme)]));
        assert!(message.starts_with("The model org/text has no weights patchlens reads"), "{message}");
        let missing = err("https://example.test/gone.pth", Net::default());
        assert_eq!(missing, "There is no file gone.pth at this address (404).");
        let index_gone: &[&str] = &["model.safetensors.index.json"];
        let message = err("org/lost", net(Vec::new(), &[("org/lost", index_gone)]));
        assert_eq!(message, "There is no file model.safetensors.index.json at this address (404).");
        assert!(err("not a model", Net::default()).starts_with("'not a model' is neither"));
        let on_the_hub = err("https://hub.test/files/dir/gone.npz", Net::default());
        assert_eq!(on_the_hub, "There is no file gone.npz at this address (404).", "an address on the hub is a file");
    }
}
