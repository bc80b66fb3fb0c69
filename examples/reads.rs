//! Lists every read a checkpoint's open, default draw and listing make, as the page makes them (pixels first, the
//! tensor list after): which file, offset, length, and which step made it (open, draw, list). In a browser each
//! read costs about a millisecond before its bytes arrive, and bytes come at a few hundred MB/s, so the open and
//! draw reads are a format's floor there: `benches/read_floor.mjs` replays them in Chromium. `--counts` prints one
//! line per checkpoint instead, the reads of each step (`benches/read_counts.sh` sets them beside a baseline's).
//!
//!   cargo run --release --example reads -- [--json | --counts] model.npz model.index+model.data-00000-of-00001 ...
//!   (files joined by `+` are opened together, as a drop of several files)

#[path = "support/seek.rs"]
mod seek;

use patchlens::{ByteSource, Checkpoint, GridOptions, Result};
use seek::SeekSource;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

type Log = Rc<RefCell<Vec<(usize, u64, usize, &'static str)>>>;

/// A file whose reads are written to `log`, with the step `step` says is running.
struct Logged {
    inner: SeekSource,
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
    let flag = |args: &mut Vec<String>, name: &str| {
        let given = args.first().is_some_and(|a| a == name);
        if given {
            args.remove(0);
        }
        given
    };
    let json = flag(&mut args, "--json");
    let counts = flag(&mut args, "--counts");
    if counts {
        println!("{:<28} {:>5} {:>5} {:>5} {:>12}", "file", "open", "draw", "list", "bytes");
    }
    for arg in args {
        let log: Log = Rc::default();
        let step = Rc::new(Cell::new("open"));
        let mut files: Vec<(String, Rc<dyn ByteSource>)> = Vec::new();
        for (file, path) in arg.split('+').enumerate() {
            match SeekSource::open(path) {
                Ok(inner) => {
                    let name = path.rsplit('/').next().unwrap_or(path).to_string();
                    files.push((name, Rc::new(Logged { inner, file, log: log.clone(), step: step.clone() })));
                }
                Err(e) => eprintln!("{path}: {e}"),
            }
        }
        let mut listed = 0;
        let drawn = Checkpoint::open_files(files).into_iter().find_map(|o| o.checkpoint.ok()).map(|checkpoint| {
            step.set("draw");
            let drawn = checkpoint.render(None, &GridOptions::default()).map(|_| ());
            step.set("list");
            listed = checkpoint.tensors().len();
            drawn
        });
        let error = match drawn {
            Some(Ok(())) => None,
            Some(Err(e)) => Some(e.to_string()),
            None => Some("nothing opened".to_string()),
        };
        let log = log.borrow();
        let (open, draw): (Vec<_>, Vec<_>) =
            (log.iter().filter(|r| r.3 == "open").collect(), log.iter().filter(|r| r.3 == "draw").collect());
        let open_and_draw: Vec<_> =
            open.iter().chain(&draw).map(|&&(file, offset, len, _)| [file as u64, offset, len as u64]).collect();
        if counts {
            let name = arg.rsplit('/').next().unwrap_or(&arg);
            let list = log.len() - open.len() - draw.len();
            let bytes: u64 = log.iter().map(|r| r.2 as u64).sum();
            let what = error.map_or_else(|| format!("({listed} tensors)"), |e| format!("({e})"));
            println!("{name:<28} {:>5} {:>5} {list:>5} {bytes:>12}  {what}", open.len(), draw.len());
        } else if json {
            // The pixels' reads only: the list comes after them.
            let reads: Vec<String> =
                open_and_draw.iter().map(|[file, offset, len]| format!("[{file},{offset},{len}]")).collect();
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
