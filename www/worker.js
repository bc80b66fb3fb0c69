// Runs the patchlens module off the main thread: holds the open Checkpoint, renders grids, and posts
// back RGBA pixels (transferred, not copied). The protocol is described in bridge.js.
import init, { Checkpoint } from './pkg/patchlens.js';

let wasm = null; // the module's exports, for reporting its memory size
const ready = init().then(
  (exports) => { wasm = exports; },
  (error) => { throw new Error(`The patchlens module could not be loaded (${error?.message ?? error}).`); },
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

function summary() {
  if (!checkpoint) return null;
  return {
    name: fileName,
    format: checkpoint.format,
    fileSize: checkpoint.fileSize,
    bytesRead: checkpoint.bytesRead,
    defaultTensor: checkpoint.defaultTensor,
    tensors: checkpoint.tensors().map((t) => pick(t, TENSOR_FIELDS)),
  };
}

function close() {
  checkpoint?.free();
  checkpoint = null;
  fileName = '';
}

async function handle({ type, file, options }) {
  await ready;
  let readBefore = 0; // the module counts reads since open; report what this request read
  if (type === 'open') {
    close();
    checkpoint = Checkpoint.fromBlob(file); // lazy: reads only the ranges it needs
    fileName = file.name ?? '';
  } else if (!checkpoint) {
    throw new Error('Open a checkpoint first.');
  } else {
    readBefore = checkpoint.bytesRead;
  }
  const started = performance.now();
  const grid = checkpoint.render(options);
  const renderMs = performance.now() - started;
  const rgba = grid.rgba;
  // Transfer the buffer when the view owns all of it; otherwise transfer a copy.
  const buffer = rgba.byteOffset === 0 && rgba.byteLength === rgba.buffer.byteLength ? rgba.buffer : rgba.slice().buffer;
  const info = pick(grid, GRID_FIELDS);
  grid.free?.();
  const wasmMemory = wasm?.memory?.buffer.byteLength;
  const bytesRead = checkpoint.bytesRead - readBefore;
  return { reply: { ok: true, checkpoint: summary(), grid: info, rgba: buffer, renderMs, bytesRead, wasmMemory }, transfer: [buffer] };
}

self.onmessage = async ({ data }) => {
  try {
    const { reply, transfer } = await handle(data);
    self.postMessage({ id: data.id, ...reply }, transfer);
  } catch (error) {
    // A RuntimeError means the module trapped (a panic): its memory can no longer be trusted.
    const fatal = error instanceof WebAssembly.RuntimeError;
    if (fatal) checkpoint = null;
    const message = fatal
      ? 'The checkpoint reader crashed on this file; it has been restarted.'
      : String(error?.message ?? error);
    let checkpointSummary = null;
    try { checkpointSummary = fatal ? null : summary(); } catch { /* keep the error we have */ }
    self.postMessage({ id: data.id, ok: false, message, fatal, checkpoint: checkpointSummary });
  }
};
