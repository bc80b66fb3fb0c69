//! A file read through a synchronous JS function, `read(offset, length) → Uint8Array`: how Node reads
//! a checkpoint by ranges (`fs.readSync` on a descriptor) without loading it into memory.
//! `close()`, when the object has one, is called once the module no longer needs the file.

use crate::error::{Error, Result};
use crate::source::{check_range, ByteSource};
use js_sys::{Function, Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};

/// A `RangeReader` object from JS: `{ name, size, read(offset, length), close?() }`.
pub struct ReaderSource {
    reader: Object,
    read: Function,
    name: String,
    len: u64,
}

impl ReaderSource {
    /// Checks the object's shape once, so a mistake is one sentence when opening, not on every read.
    pub fn new(value: JsValue, position: usize) -> Result<Self> {
        let bad = |what: &str| Error::Read(format!("File {position} given to openReaders {what}."));
        let reader: Object = value.dyn_into().map_err(|_| bad("is not an object with name, size and read"))?;
        let field = |key: &str| Reflect::get(&reader, &key.into()).unwrap_or(JsValue::UNDEFINED);
        let name = field("name").as_string().ok_or_else(|| bad("has no name (a string)"))?;
        let size = field("size").as_f64().unwrap_or(f64::NAN);
        // A byte count JS can hold exactly: a whole number below 2^53.
        if !(size >= 0.0 && size.fract() == 0.0 && size < 9_007_199_254_740_992.0) {
            return Err(bad("has no size (a whole number of bytes)"));
        }
        let read: Function = field("read").dyn_into().map_err(|_| bad("has no read(offset, length) function"))?;
        Ok(ReaderSource { reader, read, name, len: size as u64 })
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl ByteSource for ReaderSource {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        check_range(offset, buf.len(), self.len)?;
        let returned = super::timed_read(|| {
            self.read.call2(&self.reader, &JsValue::from_f64(offset as f64), &JsValue::from_f64(buf.len() as f64))
        })
        .map_err(|thrown| {
            let why = thrown
                .dyn_ref::<js_sys::Error>()
                .map(|e| String::from(e.message()))
                .or_else(|| thrown.as_string())
                .unwrap_or_else(|| "no reason given".into());
            Error::Read(format!("Could not read {} at offset {offset} ({}).", self.name, why.trim_end_matches('.')))
        })?;
        let view: Uint8Array = returned
            .dyn_into()
            .map_err(|_| Error::Read(format!("The read function for {} returned no Uint8Array.", self.name)))?;
        if view.length() as usize != buf.len() {
            return Err(Error::Read(format!(
                "Reading {} returned {} bytes where {} were asked for; the file may have changed.",
                self.name,
                view.length(),
                buf.len()
            )));
        }
        view.copy_to(buf);
        Ok(())
    }
}

impl Drop for ReaderSource {
    fn drop(&mut self) {
        // The file descriptor behind `read` is closed when the checkpoint is freed (or never opened).
        if let Ok(close) = Reflect::get(&self.reader, &"close".into()).and_then(|c| c.dyn_into::<Function>()) {
            let _ = close.call0(&self.reader);
        }
    }
}
