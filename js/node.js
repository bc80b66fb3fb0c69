// Node's side of the package: the module's own .wasm read from disk, and checkpoint files read by ranges
// (fs.readSync on a descriptor) for openPath/openPaths and the command line. Node's modules are imported
// only when these run, through a specifier bundlers leave alone, so a browser bundle never includes them.

/** One of Node's built-in modules, e.g. `builtin('fs')`; the specifier is a variable so bundlers skip it. */
export function builtin(name) {
  const specifier = `node:${name}`;
  return import(/* @vite-ignore */ /* webpackIgnore: true */ specifier);
}

/**
 * What Node gives the glue for `module_or_path`: the package's own .wasm when nothing is given, a
 * `file:` URL or a plain path read from disk (Node's fetch cannot read files), anything else as it is.
 */
export async function wasmSourceForNode(source) {
  const { readFile } = await builtin('fs/promises');
  if (source === undefined) return readFile(new URL('../pkg/patchlens_bg.wasm', import.meta.url));
  if (source instanceof URL) return source.protocol === 'file:' ? readFile(source) : source;
  if (typeof source === 'string') {
    if (source.startsWith('file:')) return readFile(new URL(source));
    if (!URL.canParse(source)) return readFile(source); // not a URL: a path
  }
  return source;
}

/**
 * What went wrong in a file-system error, worded as Rust words it, so both CLIs print the same line:
 * "ENOENT: no such file or directory, open 'x'" → "No such file or directory (os error 2)".
 */
export function fsProblem(error) {
  const what = /^[A-Z]+: ([^,]+)/.exec(error?.message ?? '')?.[1];
  if (!what || typeof error.errno !== 'number') return String(error?.message ?? error).replace(/\.$/, '');
  return `${what[0].toUpperCase()}${what.slice(1)} (os error ${Math.abs(error.errno)})`;
}

/** A `RangeReader` over one file: opened on its first read, closed when the module lets go of it. */
function rangeReader(fs, path, name, size) {
  let fd = null;
  return {
    name,
    size,
    read(offset, length) {
      fd ??= fs.openSync(path, 'r');
      const bytes = new Uint8Array(length);
      let filled = 0;
      while (filled < length) {
        const n = fs.readSync(fd, bytes, filled, length - filled, offset + filled);
        if (n === 0) break; // the file is shorter than it was: the module says so
        filled += n;
      }
      return filled === length ? bytes : bytes.subarray(0, filled);
    },
    close() {
      if (fd !== null) fs.closeSync(fd);
      fd = null;
    },
  };
}

/** Sorts names by their UTF-8 bytes, as the Rust CLI sorts a folder's paths. */
const byBytes = (a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b));

/**
 * The files behind some paths, as the Rust CLI finds them: a folder's files (top level, not hidden,
 * sorted, and a SavedModel's variables/ folder), an index's shards from the index's folder, a TensorFlow
 * `X.index`'s `X.data-…` files beside it, each path once. Each has `inFolder` (a file found
 * in a folder, not named: not being a checkpoint is no error for it) and a `reader`.
 */
async function expand(paths, Checkpoint) {
  const fs = (await builtin('fs')).default;
  const { basename, dirname, join } = await builtin('path');
  const readerOf = (path) => {
    try {
      return rangeReader(fs, path, basename(path), fs.statSync(path).size);
    } catch (error) {
      throw new Error(`Could not open ${path}: ${fsProblem(error)}.`);
    }
  };
  const found = [];
  const add = (path, inFolder, reader) => {
    if (!found.some((f) => f.path === path)) found.push({ path, inFolder, reader });
  };
  for (const path of paths) {
    if (isDirectory(fs, path)) {
      let names;
      try {
        names = fs.readdirSync(path);
      } catch (error) {
        throw new Error(`Could not read the folder ${path}: ${fsProblem(error)}.`);
      }
      names.filter((name) => !name.startsWith('.')).sort(byBytes).map((name) => join(path, name))
        .filter((inside) => isFile(fs, inside)).forEach((inside) => add(inside, true));
      // A SavedModel keeps its weights one level down, in variables/.
      const variables = join(path, 'variables');
      if (isDirectory(fs, variables)) {
        let inner;
        try {
          inner = fs.readdirSync(variables);
        } catch (error) {
          throw new Error(`Could not read the folder ${variables}: ${fsProblem(error)}.`);
        }
        inner.filter((name) => !name.startsWith('.')).sort(byBytes).map((name) => join(variables, name))
          .filter((inside) => isFile(fs, inside)).forEach((inside) => add(inside, true));
      }
    } else if (path.endsWith('.index.json')) {
      const index = readerOf(path);
      let shards;
      try {
        shards = Checkpoint.shardsNamedByIndex(index);
      } catch (error) {
        throw new Error(`${path}: ${error.message}`);
      }
      add(path, false, index);
      shards.forEach((shard) => add(join(dirname(path), shard), false));
    } else if (path.endsWith('.index') && isFile(fs, path)) {
      // A TensorFlow checkpoint's index: its data files sit beside it as `<prefix>.data-…`.
      const folder = dirname(path);
      const stem = `${basename(path).slice(0, -'.index'.length)}.data-`;
      let beside;
      try {
        beside = fs.readdirSync(folder);
      } catch (error) {
        throw new Error(`Could not read the folder beside ${path}: ${fsProblem(error)}.`);
      }
      add(path, false);
      beside.filter((name) => name.startsWith(stem)).sort(byBytes).map((name) => join(folder, name))
        .filter((inside) => isFile(fs, inside)).forEach((inside) => add(inside, false));
    } else {
      add(path, false);
    }
  }
  // As the Rust CLI does: the arguments are expanded first, then the files opened, in order.
  for (const file of found) file.reader ??= readerOf(file.path);
  return found;
}

const isDirectory = (fs, path) => fs.statSync(path, { throwIfNoEntry: false })?.isDirectory() ?? false;
const isFile = (fs, path) => fs.statSync(path, { throwIfNoEntry: false })?.isFile() ?? false;

/**
 * Opens files and folders by path, read by ranges: one result per checkpoint among them (as
 * `Checkpoint.openFiles` groups them), and the names of a folder's files that are no checkpoint at all,
 * which are left out.
 */
export async function openPathsWithSkipped(paths, Checkpoint) {
  const found = await expand(paths, Checkpoint);
  const fromFolder = new Set(found.filter((f) => f.inFolder).map((f) => f.reader.name));
  const all = Checkpoint.openReaders(found.map((f) => f.reader));
  const skip = (o) => o.notACheckpoint && fromFolder.has(o.label);
  return { opened: all.filter((o) => !skip(o)), skipped: all.filter(skip).map((o) => o.label) };
}
