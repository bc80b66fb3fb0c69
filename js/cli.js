#!/usr/bin/env node
// `npx patchlens`: the Rust CLI (src/bin/patchlens.rs) for Node — its commands, flags, help, messages and
// exit statuses, and its pixels and listing text, which come from the module. This file only parses
// arguments, writes the PNG and prints; the e2e tests compare both CLIs' outputs byte for byte.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { Checkpoint, load } from './index.js';
import { fsProblem, openPathsWithSkipped } from './node.js';
import { encodePng } from './png.js';

const VERSION = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;

const USAGE = `\
patchlens — see what a vision model's first layer learned: its patch-embedding filters as a grid.

usage:
  patchlens list [--all] [--json] FILE... | DIR
  patchlens render FILE... | DIR -o OUT.png [--tensor NAME] [--layout hwio|oihw|ohwi] [--count N] [--columns C]
                                         [--zoom Z] [--gap G] [--gap-color #rrggbb]
                                         [--normalize filter|global|symmetric] [--channels] [--order file|norm]
                                         [--view filters|pca|positions|difference] [--components K]
                                         [--mode cosine|dot] [--extra-tokens E] [--position-grid RxC]
  patchlens help [list | render]       (or: patchlens list --help, patchlens render --help)
  patchlens --version

Reads .npz/.npy, PyTorch (.pth/.pt/.bin, zip or legacy, whole-model pickles, TorchScript), .safetensors,
Keras (.h5/.hdf5, .weights.h5, .keras) and other HDF5, TensorFlow checkpoints and SavedModels, .tflite
(float or int8), Flax .msgpack, pickled NumPy (.pkl, .pdparams), .gguf and .onnx. Several files are opened
together: the shards of a checkpoint (with or without its *.index.json; giving the index alone finds the
shards beside it), a TensorFlow .index and its .data files, an ONNX model and its external data. A folder
stands for the files in it (a SavedModel's variables/ included).

A URL or a Hugging Face model id (owner/name, or its page's address) stands for a file too in the Rust
CLI built with the \`http\` feature (not npx patchlens): only the bytes needed are read, by HTTP range
requests. --hub URL names another hub (default: https://huggingface.co).

exit status:
  0  done
  1  bad input: a file cannot be read or is no checkpoint, the tensor asked for is missing or cannot be
     drawn, the files hold several checkpoints for render, or the PNG cannot be written
  2  bad usage: an unknown command or option; a missing value, FILE or -o; a number, colour or layout
     that is malformed; a grid too big to draw even at zoom 1
A number out of range for the kernel (--count 5000 for 384 filters) is corrected and said, as the page does.`;

const LIST_USAGE = `\
usage: patchlens list [--all] [--json] FILE... | DIR

Lists each checkpoint among the files: its format, size and notes, then its tensors in natural order
(blocks.2 before blocks.10) with dtype and shape. * marks the tensor \`render\` draws by default (the patch
embedding), and the last line says why it was picked.

  --all       list every tensor, those that cannot be drawn with the reason (default: only the drawable
              ones and a count of the others; when none can be drawn, all of them with their reasons)
  --json      print one JSON document for all the checkpoints, every tensor included (default: text)
  -h, --help  print this help

A folder lists every checkpoint in it; an *.index.json lists its shards, found beside it, as one.`;

const RENDER_USAGE = `\
usage: patchlens render FILE... | DIR -o OUT.png [options]

Draws one checkpoint's filters as a grid of tiles and writes it as a PNG: the page's pixels for the same
options. Several files given together are one checkpoint (shards, a TensorFlow index and its data files,
an ONNX model and its external data).

  -o, --output OUT.png  where to write the PNG (required)
  --tensor NAME         the tensor to draw (default: the patch embedding; \`patchlens list\` shows the names)
  --layout hwio|oihw|ohwi
                        read a 4-D tensor's axes as (kh, kw, in, out), (out, in, kh, kw) or (out, kh, kw, in)
                        (default: the file's own convention; where the file does not say, what the shape says)
  --count N             how many filters, from the first (default: 128)
  --columns C           tiles per row (default: 16)
  --zoom Z              screen pixels per filter pixel (default: 4)
  --gap G               pixels between tiles (default: 2)
  --gap-color #rrggbb   colour of the gaps (default: #1b1e24, the page's)
  --normalize MODE      how a filter's values become 0..255: filter (each filter's own min and max, the
                        notebook's), global (one min and max for the whole kernel) or symmetric (zero is
                        mid-grey, ±max|w| the ends) (default: filter)
  --channels            draw each filter's R, G and B as three grey tiles side by side
  --order file|norm     the filters' order: as in the file, or largest L2 norm first (default: file)
  --view VIEW           filters (default); pca: the filters' principal components (the ViT paper's Figure 7,
                        left); positions: how alike the position embedding's positions are (Figure 7,
                        centre); difference: two checkpoints of the same shape given together, A − B drawn
                        symmetrically, least similar filters first
  --components K        pca: how many components (default: 28, drawn 7 to a row unless --columns says)
  --mode cosine|dot     positions: each position's cosine similarity with every other, one tile per position
                        (viridis, −1 to 1), or the Gram matrix P·Pᵀ as one image (inferno) (default: cosine)
  --extra-tokens E      positions: leading tokens that are not positions (default: 1, 0 or 2, whichever
                        leaves a square grid)
  --position-grid RxC   positions: rows × columns of a grid that is not square
With --view positions, --tensor names the position embedding, and --count, --columns and --gap default to
the figure's: every position, one row of tiles per grid row, 1-px black gaps.
  -h, --help            print this help

With --zoom 1 --gap 0 the PNG is exactly the filters side by side.`;

const TOP_HELP = 'patchlens --help';
const LIST_HELP = 'patchlens list --help';
const RENDER_HELP = 'patchlens render --help';

/** The command line itself is wrong (exit 2): one sentence, then the command whose help to read. */
class UsageError extends Error {
  constructor(sentence, help) {
    super(sentence);
    this.help = help;
  }
}

/** Writes to stdout; a closed pipe (`patchlens list f | head`) just ends the output. */
function print(text) {
  process.stdout.write(text);
}
process.stdout.on('error', (error) => {
  if (error.code !== 'EPIPE') {
    process.stderr.write(`patchlens: Could not write the output: ${error.message}.\n`);
    process.exitCode = 1;
  }
});

async function main(args) {
  try {
    await run(args);
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      const what = error.help === TOP_HELP ? 'commands' : 'options';
      process.stderr.write(`patchlens: ${error.message}\nRun \`${error.help}\` for the ${what}.\n`);
      return 2;
    }
    process.stderr.write(`patchlens: ${error?.message ?? error}\n`);
    return 1;
  }
}

async function run(args) {
  const [command, ...rest] = args;
  const wantsHelp = () => rest.slice(0, rest.includes('--') ? rest.indexOf('--') : rest.length)
    .some((a) => a === '-h' || a === '--help');
  const noSuchCommand = (name) => new UsageError(`There is no command '${name}'; the commands are list and render.`, TOP_HELP);
  if (command === 'list') return wantsHelp() ? print(`${LIST_USAGE}\n`) : list(rest);
  if (command === 'render') return wantsHelp() ? print(`${RENDER_USAGE}\n`) : render(rest);
  if (command === 'help') {
    const topics = { list: LIST_USAGE, render: RENDER_USAGE };
    if (rest.length > 0 && !Object.hasOwn(topics, rest[0])) throw noSuchCommand(rest[0]);
    return print(`${rest.length > 0 ? topics[rest[0]] : USAGE}\n`);
  }
  if (command === '-h' || command === '--help') return print(`${USAGE}\n`);
  if (command === '-V' || command === '--version') return print(`patchlens ${VERSION}\n`);
  if (command === undefined) throw new UsageError('A command is needed: list or render.', TOP_HELP);
  if (command.startsWith('-')) throw new UsageError(`Unknown option ${command}; a command (list or render) comes first.`, TOP_HELP);
  throw noSuchCommand(command);
}

/** Opens the files; a file from a folder that is no checkpoint at all is left out, and said so. */
async function open(paths) {
  const url = paths.find((p) => /^https?:\/\//i.test(p));
  if (url) {
    throw new Error(`${url} is a URL, and npx patchlens reads files on disk only; open it in the web page, or with the Rust CLI built with the \`http\` feature (cargo install --path . --features cli,http, from a clone of patchlens).`);
  }
  await load();
  // As the Rust CLI: an argument that names no file here but reads as a hub model id is one.
  const modelId = paths.find((p) => !existsSync(p) && Checkpoint.targetOf(p)?.kind === 'model');
  if (modelId) {
    throw new Error(`There is no file ${modelId}, and npx patchlens reads files on disk only; a Hugging Face model id opens in the web page, or with the Rust CLI built with the \`http\` feature (cargo install --path . --features cli,http, from a clone of patchlens).`);
  }
  const { opened, skipped } = await openPathsWithSkipped(paths, Checkpoint);
  if (skipped.length > 0) process.stderr.write(`patchlens: skipped ${skipped.join(', ')} (not checkpoints)\n`);
  if (opened.length === 0) {
    throw new Error('None of the files given is a checkpoint; name NumPy, PyTorch, safetensors, Keras, TensorFlow, TFLite, Flax, GGUF or ONNX files.');
  }
  return opened;
}

async function list(args) {
  let all = false;
  let json = false;
  const paths = [];
  let optionsEnded = false;
  for (const arg of args) {
    if (optionsEnded) paths.push(arg);
    else if (arg === '--') optionsEnded = true;
    else if (arg === '--all') all = true;
    else if (arg === '--json') json = true;
    else if (arg.startsWith('-')) throw new UsageError(`Unknown option ${arg} for list.`, LIST_HELP);
    else paths.push(arg);
  }
  if (paths.length === 0) throw new UsageError('list needs a FILE or a folder.', LIST_HELP);
  const opened = await open(paths);
  const failed = opened.filter((o) => !o.checkpoint).map((o) => `${o.label}: ${o.error}`);
  if (json) {
    // The module's JSON for each checkpoint, put into the CLI's one document (same bytes as serde_json's).
    const checkpoints = opened.map(({ label, files, checkpoint, error }) => (checkpoint
      ? JSON.parse(checkpoint.listingJson(label, files)) : { label, files, error }));
    print(`${JSON.stringify({ checkpoints }, null, 2)}\n`);
  } else {
    print(opened.filter((o) => o.checkpoint).map((o) => o.checkpoint.listing(o.label, all, o.files)).join('\n'));
  }
  opened.forEach((o) => o.checkpoint?.free());
  if (failed.length > 0) throw new Error(failed.join('\npatchlens: '));
}

const U64_MAX = 2n ** 64n - 1n;
// The module's sizes are 32-bit; the module brings any number into range and says so without repeating
// the number, so passing 2^32 − 1 for a bigger one changes nothing.
const U32_MAX = 0xffffffff;

async function render(args) {
  await load(); // the module checks the colour as the flags are read
  const colour = (text) => {
    try {
      Checkpoint.checkRenderOptions({ gapColor: text });
    } catch (error) {
      throw new UsageError(error.message, RENDER_HELP);
    }
    return text;
  };
  const paths = [];
  const options = {};
  let output;
  let difference = false;
  let optionsEnded = false;
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i];
    if (optionsEnded) {
      paths.push(arg);
      continue;
    }
    const value = () => {
      if (i + 1 >= args.length) throw new UsageError(`${arg} needs a value.`, RENDER_HELP);
      i += 1;
      return args[i];
    };
    const number = (text) => {
      // As Rust parses a usize: digits, an optional leading +, at most 2^64 − 1.
      if (!/^\+?[0-9]+$/.test(text) || BigInt(text) > U64_MAX) {
        throw new UsageError(`${arg} takes a whole number, not '${text}'.`, RENDER_HELP);
      }
      return Math.min(Number(text), U32_MAX);
    };
    if (arg === '--') optionsEnded = true;
    else if (arg === '-o' || arg === '--output') output = value();
    else if (arg === '--tensor') options.tensor = value();
    else if (arg === '--layout') {
      const text = value();
      if (text !== 'hwio' && text !== 'oihw' && text !== 'ohwi') throw new UsageError(`--layout is hwio, oihw or ohwi, not '${text}'.`, RENDER_HELP);
      options.layout = text;
    } else if (arg === '--count') options.count = number(value());
    else if (arg === '--columns') options.columns = number(value());
    else if (arg === '--zoom') options.zoom = number(value());
    else if (arg === '--gap') options.gap = number(value());
    else if (arg === '--gap-color') options.gapColor = colour(value());
    else if (arg === '--normalize') {
      const text = value();
      if (!['filter', 'global', 'symmetric'].includes(text)) {
        throw new UsageError(`--normalize is filter, global or symmetric, not '${text}'.`, RENDER_HELP);
      }
      options.normalize = text;
    } else if (arg === '--channels') options.channels = true;
    else if (arg === '--order') {
      const text = value();
      if (text !== 'file' && text !== 'norm') throw new UsageError(`--order is file or norm, not '${text}'.`, RENDER_HELP);
      options.order = text;
    } else if (arg === '--view') {
      const text = value();
      if (!['filters', 'pca', 'positions', 'difference'].includes(text)) {
        throw new UsageError(`--view is filters, pca, positions or difference, not '${text}'.`, RENDER_HELP);
      }
      difference = text === 'difference';
      if (text === 'positions' || text === 'pca') options.view = text;
      else delete options.view;
    } else if (arg === '--components') {
      options.components = number(value());
    } else if (arg === '--mode') {
      const text = value();
      if (text !== 'cosine' && text !== 'dot') throw new UsageError(`--mode is cosine or dot, not '${text}'.`, RENDER_HELP);
      options.mode = text;
    } else if (arg === '--extra-tokens') options.extraTokens = number(value());
    else if (arg === '--position-grid') {
      const text = value();
      const match = /^(\d+)x(\d+)$/.exec(text);
      if (!match) throw new UsageError(`--position-grid is ROWSxCOLUMNS, e.g. 14x14, not '${text}'.`, RENDER_HELP);
      options.positionGrid = [Number(match[1]), Number(match[2])];
    } else if (arg.startsWith('-')) throw new UsageError(`Unknown option ${arg} for render.`, RENDER_HELP);
    else paths.push(arg);
  }
  if (paths.length === 0) throw new UsageError('render needs a FILE or a folder.', RENDER_HELP);
  if (output === undefined) throw new UsageError('render needs -o OUT.png, the file to write.', RENDER_HELP);
  const opened = await open(paths);
  const wanted = difference ? 2 : 1;
  try {
    if (opened.length !== wanted) {
      const what = difference ? 'the difference view draws two: A − B' : 'render draws one at a time';
      const s = opened.length === 1 ? '' : 's';
      throw new Error(`These files hold ${opened.length} checkpoint${s} (${opened.map((o) => o.label).join(', ')}); ${what}.`);
    }
    const failed = opened.find((o) => !o.checkpoint);
    if (failed) throw new Error(`${failed.label}: ${failed.error}`);
    const [{ label, checkpoint }, other] = opened;
    drawTo(output, checkpoint, options, label, other?.checkpoint);
  } finally {
    opened.forEach((o) => o.checkpoint?.free());
  }
}

function drawTo(output, checkpoint, options, label, other) {
  let grid;
  try {
    grid = other ? checkpoint.renderDifference(other, options) : checkpoint.render(options);
  } catch (error) {
    // Ranges are corrected by the module; what is left (a RangeError: a grid too big even at zoom 1, say)
    // is the command line's fault, whatever the file holds.
    if (error instanceof RangeError) throw new UsageError(error.message, RENDER_HELP);
    throw new Error(`${label}: ${error.message}`);
  }
  try {
    writeFileSync(output, encodePng(grid.width, grid.height, grid.rgba));
  } catch (error) {
    throw new Error(`Could not write ${output}: ${fsProblem(error)}.`);
  }
  // Values out of range were brought into range, as the page does; say which and why, for the values given
  // (the default count of 128 for a kernel of 32 filters is no one's mistake).
  for (const { option, note } of grid.adjustments.filter((a) => a.option in options)) {
    process.stderr.write(`patchlens: --${option}: ${note}.\n`);
  }
  const shape = grid.shape.length > 0 ? grid.shape.join('×') : 'scalar';
  // Distinct bytes of the files, as the page counts them; a range read twice is said apart.
  const distinct = checkpoint.bytesRead + (other?.bytesRead ?? 0);
  const transferred = checkpoint.bytesTransferred + (other?.bytesTransferred ?? 0);
  const read = `read ${distinct} of ${checkpoint.fileSize + (other?.fileSize ?? 0)} bytes`
    + (transferred > distinct ? ` (${transferred} transferred)` : '');
  if (grid.view === 'pca') {
    const explained = grid.explainedVarianceRatio.reduce((sum, r) => sum + r, 0);
    process.stderr.write(`${output}: ${grid.tensor} ${grid.dtype} ${shape} (${grid.layout.toUpperCase()}), `
      + `${grid.filtersShown} of ${grid.components} principal components, ${(100 * explained).toFixed(1)} % of the variance, `
      + `${grid.width}×${grid.height} px, ${read}\n`);
    return;
  }
  if (grid.view === 'positions') {
    process.stderr.write(`${output}: ${grid.tensor} ${grid.dtype} ${shape}, position ${grid.mode} (${grid.reason}; `
      + `${grid.tokensReason}), ${grid.width}×${grid.height} px, ${read}\n`);
    return;
  }
  process.stderr.write(`${output}: ${grid.tensor} ${grid.dtype} ${shape} (${grid.layout.toUpperCase()}), `
    + `${grid.filtersShown} of ${grid.filtersTotal} filters, ${grid.width}×${grid.height} px, ${read}\n`);
}

process.exitCode = await main(process.argv.slice(2));
