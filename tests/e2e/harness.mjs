// Shared pieces for the end-to-end tests: a server for www/, real headless Chromium, the fixture
// manifest, the expected grid rebuilt from expected tiles (the layout rule of the spec), canvas readback.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startServer } from '../../scripts/serve.mjs';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const WWW = join(REPO, 'www');
export const MANIFEST = join(REPO, 'tests/fixtures/generated/manifest.json');
export const SAMPLE_NAME = 'dinov2-vits14-patch-embed.npz';
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run'];
export const VIEWPORT = { width: 1280, height: 800 };
/** The two devices the layout tests hold the page to: a 1280 × 800 desktop and a 390 × 844 phone (pixel ratio 3). */
export const DESKTOP = { viewport: VIEWPORT };
export const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 3 };

/** Fails with what to run when the built module or the fixtures are missing. */
export function requireBuild() {
  for (const file of ['pkg/patchlens.js', 'pkg/patchlens_bg.wasm']) {
    assert.ok(existsSync(join(WWW, file)), `www/${file} is missing: build it first with \`npm run build\` (scripts/build.sh).`);
  }
}

/**
 * The fixtures written by tests/reference/make_fixtures.py, with paths made absolute:
 * { fixtures: [{ file, default_tensor, tensors, tiles: [{ tensor, kernel_shape, file }] }], errors: [{ file, reason }] }
 */
export function loadManifest() {
  assert.ok(existsSync(MANIFEST),
    `${MANIFEST} is missing: generate the fixtures with \`python tests/reference/make_fixtures.py tests/fixtures/generated\` (scripts/test.sh does this).`);
  const manifest = JSON.parse(readFileSync(MANIFEST, 'utf8'));
  const dir = dirname(MANIFEST);
  const abs = (file) => join(dir, file);
  const fixtures = manifest.fixtures.map((f) => ({
    ...f,
    path: abs(f.file),
    name: basename(f.file),
    tiles: (f.tiles ?? []).map((t) => ({ ...t, path: abs(t.file) })),
  }));
  const errors = (manifest.errors ?? []).map((e) => ({ ...e, path: abs(e.file), name: basename(e.file) }));
  assert.ok(fixtures.length > 0, `${MANIFEST} lists no fixtures.`);
  return { fixtures, errors };
}

/** The manifest's copy of www/samples' sample (same bytes, any name), or undefined. */
export function sampleFixture(manifest) {
  const sample = readFileSync(join(WWW, 'samples', SAMPLE_NAME));
  return manifest.fixtures.find((f) => existsSync(f.path) && statSync(f.path).size === sample.length
    && readFileSync(f.path).equals(sample));
}

/** Single-file fixtures whose default tensor has expected tiles with 1 or 3 channels. */
export function drawableFixtures(manifest) {
  return manifest.fixtures.filter((f) => defaultTiles(f) && !f.companions);
}

/** Fixtures that are several files opened together (shards, ONNX external data), as [main, ...companions] paths. */
export function multiFileFixtures(manifest) {
  return manifest.fixtures.filter((f) => f.companions && defaultTiles(f))
    .map((f) => ({ ...f, paths: [f.path, ...f.companions.map((c) => join(dirname(f.path), c))] }));
}

export function defaultTiles(fixture) {
  return fixture.tiles.find((t) => t.tensor === fixture.default_tensor && [1, 3].includes(t.kernel_shape[2]));
}

/** Starts the server and the browser; `close()` stops both. */
export async function startSession() {
  requireBuild();
  const serverRequests = [];
  const server = await startServer({ root: WWW, port: 0, onRequest: (req) => serverRequests.push(req.url) });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS }); // fresh temporary profile
  return {
    server,
    browser,
    serverRequests,
    close: async () => { await browser.close(); await server.close(); },
  };
}

/**
 * Opens the page in a new context at 1280×800 and records every request and every error it logs.
 * Resolves once the initial sample load has finished (drawn or failed).
 */
export async function openPage(session, { waitForSample = true } = {}) {
  const context = await session.browser.newContext({ viewport: VIEWPORT, acceptDownloads: true });
  const page = await context.newPage();
  const requests = [];
  const problems = [];
  context.on('request', (request) => requests.push(request.url()));
  page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
  page.on('console', (message) => { if (message.type() === 'error') problems.push(`console: ${message.text()}`); });
  await page.goto(session.server.url);
  if (waitForSample) await waitSettled(page);
  return { context, page, requests, problems };
}

/** Waits until the status says a grid is drawn ('ready') or an open failed ('error'). */
export async function waitSettled(page, timeout = 30_000) {
  await page.waitForFunction(() => {
    const state = document.getElementById('status').dataset.state;
    return state === 'ready' || state === 'error';
  }, null, { timeout });
  return statusOf(page);
}

/** Runs `action`, then waits for the status it causes (not the one before it). */
export async function settledAfter(page, action) {
  await page.evaluate(() => { document.getElementById('status').dataset.state = 'test-waiting'; });
  await action();
  return waitSettled(page);
}

export function statusOf(page) {
  return page.evaluate(() => {
    const status = document.getElementById('status');
    const alert = document.getElementById('alert');
    return {
      text: status.textContent,
      data: { ...status.dataset },
      alert: alert.hidden ? null : alert.textContent,
      canvas: { width: document.getElementById('grid').width, height: document.getElementById('grid').height },
    };
  });
}

/** The page's current grid settings, read from its controls. */
export function controlsOf(page) {
  return page.evaluate(() => {
    const number = (id) => Number(document.getElementById(id).value);
    return {
      count: number('count'), columns: number('columns'), zoom: number('zoom'), gap: number('gap'),
      gapColor: document.getElementById('gap-color').value,
    };
  });
}

/** Dispatches real DragEvents carrying a File made in the page from `bytes`. */
export async function dropBytes(page, bytes, name) {
  return page.evaluate(async ({ base64, name: fileName }) => {
    const bytesIn = Uint8Array.from(atob(base64), (ch) => ch.charCodeAt(0));
    const transfer = new DataTransfer();
    transfer.items.add(new File([bytesIn], fileName));
    const target = document.getElementById('dropzone');
    const fire = (type) => target.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: transfer }));
    fire('dragenter');
    fire('dragover');
    const highlighted = document.body.classList.contains('dragging');
    const accepted = !fire('drop'); // dispatchEvent returns false when the page called preventDefault
    return { highlighted, accepted, highlightedAfter: document.body.classList.contains('dragging') };
  }, { base64: Buffer.from(bytes).toString('base64'), name });
}

/** Dispatches one drop carrying several Files (name and bytes each), as a multi-file drop from the desktop. */
export async function dropFiles(page, files) {
  return page.evaluate(async (list) => {
    const transfer = new DataTransfer();
    for (const { base64, name } of list) transfer.items.add(new File([Uint8Array.from(atob(base64), (ch) => ch.charCodeAt(0))], name));
    const target = document.getElementById('dropzone');
    const fire = (type) => target.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: transfer }));
    fire('dragenter');
    fire('dragover');
    return !fire('drop');
  }, files.map(({ bytes, name }) => ({ base64: Buffer.from(bytes).toString('base64'), name })));
}

/**
 * Drops folders as the desktop does: each `{ folder, files: [{ path (inside the folder, '/'-separated), bytes }] }`
 * arrives as a directory entry. Scripts cannot put a directory into a DataTransfer, so the items' webkitGetAsEntry
 * answers with entries that behave as Chromium's FileSystemDirectoryEntry / FileSystemFileEntry do (readEntries in
 * batches, then an empty batch); the page's own folder walk reads them.
 */
export async function dropFolders(page, folders) {
  const wire = folders.map(({ folder, files }) => ({
    folder, files: files.map(({ path, bytes }) => ({ path, base64: Buffer.from(bytes).toString('base64') })),
  }));
  return page.evaluate(async (list) => {
    const fileEntry = (name, file) => ({ isFile: true, isDirectory: false, name, file: (ok) => ok(file) });
    const dirEntry = (name, children) => ({
      isFile: false, isDirectory: true, name,
      createReader() {
        let given = 0;
        // Two entries a batch, so the page must keep asking until an empty batch, as with a real folder.
        return { readEntries: (ok) => { const batch = children.slice(given, given + 2); given += batch.length; ok(batch); } };
      },
    });
    const tree = (name, files) => {
      const here = [];
      const below = new Map();
      for (const { path, file } of files) {
        const [head, ...rest] = path.split('/');
        if (rest.length === 0) here.push(fileEntry(head, file));
        else below.set(head, [...(below.get(head) ?? []), { path: rest.join('/'), file }]);
      }
      return dirEntry(name, [...here, ...[...below].map(([sub, inside]) => tree(sub, inside))]);
    };
    const entries = list.map(({ folder, files }) => tree(folder, files.map(({ path, base64 }) => ({
      path, file: new File([Uint8Array.from(atob(base64), (ch) => ch.charCodeAt(0))], path.split('/').pop()),
    }))));
    const transfer = new DataTransfer();
    // A dropped folder shows up in `files` as an empty File of its name, as Chromium's does.
    for (const { folder } of list) transfer.items.add(new File([], folder));
    const original = DataTransferItem.prototype.webkitGetAsEntry;
    const byName = new Map(entries.map((e) => [e.name, e]));
    DataTransferItem.prototype.webkitGetAsEntry = function entry() { return byName.get(this.getAsFile()?.name) ?? null; };
    try {
      const target = document.getElementById('dropzone');
      const fire = (type) => target.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: transfer }));
      fire('dragenter');
      fire('dragover');
      return !fire('drop');
    } finally {
      DataTransferItem.prototype.webkitGetAsEntry = original;
    }
  }, wire);
}

/** Waits until every panel has settled (ready or error) and returns each one's status, alert and canvas. */
export async function panelsSettled(page, timeout = 30_000) {
  await page.waitForFunction(() => [...document.querySelectorAll('.panel .status')]
    .every((s) => s.dataset.state === 'ready' || s.dataset.state === 'error'), null, { timeout });
  return page.evaluate(() => [...document.querySelectorAll('.panel')].map((panel) => {
    const status = panel.querySelector('.status');
    const alert = panel.querySelector('.alert');
    const canvas = panel.querySelector('canvas.grid');
    return {
      text: status.textContent, data: { ...status.dataset }, alert: alert.hidden ? null : alert.textContent,
      title: panel.querySelector('.panel-title').textContent, canvas: { width: canvas.width, height: canvas.height },
    };
  }));
}

/** The canvas pixels as RGBA bytes; `panel` picks a panel other than the first. */
export async function canvasPixels(page, panel = 0) {
  const { width, height, base64 } = await page.evaluate((index) => {
    const canvas = document.querySelectorAll('.panel canvas.grid')[index];
    if (canvas.width === 0 || canvas.height === 0) return { width: canvas.width, height: canvas.height, base64: '' };
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let binary = '';
    for (let i = 0; i < data.length; i += 0x8000) binary += String.fromCharCode.apply(null, data.subarray(i, i + 0x8000));
    return { width: canvas.width, height: canvas.height, base64: btoa(binary) };
  }, panel);
  return { width, height, rgba: new Uint8Array(Buffer.from(base64, 'base64')) };
}

function parseHexColor(hex) {
  const match = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex);
  assert.ok(match, `not a #rrggbb colour: ${hex}`);
  return match.slice(1).map((h) => parseInt(h, 16));
}

/**
 * The grid the page should show, built from expected tiles (uint8, ordered filter, row, column,
 * channel) with the layout rule of the module's spec.
 */
export function expectedGrid(tilesPath, kernelShape, { count, columns, zoom, gap, gapColor }) {
  const [kh, kw, c, n] = kernelShape;
  const tiles = readFileSync(tilesPath);
  assert.equal(tiles.length, kh * kw * c * n, `${tilesPath} should hold ${kh}×${kw}×${c}×${n} bytes`);
  const shown = Math.min(count, n);
  const used = Math.min(columns, shown);
  const rows = Math.ceil(shown / columns);
  const width = used * kw * zoom + (used - 1) * gap;
  const height = rows * kh * zoom + (rows - 1) * gap;
  const rgba = new Uint8Array(width * height * 4);
  const [gr, gg, gb] = parseHexColor(gapColor);
  for (let p = 0; p < width * height; p += 1) rgba.set([gr, gg, gb, 255], p * 4);
  for (let i = 0; i < shown; i += 1) {
    const x0 = (i % columns) * (kw * zoom + gap);
    const y0 = Math.floor(i / columns) * (kh * zoom + gap);
    for (let y = 0; y < kh; y += 1) {
      for (let x = 0; x < kw; x += 1) {
        const at = ((i * kh + y) * kw + x) * c;
        const rgb = c === 1 ? [tiles[at], tiles[at], tiles[at]] : [tiles[at], tiles[at + 1], tiles[at + 2]];
        for (let dy = 0; dy < zoom; dy += 1) {
          for (let dx = 0; dx < zoom; dx += 1) rgba.set([...rgb, 255], ((y0 + y * zoom + dy) * width + x0 + x * zoom + dx) * 4);
        }
      }
    }
  }
  return { width, height, rgba, shown };
}

/** Asserts two RGBA images are identical, naming the first differing pixel. */
export function assertSamePixels(actual, expected, label) {
  assert.deepEqual([actual.width, actual.height], [expected.width, expected.height], `${label}: canvas size`);
  const a = actual.rgba;
  const b = expected.rgba;
  assert.equal(a.length, b.length, `${label}: byte count`);
  for (let i = 0; i < a.length; i += 1) {
    if (a[i] !== b[i]) {
      const p = Math.floor(i / 4);
      const x = p % expected.width;
      const y = Math.floor(p / expected.width);
      assert.fail(`${label}: pixel (${x}, ${y}) is ${[...a.subarray(p * 4, p * 4 + 4)]}, expected ${[...b.subarray(p * 4, p * 4 + 4)]}`);
    }
  }
}

/** Asserts every request went to our own server (blob: and data: URLs never leave the page). */
export function assertOnlyLocalRequests(requests, serverUrl) {
  const origin = new URL(serverUrl).origin;
  const foreign = requests.filter((url) => !url.startsWith('data:') && new URL(url).origin !== origin);
  assert.deepEqual(foreign, [], 'every request goes to the local server');
}

/**
 * Names in natural order, written here independently of the module as the spec states it: walking both names,
 * runs of digits compare by value, any other character by code point; names equal that way (`a01`, `a1`)
 * fall back to plain code-point order.
 */
export function naturalSort(names) {
  const isDigit = (ch) => ch >= '0' && ch <= '9';
  const byCodePoint = (a, b) => {
    const [x, y] = [Array.from(a), Array.from(b)];
    for (let i = 0; i < Math.min(x.length, y.length); i += 1) {
      if (x[i] !== y[i]) return x[i].codePointAt(0) - y[i].codePointAt(0);
    }
    return x.length - y.length;
  };
  const compare = (a, b) => {
    const [x, y] = [Array.from(a), Array.from(b)];
    let [i, j] = [0, 0];
    while (i < x.length && j < y.length) {
      if (isDigit(x[i]) && isDigit(y[j])) {
        let [ei, ej] = [i, j];
        while (ei < x.length && isDigit(x[ei])) ei += 1;
        while (ej < y.length && isDigit(y[ej])) ej += 1;
        const [p, q] = [x.slice(i, ei).join('').replace(/^0+/, ''), y.slice(j, ej).join('').replace(/^0+/, '')];
        const order = p.length - q.length || byCodePoint(p, q);
        if (order !== 0) return order;
        [i, j] = [ei, ej];
      } else {
        if (x[i] !== y[j]) return x[i].codePointAt(0) - y[j].codePointAt(0);
        [i, j] = [i + 1, j + 1];
      }
    }
    return (x.length - i) - (y.length - j) || byCodePoint(a, b);
  };
  return [...names].sort(compare);
}

/** The panel's tensor picker as { value, label, disabled, title } per option, after ticking "show all" if asked. */
export async function pickerOptions(page, { all = false } = {}) {
  if (all && !(await page.isChecked('.show-all'))) await page.check('.show-all');
  return page.$$eval('#tensor option', (list) => list.map((o) => ({ value: o.value, label: o.textContent, disabled: o.disabled, title: o.title })));
}
