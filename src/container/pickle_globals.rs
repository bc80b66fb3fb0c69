//! The pickle globals patchlens gives a meaning to, as data in one table, and what calling each
//! means. Every other global is never called: it stays a named, opaque object.

use super::{as_count, malformed, Machine, Node, TensorRecipe, Value, MAX_REFUSED};
use crate::error::Result;

/// What an allowed global means when the pickle calls it (or names it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowed {
    /// `_rebuild_tensor_v2(storage, offset, size, stride, …)` and the older `_rebuild_tensor`.
    RebuildTensor,
    /// `_rebuild_parameter(data, requires_grad, hooks[, state])`: the parameter is its tensor.
    RebuildParameter,
    /// `_rebuild_from_type_v2(func, type, args, state)`: calls `func(*args)` if `func` is allowed.
    RebuildFromType,
    OrderedDict,
    /// `torch.Size(tuple)` is the tuple.
    Size,
    /// `set(list)` / `frozenset(list)`.
    Set,
    /// TorchScript's `torch.jit._pickle.build_intlist(list)` and kin: the value is the first argument.
    FirstArg,
    /// `_codecs.encode(text, 'latin1')`: how protocol 2 writes bytes under Python 3.
    Encode,
    /// A storage class named in a persistent id: numpy-style dtype name and element size.
    Storage(&'static str, usize),
    /// A `torch.float32`-style dtype object: the same as its storage class.
    DType(&'static str, usize),
}

/// Every global the unpickler gives a meaning to. Anything else is never called: it becomes an
/// opaque [`Node::Object`] recording its name, and its name goes into [`Unpickled::refused`].
pub const ALLOWED_GLOBALS: &[(&str, &str, Allowed)] = &[
    ("torch._utils", "_rebuild_tensor_v2", Allowed::RebuildTensor),
    ("torch._utils", "_rebuild_tensor", Allowed::RebuildTensor),
    ("torch._utils", "_rebuild_parameter", Allowed::RebuildParameter),
    ("torch._utils", "_rebuild_parameter_with_state", Allowed::RebuildParameter),
    ("torch._tensor", "_rebuild_from_type_v2", Allowed::RebuildFromType),
    ("collections", "OrderedDict", Allowed::OrderedDict),
    ("torch", "Size", Allowed::Size),
    ("builtins", "set", Allowed::Set),
    ("builtins", "frozenset", Allowed::Set),
    ("__builtin__", "set", Allowed::Set),
    ("_codecs", "encode", Allowed::Encode),
    ("torch.jit._pickle", "build_intlist", Allowed::FirstArg),
    ("torch.jit._pickle", "build_doublelist", Allowed::FirstArg),
    ("torch.jit._pickle", "build_boollist", Allowed::FirstArg),
    ("torch.jit._pickle", "build_tensorlist", Allowed::FirstArg),
    ("torch.jit._pickle", "build_genericlist", Allowed::FirstArg),
    ("torch.jit._pickle", "restore_type_tag", Allowed::FirstArg),
    ("torch", "FloatStorage", Allowed::Storage("float32", 4)),
    ("torch", "DoubleStorage", Allowed::Storage("float64", 8)),
    ("torch", "HalfStorage", Allowed::Storage("float16", 2)),
    ("torch", "BFloat16Storage", Allowed::Storage("bfloat16", 2)),
    ("torch", "LongStorage", Allowed::Storage("int64", 8)),
    ("torch", "IntStorage", Allowed::Storage("int32", 4)),
    ("torch", "ShortStorage", Allowed::Storage("int16", 2)),
    ("torch", "CharStorage", Allowed::Storage("int8", 1)),
    ("torch", "ByteStorage", Allowed::Storage("uint8", 1)),
    ("torch", "BoolStorage", Allowed::Storage("bool", 1)),
    ("torch", "ComplexFloatStorage", Allowed::Storage("complex64", 8)),
    ("torch", "ComplexDoubleStorage", Allowed::Storage("complex128", 16)),
    ("torch", "QInt8Storage", Allowed::Storage("qint8", 1)),
    ("torch", "QUInt8Storage", Allowed::Storage("quint8", 1)),
    ("torch", "QInt32Storage", Allowed::Storage("qint32", 4)),
    ("torch", "UntypedStorage", Allowed::Storage("uint8", 1)),
    ("torch", "float32", Allowed::DType("float32", 4)),
    ("torch", "float64", Allowed::DType("float64", 8)),
    ("torch", "float16", Allowed::DType("float16", 2)),
    ("torch", "bfloat16", Allowed::DType("bfloat16", 2)),
    ("torch", "int64", Allowed::DType("int64", 8)),
    ("torch", "int32", Allowed::DType("int32", 4)),
    ("torch", "uint8", Allowed::DType("uint8", 1)),
    ("torch", "bool", Allowed::DType("bool", 1)),
];

impl Machine {
    pub(super) fn global(&mut self, module: &str, name: &str) -> Result<()> {
        let allowed = ALLOWED_GLOBALS.iter().find(|(m, n, _)| *m == module && *n == name).map(|(_, _, a)| *a);
        if allowed.is_none() {
            let full = format!("{module}.{name}");
            if self.refused.len() < MAX_REFUSED && !self.refused.contains(&full) {
                self.refused.push(full);
            }
        }
        self.push_node(Node::Global { module: module.into(), name: name.into(), allowed })
    }

    fn tuple_items(&self, value: &Value) -> Option<Vec<Value>> {
        match self.node_value(value) {
            Some(Node::Tuple(items)) | Some(Node::List(items)) => Some(items.clone()),
            _ => None,
        }
    }

    fn node_value(&self, value: &Value) -> Option<&Node> {
        match value {
            Value::Node(i) => self.nodes.get(*i),
            _ => None,
        }
    }

    /// REDUCE / NEWOBJ: an allowed global is interpreted as data, any other callable is kept opaque.
    pub(super) fn call(&mut self, callee: Value, args: Value) -> Result<Value> {
        let allowed = match self.node_value(&callee) {
            Some(Node::Global { allowed, .. }) => *allowed,
            _ => None,
        };
        let items = self.tuple_items(&args);
        let interpreted = match (allowed, items) {
            (Some(allowed), Some(items)) => self.apply(allowed, items)?,
            _ => None,
        };
        match interpreted {
            Some(value) => Ok(value),
            None => {
                self.add_node(Node::Object { class: callee, args, state: None, items: Vec::new(), entries: Vec::new() })
            }
        }
    }

    fn apply(&mut self, allowed: Allowed, args: Vec<Value>) -> Result<Option<Value>> {
        Ok(match allowed {
            Allowed::RebuildTensor => Some(self.rebuild_tensor(args)?),
            Allowed::RebuildParameter | Allowed::FirstArg => args.into_iter().next(),
            Allowed::RebuildFromType => {
                let mut args = args.into_iter();
                let (func, _, inner) = (args.next(), args.next(), args.next());
                match (func, inner.as_ref().and_then(|a| self.tuple_items(a))) {
                    (Some(func), Some(inner)) => match self.node_value(&func) {
                        Some(Node::Global { allowed: Some(allowed), .. }) => {
                            let allowed = *allowed;
                            self.apply(allowed, inner)?
                        }
                        _ => None,
                    },
                    _ => None,
                }
            }
            Allowed::OrderedDict => {
                let pairs = match args.first().and_then(|a| self.tuple_items(a)) {
                    Some(pairs) => pairs.iter().filter_map(|p| self.tuple_items(p)).collect::<Vec<_>>(),
                    None => Vec::new(),
                };
                let entries: Vec<(Value, Value)> = pairs
                    .into_iter()
                    .filter_map(|pair| match pair.as_slice() {
                        [k, v] => Some((k.clone(), v.clone())),
                        _ => None,
                    })
                    .collect();
                self.count_items(entries.len())?;
                Some(self.add_node(Node::Dict(entries))?)
            }
            Allowed::Size | Allowed::Set => {
                let items = args.first().and_then(|a| self.tuple_items(a)).unwrap_or_default();
                self.count_items(items.len())?;
                let node = if allowed == Allowed::Size { Node::Tuple(items) } else { Node::Set(items) };
                Some(self.add_node(node)?)
            }
            Allowed::Encode => Some(Value::Bytes),
            Allowed::Storage(..) | Allowed::DType(..) => None,
        })
    }

    fn rebuild_tensor(&mut self, args: Vec<Value>) -> Result<Value> {
        let bad = || malformed("The pickle rebuilds a tensor from arguments that do not describe one.".into());
        let [storage, offset, size, stride] = args.get(..4).ok_or_else(bad)? else { return Err(bad()) };
        let offset = as_count(offset).ok_or_else(bad)? as u64;
        let dims = |v: &Value| -> Option<Vec<usize>> { self.tuple_items(v)?.iter().map(as_count).collect() };
        let (shape, stride) = (dims(size).ok_or_else(bad)?, dims(stride).ok_or_else(bad)?);
        if shape.len() != stride.len() {
            return Err(malformed("The pickle rebuilds a tensor whose size and stride differ in length.".into()));
        }
        let recipe = TensorRecipe { storage: storage.clone(), offset, shape, stride };
        self.add_node(Node::Tensor(recipe))
    }
}
