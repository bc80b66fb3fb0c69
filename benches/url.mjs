// URL mode over a slow network (issue 8): each checkpoint is served by the test host with a delay before every
// response and a capped bandwidth, opened in headless Chromium by `?url=` (time to pixels, requests and bytes
// as the page's status line measured them), beside the time to download the whole file at the same latency and
// bandwidth — what a tool that reads everything would wait for.
//
//   node benches/url.mjs [--runs 3] [--delay 50] [--rate 12500000] path/to/model.npz ...
import { statSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { startServer } from '../scripts/serve.mjs';
import { startCheckpointServer } from '../tests/server/checkpoint-server.mjs';

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run'];
const TIMEOUT_MS = 10 * 60_000;

const { values: flags, positionals: files } = parseArgs({
  allowPositionals: true,
  options: {
    runs: { type: 'string', default: '3' },
    delay: { type: 'string', default: '50' }, // ms before each response: a far server
    rate: { type: 'string', default: '12500000' }, // bytes per second: 100 Mbit/s
    chromium: { type: 'string', default: process.env.CHROMIUM ?? '/usr/bin/chromium' },
    www: { type: 'string', default: fileURLToPath(new URL('../www/', import.meta.url)) },
  },
});
if (files.length === 0) {
  console.error('usage: node benches/url.mjs [--runs N] [--delay MS] [--rate BYTES_PER_S] checkpoint ...');
  process.exit(2);
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const mb = (bytes) => `${(bytes / 1e6).toFixed(bytes < 1e7 ? 2 : 1)} MB`;
const throttle = `delay=${Number(flags.delay)}&rate=${Number(flags.rate)}`;

const page = await startServer({ root: flags.www, port: 0 });
const browser = await chromium.launch({ executablePath: flags.chromium, args: CHROMIUM_ARGS });
const rows = [];
for (const file of files) {
  const host = await startCheckpointServer({ root: dirname(resolve(file)) });
  const url = `${host.origin}/files/${encodeURIComponent(basename(file))}?${throttle}`;
  const times = [];
  let last = null;
  for (let run = 0; run < Number(flags.runs); run += 1) {
    const context = await browser.newContext();
    const tab = await context.newPage();
    await tab.goto(`${page.url}?url=${encodeURIComponent(url)}`);
    await tab.waitForFunction(() => ['ready', 'error'].includes(document.getElementById('status').dataset.state),
      null, { timeout: TIMEOUT_MS });
    last = await tab.evaluate(() => ({ ...document.getElementById('status').dataset }));
    if (last.state !== 'ready') throw new Error(`${file}: ${await tab.textContent('#alert')}`);
    times.push(Number(last.ms));
    await context.close();
  }
  // The whole file at the same latency and bandwidth, as a full download would take it.
  const started = performance.now();
  const response = await fetch(`${host.origin}/norange/${encodeURIComponent(basename(file))}?${throttle}`);
  let received = 0;
  for await (const chunk of response.body) received += chunk.byteLength;
  const whole = performance.now() - started;
  await host.close();
  rows.push({ file: basename(file), size: statSync(file).size, ms: median(times), min: Math.min(...times),
    max: Math.max(...times), requests: Number(last.requests), bytes: Number(last.networkBytes), whole, received });
}
await browser.close();
await page.close();

const ratio = (x) => (x < 10 ? `${x.toFixed(1)}×` : `${Math.round(x)}×`);
console.log(`On a fresh page (the module's loading included), ${flags.delay} ms before each response, `
  + `${(Number(flags.rate) * 8 / 1e6).toFixed(0)} Mbit/s; ${flags.runs} runs each:\n`);
console.log(`| file | size | URL → pixels, median ms (min–max) | requests | transferred | whole download | faster |`);
console.log('|---|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(`| ${r.file} | ${mb(r.size)} | ${Math.round(r.ms)} (${Math.round(r.min)}–${Math.round(r.max)}) | ${r.requests} | ${mb(r.bytes)} `
    + `| ${(r.whole / 1000).toFixed(1)} s | ${ratio(r.whole / r.ms)} |`);
}
