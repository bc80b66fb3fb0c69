// Synchronous reads over bytes that arrive asynchronously. The wasm module reads a file through
// `read(offset, length)`, which must answer at once; the bytes are in the Python kernel. So a read is
// served from a cache of 4 KiB blocks, a miss records the blocks it lacked and throws, and `settle`
// asks the kernel for every recorded block in one message, then runs the whole operation again.

/** Bytes are fetched in aligned blocks of this size: neighbouring small reads share one, and a format with
 *  many scattered small reads (npz: a local header per entry, ~80 on a ViT-B) fetches 4 KiB per read, not 64. */
export const BLOCK = 4 * 1024;
/** Rounds of reads one operation may need (each is one message to the kernel and back); a checkpoint's
 *  chain of dependent reads (zip directory → pickle → tensor data; HDF5's B-tree levels) is far shorter. */
export const MAX_ROUNDS = 64;

/** What a reader throws on a miss; the module turns it into a read error, which `settle` then ignores. */
const MISS = 'not in the browser yet';

/** The blocks of a widget's files that have reached the browser. */
export class BlockCache {
  /** @param {{ name: string, size: number }[]} files */
  constructor(files) {
    this.files = files;
    this.blocks = files.map(() => new Map()); // block number → Uint8Array
    this.wanted = files.map(() => new Set());
    this.received = 0; // bytes that crossed from the kernel
  }

  /** A RangeReader (the module's interface) for file `index`. */
  reader(index) {
    const { name, size } = this.files[index];
    return { name, size, read: (offset, length) => this.read(index, offset, length) };
  }

  read(index, offset, length) {
    const out = new Uint8Array(length);
    const blocks = this.blocks[index];
    let missing = false;
    for (let b = Math.floor(offset / BLOCK); b * BLOCK < offset + length; b += 1) {
      const block = blocks.get(b);
      if (!block) {
        this.wanted[index].add(b);
        missing = true;
      } else if (!missing) {
        const from = Math.max(offset, b * BLOCK);
        const to = Math.min(offset + length, b * BLOCK + block.length);
        out.set(block.subarray(from - b * BLOCK, to - b * BLOCK), from - offset);
      }
    }
    if (missing) throw new Error(MISS);
    return out;
  }

  /** The blocks missed since the last call, as [file, offset, length] ranges (neighbours merged). */
  takeWanted() {
    const ranges = [];
    this.wanted.forEach((set, file) => {
      const sorted = [...set].sort((a, b) => a - b);
      set.clear();
      const size = this.files[file].size;
      for (const b of sorted) {
        const last = ranges[ranges.length - 1];
        const end = Math.min((b + 1) * BLOCK, size);
        if (last && last[0] === file && last[1] + last[2] === b * BLOCK) last[2] = end - last[1];
        else ranges.push([file, b * BLOCK, end - b * BLOCK]);
      }
    });
    return ranges;
  }

  /** Stores the kernel's answer: `buffers[i]` holds the bytes of `ranges[i]`. */
  fill(ranges, buffers) {
    if (buffers.length !== ranges.length) throw new Error(`The kernel sent ${buffers.length} ranges where ${ranges.length} were asked for.`);
    ranges.forEach(([file, offset, length], i) => {
      const bytes = asBytes(buffers[i]);
      if (bytes.length !== length) throw new Error(`The kernel sent ${bytes.length} bytes of ${this.files[file].name} where ${length} were asked for.`);
      for (let at = 0; at < length; at += BLOCK) this.blocks[file].set((offset + at) / BLOCK, bytes.subarray(at, Math.min(at + BLOCK, length)));
      this.received += length;
    });
  }

  /** Bytes of file(s) `indices` that reached the browser. */
  receivedOf(indices) {
    let total = 0;
    for (const i of indices) for (const block of this.blocks[i].values()) total += block.length;
    return total;
  }
}

/** A message buffer (DataView, ArrayBuffer or typed array, as front ends differ) as a Uint8Array. */
export function asBytes(buffer) {
  if (buffer instanceof Uint8Array) return buffer;
  if (ArrayBuffer.isView(buffer)) return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  if (buffer instanceof ArrayBuffer) return new Uint8Array(buffer);
  throw new Error('The kernel sent something that is not bytes.');
}

/**
 * Runs `attempt()` until it needs no byte the browser lacks: after an attempt that missed, `fetch(ranges)`
 * brings the missed blocks and `reset()` drops whatever the attempt built, then it runs again from scratch.
 * Returns (or throws) what the first attempt without a miss returned (or threw).
 */
export async function settle(cache, attempt, fetch, reset) {
  for (let round = 0; round < MAX_ROUNDS; round += 1) {
    let result;
    let error = null;
    try {
      result = attempt();
    } catch (thrown) {
      if (thrown instanceof WebAssembly.RuntimeError) throw thrown; // the module trapped: no retry helps
      error = thrown;
    }
    const ranges = cache.takeWanted();
    if (ranges.length === 0) {
      if (error) throw error;
      return result;
    }
    reset();
    await fetch(ranges);
  }
  throw new Error(`Reading this checkpoint needed more than ${MAX_ROUNDS} rounds of reads from the kernel; patchlens stopped.`);
}
