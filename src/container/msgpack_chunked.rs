//! Arrays flax splits into chunks (`_chunk_array_leaves_in_place`, arrays over `MAX_CHUNK_SIZE`, 1 GiB): a
//! map in place of the array, read back as one tensor whose bytes are the chunks' bytes in index order.

use super::cursor::Head;
use super::{ndarray_header, Entry, Walker, EXT_NDARRAY, MAX_DIMS};
use crate::error::{malformed, Result};

/// Chunks of one chunked array: each holds 1 GiB, so this is far beyond any real array.
const MAX_CHUNKS: u64 = 4096;

impl Walker<'_> {
    /// flax `_chunk`: {marker: True, "shape": {"0": d0, …}, "chunks": {"0": 1-D ndarray, …}}, read back
    /// by `_unchunk` as the chunks concatenated and reshaped. `count` counts the marker's entry.
    pub(super) fn chunked(&mut self, count: u64, path: &str) -> Result<()> {
        let bad = |what: &str| malformed(format!("The chunked array {path} {what}."));
        if self.cursor.head()? != Head::Bool(true) {
            return Err(bad("has a marker that is not true"));
        }
        let (mut shape, mut chunks) = (None, None);
        for _ in 1..count {
            let key = self.key()?;
            let Head::Map(n) = self.cursor.head()? else {
                return Err(bad("has a shape or chunk list that is not a map"));
            };
            if n > MAX_CHUNKS.max(MAX_DIMS) {
                return Err(bad(&format!("claims {n} chunks or dimensions")));
            }
            match key.as_str() {
                "shape" if shape.is_none() => shape = Some(self.indexed(n, path, |w, _| w.dimension(path))?),
                "chunks" if chunks.is_none() => chunks = Some(self.indexed(n, path, |w, _| w.chunk(path))?),
                _ => return Err(bad(&format!("has an unexpected key {key}"))),
            }
        }
        let (Some(shape), Some(chunks)) = (shape, chunks) else { return Err(bad("lacks its shape or its chunks")) };
        let Some((dtype, _, _)) = chunks.first() else { return Err(bad("has no chunks")) };
        if chunks.iter().any(|(d, _, _)| d != dtype) {
            return Err(bad("mixes chunks of different dtypes"));
        }
        let stored = chunks.iter().map(|(_, _, run)| run.1).sum();
        let info = self.info(path, shape, dtype, stored)?;
        let counted = chunks.iter().try_fold(0usize, |sum, (_, n, _)| sum.checked_add(*n));
        if counted != Some(info.element_count()?) {
            return Err(bad("has chunks that do not add up to its shape"));
        }
        self.push(Entry { info, runs: chunks.into_iter().map(|(_, _, run)| run).collect() })
    }

    /// A map {"0": v0, "1": v1, …} read into a list (flax `_dict_to_tuple`); the keys may come in any order.
    fn indexed<T>(
        &mut self,
        n: u64,
        path: &str,
        mut item: impl FnMut(&mut Self, usize) -> Result<T>,
    ) -> Result<Vec<T>> {
        let mut slots: Vec<Option<T>> = (0..n).map(|_| None).collect();
        for _ in 0..n {
            let key = self.key()?;
            let slot = key.parse::<usize>().ok().and_then(|i| slots.get_mut(i)).filter(|s| s.is_none());
            let Some(slot) = slot else {
                return Err(malformed(format!("The chunked array {path} has a stray or repeated index {key}.")));
            };
            *slot = Some(item(self, 0)?);
        }
        Ok(slots.into_iter().flatten().collect())
    }

    fn dimension(&mut self, path: &str) -> Result<usize> {
        match self.cursor.head()? {
            Head::Int(d) if d >= 0 => usize::try_from(d).map_err(|_| {
                malformed(format!("The chunked array {path} has a dimension too large for this machine."))
            }),
            _ => {
                Err(malformed(format!("The chunked array {path} has a dimension that is not a non-negative integer.")))
            }
        }
    }

    /// One chunk: a 1-D ndarray. Returns its dtype name, element count and data run.
    fn chunk(&mut self, path: &str) -> Result<(String, usize, (u64, u64))> {
        let Head::Ext(EXT_NDARRAY, len) = self.cursor.head()? else {
            return Err(malformed(format!("The chunked array {path} has a chunk that is not an array.")));
        };
        let (shape, dtype, start, len) = ndarray_header(&mut self.cursor, len)?;
        self.cursor.skip(len)?;
        let [count] = shape[..] else {
            return Err(malformed(format!("The chunked array {path} has a chunk that is not 1-D.")));
        };
        Ok((dtype, count, (start, len)))
    }
}
