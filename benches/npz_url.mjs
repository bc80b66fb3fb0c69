// An `.npz` by URL (issue 14): requests, bytes and time to its pixels and to its whole tensor list, for
// several builds side by side in one run (say main's and a branch's), each by the page in headless Chromium
// (`?url=`, a fresh page per run) and by the Rust CLI (`patchlens list URL`). The test host answers with 50 ms
// before each response at 100 Mbit/s, once answering several ranges as nginx does (206 multipart/byteranges)
// and once as S3 and GCS do (the whole file: `?multirange=whole`).
//
//   node benches/npz_url.mjs --build before=/tmp/www-main --cli before=/tmp/main/patchlens \
//        --build after=www --cli after=target/release/patchlens [--runs 3] [--delay 50] [--rate 12500000] file.npz ...
//
// A build is a www/ folder with its pkg/; a CLI is a binary built with `--features cli,http`. Requests are the
// host's own count for the file (GETs and HEADs; a browser's CORS preflights are not counted).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { basename, dirname, resolve } from 'node:path';
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
    build: { type: 'string', multiple: true, default: [] },
    cli: { type: 'string', multiple: true, default: [] },
    runs: { type: 'string', default: '3' },
    delay: { type: 'string', default: '50' },
    rate: { type: 'string', default: '12500000' },
    chromium: { type: 'string', default: process.env.CHROMIUM ?? '/usr/bin/chromium' },
  },
});
const labelled = (specs) => specs.map((spec) => {
  const at = spec.indexOf('=');
  if (at < 1) throw new Error(`expected LABEL=PATH, got ${spec}`);
  return { label: spec.slice(0, at), path: resolve(spec.slice(at + 1)) };
});
const builds = labelled(flags.build);
const clis = labelled(flags.cli);
if (files.length === 0 || builds.length + clis.length === 0) {
  console.error('usage: node benches/npz_url.mjs --build LABEL=WWW_DIR --cli LABEL=BINARY ... [--runs N] file.npz ...');
  process.exit(2);
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const SERVERS = [['nginx-like', ''], ['S3-like', '&multirange=whole']];
const throttle = `delay=${Number(flags.delay)}&rate=${Number(flags.rate)}`;

/** The host's log for `name`: requests (redirects aside) and body bytes. */
const served = (host, name) => {
  const entries = host.log.filter((e) => e.path.includes(encodeURIComponent(name)) && e.status !== 302);
  return { requests: entries.length, heads: entries.filter((e) => e.method === 'HEAD').length,
    bytes: entries.reduce((sum, e) => sum + e.bytes, 0) };
};

const rows = [];
const browser = builds.length ? await chromium.launch({ executablePath: flags.chromium, args: CHROMIUM_ARGS }) : null;
const pages = await Promise.all(builds.map((b) => startServer({ root: b.path, port: 0 })));
for (const file of files) {
  const name = basename(file);
  const host = await startCheckpointServer({ root: dirname(resolve(file)) });
  for (const [server, query] of SERVERS) {
    const url = `${host.origin}/files/${encodeURIComponent(name)}?${throttle}${query}`;
    // Runs alternate between the builds, so a busy moment of the machine falls on all of them alike.
    const results = new Map([...builds, ...clis].map((b) => [b, []]));
    for (let run = 0; run < Number(flags.runs); run += 1) {
      for (const [i, build] of builds.entries()) {
        const context = await browser.newContext();
        const tab = await context.newPage();
        host.reset();
        const started = performance.now();
        await tab.goto(`${pages[i].url}?url=${encodeURIComponent(url)}`);
        await tab.waitForFunction(() => ['ready', 'error'].includes(document.getElementById('status').dataset.state),
          null, { timeout: TIMEOUT_MS });
        const drawn = await tab.evaluate(() => ({ ...document.getElementById('status').dataset }));
        if (drawn.state !== 'ready') throw new Error(`${name}: ${await tab.textContent('#alert')}`);
        // The list: every shape at once, or (from an object store) names and sizes first, then every shape on
        // "Read every shape".
        await tab.waitForFunction(() => ['names', 'done'].includes(document.getElementById('tensor').dataset.listed)
          && document.getElementById('status').dataset.listMs !== undefined, null, { timeout: TIMEOUT_MS });
        const listedAt = performance.now() - started;
        const list = served(host, name);
        const status = await tab.evaluate(() => ({ ...document.getElementById('status').dataset }));
        if (await tab.evaluate(() => document.getElementById('tensor').dataset.listed === 'names')) {
          await tab.click('.read-shapes');
          await tab.waitForFunction(() => document.getElementById('tensor').dataset.listed === 'done', null, { timeout: TIMEOUT_MS });
        }
        const shapesAt = performance.now() - started;
        // "(1 drawable of 200)": every tensor listed, drawable or not.
        const counted = await tab.evaluate(() => document.querySelector('.tensor-count')?.textContent ?? '');
        const count = Number(/of (\d+)/.exec(counted)?.[1] ?? NaN);
        results.get(build).push({ pixelsRequests: Number(drawn.requests), pixelsMs: Number(drawn.ms), listRequests: list.requests,
          listHeads: list.heads, listMs: Number(status.listMs), listedMs: listedAt, wallMs: shapesAt, count, ...served(host, name) });
        await context.close();
      }
      for (const cli of clis) {
        host.reset();
        const started = performance.now();
        // Not spawnSync: the host answers from this same process.
        const out = await promisify(execFile)(cli.path, ['list', '--all', url], { encoding: 'utf8', timeout: TIMEOUT_MS });
        const wallMs = performance.now() - started;
        const count = out.stdout.split('\n').filter((line) => /float32|float16|bfloat16|float64/.test(line)).length;
        const all = served(host, name);
        results.get(cli).push({ wallMs, count, listRequests: all.requests, listHeads: all.heads, ...all });
      }
    }
    for (const [build, runs] of results) {
      const kind = builds.includes(build) ? 'page' : 'CLI';
      rows.push({ file: name, server, build: `${build.label} (${kind})`, runs, kind });
    }
  }
  await host.close();
}
await browser?.close();
await Promise.all(pages.map((p) => p.close()));

console.log(`An .npz by URL, ${flags.delay} ms before each response, ${(Number(flags.rate) * 8 / 1e6).toFixed(0)} Mbit/s; `
  + `${flags.runs} runs each, medians (min–max):\n`);
console.log('| file | server | build | requests to pixels | requests with the list (HEADs) | requests with every shape | '
  + 'bytes with every shape | pixels, ms | list in the worker, ms | to the list, ms | to every shape, ms | tensors listed |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
const range = (xs) => `${Math.round(median(xs))} (${Math.round(Math.min(...xs))}–${Math.round(Math.max(...xs))})`;
for (const { file, server, build, runs, kind } of rows) {
  const pick = (key) => runs.map((r) => r[key]);
  const page = kind === 'page';
  console.log(`| ${file} | ${server} | ${build} | ${page ? median(pick('pixelsRequests')) : '–'} `
    + `| ${median(pick('listRequests'))} (${median(pick('listHeads'))}) | ${median(pick('requests'))} `
    + `| ${median(pick('bytes')).toLocaleString('en')} `
    + `| ${page ? range(pick('pixelsMs')) : '–'} | ${page ? range(pick('listMs')) : '–'} | ${page ? range(pick('listedMs')) : '–'} `
    + `| ${range(pick('wallMs'))} | ${median(pick('count'))} |`);
}
