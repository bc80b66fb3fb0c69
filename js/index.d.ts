// Types for patchlens' JavaScript API (js/index.js). The module's own types (Checkpoint, TensorInfo,
// RenderOptions, GridInfo, Grid) come from the generated pkg/patchlens.d.ts.
import init, { Checkpoint } from '../pkg/patchlens.js';
import type { Grid, InitInput } from '../pkg/patchlens.js';

export { init, Checkpoint };
export type {
  CheckpointListing, Grid, GridInfo, InitInput, OpenedCheckpoint, RenderOptions, TensorInfo,
} from '../pkg/patchlens.js';
import type { OpenedCheckpoint } from '../pkg/patchlens.js';

/**
 * Loads the WebAssembly module once; later calls share the same promise. `input` goes to `init`
 * (a URL, Response or WebAssembly.Module) for bundlers that move the .wasm file.
 */
export function load(input?: Parameters<typeof init>[0]): Promise<unknown>;

/** Opens a checkpoint held in memory (the bytes are copied into the module). Any thread. */
export function openBytes(bytes: Uint8Array | ArrayBuffer): Promise<Checkpoint>;

/** Opens a File or Blob lazily, reading byte ranges on demand. Dedicated Web Workers only. */
export function openBlob(blob: Blob): Promise<Checkpoint>;

/** Opens files given together (shards, a model and its external data, several checkpoints) lazily:
 *  one result per checkpoint among them. Dedicated Web Workers only. */
export function openFiles(files: File[] | FileList): Promise<OpenedCheckpoint[]>;

/** Sizes `canvas` to the grid and puts its pixels on it, unscaled. Returns the canvas. */
export function drawGrid<C extends HTMLCanvasElement | OffscreenCanvas>(
  canvas: C,
  grid: Pick<Grid, 'width' | 'height'> & { rgba: Uint8ClampedArray | Uint8Array },
): C;
