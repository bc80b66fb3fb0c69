//! From an unpickled object graph to named NumPy arrays: walks dicts, lists, object arrays and
//! (never-called) objects in pickle order, names each array by its path of keys joined by '/', and
//! tells the PyTorch-like families (detectron2, Caffe2, Paddle) by their top-level keys.

use super::super::pickle::{ArrayRecipe, Node, Unpickled, Value};
use std::rc::Rc;

/// Graph nodes visited or queued; shared (memo) objects are walked once per path, so this bounds
/// "billion laughs" graphs and cycles, in time and in memory.
const MAX_WALK_VISITS: usize = 1 << 20;
/// Path depth walked; real files nest a few levels.
const MAX_WALK_DEPTH: usize = 256;
/// Arrays listed; a detectron2 model has a few hundred, an optimizer state a few thousand.
const MAX_ARRAYS: usize = 1 << 16;
/// Longest array name kept, in bytes.
const MAX_NAME_LEN: usize = 1024;
/// Top-level keys that wrap the weights dict: detectron2 (`model`), Detectron/Caffe2 (`blobs`), and
/// the usual training-script names. Their key is left out of tensor names.
const WRAPPER_KEYS: [&str; 5] = ["model", "blobs", "state_dict", "model_state_dict", "params"];

/// One array found in the graph; `recipe` is `None` when the pickle never described it.
pub struct FoundArray {
    pub name: String,
    pub recipe: Option<ArrayRecipe>,
}

#[derive(Default)]
pub struct Found {
    pub arrays: Vec<FoundArray>,
    /// The framework whose layout the file follows, if its keys say (a sentence fragment).
    pub family: Option<&'static str>,
    /// The top-level key left out of names.
    pub wrapper: Option<String>,
    /// The walk stopped at a limit.
    pub truncated: bool,
}

/// Walks `pickle.root` depth-first in pickle order.
pub fn find_arrays(pickle: &Unpickled) -> Found {
    let mut found = Found { family: family(pickle), ..Found::default() };
    // Path segments as an arena of (parent, text), so a child's path costs one entry, not a copy; a
    // string key shares the pickle's own text.
    let mut segments: Vec<(Option<usize>, Rc<str>)> = Vec::new();
    let mut parts: Vec<(Option<usize>, Option<ArrayRecipe>)> = Vec::new();
    // (value, path, depth); children are pushed in reverse so they pop in file order.
    let mut stack: Vec<(Value, Option<usize>, usize)> = vec![(pickle.root.clone(), None, 0)];
    let mut visits = 0usize;
    while let Some((value, path, depth)) = stack.pop() {
        visits += 1;
        if visits > MAX_WALK_VISITS || parts.len() >= MAX_ARRAYS {
            found.truncated = true;
            break;
        }
        if depth > MAX_WALK_DEPTH {
            found.truncated = true;
            continue;
        }
        let Some(node) = pickle.node(&value) else { continue };
        let mut children: Vec<(Value, Option<Rc<str>>)> = Vec::new();
        match node {
            Node::Array(Some(recipe)) => match object_items(pickle, recipe) {
                // An object array (np.save of a dict): its elements are walked; a 0-d one adds no name.
                Some(items) => {
                    let named = !recipe.shape.is_empty();
                    children.extend(
                        items.iter().enumerate().map(|(i, v)| (v.clone(), named.then(|| i.to_string().into()))),
                    );
                }
                None => parts.push((path, Some(recipe.clone()))),
            },
            Node::Array(None) => parts.push((path, None)),
            Node::Dict(entries) => {
                children.extend(entries.iter().enumerate().map(|(i, (k, v))| (v.clone(), Some(key_text(pickle, k, i)))))
            }
            // Paddle's `(parameter name, array)` pair: the array, named by its key alone.
            Node::Tuple(items) if matches!(items.as_slice(), [Value::Str(_), v] if is_array(pickle, v)) => {
                children.extend(items.get(1).map(|v| (v.clone(), None)))
            }
            Node::List(items) | Node::Tuple(items) | Node::Set(items) => {
                children.extend(items.iter().enumerate().map(|(i, v)| (v.clone(), Some(i.to_string().into()))))
            }
            Node::Object { args, state, items, entries, .. } => {
                children.push((args.clone(), None));
                if let Some(state) = state {
                    children.push((state.clone(), None));
                }
                children.extend(items.iter().enumerate().map(|(i, v)| (v.clone(), Some(i.to_string().into()))));
                children
                    .extend(entries.iter().enumerate().map(|(i, (k, v))| (v.clone(), Some(key_text(pickle, k, i)))));
            }
            Node::Global { .. } | Node::Persistent(_) | Node::Tensor(_) | Node::NumpyDType { .. } => {}
        }
        // Children count as visits when pushed: a list that holds itself thousands of times would
        // otherwise push thousands of entries per visit.
        visits = visits.saturating_add(children.len());
        if visits > MAX_WALK_VISITS {
            found.truncated = true;
            break;
        }
        for (child, segment) in children.into_iter().rev() {
            let child_path = match segment {
                Some(text) => {
                    segments.push((path, text));
                    Some(segments.len() - 1)
                }
                None => path,
            };
            stack.push((child, child_path, depth + 1));
        }
    }
    found.wrapper = wrapper(pickle, &segments, &parts);
    let skip = usize::from(found.wrapper.is_some());
    found.arrays = parts
        .into_iter()
        .map(|(path, recipe)| {
            let path = path_of(&segments, path);
            FoundArray { name: name_of(path.get(skip..).unwrap_or_default()), recipe }
        })
        .collect();
    found
}

fn is_array(pickle: &Unpickled, value: &Value) -> bool {
    matches!(pickle.node(value), Some(Node::Array(_)))
}

/// An object array's elements, when its data is a list of Python objects.
fn object_items<'a>(pickle: &'a Unpickled, recipe: &ArrayRecipe) -> Option<&'a [Value]> {
    let object = matches!(pickle.node(&recipe.dtype), Some(Node::NumpyDType { code, .. }) if code.trim_start_matches(['|', '<', '>', '=']).starts_with('O'));
    match pickle.node(&recipe.data) {
        Some(Node::List(items) | Node::Tuple(items)) if object => Some(items),
        _ => None,
    }
}

/// The top-level wrapper key every array lies under, if it is one of [`WRAPPER_KEYS`].
fn wrapper(
    pickle: &Unpickled,
    segments: &[(Option<usize>, Rc<str>)],
    parts: &[(Option<usize>, Option<ArrayRecipe>)],
) -> Option<String> {
    if !matches!(pickle.node(&pickle.root), Some(Node::Dict(_))) {
        return None;
    }
    let first = path_of(segments, parts.first()?.0).first().copied()?;
    let all_under = parts.iter().all(|(path, _)| {
        let path = path_of(segments, *path);
        path.len() >= 2 && path.first() == Some(&first)
    });
    (all_under && WRAPPER_KEYS.contains(&first)).then(|| first.to_string())
}

/// The framework a file's top-level keys name: detectron2's model zoo writes `__author__` and
/// `matching_heuristics` beside `model`; Detectron (Caffe2) wraps its weights in `blobs`; paddle.save
/// of a state dict adds `StructuredToParameterName@@`.
fn family(pickle: &Unpickled) -> Option<&'static str> {
    let Some(Node::Dict(entries)) = pickle.node(&pickle.root) else { return None };
    let has = |key: &str| entries.iter().any(|(k, _)| matches!(k, Value::Str(s) if &**s == key));
    if has("StructuredToParameterName@@") {
        Some("a PaddlePaddle state dict")
    } else if has("__author__") || has("matching_heuristics") || (has("model") && entries.len() <= 4) {
        Some("a detectron2 checkpoint")
    } else if has("blobs") {
        Some("a Detectron (Caffe2) checkpoint")
    } else {
        None
    }
}

/// The segments from the root to `path`.
fn path_of(segments: &[(Option<usize>, Rc<str>)], mut path: Option<usize>) -> Vec<&str> {
    let mut parts = Vec::new();
    while let Some((parent, text)) = path.and_then(|i| segments.get(i)) {
        parts.push(&**text);
        path = *parent;
        if parts.len() > MAX_WALK_DEPTH {
            break;
        }
    }
    parts.reverse();
    parts
}

fn name_of(parts: &[&str]) -> String {
    // Joined only up to the length kept, so a deep path of long keys costs no more than a name.
    let mut name = String::new();
    for (i, part) in parts.iter().enumerate() {
        if name.len() > MAX_NAME_LEN {
            break;
        }
        if i > 0 {
            name.push('/');
        }
        name.push_str(part);
    }
    if name.is_empty() {
        name = "array".into();
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
fn key_text(pickle: &Unpickled, key: &Value, index: usize) -> Rc<str> {
    match key {
        Value::Str(s) => s.clone(),
        Value::Int(i) => i.to_string().into(),
        Value::Bool(b) => if *b { "True" } else { "False" }.into(),
        Value::None => "None".into(),
        _ => match pickle.global(key) {
            Some((module, name, _)) => format!("{module}.{name}").into(),
            None => format!("[{index}]").into(),
        },
    }
}
