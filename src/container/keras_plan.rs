//! Keras 3 `.keras` weights named from config.json without reading each layer's group: Keras writes a
//! layer's HDF5 headers beside its data, so walking every group costs one read per layer. The plan names a
//! built-in layer's variables from its config (bias, centering) and its group by Keras' own naming (class,
//! then a counter), reading only the `layers` listings; each layer's group is checked against the plan when
//! one of its weights is first asked for.

use super::keras_layout::{self, join, ConfigLayer, Keras3Walk, Tree, Weight, MAX_DEPTH, MAX_WEIGHTS};
use crate::error::{Error, Result};
use crate::natural::natural_cmp;
use crate::sorting;
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};

/// What the plan assumed about one layer's group, checked when one of its weights is first looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LayerCheck {
    /// The layer's group (`layers/conv2d`).
    pub group: String,
    /// The layer's name in config.json, which the `vars` group's `name` attribute must match when present.
    pub name: String,
    /// The datasets of `group/vars`, in natural order.
    pub datasets: Vec<String>,
}

/// The weights of a `.keras`, in today's order and names, and which layer check each one waits on.
pub(crate) struct Plan {
    pub weights: Vec<Weight>,
    pub checks: Vec<LayerCheck>,
    /// For each weight, the index of its layer's check in `checks` (none for the weights read at open).
    pub check_of: Vec<Option<usize>>,
}

/// The variables a built-in layer creates as its config states them, in `save_own_variables` order; a key
/// left out takes Keras' default, as `from_config` would build it (`use_bias`, `center`, `scale`: true).
/// `None` when the config leaves it open (quantized or LoRA layers, unknown classes, a flag not a bool).
pub(crate) fn planned_variables(class: &str, config: &Value) -> Option<Vec<&'static str>> {
    let config = config.as_object()?;
    let flag = |key: &str| match config.get(key) {
        None => Some(true),
        Some(value) => value.as_bool(),
    };
    if is_quantized(config) || config.get("lora_rank").is_some_and(|r| !r.is_null()) {
        return None;
    }
    let with_bias = |names: &[&'static str], bias: bool| {
        let mut names = names.to_vec();
        if bias {
            names.push("bias");
        }
        Some(names)
    };
    match class {
        "Conv1D" | "Conv2D" | "Conv3D" | "Conv1DTranspose" | "Conv2DTranspose" | "Conv3DTranspose" | "Dense"
        | "DepthwiseConv1D" | "DepthwiseConv2D" => with_bias(&["kernel"], flag("use_bias")?),
        "EinsumDense" => with_bias(&["kernel"], config.get("bias_axes").is_some_and(|axes| !axes.is_null())),
        "SeparableConv1D" | "SeparableConv2D" => {
            with_bias(&["depthwise_kernel", "pointwise_kernel"], flag("use_bias")?)
        }
        "BatchNormalization" | "GroupNormalization" => {
            keras_layout::variable_names(class, flag("center")?, flag("scale")?)
        }
        // RMS scaling makes no beta (keras/src/layers/normalization/layer_normalization.py).
        "LayerNormalization" if matches!(config.get("rms_scaling"), None | Some(Value::Bool(false))) => {
            keras_layout::variable_names(class, flag("center")?, flag("scale")?)
        }
        "Embedding" | "PReLU" => keras_layout::variable_names(class, true, true),
        _ => None,
    }
}

/// A layer whose dtype policy quantizes it stores scales beside its kernel.
fn is_quantized(config: &Map<String, Value>) -> bool {
    let Some(dtype) = config.get("dtype") else { return false };
    let name = match dtype {
        Value::String(name) => name.as_str(),
        Value::Object(policy) => {
            if policy.get("class_name").and_then(Value::as_str).is_some_and(|c| c.contains("Quantized")) {
                return true;
            }
            policy.get("config").and_then(|c| c.get("name")).and_then(Value::as_str).unwrap_or("")
        }
        _ => "",
    };
    name.contains("_from_") || name.contains("int") || name.contains("float8")
}

/// The plan for a `.keras` with a config, or `None` when the file's `layers` listings hold a group the
/// config does not account for (the caller then walks every group, as without a plan).
pub(crate) fn keras3_plan(tree: &dyn Tree, model: &ConfigLayer) -> Result<Option<Plan>> {
    let mut plan = Planning { walk: walk(tree), checks: Vec::new(), check_of: Vec::new() };
    if !plan.level("", &model.layers, "", 0)? {
        return Ok(None);
    }
    // What follows the config's layers without a config: the model's own `vars`, then every other group at
    // the root (an optimizer's state), walked as before; `layers` holds nothing the plan did not name.
    let before = plan.walk.out.len();
    for id in ["", "layers"].iter().filter_map(|p| tree.object_id(p).transpose()) {
        plan.walk.walked.insert(id?);
    }
    let root = plan.walk.groups("")?;
    if root.iter().any(|g| g == "vars") {
        plan.walk.vars("", "", None)?;
    }
    for child in root.iter().filter(|g| *g != "vars" && *g != "layers") {
        plan.walk.leftovers(child, None, 1)?;
    }
    let read_at_open = plan.walk.out.len() - before;
    plan.check_of.extend(std::iter::repeat_n(None, read_at_open));
    let Planning { mut walk, checks, check_of } = plan;
    keras_layout::dedupe(&mut walk.out);
    Ok(Some(Plan { weights: walk.out, checks, check_of }))
}

fn walk(tree: &dyn Tree) -> Keras3Walk<'_> {
    Keras3Walk { tree, out: Vec::new(), done: HashSet::new(), walked: HashSet::new() }
}

struct Planning<'a> {
    walk: Keras3Walk<'a>,
    checks: Vec<LayerCheck>,
    check_of: Vec<Option<usize>>,
}

impl Planning<'_> {
    /// The layers of the model at `path`, as `Keras3Walk::config_level` lists them when each group is named
    /// by Keras' counter; false when a group under `path/layers` is left over or a group read here is not
    /// the config's layer.
    fn level(&mut self, path: &str, layers: &[ConfigLayer], prefix: &str, depth: usize) -> Result<bool> {
        let layers_path = join(path, "layers");
        // Every member, groups or not, so that telling them apart reads no layer's header: a member the
        // config does not name sends the file to the full walk, and a planned one that is not a group fails
        // its check.
        let groups = self.walk.tree.member_names(&layers_path)?;
        let mut claimed = HashSet::new();
        let mut counters: HashMap<String, usize> = HashMap::new();
        for layer in layers {
            let snake = keras_layout::to_snake_case(&layer.class);
            let count = counters.entry(snake.clone()).or_insert(0);
            let group = if *count == 0 { snake } else { format!("{snake}_{count}") };
            *count += 1;
            if !groups.contains(&group) {
                continue;
            }
            claimed.insert(group.clone());
            let group_path = join(&layers_path, &group);
            let shown = join(prefix, if layer.name.is_empty() { &group } else { &layer.name });
            match &layer.planned {
                Some(variables) if layer.layers.is_empty() && !layer.name.is_empty() => {
                    self.planned(&group_path, &shown, &layer.name, variables)
                }
                _ if self.read_now(&group_path, &shown, layer, depth)? => {}
                _ => return Ok(false),
            }
        }
        Ok(groups.iter().all(|g| claimed.contains(g)))
    }

    /// A layer named from its config: `<shown>/<variable>` at `group/vars/<i>`.
    fn planned(&mut self, group: &str, shown: &str, name: &str, variables: &[&'static str]) {
        let vars_path = join(group, "vars");
        self.walk.done.insert(vars_path.clone());
        let check = self.checks.len();
        let datasets: Vec<String> = (0..variables.len()).map(|i| i.to_string()).collect();
        for (variable, dataset) in variables.iter().zip(&datasets) {
            if self.walk.out.len() >= MAX_WEIGHTS {
                break;
            }
            self.walk.out.push(Weight { name: join(shown, variable), path: join(&vars_path, dataset) });
            self.check_of.push(Some(check));
        }
        self.checks.push(LayerCheck { group: group.to_string(), name: name.to_string(), datasets });
    }

    /// A layer the config does not describe enough (a nested model, an unknown class): its group read now.
    /// False when the group holds more than Keras writes there or its stored name is another layer's.
    fn read_now(&mut self, group: &str, shown: &str, layer: &ConfigLayer, depth: usize) -> Result<bool> {
        let children = self.walk.groups(group)?;
        if children.iter().any(|g| g != "vars" && g != "layers") {
            return Ok(false);
        }
        let stored = self.walk.tree.strings(&join(group, "vars"), "name").and_then(|n| n.into_iter().next());
        if stored.is_some_and(|stored| stored != layer.name) {
            return Ok(false);
        }
        let before = self.walk.out.len();
        self.walk.vars(group, shown, layer.variables.as_deref())?;
        self.check_of.extend(std::iter::repeat_n(None, self.walk.out.len() - before));
        let nested = children.iter().any(|g| g == "layers");
        match (nested, layer.layers.is_empty()) {
            (false, _) => Ok(true),
            (true, false) if depth < MAX_DEPTH => self.level(group, &layer.layers, shown, depth + 1),
            _ => Ok(false),
        }
    }
}

/// Checks a planned layer against its group: only `vars` inside, the name Keras stored (when it did) is
/// the config's, and the datasets are the ones named.
pub(crate) fn check_layer(tree: &dyn Tree, check: &LayerCheck) -> Result<()> {
    let mismatch = || {
        Error::Malformed(format!(
            "The weights file does not hold the layer {} as its config.json describes it, so its weights cannot be named from the config.",
            check.name
        ))
    };
    let children = tree.children(&check.group)?;
    let groups: Vec<&str> = children.iter().filter(|(_, g)| *g).map(|(n, _)| n.as_str()).collect();
    if groups != ["vars"] {
        return Err(mismatch());
    }
    let vars = join(&check.group, "vars");
    if tree.strings(&vars, "name").and_then(|n| n.into_iter().next()).is_some_and(|stored| stored != check.name) {
        return Err(mismatch());
    }
    // Names alone: a dataset's header may sit past the layer's data (the bias after the kernel); one that is
    // not a dataset fails when it is read.
    let mut datasets = tree.member_names(&vars)?;
    sorting::sort_by(&mut datasets, |a, b| natural_cmp(a, b));
    if datasets != check.datasets {
        return Err(mismatch());
    }
    Ok(())
}
