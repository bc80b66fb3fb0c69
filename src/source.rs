//! Byte sources: where a checkpoint's bytes come from, read by range.
//! Parsers only ever ask for `(offset, length)` ranges, so the same code reads a slice in tests,
//! a file in the CLI and a browser `Blob` in a worker without ever loading the whole checkpoint.

use crate::error::{Error, Result};
use std::cell::{Cell, RefCell};
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

    /// Reads several ranges `(start, end)`, each with its own result. A source that can fetch many ranges in
    /// one round trip (a URL whose server answers multi-range requests) does so; this default reads them one
    /// by one.
    fn read_ranges(&self, ranges: &[(u64, u64)]) -> Vec<Result<Vec<u8>>> {
        read_each(self.len(), &|offset, buf| self.read_at(offset, buf), ranges)
    }
}

/// `read_ranges` one by one: shared by every source (one copy in the wasm module, not one per source type).
fn read_each(len: u64, read_at: &dyn Fn(u64, &mut [u8]) -> Result<()>, ranges: &[(u64, u64)]) -> Vec<Result<Vec<u8>>> {
    let read = |&(start, end): &(u64, u64)| {
        let want = range_len(start, end)?;
        check_range(start, want, len)?;
        let mut buf = vec![0u8; want];
        read_at(start, &mut buf)?;
        Ok(buf)
    };
    ranges.iter().map(read).collect()
}

/// The length of the range `start..end`, refused when it is backwards or too long to hold in memory.
pub(crate) fn range_len(start: u64, end: u64) -> Result<usize> {
    end.checked_sub(start)
        .and_then(|len| usize::try_from(len).ok())
        .ok_or_else(|| Error::Read(format!("The range {start}..{end} is not a range of bytes that can be read.")))
}

/// Checks that `len` bytes at `offset` lie inside a source of `total` bytes.
pub fn check_range(offset: u64, len: usize, total: u64) -> Result<()> {
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

/// Bytes already read from `source` at `start`, served from memory; reads that do not fall
/// inside go to `source`. Lets one read of a region serve many small header reads. `S` is a
/// borrowed source for a short-lived window, or an `Rc` for one kept with a container.
pub struct Window<S> {
    source: S,
    start: u64,
    bytes: Vec<u8>,
}

impl<S: ByteSource> Window<S> {
    pub fn read(source: S, start: u64, end: u64) -> Result<Self> {
        let len = usize::try_from(end.saturating_sub(start)).unwrap_or(usize::MAX);
        let bytes = read_vec(&source, start, len)?;
        Ok(Window { source, start, bytes })
    }

    /// A window over bytes already read from `source` at `start` (one of several ranges read together).
    pub fn holding(source: S, start: u64, bytes: Vec<u8>) -> Self {
        Window { source, start, bytes }
    }

    /// The bytes held, from `start`.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Where `len` bytes at `offset` sit in the bytes held, if they are all inside.
    fn inside(&self, offset: u64, len: usize) -> Option<usize> {
        let from = usize::try_from(offset.checked_sub(self.start)?).ok()?;
        from.checked_add(len).is_some_and(|end| end <= self.bytes.len()).then_some(from)
    }
}

impl<S: ByteSource> ByteSource for Window<S> {
    fn len(&self) -> u64 {
        self.source.len()
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        match self.inside(offset, buf.len()) {
            Some(from) => {
                buf.copy_from_slice(&self.bytes[from..from + buf.len()]);
                Ok(())
            }
            None => self.source.read_at(offset, buf),
        }
    }

    /// Ranges inside the window come from it; the others go to the source together, in one call.
    fn read_ranges(&self, ranges: &[(u64, u64)]) -> Vec<Result<Vec<u8>>> {
        window_ranges(self.start, &self.bytes, &self.source, ranges)
    }
}

/// `Window::read_ranges`, not generic (one copy in the wasm module).
fn window_ranges(start: u64, bytes: &[u8], source: &dyn ByteSource, ranges: &[(u64, u64)]) -> Vec<Result<Vec<u8>>> {
    let held = |&(from, to): &(u64, u64)| {
        let at = usize::try_from(from.checked_sub(start)?).ok()?;
        bytes.get(at..at.checked_add(range_len(from, to).ok()?)?).map(<[u8]>::to_vec)
    };
    let mut results: Vec<Option<Result<Vec<u8>>>> = ranges.iter().map(|r| held(r).map(Ok)).collect();
    let rest: Vec<(u64, u64)> = ranges.iter().zip(&results).filter(|(_, r)| r.is_none()).map(|(r, _)| *r).collect();
    let mut fetched = source.read_ranges(&rest).into_iter();
    results.iter_mut().map(|r| r.take().or_else(|| fetched.next()).unwrap_or_else(|| Err(missing_range()))).collect()
}

/// A source's `read_ranges` that gave fewer results than ranges asked for: a bug, said as a sentence.
fn missing_range() -> Error {
    Error::Read("A read of several ranges came back without one of them.".into())
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
    /// Byte ranges touched so far, sorted and merged.
    touched: RefCell<Vec<(u64, u64)>>,
}

impl ReadStats {
    /// Bytes transferred, counting a range read twice twice.
    pub fn bytes(&self) -> u64 {
        self.bytes.get()
    }

    /// Distinct bytes of the source read at least once: never more than its length.
    pub fn distinct_bytes(&self) -> u64 {
        self.touched.borrow().iter().map(|(start, end)| end - start).sum()
    }

    pub fn reads(&self) -> u64 {
        self.reads.get()
    }

    fn record_each(&self, ranges: &[(u64, u64)], results: &[Result<Vec<u8>>]) {
        for (&(start, _), bytes) in ranges.iter().zip(results) {
            if let Ok(bytes) = bytes {
                self.record(start, bytes.len() as u64);
            }
        }
    }

    fn record(&self, start: u64, len: u64) {
        self.bytes.set(self.bytes.get() + len);
        self.reads.set(self.reads.get() + 1);
        let (mut start, mut end) = (start, start + len);
        let mut touched = self.touched.borrow_mut();
        // Absorb every range that overlaps or abuts the new one, then insert it in order.
        touched.retain(|&(s, e)| {
            let apart = e < start || s > end;
            if !apart {
                start = start.min(s);
                end = end.max(e);
            }
            apart
        });
        let at = touched.partition_point(|&(s, _)| s < start);
        touched.insert(at, (start, end));
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
        self.stats.record(offset, buf.len() as u64);
        Ok(())
    }

    /// Each range read counts as one read, as if read alone.
    fn read_ranges(&self, ranges: &[(u64, u64)]) -> Vec<Result<Vec<u8>>> {
        let results = self.inner.read_ranges(ranges);
        self.stats.record_each(ranges, &results);
        results
    }
}

impl<S: ByteSource + ?Sized> ByteSource for &S {
    fn len(&self) -> u64 {
        (**self).len()
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        (**self).read_at(offset, buf)
    }

    fn read_ranges(&self, ranges: &[(u64, u64)]) -> Vec<Result<Vec<u8>>> {
        (**self).read_ranges(ranges)
    }
}

impl<S: ByteSource + ?Sized> ByteSource for Rc<S> {
    fn len(&self) -> u64 {
        (**self).len()
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        (**self).read_at(offset, buf)
    }

    fn read_ranges(&self, ranges: &[(u64, u64)]) -> Vec<Result<Vec<u8>>> {
        (**self).read_ranges(ranges)
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
    fn window_serves_inside_reads_and_passes_the_rest_on() {
        let src = Metered::new(SliceSource((0u8..100).collect::<Vec<_>>()));
        let stats = src.stats();
        let window = Window::read(&src, 10, 20).unwrap();
        let mut buf = [0u8; 4];
        window.read_at(12, &mut buf).unwrap();
        window.read_at(16, &mut buf).unwrap();
        assert_eq!((buf, stats.reads()), ([16, 17, 18, 19], 1));
        window.read_at(18, &mut buf).unwrap(); // straddles the end
        assert_eq!((buf, stats.reads()), ([18, 19, 20, 21], 2));
        assert!(window.read_at(98, &mut buf).is_err());
    }

    #[test]
    fn ranges_read_together_come_from_the_window_or_go_on_in_one_call() {
        /// Counts the calls of `read_ranges` that reach it.
        struct Calls(SliceSource<Vec<u8>>, Cell<u32>);
        impl ByteSource for Calls {
            fn len(&self) -> u64 {
                self.0.len()
            }
            fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
                self.0.read_at(offset, buf)
            }
            fn read_ranges(&self, ranges: &[(u64, u64)]) -> Vec<Result<Vec<u8>>> {
                self.1.set(self.1.get() + 1);
                ranges.iter().map(|&(a, b)| read_vec(&self.0, a, (b - a) as usize)).collect()
            }
        }
        let inner = Metered::new(Calls(SliceSource((0u8..100).collect()), Cell::new(0)));
        let stats = inner.stats();
        let window = Window::read(&inner, 10, 20).unwrap();
        let got = window.read_ranges(&[(12, 14), (50, 52), (18, 22), (90, 101), (60, 61)]);
        assert_eq!(got[0].as_ref().unwrap(), &[12, 13]);
        assert_eq!(got[1].as_ref().unwrap(), &[50, 51]);
        assert_eq!(got[2].as_ref().unwrap(), &[18, 19, 20, 21]);
        assert!(got[3].is_err());
        assert_eq!(got[4].as_ref().unwrap(), &[60]);
        assert_eq!(inner.inner.1.get(), 1, "the four outside the window in one call");
        assert_eq!((stats.reads(), stats.bytes()), (1 + 3, 10 + 2 + 4 + 1), "one read each, as if alone");
        let plain = SliceSource(vec![7u8; 10]);
        let got = plain.read_ranges(&[(0, 2), (9, 11), (5, 3)]);
        assert_eq!(got[0].as_ref().unwrap(), &[7, 7]);
        assert!(matches!(got[1], Err(Error::Truncated(_))) && matches!(got[2], Err(Error::Read(_))));
    }

    #[test]
    fn metered_counts_bytes_and_reads() {
        let src = Metered::new(SliceSource(vec![0u8; 100]));
        let stats = src.stats();
        let mut buf = [0u8; 10];
        src.read_at(0, &mut buf).unwrap();
        src.read_at(50, &mut buf).unwrap();
        assert!(src.read_at(95, &mut buf).is_err());
        assert_eq!((stats.bytes(), stats.reads(), stats.distinct_bytes()), (20, 2, 20));
        src.read_at(5, &mut buf).unwrap(); // overlaps [0, 10)
        src.read_at(60, &mut buf).unwrap(); // abuts [50, 60)
        src.read_at(0, &mut buf).unwrap(); // a repeat
        assert_eq!((stats.bytes(), stats.distinct_bytes()), (50, 35));
        let mut all = [0u8; 100];
        src.read_at(0, &mut all).unwrap();
        assert_eq!(stats.distinct_bytes(), 100);
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
