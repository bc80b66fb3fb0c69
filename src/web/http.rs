//! A checkpoint on a web server, read range by range with synchronous `XMLHttpRequest` (allowed only in a
//! dedicated worker): the browser's [`Transport`] for `remote::RemoteSource`, which holds every rule.

use crate::error::{Error, Result};
use crate::remote::unreached::{broke, unreached, Asked, Broke, Unreached};
use crate::remote::{file_name, range_header, Client, RangesReply, Reply, Transport};
use js_sys::{ArrayBuffer, Uint8Array};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use wasm_bindgen::JsCast;
use web_sys::{XmlHttpRequest, XmlHttpRequestResponseType};

pub struct XhrTransport {
    /// Where the file is; after a reply, the address the request was redirected to (a hub's CDN), so later
    /// reads skip the redirect.
    url: RefCell<String>,
    /// The server has answered before (this transport, or the page's own first request): a request that gets
    /// no answer now means the connection broke, not that the server cannot be reached.
    answered: Cell<bool>,
    /// Replies the worker fetched concurrently before a listing (`provide`), by their `Range` header: a GET
    /// for exactly that range takes its reply from here instead of sending a synchronous request.
    provided: RefCell<HashMap<String, Reply>>,
}

/// Bodies of provided replies held at most: a listing's header groups are at most 1 MiB each and an AugReg
/// L/16 has 150 of about 4 KiB; a reply past this is not kept, and asked for as before.
const MAX_PROVIDED_BYTES: usize = 64 << 20;

impl XhrTransport {
    pub fn new(url: &str) -> XhrTransport {
        XhrTransport { url: RefCell::new(url.to_string()), answered: Cell::new(false), provided: RefCell::default() }
    }

    /// A transport for a file whose server already answered the page (its probe, read with `fetch`).
    pub fn answered(url: &str) -> XhrTransport {
        XhrTransport { url: RefCell::new(url.to_string()), answered: Cell::new(true), provided: RefCell::default() }
    }

    /// Where the next request goes (the address after the first reply's redirects).
    pub fn url(&self) -> String {
        self.url.borrow().clone()
    }

    /// Keeps `reply`, the answer to a GET with `Range: {range}` the worker sent itself, for the next request
    /// for that range; false when not kept (the bodies held would pass [`MAX_PROVIDED_BYTES`]).
    pub fn provide(&self, range: &str, reply: Reply) -> bool {
        let mut provided = self.provided.borrow_mut();
        let held: usize = provided.values().map(|r| r.body.len()).sum();
        if held.saturating_add(reply.body.len()) > MAX_PROVIDED_BYTES {
            return false;
        }
        provided.insert(range.to_string(), reply);
        true
    }

    /// Drops the provided replies no request took.
    pub fn forget_provided(&self) {
        self.provided.borrow_mut().clear();
    }

    fn request(&self, method: &str, range: Option<&str>) -> Result<XmlHttpRequest> {
        let url = self.url.borrow().clone();
        let name = file_name(&url);
        let asked = Asked::File { url: &url, name: &name };
        let failed = if self.answered.get() { Failed::Broke } else { Failed::Unreached };
        let xhr = send(method, &url, range, asked, failed)?;
        self.answered.set(true);
        let landed = xhr.response_url();
        if !landed.is_empty() && xhr.status().is_ok_and(|s| s == 206) {
            *self.url.borrow_mut() = landed;
        }
        Ok(xhr)
    }
}

/// What a request that got no answer means.
#[derive(Clone, Copy)]
enum Failed {
    /// The server was never reached: a script cannot tell a wrong name, a refusal, a failed TLS handshake or
    /// a cross-origin refusal apart (the page, which asks first with `fetch`, tells the last), only being offline.
    Unreached,
    /// The server answered before: the connection broke.
    Broke,
}

/// True when the browser says it has no network (`navigator.onLine`; `true` tells nothing).
pub fn offline() -> bool {
    let navigator = js_sys::Reflect::get(&js_sys::global(), &"navigator".into()).ok();
    let on_line = navigator.and_then(|n| js_sys::Reflect::get(&n, &"onLine".into()).ok());
    on_line.and_then(|v| v.as_bool()) == Some(false)
}

/// The sentence for a request that got no answer at all.
fn no_answer(asked: Asked, failed: Failed) -> Error {
    match failed {
        Failed::Unreached if offline() => unreached(asked, &Unreached::Offline),
        Failed::Unreached => unreached(asked, &Unreached::NoAnswer),
        Failed::Broke => broke(asked, &Broke::Other(None)),
    }
}

/// One synchronous request, with a `Range` header if given (the body comes as an `ArrayBuffer`).
fn send(method: &str, url: &str, range: Option<&str>, asked: Asked, failed: Failed) -> Result<XmlHttpRequest> {
    let failed = |_| no_answer(asked, failed);
    let xhr = XmlHttpRequest::new()
        .map_err(|_| Error::Read("Reading a URL needs a Web Worker (XMLHttpRequest is not available here).".into()))?;
    xhr.open_with_async(method, url, false).map_err(failed)?;
    if let Some(range) = range {
        xhr.set_request_header("Range", range).map_err(failed)?;
    }
    xhr.set_response_type(XmlHttpRequestResponseType::Arraybuffer);
    xhr.send().map_err(failed)?;
    Ok(xhr)
}

/// The body of a finished request, as bytes.
fn body_of(xhr: &XmlHttpRequest) -> Vec<u8> {
    xhr.response()
        .ok()
        .filter(|value| value.is_instance_of::<ArrayBuffer>())
        .map(|buffer| Uint8Array::new(&buffer).to_vec())
        .unwrap_or_default()
}

/// The browser's network for `remote::open_target`: ranged reads, and whole GETs of the hub's small JSON.
pub struct XhrClient;

impl Client for XhrClient {
    type Transport = XhrTransport;

    fn transport(&self, url: &str) -> XhrTransport {
        XhrTransport::new(url)
    }

    fn get(&self, url: &str, limit: usize) -> Result<(u16, Vec<u8>)> {
        let xhr = send("GET", url, None, Asked::Hub { url }, Failed::Unreached)?;
        let body = body_of(&xhr);
        if body.len() > limit {
            return Err(Error::Read(format!("The server sent more than {limit} bytes for {}.", file_name(url))));
        }
        Ok((xhr.status().unwrap_or(0), body))
    }
}

impl Transport for XhrTransport {
    fn get(&self, first: u64, last: u64) -> Result<Reply> {
        let range = range_header(first, last);
        if let Some(reply) = self.provided.borrow_mut().remove(&range) {
            self.answered.set(true);
            return Ok(reply);
        }
        let xhr = self.request("GET", Some(&range))?;
        let header = |name: &str| xhr.get_response_header(name).ok().flatten();
        let body = body_of(&xhr);
        Ok(Reply {
            status: xhr.status().unwrap_or(0),
            content_range: header("Content-Range"),
            etag: header("ETag"),
            body,
        })
    }

    /// Several ranges are not a CORS-safelisted `Range`: on another origin the browser asks the server first
    /// (a preflight, kept for the requests after it). A synchronous request cannot stop a reply it does not
    /// want, so the GET is sent only after a HEAD with the same ranges was answered with parts.
    fn get_ranges(&self, ranges: &str, max_body: Option<usize>) -> Result<Option<RangesReply>> {
        let xhr = self.request(if max_body.is_some() { "GET" } else { "HEAD" }, Some(ranges))?;
        let header = |name: &str| xhr.get_response_header(name).ok().flatten();
        let status = xhr.status().unwrap_or(0);
        let body = if max_body.is_some() && status == 206 { body_of(&xhr) } else { Vec::new() };
        Ok(Some(RangesReply {
            status,
            content_type: header("Content-Type"),
            content_range: header("Content-Range"),
            etag: header("ETag"),
            body,
        }))
    }

    fn head_size(&self) -> Result<Option<u64>> {
        let xhr = self.request("HEAD", None)?;
        Ok(xhr.get_response_header("Content-Length").ok().flatten().and_then(|text| text.trim().parse().ok()))
    }
}
