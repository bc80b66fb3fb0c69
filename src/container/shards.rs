//! One checkpoint stored as several files (Hugging Face shards `model-00001-of-00003.safetensors`,
//! `pytorch_model-00001-of-00002.bin`), seen as one container. With the index file
//! (`*.index.json`, whose `weight_map` names each tensor's shard) a shard is opened only when one of its
//! tensors is asked for, so drawing the kernel touches the one shard that holds it; without the index
//! every shard's header is read and the names follow shard order.

use super::{open, Container, NamedSource};
use crate::error::{Error, Result};
use crate::kernel::KernelLayout;
use crate::sorting;
use crate::tensor::{Tensor, TensorInfo};
use std::cell::OnceCell;
use std::collections::HashMap;

/// An index file larger than this is not a shard index (real ones are a few hundred KB).
pub const MAX_INDEX_BYTES: usize = 64 << 20;

struct Shard {
    file: NamedSource,
    opened: OnceCell<Result<Box<dyn Container>>>,
    /// Tensor name → index inside this shard, once opened.
    positions: OnceCell<HashMap<String, usize>>,
}

pub struct Shards {
    shards: Vec<Shard>,
    names: Vec<String>,
    /// For each name, the shard that holds it.
    shard_of: Vec<usize>,
    format: &'static str,
    index_name: Option<String>,
}

/// The `weight_map` of a `*.index.json`: tensor names → shard file names, in the file's order.
pub fn parse_index(bytes: &[u8], index_name: &str) -> Result<Vec<(String, String)>> {
    let bad = |why: &str| Error::Malformed(format!("The shard index {index_name} {why}."));
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|_| bad("is not valid JSON"))?;
    let map = value.get("weight_map").and_then(|m| m.as_object()).ok_or_else(|| bad("has no weight_map"))?;
    map.iter()
        .map(|(name, file)| {
            let file = file.as_str().ok_or_else(|| bad("maps a tensor to something other than a file name"))?;
            Ok((name.clone(), file.to_string()))
        })
        .collect()
}

impl Shards {
    /// Shards listed by an index: `weight_map` gives every name, shards open on demand. Every shard the
    /// index names must be among `files`.
    pub fn with_index(index_name: &str, weight_map: Vec<(String, String)>, files: Vec<NamedSource>) -> Result<Self> {
        let mut wanted: Vec<String> = weight_map.iter().map(|(_, file)| file.clone()).collect();
        sorting::sort(&mut wanted);
        wanted.dedup();
        let missing: Vec<&str> =
            wanted.iter().map(String::as_str).filter(|w| !files.iter().any(|f| f.name == *w)).collect();
        if !missing.is_empty() {
            return Err(Error::Read(format!(
                "The index {index_name} names shards that were not given with it ({}); open all the shards together.",
                missing.join(", ")
            )));
        }
        let shards: Vec<Shard> =
            wanted.iter().filter_map(|w| files.iter().find(|f| f.name == *w).cloned()).map(Shard::new).collect();
        let mut names = Vec::with_capacity(weight_map.len());
        let mut shard_of = Vec::with_capacity(weight_map.len());
        for (name, file) in weight_map {
            // Every shard named is among `shards` (checked above), in `wanted`'s order.
            let at = wanted.binary_search(&file).map_err(|_| {
                Error::Malformed(format!("The index {index_name} names {file}, which is not among the shards."))
            })?;
            names.push(name);
            shard_of.push(at);
        }
        let format = format_of(shards.first().map(|s| s.file.name.as_str()).unwrap_or(index_name));
        Ok(Shards { shards, names, shard_of, format, index_name: Some(index_name.to_string()) })
    }

    /// Shards without an index: each is opened now and its tensors listed in shard order.
    pub fn scan(files: Vec<NamedSource>) -> Result<Self> {
        let format = format_of(files.first().map(|f| f.name.as_str()).unwrap_or(""));
        let mut shards: Vec<Shard> = files.into_iter().map(Shard::new).collect();
        sorting::sort_by(&mut shards, |a, b| a.file.name.cmp(&b.file.name));
        let mut names = Vec::new();
        let mut shard_of = Vec::new();
        let mut seen = HashMap::new();
        for (at, shard) in shards.iter().enumerate() {
            for name in shard.container()?.names() {
                if let Some(first) = seen.insert(name.clone(), at) {
                    return Err(Error::Malformed(format!(
                        "Tensor {name} is in both {} and {}; these files are not shards of one checkpoint.",
                        shards[first].file.name, shard.file.name
                    )));
                }
                names.push(name.clone());
                shard_of.push(at);
            }
        }
        Ok(Shards { shards, names, shard_of, format, index_name: None })
    }

    /// The shard holding tensor `index`, opened, and the tensor's index inside it.
    fn locate(&self, index: usize) -> Result<(&dyn Container, usize)> {
        let (name, &at) = self
            .names
            .get(index)
            .zip(self.shard_of.get(index))
            .ok_or_else(|| Error::NoSuchTensor(format!("There is no tensor number {index} in this checkpoint.")))?;
        let shard = &self.shards[at];
        let container = shard.container()?;
        let inner = shard.position(name).ok_or_else(|| {
            Error::Malformed(format!(
                "The index {} puts tensor {name} in {}, but that file does not hold it.",
                self.index_name.as_deref().unwrap_or("(none)"),
                shard.file.name
            ))
        })?;
        Ok((container, inner))
    }
}

impl Shard {
    fn new(file: NamedSource) -> Self {
        Shard { file, opened: OnceCell::new(), positions: OnceCell::new() }
    }

    fn container(&self) -> Result<&dyn Container> {
        let opened = self
            .opened
            .get_or_init(|| open(self.file.source.clone()).map_err(|e| e.within(&format!("shard {}", self.file.name))));
        opened.as_deref().map_err(Clone::clone)
    }

    fn position(&self, name: &str) -> Option<usize> {
        let container = self.container().ok()?;
        let positions =
            self.positions.get_or_init(|| container.names().iter().enumerate().map(|(i, n)| (n.clone(), i)).collect());
        positions.get(name).copied()
    }
}

fn format_of(file_name: &str) -> &'static str {
    if file_name.contains(".safetensors") {
        "safetensors (sharded)"
    } else {
        "pytorch (sharded)"
    }
}

impl Container for Shards {
    fn format(&self) -> &'static str {
        self.format
    }

    fn layout(&self) -> KernelLayout {
        KernelLayout::Oihw
    }

    fn names(&self) -> &[String] {
        &self.names
    }

    fn info(&self, index: usize) -> Result<TensorInfo> {
        let (container, inner) = self.locate(index)?;
        container.info(inner)
    }

    fn read(&self, index: usize) -> Result<Tensor> {
        let (container, inner) = self.locate(index)?;
        container.read(inner)
    }

    fn read_leading(&self, index: usize, count: usize) -> Result<Option<Tensor>> {
        let (container, inner) = self.locate(index)?;
        container.read_leading(inner, count)
    }

    fn notes(&self) -> Vec<String> {
        let files: Vec<&str> = self.shards.iter().map(|s| s.file.name.as_str()).collect();
        let mut notes = vec![match &self.index_name {
            Some(index) => format!("{} shards listed by {index}: {}.", files.len(), files.join(", ")),
            None => format!("{} shards, no index file: {}.", files.len(), files.join(", ")),
        }];
        // Notes of the shards already opened (opening the others just for notes would defeat the index).
        for shard in &self.shards {
            if let Some(Ok(container)) = shard.opened.get() {
                notes.extend(container.notes().into_iter().map(|n| format!("{}: {n}", shard.file.name)));
            }
        }
        notes
    }
}
