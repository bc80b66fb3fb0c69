//! The body of a `206 multipart/byteranges` reply (RFC 9110 §14.6, RFC 2046 §5.1), parsed strictly: parts
//! separated by `CRLF--boundary`, each with its own `Content-Range` and exactly that many bytes, closed by
//! `--boundary--`. Each part's length comes from its Content-Range, so data that happens to contain the
//! boundary cannot cut it short. Failures are phrases for `bad_reply` ("The server sent … for NAME.").

use super::{parse_content_range, ContentRange};

/// RFC 2046 §5.1.1: a boundary is 1 to 70 characters.
const MAX_BOUNDARY: usize = 70;
/// Bytes a server may send before its first boundary (RFC 2046's preamble; nginx and Apache send none).
const MAX_PREAMBLE: usize = 1024;
/// A part's header block (nginx and Apache send a Content-Type and a Content-Range, under 200 bytes).
pub const MAX_PART_HEADERS: usize = 4096;

/// One part: the range it holds and its bytes, borrowed from the body.
#[derive(Debug, PartialEq, Eq)]
pub struct Part<'a> {
    pub range: ContentRange,
    pub bytes: &'a [u8],
}

/// The boundary of a reply's `Content-Type`: `None` when the reply is not `multipart/byteranges`,
/// `Some(Err)` when it is but names no usable boundary.
pub fn boundary(content_type: &str) -> Option<Result<String, &'static str>> {
    let mut fields = content_type.split(';');
    let media = fields.next().unwrap_or_default().trim();
    if !media.eq_ignore_ascii_case("multipart/byteranges") {
        return None;
    }
    let value = fields.find_map(|field| {
        let (name, value) = field.split_once('=')?;
        name.trim().eq_ignore_ascii_case("boundary").then(|| value.trim())
    });
    let value = value.map(|v| v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v));
    Some(match value {
        Some(b) if (1..=MAX_BOUNDARY).contains(&b.len()) && b.bytes().all(is_boundary_char) && !b.ends_with(' ') => {
            Ok(b.to_string())
        }
        _ => Err("a multipart reply without a usable boundary"),
    })
}

/// RFC 2046's `bchars`.
fn is_boundary_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"'()+_,-./:=? ".contains(&c)
}

/// The parts of `body`, at most `max_parts` of them, in the order sent.
pub fn parts<'a>(body: &'a [u8], boundary: &str, max_parts: usize) -> Result<Vec<Part<'a>>, &'static str> {
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    let wrong_boundary = "a multipart reply whose parts are not marked by its boundary";
    // The first delimiter opens the body or follows a CRLF (after a short preamble, ignored).
    let mut at = if body.starts_with(delimiter) {
        0
    } else {
        let look = body.get(..body.len().min(MAX_PREAMBLE + delimiter.len() + 2)).unwrap_or(body);
        find(look, &[b"\r\n", delimiter].concat()).ok_or(wrong_boundary)? + 2
    };
    let mut parts = Vec::new();
    loop {
        at += delimiter.len();
        let rest = body.get(at..).ok_or(wrong_boundary)?;
        if rest.starts_with(b"--") {
            return Ok(parts); // the close delimiter; an epilogue after it is ignored
        }
        // Transport padding (RFC 2046: spaces or tabs) may follow a delimiter before its CRLF.
        let padding = rest.iter().take(MAX_PART_HEADERS).take_while(|&&c| c == b' ' || c == b'\t').count();
        at += padding;
        if !body.get(at..).is_some_and(|r| r.starts_with(b"\r\n")) {
            return Err("a multipart reply cut short or with a damaged boundary line");
        }
        at += 2;
        if parts.len() == max_parts {
            return Err("more parts than ranges asked for");
        }
        let (range, data_start) = part_headers(body, at)?;
        let len = (range.last - range.first).checked_add(1).and_then(|n| usize::try_from(n).ok());
        let len = len.ok_or("a part too long to hold")?;
        let data_end = data_start.checked_add(len).ok_or("a part too long to hold")?;
        let bytes = body.get(data_start..data_end).ok_or("a multipart reply cut short")?;
        // The next delimiter must follow the part's bytes at once: a part as long as its Content-Range says.
        if !body.get(data_end..).is_some_and(|r| r.starts_with(b"\r\n") && r[2..].starts_with(delimiter)) {
            return Err("a part whose length is not the one its Content-Range gives");
        }
        parts.push(Part { range, bytes });
        at = data_end + 2;
    }
}

/// The Content-Range of the part whose headers start at `at`, and where its data starts.
fn part_headers(body: &[u8], at: usize) -> Result<(ContentRange, usize), &'static str> {
    let rest = body.get(at..).ok_or("a multipart reply cut short")?;
    let look = rest.get(..rest.len().min(MAX_PART_HEADERS)).unwrap_or(rest);
    // An empty header block is just the blank line; otherwise the block ends with CRLF CRLF.
    let (block, data_start) = if look.starts_with(b"\r\n") {
        (&look[..0], at + 2)
    } else {
        let end = find(look, b"\r\n\r\n").ok_or("a part whose headers do not end")?;
        (&look[..end], at + end + 4)
    };
    let block = std::str::from_utf8(block).map_err(|_| "a part whose headers are not text")?;
    let mut range = None;
    for line in block.split("\r\n").filter(|_| !block.is_empty()) {
        let (name, value) = line.split_once(':').ok_or("a part with a damaged header line")?;
        if name.trim().eq_ignore_ascii_case("content-range") {
            if range.is_some() {
                return Err("a part with two Content-Range headers");
            }
            range = Some(parse_content_range(value).ok_or("a part with a Content-Range it cannot read")?);
        }
    }
    Ok((range.ok_or("a part without a Content-Range")?, data_start))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A body as nginx writes one (`ngx_http_range_filter_module.c`): CRLF before each delimiter, Content-Type
/// then Content-Range, CRLF `--boundary--` CRLF at the end. For tests and the fuzzer's scripted server;
/// ranges outside `file` get no bytes.
pub(crate) fn nginx_body(boundary: &str, file: &[u8], ranges: &[(u64, u64)]) -> Vec<u8> {
    let mut body = Vec::new();
    for &(first, last) in ranges {
        body.extend_from_slice(format!("\r\n--{boundary}\r\nContent-Type: application/octet-stream\r\n").as_bytes());
        body.extend_from_slice(format!("Content-Range: bytes {first}-{last}/{}\r\n\r\n", file.len()).as_bytes());
        let bytes = usize::try_from(first).ok().zip(usize::try_from(last).ok()).and_then(|(a, b)| file.get(a..=b));
        body.extend_from_slice(bytes.unwrap_or_default());
    }
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file() -> Vec<u8> {
        // The data holds the boundary itself: lengths, not searching, delimit the parts.
        let mut file: Vec<u8> = (0..200u8).collect();
        file[20..34].copy_from_slice(b"\r\n--0000000042");
        file
    }

    #[test]
    fn boundaries_come_from_the_content_type() {
        assert_eq!(boundary("multipart/byteranges; boundary=00000000042"), Some(Ok("00000000042".into())));
        assert_eq!(boundary("Multipart/ByteRanges;Boundary=\"a b:c\""), Some(Ok("a b:c".into())));
        assert_eq!(boundary("application/octet-stream"), None);
        for bad in ["multipart/byteranges", "multipart/byteranges; boundary=", "multipart/byteranges; boundary=a\u{e9}"]
        {
            assert!(matches!(boundary(bad), Some(Err(_))), "{bad}");
        }
        assert!(matches!(boundary(&format!("multipart/byteranges; boundary={}", "x".repeat(71))), Some(Err(_))));
    }

    #[test]
    fn parts_are_read_by_their_content_range() {
        let file = file();
        let body = nginx_body("0000000042", &file, &[(10, 40), (100, 100), (150, 199)]);
        let parts = parts(&body, "0000000042", 3).unwrap();
        let got: Vec<(u64, u64, &[u8])> = parts.iter().map(|p| (p.range.first, p.range.last, p.bytes)).collect();
        assert_eq!(got, vec![(10, 40, &file[10..=40]), (100, 100, &file[100..=100]), (150, 199, &file[150..])]);
        assert_eq!(parts[0].range.total, Some(200));
        // Apache's spelling (Content-range, no leading CRLF), a preamble, padding and an epilogue are fine.
        let apache =
            b"preamble\r\n--B \t\r\nContent-type: x\r\nContent-range: bytes 0-1/200\r\n\r\n\x00\x01\r\n--B--\r\nbye";
        assert_eq!(super::parts(apache, "B", 1).unwrap()[0].bytes, &[0, 1]);
        let bare = b"--B\r\n\r\n\x05\r\n--B--";
        assert_eq!(super::parts(bare, "B", 1), Err("a part without a Content-Range"));
    }

    #[test]
    fn damaged_bodies_are_refused_with_a_phrase() {
        let file = file();
        let good = nginx_body("0000000042", &file, &[(10, 40), (150, 199)]);
        assert_eq!(parts(&good, "0000000099", 2), Err("a multipart reply whose parts are not marked by its boundary"));
        assert_eq!(parts(&good, "0000000042", 1), Err("more parts than ranges asked for"));
        for cut in [good.len() - 3, good.len() - 20, 60, 90] {
            assert!(parts(&good[..cut], "0000000042", 2).is_err(), "cut at {cut}");
        }
        // A part one byte longer than its Content-Range says.
        let long = nginx_body("B", &file, &[(10, 40)]);
        let long = String::from_utf8_lossy(&long).replace("10-40", "10-39").into_bytes();
        assert_eq!(parts(&long, "B", 1), Err("a part whose length is not the one its Content-Range gives"));
        let two = b"--B\r\nContent-Range: bytes 0-0/9\r\nContent-Range: bytes 0-0/9\r\n\r\nx\r\n--B--";
        assert_eq!(parts(two, "B", 1), Err("a part with two Content-Range headers"));
        let odd = b"--B\r\nContent-Range: bytes 5-1/9\r\n\r\nx\r\n--B--";
        assert_eq!(parts(odd, "B", 1), Err("a part with a Content-Range it cannot read"));
        let endless = [b"--B\r\nX: ".as_slice(), &[b'y'; MAX_PART_HEADERS + 10]].concat();
        assert_eq!(parts(&endless, "B", 1), Err("a part whose headers do not end"));
        for huge in ["0-18446744073709551614/18446744073709551615", "0-18446744073709551615/*"] {
            let body = format!("--B\r\nContent-Range: bytes {huge}\r\n\r\nx");
            assert!(parts(body.as_bytes(), "B", 1).is_err(), "{huge}");
        }
        assert!(parts(b"", "B", 1).is_err());
        assert!(parts(b"--B", "B", 1).is_err());
    }
}
