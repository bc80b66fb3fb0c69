//! The patchlens command line: list a checkpoint's tensors, or render its filters to a PNG
//! with the same pixels the web page draws. With the `http` feature, a URL or a hub model id stands for
//! a file, read by HTTP ranges (`patchlens::remote`).

use patchlens::analysis::positions::SimilarityMode;
use patchlens::draw::{Request, View};
use patchlens::grid::{self, parse_color};
use patchlens::listing::{json_document, Listing};
use patchlens::local;
use patchlens::remote::hub;
use patchlens::remote::RemoteStats;
use patchlens::{KernelLayout, Normalize, Opened, Order};
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

/// Opens a URL or model id over HTTP, with a download's progress shown to a person (not to a log).
#[cfg(feature = "http")]
fn open_remote(arg: &str, hub: &str, network: &mut Network) -> patchlens::Result<Vec<Opened>> {
    use patchlens::remote::http::HttpClient;
    use std::io::IsTerminal;
    let mut client = HttpClient::new();
    // A server without ranges sends the whole file.
    if std::io::stderr().is_terminal() {
        client = client.with_progress(|name, done, total| {
            let of = total.map_or(String::new(), |t| format!(" of {t}"));
            let end = if total == Some(done) { "\n" } else { "" };
            eprint!("\rpatchlens: downloading {name}: {done}{of} bytes{end}");
        });
    }
    let opened = local::open_remote(arg, hub, &client)?;
    network.stats.push(opened.stats);
    if opened.whole_file {
        network.whole.extend(opened.opened.iter().map(|o| o.label.clone()));
    }
    Ok(opened.opened)
}

#[cfg(not(feature = "http"))]
fn open_remote(arg: &str, _hub: &str, _network: &mut Network) -> patchlens::Result<Vec<Opened>> {
    Err(local::without_http(arg, "cargo install --path . --features cli,http, from a clone of patchlens"))
}

/// Opens the files, URLs and model ids; says which files of a folder were not checkpoints.
fn open(args: &[String], hub: &str, network: &mut Network) -> Result<Vec<Opened>, String> {
    let named = local::open_named(args, hub, |arg| open_remote(arg, hub, network)).map_err(|e| e.to_string())?;
    if !named.skipped.is_empty() {
        eprintln!("patchlens: skipped {} (not checkpoints)", named.skipped.join(", "));
    }
    Ok(named.opened)
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
    let mut request = Request::default();
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
        let options = &mut request.grid;
        let given = &mut request.given;
        match arg.as_str() {
            "--" => options_ended = true,
            "-o" | "--output" => out = Some(PathBuf::from(value(arg)?)),
            "--tensor" => request.tensor = Some(value(arg)?),
            "--hub" => hub = value(arg)?,
            "--layout" => {
                let v = value(arg)?;
                let parsed = KernelLayout::parse(&v);
                request.layout =
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
                request.filters.normalize = parsed.ok_or_else(|| usage(why, HELP))?;
            }
            "--channels" => request.filters.channels = true,
            "--view" => {
                let v = value(arg)?;
                let why = format!("--view is {}, not '{v}'.", View::NAMES);
                request.view = View::parse(&v).ok_or_else(|| usage(why, HELP))?;
            }
            "--components" => request.components = number(arg, value(arg)?)?,
            "--mode" => {
                let v = value(arg)?;
                request.positions.mode = SimilarityMode::parse(&v)
                    .ok_or_else(|| usage(format!("--mode is cosine or dot, not '{v}'."), HELP))?;
            }
            "--extra-tokens" => request.positions.extra_tokens = Some(number(arg, value(arg)?)?),
            "--position-grid" => {
                let v = value(arg)?;
                let parsed = v.split_once('x').and_then(|(r, c)| Some((r.parse().ok()?, c.parse().ok()?)));
                let why = format!("--position-grid is ROWSxCOLUMNS, e.g. 14x14, not '{v}'.");
                request.positions.grid = Some(parsed.ok_or_else(|| usage(why, HELP))?);
            }
            "--order" => {
                let v = value(arg)?;
                request.filters.order =
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
    let wanted = request.checkpoints();
    if opened.len() != wanted {
        let labels: Vec<&str> = opened.iter().map(|o| o.label.as_str()).collect();
        let what = if wanted == 2 { "the difference view draws two: A − B" } else { "render draws one at a time" };
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
    let other = checkpoints.get(1).map(|(c, _)| c);
    let drawn = request.draw(checkpoint, other).map_err(|e| drawing_failed(label, e))?;
    let grid = drawn.grid();
    write_grid(&out, grid, &request.given)?;
    // Distinct bytes of the files, as the page counts them; a range read twice is said apart.
    let distinct = checkpoints.iter().map(|(c, _)| c.distinct_bytes_read()).sum::<u64>();
    let transferred = checkpoints.iter().map(|(c, _)| c.bytes_read()).sum::<u64>();
    let file_size = checkpoints.iter().map(|(c, _)| c.file_size()).sum::<u64>();
    let again = if transferred > distinct { format!(" ({transferred} transferred)") } else { String::new() };
    let (width, height) = (grid.width, grid.height);
    eprintln!(
        "{}: {}, {width}×{height} px, read {distinct} of {file_size} bytes{again}",
        out.display(),
        drawn.summary()
    );
    network.say();
    Ok(())
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
    write_png(out, grid).map_err(|e| format!("Could not write {}: {e}.", out.display()))?;
    for adjustment in grid.adjustments.iter().filter(|a| given.contains(&a.option)) {
        eprintln!("patchlens: --{}: {}.", adjustment.option, adjustment.note);
    }
    Ok(())
}

fn write_png(path: &Path, grid: &grid::Grid) -> Result<(), Box<dyn std::error::Error>> {
    std::fs::write(path, grid.png()?)?;
    Ok(())
}
