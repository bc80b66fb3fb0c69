//! The patchlens command line: list a checkpoint's tensors, or render its filters to a PNG
//! with the same pixels the web page draws.

use patchlens::container::NamedSource;
use patchlens::fileset::files_named_by_index;
use patchlens::grid::{parse_color, GridOptions};
use patchlens::{ByteSource, Checkpoint, FileSource, KernelLayout, Opened};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;

const USAGE: &str = "\
usage:
  patchlens list FILE... | DIR
  patchlens render FILE... | DIR -o OUT.png [--tensor NAME] [--layout hwio|oihw] [--count N] [--columns C]
                                         [--zoom Z] [--gap G] [--gap-color #rrggbb]

Reads .npz/.npy, PyTorch (.pth/.pt/.bin, zip or legacy, whole-model pickles, TorchScript), .safetensors,
.gguf and .onnx. Several files are opened together: the shards of a checkpoint (with or without its
*.index.json; giving the index alone finds the shards beside it), an ONNX model and its external data.
`list` shows every tensor and marks with * the one `render` draws by default (the patch embedding), and
says why. --layout reads a 4-D tensor as (kh, kw, in, out) or (out, in, kh, kw) instead of the file's own
convention. Defaults: --count 128 --columns 16 --zoom 4 --gap 2 --gap-color #1b1e24 (the page's); with
--zoom 1 --gap 0 the PNG is exactly the filters side by side.";

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
        Some("list") if args.len() > 1 => list(&args[1..]),
        Some("list") => Err(format!("list needs a FILE.\n{USAGE}")),
        Some("render") => render(&args[1..]),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        Some("-V" | "--version") => {
            println!("patchlens {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        _ => Err(USAGE.to_string()),
    }
}

/// A file found in a folder rather than named: not being a checkpoint is no error for it.
struct Found {
    path: PathBuf,
    in_folder: bool,
}

/// The files behind the arguments: a folder's files, an index's shards (from the index's folder).
fn expand(args: &[String]) -> Result<Vec<Found>, String> {
    let mut paths: Vec<Found> = Vec::new();
    let mut add_found = |path: PathBuf, in_folder: bool| {
        if !paths.iter().any(|f| f.path == path) {
            paths.push(Found { path, in_folder });
        }
    };
    for arg in args {
        let path = PathBuf::from(arg);
        if path.is_dir() {
            let mut inside: Vec<PathBuf> = std::fs::read_dir(&path)
                .map_err(|e| format!("could not read the folder {arg}: {e}"))?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && !is_hidden(p))
                .collect();
            inside.sort();
            inside.into_iter().for_each(|p| add_found(p, true));
        } else if arg.ends_with(".index.json") {
            let index = named(&path)?;
            let folder = path.parent().map(Path::to_path_buf).unwrap_or_default();
            let shards = files_named_by_index(&index).map_err(|e| format!("{arg}: {e}"))?;
            add_found(path, false);
            shards.into_iter().for_each(|shard| add_found(folder.join(shard), false));
        } else {
            add_found(path, false);
        }
    }
    Ok(paths)
}

fn is_hidden(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.'))
}

fn named(path: &Path) -> Result<NamedSource, String> {
    let source = FileSource::open(path).map_err(|e| e.to_string())?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
    Ok(NamedSource { name, source: Rc::new(source) as Rc<dyn ByteSource> })
}

/// Opens the files; a file from a folder that is no checkpoint at all is left out, and said so.
fn open(args: &[String]) -> Result<Vec<Opened>, String> {
    let found = expand(args)?;
    let files = found.iter().map(|f| named(&f.path)).collect::<Result<Vec<_>, _>>()?;
    let from_folder: Vec<String> =
        found.iter().zip(&files).filter(|(f, _)| f.in_folder).map(|(_, n)| n.name.clone()).collect();
    let mut opened = Checkpoint::open_files(files.into_iter().map(|f| (f.name, f.source)).collect());
    let mut skipped = Vec::new();
    opened.retain(|o| {
        let not_a_checkpoint = matches!(o.checkpoint, Err(patchlens::Error::UnknownFormat(_)));
        let skip = not_a_checkpoint && from_folder.contains(&o.label);
        if skip {
            skipped.push(o.label.clone());
        }
        !skip
    });
    if !skipped.is_empty() {
        eprintln!("patchlens: skipped {} (not checkpoints)", skipped.join(", "));
    }
    if opened.is_empty() {
        return Err("no checkpoint among the files given.".into());
    }
    Ok(opened)
}

fn list(args: &[String]) -> Result<(), String> {
    use std::io::Write;
    let opened = open(args)?;
    let mut out = std::io::stdout().lock();
    // A closed pipe (`patchlens list f | head`) just ends the listing.
    let mut line = |text: String| match writeln!(out, "{text}") {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(format!("could not write the listing: {e}")),
        _ => Ok(()),
    };
    let mut failed = Vec::new();
    for (n, group) in opened.iter().enumerate() {
        let checkpoint = match &group.checkpoint {
            Ok(checkpoint) => checkpoint,
            Err(e) => {
                failed.push(format!("{}: {e}", group.label));
                continue;
            }
        };
        if n > 0 {
            line(String::new())?;
        }
        let tensors = checkpoint.tensors();
        let files = if group.files.len() > 1 { format!(" ({} files)", group.files.len()) } else { String::new() };
        line(format!(
            "{}: {}{files}, {} tensors, {} bytes",
            group.label,
            checkpoint.format(),
            tensors.len(),
            checkpoint.file_size()
        ))?;
        for note in checkpoint.notes() {
            line(format!("  note: {note}"))?;
        }
        let default = checkpoint.default_tensor();
        // Columns as wide as the longest entry, so long names never push the others out of line.
        let rows: Vec<[String; 3]> = tensors
            .iter()
            .map(|entry| match &entry.info {
                Some(info) => [entry.name.clone(), info.dtype.to_string(), info.shape_text()],
                None => [entry.name.clone(), "?".into(), "?".into()],
            })
            .collect();
        let width = |k: usize| rows.iter().map(|r| r[k].chars().count()).max().unwrap_or(0);
        let (name_width, dtype_width, shape_width) = (width(0), width(1), width(2));
        for (entry, [name, dtype, shape]) in tensors.iter().zip(&rows) {
            let mark = if Some(&entry.name) == default.as_ref() { "*" } else { " " };
            let mut note = match (&entry.problem, entry.recognized) {
                (Some(problem), _) => format!("not drawable: {problem}"),
                (None, Some(what)) => what.to_string(),
                (None, None) => String::new(),
            };
            if let Some(layout) = entry.layout.filter(|_| entry.layout_inferred) {
                let separator = if note.is_empty() { "" } else { "; " };
                note = format!("{note}{separator}read as {}", layout.name().to_uppercase());
            }
            line(
                format!("{mark} {name:<name_width$}  {dtype:<dtype_width$}  {shape:<shape_width$}  {note}")
                    .trim_end()
                    .to_string(),
            )?;
        }
        match (default, checkpoint.default_reason()) {
            (Some(name), Some(reason)) => line(format!("default: {name}, {reason}"))?,
            _ => line("(no patch embedding found; pick a tensor with --tensor)".to_string())?,
        }
    }
    if !failed.is_empty() {
        return Err(failed.join("\n"));
    }
    Ok(())
}

fn render(args: &[String]) -> Result<(), String> {
    let mut files = Vec::new();
    let mut out = None;
    let mut tensor = None;
    let mut layout = None;
    let mut options = GridOptions::default();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let mut value = |flag: &str| rest.next().cloned().ok_or_else(|| format!("{flag} needs a value."));
        let number =
            |flag: &str, v: String| v.parse::<usize>().map_err(|_| format!("{flag} takes a whole number, not '{v}'."));
        match arg.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            "-o" | "--output" => out = Some(PathBuf::from(value(arg)?)),
            "--tensor" => tensor = Some(value(arg)?),
            "--layout" => {
                let v = value(arg)?;
                layout = Some(KernelLayout::parse(&v).ok_or_else(|| format!("--layout is hwio or oihw, not '{v}'."))?)
            }
            "--count" => options.count = number(arg, value(arg)?)?,
            "--columns" => options.columns = number(arg, value(arg)?)?,
            "--zoom" => options.zoom = number(arg, value(arg)?)?,
            "--gap" => options.gap = number(arg, value(arg)?)?,
            "--gap-color" => options.gap_color = parse_color(&value(arg)?).map_err(|e| e.to_string())?,
            flag if flag.starts_with('-') => return Err(format!("unknown option {flag}.\n{USAGE}")),
            path => files.push(path.to_string()),
        }
    }
    if files.is_empty() {
        return Err(format!("render needs a FILE.\n{USAGE}"));
    }
    let out = out.ok_or_else(|| format!("render needs -o OUT.png.\n{USAGE}"))?;
    let mut opened = open(&files)?;
    if opened.len() != 1 {
        let labels: Vec<&str> = opened.iter().map(|o| o.label.as_str()).collect();
        return Err(format!(
            "these files hold {} checkpoints ({}); render draws one at a time.",
            opened.len(),
            labels.join(", ")
        ));
    }
    let group = opened.remove(0);
    let label = group.label;
    let checkpoint = group.checkpoint.map_err(|e| format!("{label}: {e}"))?;
    let rendered = checkpoint.render_as(tensor.as_deref(), layout, &options).map_err(|e| format!("{label}: {e}"))?;
    write_png(&out, rendered.grid.width, rendered.grid.height, &rendered.grid.rgba)
        .map_err(|e| format!("could not write {}: {e}", out.display()))?;
    let t = &rendered.tensor;
    eprintln!(
        "{}: {} {} {} ({}), {} of {} filters, {}×{} px, read {} of {} bytes",
        out.display(),
        t.name,
        t.dtype,
        t.shape_text(),
        rendered.layout.name().to_uppercase(),
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
