//! A checkpoint on a web server, read range by range with synchronous `XMLHttpRequest` (allowed only in a
//! dedicated worker): the browser's [`Transport`] for `remote::RemoteSource`, which holds every rule.

use crate::error::{Error, Result};
use crate::remote::{file_name, no_reply, range_header, Reply, Transport};
use js_sys::{ArrayBuffer, Uint8Array};
use wasm_bindgen::JsCast;
use web_sys::{XmlHttpRequest, XmlHttpRequestResponseType};

pub struct XhrTransport {
    /// Where the file is; after the page's first request this is the address it was redirected to (a hub's
    /// CDN), so later reads skip the redirect.
    url: String,
}

impl XhrTransport {
    pub fn new(url: &str) -> XhrTransport {
        XhrTransport { url: url.to_string() }
    }

    fn request(&self, method: &str, range: Option<(u64, u64)>) -> Result<XmlHttpRequest> {
        let name = file_name(&self.url);
        // A script cannot tell a refused cross-origin read from a lost network; the page, which asked first, can.
        let failed = |_| no_reply(&name, false);
        let xhr = XmlHttpRequest::new().map_err(|_| {
            Error::Read("Reading a URL needs a Web Worker (XMLHttpRequest is not available here).".into())
        })?;
        xhr.open_with_async(method, &self.url, false).map_err(failed)?;
        if let Some((first, last)) = range {
            xhr.set_request_header("Range", &range_header(first, last)).map_err(failed)?;
            xhr.set_response_type(XmlHttpRequestResponseType::Arraybuffer);
        }
        xhr.send().map_err(failed)?;
        Ok(xhr)
    }
}

impl Transport for XhrTransport {
    fn get(&self, first: u64, last: u64) -> Result<Reply> {
        let xhr = self.request("GET", Some((first, last)))?;
        let header = |name: &str| xhr.get_response_header(name).ok().flatten();
        let body = xhr
            .response()
            .ok()
            .filter(|value| value.is_instance_of::<ArrayBuffer>())
            .map(|buffer| Uint8Array::new(&buffer).to_vec())
            .unwrap_or_default();
        Ok(Reply {
            status: xhr.status().unwrap_or(0),
            content_range: header("Content-Range"),
            etag: header("ETag"),
            body,
        })
    }

    fn head_size(&self) -> Result<Option<u64>> {
        let xhr = self.request("HEAD", None)?;
        Ok(xhr.get_response_header("Content-Length").ok().flatten().and_then(|text| text.trim().parse().ok()))
    }
}
