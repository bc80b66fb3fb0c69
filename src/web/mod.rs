//! The only module that knows about the browser: converts JS values to core calls and back.
//! Nothing here parses, scales or lays out; see `Checkpoint` for that.

mod blob;
mod http;
mod reader;

pub use blob::BlobSource;
pub use reader::ReaderSource;

use crate::analysis::pca::DEFAULT_COMPONENTS;
use crate::analysis::positions::SimilarityMode;
use crate::analysis::view::{pca_defaults, position_defaults, PositionView};
use crate::container::NamedSource;
use crate::error::Error;
use crate::grid::{parse_color, GridOptions};
use crate::kernel::KernelLayout;
use crate::listing::{self, CheckpointListing};
use crate::remote::hub::{self, Target, HUB};
use crate::remote::{self, file_name, no_reply, Opened as Fetched, RemoteSource, RemoteStats, Reply};
use crate::scale::Normalize;
use crate::source::{ByteSource, SliceSource};
use crate::view::{FilterView, Order};
use crate::{Checkpoint as CoreCheckpoint, Opened, Rendered};
use serde::{Deserialize, Serialize};
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::Clamped;
use web_sys::{
    Blob, CanvasRenderingContext2d, HtmlCanvasElement, ImageData, OffscreenCanvas, OffscreenCanvasRenderingContext2d,
};

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
/** One tensor in a checkpoint. `reason` says why it cannot be drawn, when it cannot. `layout` is how a 4-D
 *  tensor's axes are read ('hwio' = kh, kw, in, out; 'oihw' = out, in, kh, kw; 'ohwi' = out, kh, kw, in); `layoutInferred` is true when
 *  the file does not say and the shape decided; `recognized` says what a known first-layer name means.
 *  `unreadBytes` (only from `tensorsRead()`): the entry's header was not read; its size in the file. */
export interface TensorInfo { name: string; dtype: string; shape: number[]; drawable: boolean; reason?: string; layout?: 'hwio' | 'oihw' | 'ohwi'; layoutInferred?: boolean; recognized?: string; unreadBytes?: number }
/** How to draw the grid. Defaults: the default tensor, its own layout, the first 128 filters, 16 columns,
 *  zoom 4, 2 px gaps of #1b1e24. `fitWidth` (pixels) replaces `zoom` by the largest zoom whose grid is at most
 *  that wide (at least 1). Values out of range are brought into range and reported in `adjustments`.
 *  The filters view: `normalize` 'filter' (each filter on its own, the default), 'global' (one min and max for
 *  the kernel) or 'symmetric' (zero is mid-grey); `channels` draws R, G, B as grey tiles; `order` 'file' or
 *  'norm' (largest L2 norm first). `view: 'positions'` draws the position embedding instead (`tensor` then names
 *  it): `mode` 'cosine' or 'dot', `extraTokens` and `positionGrid` [rows, columns] override what its shape says;
 *  count, columns and gap default to the figure's (every position, a row per grid row, 1-px black gaps).
 *  `view: 'pca'` draws the first `components` (default 28) principal components of the filters, 7 to a row.
 *  `caption` leaves that many pixels of gap colour under each row of tiles, for text written by the caller. */
export interface RenderOptions { tensor?: string; layout?: 'hwio' | 'oihw' | 'ohwi'; count?: number; columns?: number; zoom?: number; gap?: number; gapColor?: string; fitWidth?: number; normalize?: 'filter' | 'global' | 'symmetric'; channels?: boolean; order?: 'file' | 'norm'; caption?: number; components?: number; view?: 'filters' | 'pca' | 'positions'; mode?: 'cosine' | 'dot'; extraTokens?: number; positionGrid?: [number, number] }
/** An option that was out of range, the value used instead, and why ("at most 384 — the number of filters"). */
export interface Adjustment { option: 'count' | 'columns' | 'zoom' | 'gap'; value: number; note: string }
/** What a rendered grid shows. `filterShape` is [kh, kw, c]; `zoom` and `gap` are the ones used; `shown` is the
 *  file index of each filter drawn, in drawing order. */
export interface GridInfo { width: number; height: number; tensor: string; dtype: string; shape: number[]; layout: 'hwio' | 'oihw' | 'ohwi'; filterShape: number[]; filtersShown: number; filtersTotal: number; columns: number; rows: number; zoom: number; gap: number; caption: number; adjustments: Adjustment[]; normalize: 'filter' | 'global' | 'symmetric'; channels: boolean; order: 'file' | 'norm'; shown: number[]; tiles: TileStats[]; steps: Steps }
/** Where a draw's time went, in milliseconds: `read` found, read and decoded the tensor (0 when it was already
 *  read), `fileRead` of that waited on the file's reads; `scale` made the tiles, `grid` laid them out, `stats` summed
 *  the drawn filters' numbers. */
export interface Steps { read: number; fileRead: number; scale: number; grid: number; stats: number }
/** The position view's pixels: tiles of `cosine` similarity (one per position, viridis over [−1, 1]) or the `dot`
 *  Gram matrix (one tile, inferno over its range), with the embedding's tokens and the colour bar to draw;
 *  `values` holds the N × N numbers behind the colours, row-major (`values[a * N + b]`, N = gridRows · gridCols). */
export interface PositionGrid { view: 'positions'; width: number; height: number; rgba: Uint8ClampedArray; tensor: string; dtype: string; shape: number[]; reason: string; mode: 'cosine' | 'dot'; extraTokens: number; gridRows: number; gridCols: number; tokensReason: string; colorbar: { colormap: string; min: number; max: number; ticks: number[]; lut: number[] }; values: Float64Array; filterShape: number[]; filtersShown: number; filtersTotal: number; columns: number; rows: number; zoom: number; gap: number; adjustments: Adjustment[] }
/** The principal-components view's pixels: the first `components` of the filters (scikit-learn's PCA in f64), each
 *  scaled as a filter is; `explainedVarianceRatio` of each drawn component. */
export interface PcaGrid { view: 'pca'; width: number; height: number; rgba: Uint8ClampedArray; tensor: string; dtype: string; shape: number[]; layout: 'hwio' | 'oihw' | 'ohwi'; filterShape: number[]; components: number; explainedVarianceRatio: number[]; filtersShown: number; filtersTotal: number; columns: number; rows: number; zoom: number; gap: number; adjustments: Adjustment[] }
/** One drawn filter: its index in the file and its raw numbers (min and max ignore NaNs; mean and L2 norm in f64). */
export interface TileStats { index: number; min: number; max: number; mean: number; norm: number }
/** One checkpoint found among files opened together: the files it is made of, and either the open
 *  `checkpoint` or the `error` sentence that says why it could not be opened; `notACheckpoint` is true when
 *  the file is in no format patchlens reads (a folder's README, say). */
export interface OpenedCheckpoint { label: string; files: string[]; checkpoint?: Checkpoint; error?: string; notACheckpoint?: boolean }
/** A file read by ranges through a synchronous function (Node: `fs.readSync` on a descriptor). `read` returns
 *  exactly `length` bytes from `offset`; `close`, if given, is called once the module no longer needs the file. */
export interface RangeReader { name: string; size: number; read(offset: number, length: number): Uint8Array; close?(): void }
/** What `patchlens list --json` says about one checkpoint (`checkpoint.listingJson`): every tensor in
 *  natural order. The CLI prints `{ checkpoints: [...] }` of these, with `{ label, files, error }` for a
 *  checkpoint that could not be opened. */
export interface CheckpointListing { label: string; files: string[]; format: string; fileSize: number; defaultTensor: string | null; defaultReason: string | null; notes: string[]; tensors: TensorInfo[] }
/** A rendered grid: `rgba` holds width × height pixels, 4 bytes each, alpha 255. */
export interface Grid extends GridInfo { rgba: Uint8ClampedArray }
"#;

#[wasm_bindgen]
extern "C" {
    /// A `RenderOptions` object from JS (typed in the section above); read with serde.
    #[wasm_bindgen(typescript_type = "RenderOptions")]
    pub type RenderOptions;
}

#[wasm_bindgen]
extern "C" {
    /// The host's clock (browsers, workers and Node all have `performance.now`).
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn performance_now() -> f64;
}

/// What every entry point does first: panics reach the console, and the core's step timings get a clock.
fn set_up() {
    console_error_panic_hook::set_once();
    crate::timing::set_clock(performance_now);
}

thread_local! {
    /// Milliseconds spent waiting on file reads (`BlobSource`, `ReaderSource`) since the module loaded.
    static FILE_READ_MS: std::cell::Cell<f64> = const { std::cell::Cell::new(0.0) };
}

/// Runs one read of a file, counting the time it takes in `FILE_READ_MS`.
pub(crate) fn timed_read<T>(read: impl FnOnce() -> T) -> T {
    let started = performance_now();
    let result = read();
    FILE_READ_MS.with(|ms| ms.set(ms.get() + performance_now() - started));
    result
}

/// The file-read time of whatever `work` does.
fn with_file_read_ms<T>(work: impl FnOnce() -> T) -> (T, f64) {
    let before = FILE_READ_MS.with(|ms| ms.get());
    let result = work();
    (result, FILE_READ_MS.with(|ms| ms.get()) - before)
}

fn js_error(error: Error) -> JsValue {
    match error {
        // JS's own error for a value outside what is allowed: callers (the Node CLI) tell it from bad files.
        Error::InvalidOption(_) => js_sys::RangeError::new(&error.to_string()).into(),
        // Named, so the page can offer to try again.
        Error::Network(_) => {
            let js = js_sys::Error::new(&error.to_string());
            js.set_name("NetworkError");
            js.into()
        }
        _ => js_sys::Error::new(&error.to_string()).into(),
    }
}

fn plain_error(message: &str) -> JsValue {
    js_sys::Error::new(message).into()
}

/// An open checkpoint. In a worker, `fromBlob` reads a `File` lazily; in Node, `openReaders` reads files by
/// ranges; anywhere, `fromBytes`.
#[wasm_bindgen]
pub struct Checkpoint {
    inner: CoreCheckpoint,
    /// Requests and bytes over the network, for a checkpoint opened from a URL.
    network: Option<Rc<RemoteStats>>,
    /// The file, for a checkpoint opened by `openUrl` and read by ranges: its listing can be planned and its
    /// replies provided (`listingPlan`, `provideReply`).
    #[cfg_attr(not(feature = "full"), allow(dead_code))]
    remote: Option<Rc<RemoteSource<http::XhrTransport>>>,
}

/// The keys `RenderOptions` may have; serde-wasm-bindgen ignores unknown ones, so we check.
const OPTION_KEYS: [&str; 17] = [
    "tensor",
    "layout",
    "count",
    "columns",
    "zoom",
    "gap",
    "gapColor",
    "fitWidth",
    "normalize",
    "channels",
    "order",
    "caption",
    "components",
    "view",
    "mode",
    "extraTokens",
    "positionGrid",
];

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RenderOptionsJs {
    tensor: Option<String>,
    layout: Option<String>,
    count: Option<usize>,
    columns: Option<usize>,
    zoom: Option<usize>,
    gap: Option<usize>,
    gap_color: Option<String>,
    fit_width: Option<usize>,
    normalize: Option<String>,
    channels: Option<bool>,
    order: Option<String>,
    caption: Option<usize>,
    components: Option<usize>,
    view: Option<String>,
    mode: Option<String>,
    extra_tokens: Option<usize>,
    position_grid: Option<[usize; 2]>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GridInfoJs {
    width: usize,
    height: usize,
    tensor: String,
    dtype: String,
    shape: Vec<usize>,
    layout: &'static str,
    filter_shape: [usize; 3],
    filters_shown: usize,
    filters_total: usize,
    columns: usize,
    rows: usize,
    zoom: usize,
    gap: usize,
    caption: usize,
    adjustments: Vec<AdjustmentJs>,
    normalize: &'static str,
    channels: bool,
    order: &'static str,
    /// The file index of each filter drawn, in drawing order.
    shown: Vec<usize>,
    /// Each drawn filter's raw numbers, in drawing order.
    tiles: Vec<TileStatsJs>,
    /// The difference view's cosine similarity of each drawn filter, in drawing order.
    #[serde(skip_serializing_if = "Option::is_none")]
    similarity: Option<Vec<f64>>,
    /// Where the draw's time went, in ms (see `StepsJs`).
    steps: StepsJs,
}

/// One draw's steps in milliseconds: `read` finds, reads and decodes the tensor, of which `fileRead` waited on
/// the file's reads (the browser's `FileReaderSync`, Node's `read`); `scale` makes the tiles, `grid` lays them out,
/// `stats` sums the drawn filters' numbers. 0 for a tensor already read.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StepsJs {
    read: f64,
    file_read: f64,
    scale: f64,
    grid: f64,
    stats: f64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PositionInfoJs {
    view: &'static str,
    width: usize,
    height: usize,
    tensor: String,
    dtype: String,
    shape: Vec<usize>,
    reason: String,
    mode: &'static str,
    extra_tokens: usize,
    grid_rows: usize,
    grid_cols: usize,
    tokens_reason: String,
    colorbar: ColorBarJs,
    filter_shape: [usize; 3],
    filters_shown: usize,
    filters_total: usize,
    columns: usize,
    rows: usize,
    zoom: usize,
    gap: usize,
    adjustments: Vec<AdjustmentJs>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PcaInfoJs {
    view: &'static str,
    width: usize,
    height: usize,
    tensor: String,
    dtype: String,
    shape: Vec<usize>,
    layout: &'static str,
    filter_shape: [usize; 3],
    components: usize,
    explained_variance_ratio: Vec<f64>,
    filters_shown: usize,
    filters_total: usize,
    columns: usize,
    rows: usize,
    zoom: usize,
    gap: usize,
    adjustments: Vec<AdjustmentJs>,
}

#[derive(Serialize)]
struct ColorBarJs {
    colormap: &'static str,
    min: f64,
    max: f64,
    ticks: Vec<f64>,
    /// 256 RGB entries, flat.
    lut: Vec<u8>,
}

#[derive(Serialize)]
struct TileStatsJs {
    index: usize,
    min: f64,
    max: f64,
    mean: f64,
    norm: f64,
}

#[derive(Serialize)]
struct AdjustmentJs {
    option: &'static str,
    value: usize,
    note: String,
}

fn adjustments_js(grid: &crate::grid::Grid) -> Vec<AdjustmentJs> {
    grid.adjustments.iter().map(|a| AdjustmentJs { option: a.option, value: a.used, note: a.note.clone() }).collect()
}

/// A view's description as a JS object with its pixels added as `rgba`.
fn with_pixels(info: &impl Serialize, rgba: &[u8]) -> Result<JsValue, JsValue> {
    let out = serde_wasm_bindgen::to_value(info).map_err(|e| plain_error(&e.to_string()))?;
    add_pixels(out, rgba)
}

fn add_pixels(out: JsValue, rgba: &[u8]) -> Result<JsValue, JsValue> {
    js_sys::Reflect::set(&out, &"rgba".into(), &js_sys::Uint8ClampedArray::from(rgba))?;
    Ok(out)
}

/// What to draw (tensor and layout; `None` = the checkpoint's own choice) and how (the view, the grid).
struct Request {
    tensor: Option<String>,
    layout: Option<KernelLayout>,
    view: FilterView,
    /// The position view instead of filters, with the grid options the caller gave (the rest: the figure's).
    positions: Option<(PositionView, Given)>,
    /// The principal-components view: how many, and the grid options the caller gave.
    pca: Option<(usize, Given)>,
    grid: GridOptions,
}

/// The grid options a caller named; the position view fills the others with its figure's defaults.
#[derive(Clone, Copy)]
struct Given {
    count: Option<usize>,
    columns: Option<usize>,
    gap: Option<usize>,
    gap_color: bool,
}

fn parse_options(options: Option<RenderOptions>) -> Result<Request, JsValue> {
    let js: RenderOptionsJs = match options {
        None => RenderOptionsJs::default(),
        Some(options) => {
            for key in js_sys::Object::keys(options.unchecked_ref::<js_sys::Object>()).iter() {
                let key = key.as_string().unwrap_or_default();
                if !OPTION_KEYS.contains(&key.as_str()) {
                    return Err(plain_error(&format!(
                        "Unknown render option '{key}'; the options are {}.",
                        OPTION_KEYS.join(", ")
                    )));
                }
            }
            serde_wasm_bindgen::from_value(options.into())
                .map_err(|e| plain_error(&format!("Invalid render options: {e}.")))?
        }
    };
    let defaults = GridOptions::default();
    let has_gap_color = js.gap_color.is_some();
    let gap_color = match js.gap_color {
        Some(text) => parse_color(&text).map_err(js_error)?,
        None => defaults.gap_color,
    };
    let grid = GridOptions {
        count: js.count.unwrap_or(defaults.count),
        columns: js.columns.unwrap_or(defaults.columns),
        zoom: js.zoom.unwrap_or(defaults.zoom),
        gap: js.gap.unwrap_or(defaults.gap),
        gap_color,
        fit_width: js.fit_width,
        caption: js.caption.unwrap_or(0),
        ..defaults
    };
    let invalid = |what: &str, text: &str, choices: &str| {
        js_error(Error::InvalidOption(format!("The {what} option is {choices}, not '{text}'.")))
    };
    let view = FilterView {
        normalize: match js.normalize {
            Some(text) => Normalize::parse(&text)
                .ok_or_else(|| invalid("normalize", &text, "'filter', 'global' or 'symmetric'"))?,
            None => Normalize::default(),
        },
        channels: js.channels.unwrap_or(false),
        order: match js.order {
            Some(text) => Order::parse(&text).ok_or_else(|| invalid("order", &text, "'file' or 'norm'"))?,
            None => Order::default(),
        },
    };
    let layout = match js.layout {
        Some(text) => Some(KernelLayout::parse(&text).ok_or_else(|| {
            js_error(Error::InvalidOption(format!("The layout option is 'hwio', 'oihw' or 'ohwi', not '{text}'.")))
        })?),
        None => None,
    };
    let given = Given { count: js.count, columns: js.columns, gap: js.gap, gap_color: has_gap_color };
    let pca = match js.view.as_deref() {
        Some("pca") => Some((js.components.unwrap_or(DEFAULT_COMPONENTS), given)),
        _ => None,
    };
    let positions = match js.view.as_deref() {
        None | Some("filters") | Some("pca") => None,
        Some("positions") => {
            let mode = match js.mode.as_deref() {
                None => SimilarityMode::Cosine,
                Some(text) => SimilarityMode::parse(text).ok_or_else(|| invalid("mode", text, "'cosine' or 'dot'"))?,
            };
            let view =
                PositionView { mode, extra_tokens: js.extra_tokens, grid: js.position_grid.map(|[r, c]| (r, c)) };
            Some((view, given))
        }
        Some(text) => return Err(invalid("view", text, "'filters', 'pca' or 'positions'")),
    };
    Ok(Request { tensor: js.tensor, layout, view, positions, pca, grid })
}

fn grid_info(rendered: &Rendered, view: &FilterView, file_read: f64) -> Result<JsValue, JsValue> {
    let info = GridInfoJs {
        width: rendered.grid.width,
        height: rendered.grid.height,
        tensor: rendered.tensor.name.clone(),
        dtype: rendered.tensor.dtype.to_string(),
        shape: rendered.tensor.shape.clone(),
        layout: rendered.layout.name(),
        filter_shape: rendered.filter_shape,
        filters_shown: rendered.grid.filters_shown,
        filters_total: rendered.grid.filters_total,
        columns: rendered.grid.columns,
        rows: rendered.grid.rows,
        zoom: rendered.grid.zoom,
        gap: rendered.grid.gap,
        caption: rendered.grid.caption,
        adjustments: adjustments_js(&rendered.grid),
        normalize: view.normalize.name(),
        channels: view.channels,
        order: view.order.name(),
        shown: rendered.shown.clone(),
        tiles: (rendered.shown.iter().zip(&rendered.stats))
            .map(|(&index, s)| TileStatsJs { index, min: s.min, max: s.max, mean: s.mean, norm: s.norm })
            .collect(),
        similarity: rendered.similarity.clone(),
        steps: StepsJs {
            read: rendered.steps.read,
            file_read,
            scale: rendered.steps.scale,
            grid: rendered.steps.grid,
            stats: rendered.steps.stats,
        },
    };
    serde_wasm_bindgen::to_value(&info).map_err(|e| plain_error(&e.to_string()))
}

#[wasm_bindgen]
impl Checkpoint {
    /// Throws what `render` would throw for these options before drawing anything (an unknown name, a wrong
    /// type, a malformed colour or layout), so a caller can check them before opening a file.
    #[wasm_bindgen(js_name = checkRenderOptions)]
    pub fn check_render_options(options: Option<RenderOptions>) -> Result<(), JsValue> {
        parse_options(options).map(|_| ())
    }

    /// Opens a checkpoint held in memory (copies the bytes into the module).
    #[wasm_bindgen(js_name = fromBytes)]
    pub fn from_bytes(bytes: &[u8]) -> Result<Checkpoint, JsValue> {
        set_up();
        #[allow(clippy::unnecessary_to_owned)] // the checkpoint outlives this call, so it owns a copy
        CoreCheckpoint::open(SliceSource(bytes.to_vec())).map(Checkpoint::local).map_err(js_error)
    }

    #[cfg(feature = "full")]
    /// Opens a checkpoint on a web server, reading only the ranges it needs with synchronous requests
    /// (dedicated workers only). `probe`, if given, is the reply to the caller's own request for bytes
    /// 0–65535 of `url` — `{ status, contentRange, etag, body: Uint8Array }` — made with `fetch`, which can
    /// stream a server's whole file with progress when it ignores ranges; without it the module asks itself.
    /// `url` should be the address after redirects, so later reads skip them.
    #[wasm_bindgen(js_name = openUrl)]
    pub fn open_url(url: &str, probe: JsValue) -> Result<Checkpoint, JsValue> {
        set_up();
        let stats = Rc::new(RemoteStats::default());
        let name = file_name(url);
        let opened = if probe.is_undefined() || probe.is_null() {
            RemoteSource::open(http::XhrTransport::new(url), &name, Rc::clone(&stats))
        } else {
            let transport = http::XhrTransport::answered(url);
            RemoteSource::from_probe(transport, &name, Rc::clone(&stats), reply_of(&probe)?)
        };
        let (inner, remote) = match opened.map_err(js_error)? {
            Fetched::Ranged(source) => {
                let source = Rc::new(source);
                (CoreCheckpoint::open(Rc::clone(&source)), Some(source))
            }
            Fetched::Whole(bytes) => (CoreCheckpoint::open(SliceSource(bytes)), None),
        };
        inner.map(|inner| Checkpoint { inner, network: Some(stats), remote }).map_err(js_error)
    }

    #[cfg(feature = "full")]
    /// What listing the tensors (`tensors()`) is about to ask for one request at a time: `{ url, ranges }`,
    /// `ranges` the `Range` headers (`bytes=first-last`) to send to `url`. Not empty only for an `.npz` by
    /// `openUrl` from a server that answers several ranges with the whole file (S3, GCS) — found out now, if
    /// not yet known, by the HEAD the listing would send. A worker fetches them concurrently and hands each
    /// reply to `provideReply` before calling `tensors()`, so the listing waits about one round trip, not one
    /// per range; a range not provided is asked for synchronously, as before.
    #[wasm_bindgen(js_name = listingPlan, unchecked_return_type = "{ url: string; ranges: string[] }")]
    pub fn listing_plan(&self) -> Result<JsValue, JsValue> {
        let out = js_sys::Object::new();
        let ranges = js_sys::Array::new();
        let mut url = String::new();
        if let Some(source) = &self.remote {
            source.transport().forget_provided();
            for (first, last) in source.ranges_asked_alone(&self.inner.listing_ranges()) {
                ranges.push(&remote::range_header(first, last).into());
            }
            url = source.transport().url();
        }
        js_sys::Reflect::set(&out, &"url".into(), &url.into())?;
        js_sys::Reflect::set(&out, &"ranges".into(), &ranges)?;
        Ok(out.into())
    }

    #[cfg(feature = "full")]
    /// Hands in the reply to the worker's own GET of `range` (one of `listingPlan`'s) — `{ status,
    /// contentRange, etag, body: Uint8Array }`, as `openUrl`'s probe — for the listing's request for that
    /// range, which takes it instead of asking the server: counted as a request and checked as any reply.
    /// False when it is not kept (no file read by ranges, or more replies than the module holds).
    #[wasm_bindgen(js_name = provideReply)]
    pub fn provide_reply(&self, range: &str, reply: JsValue) -> Result<bool, JsValue> {
        let reply = reply_of(&reply)?;
        Ok(self.remote.as_ref().is_some_and(|source| source.transport().provide(range, reply)))
    }

    #[cfg(feature = "full")]
    /// Opens what a user pasted that is not a plain file address — a Hugging Face model id (`owner/name`) or
    /// hub page — through the hub at `hub` (`https://huggingface.co` unless given): the model's file list
    /// names its weights, which are read by ranges with synchronous requests (dedicated workers only); of a
    /// sharded model only the shard holding the kernel is read. A plain file URL opens too (with no progress
    /// for a server that ignores ranges: `openUrl` with a fetched probe is the page's way for those).
    /// One `OpenedCheckpoint` per checkpoint; `requests` and `networkBytes` of each count the whole target.
    #[wasm_bindgen(js_name = openTarget, unchecked_return_type = "OpenedCheckpoint[]")]
    pub fn open_target(input: &str, hub: Option<String>) -> Result<js_sys::Array, JsValue> {
        set_up();
        let hub = hub.unwrap_or_else(|| HUB.to_string());
        let target = remote::open_target(input, &hub, &http::XhrClient).map_err(js_error)?;
        opened_to_js(target.opened, Some(&target.stats))
    }

    #[cfg(feature = "full")]
    /// What `input` names: `{ kind: 'file', url }` (a file's address; a hub file page becomes its download
    /// address), `{ kind: 'files', url }` (a file that brings files beside it: a TensorFlow `.index`, opened by
    /// `openTarget`) or `{ kind: 'model', id, revision }`, or `null` when it is neither.
    #[wasm_bindgen(js_name = targetOf)]
    pub fn target_of(input: &str, hub: Option<String>) -> Result<JsValue, JsValue> {
        let hub = hub.unwrap_or_else(|| HUB.to_string());
        let out = js_sys::Object::new();
        match hub::parse_target(input, &hub) {
            Some(Target::File(url)) => {
                let kind = if remote::reads_files_beside(&url) { "files" } else { "file" };
                js_sys::Reflect::set(&out, &"kind".into(), &kind.into())?;
                js_sys::Reflect::set(&out, &"url".into(), &url.into())?;
            }
            Some(Target::Model { id, revision }) => {
                js_sys::Reflect::set(&out, &"kind".into(), &"model".into())?;
                js_sys::Reflect::set(&out, &"id".into(), &id.into())?;
                js_sys::Reflect::set(&out, &"revision".into(), &revision.into())?;
            }
            None => return Ok(JsValue::NULL),
        }
        Ok(out.into())
    }

    #[cfg(feature = "full")]
    /// Runs the analysis views and the formats' own per-byte loops once on made-up data, so the engine has
    /// optimised their code before the user's first file and view (call it while the page is idle; a few tens
    /// of milliseconds). The shared decoders and the grid are warmed by drawing each `warmUpFile(i)`.
    #[wasm_bindgen(js_name = warmUp)]
    pub fn warm_up() {
        crate::analysis::warm_up();
        let _ = crate::container::warm_up_loops(); // only an optimisation
    }

    #[cfg(feature = "full")]
    /// The `index`th small checkpoint written in memory by the module (`src/warm.rs`), one per path through the
    /// decoders (float widths, byte orders, C and Fortran order, both kernel layouts, the filter views), or
    /// `undefined` past the last: drawing each once with its `options`, while the page is idle, leaves the engine's
    /// optimised code for the user's file. One at a time, so the module's memory holds one at a time.
    #[wasm_bindgen(js_name = warmUpFile, unchecked_return_type = "{ name: string; bytes: Uint8Array; options: RenderOptions } | undefined")]
    pub fn warm_up_file(index: usize) -> Result<JsValue, JsValue> {
        let Some(file) = crate::warm::file(index) else { return Ok(JsValue::UNDEFINED) };
        let entry = js_sys::Object::new();
        js_sys::Reflect::set(&entry, &"name".into(), &file.name.into())?;
        js_sys::Reflect::set(&entry, &"bytes".into(), &js_sys::Uint8Array::from(file.bytes.as_slice()))?;
        js_sys::Reflect::set(&entry, &"options".into(), &js_sys::JSON::parse(file.options)?)?;
        Ok(entry.into())
    }

    #[cfg(feature = "full")]
    /// The sentence for the page's own request for `url` that got no readable reply (a `fetch` that threw):
    /// `why` is `'refused'` when the server answered a request the page could not read (a cross-origin
    /// refusal, not worth retrying), `'broke'` when the reply had begun and stopped, else (`'unreached'`) no
    /// answer came — worded as offline when the browser says it is. A `NetworkError` but for a refusal.
    #[wasm_bindgen(js_name = noReplyError)]
    pub fn no_reply_error(url: &str, why: &str) -> JsValue {
        let name = file_name(url);
        js_error(match why {
            "broke" => remote::unreached::broke(
                remote::unreached::Asked::File { url, name: &name },
                &remote::unreached::Broke::Other(None),
            ),
            _ => no_reply(url, &name, why == "refused", http::offline()),
        })
    }

    /// Opens a `Blob` or `File` lazily: only the ranges needed are read. Dedicated workers only.
    #[wasm_bindgen(js_name = fromBlob)]
    pub fn from_blob(blob: Blob) -> Result<Checkpoint, JsValue> {
        set_up();
        let source = blob::BlobSource::new(blob).map_err(js_error)?;
        CoreCheckpoint::open(source).map(Checkpoint::local).map_err(js_error)
    }

    /// Every tensor in natural order (`blocks.2` before `blocks.10`), with whether it can be drawn.
    #[wasm_bindgen(unchecked_return_type = "TensorInfo[]")]
    pub fn tensors(&self) -> Result<JsValue, JsValue> {
        let listed = listing::listed_tensors(&self.inner);
        if let Some(source) = &self.remote {
            source.transport().forget_provided(); // what the listing did not take is not kept
        }
        serde_wasm_bindgen::to_value(&listed).map_err(|e| plain_error(&e.to_string()))
    }

    /// Every tensor as `tensors()` lists it, but without reading the header an `.npz` keeps beside each entry's
    /// data: an entry not drawn yet comes with `unreadBytes` (its size in the zip directory), dtype `unknown`, no
    /// shape, and `drawable` false with no `reason`. Other formats list as `tensors()` does. Reads nothing for an
    /// `.npz`: the page lists an `.npz` from S3 or GCS this way (where `tensors()` costs a request per entry).
    #[wasm_bindgen(js_name = tensorsRead, unchecked_return_type = "TensorInfo[]")]
    pub fn tensors_read(&self) -> Result<JsValue, JsValue> {
        serde_wasm_bindgen::to_value(&listing::listed_tensors_read(&self.inner))
            .map_err(|e| plain_error(&e.to_string()))
    }

    /// What `patchlens list` prints for this checkpoint, shown as `label` and made of `files` (default: one
    /// file named `label`): only drawable tensors unless `all`, each line ending in a newline.
    pub fn listing(&self, label: &str, all: bool, files: Option<Vec<String>>) -> String {
        self.listed(label, files).text(all)
    }

    /// What `patchlens list --json` prints for this checkpoint: one `CheckpointListing` as pretty JSON
    /// (every tensor). The CLI's document is `JSON.stringify({ checkpoints: [...] }, null, 2)` of these.
    #[wasm_bindgen(js_name = listingJson)]
    pub fn listing_json(&self, label: &str, files: Option<Vec<String>>) -> String {
        listing::to_pretty_json(&self.listed(label, files))
    }

    #[cfg(feature = "full")]
    /// Opens files given together (a multi-file drop, a folder's files): shards of one checkpoint become
    /// one, an ONNX model finds its external data among them, every other file is its own checkpoint.
    /// Each is read lazily, as `fromBlob`. Dedicated workers only.
    #[wasm_bindgen(js_name = openFiles, unchecked_return_type = "OpenedCheckpoint[]")]
    pub fn open_files(
        #[wasm_bindgen(unchecked_param_type = "File[]")] files: js_sys::Array,
    ) -> Result<js_sys::Array, JsValue> {
        set_up();
        let mut sources: Vec<(String, Rc<dyn ByteSource>)> = Vec::new();
        for (i, file) in files.iter().enumerate() {
            let blob: Blob = file.dyn_into().map_err(|_| plain_error("openFiles takes an array of File objects."))?;
            let name = js_sys::Reflect::get(&blob, &"name".into())
                .ok()
                .and_then(|n| n.as_string())
                .unwrap_or_else(|| format!("file {}", i + 1));
            sources.push((name, Rc::new(blob::BlobSource::new(blob).map_err(js_error)?)));
        }
        opened_to_js(CoreCheckpoint::open_files(sources), None)
    }

    #[cfg(feature = "full")]
    /// Opens files read through synchronous JS functions (`RangeReader`s: Node's `fs.readSync`), grouped as
    /// `openFiles` groups them. Only the ranges needed are read. Any thread, any JS runtime.
    #[wasm_bindgen(js_name = openReaders, unchecked_return_type = "OpenedCheckpoint[]")]
    pub fn open_readers(
        #[wasm_bindgen(unchecked_param_type = "RangeReader[]")] readers: js_sys::Array,
    ) -> Result<js_sys::Array, JsValue> {
        set_up();
        let mut sources: Vec<(String, Rc<dyn ByteSource>)> = Vec::new();
        for (i, reader) in readers.iter().enumerate() {
            let source = ReaderSource::new(reader, i + 1).map_err(js_error)?;
            sources.push((source.name().to_string(), Rc::new(source)));
        }
        opened_to_js(CoreCheckpoint::open_files(sources), None)
    }

    #[cfg(feature = "full")]
    /// The shard files a `*.index.json` names, so a caller with a file system can find them beside it.
    #[wasm_bindgen(js_name = shardsNamedByIndex)]
    pub fn shards_named_by_index(
        #[wasm_bindgen(unchecked_param_type = "RangeReader")] index: JsValue,
    ) -> Result<Vec<String>, JsValue> {
        set_up();
        let source = ReaderSource::new(index, 1).map_err(js_error)?;
        let index = NamedSource { name: source.name().to_string(), source: Rc::new(source) };
        crate::fileset::files_named_by_index(&index).map_err(js_error)
    }

    /// Milliseconds this module has waited on file reads since it loaded (a `File`'s `FileReaderSync`, a
    /// `RangeReader`'s `read`): two readings around an open split its time into reading the file and the rest.
    #[wasm_bindgen(js_name = fileReadMs)]
    pub fn file_read_ms() -> f64 {
        FILE_READ_MS.with(|ms| ms.get())
    }

    /// The tensor drawn by default (the patch embedding), if one was found.
    #[wasm_bindgen(getter, js_name = defaultTensor)]
    pub fn default_tensor(&self) -> Option<String> {
        self.inner.default_tensor()
    }

    /// Why the default tensor was chosen, in a phrase.
    #[wasm_bindgen(getter, js_name = defaultReason)]
    pub fn default_reason(&self) -> Option<String> {
        self.inner.default_reason()
    }

    /// Things to know about the file as a whole (metadata, refused pickle globals, shards), one sentence each.
    #[wasm_bindgen(getter)]
    pub fn notes(&self) -> Vec<String> {
        self.inner.notes()
    }

    /// The container: `npz`, `npy`, `pytorch`, `pytorch-legacy`, `torchscript`, `safetensors`, `gguf`, `onnx`, …
    #[wasm_bindgen(getter)]
    pub fn format(&self) -> String {
        self.inner.format().to_string()
    }

    /// Distinct bytes of the file read so far (never more than `fileSize`).
    #[wasm_bindgen(getter, js_name = bytesRead)]
    pub fn bytes_read(&self) -> f64 {
        self.inner.distinct_bytes_read() as f64
    }

    /// Bytes transferred from the file so far, counting a range read twice twice.
    #[wasm_bindgen(getter, js_name = bytesTransferred)]
    pub fn bytes_transferred(&self) -> f64 {
        self.inner.bytes_read() as f64
    }

    /// Separate reads issued to the file so far.
    #[wasm_bindgen(getter)]
    pub fn reads(&self) -> f64 {
        self.inner.reads() as f64
    }

    #[wasm_bindgen(getter, js_name = fileSize)]
    pub fn file_size(&self) -> f64 {
        self.inner.file_size() as f64
    }

    /// For a checkpoint opened from a URL: the requests made so far (the probe included).
    #[wasm_bindgen(getter)]
    pub fn requests(&self) -> Option<f64> {
        self.network.as_ref().map(|n| n.requests() as f64)
    }

    /// For a checkpoint opened from a URL: bytes received over the network so far.
    #[wasm_bindgen(getter, js_name = networkBytes)]
    pub fn network_bytes(&self) -> Option<f64> {
        self.network.as_ref().map(|n| n.bytes() as f64)
    }

    /// Renders the grid to RGBA pixels.
    #[wasm_bindgen(unchecked_return_type = "Grid | PcaGrid | PositionGrid")]
    pub fn render(&self, options: Option<RenderOptions>) -> Result<JsValue, JsValue> {
        let request = parse_options(options)?;
        #[cfg(feature = "full")]
        if let Some((view, given)) = request.positions {
            return self.render_positions(request.tensor.as_deref(), &view, given, &request.grid);
        }
        #[cfg(feature = "full")]
        if let Some((components, given)) = request.pca {
            return self.render_pca(request.tensor.as_deref(), request.layout, components, given, &request.grid);
        }
        #[cfg(not(feature = "full"))]
        if request.positions.is_some() || request.pca.is_some() {
            return Err(plain_error(
                "This module draws the filters view only; the page's full module draws the others.",
            ));
        }
        let (rendered, file_read) = with_file_read_ms(|| self.render_request(request));
        let (rendered, view) = rendered?;
        add_pixels(grid_info(&rendered, &view, file_read)?, &rendered.grid.rgba)
    }

    #[cfg(feature = "full")]
    /// The difference view: this checkpoint's kernel minus `other`'s (the same shape), drawn symmetrically (zero
    /// is grey), most changed first; `similarity` holds each drawn filter's cosine similarity. `options.tensor`
    /// and `options.layout` pick this checkpoint's kernel; `otherTensor` the other's (default: its own pick).
    #[wasm_bindgen(js_name = renderDifference, unchecked_return_type = "Grid & { similarity: number[] }")]
    pub fn render_difference(
        &self,
        other: &Checkpoint,
        options: Option<RenderOptions>,
        other_tensor: Option<String>,
    ) -> Result<JsValue, JsValue> {
        let request = parse_options(options)?;
        let rendered = crate::compare::render_difference(
            &self.inner,
            &other.inner,
            [request.tensor.as_deref(), other_tensor.as_deref()],
            [request.layout, None],
            &request.grid,
        )
        .map_err(js_error)?;
        let view = FilterView { normalize: Normalize::Symmetric, ..FilterView::default() };
        add_pixels(grid_info(&rendered, &view, 0.0)?, &rendered.grid.rgba)
    }

    /// Renders the grid straight onto a canvas (an `HTMLCanvasElement` or `OffscreenCanvas`),
    /// resizing it to the grid.
    #[wasm_bindgen(js_name = renderToCanvas, unchecked_return_type = "GridInfo")]
    pub fn render_to_canvas(
        &self,
        #[wasm_bindgen(unchecked_param_type = "HTMLCanvasElement | OffscreenCanvas")] canvas: JsValue,
        options: Option<RenderOptions>,
    ) -> Result<JsValue, JsValue> {
        let (rendered, file_read) = with_file_read_ms(|| self.render_core(options));
        let (rendered, view) = rendered?;
        let grid = &rendered.grid;
        let image =
            ImageData::new_with_u8_clamped_array_and_sh(Clamped(&grid.rgba), grid.width as u32, grid.height as u32)?;
        let no_context = || plain_error("The canvas has no 2D context.");
        if let Some(canvas) = canvas.dyn_ref::<HtmlCanvasElement>() {
            canvas.set_width(grid.width as u32);
            canvas.set_height(grid.height as u32);
            let context: CanvasRenderingContext2d = canvas.get_context("2d")?.ok_or_else(no_context)?.dyn_into()?;
            context.put_image_data(&image, 0.0, 0.0)?;
        } else if let Some(canvas) = canvas.dyn_ref::<OffscreenCanvas>() {
            canvas.set_width(grid.width as u32);
            canvas.set_height(grid.height as u32);
            let context: OffscreenCanvasRenderingContext2d =
                canvas.get_context("2d")?.ok_or_else(no_context)?.dyn_into()?;
            context.put_image_data(&image, 0.0, 0.0)?;
        } else {
            return Err(plain_error("renderToCanvas needs an HTMLCanvasElement or an OffscreenCanvas."));
        }
        grid_info(&rendered, &view, file_read)
    }
}

/// One `OpenedCheckpoint` object per checkpoint found among files opened together; `network` counts what
/// crossed the network for them all, when they came from a URL.
fn opened_to_js(opened: Vec<Opened>, network: Option<&Rc<RemoteStats>>) -> Result<js_sys::Array, JsValue> {
    let out = js_sys::Array::new();
    for opened in opened {
        let entry = js_sys::Object::new();
        js_sys::Reflect::set(&entry, &"label".into(), &opened.label.into())?;
        let files: js_sys::Array = opened.files.iter().map(|f| JsValue::from_str(f)).collect();
        js_sys::Reflect::set(&entry, &"files".into(), &files)?;
        match opened.checkpoint {
            Ok(inner) => {
                let checkpoint = Checkpoint { inner, network: network.cloned(), remote: None };
                js_sys::Reflect::set(&entry, &"checkpoint".into(), &checkpoint.into())?
            }
            Err(e) => {
                if matches!(e, Error::UnknownFormat(_)) {
                    js_sys::Reflect::set(&entry, &"notACheckpoint".into(), &JsValue::TRUE)?;
                }
                js_sys::Reflect::set(&entry, &"error".into(), &e.to_string().into())?
            }
        };
        out.push(&entry);
    }
    Ok(out)
}

impl Checkpoint {
    /// A checkpoint read from memory, a file or a `Blob`: no network.
    fn local(inner: CoreCheckpoint) -> Checkpoint {
        Checkpoint { inner, network: None, remote: None }
    }

    fn listed(&self, label: &str, files: Option<Vec<String>>) -> CheckpointListing {
        let files = files.unwrap_or_else(|| vec![label.to_string()]);
        CheckpointListing::new(label, &files, &self.inner)
    }

    fn render_core(&self, options: Option<RenderOptions>) -> Result<(Rendered, FilterView), JsValue> {
        self.render_request(parse_options(options)?)
    }

    #[cfg(feature = "full")]
    /// The position view's pixels and what they show (`PositionGrid` in the TypeScript section).
    fn render_positions(
        &self,
        tensor: Option<&str>,
        view: &PositionView,
        given: Given,
        options: &GridOptions,
    ) -> Result<JsValue, JsValue> {
        let grid_options = |tokens: &_| {
            let figure = position_defaults(view.mode, tokens);
            GridOptions {
                count: given.count.unwrap_or(figure.count),
                columns: given.columns.unwrap_or(figure.columns),
                gap: given.gap.unwrap_or(figure.gap),
                gap_color: if given.gap_color { options.gap_color } else { figure.gap_color },
                ..options.clone()
            }
        };
        let drawn = self.inner.render_positions(tensor, view, grid_options).map_err(js_error)?;
        let info = PositionInfoJs {
            view: "positions",
            width: drawn.grid.width,
            height: drawn.grid.height,
            tensor: drawn.tensor.name.clone(),
            dtype: drawn.tensor.dtype.to_string(),
            shape: drawn.tensor.shape.clone(),
            reason: drawn.reason.clone(),
            mode: drawn.mode.name(),
            extra_tokens: drawn.tokens.extra,
            grid_rows: drawn.tokens.rows,
            grid_cols: drawn.tokens.cols,
            tokens_reason: drawn.tokens.reason.clone(),
            colorbar: ColorBarJs {
                colormap: drawn.colorbar.colormap.name(),
                min: drawn.colorbar.min,
                max: drawn.colorbar.max,
                ticks: drawn.colorbar.ticks.clone(),
                lut: drawn.colorbar.lut().iter().flatten().copied().collect(),
            },
            filter_shape: match drawn.mode {
                SimilarityMode::Cosine => [drawn.tokens.rows, drawn.tokens.cols, 3],
                SimilarityMode::Dot => [drawn.tokens.positions(), drawn.tokens.positions(), 3],
            },
            filters_shown: drawn.grid.filters_shown,
            filters_total: drawn.grid.filters_total,
            columns: drawn.grid.columns,
            rows: drawn.grid.rows,
            zoom: drawn.grid.zoom,
            gap: drawn.grid.gap,
            adjustments: adjustments_js(&drawn.grid),
        };
        let out = with_pixels(&info, &drawn.grid.rgba)?;
        // The numbers behind the colours, so the page can say what is under the pointer.
        js_sys::Reflect::set(&out, &"values".into(), &js_sys::Float64Array::from(drawn.image.values.as_slice()))?;
        Ok(out)
    }

    #[cfg(feature = "full")]
    /// The principal components' pixels and what they show (`PcaGrid` in the TypeScript section).
    fn render_pca(
        &self,
        tensor: Option<&str>,
        layout: Option<KernelLayout>,
        components: usize,
        given: Given,
        options: &GridOptions,
    ) -> Result<JsValue, JsValue> {
        let grid_options = |k: usize| {
            let figure = pca_defaults(k);
            GridOptions {
                count: given.count.unwrap_or(figure.count),
                columns: given.columns.unwrap_or(figure.columns),
                ..options.clone()
            }
        };
        let drawn = self.inner.render_pca(tensor, layout, components, grid_options).map_err(js_error)?;
        let info = PcaInfoJs {
            view: "pca",
            width: drawn.grid.width,
            height: drawn.grid.height,
            tensor: drawn.tensor.name.clone(),
            dtype: drawn.tensor.dtype.to_string(),
            shape: drawn.tensor.shape.clone(),
            layout: drawn.layout.name(),
            filter_shape: drawn.filter_shape,
            components: drawn.components,
            explained_variance_ratio: drawn.explained_variance_ratio.clone(),
            filters_shown: drawn.grid.filters_shown,
            filters_total: drawn.grid.filters_total,
            columns: drawn.grid.columns,
            rows: drawn.grid.rows,
            zoom: drawn.grid.zoom,
            gap: drawn.grid.gap,
            adjustments: adjustments_js(&drawn.grid),
        };
        with_pixels(&info, &drawn.grid.rgba)
    }

    fn render_request(&self, request: Request) -> Result<(Rendered, FilterView), JsValue> {
        let rendered = (self.inner)
            .render_view(request.tensor.as_deref(), request.layout, &request.view, &request.grid)
            .map_err(js_error)?;
        Ok((rendered, request.view))
    }
}

/// The probe's reply as the page's `fetch` saw it.
fn reply_of(probe: &JsValue) -> Result<Reply, JsValue> {
    let field = |name: &str| js_sys::Reflect::get(probe, &name.into());
    let text = |name: &str| field(name).ok().and_then(|v| v.as_string());
    let status = field("status")?
        .as_f64()
        .filter(|s| (0.0..1000.0).contains(s))
        .ok_or_else(|| plain_error("The probe's status is not an HTTP status."))? as u16;
    let body = field("body")?;
    if !body.is_instance_of::<js_sys::Uint8Array>() {
        return Err(plain_error("The probe's body is not a Uint8Array."));
    }
    Ok(Reply {
        status,
        content_range: text("contentRange"),
        etag: text("etag"),
        body: js_sys::Uint8Array::new(&body).to_vec(),
    })
}
