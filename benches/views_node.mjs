// Times each view's render() in Node's V8 (the engine of the page's worker) with a wasm-pack build of the
// module, first call and warm, so a view's own code is measured without the page around it:
//
//   wasm-pack build --release --target web --out-dir /tmp/pkg --no-pack
//   node benches/views_node.mjs /tmp/pkg [--runs 7] [--warm-up] [--views pca,global,...] model.npz ...
//
// Each call opens the file afresh from bytes already in memory (Checkpoint.fromBytes), so no fit or tensor is
// reused, and times render() alone: the tensor's read and decode, the view, the grid. "first" is the first
// render of that view in this process (after Checkpoint.warmUp() and a second's pause with --warm-up, as the
// page's idle worker runs it); min and median are of --runs later calls, after 3 untimed ones.
import { readFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const VIEWS = {
  filters: {},
  global: { normalize: 'global' },
  symmetric: { normalize: 'symmetric' },
  norm: { order: 'norm' },
  channels: { channels: true },
  pca: { view: 'pca', components: 28 },
  'positions-cosine': { view: 'positions', mode: 'cosine' },
  'positions-dot': { view: 'positions', mode: 'dot' },
};
const { values: flags, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    runs: { type: 'string', default: '7' },
    views: { type: 'string', default: Object.keys(VIEWS).join(',') },
    'warm-up': { type: 'boolean', default: false },
  },
});
const [pkg, ...files] = positionals;
const views = flags.views.split(',');
if (!pkg || files.length === 0 || views.some((v) => !(v in VIEWS))) {
  console.error(`usage: node benches/views_node.mjs PKG_DIR [--runs N] [--warm-up] [--views ${Object.keys(VIEWS).join(',')}] checkpoint ...`);
  process.exit(2);
}
const glue = await import(pathToFileURL(resolve(pkg, 'patchlens.js')).href);
await glue.default({ module_or_path: readFileSync(resolve(pkg, 'patchlens_bg.wasm')) });
const { Checkpoint } = glue;
if (flags['warm-up']) {
  // As the page's idle worker does; the pause stands for the time until the user's first view, in which the
  // engine finishes compiling (in the background) what the warm-up made hot.
  Checkpoint.warmUp();
  await new Promise((resolve) => setTimeout(resolve, 1000));
}

const runs = Number(flags.runs);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const once = (bytes, options) => {
  const checkpoint = Checkpoint.fromBytes(bytes);
  try {
    const start = performance.now();
    checkpoint.render(options);
    return performance.now() - start;
  } finally {
    checkpoint.free();
  }
};
console.log('view\tfile\tfirst ms\tmin ms\tmedian ms');
for (const view of views) {
  for (const file of files) {
    const bytes = readFileSync(file);
    let first;
    try {
      first = once(bytes, VIEWS[view]);
    } catch (error) {
      console.log(`${view}\t${basename(file)}\t${String(error).slice(0, 80)}`);
      continue;
    }
    for (let i = 0; i < 3; i++) once(bytes, VIEWS[view]);
    const times = Array.from({ length: runs }, () => once(bytes, VIEWS[view]));
    console.log(`${view}\t${basename(file)}\t${first.toFixed(1)}\t${Math.min(...times).toFixed(1)}\t${median(times).toFixed(1)}`);
  }
}
