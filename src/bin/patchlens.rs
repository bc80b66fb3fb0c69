//! The patchlens command line: list a checkpoint's tensors, or render its filters to a PNG
//! with the same pixels the web page draws. With the `http` feature, a URL or a hub model id stands for
//! a file, read by HTTP ranges (`patchlens::remote`).

use patchlens::analysis::pca::DEFAULT_COMPONENTS;
use patchlens::analysis::positions::SimilarityMode;
use patchlens::analysis::view::{pca_defaults, position_defaults, PositionView};
use patchlens::container::NamedSource;
use patchlens::fileset::files_named_by_index;
use patchlens::grid::{self, parse_color, GridOptions};
use patchlens::listing::{json_document, Listing};
use patchlens::remote::hub;
use patchlens::remote::RemoteStats;
use patchlens::{ByteSource, Checkpoint, FileSource, FilterView, KernelLayout, Normalize, Opened, Order};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;

const USAGE: &str = "\
patchlens — see what a vision model's first layer learned: its patch-embedding filters as a grid.

usage:
  patchlens list [--all] [--json] FILE... | DIR
  patchlens render FILE... | DIR -o OUT.png [--tensor NAME] [--layout hwio|oihw|ohwi] [--count N] [--columns C]
                                         [--zoom Z] [--gap G] [--gap-color #rrggbb]
                                         [--normalize filter|global|symmetric] [--channels] [--order file|norm]
                                         [--view filters|pca|positions|difference] [--components K]
                                         [--mode cosine|dot] [--extra-tokens E] [--position-grid RxC]
  patchlens help [list | render]       (or: patchlens list --help, patchlens render --help)
  patchlens --version

Reads .npz/.npy, PyTorch (.pth/.pt/.bin, zip or legacy, whole-model pickles, TorchScript), .safetensors,
Keras (.h5/.hdf5, .weights.h5, .keras) and other HDF5, TensorFlow checkpoints and SavedModels, .tflite
(float or int8), Flax .msgpack, pickled NumPy (.pkl, .pdparams), .gguf and .onnx. Several files are opened
together: the shards of a checkpoint (with or without its *.index.json; giving the index alone finds the
shards beside it), a TensorFlow .index and its .data files, an ONNX model and its external data. A folder
stands for the files in it (a SavedModel's variables/ included).

A URL or a Hugging Face model id (owner/name, or its page's address) stands for a file too in the Rust
CLI built with the `http` feature (not npx patchlens): only the bytes needed are read, by HTTP range
requests. --hub URL names another hub (default: https://huggingface.co).

exit status:
  0  done
  1  bad input: a file cannot be read or is no checkpoint, the tensor asked for is missing or cannot be
     drawn, the files hold several checkpoints for render, or the PNG cannot be written
  2  bad usage: an unknown command or option; a missing value, FILE or -o; a number, colour or layout
     that is malformed; a grid too big to draw even at zoom 1
A number out of range for the kernel (--count 5000 for 384 filters) is corrected and said, as the page does.";

const LIST_USAGE: &str = "\
usage: patchlens list [--all] [--json] FILE... | DIR

Lists each checkpoint among the files: its format, size and notes, then its tensors in natural order
(blocks.2 before blocks.10) with dtype and shape. * marks the tensor `render` draws by default (the patch
embedding), and the last line says why it was picked.

  --all       list every tensor, those that cannot be drawn with the reason (default: only the drawable
              ones and a count of the others; when none can be drawn, all of them with their reasons)
  --json      print one JSON document for all the checkpoints, every tensor included (default: text)
  -h, --help  print this help

A folder lists every checkpoint in it; an *.index.json lists its shards, found beside it, as one.";

/// Render's usage, with the defaults written from the grid's own constants so they cannot drift.
fn render_usage() -> String {
    let [r, g, b] = grid::DEFAULT_GAP_COLOR;
    format!(
        "\
usage: patchlens render FILE... | DIR -o OUT.png [options]

Draws one checkpoint's filters as a grid of tiles and writes it as a PNG: the page's pixels for the same
options. Several files given together are one checkpoint (shards, a TensorFlow index and its data files,
an ONNX model and its external data).

  -o, --output OUT.png  where to write the PNG (required)
  --tensor NAME         the tensor to draw (default: the patch embedding; `patchlens list` shows the names)
  --layout hwio|oihw|ohwi
                        read a 4-D tensor's axes as (kh, kw, in, out), (out, in, kh, kw) or (out, kh, kw, in)
                        (default: the file's own convention; where the file does not say, what the shape says)
  --count N             how many filters, from the first (default: {count})
  --columns C           tiles per row (default: {columns})
  --zoom Z              screen pixels per filter pixel (default: {zoom})
  --gap G               pixels between tiles (default: {gap})
  --gap-color #rrggbb   colour of the gaps (default: #{r:02x}{g:02x}{b:02x}, the page's)
  --normalize MODE      how a filter's values become 0..255: filter (each filter's own min and max, the
                        notebook's), global (one min and max for the whole kernel) or symmetric (zero is
                        mid-grey, ±max|w| the ends) (default: filter)
  --channels            draw each filter's R, G and B as three grey tiles side by side
  --order file|norm     the filters' order: as in the file, or largest L2 norm first (default: file)
  --view VIEW           filters (default); pca: the filters' principal components (the ViT paper's Figure 7,
                        left); positions: how alike the position embedding's positions are (Figure 7,
                        centre); difference: two checkpoints of the same shape given together, A − B drawn
                        symmetrically, least similar filters first
  --components K        pca: how many components (default: 28, drawn 7 to a row unless --columns says)
  --mode cosine|dot     positions: each position's cosine similarity with every other, one tile per position
                        (viridis, −1 to 1), or the Gram matrix P·Pᵀ as one image (inferno) (default: cosine)
  --extra-tokens E      positions: leading tokens that are not positions (default: 1, 0 or 2, whichever
                        leaves a square grid)
  --position-grid RxC   positions: rows × columns of a grid that is not square
With --view positions, --tensor names the position embedding, and --count, --columns and --gap default to
the figure's: every position, one row of tiles per grid row, 1-px black gaps.
  -h, --help            print this help

With --zoom 1 --gap 0 the PNG is exactly the filters side by side.",
        count = grid::DEFAULT_COUNT,
        columns = grid::DEFAULT_COLUMNS,
        zoom = grid::DEFAULT_ZOOM,
        gap = grid::DEFAULT_GAP,
    )
}

/// Why the command stopped: the exit status tells scripts which kind.
enum Failure {
    /// The command line itself is wrong (exit 2): one sentence, then the command whose help to read.
    Usage { sentence: String, help: &'static str },
    /// A file, or what was asked of it, cannot be done (exit 1).
    Input(String),
}

const TOP_HELP: &str = "patchlens --help";

fn usage(sentence: impl Into<String>, help: &'static str) -> Failure {
    Failure::Usage { sentence: sentence.into(), help }
}

impl From<String> for Failure {
    fn from(sentence: String) -> Failure {
        Failure::Input(sentence)
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Input(sentence)) => {
            eprintln!("patchlens: {sentence}");
            ExitCode::from(1)
        }
        Err(Failure::Usage { sentence, help }) => {
            let what = if help == TOP_HELP { "commands" } else { "options" };
            eprintln!("patchlens: {sentence}\nRun `{help}` for the {what}.");
            ExitCode::from(2)
        }
    }
}

fn run(args: &[String]) -> Result<(), Failure> {
    let rest = args.get(1..).unwrap_or_default();
    match args.first().map(String::as_str) {
        Some("list") if wants_help(rest) => print_help(LIST_USAGE),
        Some("list") => list(rest),
        Some("render") if wants_help(rest) => print_help(&render_usage()),
        Some("render") => render(rest),
        Some("help") => match rest.first().map(String::as_str) {
            None => print_help(USAGE),
            Some("list") => print_help(LIST_USAGE),
            Some("render") => print_help(&render_usage()),
            Some(other) => {
                Err(usage(format!("There is no command '{other}'; the commands are list and render."), TOP_HELP))
            }
        },
        Some("-h" | "--help") => print_help(USAGE),
        Some("-V" | "--version") => print_help(&format!("patchlens {}", env!("CARGO_PKG_VERSION"))),
        Some(flag) if flag.starts_with('-') => {
            Err(usage(format!("Unknown option {flag}; a command (list or render) comes first."), TOP_HELP))
        }
        Some(other) => {
            Err(usage(format!("There is no command '{other}'; the commands are list and render."), TOP_HELP))
        }
        None => Err(usage("A command is needed: list or render.", TOP_HELP)),
    }
}

/// `-h`/`--help` anywhere before a `--` asks for help, whatever else is wrong with the line.
fn wants_help(args: &[String]) -> bool {
    args.iter().take_while(|a| *a != "--").any(|a| a == "-h" || a == "--help")
}

fn print_help(text: &str) -> Result<(), Failure> {
    // `patchlens --help | head` closes the pipe early: that is no failure (println! would panic).
    let _ = writeln!(std::io::stdout().lock(), "{text}");
    Ok(())
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
            let mut inside = files_in(&path).map_err(|e| format!("Could not read the folder {arg}: {e}."))?;
            // A SavedModel keeps its weights one level down, in variables/.
            let variables = path.join("variables");
            if variables.is_dir() && !is_hidden(&variables) {
                inside.extend(
                    files_in(&variables).map_err(|e| format!("Could not read the folder {arg}/variables: {e}."))?,
                );
            }
            inside.into_iter().for_each(|p| add_found(p, true));
        } else if arg.ends_with(".index.json") {
            let index = named(&path)?;
            let folder = path.parent().map(Path::to_path_buf).unwrap_or_default();
            let shards = files_named_by_index(&index).map_err(|e| format!("{arg}: {e}"))?;
            add_found(path, false);
            shards.into_iter().for_each(|shard| add_found(folder.join(shard), false));
        } else if let Some(prefix) = arg.strip_suffix(".index").filter(|_| path.is_file()) {
            // A TensorFlow checkpoint's index: its data files sit beside it as `<prefix>.data-…`.
            let folder = match path.parent() {
                Some(folder) if !folder.as_os_str().is_empty() => folder.to_path_buf(),
                _ => PathBuf::from("."),
            };
            let stem = format!("{}.data-", Path::new(prefix).file_name().unwrap_or_default().to_string_lossy());
            let beside = files_in(&folder).map_err(|e| format!("Could not read the folder beside {arg}: {e}."))?;
            add_found(path, false);
            beside
                .into_iter()
                .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(&stem)))
                .for_each(|p| add_found(p, false));
        } else {
            add_found(path, false);
        }
    }
    Ok(paths)
}

/// A folder's files, not hidden, sorted.
fn files_in(folder: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut inside: Vec<PathBuf> = std::fs::read_dir(folder)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && !is_hidden(p))
        .collect();
    inside.sort();
    Ok(inside)
}

fn is_hidden(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.'))
}

/// What crossed the network for the command, said after it.
#[derive(Default)]
struct Network {
    stats: Vec<Rc<RemoteStats>>,
    /// Files a server sent whole (it ignores Range).
    whole: Vec<String>,
}

impl Network {
    fn say(&self) {
        if self.stats.is_empty() {
            return;
        }
        let requests: u64 = self.stats.iter().map(|s| s.requests()).sum();
        let bytes: u64 = self.stats.iter().map(|s| s.bytes()).sum();
        let s = if requests == 1 { "" } else { "s" };
        let whole = match self.whole.as_slice() {
            [] => String::new(),
            files => format!(" (the server does not send parts of {}, so all of it was downloaded)", files.join(", ")),
        };
        eprintln!("patchlens: over HTTP: {requests} request{s}, {bytes} bytes transferred{whole}");
    }
}

/// An http(s) address, or an argument that names no file here but reads as a hub model id.
fn is_remote(arg: &str, hub: &str) -> bool {
    hub::is_http_url(arg) || (!Path::new(arg).exists() && hub::parse_target(arg, hub).is_some())
}

/// Opens a URL or model id over HTTP.
#[cfg(feature = "http")]
fn open_remote(arg: &str, hub: &str, network: &mut Network) -> Result<Vec<Opened>, String> {
    use patchlens::remote::http::HttpClient;
    use std::io::IsTerminal;
    let mut client = HttpClient::new();
    // A server without ranges sends the whole file: show its progress to a person, not to a log.
    if std::io::stderr().is_terminal() {
        client = client.with_progress(|name, done, total| {
            let of = total.map_or(String::new(), |t| format!(" of {t}"));
            let end = if total == Some(done) { "\n" } else { "" };
            eprint!("\rpatchlens: downloading {name}: {done}{of} bytes{end}");
        });
    }
    let opened = patchlens::remote::open_target(arg, hub, &client).map_err(|e| match hub::parse_target(arg, hub) {
        Some(hub::Target::Model { .. }) if !arg.contains("://") => {
            format!("There is no file {arg} here; as a hub model id: {e}")
        }
        _ => e.to_string(),
    })?;
    network.stats.push(opened.stats);
    if opened.whole_file {
        network.whole.extend(opened.opened.iter().map(|o| o.label.clone()));
    }
    Ok(opened.opened)
}

#[cfg(not(feature = "http"))]
fn open_remote(arg: &str, _hub: &str, _network: &mut Network) -> Result<Vec<Opened>, String> {
    Err(if arg.contains("://") {
        format!("{arg} is a URL, and this patchlens was built without the `http` feature that reads URLs (cargo install --path . --features cli,http, from a clone of patchlens).")
    } else {
        format!("There is no file {arg}, and this patchlens was built without the `http` feature that opens hub model ids (cargo install --path . --features cli,http, from a clone of patchlens).")
    })
}

fn named(path: &Path) -> Result<NamedSource, String> {
    let source = FileSource::open(path).map_err(|e| e.to_string())?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
    Ok(NamedSource { name, source: Rc::new(source) as Rc<dyn ByteSource> })
}

/// Opens the files, URLs and model ids: the files together (shards, companions), in the place of the first
/// of them; each URL or model id on its own.
fn open(args: &[String], hub: &str, network: &mut Network) -> Result<Vec<Opened>, String> {
    let (remote, local): (Vec<&String>, Vec<&String>) = args.iter().partition(|a| is_remote(a, hub));
    if remote.is_empty() {
        return open_local(args);
    }
    let mut opened = Vec::new();
    let mut local_at = None;
    for arg in args {
        if remote.contains(&arg) {
            opened.extend(open_remote(arg, hub, network)?);
        } else if local_at.is_none() {
            local_at = Some(opened.len());
        }
    }
    if let Some(at) = local_at {
        let files: Vec<String> = local.into_iter().cloned().collect();
        let here = open_local(&files)?;
        opened.splice(at..at, here);
    }
    Ok(opened)
}

/// Opens the files; a file from a folder that is no checkpoint at all is left out, and said so.
fn open_local(args: &[String]) -> Result<Vec<Opened>, String> {
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
        return Err(
            "None of the files given is a checkpoint; name NumPy, PyTorch, safetensors, Keras, TensorFlow, TFLite, Flax, GGUF or ONNX files."
                .into(),
        );
    }
    Ok(opened)
}

fn list(args: &[String]) -> Result<(), Failure> {
    const HELP: &str = "patchlens list --help";
    let (mut all, mut json) = (false, false);
    let mut files = Vec::new();
    let mut hub = hub::HUB.to_string();
    let mut options_ended = false;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            _ if options_ended => files.push(arg.clone()),
            "--" => options_ended = true,
            "--all" => all = true,
            "--json" => json = true,
            "--hub" => hub = rest.next().cloned().ok_or_else(|| usage("--hub needs a value.", HELP))?,
            flag if flag.starts_with('-') => return Err(usage(format!("Unknown option {flag} for list."), HELP)),
            path => files.push(path.to_string()),
        }
    }
    if files.is_empty() {
        return Err(usage("list needs a FILE or a folder.", HELP));
    }
    let mut network = Network::default();
    let opened = open(&files, &hub, &mut network)?;
    let listings: Vec<Listing> = opened.iter().map(Listing::of).collect();
    let failed: Vec<String> = listings
        .iter()
        .filter_map(|listing| match listing {
            Listing::Failed { label, error, .. } => Some(format!("{label}: {error}")),
            Listing::Listed(_) => None,
        })
        .collect();
    let text = if json {
        format!("{}\n", json_document(&listings))
    } else {
        let texts: Vec<String> = listings
            .iter()
            .filter_map(|listing| match listing {
                Listing::Listed(listed) => Some(listed.text(all)),
                Listing::Failed { .. } => None,
            })
            .collect();
        texts.join("\n")
    };
    // A closed pipe (`patchlens list f | head`) just ends the listing.
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            return Err(Failure::Input(format!("Could not write the listing: {e}.")))
        }
        _ => {}
    }
    network.say();
    if !failed.is_empty() {
        return Err(Failure::Input(failed.join("\npatchlens: ")));
    }
    Ok(())
}

fn render(args: &[String]) -> Result<(), Failure> {
    const HELP: &str = "patchlens render --help";
    let mut files = Vec::new();
    let mut out = None;
    let mut tensor = None;
    let mut layout = None;
    let mut view = FilterView::default();
    let mut difference = false;
    let mut positions = false;
    let mut pca = false;
    let mut components = DEFAULT_COMPONENTS;
    let mut position_view = PositionView::default();
    let mut options = GridOptions::default();
    let mut given: Vec<&str> = Vec::new(); // the grid options named on the command line
    let mut hub = hub::HUB.to_string();
    let mut options_ended = false;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        if options_ended {
            files.push(arg.clone());
            continue;
        }
        let mut value = |flag: &str| rest.next().cloned().ok_or_else(|| usage(format!("{flag} needs a value."), HELP));
        let number = |flag: &str, v: String| {
            v.parse::<usize>().map_err(|_| usage(format!("{flag} takes a whole number, not '{v}'."), HELP))
        };
        match arg.as_str() {
            "--" => options_ended = true,
            "-o" | "--output" => out = Some(PathBuf::from(value(arg)?)),
            "--tensor" => tensor = Some(value(arg)?),
            "--hub" => hub = value(arg)?,
            "--layout" => {
                let v = value(arg)?;
                let parsed = KernelLayout::parse(&v);
                layout =
                    Some(parsed.ok_or_else(|| usage(format!("--layout is hwio, oihw or ohwi, not '{v}'."), HELP))?);
            }
            "--count" => {
                options.count = number(arg, value(arg)?)?;
                given.push("count");
            }
            "--columns" => {
                options.columns = number(arg, value(arg)?)?;
                given.push("columns");
            }
            "--zoom" => {
                options.zoom = number(arg, value(arg)?)?;
                given.push("zoom");
            }
            "--gap" => {
                options.gap = number(arg, value(arg)?)?;
                given.push("gap");
            }
            "--normalize" => {
                let v = value(arg)?;
                let parsed = Normalize::parse(&v);
                let why = format!("--normalize is filter, global or symmetric, not '{v}'.");
                view.normalize = parsed.ok_or_else(|| usage(why, HELP))?;
            }
            "--channels" => view.channels = true,
            "--view" => {
                let v = value(arg)?;
                (difference, positions, pca) = match v.as_str() {
                    "filters" => (false, false, false),
                    "difference" => (true, false, false),
                    "positions" => (false, true, false),
                    "pca" => (false, false, true),
                    _ => {
                        let why = format!("--view is filters, pca, positions or difference, not '{v}'.");
                        return Err(usage(why, HELP));
                    }
                };
            }
            "--components" => {
                components = number(arg, value(arg)?)?;
            }
            "--mode" => {
                let v = value(arg)?;
                position_view.mode = SimilarityMode::parse(&v)
                    .ok_or_else(|| usage(format!("--mode is cosine or dot, not '{v}'."), HELP))?;
            }
            "--extra-tokens" => position_view.extra_tokens = Some(number(arg, value(arg)?)?),
            "--position-grid" => {
                let v = value(arg)?;
                let parsed = v.split_once('x').and_then(|(r, c)| Some((r.parse().ok()?, c.parse().ok()?)));
                let why = format!("--position-grid is ROWSxCOLUMNS, e.g. 14x14, not '{v}'.");
                position_view.grid = Some(parsed.ok_or_else(|| usage(why, HELP))?);
            }
            "--order" => {
                let v = value(arg)?;
                view.order =
                    Order::parse(&v).ok_or_else(|| usage(format!("--order is file or norm, not '{v}'."), HELP))?;
            }
            "--gap-color" => {
                options.gap_color = parse_color(&value(arg)?).map_err(|e| usage(e.to_string(), HELP))?;
                given.push("gap-color");
            }
            flag if flag.starts_with('-') => return Err(usage(format!("Unknown option {flag} for render."), HELP)),
            path => files.push(path.to_string()),
        }
    }
    if files.is_empty() {
        return Err(usage("render needs a FILE or a folder.", HELP));
    }
    let out = out.ok_or_else(|| usage("render needs -o OUT.png, the file to write.", HELP))?;
    let mut network = Network::default();
    let mut opened = open(&files, &hub, &mut network)?;
    let wanted = if difference { 2 } else { 1 };
    if opened.len() != wanted {
        let labels: Vec<&str> = opened.iter().map(|o| o.label.as_str()).collect();
        let what = if difference { "the difference view draws two: A − B" } else { "render draws one at a time" };
        let count = opened.len();
        let s = if count == 1 { "" } else { "s" };
        return Err(Failure::Input(format!("These files hold {count} checkpoint{s} ({}); {what}.", labels.join(", "))));
    }
    let mut checkpoints = Vec::new();
    for group in opened.drain(..) {
        let label = group.label;
        checkpoints.push((group.checkpoint.map_err(|e| format!("{label}: {e}"))?, label));
    }
    let (checkpoint, label) = &checkpoints[0];
    // Distinct bytes of the files, as the page counts them; a range read twice is said apart.
    let bytes_read = || {
        let distinct = checkpoints.iter().map(|(c, _)| c.distinct_bytes_read()).sum::<u64>();
        let transferred = checkpoints.iter().map(|(c, _)| c.bytes_read()).sum::<u64>();
        let file_size = checkpoints.iter().map(|(c, _)| c.file_size()).sum::<u64>();
        let again = if transferred > distinct { format!(" ({transferred} transferred)") } else { String::new() };
        format!("read {distinct} of {file_size} bytes{again}")
    };
    if pca {
        let grid_options = |k: usize| given_or(pca_defaults(k), &options, &given);
        let drawn = checkpoint.render_pca(tensor.as_deref(), layout, components, grid_options);
        let drawn = drawn.map_err(|e| drawing_failed(label, e))?;
        write_grid(&out, &drawn.grid, &given)?;
        let t = &drawn.tensor;
        let explained: f64 = drawn.explained_variance_ratio.iter().sum();
        eprintln!(
            "{}: {} {} {} ({}), {} of {} principal components, {:.1} % of the variance, {}×{} px, {}",
            out.display(),
            t.name,
            t.dtype,
            t.shape_text(),
            drawn.layout.name().to_uppercase(),
            drawn.grid.filters_shown,
            drawn.components,
            100.0 * explained,
            drawn.grid.width,
            drawn.grid.height,
            bytes_read()
        );
        network.say();
        return Ok(());
    }
    if positions {
        let grid_options = |tokens: &_| given_or(position_defaults(position_view.mode, tokens), &options, &given);
        let drawn = checkpoint.render_positions(tensor.as_deref(), &position_view, grid_options);
        let drawn = drawn.map_err(|e| drawing_failed(label, e))?;
        write_grid(&out, &drawn.grid, &given)?;
        let t = &drawn.tensor;
        eprintln!(
            "{}: {} {} {}, position {} ({}; {}), {}×{} px, {}",
            out.display(),
            t.name,
            t.dtype,
            t.shape_text(),
            drawn.mode.name(),
            drawn.reason,
            drawn.tokens.reason,
            drawn.grid.width,
            drawn.grid.height,
            bytes_read()
        );
        network.say();
        return Ok(());
    }
    let result = match checkpoints.get(1) {
        Some((other, _)) => patchlens::compare::render_difference(
            checkpoint,
            other,
            [tensor.as_deref(), None],
            [layout, None],
            &options,
        ),
        None => checkpoint.render_view(tensor.as_deref(), layout, &view, &options),
    };
    let rendered = result.map_err(|e| drawing_failed(label, e))?;
    write_grid(&out, &rendered.grid, &given)?;
    let t = &rendered.tensor;
    eprintln!(
        "{}: {} {} {} ({}), {} of {} filters, {}×{} px, {}",
        out.display(),
        t.name,
        t.dtype,
        t.shape_text(),
        rendered.layout.name().to_uppercase(),
        rendered.grid.filters_shown,
        rendered.grid.filters_total,
        rendered.grid.width,
        rendered.grid.height,
        bytes_read()
    );
    network.say();
    Ok(())
}

/// A figure's own grid options (the position view's count, columns and gap, say), with what the command line
/// gave instead; zoom always comes from the command line.
fn given_or(figure: GridOptions, options: &GridOptions, given: &[&str]) -> GridOptions {
    let pick = |name: &str, ours: usize, theirs: usize| if given.contains(&name) { ours } else { theirs };
    GridOptions {
        count: pick("count", options.count, figure.count),
        columns: pick("columns", options.columns, figure.columns),
        gap: pick("gap", options.gap, figure.gap),
        gap_color: if given.contains(&"gap-color") { options.gap_color } else { figure.gap_color },
        ..options.clone()
    }
}

/// Why drawing stopped: ranges are corrected by the grid, so what is left of an option (a grid too big even at
/// zoom 1) is the command line's fault; anything else is the file's.
fn drawing_failed(label: &str, error: patchlens::Error) -> Failure {
    match error {
        patchlens::Error::InvalidOption(sentence) => usage(sentence, "patchlens render --help"),
        e => Failure::Input(format!("{label}: {e}")),
    }
}

/// Writes the PNG, then says which values given were out of range and what was used instead, as the page
/// does (the default count of 128 for a kernel of 32 filters is no one's mistake, so it is not said).
fn write_grid(out: &Path, grid: &grid::Grid, given: &[&str]) -> Result<(), Failure> {
    write_png(out, grid.width, grid.height, &grid.rgba)
        .map_err(|e| format!("Could not write {}: {e}.", out.display()))?;
    for adjustment in grid.adjustments.iter().filter(|a| given.contains(&a.option)) {
        eprintln!("patchlens: --{}: {}.", adjustment.option, adjustment.note);
    }
    Ok(())
}

fn write_png(path: &Path, width: usize, height: usize, rgba: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
    let file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut encoder = png::Encoder::new(file, u32::try_from(width)?, u32::try_from(height)?);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.write_header()?.write_image_data(rgba)?;
    Ok(())
}
