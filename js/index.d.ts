// Types for patchlens' JavaScript API (js/index.js). The module's own types (Checkpoint, TensorInfo,
// RenderOptions, GridInfo, Grid) come from the generated pkg/patchlens.d.ts.
import init, { Checkpoint } from '../pkg/patchlens.js';
import type { Grid, InitInput } from '../pkg/patchlens.js';

export { init, Checkpoint };
export type {
  Adjustment, CheckpointListing, Grid, GridInfo, InitInput, OpenedCheckpoint, RangeReader, RenderOptions, TensorInfo,
  Steps, TileStats,
} from '../pkg/patchlens.js';
import type { OpenedCheckpoint } from '../pkg/patchlens.js';

/** What `load` accepts: nothing, a URL or string, a Request, a Response or a promise of one, the .wasm's
 *  bytes (a BufferSource), a WebAssembly.Module, or `{ module_or_path }` holding one of these (the generated
 *  `init`'s own form). In Node a `file:` URL or a plain path is read from disk. */
export type LoadInput = InitInput | Promise<InitInput> | { module_or_path: InitInput | Promise<InitInput> };

/**
 * Loads the WebAssembly module once; later calls share the same promise (and ignore their input).
 * Without input the module finds its .wasm beside its JS (in Node: read from the package's folder);
 * pass the .wasm's URL, a Response, its bytes or a compiled module when a bundler moves the file.
 */
export function load(input?: LoadInput): Promise<unknown>;

/** Opens a checkpoint held in memory (the bytes are copied into the module). Any thread. */
export function openBytes(bytes: Uint8Array | ArrayBuffer): Promise<Checkpoint>;

/** Opens a File or Blob lazily, reading byte ranges on demand. Dedicated Web Workers only. */
export function openBlob(blob: Blob): Promise<Checkpoint>;

/** Opens a checkpoint on a web server by URL, reading only the byte ranges needed (the server must allow
 *  range requests from other sites; one that ignores ranges is downloaded whole). `requests` and
 *  `networkBytes` on the checkpoint say what crossed the network. Dedicated Web Workers only. */
export function openUrl(url: string): Promise<Checkpoint>;

/** Opens files given together (shards, a model and its external data, several checkpoints) lazily:
 *  one result per checkpoint among them. Dedicated Web Workers only. */
export function openFiles(files: File[] | FileList): Promise<OpenedCheckpoint[]>;

/** Node only: opens checkpoint files and folders by path, reading only the byte ranges needed. Files are
 *  grouped as `openFiles` groups them; a folder contributes its files (leaving out those that are no
 *  checkpoint); an `*.index.json` brings its shards. One result per checkpoint among them. */
export function openPaths(paths: string[]): Promise<OpenedCheckpoint[]>;

/** Node only: opens one checkpoint by path (a file, an `*.index.json` with its shards, a folder holding
 *  one checkpoint), reading only the byte ranges needed. Rejects with the reason when it cannot. */
export function openPath(path: string): Promise<Checkpoint>;

/** Sizes `canvas` to the grid and puts its pixels on it, unscaled. Returns the canvas. */
export function drawGrid<C extends HTMLCanvasElement | OffscreenCanvas>(
  canvas: C,
  grid: Pick<Grid, 'width' | 'height'> & { rgba: Uint8ClampedArray | Uint8Array },
): C;
