//! Lists every read a checkpoint's open and default draw make, as the page makes them: which file, offset, length,
//! and which step made it (open, draw). In a browser each read costs about a millisecond before its bytes arrive,
//! and bytes come at a few hundred MB/s, so this list is a format's floor there: `benches/read_floor.mjs` replays
//! it in Chromium.
//!
//!   cargo run --release --example reads -- [--json] model.npz model.index+model.data-00000-of-00001 ...
//!   (files joined by `+` are opened together, as a drop of several files)

use patchlens::{ByteSource, Checkpoint, FileSource, GridOptions, Result};
use std::cell::{Cell, RefCell};
use std::rc::Rc;

type Log = Rc<RefCell<Vec<(usize, u64, usize, &'static str)>>>;

/// A file whose reads are written to `log`, with the step `step` says is running.
struct Logged {
    inner: FileSource,
    file: usize,
    log: Log,
    step: Rc<Cell<&'static str>>,
}

impl ByteSource for Logged {
    fn len(&self) -> u64 {
        self.inner.len()
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.log.borrow_mut().push((self.file, offset, buf.len(), self.step.get()));
        self.inner.read_at(offset, buf)
    }
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let json = args.first().is_some_and(|a| a == "--json");
    if json {
        args.remove(0);
    }
    for arg in args {
        let log: Log = Rc::default();
        let step = Rc::new(Cell::new("open"));
        let mut files: Vec<(String, Rc<dyn ByteSource>)> = Vec::new();
        for (file, path) in arg.split('+').enumerate() {
            match FileSource::open(path) {
                Ok(inner) => {
                    let name = path.rsplit('/').next().unwrap_or(path).to_string();
                    files.push((name, Rc::new(Logged { inner, file, log: log.clone(), step: step.clone() })));
                }
                Err(e) => eprintln!("{path}: {e}"),
            }
        }
        let drawn = Checkpoint::open_files(files).into_iter().find_map(|o| o.checkpoint.ok()).map(|checkpoint| {
            step.set("draw");
            checkpoint.render(None, &GridOptions::default()).map(|_| ())
        });
        let error = match drawn {
            Some(Ok(())) => None,
            Some(Err(e)) => Some(e.to_string()),
            None => Some("nothing opened".to_string()),
        };
        let log = log.borrow();
        if json {
            let reads: Vec<String> =
                log.iter().map(|(file, offset, len, step)| format!("[{file},{offset},{len},\"{step}\"]")).collect();
            let error = error.map_or("null".to_string(), |e| format!("{e:?}"));
            println!("{{\"file\":{arg:?},\"error\":{error},\"reads\":[{}]}}", reads.join(","));
        } else {
            println!("{arg}{}", error.map(|e| format!(": {e}")).unwrap_or_default());
            for (file, offset, length, step) in log.iter() {
                println!("  {step:5} file {file} {offset:>12} {length:>10}");
            }
        }
    }
}
