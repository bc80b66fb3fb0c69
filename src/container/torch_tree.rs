//! From an unpickled PyTorch object graph to named tensors: walks dicts, lists and (never-called)
//! module objects in pickle order, names each tensor by its dotted path, and reads each tensor's
//! storage reference. Shared by the zip, TorchScript and legacy containers.

use super::pickle::{as_count, Allowed, Node, TensorRecipe, Unpickled, Value};
use crate::error::{Error, Result};
use crate::tensor::DType;

/// Object-graph nodes visited while naming tensors; shared (memo) objects are walked once per
/// path, so this bounds "billion laughs" graphs and cycles.
const MAX_WALK_VISITS: usize = 1 << 20;
/// Path depth walked; real checkpoints nest a few dozen levels.
const MAX_WALK_DEPTH: usize = 512;
/// Tensors listed; a ViT-g with optimizer state has a few thousand.
const MAX_TENSORS: usize = 1 << 16;
/// Longest tensor name kept, in bytes.
const MAX_NAME_LEN: usize = 1024;
/// Module attributes that hold its tensors and children; skipped in names as `state_dict()` does.
const MODULE_SLOTS: [&str; 3] = ["_parameters", "_buffers", "_modules"];

/// Where a tensor's elements live, as its storage's persistent id says.
#[derive(Debug, Clone, PartialEq)]
pub struct StorageRef {
    /// The storage's key: its entry name under `data/` (zip) or its id (legacy).
    pub key: String,
    pub dtype: DType,
    pub item_size: usize,
    /// Elements in the (root) storage.
    pub numel: u64,
}

/// One tensor found in the graph.
#[derive(Debug, Clone)]
pub struct FoundTensor {
    pub name: String,
    pub recipe: TensorRecipe,
    /// The storage, or why its reference could not be understood.
    pub storage: std::result::Result<StorageRef, Error>,
}

/// Tensors in pickle order and what else the walk saw.
#[derive(Debug, Default)]
pub struct Tree {
    pub tensors: Vec<FoundTensor>,
    /// Class names of pickled module objects (`models.yolo.Model`), first few.
    pub module_classes: Vec<String>,
    /// The walk stopped at a limit; the listing may be incomplete.
    pub truncated: bool,
}

/// A path segment and its parent, so names are built only for tensors.
struct Segment {
    parent: Option<usize>,
    text: String,
}

/// Walks `root` depth-first in pickle order, naming tensors below `prefix` (empty for none).
pub fn find_tensors(pickle: &Unpickled, prefix: &str, tree: &mut Tree) {
    let mut segments: Vec<Segment> = Vec::new();
    let start = (!prefix.is_empty()).then(|| {
        segments.push(Segment { parent: None, text: prefix.to_string() });
        0
    });
    // (value, path, depth); children are pushed in reverse so they pop in file order.
    let mut stack: Vec<(Value, Option<usize>, usize)> = vec![(pickle.root.clone(), start, 0)];
    let mut visits = 0usize;
    while let Some((value, path, depth)) = stack.pop() {
        visits += 1;
        if visits > MAX_WALK_VISITS || depth > MAX_WALK_DEPTH || tree.tensors.len() >= MAX_TENSORS {
            tree.truncated = true;
            if visits > MAX_WALK_VISITS || tree.tensors.len() >= MAX_TENSORS {
                return;
            }
            continue;
        }
        let Some(node) = pickle.node(&value) else { continue };
        let mut children: Vec<(Value, Option<String>)> = Vec::new();
        match node {
            Node::Tensor(recipe) => {
                let name = name_of(&segments, path);
                let storage = storage_ref(pickle, &recipe.storage, &name);
                let mut recipe = recipe.clone();
                if let Ok(view_offset) = view_offset(pickle, &recipe.storage) {
                    recipe.offset = recipe.offset.saturating_add(view_offset);
                }
                tree.tensors.push(FoundTensor { name, recipe, storage });
            }
            Node::Dict(entries) => {
                children.extend(entries.iter().enumerate().map(|(i, (k, v))| (v.clone(), Some(key_text(pickle, k, i)))))
            }
            Node::List(items) | Node::Tuple(items) | Node::Set(items) => {
                children.extend(items.iter().enumerate().map(|(i, v)| (v.clone(), Some(i.to_string()))))
            }
            Node::Object { class, args, state, items, entries } => {
                let state_entries = state.as_ref().and_then(|s| match pickle.node(s) {
                    Some(Node::Dict(entries)) => Some(entries),
                    _ => None,
                });
                let is_module = state_entries.is_some_and(|entries| {
                    entries.iter().any(|(k, _)| matches!(k, Value::Str(s) if MODULE_SLOTS.contains(&&**s)))
                });
                if is_module && tree.module_classes.len() < 4 {
                    let class = class_name(pickle, class);
                    if !tree.module_classes.contains(&class) {
                        tree.module_classes.push(class);
                    }
                }
                children.push((args.clone(), None));
                match (state_entries, state) {
                    (Some(entries), _) => {
                        for (i, (k, v)) in entries.iter().enumerate() {
                            let slot = matches!(k, Value::Str(s) if MODULE_SLOTS.contains(&&**s));
                            children.push((v.clone(), (!(is_module && slot)).then(|| key_text(pickle, k, i))));
                        }
                    }
                    (None, Some(state)) => children.push((state.clone(), None)),
                    (None, None) => {}
                }
                children.extend(items.iter().enumerate().map(|(i, v)| (v.clone(), Some(i.to_string()))));
                children
                    .extend(entries.iter().enumerate().map(|(i, (k, v))| (v.clone(), Some(key_text(pickle, k, i)))));
            }
            Node::Global { .. } | Node::Persistent(_) | Node::Array(_) | Node::NumpyDType { .. } => {}
        }
        // Children count as visits when pushed: a list that holds itself thousands of times would
        // otherwise push thousands of entries per visit.
        visits = visits.saturating_add(children.len());
        if visits > MAX_WALK_VISITS {
            tree.truncated = true;
            return;
        }
        for (child, segment) in children.into_iter().rev() {
            let child_path = match segment {
                Some(text) => {
                    segments.push(Segment { parent: path, text });
                    Some(segments.len() - 1)
                }
                None => path,
            };
            stack.push((child, child_path, depth + 1));
        }
    }
}

fn name_of(segments: &[Segment], mut path: Option<usize>) -> String {
    let mut parts = Vec::new();
    while let Some(i) = path {
        let Some(segment) = segments.get(i) else { break };
        parts.push(segment.text.as_str());
        path = segment.parent;
        if parts.len() > MAX_WALK_DEPTH {
            break;
        }
    }
    parts.reverse();
    let mut name = parts.join(".");
    if name.is_empty() {
        name = "tensor".into();
    }
    if name.len() > MAX_NAME_LEN {
        let mut cut = MAX_NAME_LEN;
        while !name.is_char_boundary(cut) {
            cut -= 1;
        }
        name.truncate(cut);
        name.push('…');
    }
    name
}

/// A dict key as a name segment: strings and numbers as written, anything else by position.
fn key_text(pickle: &Unpickled, key: &Value, index: usize) -> String {
    match key {
        Value::Str(s) => s.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Bool(b) => if *b { "True" } else { "False" }.to_string(),
        Value::None => "None".to_string(),
        _ => match pickle.global(key) {
            Some((module, name, _)) => format!("{module}.{name}"),
            None => format!("[{index}]"),
        },
    }
}

/// `module.name` of a pickled class (or of the class a legacy `('module', class, …)` id names).
pub fn class_name(pickle: &Unpickled, class: &Value) -> String {
    if let Some((module, name, _)) = pickle.global(class) {
        return format!("{module}.{name}");
    }
    if let Some(Node::Persistent(id)) = pickle.node(class) {
        if let Some(Node::Tuple(items)) = pickle.node(id) {
            if let Some((module, name, _)) = items.get(1).and_then(|c| pickle.global(c)) {
                return format!("{module}.{name}");
            }
        }
    }
    "an unnamed class".to_string()
}

/// The items of a persistent id `('storage', type, key, location, numel[, view_metadata])`.
fn storage_id<'a>(pickle: &'a Unpickled, storage: &Value) -> Option<&'a [Value]> {
    let Some(Node::Persistent(id)) = pickle.node(storage) else { return None };
    match pickle.node(id) {
        Some(Node::Tuple(items)) if matches!(items.first(), Some(Value::Str(s)) if &**s == "storage") => Some(items),
        _ => None,
    }
}

fn storage_ref(pickle: &Unpickled, storage: &Value, name: &str) -> std::result::Result<StorageRef, Error> {
    let bad = || Error::Unsupported(format!("Tensor {name} refers to its data in a way patchlens does not read."));
    let items = storage_id(pickle, storage).ok_or_else(bad)?;
    let (dtype_name, item_size) = match items.get(1).and_then(|t| pickle.global(t)) {
        Some((_, _, Some(Allowed::Storage(dtype, size) | Allowed::DType(dtype, size)))) => (dtype, size),
        Some((module, class, _)) => {
            return Err(Error::Unsupported(format!(
                "Tensor {name} is stored as {module}.{class}, a storage type patchlens does not know."
            )))
        }
        None => return Err(bad()),
    };
    let key = match items.get(2) {
        Some(Value::Str(key)) => key.to_string(),
        Some(Value::Int(key)) => key.to_string(),
        _ => return Err(bad()),
    };
    let numel = items.get(4).and_then(as_count).ok_or_else(bad)? as u64;
    let dtype = match dtype_name {
        "float32" => DType::F32,
        "float64" => DType::F64,
        "float16" => DType::F16,
        "bfloat16" => DType::BF16,
        other => DType::Other(other.to_string()),
    };
    Ok(StorageRef { key, dtype, item_size, numel })
}

/// A legacy storage view `(view_key, offset, size)` shifts the tensor by `offset` elements.
fn view_offset(pickle: &Unpickled, storage: &Value) -> Result<u64> {
    let items = storage_id(pickle, storage).ok_or_else(|| Error::Malformed("No storage id.".into()))?;
    match items.get(5).and_then(|v| pickle.node(v)) {
        Some(Node::Tuple(view)) => Ok(view.get(1).and_then(as_count).unwrap_or(0) as u64),
        _ => Ok(0),
    }
}

/// Notes shared by the torch containers: globals named but not called, modules, truncation.
pub fn tree_notes(refused: &[String], tree: &Tree) -> Vec<String> {
    let mut notes = Vec::new();
    if !tree.module_classes.is_empty() {
        notes.push(format!(
            "This file pickles whole model objects ({}); patchlens reads their tensors without running their code.",
            tree.module_classes.join(", ")
        ));
    }
    if !refused.is_empty() {
        const SHOWN: usize = 8;
        let more = refused.len().saturating_sub(SHOWN);
        let mut list = refused.iter().take(SHOWN).cloned().collect::<Vec<_>>().join(", ");
        if more > 0 {
            list.push_str(&format!(" and {more} more"));
        }
        notes.push(format!("Not called, only named: {list}."));
    }
    if tree.truncated {
        notes.push("The pickle's object graph is larger than patchlens walks; some tensors may be missing.".into());
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::pickle::unpickle_bytes;

    #[test]
    fn a_list_holding_itself_many_times_stops_at_the_walk_limit() {
        // [] memoised as 0, then MARK, 5000 × BINGET 0, APPENDS: every visit would queue 5000 more.
        let mut bytes = b"\x80\x02]q\x00(".to_vec();
        bytes.extend(std::iter::repeat_n(*b"h\x00", 5000).flatten());
        bytes.extend(b"e.");
        let pickle = unpickle_bytes(&bytes).unwrap();
        let mut tree = Tree::default();
        find_tensors(&pickle, "", &mut tree);
        assert!(tree.truncated && tree.tensors.is_empty());
    }
}
