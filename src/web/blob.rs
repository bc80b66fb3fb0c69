//! A browser `Blob`/`File` as a byte source, read lazily range by range with `FileReaderSync`
//! (so it works only inside a dedicated worker, where synchronous reads are allowed).

use crate::error::{Error, Result};
use crate::source::{check_range, ByteSource};
use js_sys::Uint8Array;
use web_sys::{Blob, FileReaderSync};

pub struct BlobSource {
    blob: Blob,
    reader: FileReaderSync,
    len: u64,
}

impl BlobSource {
    pub fn new(blob: Blob) -> Result<Self> {
        let reader = FileReaderSync::new().map_err(|_| {
            Error::Read("Reading a file lazily needs a Web Worker (FileReaderSync is not available here).".into())
        })?;
        let len = blob.size() as u64;
        Ok(BlobSource { blob, reader, len })
    }
}

impl ByteSource for BlobSource {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        check_range(offset, buf.len(), self.len)?;
        let failed = |_| {
            Error::Read(format!(
                "The browser could not read the file at offset {offset}; it may have changed or been removed."
            ))
        };
        let end = offset + buf.len() as u64;
        let bytes = super::timed_read(|| {
            let slice = self.blob.slice_with_f64_and_f64(offset as f64, end as f64)?;
            self.reader.read_as_array_buffer(&slice)
        })
        .map_err(failed)?;
        let view = Uint8Array::new(&bytes);
        if view.length() as usize != buf.len() {
            return Err(Error::Read(format!(
                "The browser returned {} bytes where {} were asked for.",
                view.length(),
                buf.len()
            )));
        }
        view.copy_to(buf);
        Ok(())
    }
}
