//! The patchlens command line: list a checkpoint's tensors, or render its filters to a PNG
//! with the same pixels the web page draws.

use patchlens::grid::{parse_color, GridOptions};
use patchlens::{Checkpoint, FileSource};
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "\
usage:
  patchlens list FILE
  patchlens render FILE -o OUT.png [--tensor NAME] [--count N] [--columns C] [--zoom Z] [--gap G] [--gap-color #rrggbb]

Reads .npz and .npy checkpoints. `list` shows every tensor and marks with * the one `render`
draws by default (the patch embedding). Defaults: --count 128 --columns 16 --zoom 4 --gap 2
--gap-color #1b1e24 (the page's defaults); with --zoom 1 --gap 0 the PNG is exactly the filters side by side.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("patchlens: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<(), String> {
    match args.first().map(String::as_str) {
        Some("list") => match &args[1..] {
            [file] => list(file),
            _ => Err(format!("list takes one FILE.\n{USAGE}")),
        },
        Some("render") => render(&args[1..]),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(USAGE.to_string()),
    }
}

fn open(file: &str) -> Result<Checkpoint, String> {
    let source = FileSource::open(file).map_err(|e| e.to_string())?;
    Checkpoint::open(source).map_err(|e| format!("{file}: {e}"))
}

fn list(file: &str) -> Result<(), String> {
    use std::io::Write;
    let checkpoint = open(file)?;
    let mut out = std::io::stdout().lock();
    // A closed pipe (`patchlens list f | head`) just ends the listing.
    let mut line = |text: String| match writeln!(out, "{text}") {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(format!("could not write the listing: {e}")),
        _ => Ok(()),
    };
    let default = checkpoint.default_tensor();
    for entry in checkpoint.tensors() {
        let mark = if Some(&entry.name) == default.as_ref() { "*" } else { " " };
        let (dtype, shape) = match &entry.info {
            Some(info) => (info.dtype.to_string(), info.shape_text()),
            None => ("?".to_string(), "?".to_string()),
        };
        let note = entry.problem.map(|p| format!("  (not drawable: {p})")).unwrap_or_default();
        line(format!("{mark} {:<60} {dtype:<9} {shape}{note}", entry.name))?;
    }
    if default.is_none() {
        line("(no patch embedding found; pick a tensor with --tensor)".to_string())?;
    }
    Ok(())
}

fn render(args: &[String]) -> Result<(), String> {
    let mut file = None;
    let mut out = None;
    let mut tensor = None;
    let mut options = GridOptions::default();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let mut value = |flag: &str| rest.next().cloned().ok_or_else(|| format!("{flag} needs a value."));
        let number =
            |flag: &str, v: String| v.parse::<usize>().map_err(|_| format!("{flag} takes a whole number, not '{v}'."));
        match arg.as_str() {
            "-o" | "--output" => out = Some(PathBuf::from(value(arg)?)),
            "--tensor" => tensor = Some(value(arg)?),
            "--count" => options.count = number(arg, value(arg)?)?,
            "--columns" => options.columns = number(arg, value(arg)?)?,
            "--zoom" => options.zoom = number(arg, value(arg)?)?,
            "--gap" => options.gap = number(arg, value(arg)?)?,
            "--gap-color" => options.gap_color = parse_color(&value(arg)?).map_err(|e| e.to_string())?,
            flag if flag.starts_with('-') => return Err(format!("unknown option {flag}.\n{USAGE}")),
            path if file.is_none() => file = Some(path.to_string()),
            extra => return Err(format!("unexpected argument {extra}.\n{USAGE}")),
        }
    }
    let file = file.ok_or_else(|| format!("render needs a FILE.\n{USAGE}"))?;
    let out = out.ok_or_else(|| format!("render needs -o OUT.png.\n{USAGE}"))?;
    let checkpoint = open(&file)?;
    let rendered = checkpoint.render(tensor.as_deref(), &options).map_err(|e| format!("{file}: {e}"))?;
    write_png(&out, rendered.grid.width, rendered.grid.height, &rendered.grid.rgba)
        .map_err(|e| format!("could not write {}: {e}", out.display()))?;
    let t = &rendered.tensor;
    eprintln!(
        "{}: {} {} {}, {} of {} filters, {}×{} px, read {} of {} bytes",
        out.display(),
        t.name,
        t.dtype,
        t.shape_text(),
        rendered.grid.filters_shown,
        rendered.grid.filters_total,
        rendered.grid.width,
        rendered.grid.height,
        checkpoint.bytes_read(),
        checkpoint.file_size()
    );
    Ok(())
}

fn write_png(path: &PathBuf, width: usize, height: usize, rgba: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
    let file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut encoder = png::Encoder::new(file, u32::try_from(width)?, u32::try_from(height)?);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.write_header()?.write_image_data(rgba)?;
    Ok(())
}
