// The browser's floor under each format's drop → pixels (not a test): the reads that opening and drawing the file
// make (`examples/reads.rs`, natively: which file, offset, length), replayed in headless Chromium through the
// page's own way of reading a dropped file — `FileReaderSync` on a slice of the `File`, in a worker — with nothing
// else: no parsing, no decoding, no drawing. However fast everything else gets, the page cannot beat this.
//
//   node benches/read_floor.mjs [--runs 15] [--reference benches/data/reference.jsonl] file a.index+a.data ...
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
    runs: { type: 'string', default: '15' },
    reference: { type: 'string' },
    reads: { type: 'string', default: fileURLToPath(new URL('../target/release/examples/reads', import.meta.url)) },
    chromium: { type: 'string', default: process.env.CHROMIUM ?? '/usr/bin/chromium' },
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

const WORKER = `
const reader = new FileReaderSync();
onmessage = ({ data: { files, reads, runs } }) => {
  const once = () => {
    const started = performance.now();
    for (const [file, offset, length] of reads) {
      const bytes = reader.readAsArrayBuffer(files[file].slice(offset, offset + length));
      if (bytes.byteLength !== length) throw new Error('short read');
    }
    return performance.now() - started;
  };
  once(); // the first touch of a file opens it in the browser process; a dropped file's open is not timed either
  postMessage(Array.from({ length: runs }, once));
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
    await page.setInputFiles('#files', path.split('+'));
    const times = await page.evaluate(({ reads, runs }) => new Promise((resolve, reject) => {
      const worker = new Worker('worker.js');
      worker.onmessage = ({ data }) => { worker.terminate(); resolve(data); };
      worker.onerror = (e) => reject(new Error(e.message));
      worker.postMessage({ files: [...document.getElementById('files').files], reads, runs });
    }), { reads: listed.reads, runs: Number(flags.runs) });
    const bytes = listed.reads.reduce((sum, [, , length]) => sum + length, 0);
    const ref = referenceOf(path);
    const floor = median(times);
    rows.push([label(path), listed.reads.length, bytes.toLocaleString('en'), `${floor.toFixed(1)} (${Math.min(...times).toFixed(1)}–${Math.max(...times).toFixed(1)})`,
      ref === undefined ? '–' : `${(1.5 * ref).toFixed(1)}`, ref === undefined ? '–' : `${(1.5 * ref - floor).toFixed(1)}`]);
  }
  const header = ['file', 'reads (open + draw)', 'bytes', 'the reads alone in Chromium, median ms (min–max)', '1.5 × reference, ms', 'left for everything else, ms'];
  console.log(`| ${header.join(' | ')} |`);
  console.log(`|${header.map(() => '---').join('|')}|`);
  for (const row of rows) console.log(`| ${row.join(' | ')} |`);
} finally {
  await browser.close();
  await server.close();
  rmSync(site, { recursive: true, force: true });
}
