//! The network outside the browser (feature `http`): a blocking [`Client`] over ureq with rustls. Each read is
//! one GET with a single `Range` (or several, for a listing), redirects followed; the reply's status,
//! `Content-Range`, `ETag` and body go to [`RemoteSource`](super::RemoteSource), which checks them. Failures
//! with no reply become sentences.

use super::{file_name, range_header, Client, RangesReply, Reply, Transport};
use crate::error::{Error, Result};
use std::cell::RefCell;
use std::io::Read;
use std::rc::Rc;
use std::time::Duration;

/// Opening a connection (name lookup, TCP, TLS) longer than this means the host is unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A server silent this long within one reply has stalled; each read of the socket restarts the clock.
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The hub sends `resolve/…` to its CDN (one or two hops); more than this is a loop.
pub const MAX_REDIRECTS: u32 = 10;

/// A server that ignores `Range` sends the whole file, which is then held in memory: at most this much.
pub const MAX_WHOLE_FILE: u64 = 8 << 30;

/// Bytes read between two progress reports of a whole-file download.
const PROGRESS_STEP: u64 = 4 << 20;

/// Told how a whole-file download is going: the file's name, bytes so far, and the total when known; the
/// last call, at the end, has bytes so far equal to the total.
pub type Progress = Rc<dyn Fn(&str, u64, Option<u64>)>;

/// A blocking HTTP client: one agent (its connections are kept and reused across a file's reads).
#[derive(Clone)]
pub struct HttpClient {
    agent: ureq::Agent,
    progress: Option<Progress>,
}

impl Default for HttpClient {
    fn default() -> HttpClient {
        HttpClient::new()
    }
}

impl HttpClient {
    pub fn new() -> HttpClient {
        let config = ureq::Agent::config_builder()
            // Statuses are answers for RemoteSource to judge, not failures of the request.
            .http_status_as_error(false)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_per_read(Some(READ_TIMEOUT))
            .max_redirects(MAX_REDIRECTS)
            .user_agent(concat!("patchlens/", env!("CARGO_PKG_VERSION")))
            .build();
        HttpClient { agent: config.into(), progress: None }
    }

    /// Reports the progress of whole-file downloads (from servers that ignore `Range`) to `progress`.
    pub fn with_progress(mut self, progress: impl Fn(&str, u64, Option<u64>) + 'static) -> HttpClient {
        self.progress = Some(Rc::new(progress));
        self
    }
}

impl Client for HttpClient {
    type Transport = HttpTransport;

    fn transport(&self, url: &str) -> HttpTransport {
        HttpTransport {
            client: self.clone(),
            url: url.to_string(),
            name: file_name(url),
            redirected: RefCell::default(),
        }
    }

    fn get(&self, url: &str, limit: usize) -> Result<(u16, Vec<u8>)> {
        let name = file_name(url);
        let response = self.agent.get(url).call().map_err(|e| failed(e, url, &name))?;
        let status = response.status().as_u16();
        let mut body = Vec::new();
        let mut reader = response.into_body().into_reader().take(limit as u64 + 1);
        reader.read_to_end(&mut body).map_err(|e| failed(e.into(), url, &name))?;
        if body.len() > limit {
            return Err(Error::Read(format!("The server's answer for {name} is longer than {} MiB.", limit >> 20)));
        }
        Ok((status, body))
    }
}

/// One file on a server, read through the client's agent.
pub struct HttpTransport {
    client: HttpClient,
    url: String,
    name: String,
    /// Where the first range reply came from after redirects (the hub's CDN): later reads go there
    /// directly, saving a round trip each; the first reply's ETag still holds them to the same file.
    redirected: RefCell<Option<String>>,
}

impl Transport for HttpTransport {
    fn get(&self, first: u64, last: u64) -> Result<Reply> {
        use ureq::ResponseExt;
        let redirected = self.redirected.borrow().clone();
        let (url, name) = (redirected.as_deref().unwrap_or(&self.url), &self.name);
        let request = self.client.agent.get(url).header("Range", range_header(first, last));
        let response = request.call().map_err(|e| failed(e, url, name))?;
        let status = response.status().as_u16();
        let landed = response.get_uri().to_string();
        if status == 206 && redirected.is_none() && landed != self.url {
            *self.redirected.borrow_mut() = Some(landed);
        }
        let header = |key: &str| response.headers().get(key).and_then(|v| v.to_str().ok()).map(str::to_string);
        let (content_range, etag) = (header("content-range"), header("etag"));
        let length = header("content-length").and_then(|v| v.parse::<u64>().ok());
        let body = response.into_body().into_reader();
        let body = match status {
            // One byte more than asked is enough to tell a reply that is too long.
            206 => read_all(body.take(last - first + 2), None, url, name)?,
            // The whole file, from a server that ignores Range: only the first read can take it as such.
            200 if first == 0 => {
                if length.is_some_and(|n| n > MAX_WHOLE_FILE) {
                    return Err(too_big(name));
                }
                let progress = self.client.progress.as_ref().map(|report| (report, length));
                let body = read_all(body.take(MAX_WHOLE_FILE + 1), progress, url, name)?;
                if body.len() as u64 > MAX_WHOLE_FILE {
                    return Err(too_big(name));
                }
                body
            }
            // An error, or a whole file where a range was asked for: the status says enough.
            _ => Vec::new(),
        };
        Ok(Reply { status, content_range, etag, body })
    }

    fn get_ranges(&self, ranges: &str, max_body: Option<usize>) -> Result<Option<RangesReply>> {
        let redirected = self.redirected.borrow().clone();
        let (url, name) = (redirected.as_deref().unwrap_or(&self.url), &self.name);
        let agent = &self.client.agent;
        let request = match max_body {
            Some(_) => agent.get(url).header("Range", ranges).call(),
            None => agent.head(url).header("Range", ranges).call(),
        };
        let response = request.map_err(|e| failed(e, url, name))?;
        let status = response.status().as_u16();
        let header = |key: &str| response.headers().get(key).and_then(|v| v.to_str().ok()).map(str::to_string);
        let (content_type, content_range, etag) = (header("content-type"), header("content-range"), header("etag"));
        let body = match max_body {
            // One byte more than allowed is enough to tell a reply that is too long. Any other status (a
            // whole file from a server that ignores several ranges) is dropped unread.
            Some(max) if status == 206 => {
                read_all(response.into_body().into_reader().take(max as u64 + 1), None, url, name)?
            }
            _ => Vec::new(),
        };
        Ok(Some(RangesReply { status, content_type, content_range, etag, body }))
    }

    fn head_size(&self) -> Result<Option<u64>> {
        let response = self.client.agent.head(&self.url).call().map_err(|e| failed(e, &self.url, &self.name))?;
        let length = response.headers().get("content-length").and_then(|v| v.to_str().ok()?.parse().ok());
        Ok(length.filter(|_| response.status().is_success()))
    }
}

/// Reads a body to its end, telling `progress` (and the total it expects) every [`PROGRESS_STEP`] bytes.
fn read_all(mut body: impl Read, progress: Option<(&Progress, Option<u64>)>, url: &str, name: &str) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let mut reported = 0;
    let mut chunk = vec![0; 64 << 10];
    loop {
        let n = match body.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(failed(e.into(), url, name)),
        };
        bytes.extend_from_slice(chunk.get(..n).unwrap_or_default());
        if let Some((report, total)) = progress {
            let done = bytes.len() as u64;
            // The end is reported once, below.
            if done >= reported + PROGRESS_STEP && total != Some(done) {
                reported = done;
                report(name, done, total);
            }
        }
    }
    if let Some((report, _)) = progress {
        // At the end the total is known, whatever the server said: the last report has done == total.
        report(name, bytes.len() as u64, Some(bytes.len() as u64));
    }
    Ok(bytes)
}

fn too_big(name: &str) -> Error {
    Error::Read(format!(
        "The server does not send parts of {name}, and the whole file is more than the {} GiB patchlens downloads into memory; download it yourself.",
        MAX_WHOLE_FILE >> 30
    ))
}

/// The host (and port) of a URL, for sentences.
fn host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split(['/', '?', '#']).next().unwrap_or(rest)
}

/// A request that got no usable reply, in one sentence: `Error::Network` (trying again may work) but for an
/// address or a TLS setup that cannot work.
fn failed(error: ureq::Error, url: &str, name: &str) -> Error {
    use std::io::ErrorKind;
    let host = host(url);
    if let ureq::Error::BadUri(_) | ureq::Error::Http(_) = error {
        return Error::Read(format!("{url} is not an address patchlens can open."));
    }
    if let ureq::Error::Tls(_) | ureq::Error::Rustls(_) | ureq::Error::Pem(_) = error {
        return Error::Read(format!("A secure connection to {host} could not be made ({error})."));
    }
    Error::Network(match error {
        ureq::Error::HostNotFound => format!("The host {host} was not found; check the address."),
        // std's resolver failing (getaddrinfo) comes as an I/O error with this wording.
        ureq::Error::Io(e) if e.to_string().contains("lookup address") => {
            format!("The host {host} was not found; check the address.")
        }
        ureq::Error::Io(e) if e.kind() == ErrorKind::ConnectionRefused => {
            format!("{host} refused the connection; check the address and that the server is running.")
        }
        ureq::Error::ConnectionFailed => format!("Could not connect to {host}; check the address and the network."),
        ureq::Error::Timeout(_) => format!(
            "{host} did not answer in time while sending {name} (connecting may take {} s, each reply may pause {} s); try again.",
            CONNECT_TIMEOUT.as_secs(),
            READ_TIMEOUT.as_secs()
        ),
        ureq::Error::TooManyRedirects => format!("{host} redirected more than {MAX_REDIRECTS} times for {name}."),
        ureq::Error::Io(_) | ureq::Error::Protocol(_) => {
            format!("The connection to {host} broke while reading {name} ({error}); try again.")
        }
        error => format!("The request for {name} to {host} failed ({error})."),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_named_in_sentences() {
        assert_eq!(host("https://huggingface.co/a/b/resolve/main/x"), "huggingface.co");
        assert_eq!(host("http://127.0.0.1:9/files/x?delay=5"), "127.0.0.1:9");
        let refused =
            failed(ureq::Error::Io(std::io::ErrorKind::ConnectionRefused.into()), "http://127.0.0.1:9/x", "x");
        assert!(matches!(refused, Error::Network(_)), "a refusal may pass: trying again may work");
        assert_eq!(
            refused.to_string(),
            "127.0.0.1:9 refused the connection; check the address and that the server is running."
        );
    }
}
