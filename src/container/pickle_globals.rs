//! The pickle globals patchlens gives a meaning to, as data in one table, and what calling each
//! means. Every other global is never called: it stays a named, opaque object.

use super::{as_count, malformed, ArrayRecipe, Machine, Node, TensorRecipe, Value, MAX_RANK, MAX_REFUSED};
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
    /// `numpy...multiarray._reconstruct(ndarray, (0,), b'b')`: an empty array that BUILD's state
    /// `(version, shape, dtype, is_fortran, data)` describes (numpy's `array_setstate`).
    NumpyReconstruct,
    /// `numpy...numeric._frombuffer(buffer, dtype, shape, order)`: protocol 5's arrays.
    NumpyFromBuffer,
    /// `numpy...multiarray.scalar(dtype, bytes)`: a numpy scalar, a 0-d array.
    NumpyScalar,
    /// `numpy.dtype(code, align, copy)`; BUILD's state gives the byte order.
    NumpyDType,
    /// `numpy.ndarray`, only ever named as `_reconstruct`'s first argument.
    NumpyClass,
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
    // paddle.save writes a tensor as `tuple((name, ndarray))`; tuple(a_tuple) is that tuple.
    ("builtins", "tuple", Allowed::FirstArg),
    ("__builtin__", "tuple", Allowed::FirstArg),
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
    // numpy 1.x names its C module numpy.core.multiarray, numpy 2.x numpy._core.multiarray.
    ("numpy.core.multiarray", "_reconstruct", Allowed::NumpyReconstruct),
    ("numpy._core.multiarray", "_reconstruct", Allowed::NumpyReconstruct),
    ("numpy.core.numeric", "_frombuffer", Allowed::NumpyFromBuffer),
    ("numpy._core.numeric", "_frombuffer", Allowed::NumpyFromBuffer),
    ("numpy.core.multiarray", "scalar", Allowed::NumpyScalar),
    ("numpy._core.multiarray", "scalar", Allowed::NumpyScalar),
    ("numpy", "dtype", Allowed::NumpyDType),
    ("numpy.core.multiarray", "dtype", Allowed::NumpyDType),
    ("numpy._core.multiarray", "dtype", Allowed::NumpyDType),
    ("numpy", "ndarray", Allowed::NumpyClass),
    ("numpy.core.multiarray", "ndarray", Allowed::NumpyClass),
    ("numpy._core.multiarray", "ndarray", Allowed::NumpyClass),
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

    pub(super) fn node_value(&self, value: &Value) -> Option<&Node> {
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
            // latin-1 turns each character into the byte it stands for: the text is the data.
            Allowed::Encode => args.into_iter().next(),
            Allowed::NumpyReconstruct => Some(self.add_node(Node::Array(None))?),
            Allowed::NumpyDType => match args.first() {
                Some(Value::Str(code)) => {
                    Some(self.add_node(Node::NumpyDType { code: code.clone(), byte_order: None })?)
                }
                _ => None,
            },
            Allowed::NumpyFromBuffer => {
                let recipe = match args.as_slice() {
                    [data, dtype, shape, order, ..] => self.shape_of(shape).map(|shape| ArrayRecipe {
                        shape,
                        dtype: dtype.clone(),
                        fortran: matches!(order, Value::Str(o) if &**o == "F"),
                        data: data.clone(),
                    }),
                    _ => None,
                };
                Some(self.add_node(Node::Array(recipe))?)
            }
            Allowed::NumpyScalar => {
                let recipe = match args.as_slice() {
                    [dtype, data, ..] => Some(ArrayRecipe {
                        shape: Vec::new(),
                        dtype: dtype.clone(),
                        fortran: false,
                        data: data.clone(),
                    }),
                    _ => None,
                };
                Some(self.add_node(Node::Array(recipe))?)
            }
            Allowed::Storage(..) | Allowed::DType(..) | Allowed::NumpyClass => None,
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

impl Machine {
    /// An array's shape: a tuple of at most [`MAX_RANK`] non-negative integers.
    fn shape_of(&self, value: &Value) -> Option<Vec<usize>> {
        let items = self.tuple_items(value)?;
        if items.len() > MAX_RANK {
            return None;
        }
        items.iter().map(as_count).collect()
    }

    /// BUILD on `_reconstruct`'s empty array: numpy's `array_setstate` takes `(version, shape, dtype,
    /// is_fortran, data)`, or the 4-tuple without the version that old numpy wrote. A state that is
    /// neither leaves the array undescribed, for the container to report.
    pub(super) fn build_array(&mut self, target: &Value, state: &Value) -> Result<()> {
        let Some(items) = self.tuple_items(state) else { return Ok(()) };
        let rest = match items.as_slice() {
            [Value::Int(_), rest @ ..] if rest.len() == 4 => rest,
            rest if rest.len() == 4 => rest,
            _ => return Ok(()),
        };
        let [shape, dtype, fortran, data] = rest else { return Ok(()) };
        let fortran = match fortran {
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            _ => return Ok(()),
        };
        let Some(shape) = self.shape_of(shape) else { return Ok(()) };
        let recipe = ArrayRecipe { shape, dtype: dtype.clone(), fortran, data: data.clone() };
        if let Some(node) = self.node_mut(target) {
            *node = Node::Array(Some(recipe));
        }
        Ok(())
    }

    /// BUILD on a dtype: its state `(version, byteorder, subarray, names, fields, elsize, alignment,
    /// flags[, metadata])` gives the byte order as one character.
    pub(super) fn build_dtype(&mut self, target: &Value, state: &Value) {
        let order = match self.tuple_items(state).as_deref() {
            Some([_, Value::Str(order), ..]) => order.chars().next().filter(|_| order.chars().count() == 1),
            _ => None,
        };
        if let (Some(order), Some(Node::NumpyDType { byte_order, .. })) = (order, self.node_mut(target)) {
            *byte_order = Some(order);
        }
    }
}
