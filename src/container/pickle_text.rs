//! Protocol 0's text forms and the text-as-bytes of protocols 1–2, decoded back into the bytes they
//! stand for. Each decoder returns `None` on text Python itself would refuse.

/// A `S'...'` literal (quotes included) as Python's `codecs.escape_decode` reads it.
pub fn escape_decode(literal: &[u8]) -> Option<Vec<u8>> {
    let (&quote, rest) = literal.split_first()?;
    let inner = rest.strip_suffix(&[quote])?;
    if quote != b'\'' && quote != b'"' {
        return None;
    }
    let mut out = Vec::with_capacity(inner.len());
    let mut i = 0;
    while let Some(&c) = inner.get(i) {
        i += 1;
        if c != b'\\' {
            out.push(c);
            continue;
        }
        let e = *inner.get(i)?; // a trailing backslash is an error in Python too
        i += 1;
        match e {
            b'\n' => {}
            b'\\' | b'\'' | b'"' => out.push(e),
            b'a' => out.push(7),
            b'b' => out.push(8),
            b't' => out.push(9),
            b'n' => out.push(10),
            b'v' => out.push(11),
            b'f' => out.push(12),
            b'r' => out.push(13),
            b'0'..=b'7' => {
                let mut value = u32::from(e - b'0');
                for _ in 0..2 {
                    match inner.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            value = value * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push((value & 0xff) as u8);
            }
            b'x' => {
                let hex = inner.get(i..i.checked_add(2)?)?;
                let text = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(text, 16).ok()?);
                i += 2;
            }
            other => out.extend_from_slice(&[b'\\', other]),
        }
    }
    Some(out)
}

/// A `V` line as Python's raw-unicode-escape codec reads it: bytes are latin-1 characters, and
/// `\uXXXX` / `\UXXXXXXXX` escapes count only after an odd run of backslashes.
pub fn raw_unicode_escape_decode(text: &[u8]) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while let Some(&c) = text.get(i) {
        i += 1;
        if c != b'\\' {
            out.push(char::from(c));
            continue;
        }
        let mut run = 1;
        out.push('\\');
        while text.get(i) == Some(&b'\\') {
            out.push('\\');
            run += 1;
            i += 1;
        }
        let digits = match text.get(i) {
            Some(b'u') if run % 2 == 1 => 4,
            Some(b'U') if run % 2 == 1 => 8,
            _ => continue,
        };
        out.pop(); // the escaping backslash
        let hex = text.get(i + 1..i.checked_add(1 + digits)?)?;
        let code = u32::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
        out.push(char::from_u32(code)?);
        i += 1 + digits;
    }
    Some(out)
}

/// Characters that are bytes (`_codecs.encode(text, 'latin1')`, numpy's own latin-1 step for a
/// `str` array state); `None` if one is past U+00FF.
pub fn latin1_bytes(text: &str) -> Option<Vec<u8>> {
    text.chars().map(|c| u8::try_from(u32::from(c)).ok()).collect()
}

/// UTF-8 text whose characters are bytes, back into those bytes.
pub fn utf8_latin1_bytes(text: &[u8]) -> Option<Vec<u8>> {
    latin1_bytes(std::str::from_utf8(text).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_python_escapes_as_python_does() {
        // Values from Python: codecs.escape_decode(b"a\\x00\\'\\n\\\\\\101\\q") == b"a\x00'\n\\A\\q".
        assert_eq!(escape_decode(b"'a\\x00\\'\\n\\\\\\101\\q'").unwrap(), b"a\x00'\n\\A\\q");
        assert_eq!(escape_decode(b"\"it's\"").unwrap(), b"it's");
        assert!(escape_decode(b"'no end").is_none());
        assert!(escape_decode(b"'bad \\x4'").is_none());
        assert!(escape_decode(b"'trailing \\'").is_none());
        assert!(escape_decode(b"'").is_none());
    }

    #[test]
    fn decodes_raw_unicode_escape_as_python_does() {
        // pickle protocol 0 writes '\\' as \u005c and '\n' as \u000a.
        assert_eq!(raw_unicode_escape_decode(b"a\\u005c\\u000a\xff").unwrap(), "a\\\n\u{ff}");
        assert_eq!(raw_unicode_escape_decode(b"\\\\u0041").unwrap(), "\\\\u0041");
        assert_eq!(raw_unicode_escape_decode(b"\\U0001F600").unwrap(), "\u{1F600}");
        assert!(raw_unicode_escape_decode(b"\\u00").is_none());
        assert!(raw_unicode_escape_decode(b"\\uzzzz").is_none());
        assert_eq!(latin1_bytes("\u{ff}\u{0}"), Some(vec![0xff, 0]));
        assert_eq!(latin1_bytes("\u{100}"), None);
        assert_eq!(utf8_latin1_bytes("é?".as_bytes()), Some(vec![0xe9, b'?']));
    }
}
