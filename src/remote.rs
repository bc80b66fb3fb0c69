//! Checkpoints over HTTP, one rule for every client (the page's worker over `XMLHttpRequest`, the CLI over a
//! blocking client): each read is one GET with a single `Range`, and every reply is checked against the first
//! — status 206, the range asked for, the same size and ETag — so a file that changes underneath is an error,
//! not garbage. Many ranges read together (an `.npz` listing) go as multi-range requests where the server
//! answers them (`ranges`). A client brings a [`Transport`]; [`RemoteSource`] is the `ByteSource` the formats
//! read through.

#[cfg(all(feature = "http", not(target_arch = "wasm32")))]
pub mod http;
pub mod hub;
pub(crate) mod multipart;
mod ranges;
pub mod target;
pub mod unreached;

pub use ranges::{MAX_RANGES_PER_REQUEST, MAX_RANGE_HEADER};
pub use target::{open_target, reads_files_beside, target_files, Client, OpenedTarget, TargetFiles};
pub use unreached::no_reply;

use crate::error::{Error, Result};
use crate::source::{check_range, ByteSource};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

/// The first request: the file's head, which also tells its size. Every format's first read is these bytes
/// (zip, pickle, safetensors, GGUF and ONNX all start there), so the probe costs no request of its own.
pub const PROBE_BYTES: u64 = 64 * 1024;

/// Replies kept for reading again (a compressed `.npz` entry is read twice): at most this many bytes.
const KEPT_BYTES: usize = 16 << 20;

/// What a server answered to one GET.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    /// `Content-Range`, when the server sent it and (in a browser) exposed it to scripts.
    pub content_range: Option<String>,
    pub etag: Option<String>,
    pub body: Vec<u8>,
}

/// What a server answered to a request for several ranges at once ([`Transport::get_ranges`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RangesReply {
    pub status: u16,
    /// `multipart/byteranges; boundary=…` when the server sent the ranges as parts of one body.
    pub content_type: Option<String>,
    /// A reply of one range (a server that joined the ranges, or answered only the first) says which.
    pub content_range: Option<String>,
    pub etag: Option<String>,
    pub body: Vec<u8>,
}

/// One way of asking a server for bytes.
pub trait Transport {
    /// One GET with `Range: bytes={first}-{last}` (inclusive), redirects followed. A failure with no reply at
    /// all (the network, or in a browser a CORS refusal, which scripts cannot tell apart) is
    /// `Err(Error::Network)`: see [`no_reply`].
    fn get(&self, first: u64, last: u64) -> Result<Reply>;

    /// The size a HEAD request's `Content-Length` gives, for browsers that hide `Content-Range` (a server
    /// that does not list it in `Access-Control-Expose-Headers`); `None` when that is hidden too.
    fn head_size(&self) -> Result<Option<u64>>;

    /// One request with `Range: {ranges}` (several ranges, `bytes=a-b,c-d,…`), redirects followed: a HEAD when
    /// `max_body` is `None`, else a GET whose body is read only for a 206, and no more than `max_body` + 1
    /// bytes of it. A server that cannot send parts answers such a GET with the whole file (S3, GCS), which
    /// must not be downloaded: [`RemoteSource`] asks with a HEAD first. `Ok(None)`: this client does not send
    /// multi-range requests (the default), and ranges are read one by one.
    fn get_ranges(&self, ranges: &str, max_body: Option<usize>) -> Result<Option<RangesReply>> {
        let _ = (ranges, max_body);
        Ok(None)
    }

    /// Several single ranges `(first, last)` (inclusive, as [`Transport::get`]), each its own GET, each with
    /// its own result in the order asked. By default one after another; a client that can have several
    /// requests in flight (the CLI's) sends them at once, so an `.npz` listing from a server that does not
    /// answer multi-range requests (S3, GCS) costs about one round trip, not one per header group.
    fn get_each(&self, asks: &[(u64, u64)]) -> Vec<Result<Reply>> {
        asks.iter().map(|&(first, last)| self.get(first, last)).collect()
    }
}

/// Requests and bytes that crossed the network for one file.
#[derive(Debug, Default)]
pub struct RemoteStats {
    requests: Cell<u64>,
    bytes: Cell<u64>,
}

impl RemoteStats {
    pub fn requests(&self) -> u64 {
        self.requests.get()
    }

    /// Bytes received in reply bodies.
    pub fn bytes(&self) -> u64 {
        self.bytes.get()
    }

    fn record(&self, body: usize) {
        self.requests.set(self.requests.get() + 1);
        self.bytes.set(self.bytes.get() + body as u64);
    }
}

/// What opening a URL gave: a file read by ranges, or — from a server that ignores `Range` and sent the
/// whole file to the first request — its bytes.
pub enum Opened<T> {
    Ranged(RemoteSource<T>),
    Whole(Vec<u8>),
}

/// A file on a server that answers range requests, read range by range.
pub struct RemoteSource<T> {
    transport: T,
    /// How the file is named in error sentences: the last part of its URL's path.
    name: String,
    size: u64,
    /// The first reply's ETag; every later reply must carry the same one (or none).
    etag: RefCell<Option<String>>,
    /// Recent replies (offset, bytes), newest first.
    kept: RefCell<VecDeque<(u64, Vec<u8>)>>,
    /// Whether the server answers multi-range requests with parts: not known until asked once.
    multi_range: Cell<ranges::Support>,
    stats: Rc<RemoteStats>,
}

impl<T: Transport> RemoteSource<T> {
    /// Asks for the file's first [`PROBE_BYTES`], which tells its size and whether the server reads ranges.
    pub fn open(transport: T, name: &str, stats: Rc<RemoteStats>) -> Result<Opened<T>> {
        let reply = transport.get(0, PROBE_BYTES - 1)?;
        Self::from_probe(transport, name, stats, reply)
    }

    /// As [`RemoteSource::open`], with the probe's reply already in hand: a browser asks for it with `fetch`,
    /// which — unlike a synchronous request — can stream a whole file with progress when the server ignores
    /// `Range`. The reply is counted in `stats`.
    pub fn from_probe(transport: T, name: &str, stats: Rc<RemoteStats>, reply: Reply) -> Result<Opened<T>> {
        stats.record(reply.body.len());
        match reply.status {
            200 => return Ok(Opened::Whole(reply.body)),
            206 => {}
            // Nothing to send for bytes 0…: the file is empty.
            416 => return Err(Error::Read(format!("The file {name} on the server is empty."))),
            status => return Err(status_error(status, name)),
        }
        let size = match reply.content_range.as_deref() {
            Some(header) => {
                let range = parse_content_range(header).ok_or_else(|| bad_reply(name, "a Content-Range it cannot read"))?;
                range.total.ok_or_else(|| bad_reply(name, "no total size in its Content-Range"))?
            }
            None => transport.head_size()?.ok_or_else(|| {
                Error::Read(format!(
                    "The server does not tell this page how big {name} is (it hides Content-Range and Content-Length from other sites); download the file and drop it here."
                ))
            })?,
        };
        let source = RemoteSource {
            transport,
            name: name.to_string(),
            size,
            etag: RefCell::new(reply.etag.clone()),
            kept: RefCell::default(),
            multi_range: Cell::default(),
            stats,
        };
        let body = source.checked(0, PROBE_BYTES.min(size), reply)?;
        source.keep(0, body);
        Ok(Opened::Ranged(source))
    }

    /// A file whose size is already known (the hub lists its files' sizes), read with no probe: a shard
    /// that does not hold the kernel then costs no request at all. Its first reply sets the ETag to hold to.
    pub fn with_size(transport: T, name: &str, size: u64, stats: Rc<RemoteStats>) -> RemoteSource<T> {
        RemoteSource {
            transport,
            name: name.to_string(),
            size,
            etag: RefCell::default(),
            kept: RefCell::default(),
            multi_range: Cell::default(),
            stats,
        }
    }

    /// The reply's body if it is exactly bytes `start..end` of the file this source opened.
    fn checked(&self, start: u64, end: u64, reply: Reply) -> Result<Vec<u8>> {
        let name = &self.name;
        match reply.status {
            206 => {}
            200 => {
                return Err(Error::Read(format!(
                    "The server stopped answering range requests for {name} and sent the whole file; open it again."
                )))
            }
            416 => return Err(changed(name)),
            status => return Err(status_error(status, name)),
        }
        if let Some(header) = reply.content_range.as_deref() {
            let range = parse_content_range(header).ok_or_else(|| bad_reply(name, "a Content-Range it cannot read"))?;
            self.check_total(&range)?;
            if (range.first, range.last.checked_add(1)) != (start, Some(end)) {
                return Err(bad_reply(name, "other bytes than the ones asked for"));
            }
        }
        self.check_etag(reply.etag.as_ref())?;
        if reply.body.len() as u64 != end - start {
            return Err(bad_reply(name, "a reply of the wrong length"));
        }
        Ok(reply.body)
    }

    /// A reply's Content-Range must give this file's size (or none).
    fn check_total(&self, range: &ContentRange) -> Result<()> {
        match range.total {
            Some(total) if total != self.size => Err(changed(&self.name)),
            _ => Ok(()),
        }
    }

    /// Every reply carries the first one's ETag, or none.
    fn check_etag(&self, now: Option<&String>) -> Result<()> {
        let mut etag = self.etag.borrow_mut();
        match (etag.as_ref(), now) {
            (Some(first), Some(now)) if first != now => return Err(changed(&self.name)),
            (None, Some(now)) => *etag = Some(now.clone()),
            _ => {}
        }
        Ok(())
    }

    fn keep(&self, offset: u64, bytes: Vec<u8>) {
        let mut kept = self.kept.borrow_mut();
        kept.push_front((offset, bytes));
        let mut total = 0;
        kept.retain(|(_, b)| {
            total += b.len();
            total <= KEPT_BYTES
        });
    }

    /// Copies the longest start of `buf` (at `offset`) that one kept reply holds; returns its length.
    fn kept_prefix(&self, offset: u64, buf: &mut [u8]) -> usize {
        let kept = self.kept.borrow();
        let best = kept
            .iter()
            .filter_map(|(start, bytes)| {
                let from = usize::try_from(offset.checked_sub(*start)?).ok()?;
                let held = bytes.len().checked_sub(from)?.min(buf.len());
                Some((held, from, bytes))
            })
            .max_by_key(|(held, _, _)| *held);
        match best {
            Some((held, from, bytes)) => {
                buf[..held].copy_from_slice(&bytes[from..from + held]);
                held
            }
            None => 0,
        }
    }

    pub fn stats(&self) -> Rc<RemoteStats> {
        Rc::clone(&self.stats)
    }

    /// The client this file is read through (the page hands its worker's replies to it).
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// The single ranges `(first, last)` (inclusive) that reading `ranges` together ([`ByteSource::read_ranges`])
    /// will ask for one by one, in that order: empty unless the server is known — after a HEAD of them, sent
    /// now if not yet — to answer multi-range requests with the whole file (S3, GCS). A browser fetches them
    /// concurrently and hands the replies to its transport before reading: see [`ranges`].
    pub fn ranges_asked_alone(&self, ranges: &[(u64, u64)]) -> Vec<(u64, u64)> {
        ranges::asked_alone(self, ranges)
    }

    /// Fills `buf` (the read at `offset`, whose first `held` bytes a kept reply gave) from `reply`, the
    /// server's answer for the rest: counted, checked, and kept whole so reading it again asks for nothing.
    fn take_reply(&self, offset: u64, buf: &mut [u8], held: usize, reply: Result<Reply>) -> Result<()> {
        let reply = reply?;
        self.stats.record(reply.body.len());
        let (start, end) = (offset + held as u64, offset + buf.len() as u64);
        let body = self.checked(start, end, reply)?;
        buf[held..].copy_from_slice(&body);
        if buf.len() <= KEPT_BYTES {
            self.keep(offset, buf.to_vec());
        }
        Ok(())
    }
}

impl<T: Transport> ByteSource for RemoteSource<T> {
    fn len(&self) -> u64 {
        self.size
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        check_range(offset, buf.len(), self.size)?;
        // A read that a kept reply holds asks for nothing; one that starts inside it (the kernel entry right
        // after the probed head) asks only for the rest: fewer bytes, and no overlapping ranges for a browser
        // cache to revalidate.
        let held = self.kept_prefix(offset, buf);
        if held == buf.len() {
            return Ok(());
        }
        let (start, end) = (offset + held as u64, offset + buf.len() as u64);
        let reply = self.transport.get(start, end - 1);
        self.take_reply(offset, buf, held, reply)
    }

    /// In as few requests as the server allows: see [`ranges`].
    fn read_ranges(&self, ranges: &[(u64, u64)]) -> Vec<Result<Vec<u8>>> {
        ranges::read_ranges(self, ranges)
    }
}

/// `Content-Range: bytes first-last/total` (total `*` when unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentRange {
    pub first: u64,
    pub last: u64,
    pub total: Option<u64>,
}

/// Reads a `Content-Range` header of a 206 reply; `None` for anything else (RFC 9110 §14.4).
pub fn parse_content_range(header: &str) -> Option<ContentRange> {
    let rest = header.trim().strip_prefix("bytes")?.trim_start();
    let (range, total) = rest.split_once('/')?;
    let (first, last) = range.trim().split_once('-')?;
    let (first, last) = (first.trim().parse().ok()?, last.trim().parse().ok()?);
    let total = match total.trim() {
        "*" => None,
        text => Some(text.parse().ok()?),
    };
    (first <= last && total.is_none_or(|t| last < t)).then_some(ContentRange { first, last, total })
}

/// The `Range` header for bytes `first..=last`: the one form a browser sends without a CORS preflight.
pub fn range_header(first: u64, last: u64) -> String {
    format!("bytes={first}-{last}")
}

/// The sentence for an HTTP error status.
pub fn status_error(status: u16, name: &str) -> Error {
    Error::Read(match status {
        401 | 403 => format!(
            "The server refused to send {name} ({status}): the model may be gated or private; download it with your account and open the file from disk."
        ),
        404 | 410 => format!("There is no file {name} at this address ({status})."),
        500..=599 => format!("The server failed while sending {name} ({status}); try again later."),
        _ => format!("The server answered {status} when asked for {name}."),
    })
}

fn changed(name: &str) -> Error {
    Error::Read(format!("The file {name} changed on the server while it was being read; open it again."))
}

fn bad_reply(name: &str, what: &str) -> Error {
    Error::Read(format!("The server sent {what} for {name}."))
}

/// The name a URL's file goes by in sentences and panels: the last part of its path, without the query.
pub fn file_name(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let name = path.trim_end_matches('/').rsplit('/').next().unwrap_or(path);
    if name.is_empty() || name.contains(':') {
        url.to_string()
    } else {
        name.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::{read_vec, SliceSource};

    /// A server holding `bytes`, with the misbehaviours a test switches on.
    #[derive(Default)]
    struct Server {
        bytes: Vec<u8>,
        no_ranges: bool,
        hide_content_range: bool,
        hide_length: bool,
        /// The file is replaced (another ETag) after this many requests.
        changes_after: Option<u64>,
        status: Option<u16>,
        asked: RefCell<Vec<(u64, u64)>>,
    }

    impl Transport for &Server {
        fn get(&self, first: u64, last: u64) -> Result<Reply> {
            self.asked.borrow_mut().push((first, last));
            let changed = self.changes_after.is_some_and(|n| self.asked.borrow().len() as u64 > n);
            let etag = Some(if changed { "\"v2\"" } else { "\"v1\"" }.to_string());
            if let Some(status) = self.status {
                return Ok(Reply { status, ..Reply::default() });
            }
            if self.no_ranges {
                return Ok(Reply { status: 200, etag, body: self.bytes.clone(), ..Reply::default() });
            }
            let size = self.bytes.len() as u64;
            if first >= size {
                return Ok(Reply { status: 416, ..Reply::default() });
            }
            let last = last.min(size - 1);
            Ok(Reply {
                status: 206,
                content_range: (!self.hide_content_range).then(|| format!("bytes {first}-{last}/{size}")),
                etag,
                body: self.bytes[first as usize..=last as usize].to_vec(),
            })
        }

        fn head_size(&self) -> Result<Option<u64>> {
            Ok((!self.hide_length).then_some(self.bytes.len() as u64))
        }
    }

    fn serving(len: usize) -> Server {
        Server { bytes: (0..len).map(|i| (i * 7 % 251) as u8).collect(), ..Server::default() }
    }

    fn open(server: &Server) -> Result<Opened<&Server>> {
        RemoteSource::open(server, "model.bin", Rc::default())
    }

    fn ranged(server: &Server) -> RemoteSource<&Server> {
        match open(server) {
            Ok(Opened::Ranged(source)) => source,
            Ok(Opened::Whole(_)) => panic!("the server reads ranges"),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn reads_are_ranges_and_the_probe_serves_the_head() {
        let server = serving(300_000);
        let source = ranged(&server);
        assert_eq!(source.len(), 300_000);
        let expected = SliceSource(server.bytes.clone());
        assert_eq!(read_vec(&source, 0, 65_536).unwrap(), read_vec(&expected, 0, 65_536).unwrap());
        assert_eq!(read_vec(&source, 100, 10).unwrap(), read_vec(&expected, 100, 10).unwrap());
        assert_eq!(server.asked.borrow().len(), 1, "the probe answers reads inside the head");
        assert_eq!(read_vec(&source, 299_990, 10).unwrap(), read_vec(&expected, 299_990, 10).unwrap());
        assert_eq!(read_vec(&source, 299_995, 5).unwrap(), read_vec(&expected, 299_995, 5).unwrap());
        assert_eq!(*server.asked.borrow(), vec![(0, PROBE_BYTES - 1), (299_990, 299_999)], "a re-read is kept");
        assert_eq!((source.stats().requests(), source.stats().bytes()), (2, PROBE_BYTES + 10));
        assert!(matches!(read_vec(&source, 299_995, 6), Err(Error::Truncated(_))));
    }

    #[test]
    fn a_read_starting_in_the_head_asks_only_for_the_rest() {
        let server = serving(300_000);
        let source = ranged(&server);
        assert_eq!(read_vec(&source, 60_000, 100_000).unwrap(), server.bytes[60_000..160_000]);
        assert_eq!(*server.asked.borrow(), vec![(0, PROBE_BYTES - 1), (PROBE_BYTES, 159_999)]);
        assert_eq!(source.stats().bytes(), 160_000);
    }

    #[test]
    fn a_small_file_is_read_whole_by_the_probe() {
        let server = serving(1000);
        let source = ranged(&server);
        assert_eq!(source.len(), 1000);
        assert_eq!(read_vec(&source, 0, 1000).unwrap(), server.bytes);
        assert_eq!(server.asked.borrow().len(), 1);
    }

    #[test]
    fn a_server_without_ranges_hands_over_the_whole_file() {
        let server = Server { no_ranges: true, ..serving(200_000) };
        assert!(matches!(open(&server), Ok(Opened::Whole(bytes)) if bytes == server.bytes));
    }

    #[test]
    fn a_hidden_content_range_falls_back_to_the_length_of_a_head() {
        let server = Server { hide_content_range: true, ..serving(200_000) };
        let source = ranged(&server);
        assert_eq!(source.len(), 200_000);
        assert_eq!(read_vec(&source, 150_000, 4).unwrap(), server.bytes[150_000..150_004]);
        let hidden = Server { hide_content_range: true, hide_length: true, ..serving(200_000) };
        let err = open(&hidden).err().unwrap().to_string();
        assert!(err.contains("does not tell this page how big model.bin is"), "{err}");
    }

    #[test]
    fn a_known_size_needs_no_probe_and_the_first_reply_sets_the_etag() {
        let server = Server { changes_after: Some(1), ..serving(200_000) };
        let source = RemoteSource::with_size(&server, "shard.safetensors", 200_000, Rc::default());
        assert_eq!(source.len(), 200_000);
        assert!(server.asked.borrow().is_empty(), "nothing asked before a read");
        assert_eq!(read_vec(&source, 10, 4).unwrap(), server.bytes[10..14]);
        let err = read_vec(&source, 20, 4).unwrap_err().to_string();
        assert!(err.contains("changed on the server"), "{err}");
        let wrong = RemoteSource::with_size(&server, "shard.safetensors", 300_000, Rc::default());
        assert!(read_vec(&wrong, 0, 4).is_err(), "a listed size the server contradicts");
    }

    #[test]
    fn a_file_that_changes_mid_read_is_an_error() {
        let server = Server { changes_after: Some(1), ..serving(200_000) };
        let source = ranged(&server);
        let err = read_vec(&source, 100_000, 10).unwrap_err().to_string();
        assert_eq!(err, "The file model.bin changed on the server while it was being read; open it again.");
    }

    #[test]
    fn statuses_say_what_went_wrong() {
        for (status, words) in [
            (401, "gated or private"),
            (403, "gated or private"),
            (404, "There is no file"),
            (503, "try again later"),
            (302, "answered 302"),
        ] {
            let refusing = Server { status: Some(status), ..serving(10) };
            let err = open(&refusing).err().unwrap().to_string();
            assert!(err.contains(words), "{status}: {err}");
        }
        let empty = serving(0);
        assert_eq!(open(&empty).err().unwrap().to_string(), "The file model.bin on the server is empty.");
    }

    /// A reply for other bytes than those asked for, or of another length, is refused.
    #[test]
    fn replies_must_be_the_range_asked_for() {
        let server = serving(200_000);
        let source = ranged(&server);
        let reply = |range: &str, body: usize| Reply {
            status: 206,
            content_range: Some(range.to_string()),
            etag: Some("\"v1\"".into()),
            body: vec![0; body],
        };
        assert!(source.checked(100, 110, reply("bytes 100-109/200000", 10)).is_ok());
        assert!(source.checked(100, 110, reply("bytes 0-9/200000", 10)).is_err());
        assert!(source.checked(100, 110, reply("bytes 100-109/200001", 10)).is_err());
        assert!(source.checked(100, 110, reply("bytes 100-109/200000", 9)).is_err());
        assert!(source.checked(100, 110, Reply { status: 200, ..reply("", 10) }).is_err());
    }

    #[test]
    fn content_ranges_parse_as_rfc_9110_writes_them() {
        let parsed = |s| parse_content_range(s);
        assert_eq!(parsed("bytes 0-499/1234"), Some(ContentRange { first: 0, last: 499, total: Some(1234) }));
        assert_eq!(parsed("bytes 5-5/*"), Some(ContentRange { first: 5, last: 5, total: None }));
        for bad in ["bytes */1234", "bytes 9-2/10", "bytes 0-10/10", "items 0-1/2", "bytes 0-1", "bytes a-b/c", ""] {
            assert_eq!(parsed(bad), None, "{bad}");
        }
        assert_eq!(range_header(0, 65_535), "bytes=0-65535");
    }

    #[test]
    fn file_names_are_the_last_part_of_the_path() {
        assert_eq!(file_name("https://h.co/a/resolve/main/model.safetensors?download=1"), "model.safetensors");
        assert_eq!(file_name("https://example.com/dir/"), "dir");
        assert_eq!(file_name("https://example.com"), "example.com");
    }
}
