// Times each view of the page: for each view and checkpoint, open the page with the view chosen in its address
// (as a shared link does), let it draw its sample, then open the file through the file input (the browser
// reads it from disk, as after a drop) and report what the status line measured: milliseconds from the input
// event to that view's pixels on the canvas. With --reference (benches/reference_views.py's JSON lines) the
// table puts the reference Python's time for the same view and file beside it.
//
//   node benches/views.mjs [--runs 7] [--views filters,pca,...] [--reference ref.jsonl] [--www www/] model.npz ...
//
// Each run loads the page afresh. The sample holds no position embedding, so under the position views it is
// not drawn (the page says why) and the drop is then the position code's first run in that page.
import { readFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { startServer } from '../scripts/serve.mjs';

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run'];
const TIMEOUT_MS = 10 * 60_000; // a multi-gigabyte checkpoint on a slow disk still finishes

// The views by the names benches/reference_views.py uses: the page address that selects each (www/app.js
// HASH_FIELDS), and what the status line's data then says was drawn.
const VIEWS = {
  filters: { hash: '', drawn: { view: 'filters', filtersShown: '128', normalize: 'filter', order: 'file', channels: 'false' } },
  global: { hash: 'normalize=global', drawn: { view: 'filters', filtersShown: '128', normalize: 'global' } },
  symmetric: { hash: 'normalize=symmetric', drawn: { view: 'filters', filtersShown: '128', normalize: 'symmetric' } },
  norm: { hash: 'order=norm', drawn: { view: 'filters', filtersShown: '128', normalize: 'filter', order: 'norm' } },
  channels: { hash: 'channels=1', drawn: { view: 'filters', filtersShown: '128', normalize: 'filter', channels: 'true' } },
  pca: { hash: 'view=pca&k=28', drawn: { view: 'pca', filtersShown: '28' } },
  'positions-cosine': { hash: 'view=positions-cosine', drawn: { view: 'positions', mode: 'cosine' } },
  'positions-dot': { hash: 'view=positions-dot', drawn: { view: 'positions', mode: 'dot' } },
};
const WORDS = {
  filters: 'filters, per filter (the notebook)', global: 'filters, whole kernel', symmetric: 'filters, symmetric',
  norm: 'filters, by norm', channels: 'filters, R G B apart', pca: 'principal components (28)',
  'positions-cosine': 'positions, cosine', 'positions-dot': 'positions, P·Pᵀ',
};

const { values: flags, positionals: files } = parseArgs({
  allowPositionals: true,
  options: {
    runs: { type: 'string', default: '7' },
    views: { type: 'string', default: Object.keys(VIEWS).join(',') },
    reference: { type: 'string' },
    // How long the page is left idle after its sample before the drop, in ms (benches/drop.mjs's --settle).
    settle: { type: 'string', default: '1000' },
    chromium: { type: 'string', default: process.env.CHROMIUM ?? '/usr/bin/chromium' },
    www: { type: 'string', default: fileURLToPath(new URL('../www/', import.meta.url)) },
  },
});
const views = flags.views.split(',');
if (files.length === 0 || views.some((v) => !(v in VIEWS))) {
  console.error(`usage: node benches/views.mjs [--runs N] [--views ${Object.keys(VIEWS).join(',')}] [--reference ref.jsonl] checkpoint.npz ...`);
  process.exit(2);
}
const runs = Number(flags.runs);
const reference = new Map((flags.reference ? readFileSync(flags.reference, 'utf8').split('\n').filter(Boolean) : [])
  .map((line) => JSON.parse(line)).map((r) => [`${r.view} ${r.file}`, r]));

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function oneRun(page, url, path, view) {
  await page.goto('about:blank'); // a new address differing only in its hash would not reload the page
  await page.goto(url);
  await page.waitForSelector('html[data-module="ready"]', { timeout: TIMEOUT_MS });
  // The sample drawn (or, under a view it cannot be drawn in, refused): the page as a user sees it.
  const settled = () => ['ready', 'error'].includes(document.getElementById('status').dataset.state);
  await page.waitForFunction(settled, null, { timeout: TIMEOUT_MS });
  const sample = await page.evaluate(() => document.getElementById('status').dataset.state);
  // A person needs more than a second to pick a file after seeing the sample: the idle worker warms up meanwhile.
  await page.waitForTimeout(Number(flags.settle));
  await page.evaluate(() => { document.getElementById('status').dataset.state = 'bench-waiting'; });
  await page.setInputFiles('#file-input', path); // a local path: Chromium reads the file itself
  await page.waitForFunction(settled, null, { timeout: TIMEOUT_MS, polling: 50 });
  const data = await page.evaluate(() => ({ ...document.getElementById('status').dataset,
    alert: document.getElementById('alert').textContent }));
  if (data.state !== 'ready') throw new Error(`${view} ${basename(path)}: ${data.alert || 'the page did not draw it'}`);
  // The page must have drawn this file in this view, not kept something else.
  const wrong = Object.entries({ file: basename(path), ...VIEWS[view].drawn }).filter(([k, v]) => data[k] !== v);
  if (wrong.length > 0) throw new Error(`${view} ${basename(path)}: the page drew ${wrong.map(([k]) => `${k}=${data[k]}`).join(', ')}`);
  return { ms: Number(data.ms), openMs: Number(data.openMs), renderMs: Number(data.renderMs), sample };
}

const server = await startServer({ root: flags.www, port: 0 });
const browser = await chromium.launch({ executablePath: flags.chromium, args: CHROMIUM_ARGS });
const rows = [];
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  for (const view of views) {
    const url = VIEWS[view].hash ? `${server.url}#${VIEWS[view].hash}` : server.url;
    for (const file of files) {
      const path = resolve(file);
      const results = [];
      for (let i = 0; i < runs; i += 1) {
        const result = await oneRun(page, url, path, view);
        results.push(result);
        console.error(`${view} ${basename(path)} run ${i + 1}/${runs}: ${result.ms} ms (sample ${result.sample})`);
      }
      const ms = results.map((r) => r.ms);
      const ref = reference.get(`${view} ${basename(path)}`);
      rows.push([
        WORDS[view], basename(path),
        ref ? `${ref.median_ms.toFixed(1)} (${ref.min_ms.toFixed(0)}–${ref.max_ms.toFixed(0)})` : 'n/a',
        `${median(ms)} (${Math.min(...ms)}–${Math.max(...ms)})`,
        ['openMs', 'renderMs'].map((k) => median(results.map((r) => r[k])).toFixed(0)).join(' / '),
        results.every((r) => r.sample === 'ready') ? 'drawn' : 'not drawable in this view',
      ]);
    }
  }
} finally {
  await browser.close();
  await server.close();
}

const header = ['view', 'file', 'reference Python, median ms (min–max)', 'patchlens page: drop → pixels, median ms (min–max)',
  'in worker: open / render, ms', 'the sample before the drop'];
console.log(`| ${header.join(' | ')} |`);
console.log(`|${header.map(() => '---').join('|')}|`);
for (const row of rows) console.log(`| ${row.join(' | ')} |`);
