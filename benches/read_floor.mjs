// The browser's floor under each format's drop → pixels (not a test): the reads that opening and drawing the file
// make (`examples/reads.rs`, natively: which file, offset, length), replayed in headless Chromium through the
// page's own way of reading a dropped file — `FileReaderSync` on a slice of the `File`, in a worker — with nothing
// else: no parsing, no decoding, no drawing. However fast everything else gets, the page cannot beat this. Each run
// gives the file input the file anew, as a drop does, and replays the reads twice: the first time is what a drop
// pays (the browser opens the file on its first read), the second is shown beside it. 'Left for everything else'
// is 1.5 × the reference minus the first.
//
//   node benches/read_floor.mjs [--runs 9] [--reference benches/data/reference.jsonl] file a.index+a.data ...
//   (needs `cargo build --release --example reads`; files joined by `+` are opened together)
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { startServer } from '../scripts/serve.mjs';

const { values: flags, positionals: files } = parseArgs({
  allowPositionals: true,
  options: {
    runs: { type: 'string', default: '9' },
    reference: { type: 'string' },
    reads: { type: 'string', default: fileURLToPath(new URL('../target/release/examples/reads', import.meta.url)) },
    chromium: { type: 'string', default: process.env.CHROMIUM ?? '/usr/bin/chromium' },
    // `async` replays the same reads with `await blob.slice(…).arrayBuffer()` instead, one after another (each
    // read's offset depends on the one before, as in a parser), to see whether the other API is the faster floor.
    api: { type: 'string', default: 'sync' },
  },
});
if (files.length === 0) {
  console.error('usage: node benches/read_floor.mjs [--runs N] [--reference reference.jsonl] checkpoint ...');
  process.exit(2);
}
const label = (path) => path.split('+').map((p) => basename(p)).join(' + ');
const reference = new Map((flags.reference ? readFileSync(flags.reference, 'utf8').split('\n').filter(Boolean) : [])
  .map((line) => JSON.parse(line)).filter((r) => r.file).map((r) => [basename(r.file), r.median_ms]));
const referenceOf = (path) => reference.get(basename(path.split('+')[0])) ?? reference.get('augreg_b16.npz');

if (!['sync', 'async'].includes(flags.api)) {
  console.error(`--api is sync or async, not ${flags.api}`);
  process.exit(2);
}
const WORKER = `
const reader = new FileReaderSync();
const read = {
  sync: (blob) => reader.readAsArrayBuffer(blob),
  async: (blob) => blob.arrayBuffer(),
}[${JSON.stringify(flags.api)}];
onmessage = async ({ data: { files, reads } }) => {
  const once = async () => {
    const started = performance.now();
    for (const [file, offset, length] of reads) {
      const bytes = await read(files[file].slice(offset, offset + length));
      if (bytes.byteLength !== length) throw new Error('short read');
    }
    return performance.now() - started;
  };
  // The first replay is the one a drop pays (the browser opens the file on its first read); the second is warm.
  postMessage([await once(), await once()]);
};`;

const site = mkdtempSync(join(tmpdir(), 'read-floor-'));
writeFileSync(join(site, 'index.html'), '<!doctype html><input type="file" id="files" multiple>');
writeFileSync(join(site, 'worker.js'), WORKER);
const server = await startServer({ root: site, port: 0 });
const browser = await chromium.launch({ executablePath: flags.chromium, args: ['--headless', '--no-sandbox', '--disable-gpu'] });
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
try {
  const page = await browser.newPage();
  await page.goto(`${server.url}index.html`);
  const rows = [];
  for (const path of files) {
    const [listed] = execFileSync(flags.reads, ['--json', path], { encoding: 'utf8' }).split('\n').filter(Boolean).map((l) => JSON.parse(l));
    if (listed.error) throw new Error(`${label(path)}: ${listed.error}`);
    const first = [];
    const times = [];
    for (let run = 0; run < Number(flags.runs); run += 1) {
      // Given anew each run, as a drop gives the page a new File.
      await page.setInputFiles('#files', []);
      await page.setInputFiles('#files', path.split('+'));
      const [cold, warm] = await page.evaluate((reads) => new Promise((resolve, reject) => {
        const worker = new Worker('worker.js');
        worker.onmessage = ({ data }) => { worker.terminate(); resolve(data); };
        worker.onerror = (e) => reject(new Error(e.message));
        worker.postMessage({ files: [...document.getElementById('files').files], reads });
      }), listed.reads);
      first.push(cold);
      times.push(warm);
    }
    const bytes = listed.reads.reduce((sum, [, , length]) => sum + length, 0);
    const ref = referenceOf(path);
    const range = (xs) => `${median(xs).toFixed(1)} (${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)})`;
    const floor = median(first);
    rows.push([label(path), listed.reads.length, bytes.toLocaleString('en'), range(first), range(times),
      ref === undefined ? '–' : `${(1.5 * ref).toFixed(1)}`, ref === undefined ? '–' : `${(1.5 * ref - floor).toFixed(1)}`]);
  }
  const header = ['file', 'reads (open + draw)', 'bytes', 'the reads of a new drop, median ms (min–max)', 'the same reads again, ms', '1.5 × reference, ms', 'left for everything else, ms'];
  console.log(`| ${header.join(' | ')} |`);
  console.log(`|${header.map(() => '---').join('|')}|`);
  for (const row of rows) console.log(`| ${row.join(' | ')} |`);
} finally {
  await browser.close();
  await server.close();
  rmSync(site, { recursive: true, force: true });
}
