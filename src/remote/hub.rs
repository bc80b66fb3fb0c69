//! Hugging Face model ids and hub addresses: what a user pastes (`google/vit-base-patch16-224`,
//! `https://huggingface.co/facebook/dinov2-small`, a file's page) becomes either a file URL, or a model whose
//! file list (the hub's public `/api/models/{id}`) names the weights to open.

use crate::error::{Error, Result};
use crate::natural::natural_cmp;
use crate::sorting;
use serde::Deserialize;

/// Where the hub lives; tests point this at a local mock.
pub const HUB: &str = "https://huggingface.co";

/// What a pasted address or id stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A file to read directly.
    File(String),
    /// A model on the hub, at a revision (branch, tag or commit).
    Model { id: String, revision: String },
}

/// An `http://` or `https://` address, the scheme in any case.
pub fn is_http_url(text: &str) -> bool {
    ["http://", "https://"]
        .iter()
        .any(|scheme| text.get(..scheme.len()).is_some_and(|s| s.eq_ignore_ascii_case(scheme)))
}

/// Reads what a user typed: a URL of a file, a hub model page or file page (`…/blob/{rev}/{path}` becomes
/// its `…/resolve/…` download), or a bare `owner/name` id. `None` for anything else.
pub fn parse_target(input: &str, hub: &str) -> Option<Target> {
    let text = input.trim();
    let hub_host = hub.split_once("://").map_or(hub, |(_, host)| host).trim_end_matches('/');
    let after_hub = [hub_host, "huggingface.co", "hf.co", "www.huggingface.co"].iter().find_map(|host| {
        let rest = text.strip_prefix("https://").or_else(|| text.strip_prefix("http://")).unwrap_or(text);
        rest.strip_prefix(host).and_then(|r| r.strip_prefix('/').or(r.is_empty().then_some("")))
    });
    if let Some(path) = after_hub {
        let path = path.split(['?', '#']).next().unwrap_or(path).trim_end_matches('/');
        let parts: Vec<&str> = path.split('/').collect();
        return match parts.as_slice() {
            [owner, name] if is_id_part(owner) && is_id_part(name) => Some(model(owner, name, "main")),
            [owner, name, "tree", revision @ ..] if !revision.is_empty() => {
                Some(model(owner, name, &revision.join("/")))
            }
            [owner, name, "blob" | "resolve", revision, file @ ..] if !file.is_empty() => Some(Target::File(format!(
                "{}/{owner}/{name}/resolve/{revision}/{}",
                hub.trim_end_matches('/'),
                file.join("/")
            ))),
            _ => None,
        };
    }
    if text.starts_with("https://") || text.starts_with("http://") {
        return Some(Target::File(text.to_string()));
    }
    match text.split('/').collect::<Vec<_>>().as_slice() {
        [owner, name] if is_id_part(owner) && is_id_part(name) => Some(model(owner, name, "main")),
        _ => None,
    }
}

fn model(owner: &str, name: &str, revision: &str) -> Target {
    Target::Model { id: format!("{owner}/{name}"), revision: revision.to_string() }
}

/// A hub owner or repository name: letters, digits, `-`, `_`, `.`, not starting with `.` or `-`.
fn is_id_part(part: &str) -> bool {
    !part.is_empty()
        && part.len() <= 96
        && !part.starts_with(['.', '-'])
        && part.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The hub API address that lists a model's files at a revision.
pub fn api_url(hub: &str, id: &str, revision: &str) -> String {
    let hub = hub.trim_end_matches('/');
    // `blobs=true` adds each file's size, so shards can be read without asking their size first.
    if revision == "main" {
        format!("{hub}/api/models/{id}?blobs=true")
    } else {
        format!("{hub}/api/models/{id}/revision/{}?blobs=true", encode_revision(revision))
    }
}

/// The download address of one of a model's files.
pub fn file_url(hub: &str, id: &str, revision: &str, path: &str) -> String {
    format!("{}/{id}/resolve/{}/{path}", hub.trim_end_matches('/'), encode_revision(revision))
}

/// A branch name may hold `/` (e.g. `refs/pr/1`), which the hub wants encoded.
fn encode_revision(revision: &str) -> String {
    revision.replace('/', "%2F")
}

#[derive(Deserialize)]
struct ModelInfo {
    #[serde(default)]
    siblings: Vec<Sibling>,
}

#[derive(Deserialize)]
struct Sibling {
    rfilename: String,
    /// Present with `blobs=true`.
    size: Option<u64>,
}

/// The size of each of a model's files the hub API's answer gives (with `blobs=true`).
pub fn file_sizes(api_json: &[u8]) -> std::collections::BTreeMap<String, u64> {
    serde_json::from_slice::<ModelInfo>(api_json)
        .map(|info| info.siblings.into_iter().filter_map(|s| Some((s.rfilename, s.size?))).collect())
        .unwrap_or_default()
}

/// The weights to open, from the hub API's answer about model `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Weights {
    /// One file.
    File(String),
    /// A shard index (`*.index.json`): read it, then only the shard holding the kernel.
    Index(String),
}

/// Weights in the order the hub's own libraries load them: safetensors first, then PyTorch, then the
/// TensorFlow and Flax weights older vision repos carry beside them (or instead), then the rest.
const PREFERRED: [(&str, bool); 6] = [
    ("model.safetensors", false),
    ("model.safetensors.index.json", true),
    ("pytorch_model.bin", false),
    ("pytorch_model.bin.index.json", true),
    ("tf_model.h5", false),
    ("flax_model.msgpack", false),
];

/// Other files that hold weights, by extension, most likely first: the first in natural order is taken.
const OTHER_WEIGHTS: [&str; 14] = [
    ".safetensors",
    ".npz",
    ".pth",
    ".pt",
    ".bin",
    ".h5",
    ".keras",
    ".msgpack",
    ".pkl",
    ".pdparams",
    ".gguf",
    ".onnx",
    ".tflite",
    ".hdf5",
];

/// Picks the weights to open from the hub API's JSON about model `id`.
pub fn choose_weights(api_json: &[u8], id: &str) -> Result<Weights> {
    let info: ModelInfo = serde_json::from_slice(api_json)
        .map_err(|_| Error::Read(format!("The hub's answer about {id} is not the model listing it should be.")))?;
    let mut files: Vec<&str> = info.siblings.iter().map(|s| s.rfilename.as_str()).collect();
    // Top-level files first (a subfolder holds exports: onnx/, openvino/, …), then natural order.
    sorting::sort_by(&mut files, |a, b| a.contains('/').cmp(&b.contains('/')).then_with(|| natural_cmp(a, b)));
    for (name, index) in PREFERRED {
        if files.contains(&name) {
            return Ok(if index { Weights::Index(name.into()) } else { Weights::File(name.into()) });
        }
    }
    OTHER_WEIGHTS
        .iter()
        .find_map(|ext| files.iter().find(|f| f.ends_with(ext) && !f.ends_with(".index.json")))
        .map(|f| Weights::File(f.to_string()))
        .ok_or_else(|| {
            Error::NotDrawable(format!(
                "The model {id} has no weights patchlens reads (model.safetensors, pytorch_model.bin, tf_model.h5, flax_model.msgpack, .npz, .pth, .keras, .gguf, .onnx, .tflite) among its {} files.",
                files.len()
            ))
        })
}

/// The shard files a safetensors or PyTorch index names, in natural order.
pub fn index_shards(index_json: &[u8]) -> Result<Vec<String>> {
    #[derive(Deserialize)]
    struct Index {
        weight_map: std::collections::BTreeMap<String, String>,
    }
    let index: Index = serde_json::from_slice(index_json)
        .map_err(|_| Error::Malformed("The shard index has no weight_map naming its shards.".into()))?;
    let mut shards: Vec<String> = index.weight_map.into_values().collect();
    sorting::sort_by(&mut shards, |a, b| natural_cmp(a, b));
    shards.dedup();
    Ok(shards)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(url: &str) -> Option<Target> {
        Some(Target::File(url.into()))
    }

    #[test]
    fn ids_and_hub_addresses_are_told_apart() {
        let m = |id: &str, rev: &str| Some(Target::Model { id: id.into(), revision: rev.into() });
        let parse = |s| parse_target(s, HUB);
        assert_eq!(parse("google/vit-base-patch16-224"), m("google/vit-base-patch16-224", "main"));
        assert_eq!(parse(" https://huggingface.co/facebook/dinov2-small "), m("facebook/dinov2-small", "main"));
        assert_eq!(parse("https://huggingface.co/facebook/dinov2-small/"), m("facebook/dinov2-small", "main"));
        assert_eq!(parse("hf.co/facebook/dinov2-small"), m("facebook/dinov2-small", "main"));
        assert_eq!(
            parse("https://huggingface.co/timm/vit_base.augreg_in21k/tree/v1.0"),
            m("timm/vit_base.augreg_in21k", "v1.0")
        );
        assert_eq!(
            parse("https://huggingface.co/facebook/dino-vitb16/blob/main/pytorch_model.bin"),
            file("https://huggingface.co/facebook/dino-vitb16/resolve/main/pytorch_model.bin")
        );
        assert_eq!(
            parse("https://huggingface.co/a/b/resolve/main/sub/model.safetensors?download=true"),
            file("https://huggingface.co/a/b/resolve/main/sub/model.safetensors")
        );
        assert_eq!(parse("https://example.com/w/model.pth"), file("https://example.com/w/model.pth"));
        for nothing in ["", "model.safetensors", "a/b/c", "../x", "-a/b", "https://huggingface.co/", "ftp://x/y"] {
            assert_eq!(parse(nothing), None, "{nothing}");
        }
        // A mock hub in tests is a hub like the real one.
        assert_eq!(
            parse_target("http://127.0.0.1:8000/org/model", "http://127.0.0.1:8000"),
            Some(Target::Model { id: "org/model".into(), revision: "main".into() })
        );
    }

    #[test]
    fn hub_addresses_are_built_as_the_hub_serves_them() {
        assert_eq!(api_url(HUB, "google/vit", "main"), "https://huggingface.co/api/models/google/vit?blobs=true");
        assert_eq!(
            api_url(HUB, "google/vit", "refs/pr/1"),
            "https://huggingface.co/api/models/google/vit/revision/refs%2Fpr%2F1?blobs=true"
        );
        assert_eq!(
            file_url(HUB, "google/vit", "main", "model.safetensors"),
            "https://huggingface.co/google/vit/resolve/main/model.safetensors"
        );
    }

    fn listing(files: &[&str]) -> Vec<u8> {
        let siblings: Vec<_> = files.iter().map(|f| serde_json::json!({ "rfilename": f })).collect();
        serde_json::to_vec(&serde_json::json!({ "id": "o/m", "siblings": siblings })).unwrap()
    }

    #[test]
    fn weights_are_chosen_as_the_hub_libraries_load_them() {
        let choose = |files: &[&str]| choose_weights(&listing(files), "o/m");
        let f = |s: &str| Ok(Weights::File(s.into()));
        assert_eq!(choose(&["config.json", "pytorch_model.bin", "model.safetensors"]), f("model.safetensors"));
        assert_eq!(
            choose(&["model-00002-of-00002.safetensors", "model.safetensors.index.json", "pytorch_model.bin"]),
            Ok(Weights::Index("model.safetensors.index.json".into()))
        );
        assert_eq!(choose(&["pytorch_model.bin", "tf_model.h5"]), f("pytorch_model.bin"));
        assert_eq!(choose(&["flax_model.msgpack", "tf_model.h5", "README.md"]), f("tf_model.h5"));
        assert_eq!(choose(&["flax_model.msgpack", "config.json"]), f("flax_model.msgpack"));
        assert_eq!(choose(&["model.tflite", "model.keras"]), f("model.keras"));
        assert_eq!(choose(&["onnx/model.onnx", "ViT-B_16.npz", "README.md"]), f("ViT-B_16.npz"));
        assert_eq!(choose(&["w10.pth", "w2.pth"]), f("w2.pth"));
        assert_eq!(choose(&["onnx/model.onnx"]), f("onnx/model.onnx"));
        let err = choose(&["README.md", "vocab.txt"]).unwrap_err().to_string();
        assert!(err.starts_with("The model o/m has no weights patchlens reads"), "{err}");
        assert!(choose_weights(b"[1, 2]", "o/m").is_err());
        let sized = br#"{"siblings": [{"rfilename": "a.safetensors", "size": 12}, {"rfilename": "README.md"}]}"#;
        assert_eq!(file_sizes(sized).into_iter().collect::<Vec<_>>(), [("a.safetensors".to_string(), 12)]);
    }

    #[test]
    fn an_index_names_its_shards_once_each() {
        let index = br#"{"metadata": {}, "weight_map": {"a": "model-00002-of-00002.safetensors", "b": "model-00001-of-00002.safetensors", "c": "model-00002-of-00002.safetensors"}}"#;
        assert_eq!(
            index_shards(index).unwrap(),
            ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
        );
        assert!(index_shards(b"{}").is_err());
    }
}
