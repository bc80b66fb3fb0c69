//! A data-only unpickler (protocols 0–5) for PyTorch checkpoints and pickled NumPy arrays. It never
//! imports or calls anything: a global is a name; the few torch and numpy rebuild functions in
//! [`ALLOWED_GLOBALS`] are interpreted as data, and every other global stays an opaque object that keeps
//! its arguments and state for walking. Byte payloads are located in the file, never copied.

use crate::error::{Error, Result};
use std::collections::HashMap;
use std::rc::Rc;

/// A pickle larger than this is not a checkpoint's index (tensor data lives outside it); a
/// YOLO model with its optimizer pickles to a few MB.
pub const MAX_PICKLE_BYTES: u64 = 64 << 20;
/// Real pickles keep a few thousand items on the stack (torch batches SETITEMS by 1000).
const MAX_STACK: usize = 1 << 16;
/// Nested MARKs; real pickles nest a handful.
const MAX_MARKS: usize = 1 << 12;
/// Memo entries; every PUT of a real pickle names one object.
const MAX_MEMO: usize = 1 << 21;
/// Containers, objects and globals built; bounds memory whatever the opcodes do.
const MAX_NODES: usize = 1 << 21;
/// Items stored in all containers together (each costs ~24 bytes).
const MAX_ITEMS: usize = 1 << 22;
/// Refused global names kept for the note.
const MAX_REFUSED: usize = 64;
/// Text longer than this is data (a protocol 0–2 array's bytes as text), not a name: it is located,
/// not read. Dict keys, dtype codes and module names are far shorter.
pub const MAX_INLINE_TEXT: u64 = 4096;
/// Axes an array may have; numpy itself allows 64.
pub const MAX_RANK: usize = 64;

/// A value on the unpickler's stack. Containers live in the [`Unpickled::nodes`] arena and are
/// referred to by index, so GET is a cheap copy, shared objects stay shared and nothing recurses.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    /// An integer wider than 64 bits: only its existence matters here.
    BigInt,
    Float(f64),
    Str(Rc<str>),
    /// bytes or bytearray (or text too long to be a name): where its contents lie, never read while
    /// unpickling.
    Bytes(Payload),
    Node(usize),
}

/// Where a byte or text payload lies in the source the pickle was read from, and how it is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Payload {
    pub start: u64,
    pub len: u64,
    pub encoding: Encoding,
}

/// How a payload's bytes give the bytes they stand for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// The bytes themselves (BINBYTES, BINSTRING, BYTEARRAY8, …).
    Raw,
    /// UTF-8 text whose characters are the bytes, as `_codecs.encode(text, 'latin1')` makes them.
    Utf8,
    /// A protocol 0 `S'...'` literal, quotes included: Python's string escapes.
    Escaped,
    /// A protocol 0 `V` line: raw-unicode-escape text whose characters are the bytes.
    RawUnicodeEscape,
}

/// A NumPy array as `_reconstruct` + BUILD, `_frombuffer` or `scalar` describe it: nothing is copied.
#[derive(Debug, Clone, PartialEq)]
pub struct ArrayRecipe {
    pub shape: Vec<usize>,
    /// A [`Node::NumpyDType`], or whatever else the pickle put there.
    pub dtype: Value,
    pub fortran: bool,
    /// Bytes, a short string (latin-1 characters are the bytes), or a list (object arrays).
    pub data: Value,
}

/// A call recorded as `torch._utils._rebuild_tensor_v2` made it: where the elements are.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorRecipe {
    /// The persistent id of the storage (a [`Node::Persistent`]).
    pub storage: Value,
    /// Element offset into the storage.
    pub offset: u64,
    pub shape: Vec<usize>,
    /// Element strides, one per dimension.
    pub stride: Vec<usize>,
}

/// A non-scalar value built by the pickle.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    List(Vec<Value>),
    Tuple(Vec<Value>),
    /// dict and OrderedDict, entries in insertion order.
    Dict(Vec<(Value, Value)>),
    Set(Vec<Value>),
    Global {
        module: Rc<str>,
        name: Rc<str>,
        allowed: Option<Allowed>,
    },
    /// What REDUCE/NEWOBJ/OBJ made from a global that is not allowed: never called, kept whole.
    Object {
        class: Value,
        args: Value,
        state: Option<Value>,
        items: Vec<Value>,
        entries: Vec<(Value, Value)>,
    },
    Persistent(Value),
    Tensor(TensorRecipe),
    /// An array; `None` until a BUILD gives `_reconstruct`'s empty array a state that describes one.
    Array(Option<ArrayRecipe>),
    /// `numpy.dtype(code, False, True)`; BUILD's state gives the byte order (`<`, `>`, `|`, `=`).
    NumpyDType {
        code: Rc<str>,
        byte_order: Option<char>,
    },
}

/// The result of one pickle: the value it returns, the arena its containers live in, the globals
/// it named but that were not called.
pub struct Unpickled {
    pub root: Value,
    pub nodes: Vec<Node>,
    pub refused: Vec<String>,
}

impl Unpickled {
    pub fn node(&self, value: &Value) -> Option<&Node> {
        match value {
            Value::Node(i) => self.nodes.get(*i),
            _ => None,
        }
    }

    /// The `(module, name)` of a value that is a global, if it is one.
    pub fn global(&self, value: &Value) -> Option<(&str, &str, Option<Allowed>)> {
        match self.node(value) {
            Some(Node::Global { module, name, allowed }) => Some((module, name, *allowed)),
            _ => None,
        }
    }
}

fn malformed(text: String) -> Error {
    Error::Malformed(text)
}

fn unsupported(op: &str) -> Error {
    Error::Unsupported(format!("The pickle uses opcode {op}, which patchlens does not read."))
}

/// The unpickler's state while running one pickle.
struct Machine {
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: HashMap<u64, Value>,
    nodes: Vec<Node>,
    items: usize,
    refused: Vec<String>,
}

/// Runs one pickle from the reader's position to its STOP opcode.
pub fn unpickle(reader: &mut PickleReader) -> Result<Unpickled> {
    let mut m = Machine {
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
        nodes: Vec::new(),
        items: 0,
        refused: Vec::new(),
    };
    loop {
        let op = reader.byte()?;
        if op == b'.' {
            let root = m.pop()?;
            return Ok(Unpickled { root, nodes: m.nodes, refused: m.refused });
        }
        m.step(op, reader)?;
    }
}

impl Machine {
    fn push(&mut self, value: Value) -> Result<()> {
        if self.stack.len() >= MAX_STACK {
            return Err(Error::TooLarge(format!("The pickle's stack grows past {MAX_STACK} items.")));
        }
        self.stack.push(value);
        Ok(())
    }

    fn add_node(&mut self, node: Node) -> Result<Value> {
        if self.nodes.len() >= MAX_NODES {
            return Err(Error::TooLarge(format!("The pickle builds more than {MAX_NODES} objects.")));
        }
        self.nodes.push(node);
        Ok(Value::Node(self.nodes.len() - 1))
    }

    fn push_node(&mut self, node: Node) -> Result<()> {
        let value = self.add_node(node)?;
        self.push(value)
    }

    fn floor(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    fn pop(&mut self) -> Result<Value> {
        if self.stack.len() <= self.floor() {
            return Err(malformed("The pickle pops more values than it pushed (stack underflow).".into()));
        }
        self.stack.pop().ok_or_else(|| malformed("The pickle's stack is empty.".into()))
    }

    fn top(&self) -> Result<&Value> {
        match self.stack.last() {
            Some(v) if self.stack.len() > self.floor() => Ok(v),
            _ => Err(malformed("The pickle reads from an empty stack.".into())),
        }
    }

    /// Everything pushed since the last MARK, which is removed.
    fn pop_mark(&mut self) -> Result<Vec<Value>> {
        let mark = self.marks.pop().ok_or_else(|| malformed("The pickle closes a MARK it never opened.".into()))?;
        Ok(self.stack.split_off(mark.min(self.stack.len())))
    }

    fn count_items(&mut self, n: usize) -> Result<()> {
        self.items = self.items.saturating_add(n);
        if self.items > MAX_ITEMS {
            return Err(Error::TooLarge(format!("The pickle holds more than {MAX_ITEMS} items in its containers.")));
        }
        Ok(())
    }

    fn node_mut(&mut self, value: &Value) -> Option<&mut Node> {
        match value {
            Value::Node(i) => self.nodes.get_mut(*i),
            _ => None,
        }
    }

    fn memo_put(&mut self, key: u64) -> Result<()> {
        let value = self.top()?.clone();
        if self.memo.len() >= MAX_MEMO && !self.memo.contains_key(&key) {
            return Err(Error::TooLarge(format!("The pickle's memo grows past {MAX_MEMO} entries.")));
        }
        self.memo.insert(key, value);
        Ok(())
    }

    fn memo_get(&mut self, key: u64) -> Result<()> {
        let value = self.memo.get(&key).cloned();
        let value =
            value.ok_or_else(|| malformed(format!("The pickle refers to memo entry {key}, which it never stored.")))?;
        self.push(value)
    }

    fn append(&mut self, target: &Value, values: Vec<Value>) -> Result<()> {
        self.count_items(values.len())?;
        match self.node_mut(target) {
            Some(Node::List(list)) => list.extend(values),
            Some(Node::Set(set)) => set.extend(values),
            Some(Node::Object { items, .. }) => items.extend(values),
            _ => return Err(malformed("The pickle appends to something that is not a list.".into())),
        }
        Ok(())
    }

    fn set_items(&mut self, target: &Value, values: Vec<Value>) -> Result<()> {
        if values.len() % 2 != 0 {
            return Err(malformed("The pickle sets dictionary items from an odd number of values.".into()));
        }
        self.count_items(values.len())?;
        let mut pairs = Vec::with_capacity(values.len() / 2);
        let mut it = values.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            pairs.push((k, v));
        }
        match self.node_mut(target) {
            Some(Node::Dict(dict)) => dict.extend(pairs),
            Some(Node::Object { entries, .. }) => entries.extend(pairs),
            _ => return Err(malformed("The pickle sets items on something that is not a dictionary.".into())),
        }
        Ok(())
    }

    fn step(&mut self, op: u8, r: &mut PickleReader) -> Result<()> {
        match op {
            0x80 => {
                let version = r.byte()?;
                if version > 5 {
                    return Err(Error::Unsupported(format!(
                        "The pickle uses protocol {version}; patchlens reads 0 to 5."
                    )));
                }
            }
            0x95 => {
                r.take(8)?; // FRAME: a length hint only
            }
            b'(' => {
                if self.marks.len() >= MAX_MARKS {
                    return Err(Error::TooLarge(format!("The pickle nests more than {MAX_MARKS} MARKs.")));
                }
                self.marks.push(self.stack.len());
            }
            b'0' => {
                if self.stack.len() > self.floor() {
                    self.stack.pop();
                } else {
                    self.pop_mark()?;
                }
            }
            b'1' => {
                self.pop_mark()?;
            }
            b'2' => {
                let v = self.top()?.clone();
                self.push(v)?;
            }
            b'N' => self.push(Value::None)?,
            0x88 => self.push(Value::Bool(true))?,
            0x89 => self.push(Value::Bool(false))?,
            b'J' => self.push(Value::Int(i32::from_le_bytes(r.array()?) as i64))?,
            b'K' => self.push(Value::Int(r.byte()? as i64))?,
            b'M' => self.push(Value::Int(u16::from_le_bytes(r.array()?) as i64))?,
            0x8a => {
                let n = r.byte()? as u64;
                let bytes = r.take(n)?;
                self.push(long_value(&bytes))?;
            }
            0x8b => {
                let n = i32::from_le_bytes(r.array()?);
                let n =
                    u64::try_from(n).map_err(|_| malformed("The pickle gives a LONG4 a negative length.".into()))?;
                let bytes = r.take(n)?;
                self.push(long_value(&bytes))?;
            }
            b'I' => {
                let text = r.line()?;
                let value = match text.as_str() {
                    "00" => Value::Bool(false),
                    "01" => Value::Bool(true),
                    t => t.trim().parse().map(Value::Int).unwrap_or(Value::BigInt),
                };
                self.push(value)?;
            }
            b'L' => {
                let text = r.line()?;
                self.push(text.trim_end_matches('L').parse().map(Value::Int).unwrap_or(Value::BigInt))?;
            }
            b'G' => self.push(Value::Float(f64::from_be_bytes(r.array()?)))?,
            b'F' => {
                let text = r.line()?;
                let value = text
                    .trim()
                    .parse()
                    .map_err(|_| malformed("The pickle has a FLOAT that is not a number.".into()))?;
                self.push(Value::Float(value))?;
            }
            0x8c => {
                let n = r.byte()? as u64;
                self.push_text(r, n)?;
            }
            b'X' => {
                let n = u32::from_le_bytes(r.array()?) as u64;
                self.push_text(r, n)?;
            }
            0x8d => {
                let n = u64::from_le_bytes(r.array()?);
                self.push_text(r, n)?;
            }
            b'U' => {
                let n = r.byte()? as u64;
                let bytes = r.take(n)?;
                self.push(Value::Str(bytes.iter().map(|&b| b as char).collect::<String>().into()))?;
            }
            b'T' => {
                let n = i32::from_le_bytes(r.array()?);
                let n =
                    u64::try_from(n).map_err(|_| malformed("The pickle gives a string a negative length.".into()))?;
                // A Python 2 `str` is bytes; a long one is an array's data.
                if n > MAX_INLINE_TEXT {
                    self.push_payload(r, n, Encoding::Raw)?;
                } else {
                    let bytes = r.take(n)?;
                    self.push(Value::Str(bytes.iter().map(|&b| b as char).collect::<String>().into()))?;
                }
            }
            b'C' => {
                let n = r.byte()? as u64;
                self.push_payload(r, n, Encoding::Raw)?;
            }
            b'B' => {
                let n = u32::from_le_bytes(r.array()?) as u64;
                self.push_payload(r, n, Encoding::Raw)?;
            }
            0x8e | 0x96 => {
                let n = u64::from_le_bytes(r.array()?);
                self.push_payload(r, n, Encoding::Raw)?;
            }
            b']' => self.push_node(Node::List(Vec::new()))?,
            b')' => self.push_node(Node::Tuple(Vec::new()))?,
            b'}' => self.push_node(Node::Dict(Vec::new()))?,
            0x8f => self.push_node(Node::Set(Vec::new()))?,
            b'l' | b't' | 0x91 => {
                let items = self.pop_mark()?;
                self.count_items(items.len())?;
                let node = match op {
                    b'l' => Node::List(items),
                    b't' => Node::Tuple(items),
                    _ => Node::Set(items),
                };
                self.push_node(node)?;
            }
            0x85..=0x87 => {
                let n = (op - 0x84) as usize;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.pop()?);
                }
                items.reverse();
                self.count_items(n)?;
                self.push_node(Node::Tuple(items))?;
            }
            b'd' => {
                let items = self.pop_mark()?;
                let dict = self.add_node(Node::Dict(Vec::new()))?;
                self.set_items(&dict, items)?;
                self.push(dict)?;
            }
            b'a' => {
                let value = self.pop()?;
                let target = self.top()?.clone();
                self.append(&target, vec![value])?;
            }
            b'e' | 0x90 => {
                let items = self.pop_mark()?;
                let target = self.top()?.clone();
                self.append(&target, items)?;
            }
            b's' => {
                let value = self.pop()?;
                let key = self.pop()?;
                let target = self.top()?.clone();
                self.set_items(&target, vec![key, value])?;
            }
            b'u' => {
                let items = self.pop_mark()?;
                let target = self.top()?.clone();
                self.set_items(&target, items)?;
            }
            b'c' => {
                let module = r.line()?;
                let name = r.line()?;
                self.global(&module, &name)?;
            }
            0x93 => {
                let name = self.pop()?;
                let module = self.pop()?;
                match (module, name) {
                    (Value::Str(module), Value::Str(name)) => self.global(&module, &name)?,
                    _ => return Err(malformed("The pickle names a global with values that are not strings.".into())),
                }
            }
            b'R' | 0x81 => {
                let args = self.pop()?;
                let callee = self.pop()?;
                let value = self.call(callee, args)?;
                self.push(value)?;
            }
            0x92 => {
                let _kwargs = self.pop()?;
                let args = self.pop()?;
                let class = self.pop()?;
                let value = self.call(class, args)?;
                self.push(value)?;
            }
            b'o' => {
                let mut items = self.pop_mark()?.into_iter();
                let class = items.next().ok_or_else(|| malformed("The pickle's OBJ opcode has no class.".into()))?;
                let args: Vec<Value> = items.collect();
                let args = self.add_node(Node::Tuple(args))?;
                let value = self.opaque(class, args)?;
                self.push(value)?;
            }
            b'i' => {
                let module = r.line()?;
                let name = r.line()?;
                let args = self.pop_mark()?;
                self.global(&module, &name)?;
                let class = self.pop()?;
                let args = self.add_node(Node::Tuple(args))?;
                let value = self.opaque(class, args)?;
                self.push(value)?;
            }
            b'b' => {
                let state = self.pop()?;
                let target = self.top()?.clone();
                // Dicts (OrderedDict's `_metadata`) and tensors keep no state patchlens needs; arrays
                // and dtypes are described by theirs.
                match self.node_value(&target) {
                    Some(Node::Array(None)) => self.build_array(&target, &state)?,
                    Some(Node::NumpyDType { .. }) => self.build_dtype(&target, &state),
                    _ => {
                        if let Some(Node::Object { state: slot, .. }) = self.node_mut(&target) {
                            *slot = Some(state);
                        }
                    }
                }
            }
            b'P' => {
                let id = r.line()?;
                self.push_node(Node::Persistent(Value::Str(id.into())))?;
            }
            b'Q' => {
                let id = self.pop()?;
                self.push_node(Node::Persistent(id))?;
            }
            b'p' => {
                let key = r.line()?;
                let key =
                    key.trim().parse().map_err(|_| malformed("The pickle's PUT index is not a number.".into()))?;
                self.memo_put(key)?;
            }
            b'q' => {
                let key = r.byte()? as u64;
                self.memo_put(key)?;
            }
            b'r' => {
                let key = u32::from_le_bytes(r.array()?) as u64;
                self.memo_put(key)?;
            }
            0x94 => {
                let key = self.memo.len() as u64;
                self.memo_put(key)?;
            }
            b'g' => {
                let key = r.line()?;
                let key =
                    key.trim().parse().map_err(|_| malformed("The pickle's GET index is not a number.".into()))?;
                self.memo_get(key)?;
            }
            b'h' => {
                let key = r.byte()? as u64;
                self.memo_get(key)?;
            }
            b'j' => {
                let key = u32::from_le_bytes(r.array()?) as u64;
                self.memo_get(key)?;
            }
            0x97 => return Err(unsupported("NEXT_BUFFER (out-of-band data)")),
            0x98 => return Err(unsupported("READONLY_BUFFER (out-of-band data)")),
            0x82..=0x84 => return Err(unsupported("EXT (the copyreg extension registry)")),
            b'S' => {
                let (start, len, short) = r.line_span(MAX_INLINE_TEXT)?;
                let payload = Payload { start, len, encoding: Encoding::Escaped };
                match short {
                    Some(text) => {
                        let bytes = escape_decode(&text)
                            .ok_or_else(|| malformed("The pickle has a STRING that is not a quoted literal.".into()))?;
                        self.push(Value::Str(bytes.iter().map(|&b| b as char).collect::<String>().into()))?
                    }
                    None => self.push(Value::Bytes(payload))?,
                }
            }
            b'V' => {
                let (start, len, short) = r.line_span(MAX_INLINE_TEXT)?;
                match short {
                    Some(text) => {
                        let text = raw_unicode_escape_decode(&text).ok_or_else(|| {
                            malformed("The pickle has a UNICODE line with a broken \\u escape.".into())
                        })?;
                        self.push(Value::Str(text.into()))?
                    }
                    None => self.push(Value::Bytes(Payload { start, len, encoding: Encoding::RawUnicodeEscape }))?,
                }
            }
            other => {
                return Err(malformed(format!("The pickle has an unknown opcode 0x{other:02x}; it may be damaged.")))
            }
        }
        Ok(())
    }

    fn push_text(&mut self, r: &mut PickleReader, n: u64) -> Result<()> {
        if n > MAX_INLINE_TEXT {
            return self.push_payload(r, n, Encoding::Utf8);
        }
        let bytes = r.take(n)?;
        self.push(Value::Str(String::from_utf8_lossy(&bytes).into()))
    }

    /// Steps over `n` payload bytes, pushing where they lie.
    fn push_payload(&mut self, r: &mut PickleReader, n: u64, encoding: Encoding) -> Result<()> {
        let start = r.position();
        r.skip(n)?;
        self.push(Value::Bytes(Payload { start, len: n, encoding }))
    }

    fn opaque(&mut self, class: Value, args: Value) -> Result<Value> {
        self.add_node(Node::Object { class, args, state: None, items: Vec::new(), entries: Vec::new() })
    }
}

/// A little-endian two's-complement integer of LONG1/LONG4.
fn long_value(bytes: &[u8]) -> Value {
    if bytes.len() > 8 {
        return Value::BigInt;
    }
    let negative = bytes.last().is_some_and(|&b| b & 0x80 != 0);
    let mut word = if negative { [0xffu8; 8] } else { [0u8; 8] };
    word[..bytes.len()].copy_from_slice(bytes);
    Value::Int(i64::from_le_bytes(word))
}

/// A non-negative integer that fits in usize (sizes, strides, offsets).
pub fn as_count(value: &Value) -> Option<usize> {
    match value {
        Value::Int(i) => usize::try_from(*i).ok(),
        Value::Bool(b) => Some(*b as usize),
        _ => None,
    }
}

/// Runs a pickle held in memory (a zip entry's bytes).
pub fn unpickle_bytes(bytes: &[u8]) -> Result<Unpickled> {
    let source = crate::source::SliceSource(bytes);
    unpickle(&mut PickleReader::new(&source, 0))
}

#[path = "pickle_globals.rs"]
mod globals;
#[path = "pickle_text.rs"]
mod text;
pub use text::{escape_decode, latin1_bytes, raw_unicode_escape_decode, utf8_latin1_bytes};
#[path = "pickle_reader.rs"]
mod reader;
pub use globals::Allowed;
pub use reader::PickleReader;

#[cfg(test)]
#[path = "pickle_tests.rs"]
mod tests;
