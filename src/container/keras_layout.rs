//! Where Keras puts each weight in its HDF5 files and what it is called, as pure functions over a
//! [`Tree`] (group listing + string attributes), so the rules are testable without an HDF5 file.
//! Keras 2: `layer_names` → each layer's `weight_names` → datasets at `<layer>/<weight name>`.
//! Keras 3: `layers/<class in snake case>[_<n>]/vars/<i>`, nested models under `…/layers/…`; which
//! layer and variable each is comes from config.json (a `.keras`) or the `vars` group's `name`.

use crate::error::Result;
use crate::natural::natural_cmp;
use crate::sorting;
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// What the naming rules need of an HDF5 file.
pub(crate) trait Tree {
    /// The children of the group at `path` (`""` is the root) as (name, is a group), in stored order;
    /// none when there is no group there, an error when the file is damaged.
    fn children(&self, path: &str) -> Result<Vec<(String, bool)>>;
    /// A string or string-array attribute of the object at `path`; `None` when absent or not strings.
    fn strings(&self, path: &str, attr: &str) -> Option<Vec<String>>;
    /// Which object `path` leads to (its header's address): two paths to one group are one group, and a
    /// link back to an ancestor is a cycle, not a deeper level.
    fn object_id(&self, path: &str) -> Result<Option<u64>>;
    /// The names of every member of the group at `path`, groups or not: cheaper than `children` where
    /// telling them apart means reading each member's header.
    fn member_names(&self, path: &str) -> Result<Vec<String>> {
        Ok(self.children(path)?.into_iter().map(|(name, _)| name).collect())
    }
}

/// Group levels walked in a Keras 3 file: nested models inside nested models, deeper than any real model.
pub(crate) const MAX_DEPTH: usize = 32;
/// Weights listed per file: far more than any model has, bounded so a hostile tree stays small.
pub(crate) const MAX_WEIGHTS: usize = 100_000;
/// Chunks `layer_names0`, `layer_names1`, … Keras 2 splits a long attribute into (64 KiB each).
const MAX_ATTRIBUTE_CHUNKS: usize = 4096;

/// One weight: the name shown and the dataset's path in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Weight {
    pub name: String,
    pub path: String,
}

pub(crate) fn join(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_string()
    } else {
        format!("{parent}/{child}")
    }
}

/// A Keras 2 list attribute, whole or split into `name0`, `name1`, … as `save_attributes_to_hdf5_group` does.
pub(crate) fn list_attribute(tree: &dyn Tree, path: &str, name: &str) -> Option<Vec<String>> {
    if let Some(whole) = tree.strings(path, name) {
        return Some(whole);
    }
    let mut out: Vec<String> = Vec::new();
    for chunk in 0..MAX_ATTRIBUTE_CHUNKS {
        match tree.strings(path, &format!("{name}{chunk}")) {
            Some(part) => out.extend(part),
            None if chunk == 0 => return None,
            None => break,
        }
    }
    Some(out)
}

/// Where a Keras 2 file keeps its layers: `model_weights` for `model.save`, the root for `save_weights`.
pub(crate) fn keras2_base(tree: &dyn Tree) -> Option<&'static str> {
    ["model_weights", ""]
        .into_iter()
        .find(|base| tree.strings(base, "layer_names").is_some() || { tree.strings(base, "layer_names0").is_some() })
}

/// Keras 2 weights in `layer_names` then `weight_names` order, named as Keras wrote them
/// (`conv1/kernel:0`); a name two layers share is shown with its layer in front. `None` when a listed
/// layer has no `weight_names` (Keras writes one for every layer, empty or not): not a Keras file.
pub(crate) fn keras2_weights(tree: &dyn Tree, base: &str) -> Option<Vec<Weight>> {
    let layers = list_attribute(tree, base, "layer_names")?;
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for layer in layers {
        let layer_path = join(base, &layer);
        for weight in list_attribute(tree, &layer_path, "weight_names")? {
            if out.len() >= MAX_WEIGHTS {
                return Some(out);
            }
            let name = if seen.contains(&weight) { format!("{layer}/{weight}") } else { weight.clone() };
            seen.insert(name.clone());
            out.push(Weight { name, path: join(&layer_path, &weight) });
        }
    }
    Some(out)
}

/// A Keras 3 file: the model's own `vars` group beside its `layers` at the root (Keras 3 writes both,
/// even when the model has no variables of its own); a plain HDF5 file with a `layers` group is not one.
pub(crate) fn is_keras3(tree: &dyn Tree) -> bool {
    let has = |children: &[(String, bool)], want: &str| children.iter().any(|(name, group)| *group && name == want);
    tree.children("").is_ok_and(|c| has(&c, "layers") && has(&c, "vars"))
}

/// One layer of a config.json: its class, name, the variables it makes and its nested layers.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ConfigLayer {
    pub class: String,
    pub name: String,
    pub variables: Option<Vec<&'static str>>,
    /// The variables the config itself promises (bias and centering as configured), when it says enough:
    /// what `keras_plan` names without reading the layer's group.
    pub planned: Option<Vec<&'static str>>,
    pub layers: Vec<ConfigLayer>,
}

/// The model's class and name and its layers, from config.json; `None` when it is not a Keras config.
pub(crate) fn parse_config(json: &[u8]) -> Option<ConfigLayer> {
    let value: Value = serde_json::from_slice(json).ok()?;
    value.get("class_name")?.as_str()?;
    Some(config_layer(&value, 0))
}

fn config_layer(value: &Value, depth: usize) -> ConfigLayer {
    let class = value.get("class_name").and_then(Value::as_str).unwrap_or("").to_string();
    let config = value.get("config");
    let name = config.and_then(|c| c.get("name")).and_then(Value::as_str).unwrap_or("").to_string();
    let layers = match config.and_then(|c| c.get("layers")).and_then(Value::as_array) {
        Some(list) if depth < MAX_DEPTH => list.iter().map(|l| config_layer(l, depth + 1)).collect(),
        _ => Vec::new(),
    };
    let flag = |key: &str| config.and_then(|c| c.get(key)).and_then(Value::as_bool).unwrap_or(true);
    let variables = variable_names(&class, flag("center"), flag("scale"));
    let planned = config.and_then(|c| super::keras_plan::planned_variables(&class, c));
    ConfigLayer { class, name, variables, planned, layers }
}

/// The variables a built-in Keras 3 layer creates, in `save_own_variables` order (trainable first);
/// `None` for classes whose variables are not known (they keep `vars/<i>`).
pub(crate) fn variable_names(class: &str, center: bool, scale: bool) -> Option<Vec<&'static str>> {
    let norm = |mut names: Vec<&'static str>| {
        names.retain(|n| (scale || *n != "gamma") && (center || *n != "beta"));
        Some(names)
    };
    match class {
        "Conv1D" | "Conv2D" | "Conv3D" | "Conv1DTranspose" | "Conv2DTranspose" | "Conv3DTranspose" | "Dense"
        | "EinsumDense" | "DepthwiseConv1D" | "DepthwiseConv2D" => Some(vec!["kernel", "bias"]),
        "SeparableConv1D" | "SeparableConv2D" => Some(vec!["depthwise_kernel", "pointwise_kernel", "bias"]),
        "BatchNormalization" => norm(vec!["gamma", "beta", "moving_mean", "moving_variance"]),
        "LayerNormalization" | "GroupNormalization" => norm(vec!["gamma", "beta"]),
        "Embedding" => Some(vec!["embeddings"]),
        "PReLU" => Some(vec!["alpha"]),
        _ => None,
    }
}

/// Keras' `naming.to_snake_case`: `Conv2D` → `conv2d`, `BatchNormalization` → `batch_normalization`.
pub(crate) fn to_snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().filter(|c| c.is_alphanumeric() || *c == '_').collect();
    // Step 1: `(.)([A-Z][a-z]+)` → `\1_\2`; step 2: `([a-z])([A-Z])` → `\1_\2`; then lower case.
    let mut first = String::new();
    for (i, &c) in chars.iter().enumerate() {
        let starts_word = i > 0 && c.is_ascii_uppercase() && chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
        if starts_word {
            first.push('_');
        }
        first.push(c);
    }
    let first: Vec<char> = first.chars().collect();
    let mut out = String::new();
    for (i, &c) in first.iter().enumerate() {
        if i > 0 && c.is_ascii_uppercase() && first[i - 1].is_ascii_lowercase() {
            out.push('_');
        }
        out.push(c);
    }
    out.to_lowercase()
}

/// The class whose snake-case name a group is called by (`conv2d_3` → `Conv2D`), among those whose
/// variables are known.
fn class_of_group(group: &str) -> Option<&'static str> {
    const CLASSES: &[&str] = &[
        "Conv1D",
        "Conv2D",
        "Conv3D",
        "Conv1DTranspose",
        "Conv2DTranspose",
        "Conv3DTranspose",
        "Dense",
        "EinsumDense",
        "DepthwiseConv1D",
        "DepthwiseConv2D",
        "SeparableConv1D",
        "SeparableConv2D",
        "BatchNormalization",
        "LayerNormalization",
        "GroupNormalization",
        "Embedding",
        "PReLU",
    ];
    let base = match group.rsplit_once('_') {
        Some((base, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => base,
        _ => group,
    };
    CLASSES.iter().copied().find(|class| to_snake_case(class) == base)
}

/// Keras 3 weights: the config's layers in model order when there is a config, then anything the
/// config did not account for (or everything, without one) in the file's natural group order.
pub(crate) fn keras3_weights(tree: &dyn Tree, config: Option<&ConfigLayer>) -> Result<Vec<Weight>> {
    let mut walk = Keras3Walk { tree, out: Vec::new(), done: HashSet::new(), walked: HashSet::new() };
    if let Some(model) = config {
        walk.config_level("", &model.layers, "", 0)?;
    }
    walk.leftovers("", Some(String::new()), 0)?;
    dedupe(&mut walk.out);
    Ok(walk.out)
}

pub(crate) struct Keras3Walk<'a> {
    pub tree: &'a dyn Tree,
    pub out: Vec<Weight>,
    /// `vars` groups already listed.
    pub done: HashSet<String>,
    /// Groups already walked for leftovers, by object: each is walked once, whatever links lead to it.
    pub walked: HashSet<u64>,
}

impl Keras3Walk<'_> {
    /// The layers of the model at `path`, matched to their groups under `path/layers`: by the `vars`
    /// group's `name` attribute when Keras wrote one, else by Keras' own naming (class, then a counter).
    fn config_level(&mut self, path: &str, layers: &[ConfigLayer], prefix: &str, depth: usize) -> Result<()> {
        let layers_path = join(path, "layers");
        let groups = self.groups(&layers_path)?;
        let by_name: HashMap<String, String> = groups
            .iter()
            .filter_map(|g| {
                let name = self.tree.strings(&join(&join(&layers_path, g), "vars"), "name")?.into_iter().next()?;
                Some((name, g.clone()))
            })
            .collect();
        let mut counters: HashMap<String, usize> = HashMap::new();
        for layer in layers {
            let snake = to_snake_case(&layer.class);
            let count = counters.entry(snake.clone()).or_insert(0);
            let by_counter = if *count == 0 { snake } else { format!("{snake}_{count}") };
            *count += 1;
            let group = by_name.get(&layer.name).cloned().unwrap_or(by_counter);
            if !groups.contains(&group) {
                continue;
            }
            let group_path = join(&layers_path, &group);
            let shown = join(prefix, if layer.name.is_empty() { &group } else { &layer.name });
            self.vars(&group_path, &shown, layer.variables.as_deref())?;
            if !layer.layers.is_empty() && depth < MAX_DEPTH {
                self.config_level(&group_path, &layer.layers, &shown, depth + 1)?;
            }
        }
        Ok(())
    }

    /// Every `vars` group not yet listed, depth first, children in natural order. A layer is shown by
    /// the names Keras stored on the way down (`prefix`), or by its group path (`None`) where one is missing.
    pub(crate) fn leftovers(&mut self, path: &str, prefix: Option<String>, depth: usize) -> Result<()> {
        if depth > MAX_DEPTH || self.out.len() >= MAX_WEIGHTS {
            return Ok(());
        }
        match self.tree.object_id(path)? {
            Some(id) if self.walked.insert(id) => {}
            _ => return Ok(()),
        }
        let groups = self.groups(path)?;
        if groups.iter().any(|g| g == "vars") {
            let group = path.rsplit('/').next().unwrap_or(path);
            let variables = class_of_group(group).and_then(|class| variable_names(class, true, true));
            // The top model's own variables (rare) have no layer name: shown by their paths.
            let shown = prefix.as_deref().filter(|p| !p.is_empty()).unwrap_or("");
            self.vars(path, shown, variables.as_deref())?;
        }
        let in_layers = path == "layers" || path.ends_with("/layers");
        for child in groups.iter().filter(|g| *g != "vars") {
            let child_path = join(path, child);
            let shown = if child == "layers" {
                prefix.clone()
            } else if in_layers {
                let name = self.tree.strings(&join(&child_path, "vars"), "name").and_then(|n| n.into_iter().next());
                prefix.as_deref().zip(name).map(|(p, name)| join(p, &name))
            } else {
                None
            };
            self.leftovers(&child_path, shown, depth + 1)?;
        }
        Ok(())
    }

    /// The datasets of `group/vars`, in index order, named `<shown>/<variable>` (`<shown>/vars/<i>`
    /// when the variable is not known, the full path when the layer has no name).
    pub(crate) fn vars(&mut self, group: &str, shown: &str, variables: Option<&[&'static str]>) -> Result<()> {
        let vars_path = join(group, "vars");
        if !self.done.insert(vars_path.clone()) {
            return Ok(());
        }
        let mut datasets: Vec<String> =
            self.tree.children(&vars_path)?.into_iter().filter(|(_, g)| !g).map(|(n, _)| n).collect();
        sorting::sort_by(&mut datasets, |a, b| natural_cmp(a, b));
        // A layer built without a bias (or BN without centering) stores fewer variables, in the same order.
        let known = variables.filter(|names| datasets.len() <= names.len());
        for (i, dataset) in datasets.iter().enumerate() {
            if self.out.len() >= MAX_WEIGHTS {
                return Ok(());
            }
            let path = join(&vars_path, dataset);
            let variable = known.and_then(|names| names.get(i)).map(|v| v.to_string());
            let name = match (shown.is_empty(), variable) {
                (true, _) => path.clone(),
                (false, Some(variable)) => join(shown, &variable),
                (false, None) => join(shown, &format!("vars/{dataset}")),
            };
            self.out.push(Weight { name, path });
        }
        Ok(())
    }

    /// Child groups of `path`, in natural order.
    pub(crate) fn groups(&self, path: &str) -> Result<Vec<String>> {
        let mut groups: Vec<String> =
            self.tree.children(path)?.into_iter().filter(|(_, g)| *g).map(|(n, _)| n).collect();
        sorting::sort_by(&mut groups, |a, b| natural_cmp(a, b));
        Ok(groups)
    }
}

/// Names must be unique to be asked for: a name shown twice falls back to its dataset path.
pub(crate) fn dedupe(weights: &mut [Weight]) {
    let mut count: HashMap<String, usize> = HashMap::new();
    for w in weights.iter() {
        *count.entry(w.name.clone()).or_insert(0) += 1;
    }
    for w in weights.iter_mut() {
        if count.get(&w.name).is_some_and(|&n| n > 1) {
            w.name = w.path.clone();
        }
    }
}

#[cfg(test)]
#[path = "keras_layout_tests.rs"]
mod tests;
