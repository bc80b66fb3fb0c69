// The npm package's JS API (js/index.js) in a real browser: openBytes + drawGrid on the main thread,
// openBlob inside a dedicated worker, and a plain-words refusal of openBlob on the main thread.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';
import { startServer } from '../../scripts/serve.mjs';
import { startCheckpointServer } from '../server/checkpoint-server.mjs';
import {
  CHROMIUM, CHROMIUM_ARGS, REPO, assertSamePixels, defaultTiles, drawableFixtures, expectedGrid, loadManifest,
} from './harness.mjs';

// The package's files are served from the repository root, as a bundler would see them installed.
const PAGE = 'api-test.html';
const WORKER = 'api-test-worker.js';
const DEFAULTS = { count: 128, columns: 16, zoom: 4, gap: 2, gapColor: '#1b1e24' }; // the module's defaults

let server;
let browser;
let page;
let manifest;
before(async () => {
  assert.ok(existsSync(join(REPO, 'pkg/patchlens.js')), 'pkg/patchlens.js is missing: build it first with `npm run build`.');
  manifest = loadManifest();
  server = await startServer({ root: REPO, port: 0 });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  page = await browser.newPage();
  // Two documents that exist only in the test: a page and a worker importing the package.
  await page.route(`${server.url}${PAGE}`, (route) => route.fulfill({
    contentType: 'text/html', body: '<!doctype html><link rel="icon" href="data:,"><canvas id="c"></canvas>',
  }));
  await page.route(`${server.url}${WORKER}`, (route) => route.fulfill({
    contentType: 'text/javascript',
    body: `import { openBlob, openFiles } from './js/index.js';
      self.onmessage = async ({ data }) => {
        try {
          if (Array.isArray(data)) { // several files: one result per checkpoint among them
            const opened = await openFiles(data);
            self.postMessage(opened.map((o) => {
              if (!o.checkpoint) return { label: o.label, files: o.files, error: o.error };
              const grid = o.checkpoint.render({ layout: 'oihw' });
              const out = { label: o.label, files: o.files, width: grid.width, height: grid.height, tensor: grid.tensor,
                layout: grid.layout, notes: o.checkpoint.notes, reason: o.checkpoint.defaultReason, rgba: grid.rgba };
              o.checkpoint.free();
              return out;
            }));
            return;
          }
          const checkpoint = await openBlob(data);
          const grid = checkpoint.render();
          self.postMessage({ width: grid.width, height: grid.height, tensor: grid.tensor,
            bytesRead: checkpoint.bytesRead, reads: checkpoint.reads, rgba: grid.rgba });
          checkpoint.free();
        } catch (error) { self.postMessage({ error: error.message }); }
      };`,
  }));
  await page.goto(`${server.url}${PAGE}`);
});
after(async () => { await browser?.close(); await server?.close(); await host?.close(); });
let host; // the checkpoint host, for openUrl

const asBase64 = (path) => readFileSync(path).toString('base64');

test('openBytes + drawGrid draw the default tensor exactly', async () => {
  const fixture = drawableFixtures(manifest)[0];
  const tiles = defaultTiles(fixture);
  const result = await page.evaluate(async (base64) => {
    const { openBytes, drawGrid } = await import('./js/index.js');
    const bytes = Uint8Array.from(atob(base64), (ch) => ch.charCodeAt(0));
    const checkpoint = await openBytes(bytes.buffer); // an ArrayBuffer is accepted too
    const grid = checkpoint.render();
    const canvas = drawGrid(document.getElementById('c'), grid);
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    checkpoint.free();
    return { width: canvas.width, height: canvas.height, tensor: grid.tensor, rgba: Array.from(data) };
  }, asBase64(fixture.path));
  assert.equal(result.tensor, fixture.default_tensor);
  assertSamePixels({ ...result, rgba: Uint8Array.from(result.rgba) }, expectedGrid(tiles.path, tiles.kernel_shape, DEFAULTS), 'drawGrid');
});

test('openBlob reads lazily inside a worker', async () => {
  const fixture = drawableFixtures(manifest).find((f) => f.name === 'stored_f32.npz') ?? drawableFixtures(manifest)[0];
  const tiles = defaultTiles(fixture);
  const result = await page.evaluate(async ({ base64, worker }) => {
    const bytes = Uint8Array.from(atob(base64), (ch) => ch.charCodeAt(0));
    const w = new Worker(worker, { type: 'module' });
    const reply = await new Promise((resolve) => { w.onmessage = ({ data }) => resolve(data); w.postMessage(new Blob([bytes])); });
    w.terminate();
    return reply.error ? reply : { ...reply, rgba: Array.from(reply.rgba), size: bytes.length };
  }, { base64: asBase64(fixture.path), worker: WORKER });
  assert.equal(result.error, undefined, result.error);
  assert.equal(result.tensor, fixture.default_tensor);
  // By ranges: the head, the zip tail and the kernel's entry. This file is little more than its kernel,
  // so those ranges together cover nearly all of it.
  assert.equal(result.reads, 3, `${result.reads} reads`);
  assert.ok(result.bytesRead <= result.size, `read ${result.bytesRead} of ${result.size} bytes`);
  assertSamePixels({ ...result, rgba: Uint8Array.from(result.rgba) }, expectedGrid(tiles.path, tiles.kernel_shape, DEFAULTS), 'openBlob');
});

test('openFiles in a worker: shards and their index are one checkpoint, another file its own', async () => {
  const shards = manifest.fixtures.find((f) => f.name === 'model.safetensors.index.json');
  const single = manifest.fixtures.find((f) => f.name === 'dino_checkpoint.pth');
  assert.ok(shards && single, 'the manifest has the sharded safetensors and the DINO checkpoint');
  const paths = [single.path, shards.path, ...shards.companions.map((c) => join(dirname(shards.path), c))];
  const files = paths.map((path) => ({ base64: asBase64(path), name: basename(path) }));
  const result = await page.evaluate(async ({ list, worker }) => {
    const made = list.map(({ base64, name }) => new File([Uint8Array.from(atob(base64), (ch) => ch.charCodeAt(0))], name));
    const w = new Worker(worker, { type: 'module' });
    const reply = await new Promise((resolve) => { w.onmessage = ({ data }) => resolve(data); w.postMessage(made); });
    w.terminate();
    return reply.error ? reply : reply.map((r) => ({ ...r, rgba: r.rgba && Array.from(r.rgba) }));
  }, { list: files, worker: WORKER });
  assert.equal(result.error, undefined, result.error);
  assert.deepEqual(result.map((r) => r.label), ['model.safetensors', 'dino_checkpoint.pth']);
  assert.equal(result[0].files.length, 4);
  for (const [r, fixture] of [[result[0], shards], [result[1], single]]) {
    const tiles = defaultTiles(fixture);
    assert.equal(r.tensor, fixture.default_tensor);
    assert.equal(r.layout, 'oihw');
    assertSamePixels({ ...r, rgba: Uint8Array.from(r.rgba) }, expectedGrid(tiles.path, tiles.kernel_shape, DEFAULTS), r.label);
  }
  assert.match(result[1].reason, /teacher/);
  assert.ok(result[1].notes.some((n) => n.includes('argparse.Namespace')), result[1].notes.join(' | '));
});

test('openUrl reads a checkpoint on another origin by ranges, inside a worker', async () => {
  const fixture = drawableFixtures(manifest).find((f) => f.name === 'stored_f32.npz') ?? drawableFixtures(manifest)[0];
  host = await startCheckpointServer({ root: dirname(fixture.path) });
  const url = `${host.origin}/redirect/${encodeURIComponent(basename(fixture.path))}`;
  // A page with no routes: Playwright's request interception breaks a worker's cross-origin requests. The
  // worker is a module made from a blob, importing the package from the server.
  const plain = await browser.newPage();
  await plain.goto(`${server.url}examples/index.html`);
  const result = await plain.evaluate(async (url) => {
    const source = `import { openUrl } from '${location.origin}/js/index.js';
      self.onmessage = async ({ data }) => {
        try {
          const checkpoint = await openUrl(data);
          const grid = checkpoint.render();
          self.postMessage({ tensor: grid.tensor, width: grid.width, height: grid.height, requests: checkpoint.requests,
            networkBytes: checkpoint.networkBytes, rgba: grid.rgba });
        } catch (error) { self.postMessage({ error: error.message }); }
      };`;
    const w = new Worker(URL.createObjectURL(new Blob([source], { type: 'text/javascript' })), { type: 'module' });
    const reply = await new Promise((resolve) => { w.onmessage = ({ data }) => resolve(data); w.postMessage(url); });
    w.terminate();
    return reply.error ? reply : { ...reply, rgba: Array.from(reply.rgba) };
  }, url);
  await plain.close();
  assert.equal(result.error, undefined, result.error);
  assert.equal(result.tensor, fixture.default_tensor);
  const served = host.log.filter((e) => e.status === 206);
  assert.equal(result.requests, served.length, `its counter is the host's: ${JSON.stringify(host.log)}`);
  assert.equal(result.networkBytes, served.reduce((sum, e) => sum + e.bytes, 0));
  assert.ok(result.requests <= 3, `${result.requests} requests`);
  const tiles = defaultTiles(fixture);
  assertSamePixels({ ...result, rgba: Uint8Array.from(result.rgba) }, expectedGrid(tiles.path, tiles.kernel_shape, DEFAULTS), 'openUrl');
});

test('openBlob on the main thread refuses in plain words', async () => {
  const message = await page.evaluate(async () => {
    const { openBlob } = await import('./js/index.js');
    return openBlob(new Blob(['x'])).then(() => 'opened', (error) => error.message);
  });
  assert.match(message, /only inside a dedicated Web Worker/);
});

test('a broken file is an Error with one sentence', async () => {
  const message = await page.evaluate(async () => {
    const { openBytes } = await import('./js/index.js');
    return openBytes(new TextEncoder().encode('not a checkpoint')).then(() => 'opened', (error) => `${error.constructor.name}: ${error.message}`);
  });
  assert.match(message, /^Error: [A-Z].*\.$/);
});
