//! Reads a checkpoint's open, default draw and listing make, each counted on its own (as the page asks for
//! them: pixels first, the tensor list after). `benches/read_counts.sh` runs it beside a baseline build.
//!
//!   cargo run --release --example read_counts -- model.keras model.h5 ...

use patchlens::{Checkpoint, FileSource, GridOptions};

fn main() {
    println!("{:<28} {:>5} {:>5} {:>8} {:>12}", "file", "open", "draw", "listing", "bytes");
    for path in std::env::args().skip(1) {
        let name = path.rsplit('/').next().unwrap_or(&path).to_string();
        let checkpoint = match FileSource::open(&path).and_then(Checkpoint::open) {
            Ok(checkpoint) => checkpoint,
            Err(e) => {
                println!("{name:<28} {e}");
                continue;
            }
        };
        let open = checkpoint.reads();
        let drawn = checkpoint.render(None, &GridOptions::default()).map(|_| checkpoint.reads() - open);
        let before = checkpoint.reads();
        let listed = checkpoint.tensors().len();
        let listing = checkpoint.reads() - before;
        let draw = drawn.map_or_else(|e| format!("({e})"), |n| n.to_string());
        println!("{name:<28} {open:>5} {draw:>5} {listing:>8} {:>12}  ({listed} tensors)", checkpoint.bytes_read());
    }
}
