// patchlens for JavaScript: the WebAssembly module (pkg/) plus a few small helpers.
//
//   import { openBytes, drawGrid } from 'patchlens';
//   const checkpoint = await openBytes(new Uint8Array(await file.arrayBuffer()));
//   drawGrid(canvas, checkpoint.render({ count: 64, zoom: 6 }));
//   checkpoint.free();
//
// In a dedicated Web Worker, `openBlob(file)` reads only the byte ranges it needs (FileReaderSync),
// so multi-gigabyte checkpoints open without being loaded into memory.
import init, { Checkpoint } from '../pkg/patchlens.js';

export { init, Checkpoint };

let ready = null;

/**
 * Loads the module once; later calls return the same promise. `input` is passed to `init` (a URL,
 * Response or WebAssembly.Module) for bundlers that move the .wasm file; leave it out otherwise.
 */
export function load(input) {
  ready ??= init(input).catch((error) => {
    ready = null; // let a later call try again
    throw error;
  });
  return ready;
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
