// Wires the page: drops, the file picker and the sample go to the worker (through bridge.js); the
// pixels that come back are put on the canvas. Parsing, scaling and layout all happen in the module.
import { CheckpointBridge } from './bridge.js';

const SAMPLE_URL = 'samples/dinov2-vits14-patch-embed.npz';

const $ = (id) => document.getElementById(id);
const ui = {
  fileInput: $('file-input'), pickButton: $('pick-button'),
  sampleButton: $('sample-button'), alert: $('alert'), status: $('status'), controls: $('controls'),
  tensor: $('tensor'), count: $('count'), columns: $('columns'), zoom: $('zoom'), gap: $('gap'),
  gapColor: $('gap-color'), download: $('download'), canvas: $('grid'), emptyNote: $('empty-note'),
};
const bridge = new CheckpointBridge(new URL('./worker.js', import.meta.url));

let shown = null; // { checkpoint, grid }: what the canvas shows now, or null
let tensorList = null; // the open checkpoint's TensorInfo[], once listed
let openSeq = 0; // bumps on every open, so a slow sample fetch cannot overwrite a later drop

// ---- options -------------------------------------------------------------------------------------

/** A whole number from a number input, clamped to its min/max; null while the field is invalid. */
function whole(input) {
  const value = Number(input.value);
  if (input.value === '' || !Number.isInteger(value)) return null;
  return Math.min(Math.max(value, Number(input.min)), Number(input.max));
}

/** The controls as RenderOptions; a field being edited (empty or not whole) is left to the default. */
function renderOptions() {
  const fields = {
    count: whole(ui.count), columns: whole(ui.columns), zoom: whole(ui.zoom), gap: whole(ui.gap),
    gapColor: ui.gapColor.value, tensor: ui.tensor.value || null,
  };
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== null));
}

/** True when every number field holds a whole number, i.e. a redraw would show what the controls say. */
const controlsComplete = () => [ui.count, ui.columns, ui.zoom, ui.gap].every((input) => whole(input) !== null);

// ---- status, alert, canvas ----------------------------------------------------------------------

const STATUS_FIELDS = ['file', 'format', 'tensor', 'dtype', 'shape', 'filtersShown', 'filtersTotal',
  'bytesRead', 'reads', 'fileSize', 'ms', 'openMs', 'listMs', 'renderMs', 'wasmMemory'];

function setStatus(state, text, data = {}) {
  ui.status.dataset.state = state;
  ui.status.textContent = text;
  for (const key of STATUS_FIELDS) {
    if (data[key] === undefined) delete ui.status.dataset[key];
    else ui.status.dataset[key] = String(data[key]);
  }
}

function showAlert(message) {
  ui.alert.textContent = message;
  ui.alert.hidden = false;
}

function clearAlert() {
  ui.alert.textContent = '';
  ui.alert.hidden = true;
}

function humanBytes(n) {
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let value = n;
  let unit = -1;
  while (value >= 1000 && unit < units.length - 1) { value /= 1000; unit += 1; }
  return `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}

const dims = (shape) => shape.join('×');

function clearGrid() {
  shown = null;
  ui.canvas.width = 0;
  ui.canvas.height = 0;
  ui.canvas.setAttribute('aria-label', 'No grid drawn');
  ui.emptyNote.hidden = false;
  ui.download.disabled = true;
}

/**
 * Fills the tensor picker. Until the full list arrives (`tensors` null) it shows just the drawn tensor;
 * `data-listed` on the select says which: 'none', 'pending' or 'done'.
 */
function fillTensorList(tensors, selected) {
  const known = tensors ?? (selected ? [{ name: selected, drawable: true }] : []);
  const options = known.map((t) => {
    const label = t.dtype ? `${t.name} — ${t.dtype} ${dims(t.shape)}` : t.name;
    const option = new Option(t.drawable ? label : `${label} (${t.reason ?? 'not drawable'})`, t.name);
    option.disabled = !t.drawable;
    if (!t.drawable) option.title = t.reason ?? 'This tensor cannot be drawn as filters.';
    return option;
  });
  ui.tensor.replaceChildren(...options);
  ui.tensor.value = selected ?? '';
  ui.tensor.disabled = !tensors || !options.some((o) => !o.disabled);
  ui.tensor.dataset.listed = tensors ? 'done' : selected ? 'pending' : 'none';
}

function draw(reply, started) {
  const { grid, checkpoint } = reply;
  ui.canvas.width = grid.width;
  ui.canvas.height = grid.height;
  const context = ui.canvas.getContext('2d');
  context.putImageData(new ImageData(new Uint8ClampedArray(reply.rgba), grid.width, grid.height), 0, 0);
  const ms = Math.round(performance.now() - started);

  shown = { checkpoint, grid };
  if (tensorList) ui.tensor.value = grid.tensor;
  else fillTensorList(null, grid.tensor);
  ui.emptyNote.hidden = true;
  ui.download.disabled = false;
  ui.canvas.setAttribute('aria-label',
    `Grid of ${grid.filtersShown} filters from ${grid.tensor}, ${grid.columns} columns by ${grid.rows} rows`);
  const text = [
    checkpoint.name, grid.tensor, grid.dtype, dims(grid.shape),
    `${grid.filtersShown} of ${grid.filtersTotal} filters`,
    `read ${humanBytes(reply.bytesRead)} of ${humanBytes(checkpoint.fileSize)}`, `${ms} ms`,
  ].join(' · ');
  setStatus('ready', text, {
    file: checkpoint.name, format: checkpoint.format, tensor: grid.tensor, dtype: grid.dtype,
    shape: grid.shape.join(','), filtersShown: grid.filtersShown, filtersTotal: grid.filtersTotal,
    bytesRead: reply.bytesRead, reads: reply.reads, fileSize: checkpoint.fileSize, ms,
    openMs: reply.timings.openMs?.toFixed(1), renderMs: reply.timings.renderMs.toFixed(1), wasmMemory: reply.wasmMemory,
  });
}

// ---- opening and rendering ----------------------------------------------------------------------

async function openFile(file, started, seq = ++openSeq) {
  clearAlert();
  clearGrid();
  tensorList = null;
  fillTensorList(null); // the new file's tensors replace the old ones; render its default first
  setStatus('busy', `Opening ${file.name}…`, { file: file.name });
  const reply = await bridge.open(file, renderOptions());
  if (reply.superseded || seq !== openSeq) return;
  if (reply.ok) {
    draw(reply, started);
    listTensors(seq); // after the pixels: listing a big npz reads every entry's header
    return;
  }
  tensorList = reply.tensors ?? null;
  fillTensorList(tensorList ?? []);
  const count = reply.tensors?.length;
  const listed = reply.tensors ? ` (${count} ${count === 1 ? 'tensor' : 'tensors'} listed, none drawn)` : '';
  setStatus('error', `Could not draw ${file.name}${listed}.`, { file: file.name });
  showAlert(reply.message);
}

async function listTensors(seq) {
  const reply = await bridge.list();
  if (reply.superseded || seq !== openSeq) return;
  if (!reply.ok) {
    showAlert(reply.message);
    return;
  }
  tensorList = reply.tensors;
  fillTensorList(tensorList, shown?.grid.tensor);
  ui.status.dataset.listMs = reply.timings.listMs.toFixed(1);
}

async function rerender() {
  if (!shown || !controlsComplete()) return;
  const options = renderOptions();
  const started = performance.now();
  const seq = openSeq;
  ui.status.dataset.state = 'busy';
  const reply = await bridge.render(options);
  if (reply.superseded || seq !== openSeq) return;
  if (reply.ok) {
    clearAlert();
    draw(reply, started);
  } else if (reply.fatal || !reply.checkpoint) {
    clearGrid();
    tensorList = null;
    fillTensorList(null);
    setStatus('error', 'No checkpoint open: the reader stopped. Open the file again.');
    showAlert(reply.message);
  } else {
    // The previous grid stays, and so does the status describing it.
    ui.status.dataset.state = 'ready';
    showAlert(reply.message);
  }
}

async function openSample(started) {
  const seq = ++openSeq;
  const name = SAMPLE_URL.split('/').pop();
  clearAlert();
  setStatus('busy', `Fetching the sample ${name}…`);
  let file;
  try {
    const response = await fetch(SAMPLE_URL);
    if (!response.ok) throw new Error(`the server answered ${response.status} ${response.statusText}`.trim());
    file = new File([await response.blob()], name, { type: 'application/octet-stream' });
  } catch (error) {
    if (seq !== openSeq) return;
    clearGrid();
    setStatus('error', 'No checkpoint open.');
    showAlert(`The sample could not be loaded: ${error.message}.`);
    return;
  }
  if (seq === openSeq) openFile(file, started, seq);
}

// ---- events -------------------------------------------------------------------------------------

ui.pickButton.addEventListener('click', () => ui.fileInput.click());
ui.fileInput.addEventListener('change', (event) => {
  const file = ui.fileInput.files[0];
  if (file) openFile(file, event.timeStamp);
  ui.fileInput.value = ''; // so picking the same file again still fires change
});
ui.sampleButton.addEventListener('click', (event) => openSample(event.timeStamp));

ui.controls.addEventListener('submit', (event) => event.preventDefault());
ui.controls.addEventListener('input', rerender);
ui.tensor.addEventListener('input', rerender);

ui.download.addEventListener('click', () => {
  if (!shown) return;
  const stem = shown.checkpoint.name.replace(/\.[^.]+$/, '') || 'checkpoint';
  const name = `${stem}-${shown.grid.tensor}.png`.replace(/[^\w.-]+/g, '_');
  ui.canvas.toBlob((blob) => {
    if (!blob) { showAlert('The PNG could not be made from this canvas.'); return; }
    const link = document.createElement('a');
    link.href = URL.createObjectURL(blob);
    link.download = name;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
  }, 'image/png');
});

// Drops anywhere on the page. dragenter/dragleave fire for every child, hence the depth count.
let dragDepth = 0;
const dragging = (on) => document.body.classList.toggle('dragging', on);
document.addEventListener('dragenter', (event) => {
  event.preventDefault();
  dragDepth += 1;
  dragging(true);
});
document.addEventListener('dragover', (event) => {
  event.preventDefault();
  if (event.dataTransfer) event.dataTransfer.dropEffect = 'copy';
});
document.addEventListener('dragleave', () => {
  dragDepth = Math.max(0, dragDepth - 1);
  if (dragDepth === 0) dragging(false);
});
document.addEventListener('drop', (event) => {
  event.preventDefault();
  dragDepth = 0;
  dragging(false);
  const entry = event.dataTransfer?.items?.[0]?.webkitGetAsEntry?.();
  const file = event.dataTransfer?.files?.[0];
  if (entry?.isDirectory) showAlert('That is a folder; drop a single checkpoint file.');
  else if (!file) showAlert('Only files can be opened: drop a checkpoint file from your computer.');
  else openFile(file, event.timeStamp);
});

// The module compiles while the sample downloads. `?sample=none` skips the sample (the benchmark uses it).
bridge.onReady = () => { document.documentElement.dataset.module = 'ready'; };
bridge.warm();
if (new URLSearchParams(location.search).get('sample') !== 'none') openSample(performance.now());
