// patchlens for JavaScript: the WebAssembly module (pkg/) plus a few small helpers.
//
//   import { openBytes, drawGrid } from 'patchlens';
//   const checkpoint = await openBytes(new Uint8Array(await file.arrayBuffer()));
//   drawGrid(canvas, checkpoint.render({ count: 64, zoom: 6 }));
//   checkpoint.free();
//
// In a dedicated Web Worker, `openBlob(file)` reads only the byte ranges it needs (FileReaderSync),
// so multi-gigabyte checkpoints open without being loaded into memory; in Node, `openPath(path)` does
// the same with the file system.
import init, { Checkpoint } from '../pkg/patchlens.js';
import { openPathsWithSkipped, wasmSourceForNode } from './node.js';

// Node (and runtimes with its modules: Deno, Bun, Electron), whatever `window` says.
const inNode = typeof process === 'object' && typeof process.versions?.node === 'string';

export { init, Checkpoint };

let ready = null;

/**
 * Loads the module once; later calls return the same promise (and ignore their input). Without input
 * the module finds its .wasm beside its glue — in Node, read from the package's own folder. `input`,
 * for bundlers that move the .wasm file: a URL or string, a Response or a promise of one, the bytes (a
 * BufferSource), a WebAssembly.Module, or `{ module_or_path }` holding one of these. In Node a `file:`
 * URL or a path is read from disk.
 */
export function load(input) {
  ready ??= start(input).catch((error) => {
    ready = null; // let a later call try again
    throw error;
  });
  return ready;
}

async function start(input) {
  const plain = input !== null && typeof input === 'object' && Object.getPrototypeOf(input) === Object.prototype;
  let source = plain ? input.module_or_path : input;
  if (inNode) source = await wasmSourceForNode(source);
  // Always the glue's one-object form: any other form logs a deprecation warning.
  return init({ module_or_path: source });
}

/**
 * Opens a checkpoint held in memory (the bytes are copied into the module). Works on any thread.
 * @param {Uint8Array | ArrayBuffer} bytes
 * @returns {Promise<Checkpoint>}
 */
export async function openBytes(bytes) {
  await load();
  return Checkpoint.fromBytes(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes));
}

/**
 * Opens a File or Blob lazily, reading byte ranges on demand. Dedicated Web Workers only: it reads
 * with FileReaderSync, which the main thread does not have.
 * @param {Blob} blob
 * @returns {Promise<Checkpoint>}
 */
export async function openBlob(blob) {
  if (typeof FileReaderSync === 'undefined') {
    throw new Error('openBlob works only inside a dedicated Web Worker; on the main thread use openBytes(await blob.arrayBuffer()).');
  }
  await load();
  return Checkpoint.fromBlob(blob);
}

/**
 * Opens a checkpoint on a web server by its URL, reading only the byte ranges needed with synchronous
 * requests: dedicated Web Workers only. The server must allow range requests from other sites (CORS, as the
 * Hugging Face hub and most storage buckets do); one that ignores ranges has its whole file downloaded first.
 * `checkpoint.requests` and `checkpoint.networkBytes` say what crossed the network.
 * @param {string} url
 * @returns {Promise<Checkpoint>}
 */
export async function openUrl(url) {
  if (typeof FileReaderSync === 'undefined' || typeof XMLHttpRequest === 'undefined') {
    throw new Error('openUrl works only inside a dedicated Web Worker, where a URL can be read by ranges.');
  }
  await load();
  return Checkpoint.openUrl(url, undefined);
}

/**
 * Opens files given together (a multi-file drop, a folder's files) lazily, as `openBlob` does: the shards
 * of one checkpoint (with or without their `*.index.json`) become one checkpoint, an ONNX model reads its
 * external data from the file beside it, and every other file is a checkpoint of its own. Dedicated Web
 * Workers only. Each result has `label`, `files` and either `checkpoint` or `error` (a sentence).
 * @param {File[]} files
 * @returns {Promise<Array<{ label: string, files: string[], checkpoint?: Checkpoint, error?: string }>>}
 */
export async function openFiles(files) {
  if (typeof FileReaderSync === 'undefined') {
    throw new Error('openFiles works only inside a dedicated Web Worker, where files can be read by range.');
  }
  await load();
  return Checkpoint.openFiles([...files]);
}

/**
 * Opens checkpoint files and folders from disk, in Node, reading only the byte ranges needed (as `openBlob`
 * does in a worker). Files are grouped as `openFiles` groups them (shards with or without their index, an
 * ONNX model and its external data); a folder contributes its files, leaving out those in no format
 * patchlens reads; an `*.index.json` brings the shards it names from its folder. One result per checkpoint.
 * @param {string[]} paths
 * @returns {Promise<Array<{ label: string, files: string[], checkpoint?: Checkpoint, error?: string }>>}
 */
export async function openPaths(paths) {
  requireNode('openPaths');
  await load();
  return (await openPathsWithSkipped([...paths], Checkpoint)).opened;
}

/**
 * Opens one checkpoint from disk, in Node, reading only the byte ranges needed: a file, an `*.index.json`
 * (with its shards beside it) or a folder holding one checkpoint. Rejects with the reason when it cannot.
 * @param {string} path
 * @returns {Promise<Checkpoint>}
 */
export async function openPath(path) {
  requireNode('openPath');
  const opened = await openPaths([path]);
  if (opened.length === 1 && opened[0].checkpoint) return opened[0].checkpoint;
  for (const o of opened) o.checkpoint?.free();
  if (opened.length === 1) throw new Error(opened[0].error);
  if (opened.length === 0) throw new Error(`There is no checkpoint in ${path}.`);
  throw new Error(`${path} holds ${opened.length} checkpoints (${opened.map((o) => o.label).join(', ')}); open them with openPaths.`);
}

function requireNode(name) {
  if (!inNode) throw new Error(`${name} works only in Node, which can read files by path; in a browser use openBlob or openFiles in a worker.`);
}

/**
 * Puts a rendered grid onto a canvas (HTMLCanvasElement or OffscreenCanvas), sizing the canvas to the
 * grid. Pixels are copied as they are: no smoothing, no scaling. Returns the canvas.
 * @param {HTMLCanvasElement | OffscreenCanvas} canvas
 * @param {{ width: number, height: number, rgba: Uint8ClampedArray }} grid
 */
export function drawGrid(canvas, grid) {
  canvas.width = grid.width;
  canvas.height = grid.height;
  const context = canvas.getContext('2d');
  if (!context) throw new Error('This canvas has no 2D context (it may already be used for WebGL).');
  if (grid.width > 0 && grid.height > 0) {
    const { rgba } = grid;
    const pixels = rgba instanceof Uint8ClampedArray ? rgba : new Uint8ClampedArray(rgba.buffer, rgba.byteOffset, rgba.byteLength);
    context.putImageData(new ImageData(pixels, grid.width, grid.height), 0, 0);
  }
  return canvas;
}
