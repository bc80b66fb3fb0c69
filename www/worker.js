// Runs the patchlens module off the main thread: holds the open checkpoints (one per panel), renders
// grids and posts back RGBA pixels (transferred, not copied). The message protocol is in bridge.js.
//
// Two builds of the same crate: the small first module (patchlens_lite: .npz and .npy, the filters view) draws
// the page's sample while the full one (every format, view and URL mode) loads after it; every other request
// waits for the full one, and what the first module opened is opened again in the full one once it is in.
import initLite, { Checkpoint as LiteCheckpoint } from './pkg/patchlens_lite.js';
import initFull, { Checkpoint } from './pkg/patchlens.js';
import { urlName } from './names.js';

const modules = { lite: null, full: null }; // each module's exports once loaded, for its memory size
let loadFailed = false; // this worker is useless then; the page starts a new one for the next file
const liteReady = initLite().then((exports) => { modules.lite = exports; });
let fullLoading = null;
/** Loads the full module (once). */
function fullReady() {
  fullLoading ??= liteReady.catch(() => {}).then(() => initFull()).then(
    (exports) => { modules.full = exports; setTimeout(moveToFullModule, 0); },
    (error) => {
      loadFailed = true;
      throw new Error(`The patchlens module could not be loaded (${error?.message ?? error}).`);
    },
  );
  return fullLoading;
}
// The full module loads once the first is in and the worker is idle — after the sample is drawn, on a first
// visit — so the two do not compete for the network and the CPU; a request that needs it loads it at once.
let inFlight = 0;
const startFullWhenIdle = () => { if (inFlight === 0) fullReady().catch(() => {}); };
liteReady.then(startFullWhenIdle, startFullWhenIdle);
// Tell the page once a module is compiled; a failure is reported on the first request instead.
liteReady.catch(() => fullReady()).then(() => self.postMessage({ type: 'ready', wasmMemory: wasmMemory() }), () => {});

/** The bytes of memory the loaded modules hold. */
const wasmMemory = () => (modules.lite?.memory?.buffer.byteLength ?? 0) + (modules.full?.memory?.buffer.byteLength ?? 0);

/** One per panel: { label, files, checkpoint: Checkpoint | null, error?: string, sources?: File[] (what the first
 *  module opened, to open again in the full one) }. */
let panels = [];

const TENSOR_FIELDS = ['name', 'dtype', 'shape', 'drawable', 'reason', 'layout', 'layoutInferred', 'recognized', 'unreadBytes'];
const GRID_FIELDS = ['width', 'height', 'tensor', 'dtype', 'shape', 'layout', 'filterShape',
  'filtersShown', 'filtersTotal', 'columns', 'rows', 'zoom', 'gap', 'adjustments', 'normalize', 'channels', 'order',
  'caption', 'shown', 'tiles', 'view', 'reason', 'mode', 'extraTokens', 'gridRows', 'gridCols', 'tokensReason', 'colorbar',
  'components', 'explainedVarianceRatio', 'values'];

// Copies named fields into a plain object: works whether the module returns plain objects or classes.
const pick = (source, fields) => Object.fromEntries(fields.map((f) => [f, source[f]]).filter(([, v]) => v !== undefined));

const summary = (panel) => panel.checkpoint && {
  name: panel.label, files: panel.files, format: panel.checkpoint.format, fileSize: panel.checkpoint.fileSize,
  defaultTensor: panel.checkpoint.defaultTensor, defaultReason: panel.checkpoint.defaultReason,
  notes: panel.checkpoint.notes, url: panel.url, wholeDownload: panel.download?.whole ?? false,
};

// For npz, listing reads every entry's header (nearby ones together, still ~80 reads for a ViT-B),
// so it is a request of its own that the page sends after the first pixels are up.
const listTensors = (panel) => panel.checkpoint.tensors().map((t) => pick(t, TENSOR_FIELDS));

/** The list a page shows first: every tensor, or for an `.npz` from S3 or GCS — where every header group is a
 *  request of its own (78 for an AugReg B/16) — the names and sizes of the zip directory already read, with the
 *  number of requests (`unreadRequests`) that reading every shape would take. */
function firstListing(panel) {
  const plan = panel.checkpoint.listingPlan?.();
  if (!plan?.ranges.length) return { tensors: listTensors(panel), unreadRequests: 0 };
  return { tensors: panel.checkpoint.tensorsRead().map((t) => pick(t, TENSOR_FIELDS)), unreadRequests: plan.ranges.length };
}

/** Runs `work` and returns its result with the time it took. */
function measured(work) {
  const started = performance.now();
  const result = work();
  return { result, ms: performance.now() - started };
}

/** How much of the panel's file(s) has been read since opening: distinct bytes, and the number of reads; for a
 *  URL, also the requests made and the bytes that crossed the network. */
const readStats = (panel) => ({
  bytesRead: panel.checkpoint.bytesRead, reads: panel.checkpoint.reads,
  requests: panel.download?.requests ?? panel.checkpoint.requests, networkBytes: panel.download?.bytes ?? panel.checkpoint.networkBytes,
});

// ---- URLs ------------------------------------------------------------------------------------------

/** The first request for a URL: its head, which also tells its size (the module's PROBE_BYTES). */
const PROBE_RANGE = 'bytes=0-65535';
/** The page hears about a whole-file download at most this often. */
const PROGRESS_EVERY_MS = 100;

let download = null; // { controller } while a server's whole file is being fetched, so the page can cancel it


/**
 * Opens what was typed: a file's URL by `openUrl` below; a Hugging Face model id or page through the module,
 * which reads the hub's file list and then only the ranges it needs. One panel record per checkpoint.
 */
async function openInput(input, id, hub) {
  const target = Checkpoint.targetOf(input, hub);
  if (target?.kind === 'file') {
    const opened = await openUrl(target.url, id);
    return [{ label: opened.label, files: [target.url], url: target.url, checkpoint: opened.checkpoint, download: opened.download }];
  }
  return Checkpoint.openTarget(input, hub).map((o) => ({
    label: o.label, files: o.files, url: input, checkpoint: o.checkpoint ?? null, error: o.error,
  }));
}

/**
 * Opens one URL: asks for its head with `fetch` (which, unlike the module's synchronous requests, can stream);
 * a server that answers with ranges hands the rest to `Checkpoint.openUrl`, one that sends the whole file is
 * downloaded with progress reports (`{ type: 'progress', id, url, received, total }`) and read from memory.
 */
async function openUrl(url, id) {
  const label = urlName(url);
  let response;
  try {
    response = await fetch(url, { headers: { Range: PROBE_RANGE }, cache: 'no-store' });
  } catch {
    // No readable reply. Asked again without reading it (no-cors): an answer means the server refused this page.
    const check = new AbortController();
    const refused = await fetch(url, { mode: 'no-cors', cache: 'no-store', signal: check.signal }).then(() => true, () => false);
    check.abort();
    throw Checkpoint.noReplyError(url, refused ? 'refused' : 'unreached');
  }
  if (response.status === 200) return { label, ...(await downloadWhole(response, url, id)) };
  const body = new Uint8Array(await response.arrayBuffer());
  const probe = { status: response.status, contentRange: response.headers.get('Content-Range'), etag: response.headers.get('ETag'), body };
  // Later reads go where the first was redirected (a hub's CDN), skipping the redirect.
  return { label, checkpoint: Checkpoint.openUrl(response.url || url, probe) };
}

/**
 * Before an `.npz` by URL lists its tensors from a server that answers several ranges with the whole file (S3,
 * GCS), fetches the single ranges the listing will ask for (`listingPlan`) all at once — the browser runs 6 per
 * host on HTTP/1.1, all on HTTP/2 — and hands each reply to the module (`provideReply`), so the synchronous
 * listing waits one round trip, not one per range. A fetch that fails is not handed in: the listing asks for
 * that range itself, and says what is wrong.
 */
async function provideListing(checkpoint, plan) {
  if (!plan?.ranges.length) return;
  await Promise.all(plan.ranges.map(async (range) => {
    try {
      const response = await fetch(plan.url, { headers: { Range: range }, cache: 'no-store' });
      // Only a range is read: a whole file (a server that stopped reading ranges) or an error is handed in
      // without its body, and the module's checks of the status say what is wrong, as for its own request.
      const body = response.status === 206 ? new Uint8Array(await response.arrayBuffer()) : new Uint8Array(0);
      if (response.status !== 206) response.body?.cancel().catch(() => {});
      const headers = response.headers;
      checkpoint.provideReply(range, { status: response.status, contentRange: headers.get('Content-Range'), etag: headers.get('ETag'), body });
    } catch { /* asked for again by the listing */ }
  }));
}

/** Streams a whole file from a server that ignores ranges, reporting progress; the page may cancel it. */
async function downloadWhole(response, url, id) {
  const total = Number(response.headers.get('Content-Length')) || null;
  const controller = new AbortController();
  download = { controller };
  const chunks = [];
  let received = 0;
  let reported = 0;
  const reader = response.body.getReader();
  controller.signal.addEventListener('abort', () => reader.cancel().catch(() => {}));
  try {
    self.postMessage({ type: 'progress', id, url, received, total });
    for (;;) {
      const { done, value } = await reader.read();
      if (controller.signal.aborted) throw new Error(`The download of ${urlName(url)} was cancelled.`);
      if (done) break;
      chunks.push(value);
      received += value.byteLength;
      if (performance.now() - reported > PROGRESS_EVERY_MS) {
        reported = performance.now();
        self.postMessage({ type: 'progress', id, url, received, total });
      }
    }
  } catch (error) {
    if (controller.signal.aborted) throw new Error(`The download of ${urlName(url)} was cancelled.`);
    throw Checkpoint.noReplyError(url, 'broke');
  } finally {
    download = null;
  }
  self.postMessage({ type: 'progress', id, url, received, total });
  // A Blob keeps the bytes out of the module's memory; the module reads it by ranges, as a dropped file.
  return { checkpoint: Checkpoint.fromBlob(new Blob(chunks)), download: { requests: 1, bytes: received, whole: true } };
}

/** The difference of the first two panels' kernels (A − B), as a panel of its own. */
function renderDifference(options, transfer) {
  const [a, b] = panels;
  const base = { panel: 'difference', label: `${a?.label} − ${b?.label}`, files: [...(a?.files ?? []), ...(b?.files ?? [])] };
  if (!a?.checkpoint || !b?.checkpoint) return { ...base, ok: false, message: 'A difference needs two open checkpoints.' };
  try {
    const { result: grid, ms } = measured(() => a.checkpoint.renderDifference(b.checkpoint, options));
    const buffer = grid.rgba.slice().buffer;
    const info = { ...pick(grid, GRID_FIELDS), view: 'difference', similarity: [...grid.similarity] };
    transfer.push(buffer);
    const checkpoint = {
      name: base.label, files: base.files, format: 'difference', fileSize: a.checkpoint.fileSize + b.checkpoint.fileSize,
      defaultTensor: grid.tensor, defaultReason: null, notes: [],
    };
    return {
      ...base, ok: true, checkpoint, grid: info, rgba: buffer, bytesRead: a.checkpoint.bytesRead + b.checkpoint.bytesRead,
      reads: a.checkpoint.reads + b.checkpoint.reads, timings: { renderMs: ms }, wasmMemory: wasmMemory(),
    };
  } catch (error) {
    if (error instanceof WebAssembly.RuntimeError) throw error;
    return { ...base, ok: false, message: String(error?.message ?? error), checkpoint: null };
  }
}

function renderPanel(index, options, timings, transfer) {
  if (index === 'difference') return renderDifference(options, transfer);
  return renderOne(panels[index], index, options, timings, transfer);
}

/** Draws one panel's checkpoint: the reply for that panel, its pixels' buffer pushed onto `transfer`. */
function renderOne(panel, index, options, timings, transfer) {
  const base = { panel: index, label: panel?.label, files: panel?.files };
  if (!panel) return { ...base, ok: false, message: 'That panel is closed.' };
  if (!panel.checkpoint) return { ...base, ok: false, message: panel.error, errorName: panel.errorName, checkpoint: null };
  try {
    const { result: grid, ms } = measured(() => panel.checkpoint.render(options));
    const rgba = grid.rgba;
    // Transfer the buffer when the view owns all of it; otherwise transfer a copy.
    const buffer = rgba.byteOffset === 0 && rgba.byteLength === rgba.buffer.byteLength ? rgba.buffer : rgba.slice().buffer;
    const info = pick(grid, GRID_FIELDS);
    const steps = grid.steps;
    grid.free?.();
    transfer.push(buffer);
    return {
      ...base, ok: true, checkpoint: summary(panel), grid: info, rgba: buffer, ...readStats(panel),
      timings: { ...timings, renderMs: ms, steps }, wasmMemory: wasmMemory(),
    };
  } catch (error) {
    if (error instanceof WebAssembly.RuntimeError) throw error; // the module trapped: fatal for all
    // Opened but not drawable: still list what is inside, so the page can say why.
    let listing = {};
    try { listing = firstListing(panel); } catch { /* keep the error we have */ }
    return {
      ...base, ok: false, message: String(error?.message ?? error), errorName: error?.name, checkpoint: summary(panel), ...listing,
      ...readStats(panel),
    };
  }
}

function closeAll() {
  for (const panel of panels) panel.checkpoint?.free();
  panels = [];
}

/** Opens URLs and model ids, a panel each (a model: one per checkpoint in it); a failure is that panel's error. */
async function openUrls(urls, id, hub) {
  const fresh = [];
  for (const url of urls) {
    try {
      fresh.push(...(await openInput(url, id, hub)));
    } catch (error) {
      if (error instanceof WebAssembly.RuntimeError) throw error;
      fresh.push({ label: urlName(url), files: [url], url, checkpoint: null, error: String(error?.message ?? error), errorName: error?.name });
    }
  }
  return fresh;
}

/** The page's sample, opened by the first module (one panel per file; the sample is one `.npz`). */
const openWithFirstModule = (files) => files.map((file) => {
  try {
    return { label: file.name, files: [file.name], checkpoint: LiteCheckpoint.fromBlob(file), sources: [file] };
  } catch (error) {
    return { label: file.name, files: [file.name], checkpoint: null, error: String(error?.message ?? error) };
  }
});

/** Opens what the first module holds again in the full one (a few reads: the file's index and its kernel). */
function moveToFullModule() {
  for (const panel of panels) {
    if (!panel.sources || !modules.full) continue;
    const [opened] = Checkpoint.openFiles(panel.sources);
    panel.checkpoint?.free();
    Object.assign(panel, { checkpoint: opened?.checkpoint ?? null, error: opened?.error, sources: undefined });
  }
}

async function handle({ type, files, urls, hub, options, requests, panel, id, sample, everyShape }) {
  // The first module draws the filters view only: the sample under any other view waits for the full one.
  const filtersView = !options?.view || options.view === 'filters';
  const first = type === 'open' && sample && filtersView && !modules.full && (await liteReady.then(() => true, () => false));
  if (!first) {
    await fullReady();
    moveToFullModule();
  }
  if (type === 'open' || type === 'openUrls') {
    const started = performance.now();
    const readBefore = first ? 0 : Checkpoint.fileReadMs();
    const fresh = type === 'openUrls'
      ? await openUrls(urls, id, hub ?? undefined)
      : first ? openWithFirstModule(files)
      : Checkpoint.openFiles(files).map((o) => ({ label: o.label, files: o.files, checkpoint: o.checkpoint ?? null, error: o.error }));
    const openMs = performance.now() - started; // lazy: ranges only
    const openReadMs = first ? undefined : Checkpoint.fileReadMs() - readBefore; // of that, waiting on the file
    if (fresh.every((p) => !p.checkpoint)) {
      // Nothing opened: the checkpoints already open stay, so the page can keep showing them.
      const failures = fresh.map((p, i) => ({ panel: i, label: p.label, files: p.files, ok: false, message: p.error, errorName: p.errorName, checkpoint: null }));
      return { reply: { ok: true, replaced: false, panels: failures }, transfer: [] };
    }
    closeAll();
    panels = fresh;
    const transfer = [];
    const replies = panels.map((_, i) => renderPanel(i, options, { openMs, openReadMs }, transfer));
    return { reply: { ok: true, replaced: true, panels: replies }, transfer };
  }
  if (panels.length === 0) throw new Error('Open a checkpoint first.');
  if (type === 'render') {
    const transfer = [];
    const replies = requests.map((r) => renderPanel(r.panel, r.options, {}, transfer));
    return { reply: { ok: true, panels: replies }, transfer };
  }
  if (type === 'list') {
    const target = panels[panel];
    if (!target?.checkpoint) throw new Error('That panel has no open checkpoint.');
    const started = performance.now();
    let listing;
    if (everyShape) {
      await provideListing(target.checkpoint, target.checkpoint.listingPlan?.());
      // An open that came in meanwhile has freed this checkpoint: the page asks for the new one's list itself.
      if (panels[panel] !== target) throw new Error('That panel has no open checkpoint.');
      listing = { tensors: listTensors(target), unreadRequests: 0 };
    } else {
      listing = firstListing(target);
    }
    const timings = { listMs: performance.now() - started };
    return { reply: { ok: true, panel, ...listing, ...readStats(target), timings }, transfer: [] };
  }
  throw new Error(`Unknown request ${type}.`);
}

let warmed = false;
/**
 * Once the first checkpoint is drawn and the worker is idle, draws the module's made-up files (one per path
 * through its decoders, Checkpoint.warmUpFile) through the same code as a user's file, then runs the analysis
 * views and the formats' own loops (Checkpoint.warmUp). The engine optimises code only once it has run hot, so
 * without this the user's first file of each kind runs at baseline speed (about 4× slower). One file per task,
 * written when its turn comes: a file dropped meanwhile waits for one step at most, and the module's memory holds
 * one made-up file at a time.
 */
function warmUpSoon() {
  if (warmed) return;
  warmed = true;
  fullReady().then(() => setTimeout(() => warmUpStep(0), 0), () => {});
}

function warmUpStep(index) {
  let file;
  try {
    file = Checkpoint.warmUpFile(index);
  } catch { /* only an optimisation */ }
  if (!file) {
    try { Checkpoint.warmUp(); } catch { /* only an optimisation */ }
    return;
  }
  try {
    const checkpoint = Checkpoint.fromBytes(file.bytes);
    try {
      renderOne({ label: file.name, files: [file.name], checkpoint }, 0, file.options, {}, []);
    } finally {
      checkpoint.free();
    }
  } catch { /* only an optimisation */ }
  setTimeout(() => warmUpStep(index + 1), 0);
}

/** Milliseconds on the clock the page shares (bridge.js `clock`). */
const clock = () => performance.timeOrigin + performance.now();

self.onmessage = async ({ data }) => {
  const received = clock();
  if (data.type === 'cancel') { // answered by the download it stops
    download?.controller.abort();
    return;
  }
  inFlight += 1;
  try {
    const { reply, transfer } = await handle(data);
    const times = { sent: data.sentAt, received, replied: clock() };
    self.postMessage({ id: data.id, ...reply, clock: times }, transfer);
    if (reply.ok && (data.type === 'open' || data.type === 'openUrls')) warmUpSoon();
  } catch (error) {
    // A RuntimeError means the module trapped (a panic): its memory can no longer be trusted.
    const crashed = error instanceof WebAssembly.RuntimeError;
    const fatal = crashed || loadFailed;
    if (fatal) panels = [];
    const message = crashed
      ? 'The checkpoint reader crashed on this file; it will start afresh for the next one.'
      : String(error?.message ?? error);
    self.postMessage({ id: data.id, ok: false, message, fatal });
  } finally {
    inFlight -= 1;
    startFullWhenIdle();
  }
};
