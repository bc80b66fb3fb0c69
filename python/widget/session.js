// One widget's checkpoints in the wasm module: opens them from the block cache, draws them, and asks the
// kernel for the bytes an attempt missed (ranges.js). Every result or failure is a plain object for the panel.
import init, { Checkpoint } from '../../pkg/patchlens.js';
import { BlockCache, asBytes, settle } from './ranges.js';

/** The kernel's answer to a read may take this long (it may be busy running a cell) before we say so. */
const REPLY_TIMEOUT_MS = 120_000;

let loading = null;
/** Instantiates the wasm module once per page from the bytes the kernel sent (`_module`). */
export function loadModule(bytes) {
  loading ??= init({ module_or_path: asBytes(bytes) }).catch((error) => {
    loading = null;
    throw new Error(`The patchlens module could not be loaded (${error?.message ?? error}).`);
  });
  return loading;
}

const message = (error) => String(error?.message ?? error);

export class Session {
  /** @param model anywidget's model: files come from `model.get('files')`, bytes by `model.send`. */
  constructor(model) {
    this.model = model;
    const files = model.get('files');
    this.cache = new BlockCache(files);
    // Checkpoint i is made of the files whose `checkpoint` is i.
    this.groups = [];
    files.forEach((f, i) => { (this.groups[f.checkpoint] ??= []).push(i); });
    this.fileSizes = this.groups.map((g) => g.reduce((sum, i) => sum + files[i].size, 0));
    this.opened = null; // [{ checkpoint?, label, error? }] once an attempt opened them with no miss
    this.pending = new Map();
    this.nextId = 1;
    // Two views of one widget share its messages: ids say whose a reply is.
    this.idPrefix = `${Math.random().toString(36).slice(2)}:`;
    this.onMessage = (content, buffers) => this.received(content, buffers);
    model.on('msg:custom', this.onMessage);
  }

  received(content, buffers) {
    if (content?.type !== 'bytes') return;
    const waiting = this.pending.get(content.id);
    if (!waiting) return;
    this.pending.delete(content.id);
    clearTimeout(waiting.timer);
    if (content.ok) waiting.resolve(buffers ?? []);
    else waiting.reject(new Error(content.message || 'The kernel could not read the file.'));
  }

  /** Asks the kernel for `ranges` in one message and stores its answer in the cache. */
  fetch(ranges) {
    const id = `${this.idPrefix}${this.nextId++}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error('The Python kernel did not send the bytes asked for (is it busy or stopped?); change a setting to try again.'));
      }, REPLY_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer });
      this.model.send({ type: 'read', id, ranges });
    }).then((buffers) => this.cache.fill(ranges, buffers));
  }

  /** Each checkpoint opened from the cache: { label, checkpoint } or { label, error }. */
  open() {
    return this.groups.map((indices) => {
      const readers = indices.map((i) => this.cache.reader(i));
      const label = readers.map((r) => r.name).join(' + ');
      try {
        const found = Checkpoint.openReaders(readers).filter((o) => !o.notACheckpoint || indices.length === 1);
        if (found.length > 1) {
          for (const o of found) o.checkpoint?.free();
          return { label, error: `These files hold ${found.length} checkpoints (${found.map((o) => o.label).join(', ')}); give each as a checkpoint of its own.` };
        }
        const [one] = found;
        return one?.checkpoint ? { label, checkpoint: one.checkpoint } : { label, error: one?.error ?? 'These files hold no checkpoint.' };
      } catch (error) {
        if (error instanceof WebAssembly.RuntimeError) throw error;
        return { label, error: message(error) };
      }
    });
  }

  reset() {
    for (const o of this.opened ?? []) o.checkpoint?.free();
    this.opened = null;
  }

  /** Runs `work(opened)` (which must not keep state of its own) until it needed no missing byte. */
  async run(work) {
    try {
      return await settle(this.cache, () => work((this.opened ??= this.open())), (ranges) => this.fetch(ranges), () => this.reset());
    } catch (error) {
      if (error instanceof WebAssembly.RuntimeError) {
        this.reset();
        throw new Error('The checkpoint reader crashed on this file; run the cell again to start afresh.');
      }
      throw error;
    }
  }

  /** One drawing per panel: { label, grid?, rgba?, error?, bytes, size }. `options(i)` are panel i's options;
   *  the difference view is one panel, A − B. */
  draw(view, options) {
    return this.run((opened) => {
      if (view === 'difference') {
        const [a, b] = opened;
        const label = `${a.label} − ${b?.label}`;
        const bytes = this.cache.receivedOf([...this.groups[0], ...(this.groups[1] ?? [])]);
        const size = this.fileSizes[0] + (this.fileSizes[1] ?? 0);
        if (!a.checkpoint || !b?.checkpoint) return [{ label, error: a.error ?? b?.error ?? 'A difference needs two checkpoints.', bytes, size }];
        return [drawn(label, () => a.checkpoint.renderDifference(b.checkpoint, options(0), options(1).tensor), bytes, size)];
      }
      return opened.map((o, i) => {
        const bytes = this.cache.receivedOf(this.groups[i]);
        if (!o.checkpoint) return { label: o.label, error: o.error, bytes, size: this.fileSizes[i] };
        return drawn(o.label, () => o.checkpoint.render(options(i)), bytes, this.fileSizes[i]);
      });
    });
  }

  /** The drawable tensors of each checkpoint (names), for the tensor pickers. */
  tensors() {
    return this.run((opened) => opened.map((o) => {
      if (!o.checkpoint) return [];
      try {
        return o.checkpoint.tensors().filter((t) => t.drawable).map((t) => t.name);
      } catch (error) {
        if (error instanceof WebAssembly.RuntimeError) throw error;
        return [];
      }
    }));
  }

  close() {
    this.model.off('msg:custom', this.onMessage);
    for (const waiting of this.pending.values()) clearTimeout(waiting.timer);
    this.pending.clear();
    this.reset();
  }
}

/** A render's result, or its error sentence as the module wrote it. */
function drawn(label, render, bytes, size) {
  try {
    const grid = render();
    const rgba = new Uint8ClampedArray(grid.rgba); // a copy: the panel keeps it after the module moves on
    return { label, grid: { ...plain(grid), rgba: undefined }, rgba, bytes, size };
  } catch (error) {
    if (error instanceof WebAssembly.RuntimeError) throw error;
    return { label, error: message(error), bytes, size };
  }
}

const plain = (grid) => Object.fromEntries(Object.keys(grid).map((k) => [k, grid[k]]));
