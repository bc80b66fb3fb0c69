//! A file read by seeking, for the examples: the crate's `FileSource` is native only, and the examples are also
//! built for wasm32 (`wasm-pack test` builds them; `benches/pca_steps.sh` runs one under WASI).

use patchlens::{ByteSource, Error, Result};
use std::cell::RefCell;
use std::io::{Read, Seek, SeekFrom};

pub struct SeekSource {
    file: RefCell<std::fs::File>,
    len: u64,
}

impl SeekSource {
    pub fn open(path: &str) -> Result<SeekSource> {
        let failed = |e: std::io::Error| Error::Read(format!("Could not read {path}: {e}."));
        let file = std::fs::File::open(path).map_err(failed)?;
        let len = file.metadata().map_err(failed)?.len();
        Ok(SeekSource { file: RefCell::new(file), len })
    }
}

impl ByteSource for SeekSource {
    fn len(&self) -> u64 {
        self.len
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let mut file = self.file.borrow_mut();
        file.seek(SeekFrom::Start(offset)).and_then(|_| file.read_exact(buf)).map_err(|e| Error::Read(format!("{e}.")))
    }
}
