//! The `.npy` header: magic, version (1.0–3.0) and the Python-literal dict that gives
//! dtype, memory order and shape. Parsed by hand (no eval), with limits checked first.

use crate::error::{malformed, Error, Result};
use crate::tensor::{ByteOrder, DType, MemoryOrder};

pub const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// numpy itself refuses headers over 10 000 bytes unless asked; we allow more but not unbounded.
pub const MAX_HEADER_LEN: usize = 1 << 20;
/// Bytes read up front to find a header; real headers are 128 bytes (v1) to a few hundred.
pub const PREFIX_GUESS: usize = 512;
/// Axes beyond this are not a tensor anyone draws; it also bounds the shape parse.
const MAX_RANK: usize = 32;

#[derive(Debug, Clone, PartialEq)]
pub struct NpyHeader {
    pub dtype: DType,
    pub byte_order: ByteOrder,
    pub order: MemoryOrder,
    pub shape: Vec<usize>,
    /// Bytes from the start of the .npy data to its first element.
    pub data_offset: usize,
    /// Bytes per element of the stored dtype.
    pub item_size: usize,
}

/// How long the whole header is, from its first bytes (magic + version + length field).
/// `Ok(None)` means more than `prefix` is needed to tell.
pub fn header_len(prefix: &[u8]) -> Result<Option<usize>> {
    if prefix.len() < 10 {
        return if MAGIC.starts_with(prefix) || prefix.starts_with(MAGIC) {
            Err(Error::Truncated("The .npy data is cut short inside its header.".into()))
        } else {
            Err(malformed("This is not .npy data (the NUMPY magic is missing)."))
        };
    }
    if &prefix[..6] != MAGIC {
        return Err(malformed("This is not .npy data (the NUMPY magic is missing)."));
    }
    let (fixed, len) = match prefix[6] {
        1 => (10, u16::from_le_bytes([prefix[8], prefix[9]]) as usize),
        2 | 3 if prefix.len() >= 12 => {
            (12, u32::from_le_bytes([prefix[8], prefix[9], prefix[10], prefix[11]]) as usize)
        }
        2 | 3 => return Ok(None),
        v => {
            return Err(Error::Unsupported(format!(
                ".npy format version {v}.{} is not supported (1.0–3.0 are).",
                prefix[7]
            )))
        }
    };
    if len > MAX_HEADER_LEN {
        return Err(Error::TooLarge(format!(
            "The .npy header claims {len} bytes, over the {MAX_HEADER_LEN}-byte limit."
        )));
    }
    Ok(Some(fixed + len))
}

/// Parses the header at the start of .npy data from its first bytes, fetching the first `len`
/// bytes again through `fetch` when the header is longer than what we have.
pub fn read_header(prefix: Vec<u8>, fetch: impl Fn(usize) -> Result<Vec<u8>>) -> Result<NpyHeader> {
    let cut_short = || Error::Truncated("The .npy header is cut short.".into());
    let len = match header_len(&prefix)? {
        Some(len) => len,
        None => header_len(&fetch(12)?)?.ok_or_else(cut_short)?,
    };
    if len <= prefix.len() {
        parse_header(&prefix)
    } else {
        parse_header(&fetch(len)?)
    }
}

/// Parses a complete header (`bytes` holds at least `header_len` bytes).
pub fn parse_header(bytes: &[u8]) -> Result<NpyHeader> {
    let total = header_len(bytes)?.ok_or_else(|| Error::Truncated("The .npy header is cut short.".into()))?;
    let fixed = if bytes[6] == 1 { 10 } else { 12 };
    let text = bytes.get(fixed..total).ok_or_else(|| Error::Truncated("The .npy header is cut short.".into()))?;
    let text = std::str::from_utf8(text).map_err(|_| malformed("The .npy header is not valid text."))?;
    let dict = parse_dict(text)?;

    let mut descr = None;
    let mut fortran = None;
    let mut shape = None;
    for (key, value) in dict {
        match (key.as_str(), value) {
            ("descr", Literal::Str(s)) => descr = Some(s),
            ("descr", _) => return Err(Error::Unsupported("Structured .npy dtypes are not supported.".into())),
            ("fortran_order", Literal::Bool(b)) => fortran = Some(b),
            ("shape", Literal::Tuple(dims)) => shape = Some(dims),
            (k, _) => return Err(malformed(format!("The .npy header has an unexpected field '{k}'."))),
        }
    }
    let missing = |f: &str| malformed(format!("The .npy header has no '{f}' field."));
    let descr = descr.ok_or_else(|| missing("descr"))?;
    let (dtype, byte_order, item_size) = parse_descr(&descr)?;
    Ok(NpyHeader {
        dtype,
        byte_order,
        order: if fortran.ok_or_else(|| missing("fortran_order"))? { MemoryOrder::Fortran } else { MemoryOrder::C },
        shape: shape.ok_or_else(|| missing("shape"))?,
        data_offset: total,
        item_size,
    })
}

/// Maps a numpy type string (`<f4`, `>f8`, `<V2`, `|u1`, …) to a dtype, byte order and item size.
fn parse_descr(descr: &str) -> Result<(DType, ByteOrder, usize)> {
    let unknown = || Error::Unsupported(format!("The .npy dtype '{descr}' is not one patchlens knows."));
    let mut chars = descr.chars();
    let order = match chars.next() {
        Some('<') | Some('|') | Some('=') => ByteOrder::Little,
        Some('>') => ByteOrder::Big,
        _ => return Err(unknown()),
    };
    let kind = chars.next().ok_or_else(unknown)?;
    let size: usize = chars.as_str().parse().map_err(|_| unknown())?;
    let dtype = match (kind, size) {
        ('f', 2) => DType::F16,
        ('f', 4) => DType::F32,
        ('f', 8) => DType::F64,
        // numpy has no bfloat16; ml_dtypes/JAX bfloat16 arrays are saved as 2-byte void.
        ('V', 2) => DType::BF16,
        ('i', 1 | 2 | 4 | 8) => DType::Other(format!("int{}", size * 8)),
        ('u', 1 | 2 | 4 | 8) => DType::Other(format!("uint{}", size * 8)),
        ('b', 1) => DType::Other("bool".into()),
        ('c', 8 | 16) => DType::Other(format!("complex{}", size * 8)),
        ('f', 16 | 12) => DType::Other("longdouble".into()),
        _ => return Err(unknown()),
    };
    Ok((dtype, order, size))
}

#[derive(Debug, PartialEq)]
enum Literal {
    Str(String),
    Bool(bool),
    Tuple(Vec<usize>),
    Other,
}

/// Parses `{'key': value, ...}` where values are strings, booleans, int tuples (or lists, which
/// mark structured dtypes). Enough for every header numpy writes; no evaluation.
fn parse_dict(text: &str) -> Result<Vec<(String, Literal)>> {
    let bad = || malformed("The .npy header is not a dictionary numpy would write.");
    let mut p = Parser { s: text.trim().as_bytes(), i: 0 };
    p.expect(b'{').ok_or_else(bad)?;
    let mut out = Vec::new();
    loop {
        p.skip_ws();
        if p.eat(b'}') {
            break;
        }
        let key = p.string().ok_or_else(bad)?;
        p.skip_ws();
        p.expect(b':').ok_or_else(bad)?;
        p.skip_ws();
        let value = p.literal().ok_or_else(bad)??;
        out.push((key, value));
        p.skip_ws();
        if !p.eat(b',') {
            p.skip_ws();
            p.expect(b'}').ok_or_else(bad)?;
            break;
        }
        if out.len() > 16 {
            return Err(bad());
        }
    }
    Ok(out)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn eat(&mut self, c: u8) -> bool {
        let hit = self.peek() == Some(c);
        if hit {
            self.i += 1;
        }
        hit
    }
    fn expect(&mut self, c: u8) -> Option<()> {
        self.eat(c).then_some(())
    }
    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\n' | b'\t' | b'\r')) {
            self.i += 1;
        }
    }
    fn string(&mut self) -> Option<String> {
        let quote = self.peek().filter(|q| *q == b'\'' || *q == b'"')?;
        self.i += 1;
        let start = self.i;
        while self.peek()? != quote {
            self.i += 1;
        }
        let s = std::str::from_utf8(&self.s[start..self.i]).ok()?.to_string();
        self.i += 1;
        Some(s)
    }
    fn word(&mut self) -> &[u8] {
        let start = self.i;
        while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || c == b'_') {
            self.i += 1;
        }
        &self.s[start..self.i]
    }
    /// `None` is a syntax error; `Some(Err)` a well-formed but unacceptable value.
    fn literal(&mut self) -> Option<Result<Literal>> {
        match self.peek()? {
            b'\'' | b'"' => Some(Ok(Literal::Str(self.string()?))),
            b'(' => self.tuple(),
            b'[' => {
                // A structured dtype's field list: skip it balanced, report it as unsupported.
                let mut depth = 0usize;
                loop {
                    match self.peek()? {
                        b'[' | b'(' => depth += 1,
                        b']' | b')' => depth -= 1,
                        _ => {}
                    }
                    self.i += 1;
                    if depth == 0 {
                        return Some(Ok(Literal::Other));
                    }
                }
            }
            _ => match self.word() {
                b"True" => Some(Ok(Literal::Bool(true))),
                b"False" => Some(Ok(Literal::Bool(false))),
                _ => None,
            },
        }
    }
    fn tuple(&mut self) -> Option<Result<Literal>> {
        self.expect(b'(')?;
        let mut dims = Vec::new();
        loop {
            self.skip_ws();
            if self.eat(b')') {
                return Some(Ok(Literal::Tuple(dims)));
            }
            let word = std::str::from_utf8(self.word()).ok()?;
            // Python 2 wrote long integers with an L suffix.
            let text = word.strip_suffix('L').unwrap_or(word);
            if text.is_empty() || !text.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            let Ok(dim) = text.parse::<usize>() else {
                return Some(Err(Error::TooLarge(format!(
                    "The .npy header has a dimension of {text}, too large to hold."
                ))));
            };
            dims.push(dim);
            if dims.len() > MAX_RANK {
                return Some(Err(Error::Unsupported(format!("The .npy header has more than {MAX_RANK} dimensions."))));
            }
            self.skip_ws();
            if !self.eat(b',') {
                self.skip_ws();
                self.expect(b')')?;
                return Some(Ok(Literal::Tuple(dims)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy_header(dict: &str, version: u8) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&[version, 0]);
        if version == 1 {
            out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
        } else {
            out.extend_from_slice(&(dict.len() as u32).to_le_bytes());
        }
        out.extend_from_slice(dict.as_bytes());
        out
    }

    #[test]
    fn parses_the_headers_numpy_writes() {
        let h =
            parse_header(&npy_header("{'descr': '<f4', 'fortran_order': False, 'shape': (16, 16, 3, 768), }    \n", 1))
                .unwrap();
        assert_eq!((h.dtype, h.byte_order, h.order), (DType::F32, ByteOrder::Little, MemoryOrder::C));
        assert_eq!(h.shape, vec![16, 16, 3, 768]);
        let h = parse_header(&npy_header("{'descr': '>f8', 'fortran_order': True, 'shape': (5,), }", 2)).unwrap();
        assert_eq!(
            (h.dtype, h.byte_order, h.order, h.shape),
            (DType::F64, ByteOrder::Big, MemoryOrder::Fortran, vec![5])
        );
        let h = parse_header(&npy_header("{'descr': '<V2', 'fortran_order': False, 'shape': (), }", 3)).unwrap();
        assert_eq!((h.dtype, h.shape.len()), (DType::BF16, 0));
        assert_eq!(h.data_offset, 12 + "{'descr': '<V2', 'fortran_order': False, 'shape': (), }".len());
    }

    #[test]
    fn lists_but_names_non_float_types() {
        let h = parse_header(&npy_header("{'descr': '<i4', 'fortran_order': False, 'shape': (2, 2), }", 1)).unwrap();
        assert_eq!(h.dtype, DType::Other("int32".into()));
        assert_eq!(h.item_size, 4);
    }

    #[test]
    fn rejects_bad_headers_with_sentences() {
        let cases = [
            "{'descr': '<c32', 'fortran_order': False, 'shape': (2,), }",
            "{'descr': 'O', 'fortran_order': False, 'shape': (2,), }",
            "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999, 2), }",
            "{'descr': '<f4', 'fortran_order': False}",
            "{'descr': '<f4', 'fortran_order': maybe, 'shape': (2,), }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2,",
            "__import__('os').system('echo pwned')",
        ];
        for dict in cases {
            let err = parse_header(&npy_header(dict, 1)).unwrap_err();
            assert!(err.to_string().ends_with('.'), "{dict}: {err}");
        }
        assert!(parse_header(b"\x93NUMPY\x09\x00\x10\x00").is_err());
        assert!(parse_header(b"PK\x03\x04 not npy at all").is_err());
        assert!(parse_header(b"\x93NUM").is_err());
    }

    #[test]
    fn every_truncation_and_byte_flip_is_an_error_not_a_panic() {
        let full = npy_header("{'descr': '<f4', 'fortran_order': False, 'shape': (16, 16, 3, 768), }", 1);
        for cut in 0..full.len() {
            assert!(parse_header(&full[..cut]).is_err());
        }
        for i in 0..full.len() {
            for v in [0u8, b'(', b')', b'\'', 0xff] {
                let mut b = full.clone();
                b[i] = v;
                let _ = parse_header(&b);
            }
        }
    }
}
