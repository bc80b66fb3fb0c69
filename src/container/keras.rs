//! Keras checkpoints: Keras 2 HDF5 (`model.save("m.h5")`, `save_weights`, Hugging Face's `tf_model.h5`),
//! Keras 3 `.weights.h5`, and the Keras 3 `.keras` zip, whose `model.weights.h5` is read by range
//! inside the archive. Which dataset is which weight, and in what order, is `keras_layout`'s job.

use super::hdf5::{Attribute, Dataset, Hdf5File, LinkKind};
use super::keras_layout::{self, ConfigLayer, Tree, Weight};
use super::keras_plan::{self, LayerCheck};
use super::zip::{Method, ZipArchive, ZipEntry};
use super::Container;
use crate::error::{no_such_index, Error, Result};
use crate::kernel::KernelLayout;
use crate::source::{check_range, ByteSource};
use crate::tensor::{Tensor, TensorInfo};
use std::cell::OnceCell;
use std::rc::Rc;

/// The Keras 3 archive's members (keras/src/saving/saving_lib.py).
const CONFIG: &str = "config.json";
const METADATA: &str = "metadata.json";
const WEIGHTS: &str = "model.weights.h5";
/// config.json and metadata.json are read whole: a config this large is not a model's.
const MAX_JSON_BYTES: u64 = 16 << 20;

/// A Keras file, opened: its weights in the model's order and its HDF5 file.
pub struct Keras {
    file: Hdf5File,
    format: &'static str,
    names: Vec<String>,
    paths: Vec<String>,
    datasets: Vec<OnceCell<Result<Dataset>>>,
    /// Layers named from config.json at open, each checked against its group when first asked for.
    checks: Vec<(LayerCheck, OnceCell<Result<()>>)>,
    /// For each weight, its layer's index in `checks` (none when its group was read at open).
    check_of: Vec<Option<usize>>,
    notes: Vec<String>,
}

impl Keras {
    /// A Keras HDF5 file (Keras 2 or a Keras 3 `.weights.h5`), or the file given back when it is not one.
    pub(crate) fn detect(file: Hdf5File) -> Result<std::result::Result<Keras, Hdf5File>> {
        Ok(match Self::from_hdf5(file)? {
            Detected::Keras(keras) => Ok(keras),
            Detected::Plain(file) => Err(file),
        })
    }

    /// A `.keras` archive whose central directory `container::open` has read.
    pub fn from_zip(source: Rc<dyn ByteSource>, archive: &ZipArchive) -> Result<Keras> {
        let entry = |name: &str| archive.entries.iter().find(|e| e.name == name);
        let weights = entry(WEIGHTS).ok_or_else(|| {
            Error::Unsupported(format!(
                "This .keras file has no {WEIGHTS} inside (sharded or missing weights), so there is nothing to draw."
            ))
        })?;
        if weights.method != Method::Stored {
            return Err(Error::Unsupported(format!(
                "The {WEIGHTS} inside this .keras file is deflated, and patchlens reads it only when stored, as Keras writes it: unzip the file and open {WEIGHTS} itself."
            )));
        }
        let prefix = weights.read_prefix(&*source, 0)?;
        let inner: Rc<dyn ByteSource> = Rc::new(Part::new(Rc::clone(&source), prefix.data_start, weights.size)?);
        let file = Hdf5File::open(inner).map_err(|e| e.within(&format!("the .keras file's {WEIGHTS}")))?;
        let mut notes = Vec::new();
        let config = match entry(CONFIG).map(|e| read_json(&*source, e)) {
            Some(Ok(bytes)) => keras_layout::parse_config(&bytes),
            _ => None,
        };
        if config.is_none() {
            notes.push(format!(
                "The {CONFIG} in this .keras file could not be read as a Keras config, so layers are listed in the weights file's group order, named by the names stored with them."
            ));
        }
        let version = entry(METADATA).and_then(|e| read_json(&*source, e).ok()).and_then(|bytes| {
            let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
            value.get("keras_version")?.as_str().map(str::to_string)
        });
        if let Some(version) = version {
            notes.push(format!("Written by Keras {version}."));
        }
        let mut keras =
            Self::keras3(file, config.as_ref()).map_err(|e| e.within(&format!("the .keras file's {WEIGHTS}")))?;
        notes.append(&mut keras.notes);
        keras.notes = notes;
        Ok(keras)
    }

    fn from_hdf5(file: Hdf5File) -> Result<Detected> {
        let tree = FileTree(&file);
        // layer_names without a weight_names on every layer is not laid out as Keras writes: plain HDF5.
        if let Some(base) = keras_layout::keras2_base(&tree) {
            let Some(weights) = keras_layout::keras2_weights(&tree, base) else { return Ok(Detected::Plain(file)) };
            let notes = keras2_notes(&tree, base);
            return Ok(Detected::Keras(Self::new(file, "keras", weights, notes)));
        }
        if keras_layout::is_keras3(&tree) {
            let mut keras = Self::keras3(file, None)?;
            keras.notes.push(
                "A Keras 3 weights file without its config: layers are listed in the file's group order, which need not be the model's.".into(),
            );
            return Ok(Detected::Keras(keras));
        }
        Ok(Detected::Plain(file))
    }

    /// With a config, the layers it describes are named from it and their groups read when first asked
    /// for (`keras_plan`); without one, or when the file holds groups it does not name, every group is walked.
    fn keras3(file: Hdf5File, config: Option<&ConfigLayer>) -> Result<Keras> {
        let notes = config.map(model_note).into_iter().flatten().collect();
        let tree = FileTree(&file);
        if let Some(plan) = config.map(|model| keras_plan::keras3_plan(&tree, model)).transpose()?.flatten() {
            let mut keras = Self::new(file, "keras3", plan.weights, notes);
            keras.checks = plan.checks.into_iter().map(|c| (c, OnceCell::new())).collect();
            keras.check_of = plan.check_of;
            return Ok(keras);
        }
        let weights = keras_layout::keras3_weights(&tree, config)?;
        Ok(Self::new(file, "keras3", weights, notes))
    }

    fn new(file: Hdf5File, format: &'static str, weights: Vec<Weight>, notes: Vec<String>) -> Keras {
        let datasets = weights.iter().map(|_| OnceCell::new()).collect();
        let (names, paths) = weights.into_iter().map(|w| (w.name, w.path)).unzip();
        Keras { file, format, names, paths, datasets, checks: Vec::new(), check_of: Vec::new(), notes }
    }

    fn dataset(&self, index: usize) -> Result<&Dataset> {
        let cell = self.datasets.get(index).ok_or_else(|| no_such_index(index))?;
        cell.get_or_init(|| {
            if let Some((check, checked)) = self.check_of.get(index).copied().flatten().and_then(|c| self.checks.get(c))
            {
                checked.get_or_init(|| keras_plan::check_layer(&FileTree(&self.file), check)).clone()?;
            }
            let (name, path) = (&self.names[index], &self.paths[index]);
            let missing =
                || Error::Malformed(format!("Keras lists the weight {name}, but the file has no dataset at {path}."));
            let object = self.file.lookup(path)?.ok_or_else(missing)?;
            self.file.dataset(object, name)
        })
        .as_ref()
        .map_err(Clone::clone)
    }
}

/// What an HDF5 file turned out to be.
enum Detected {
    Keras(Keras),
    Plain(Hdf5File),
}

/// "The model is a Functional named tiny.", from a config's top level.
fn model_note(config: &ConfigLayer) -> Option<String> {
    match (config.class.is_empty(), config.name.is_empty()) {
        (false, false) => Some(format!("The model is a {} named {}.", config.class, config.name)),
        (false, true) => Some(format!("The model is a {}.", config.class)),
        _ => None,
    }
}

/// Which Keras wrote a Keras 2 file and with which backend, and the model's class from `model_config`.
fn keras2_notes(tree: &dyn Tree, base: &str) -> Vec<String> {
    let first = |path: &str, attr: &str| tree.strings(path, attr).and_then(|v| v.into_iter().next());
    let version = first("", "keras_version").or_else(|| first(base, "keras_version"));
    let backend = first("", "backend").or_else(|| first(base, "backend"));
    let mut notes = Vec::new();
    match (version, backend) {
        (Some(v), Some(b)) => notes.push(format!("Written by Keras {v} with the {b} backend.")),
        (Some(v), None) => notes.push(format!("Written by Keras {v}.")),
        (None, Some(b)) => notes.push(format!("Written by Keras with the {b} backend.")),
        (None, None) => {}
    }
    if let Some(config) = first("", "model_config") {
        match keras_layout::parse_config(config.as_bytes()) {
            Some(model) => notes.extend(model_note(&model)),
            None => notes.push(
                "The model_config attribute could not be read as a Keras config; the weights are listed from layer_names.".into(),
            ),
        }
    }
    if tree.children("").is_ok_and(|c| c.iter().any(|(name, group)| *group && name == "optimizer_weights")) {
        notes.push("The optimizer's state (optimizer_weights) is in the file but not listed.".into());
    }
    notes
}

/// Reads a small JSON member of the archive whole (deflated or stored).
fn read_json(source: &dyn ByteSource, entry: &ZipEntry) -> Result<Vec<u8>> {
    if entry.size > MAX_JSON_BYTES {
        return Err(Error::TooLarge(format!(
            "The {} in this .keras file is {} bytes, more than the {} MiB patchlens reads.",
            entry.name,
            entry.size,
            MAX_JSON_BYTES >> 20
        )));
    }
    Ok(entry.read_prefix(source, entry.size as usize)?.bytes)
}

/// True for a Keras 3 `.keras` archive: a config.json beside model.weights.h5 or metadata.json.
pub(crate) fn is_keras_archive(archive: &ZipArchive) -> bool {
    let has = |name: &str| archive.entries.iter().any(|e| e.name == name);
    has(CONFIG) && (has(WEIGHTS) || has(METADATA))
}

/// An HDF5 file's groups and string attributes, by path, for `keras_layout`.
struct FileTree<'a>(&'a Hdf5File);

impl Tree for FileTree<'_> {
    fn children(&self, path: &str) -> Result<Vec<(String, bool)>> {
        let Some(object) = self.0.lookup(path)? else { return Ok(Vec::new()) };
        if self.0.kind(object)? != LinkKind::Group {
            return Ok(Vec::new());
        }
        Ok(self.0.children(object)?.into_iter().map(|l| (l.name, l.kind == LinkKind::Group)).collect())
    }

    fn member_names(&self, path: &str) -> Result<Vec<String>> {
        let Some(object) = self.0.lookup(path)? else { return Ok(Vec::new()) };
        self.0.link_names(object)
    }

    fn object_id(&self, path: &str) -> Result<Option<u64>> {
        Ok(self.0.lookup(path)?.map(|object| object.0))
    }

    fn strings(&self, path: &str, attr: &str) -> Option<Vec<String>> {
        let object = self.0.lookup(path).ok()??;
        match self.0.attribute(object, attr).ok()?? {
            Attribute::Strings(values) => Some(values),
            // Keras 2 writes an empty list as an empty float array (`weight_names` of a layer without weights).
            Attribute::Floats(values) if values.is_empty() => Some(Vec::new()),
            _ => None,
        }
    }
}

/// A run of bytes of another source, read as a source of its own: the weights file inside a `.keras`.
pub(crate) struct Part {
    outer: Rc<dyn ByteSource>,
    start: u64,
    len: u64,
}

impl Part {
    pub(crate) fn new(outer: Rc<dyn ByteSource>, start: u64, len: u64) -> Result<Part> {
        let fits = start.checked_add(len).is_some_and(|end| end <= outer.len());
        if !fits {
            return Err(Error::Truncated(
                "A member of the archive runs past the end of the file; it may be cut short.".into(),
            ));
        }
        Ok(Part { outer, start, len })
    }
}

impl ByteSource for Part {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        check_range(offset, buf.len(), self.len)?;
        self.outer.read_at(self.start + offset, buf)
    }
}

impl Container for Keras {
    fn format(&self) -> &'static str {
        self.format
    }

    /// Keras kernels are (kh, kw, in, out).
    fn layout(&self) -> KernelLayout {
        KernelLayout::Hwio
    }

    fn names(&self) -> &[String] {
        &self.names
    }

    fn info(&self, index: usize) -> Result<TensorInfo> {
        Ok(self.dataset(index)?.info.clone())
    }

    fn read(&self, index: usize) -> Result<Tensor> {
        self.file.read(self.dataset(index)?)
    }

    fn notes(&self) -> Vec<String> {
        self.notes.clone()
    }
}

#[cfg(test)]
#[path = "keras_tests.rs"]
mod tests;
