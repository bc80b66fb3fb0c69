// Times the page end to end: for each checkpoint given, open it N times in headless Chromium through
// the file input (the browser reads it from disk, as after a drop) and report what the status line
// measured: milliseconds from the input event to pixels on the canvas, and bytes read from the file.
//
//   node benches/drop.mjs [--runs 7] [--count 128] [--after-sample] [--www www/] path/to/model.npz ...
//   (files joined by `+` are dropped together: model.index+model.data-00000-of-00001)
//
// Each run reloads the page (?sample=none, so the sample does not pollute the numbers) and waits for
// the module to compile first. Memory: the page's JS heap growth (CDP Performance.getMetrics,
// JSHeapUsedSize after a forced GC, before vs. after) and the worker's WebAssembly memory size.
import { readFileSync, statSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { startServer } from '../scripts/serve.mjs';

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run'];
const TIMEOUT_MS = 10 * 60_000; // a multi-gigabyte checkpoint on a slow disk still finishes

const { values: flags, positionals: files } = parseArgs({
  allowPositionals: true,
  options: {
    runs: { type: 'string', default: '7' },
    // Drop after the page has drawn its sample, as a user does; without it, the drop is the module's first work.
    'after-sample': { type: 'boolean', default: false },
    count: { type: 'string', default: '128' },
    // With --after-sample: how long the page is left idle after drawing its sample before the drop, in ms.
    settle: { type: 'string', default: '1000' },
    // benches/reference.py's JSON lines: each file's drop beside its own reference pipeline, or, for a format
    // the reference does not read, beside the notebook's (lazy np.load + MinMaxScaler) on the AugReg B/16 .npz.
    reference: { type: 'string' },
    chromium: { type: 'string', default: process.env.CHROMIUM ?? '/usr/bin/chromium' },
    www: { type: 'string', default: fileURLToPath(new URL('../www/', import.meta.url)) },
  },
});
if (files.length === 0) {
  console.error('usage: node benches/drop.mjs [--runs N] [--count N] checkpoint.npz ...');
  process.exit(2);
}
const runs = Number(flags.runs);
const label = (path) => path.split('+').map((p) => basename(p)).join(' + ');
const reference = new Map((flags.reference ? readFileSync(flags.reference, 'utf8').split('\n').filter(Boolean) : [])
  .map((line) => JSON.parse(line)).filter((r) => r.file).map((r) => [basename(r.file), r.median_ms]));
/** The reference time for a file, and what it is: its own pipeline's, else the notebook's on the B/16 .npz. */
function referenceOf(path) {
  const own = reference.get(basename(path.split('+')[0]));
  if (own !== undefined) return { ms: own, what: '' };
  const npz = reference.get('augreg_b16.npz');
  return npz === undefined ? null : { ms: npz, what: ' (npz B/16)' };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
function human(bytes) {
  const units = ['B', 'kB', 'MB', 'GB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1000 && unit < units.length - 1) { value /= 1000; unit += 1; }
  return `${unit === 0 ? value : value.toFixed(Math.abs(value) < 10 ? 2 : 1)} ${units[unit]}`;
}

async function heapUsed(cdp) {
  await cdp.send('HeapProfiler.collectGarbage');
  const { metrics } = await cdp.send('Performance.getMetrics');
  return metrics.find((m) => m.name === 'JSHeapUsedSize').value;
}

async function oneRun(page, cdp, url, path) {
  await page.goto(url);
  await page.waitForSelector('html[data-module="ready"]', { timeout: TIMEOUT_MS });
  if (flags['after-sample']) {
    await page.waitForFunction(() => document.getElementById('status').dataset.state === 'ready', null, { timeout: TIMEOUT_MS });
    // A person needs more than a second to pick a file after seeing the sample: the idle worker warms up meanwhile.
    await page.waitForTimeout(Number(flags.settle));
  }
  await page.fill('#count', flags.count);
  const before = await heapUsed(cdp);
  await page.evaluate(() => { document.getElementById('status').dataset.state = 'bench-waiting'; });
  // A local path (Chromium reads the file itself); `a+b` drops files together (a TensorFlow index and its data).
  await page.setInputFiles('#file-input', path.split('+'));
  await page.waitForFunction(() => ['ready', 'error'].includes(document.getElementById('status').dataset.state),
    null, { timeout: TIMEOUT_MS, polling: 50 });
  const data = await page.evaluate(() => ({ ...document.getElementById('status').dataset,
    alert: document.getElementById('alert').textContent }));
  if (data.state !== 'ready') throw new Error(`${label(path)}: ${data.alert || 'the page did not draw it'}`);
  // The tensor list follows the pixels (one header read per npz entry); time it separately.
  await page.waitForSelector('#tensor[data-listed="done"]', { state: 'attached', timeout: TIMEOUT_MS });
  data.listMs = await page.getAttribute('#status', 'data-list-ms');
  const after = await heapUsed(cdp);
  return {
    steps: data.steps ? JSON.parse(data.steps) : {},
    ms: Number(data.ms), openMs: Number(data.openMs), listMs: Number(data.listMs), renderMs: Number(data.renderMs),
    bytesRead: Number(data.bytesRead),
    heapGrowth: after - before, wasmMemory: Number(data.wasmMemory ?? NaN), tensor: data.tensor,
  };
}

const server = await startServer({ root: flags.www, port: 0 });
const browser = await chromium.launch({ executablePath: flags.chromium, args: CHROMIUM_ARGS });
const rows = [];
const stepRows = [];
// The page's step timings (app.js stepTimes): page before sending, transit, the worker's open and render (its
// read — of which the file's reads —, scale, grid and stats), the worker's whole handling, the reply's transit, the
// page's work on the reply before drawing, canvas put.
const STEP_KEYS = ['page', 'message', 'open', 'openRead', 'render', 'read', 'fileRead', 'scale', 'grid', 'stats', 'worker', 'reply',
  'beforeDraw', 'put'];
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Performance.enable');
  const url = flags['after-sample'] ? server.url : `${server.url}?sample=none`;
  for (const file of files) {
    const path = file.split('+').map((f) => resolve(f)).join('+');
    const size = path.split('+').reduce((sum, f) => sum + statSync(f).size, 0);
    const results = [];
    for (let i = 0; i < runs; i += 1) {
      const result = await oneRun(page, cdp, url, path);
      results.push(result);
      console.error(`${label(path)} run ${i + 1}/${runs}: ${result.ms} ms, read ${result.bytesRead} B`);
    }
    const ms = results.map((r) => r.ms);
    const keys = [...new Set(results.flatMap((r) => Object.keys(r.steps)))];
    stepRows.push([label(path), ...STEP_KEYS.map((k) => {
      const xs = results.map((r) => r.steps[k]).filter((x) => typeof x === 'number');
      return xs.length ? median(xs).toFixed(1) : '–';
    })]);
    if (keys.some((k) => !STEP_KEYS.includes(k))) console.error(`unlisted steps: ${keys}`);
    const ref = referenceOf(path);
    rows.push([
      label(path), human(size), results[0].tensor, String(runs),
      `${median(ms)} (${Math.min(...ms)}–${Math.max(...ms)})`,
      ...(reference.size ? [ref ? `${ref.ms.toFixed(1)}${ref.what} · ${(median(ms) / ref.ms).toFixed(2)}×` : '–'] : []),
      `${['openMs', 'renderMs'].map((k) => median(results.map((r) => r[k])).toFixed(0)).join(' / ')}, then ${median(results.map((r) => r.listMs)).toFixed(0)}`,
      `${results[0].bytesRead.toLocaleString('en')} (${((100 * results[0].bytesRead) / size).toFixed(2)} %)`,
      human(median(results.map((r) => r.heapGrowth))),
      Number.isNaN(results[0].wasmMemory) ? 'n/a' : human(Math.max(...results.map((r) => r.wasmMemory))),
    ]);
  }
} finally {
  await browser.close();
  await server.close();
}

const header = ['file', 'size', 'tensor', 'runs', 'drop → pixels, median ms (min–max)',
  ...(reference.size ? ['reference, median ms · ratio'] : []), 'in worker: open / render, then list, ms',
  'bytes read (of file)', 'page JS heap growth', 'wasm memory'];
console.log(`| ${header.join(' | ')} |`);
console.log(`|${header.map(() => '---').join('|')}|`);
for (const row of rows) console.log(`| ${row.join(' | ')} |`);
console.log();
console.log(`Where the time went, median ms per step (${STEP_KEYS.length} steps; render = read + scale + grid + stats + passing the result to JS):`);
console.log();
console.log(`| file | ${STEP_KEYS.join(' | ')} |`);
console.log(`|---|${STEP_KEYS.map(() => '---').join('|')}|`);
for (const row of stepRows) console.log(`| ${row.join(' | ')} |`);
