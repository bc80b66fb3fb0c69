//! The network outside the browser (feature `http`): a blocking [`Client`] over ureq with rustls. Each read is
//! one GET with a single `Range` (or several, for a listing), redirects followed; the reply's status,
//! `Content-Range`, `ETag` and body go to [`RemoteSource`](super::RemoteSource), which checks them. Failures
//! with no reply become sentences.

use super::unreached::{broke, host, unreached, Asked, Broke, Unreached};
use super::{file_name, range_header, Client, RangesReply, Reply, Transport};
use crate::error::{Error, Result};
use std::cell::RefCell;
use std::io::Read;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Opening a connection (name lookup, TCP, TLS) longer than this means the host is unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A server silent this long within one reply has stalled; each read of the socket restarts the clock.
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The hub sends `resolve/…` to its CDN (one or two hops); more than this is a loop.
pub const MAX_REDIRECTS: u32 = 10;

/// A server that ignores `Range` sends the whole file, which is then held in memory: at most this much.
pub const MAX_WHOLE_FILE: u64 = 8 << 30;

/// Requests in flight at once for [`Transport::get_each`] (an `.npz` listing's header groups from a server
/// that does not answer multi-range requests): the 6 connections per host a browser opens, a load servers
/// and CDNs expect from one client.
pub const MAX_IN_FLIGHT: usize = 6;

// The agent is shared by the threads of `get_each` (ureq's docs: an inner Arc, its pool behind a Mutex).
const _: fn() = || {
    fn shared<T: Send + Sync>() {}
    shared::<ureq::Agent>();
};

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
    /// The limits the agent was built with, for the sentences that say one was reached.
    timeouts: (Duration, Duration),
}

impl Default for HttpClient {
    fn default() -> HttpClient {
        HttpClient::new()
    }
}

impl HttpClient {
    pub fn new() -> HttpClient {
        HttpClient::with_timeouts(CONNECT_TIMEOUT, READ_TIMEOUT)
    }

    /// A client that gives up connecting after `connect` and on a reply silent for `per_read` (tests use a
    /// fraction of a second; [`HttpClient::new`] uses [`CONNECT_TIMEOUT`] and [`READ_TIMEOUT`]).
    pub fn with_timeouts(connect: Duration, per_read: Duration) -> HttpClient {
        let config = ureq::Agent::config_builder()
            // Statuses are answers for RemoteSource to judge, not failures of the request.
            .http_status_as_error(false)
            .timeout_connect(Some(connect))
            .timeout_per_read(Some(per_read))
            .max_redirects(MAX_REDIRECTS)
            // `get_each`'s connections all go back to the pool for the next ranges (ureq keeps 3 by default).
            .max_idle_connections_per_host(MAX_IN_FLIGHT)
            .user_agent(concat!("patchlens/", env!("CARGO_PKG_VERSION")))
            .build();
        HttpClient { agent: config.into(), progress: None, timeouts: (connect, per_read) }
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
        let asked = Asked::Hub { url };
        let response = self.agent.get(url).call().map_err(|e| self.failed(e, asked))?;
        let status = response.status().as_u16();
        let mut body = Vec::new();
        let mut reader = response.into_body().into_reader().take(limit as u64 + 1);
        reader.read_to_end(&mut body).map_err(|e| self.failed(e.into(), asked))?;
        if body.len() > limit {
            let name = file_name(url);
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
        let asked = Asked::File { url, name };
        let response = request.call().map_err(|e| self.client.failed(e, asked))?;
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
            206 => read_all(body.take(last - first + 2), None, &self.client, asked)?,
            // The whole file, from a server that ignores Range: only the first read can take it as such.
            200 if first == 0 => {
                if length.is_some_and(|n| n > MAX_WHOLE_FILE) {
                    return Err(too_big(name));
                }
                let progress = self.client.progress.as_ref().map(|report| (report, length));
                let body = read_all(body.take(MAX_WHOLE_FILE + 1), progress, &self.client, asked)?;
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
        let asked = Asked::File { url, name };
        let response = request.map_err(|e| self.client.failed(e, asked))?;
        let status = response.status().as_u16();
        let header = |key: &str| response.headers().get(key).and_then(|v| v.to_str().ok()).map(str::to_string);
        let (content_type, content_range, etag) = (header("content-type"), header("content-range"), header("etag"));
        let body = match max_body {
            // One byte more than allowed is enough to tell a reply that is too long. Any other status (a
            // whole file from a server that ignores several ranges) is dropped unread.
            Some(max) if status == 206 => {
                read_all(response.into_body().into_reader().take(max as u64 + 1), None, &self.client, asked)?
            }
            _ => Vec::new(),
        };
        Ok(Some(RangesReply { status, content_type, content_range, etag, body }))
    }

    /// [`MAX_IN_FLIGHT`] threads, each asking for the next range not yet asked for until none is left, over
    /// the agent's shared connections; each reply is read in full as [`Transport::get`] reads it.
    fn get_each(&self, asks: &[(u64, u64)]) -> Vec<Result<Reply>> {
        if asks.len() < 2 {
            return asks.iter().map(|&(first, last)| self.get(first, last)).collect();
        }
        let url = self.redirected.borrow().clone().unwrap_or_else(|| self.url.clone());
        let (agent, timeouts, name) = (&self.client.agent, self.client.timeouts, &self.name);
        let next = AtomicUsize::new(0);
        let worker = || {
            // A transport of the thread's own (the client's progress is not shared across threads; only a
            // whole file, never a range, reports progress), on the same agent and address.
            let client = HttpClient { agent: agent.clone(), progress: None, timeouts };
            let transport =
                HttpTransport { client, url: url.clone(), name: name.clone(), redirected: RefCell::default() };
            let mut replies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&(first, last)) = asks.get(i) else { break };
                replies.push((i, transport.get(first, last)));
            }
            replies
        };
        let mut slots: Vec<Option<Result<Reply>>> = asks.iter().map(|_| None).collect();
        std::thread::scope(|scope| {
            let threads: Vec<_> = (0..MAX_IN_FLIGHT.min(asks.len()))
                .filter_map(|_| std::thread::Builder::new().spawn_scoped(scope, worker).ok())
                .collect();
            for thread in threads {
                // A thread that panicked (not expected) leaves its asks to be asked for again below.
                for (i, reply) in thread.join().unwrap_or_default() {
                    if let Some(slot) = slots.get_mut(i) {
                        *slot = Some(reply);
                    }
                }
            }
        });
        // What no thread asked for (none could be started): one after another, here.
        slots
            .into_iter()
            .zip(asks)
            .map(|(slot, &(first, last))| slot.unwrap_or_else(|| self.get(first, last)))
            .collect()
    }

    fn head_size(&self) -> Result<Option<u64>> {
        let asked = Asked::File { url: &self.url, name: &self.name };
        let response = self.client.agent.head(&self.url).call().map_err(|e| self.client.failed(e, asked))?;
        let length = response.headers().get("content-length").and_then(|v| v.to_str().ok()?.parse().ok());
        Ok(length.filter(|_| response.status().is_success()))
    }
}

/// Reads a body to its end, telling `progress` (and the total it expects) every [`PROGRESS_STEP`] bytes.
fn read_all(
    mut body: impl Read,
    progress: Option<(&Progress, Option<u64>)>,
    client: &HttpClient,
    asked: Asked,
) -> Result<Vec<u8>> {
    let name = match asked {
        Asked::File { name, .. } => name,
        Asked::Hub { .. } => "",
    };
    let mut bytes = Vec::new();
    let mut reported = 0;
    let mut chunk = vec![0; 64 << 10];
    loop {
        let n = match body.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(client.failed(e.into(), asked)),
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

impl HttpClient {
    /// A request that got no usable reply, in one sentence (`unreached`): no connection, a connection that
    /// broke, or an address that cannot work.
    fn failed(&self, error: ureq::Error, asked: Asked) -> Error {
        use std::io::ErrorKind;
        let url = match asked {
            Asked::File { url, .. } | Asked::Hub { url } => url,
        };
        let (connect, per_read) = (self.timeouts.0.as_secs().max(1), self.timeouts.1.as_secs().max(1));
        // rustls reports a failed handshake through the socket, as an I/O error that holds its own.
        let error = match error {
            ureq::Error::Io(e) if e.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()) => {
                match e.into_inner().map(|inner| inner.downcast::<rustls::Error>()) {
                    Some(Ok(tls)) => ureq::Error::Rustls(*tls),
                    _ => ureq::Error::ConnectionFailed, // not reached: checked just above
                }
            }
            error => error,
        };
        let why = match error {
            ureq::Error::BadUri(_) | ureq::Error::Http(_) => {
                return Error::Read(format!("{url} is not an address patchlens can open."))
            }
            ureq::Error::HostNotFound => Unreached::UnknownHost,
            // std's resolver (getaddrinfo) failing has no kind of its own: only this wording tells it.
            ureq::Error::Io(ref e) if e.to_string().contains("lookup address") => Unreached::UnknownHost,
            ureq::Error::Io(ref e) if e.kind() == ErrorKind::ConnectionRefused => Unreached::Refused,
            ureq::Error::Io(ref e)
                if matches!(
                    e.kind(),
                    ErrorKind::NetworkUnreachable | ErrorKind::HostUnreachable | ErrorKind::AddrNotAvailable
                ) =>
            {
                Unreached::NoRoute
            }
            ureq::Error::Timeout(ureq::Timeout::Resolve | ureq::Timeout::Connect) => Unreached::ConnectTimeout(connect),
            ureq::Error::Tls(_) | ureq::Error::Pem(_) | ureq::Error::TlsRequired => {
                Unreached::Tls(format!("no secure connection could be made ({error})"))
            }
            ureq::Error::Rustls(e) => Unreached::Tls(tls_failure(&e)),
            ureq::Error::ConnectionFailed => Unreached::Other("the connection failed".into()),
            ureq::Error::TooManyRedirects => {
                let host = host(url);
                return Error::Network(format!("{host} redirected more than {MAX_REDIRECTS} times; try again later."));
            }
            // Past the connection: the reply was cut short.
            ureq::Error::Timeout(_) => return broke(asked, &Broke::Stalled(per_read)),
            ureq::Error::Io(ref e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted) => {
                return broke(asked, &Broke::Reset)
            }
            ureq::Error::Io(ref e) if matches!(e.kind(), ErrorKind::UnexpectedEof | ErrorKind::BrokenPipe) => {
                return broke(asked, &Broke::Closed)
            }
            ureq::Error::Io(e) => return broke(asked, &Broke::Other(Some(e.to_string()))),
            ureq::Error::Protocol(e) => {
                return broke(asked, &Broke::Other(Some(format!("the reply is not valid HTTP: {e}"))))
            }
            error => return broke(asked, &Broke::Other(Some(error.to_string()))),
        };
        unreached(asked, &why)
    }
}

/// Why rustls would not make a secure connection, as a clause about the server.
fn tls_failure(error: &rustls::Error) -> String {
    use rustls::CertificateError as Cert;
    match error {
        // A plain HTTP server's answer to a TLS hello is no TLS record.
        rustls::Error::InvalidMessage(_) => {
            "it does not answer https there (for a plain http server, use an http:// address)".into()
        }
        rustls::Error::InvalidCertificate(Cert::UnknownIssuer) => {
            "its certificate is not signed by an authority patchlens trusts".into()
        }
        rustls::Error::InvalidCertificate(Cert::Expired | Cert::ExpiredContext { .. }) => {
            "its certificate has expired".into()
        }
        rustls::Error::InvalidCertificate(Cert::NotValidForName | Cert::NotValidForNameContext { .. }) => {
            "its certificate is for another name".into()
        }
        rustls::Error::InvalidCertificate(e) => format!("its certificate is not valid ({e})"),
        rustls::Error::AlertReceived(alert) => format!("it refused the secure connection ({alert:?})"),
        e => format!("no secure connection could be made ({e})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_failures_become_sentences() {
        let client = HttpClient::new();
        let asked = Asked::File { url: "http://127.0.0.1:9/x.bin", name: "x.bin" };
        let io = |kind: std::io::ErrorKind| client.failed(ureq::Error::Io(kind.into()), asked).to_string();
        assert!(
            matches!(
                client.failed(ureq::Error::Io(std::io::ErrorKind::ConnectionRefused.into()), asked),
                Error::Network(_)
            ),
            "a refusal may pass: trying again may work"
        );
        assert_eq!(
            io(std::io::ErrorKind::ConnectionRefused),
            "Could not reach 127.0.0.1:9 for x.bin: it refused the connection (nothing listens at that port); check the address and that the server is running."
        );
        assert_eq!(
            io(std::io::ErrorKind::ConnectionReset),
            "127.0.0.1:9 reset the connection while x.bin was being read; try again."
        );
        assert_eq!(
            io(std::io::ErrorKind::UnexpectedEof),
            "127.0.0.1:9 closed the connection before x.bin was read in full; try again."
        );
        assert!(io(std::io::ErrorKind::NetworkUnreachable).contains("there is no route to it"));
        let stalled = client.failed(ureq::Error::Timeout(ureq::Timeout::PerRead), asked).to_string();
        assert_eq!(stalled, "127.0.0.1:9 sent nothing for 30 s while x.bin was being read; try again.");
        let connecting = client.failed(
            ureq::Error::Timeout(ureq::Timeout::Connect),
            Asked::Hub { url: "https://hub.test/api/models/a/b" },
        );
        assert_eq!(connecting.to_string(), "Could not reach the hub at https://hub.test: it did not accept a connection within 10 s; check the address and the network, then try again.");
    }
}
