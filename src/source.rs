//! Byte sources: where a checkpoint's bytes come from, read by range.
//! Parsers only ever ask for `(offset, length)` ranges, so the same code reads a slice in tests,
//! a file in the CLI and a browser `Blob` in a worker without ever loading the whole checkpoint.

use crate::error::{Error, Result};
use std::cell::Cell;
#[cfg(not(target_arch = "wasm32"))]
use std::cell::RefCell;
use std::rc::Rc;

/// Random access to an immutable run of bytes.
pub trait ByteSource {
    /// Total length in bytes.
    fn len(&self) -> u64;

    /// Fill `buf` with the bytes starting at `offset`; fails if the range runs past the end.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()>;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Checks that `len` bytes at `offset` lie inside a source of `total` bytes.
pub(crate) fn check_range(offset: u64, len: usize, total: u64) -> Result<()> {
    match offset.checked_add(len as u64) {
        Some(end) if end <= total => Ok(()),
        _ => Err(Error::Truncated(format!(
            "The file ends early: {len} bytes were needed at offset {offset}, but it is only {total} bytes long."
        ))),
    }
}

/// Reads `len` bytes at `offset` into a new vector, checking the range before allocating.
pub fn read_vec(source: &dyn ByteSource, offset: u64, len: usize) -> Result<Vec<u8>> {
    check_range(offset, len, source.len())?;
    let mut buf = vec![0u8; len];
    source.read_at(offset, &mut buf)?;
    Ok(buf)
}

/// An in-memory source (tests, `fromBytes` in JS).
pub struct SliceSource<B: AsRef<[u8]>>(pub B);

impl<B: AsRef<[u8]>> ByteSource for SliceSource<B> {
    fn len(&self) -> u64 {
        self.0.as_ref().len() as u64
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let bytes = self.0.as_ref();
        check_range(offset, buf.len(), bytes.len() as u64)?;
        let start = offset as usize;
        buf.copy_from_slice(&bytes[start..start + buf.len()]);
        Ok(())
    }
}

/// A file on disk, read with seek + read (the CLI and native tests).
#[cfg(not(target_arch = "wasm32"))]
pub struct FileSource {
    file: RefCell<std::fs::File>,
    len: u64,
}

#[cfg(not(target_arch = "wasm32"))]
impl FileSource {
    pub fn open(path: impl AsRef<std::path::Path>) -> Result<Self> {
        let path = path.as_ref();
        let file =
            std::fs::File::open(path).map_err(|e| Error::Read(format!("Could not open {}: {e}.", path.display())))?;
        let len = file
            .metadata()
            .map_err(|e| Error::Read(format!("Could not read the size of {}: {e}.", path.display())))?
            .len();
        Ok(FileSource { file: RefCell::new(file), len })
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl ByteSource for FileSource {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        use std::io::{Read, Seek, SeekFrom};
        check_range(offset, buf.len(), self.len)?;
        let mut file = self.file.borrow_mut();
        file.seek(SeekFrom::Start(offset))
            .and_then(|_| file.read_exact(buf))
            .map_err(|e| Error::Read(format!("Reading the file failed at offset {offset}: {e}.")))
    }
}

/// Counts the bytes and reads that pass through it, so tests and the page can show
/// (and assert) how little of a checkpoint was read.
pub struct Metered<S> {
    inner: S,
    stats: Rc<ReadStats>,
}

/// Shared read counters of a [`Metered`] source.
#[derive(Default, Debug)]
pub struct ReadStats {
    bytes: Cell<u64>,
    reads: Cell<u64>,
}

impl ReadStats {
    pub fn bytes(&self) -> u64 {
        self.bytes.get()
    }

    pub fn reads(&self) -> u64 {
        self.reads.get()
    }
}

impl<S: ByteSource> Metered<S> {
    pub fn new(inner: S) -> Self {
        Metered { inner, stats: Rc::default() }
    }

    pub fn stats(&self) -> Rc<ReadStats> {
        Rc::clone(&self.stats)
    }
}

impl<S: ByteSource> ByteSource for Metered<S> {
    fn len(&self) -> u64 {
        self.inner.len()
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.inner.read_at(offset, buf)?;
        self.stats.bytes.set(self.stats.bytes.get() + buf.len() as u64);
        self.stats.reads.set(self.stats.reads.get() + 1);
        Ok(())
    }
}

impl<S: ByteSource + ?Sized> ByteSource for Rc<S> {
    fn len(&self) -> u64 {
        (**self).len()
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        (**self).read_at(offset, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slice_reads_ranges_and_rejects_overruns() {
        let src = SliceSource(vec![1u8, 2, 3, 4, 5]);
        let mut buf = [0u8; 2];
        src.read_at(3, &mut buf).unwrap();
        assert_eq!(buf, [4, 5]);
        assert!(matches!(src.read_at(4, &mut buf), Err(Error::Truncated(_))));
        assert!(matches!(src.read_at(u64::MAX, &mut buf), Err(Error::Truncated(_))));
    }

    #[test]
    fn read_vec_checks_before_allocating() {
        let src = SliceSource([0u8; 4]);
        // A lying length must fail without trying to allocate it.
        assert!(read_vec(&src, 0, usize::MAX).is_err());
        assert_eq!(read_vec(&src, 1, 3).unwrap().len(), 3);
    }

    #[test]
    fn metered_counts_bytes_and_reads() {
        let src = Metered::new(SliceSource(vec![0u8; 100]));
        let stats = src.stats();
        let mut buf = [0u8; 10];
        src.read_at(0, &mut buf).unwrap();
        src.read_at(50, &mut buf).unwrap();
        assert!(src.read_at(95, &mut buf).is_err());
        assert_eq!((stats.bytes(), stats.reads()), (20, 2));
    }

    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn file_source_reads_a_range() {
        let path = std::env::temp_dir().join(format!("patchlens-source-{}.bin", std::process::id()));
        std::fs::write(&path, b"0123456789").unwrap();
        let src = FileSource::open(&path).unwrap();
        let mut buf = [0u8; 3];
        src.read_at(7, &mut buf).unwrap();
        assert_eq!(&buf, b"789");
        assert!(src.read_at(8, &mut buf).is_err());
        std::fs::remove_file(path).ok();
    }
}
