// Runs the patchlens module off the main thread: holds the open Checkpoint, renders grids and posts
// back RGBA pixels (transferred, not copied). The message protocol is described in bridge.js.
import init, { Checkpoint } from './pkg/patchlens.js';

let wasm = null; // the module's exports, for reporting its memory size
let loadFailed = false; // this worker is useless then; the page starts a new one for the next file
const ready = init().then(
  (exports) => { wasm = exports; },
  (error) => {
    loadFailed = true;
    throw new Error(`The patchlens module could not be loaded (${error?.message ?? error}).`);
  },
);
// Tell the page once the module is compiled; a failure is reported on the first request instead.
ready.then(() => self.postMessage({ type: 'ready', wasmMemory: wasm?.memory?.buffer.byteLength }), () => {});

let checkpoint = null;
let fileName = '';

const TENSOR_FIELDS = ['name', 'dtype', 'shape', 'drawable', 'reason'];
const GRID_FIELDS = ['width', 'height', 'tensor', 'dtype', 'shape', 'filterShape',
  'filtersShown', 'filtersTotal', 'columns', 'rows'];

// Copies named fields into a plain object: works whether the module returns plain objects or classes.
const pick = (source, fields) => Object.fromEntries(fields.map((f) => [f, source[f]]).filter(([, v]) => v !== undefined));

const summary = () => checkpoint && {
  name: fileName, format: checkpoint.format, fileSize: checkpoint.fileSize, defaultTensor: checkpoint.defaultTensor,
};

// For npz, listing reads every entry's header (nearby ones together, still ~80 reads for a ViT-B),
// so it is a request of its own that the page sends after the first pixels are up.
const listTensors = () => checkpoint.tensors().map((t) => pick(t, TENSOR_FIELDS));

/** Runs `work` and returns its result with the time it took. */
function measured(work) {
  const started = performance.now();
  const result = work();
  return { result, ms: performance.now() - started };
}

/** How much of the file has been read since it was opened: distinct bytes, and the number of reads. */
const readStats = () => ({ bytesRead: checkpoint.bytesRead, reads: checkpoint.reads });

function render(options, timings) {
  const { result: grid, ms } = measured(() => checkpoint.render(options));
  const rgba = grid.rgba;
  // Transfer the buffer when the view owns all of it; otherwise transfer a copy.
  const buffer = rgba.byteOffset === 0 && rgba.byteLength === rgba.buffer.byteLength ? rgba.buffer : rgba.slice().buffer;
  const info = pick(grid, GRID_FIELDS);
  grid.free?.();
  return {
    reply: {
      ok: true, checkpoint: summary(), grid: info, rgba: buffer, ...readStats(),
      timings: { ...timings, renderMs: ms }, wasmMemory: wasm?.memory?.buffer.byteLength,
    },
    transfer: [buffer],
  };
}

async function handle({ type, file, options }) {
  await ready;
  if (type === 'open') {
    checkpoint?.free();
    checkpoint = null;
    const started = performance.now();
    checkpoint = Checkpoint.fromBlob(file); // lazy: reads only the ranges it needs
    fileName = file.name ?? '';
    return render(options, { openMs: performance.now() - started });
  }
  if (!checkpoint) throw new Error('Open a checkpoint first.');
  if (type === 'render') return render(options, {});
  if (type === 'list') {
    const { result: tensors, ms } = measured(listTensors);
    return { reply: { ok: true, tensors, ...readStats(), timings: { listMs: ms } }, transfer: [] };
  }
  throw new Error(`Unknown request ${type}.`);
}

self.onmessage = async ({ data }) => {
  try {
    const { reply, transfer } = await handle(data);
    self.postMessage({ id: data.id, ...reply }, transfer);
  } catch (error) {
    // A RuntimeError means the module trapped (a panic): its memory can no longer be trusted.
    const crashed = error instanceof WebAssembly.RuntimeError;
    const fatal = crashed || loadFailed;
    if (fatal) checkpoint = null;
    const message = crashed
      ? 'The checkpoint reader crashed on this file; it will start afresh for the next one.'
      : String(error?.message ?? error);
    // Opened but not drawable: still list what is inside, so the page can say why.
    let tensors;
    try { tensors = checkpoint && data.type === 'open' ? listTensors() : undefined; } catch { /* keep the error we have */ }
    self.postMessage({ id: data.id, ok: false, message, fatal, checkpoint: summary(), tensors });
  }
};
