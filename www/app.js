// Wires the page: drops, the file picker and the sample go to the worker (through bridge.js); the
// pixels that come back are put on each panel's canvas. Parsing, scaling and layout all happen in the module.
// One panel per checkpoint among the files opened together (the shards of one checkpoint share a panel).
import { CheckpointBridge } from './bridge.js';

const SAMPLE_URL = 'samples/dinov2-vits14-patch-embed.npz';

const $ = (id) => document.getElementById(id);
const ui = {
  fileInput: $('file-input'), pickButton: $('pick-button'), sampleButton: $('sample-button'),
  controls: $('controls'), panels: $('panels'),
  count: $('count'), columns: $('columns'), zoom: $('zoom'), gap: $('gap'), gapColor: $('gap-color'),
  download: $('download'),
};
const bridge = new CheckpointBridge(new URL('./worker.js', import.meta.url));

/**
 * The panels on the page, in order; panel 0 is the static one in index.html (its elements keep their ids).
 * Each: { section, head, title, headDownload, alert, status, tensor, layout, notes, canvas, emptyNote,
 *         shown: { checkpoint, grid } | null, tensorList: TensorInfo[] | null }
 */
const panels = [panelOf(document.querySelector('.panel[data-panel="0"]'))];
const template = panels[0].section.cloneNode(true); // pristine copy for further panels
let openSeq = 0; // bumps on every open, so a slow sample fetch cannot overwrite a later drop

function panelOf(section) {
  const q = (selector) => section.querySelector(selector);
  const panel = {
    section, head: q('.panel-head'), title: q('.panel-title'), headDownload: q('.panel-download'),
    alert: q('.alert'), status: q('.status'), tensor: q('.tensor'), layout: q('.layout'), notes: q('.notes'),
    canvas: q('.grid'), emptyNote: q('.empty-note'), shown: null, tensorList: null,
  };
  panel.tensor.addEventListener('input', () => rerender());
  panel.layout.addEventListener('input', () => rerender());
  panel.headDownload.addEventListener('click', () => download(panel));
  return panel;
}

/** Makes exactly `count` panels: extra ones are copies of the first without ids; surplus ones go. */
function setPanelCount(count) {
  while (panels.length > Math.max(count, 1)) panels.pop().section.remove();
  while (panels.length < count) {
    const section = template.cloneNode(true);
    section.dataset.panel = String(panels.length);
    section.querySelectorAll('[id]').forEach((el) => el.removeAttribute('id'));
    ui.panels.append(section);
    panels.push(panelOf(section));
  }
  for (const panel of panels) panel.head.hidden = panels.length < 2;
}

// ---- options -------------------------------------------------------------------------------------

/** A whole number from a number input, clamped to its min/max; null while the field is invalid. */
function whole(input) {
  const value = Number(input.value);
  if (input.value === '' || !Number.isInteger(value)) return null;
  return Math.min(Math.max(value, Number(input.min)), Number(input.max));
}

/** The shared controls plus a panel's tensor and layout as RenderOptions; fields being edited are left out. */
function renderOptions(panel) {
  const fields = {
    count: whole(ui.count), columns: whole(ui.columns), zoom: whole(ui.zoom), gap: whole(ui.gap),
    gapColor: ui.gapColor.value, tensor: panel?.tensor.value || null, layout: panel?.layout.value || null,
  };
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== null));
}

/** True when every number field holds a whole number, i.e. a redraw would show what the controls say. */
const controlsComplete = () => [ui.count, ui.columns, ui.zoom, ui.gap].every((input) => whole(input) !== null);

// ---- status, alert, canvas ----------------------------------------------------------------------

const STATUS_FIELDS = ['file', 'format', 'tensor', 'dtype', 'shape', 'layout', 'filtersShown', 'filtersTotal',
  'bytesRead', 'reads', 'fileSize', 'ms', 'openMs', 'listMs', 'renderMs', 'wasmMemory'];

function setStatus(panel, state, text, data = {}) {
  panel.status.dataset.state = state;
  panel.status.textContent = text;
  for (const key of STATUS_FIELDS) {
    if (data[key] === undefined) delete panel.status.dataset[key];
    else panel.status.dataset[key] = String(data[key]);
  }
}

function showAlert(panel, message) {
  panel.alert.textContent = message;
  panel.alert.hidden = false;
}

function clearAlert(panel) {
  panel.alert.textContent = '';
  panel.alert.hidden = true;
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

function clearGrid(panel) {
  panel.shown = null;
  panel.canvas.width = 0;
  panel.canvas.height = 0;
  panel.canvas.setAttribute('aria-label', 'No grid drawn');
  panel.emptyNote.hidden = false;
  panel.headDownload.disabled = true;
  if (panel === panels[0]) ui.download.disabled = true;
}

function showNotes(panel, checkpoint) {
  const notes = [...(checkpoint?.notes ?? [])];
  if (checkpoint?.defaultTensor && checkpoint.defaultReason) {
    notes.unshift(`Drawn by default: ${checkpoint.defaultTensor}, ${checkpoint.defaultReason}.`);
  }
  panel.notes.replaceChildren(...notes.map((text) => Object.assign(document.createElement('li'), { textContent: text })));
  panel.notes.hidden = notes.length === 0;
}

/**
 * Fills a panel's tensor picker. Until the full list arrives (`tensors` null) it shows just the drawn
 * tensor; `data-listed` on the select says which: 'none', 'pending' or 'done'.
 */
function fillTensorList(panel, tensors, selected) {
  const known = tensors ?? (selected ? [{ name: selected, drawable: true }] : []);
  const options = known.map((t) => {
    let label = t.dtype ? `${t.name} — ${t.dtype} ${dims(t.shape)}` : t.name;
    if (t.layoutInferred) label += ` (read as ${t.layout.toUpperCase()})`;
    const option = new Option(t.drawable ? label : `${label} (${t.reason ?? 'not drawable'})`, t.name);
    option.disabled = !t.drawable;
    option.title = t.drawable ? (t.recognized ?? '') : (t.reason ?? 'This tensor cannot be drawn as filters.');
    return option;
  });
  panel.tensor.replaceChildren(...options);
  panel.tensor.value = selected ?? '';
  panel.tensor.disabled = !tensors || !options.some((o) => !o.disabled);
  panel.tensor.dataset.listed = tensors ? 'done' : selected ? 'pending' : 'none';
}

function draw(panel, reply, started) {
  const { grid, checkpoint } = reply;
  panel.canvas.width = grid.width;
  panel.canvas.height = grid.height;
  const context = panel.canvas.getContext('2d');
  context.putImageData(new ImageData(new Uint8ClampedArray(reply.rgba), grid.width, grid.height), 0, 0);
  const ms = Math.round(performance.now() - started);

  panel.shown = { checkpoint, grid };
  panel.section.classList.remove('failed');
  panel.title.textContent = checkpoint.name;
  if (panel.tensorList) panel.tensor.value = grid.tensor;
  else fillTensorList(panel, null, grid.tensor);
  showNotes(panel, checkpoint);
  panel.emptyNote.hidden = true;
  panel.headDownload.disabled = false;
  if (panel === panels[0]) ui.download.disabled = false;
  panel.canvas.setAttribute('aria-label',
    `Grid of ${grid.filtersShown} filters from ${grid.tensor}, ${grid.columns} columns by ${grid.rows} rows`);
  const files = checkpoint.files?.length > 1 ? ` (${checkpoint.files.length} files)` : '';
  const text = [
    `${checkpoint.name}${files}`, checkpoint.format, grid.tensor, grid.dtype, dims(grid.shape),
    `${grid.filtersShown} of ${grid.filtersTotal} filters`,
    `read ${humanBytes(reply.bytesRead)} of ${humanBytes(checkpoint.fileSize)}`, `${ms} ms`,
  ].join(' · ');
  setStatus(panel, 'ready', text, {
    file: checkpoint.name, format: checkpoint.format, tensor: grid.tensor, dtype: grid.dtype,
    shape: grid.shape.join(','), layout: grid.layout, filtersShown: grid.filtersShown, filtersTotal: grid.filtersTotal,
    bytesRead: reply.bytesRead, reads: reply.reads, fileSize: checkpoint.fileSize, ms,
    openMs: reply.timings.openMs?.toFixed(1), renderMs: reply.timings.renderMs.toFixed(1), wasmMemory: reply.wasmMemory,
  });
}

/** Shows a panel whose checkpoint could not be opened or drawn. */
function showFailure(panel, reply) {
  // Among several panels, one that could not even list its tensors is just its error.
  panel.section.classList.toggle('failed', panels.length > 1 && !reply.tensors);
  panel.tensorList = reply.tensors ?? null;
  fillTensorList(panel, panel.tensorList ?? []);
  panel.title.textContent = reply.label ?? '';
  showNotes(panel, reply.checkpoint);
  const count = reply.tensors?.length;
  const listed = reply.tensors ? ` (${count} ${count === 1 ? 'tensor' : 'tensors'} listed, none drawn)` : '';
  setStatus(panel, 'error', `Could not draw ${reply.label}${listed}.`, { file: reply.label });
  showAlert(panel, reply.message);
}

// ---- opening and rendering ----------------------------------------------------------------------

async function openFiles(files, started, seq = ++openSeq) {
  const first = panels[0];
  setPanelCount(1);
  clearAlert(first);
  clearGrid(first);
  first.tensorList = null;
  first.layout.value = '';
  fillTensorList(first, null); // the new file's tensors replace the old ones; render its default first
  showNotes(first, null);
  const names = files.map((f) => f.name).join(', ');
  setStatus(first, 'busy', `Opening ${names}…`, { file: files.length === 1 ? files[0].name : undefined });
  const reply = await bridge.open(files, renderOptions(null));
  if (reply.superseded || seq !== openSeq) return;
  if (!reply.ok) {
    setStatus(first, 'error', `Could not open ${names}.`);
    showAlert(first, reply.message);
    return;
  }
  setPanelCount(reply.panels.length);
  reply.panels.forEach((panelReply, i) => {
    const panel = panels[i];
    if (i > 0) { clearGrid(panel); clearAlert(panel); panel.tensorList = null; }
    if (panelReply.ok) {
      draw(panel, panelReply, started);
      listTensors(panel, i, seq); // after the pixels: listing a big npz reads every entry's header
    } else {
      showFailure(panel, panelReply);
    }
  });
}

async function listTensors(panel, index, seq) {
  const reply = await bridge.list(index);
  if (reply.superseded || seq !== openSeq) return;
  if (!reply.ok) {
    showAlert(panel, reply.message);
    return;
  }
  panel.tensorList = reply.tensors;
  fillTensorList(panel, panel.tensorList, panel.shown?.grid.tensor);
  panel.status.dataset.listMs = reply.timings.listMs.toFixed(1);
}

async function rerender() {
  const live = panels.map((panel, i) => ({ panel, i })).filter(({ panel }) => panel.shown);
  if (live.length === 0 || !controlsComplete()) return;
  const started = performance.now();
  const seq = openSeq;
  for (const { panel } of live) panel.status.dataset.state = 'busy';
  const reply = await bridge.render(live.map(({ panel, i }) => ({ panel: i, options: renderOptions(panel) })));
  if (reply.superseded || seq !== openSeq) return;
  if (!reply.ok) {
    for (const { panel } of live) {
      clearGrid(panel);
      panel.tensorList = null;
      fillTensorList(panel, null);
      setStatus(panel, 'error', 'No checkpoint open: the reader stopped. Open the file again.');
    }
    showAlert(panels[0], reply.message);
    return;
  }
  for (const panelReply of reply.panels) {
    const panel = panels[panelReply.panel];
    if (!panel) continue;
    if (panelReply.ok) {
      clearAlert(panel);
      draw(panel, panelReply, started);
    } else {
      // The previous grid stays, and so does the status describing it.
      panel.status.dataset.state = 'ready';
      showAlert(panel, panelReply.message);
    }
  }
}

async function openSample(started) {
  const seq = ++openSeq;
  const name = SAMPLE_URL.split('/').pop();
  const first = panels[0];
  clearAlert(first);
  setStatus(first, 'busy', `Fetching the sample ${name}…`);
  let file;
  try {
    const response = await fetch(SAMPLE_URL);
    if (!response.ok) throw new Error(`the server answered ${response.status} ${response.statusText}`.trim());
    file = new File([await response.blob()], name, { type: 'application/octet-stream' });
  } catch (error) {
    if (seq !== openSeq) return;
    clearGrid(first);
    setStatus(first, 'error', 'No checkpoint open.');
    showAlert(first, `The sample could not be loaded: ${error.message}.`);
    return;
  }
  if (seq === openSeq) openFiles([file], started, seq);
}

function download(panel) {
  if (!panel.shown) return;
  const stem = panel.shown.checkpoint.name.replace(/\.[^.]+$/, '') || 'checkpoint';
  const name = `${stem}-${panel.shown.grid.tensor}.png`.replace(/[^\w.-]+/g, '_');
  panel.canvas.toBlob((blob) => {
    if (!blob) { showAlert(panel, 'The PNG could not be made from this canvas.'); return; }
    const link = document.createElement('a');
    link.href = URL.createObjectURL(blob);
    link.download = name;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
  }, 'image/png');
}

// ---- events -------------------------------------------------------------------------------------

ui.pickButton.addEventListener('click', () => ui.fileInput.click());
ui.fileInput.addEventListener('change', (event) => {
  const files = [...ui.fileInput.files];
  if (files.length > 0) openFiles(files, event.timeStamp);
  ui.fileInput.value = ''; // so picking the same file again still fires change
});
ui.sampleButton.addEventListener('click', (event) => openSample(event.timeStamp));

ui.controls.addEventListener('submit', (event) => event.preventDefault());
ui.controls.addEventListener('input', () => rerender());
ui.download.addEventListener('click', () => download(panels[0]));

/** The files inside a dropped folder (its top level: a model folder holds its shards and index there). */
function folderFiles(entry) {
  return new Promise((resolve) => {
    const reader = entry.createReader();
    const entries = [];
    const more = () => reader.readEntries((batch) => {
      if (batch.length === 0) {
        const files = entries.filter((e) => e.isFile && !e.name.startsWith('.'));
        Promise.all(files.map((e) => new Promise((ok) => e.file(ok, () => ok(null)))))
          .then((list) => resolve(list.filter(Boolean)));
        return;
      }
      entries.push(...batch);
      more();
    }, () => resolve([]));
    more();
  });
}

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
document.addEventListener('drop', async (event) => {
  event.preventDefault();
  dragDepth = 0;
  dragging(false);
  const started = event.timeStamp;
  // Entries must be taken while the event is being handled; their contents can be read later.
  const items = [...(event.dataTransfer?.items ?? [])].map((item) => item.webkitGetAsEntry?.()).filter(Boolean);
  const files = [...(event.dataTransfer?.files ?? [])];
  const folders = items.filter((entry) => entry.isDirectory);
  const dropped = folders.length > 0
    ? [...files.filter((f) => !folders.some((d) => d.name === f.name)), ...(await Promise.all(folders.map(folderFiles))).flat()]
    : files;
  if (dropped.length === 0) showAlert(panels[0], 'Only files can be opened: drop checkpoint files or a folder from your computer.');
  else openFiles(dropped, started);
});

// The module compiles while the sample downloads. `?sample=none` skips the sample (the benchmark uses it).
bridge.onReady = () => { document.documentElement.dataset.module = 'ready'; };
bridge.warm();
if (new URLSearchParams(location.search).get('sample') !== 'none') openSample(performance.now());
