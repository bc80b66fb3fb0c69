//! Pickled NumPy arrays, data only: detectron2 model-zoo `.pkl`, PaddlePaddle `.pdparams`, plain
//! `pickle.dump` of dicts of arrays (protocols 0–5, Python 2 or 3) and object-dtype `.npy` files that
//! hold such a pickle. Opening runs the pickle VM once over the file, stepping over every payload; an
//! array's bytes are located, never copied, and `read(i)` reads exactly that range.

use super::npy;
use super::pickle::{
    escape_decode, latin1_bytes, raw_unicode_escape_decode, unpickle, utf8_latin1_bytes, Encoding, Node, Payload,
    PickleReader, Unpickled, Value,
};
use super::Container;
use crate::error::{no_such_index, Error, Result};
use crate::kernel::KernelLayout;
use crate::source::{read_vec, ByteSource};
use crate::tensor::{checked_data_len, decode_floats, ByteOrder, DType, MemoryOrder, Tensor, TensorInfo};
use std::rc::Rc;

#[path = "numpy_pickle_tree.rs"]
mod tree;
use tree::{find_arrays, FoundArray};

pub const FORMAT: &str = "numpy-pickle";
/// Text-encoded data (protocols 0–2) is at most this many times the bytes it stands for: `\u00ff` is
/// six characters for one byte (raw-unicode-escape), `\xff` four, UTF-8 two.
const MAX_TEXT_EXPANSION: u64 = 6;

/// Where an array's bytes are and how they are written.
#[derive(Debug, Clone)]
enum Data {
    InFile(Payload),
    /// A short string's characters as bytes (a small array pickled as text), or why they are not.
    Inline(std::result::Result<Vec<u8>, Error>),
}

struct Listed {
    info: std::result::Result<TensorInfo, Error>,
    item_size: usize,
    byte_order: ByteOrder,
    order: MemoryOrder,
    data: Data,
}

pub struct NumpyPickle {
    source: Rc<dyn ByteSource>,
    names: Vec<String>,
    arrays: Vec<Listed>,
    /// Oihw when the file is one of the PyTorch-like families (detectron2, Caffe2, Paddle).
    stated: bool,
    notes: Vec<String>,
}

/// A pickle's first bytes: PROTO 2–5 (torch's legacy magic is told apart before this), or the way
/// protocols 0 and 1 open a dict, a list or a bare array.
pub fn looks_like(magic: &[u8]) -> bool {
    match magic {
        [0x80, 2..=5, ..] => true,
        [b'}' | b']', next, ..] => b"qr(XUTh.sue\x94".contains(next),
        [b'(', b'd' | b'l' | b'c' | b'i', ..] => true,
        [b'c', rest @ ..] => rest.starts_with(b"numpy"),
        _ => false,
    }
}

/// Where the pickle starts in a `.npy` whose dtype is `|O` (np.save of a dict or an object array),
/// from the file's first bytes; `None` for any other `.npy`.
pub fn object_npy_pickle_start(head: &[u8]) -> Option<u64> {
    let total = npy::header_len(head).ok()??;
    let fixed = if head.get(6) == Some(&1) { 10 } else { 12 };
    let text = std::str::from_utf8(head.get(fixed..total)?).ok()?;
    // numpy writes the object dtype's descr as '|O' (`dtype(object).str`).
    let object = text.contains("'descr': '|O'") || text.contains("\"descr\": \"|O\"");
    object.then_some(total as u64)
}

impl NumpyPickle {
    /// Runs the pickle at `start` (0, or just after an object `.npy`'s header).
    pub fn open(source: Rc<dyn ByteSource>, start: u64) -> Result<Self> {
        let unpickled = {
            let mut reader = PickleReader::to_end(&*source, start);
            unpickle(&mut reader)?
        };
        let found = find_arrays(&unpickled);
        if found.arrays.is_empty() {
            return Err(Error::NotDrawable("This pickle holds no NumPy arrays, so there is nothing to draw.".into()));
        }
        let arrays: Vec<Listed> = found.arrays.iter().map(|a| listed(&unpickled, a)).collect();
        let names = found.arrays.into_iter().map(|a| a.name).collect();
        let mut notes = Vec::new();
        if let Some(family) = found.family {
            notes.push(format!("This is {family}; its convolution weights are laid out (out, in, kh, kw)."));
        }
        if let Some(wrapper) = found.wrapper {
            notes.push(format!("Tensor names are the keys inside the file's \"{wrapper}\" entry."));
        }
        if !unpickled.refused.is_empty() {
            notes.push(format!("Not called, only named: {}.", unpickled.refused.join(", ")));
        }
        if found.truncated {
            notes.push("The pickle's object graph is larger than patchlens walks; some arrays may be missing.".into());
        }
        Ok(NumpyPickle { source, names, arrays, stated: found.family.is_some(), notes })
    }
}

/// An array's dtype, byte order and data, from what the pickle built; problems become the listing's
/// sentence for that array.
fn listed(pickle: &Unpickled, found: &FoundArray) -> Listed {
    let name = &found.name;
    let mut out = Listed {
        info: Err(Error::Unsupported(format!(
            "Array {name} is pickled in a way patchlens does not read (its state is not numpy's)."
        ))),
        item_size: 0,
        byte_order: ByteOrder::Little,
        order: MemoryOrder::C,
        data: Data::Inline(Ok(Vec::new())),
    };
    let Some(recipe) = &found.recipe else { return out };
    let dtype = match pickle.node(&recipe.dtype) {
        Some(Node::NumpyDType { code, byte_order }) => parse_dtype(code, *byte_order),
        _ => None,
    };
    let Some((dtype, byte_order, item_size)) = dtype else {
        out.info = Err(Error::Unsupported(format!("Array {name} has a dtype patchlens does not know.")));
        return out;
    };
    out.data = match &recipe.data {
        Value::Bytes(payload) => Data::InFile(*payload),
        Value::Str(text) => Data::Inline(latin1_bytes(text).ok_or_else(|| not_bytes(name))),
        _ => Data::Inline(Err(Error::Unsupported(format!("Array {name} holds Python objects, not numbers.")))),
    };
    out.item_size = item_size;
    out.byte_order = byte_order;
    out.order = if recipe.fortran { MemoryOrder::Fortran } else { MemoryOrder::C };
    out.info = Ok(TensorInfo { name: name.clone(), dtype, shape: recipe.shape.clone() });
    out
}

fn not_bytes(name: &str) -> Error {
    Error::Malformed(format!("Array {name}'s data is text whose characters are not bytes; the file may be damaged."))
}

/// A numpy dtype code as `dtype.__reduce__` writes it (`f4`, `i8`, `O8`, `U3`, …, or what `np.dtype`
/// accepts: `<f4`, `e`, `d`), with BUILD's byte-order character: (dtype, byte order, item size).
fn parse_dtype(code: &str, state_order: Option<char>) -> Option<(DType, ByteOrder, usize)> {
    let (prefix, body) = match code.chars().next()? {
        c @ ('<' | '>' | '|' | '=') => (Some(c), code.get(1..)?),
        _ => (None, code),
    };
    let (kind, size) = match body {
        "e" => ('f', 2),
        "f" => ('f', 4),
        "d" => ('f', 8),
        "?" => ('b', 1),
        "O" => ('O', 8),
        _ => {
            let mut chars = body.chars();
            let kind = chars.next()?;
            (kind, chars.as_str().parse::<usize>().ok()?)
        }
    };
    let dtype = match (kind, size) {
        ('f', 2) => DType::F16,
        ('f', 4) => DType::F32,
        ('f', 8) => DType::F64,
        ('f', 12 | 16) => DType::Other("longdouble".into()),
        ('i', 1 | 2 | 4 | 8) => DType::Other(format!("int{}", size * 8)),
        ('u', 1 | 2 | 4 | 8) => DType::Other(format!("uint{}", size * 8)),
        ('b', 1) => DType::Other("bool".into()),
        ('c', 8 | 16 | 24 | 32) => DType::Other(format!("complex{}", size * 8)),
        ('O', 4 | 8) => DType::Other("object".into()),
        ('S', n) => DType::Other(format!("bytes{}", n * 8)),
        ('U', n) => DType::Other(format!("str{}", n * 32)),
        ('V', n) => DType::Other(format!("void{}", n * 8)),
        ('M', 8) => DType::Other("datetime64".into()),
        ('m', 8) => DType::Other("timedelta64".into()),
        _ => return None,
    };
    let item_size = if kind == 'U' { size.checked_mul(4)? } else { size };
    let order = match state_order.or(prefix) {
        Some('>') => ByteOrder::Big,
        _ => ByteOrder::Little,
    };
    Some((dtype, order, item_size))
}

impl Container for NumpyPickle {
    fn format(&self) -> &'static str {
        FORMAT
    }

    fn layout(&self) -> KernelLayout {
        // A plain pickle states nothing; most pickled conv weights come from PyTorch-like frameworks.
        KernelLayout::Oihw
    }

    fn layout_is_stated(&self) -> bool {
        self.stated
    }

    fn names(&self) -> &[String] {
        &self.names
    }

    fn info(&self, index: usize) -> Result<TensorInfo> {
        self.arrays.get(index).ok_or_else(|| no_such_index(index))?.info.clone()
    }

    fn read(&self, index: usize) -> Result<Tensor> {
        let array = self.arrays.get(index).ok_or_else(|| no_such_index(index))?;
        let info = array.info.clone()?;
        if info.dtype.float_size().is_none() {
            return Err(Error::NotDrawable(format!(
                "Tensor {} holds {} values; only float tensors can be drawn.",
                info.name, info.dtype
            )));
        }
        let want = checked_data_len(&info, array.item_size, u64::MAX)?;
        let bytes = match &array.data {
            Data::Inline(bytes) => bytes.clone()?,
            Data::InFile(payload) => self.payload_bytes(&info, payload, want as u64)?,
        };
        if bytes.len() != want {
            return Err(size_mismatch(&info, want as u64, bytes.len() as u64));
        }
        let values = decode_floats(&bytes, &info.dtype, array.byte_order)?;
        Ok(Tensor { info, values, order: array.order })
    }

    fn notes(&self) -> Vec<String> {
        self.notes.clone()
    }
}

impl NumpyPickle {
    /// The bytes a payload stands for; `want` (the shape's byte count) bounds what is read.
    fn payload_bytes(&self, info: &TensorInfo, payload: &Payload, want: u64) -> Result<Vec<u8>> {
        let Payload { start, len, encoding } = *payload;
        if encoding == Encoding::Raw {
            // Raw bytes must match the shape exactly, as numpy's setstate and frombuffer demand.
            if len != want {
                return Err(size_mismatch(info, want, len));
            }
            return read_vec(&*self.source, start, want as usize);
        }
        // Text stands for its bytes one character each, so it is never shorter than them, and at most
        // MAX_TEXT_EXPANSION times longer (plus the quotes of a STRING literal).
        let most = want.saturating_mul(MAX_TEXT_EXPANSION).saturating_add(2);
        if len > most || len < want {
            return Err(Error::Malformed(format!(
                "Array {} has shape {} ({want} bytes), which its {len} bytes of text-encoded data cannot hold.",
                info.name,
                info.shape_text()
            )));
        }
        let text = read_vec(&*self.source, start, len as usize)?;
        // Not a straight copy: protocols 0–2 under Python 3 write bytes as text (`_codecs.encode(text,
        // 'latin1')`), and the file holds that text's UTF-8 or escaped form, not the bytes.
        let bytes = match encoding {
            Encoding::Utf8 => utf8_latin1_bytes(&text),
            Encoding::Escaped => escape_decode(&text),
            Encoding::RawUnicodeEscape => raw_unicode_escape_decode(&text).and_then(|t| latin1_bytes(&t)),
            Encoding::Raw => Some(text),
        };
        bytes.ok_or_else(|| not_bytes(&info.name))
    }
}

fn size_mismatch(info: &TensorInfo, want: u64, got: u64) -> Error {
    Error::Malformed(format!(
        "Array {} has shape {} of {}, {want} bytes, but its data holds {got} bytes; the file may be damaged.",
        info.name,
        info.shape_text(),
        info.dtype
    ))
}

#[cfg(test)]
#[path = "numpy_pickle_tests.rs"]
mod tests;
