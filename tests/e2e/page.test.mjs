// The page on first load: it fetches the sample, draws it, and talks to nobody but its own server.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  SAMPLE_NAME, VIEWPORT, assertOnlyLocalRequests, assertSamePixels, canvasPixels, controlsOf, expectedGrid,
  loadManifest, openPage, sampleFixture, settledAfter, startSession, statusOf,
} from './harness.mjs';

let session;
before(async () => { session = await startSession(); });
after(async () => { await session?.close(); });

test('page load draws the sample: embedding/kernel, 128 of 384 filters', async (t) => {
  const manifest = loadManifest();
  const { page, requests, problems, context } = await openPage(session);
  const status = await statusOf(page);
  assert.equal(status.alert, null, 'no alert on load');
  assert.equal(status.data.state, 'ready', status.text);
  assert.equal(status.data.tensor, 'embedding/kernel');
  assert.equal(status.data.filtersShown, '128');
  assert.equal(status.data.filtersTotal, '384');
  assert.equal(status.data.file, SAMPLE_NAME);
  assert.match(status.text, /embedding\/kernel/);
  assert.match(status.text, /128 of 384 filters/);
  assert.match(status.text, /read [\d.]+ (B|kB|MB) of [\d.]+ (B|kB|MB)/);
  assert.match(status.text, /\d+ ms$/);
  assert.ok(Number(status.data.ms) >= 0, 'data-ms is a number');
  assert.ok(Number(status.data.bytesRead) > 0, 'the status says how much was read');
  assert.ok(Number(status.data.fileSize) > 0, 'and of how much');

  const pixels = await canvasPixels(page);
  const controls = await controlsOf(page);
  // 14×14 filters, 16 columns, 8 rows at the page's zoom and gap.
  assert.equal(pixels.width, 16 * 14 * controls.zoom + 15 * controls.gap);
  assert.equal(pixels.height, 8 * 14 * controls.zoom + 7 * controls.gap);
  const distinct = new Set();
  for (let i = 0; i < pixels.rgba.length && distinct.size < 64; i += 4) {
    distinct.add((pixels.rgba[i] << 16) | (pixels.rgba[i + 1] << 8) | pixels.rgba[i + 2]);
  }
  assert.ok(distinct.size >= 64, 'the canvas shows many colours, not a blank or flat image');

  const tiles = sampleFixture(manifest)?.tiles.find((tile) => tile.tensor === 'embedding/kernel');
  if (tiles) {
    assertSamePixels(pixels, expectedGrid(tiles.path, tiles.kernel_shape, controls), 'sample grid');
  } else {
    t.diagnostic(`the manifest has no expected tiles for ${SAMPLE_NAME}: pixels checked for size and colour only`);
  }

  assertOnlyLocalRequests(requests, session.server.url);
  assert.ok(requests.some((url) => url.endsWith('/pkg/patchlens_bg.wasm')), 'the worker fetched the module');
  assert.deepEqual(problems, [], 'no errors in the console');
  await context.close();
});

test('"Try the sample" draws it again, timed from the click', async () => {
  const { page, context, problems } = await openPage(session);
  const status = await settledAfter(page, () => page.click('#sample-button'));
  assert.equal(status.data.state, 'ready', status.text);
  assert.equal(status.data.tensor, 'embedding/kernel');
  assert.ok(Number(status.data.ms) >= 0);
  const attribution = page.locator('a[href="samples/ATTRIBUTION.md"]');
  assert.equal(await attribution.count(), 1, 'the sample names its source');
  assert.deepEqual(problems, []);
  await context.close();
});

test('only the page\'s own files are requested, from the local server', async () => {
  const seen = session.serverRequests.length;
  const { page, requests, context } = await openPage(session);
  await page.click('#sample-button');
  await page.waitForFunction(() => document.getElementById('status').dataset.state === 'ready');
  assertOnlyLocalRequests(requests, session.server.url);
  const paths = session.serverRequests.slice(seen).map((url) => url.split('?')[0]);
  const allowed = new Set(['/', '/style.css', '/app.js', '/bridge.js', '/names.js', '/panel.js', '/tensor-list.js', '/worker.js', '/pkg/patchlens.js',
    '/pkg/patchlens_bg.wasm', '/pkg/patchlens_lite.js', '/pkg/patchlens_lite_bg.wasm', `/samples/${SAMPLE_NAME}`]);
  assert.deepEqual(paths.filter((p) => !allowed.has(p)), [], 'the server saw only the page\'s own files');
  await context.close();
});

test('the layout fits 1280×800 without horizontal scrolling', async () => {
  const { page, context } = await openPage(session);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `page is ${overflow}px wider than the viewport`);
  const visible = await page.evaluate(() => {
    const box = document.getElementById('grid').getBoundingClientRect();
    return box.right <= window.innerWidth && box.width > 0;
  });
  assert.ok(visible, 'the default grid is fully visible across');
  if (process.env.PATCHLENS_SCREENSHOT) await page.screenshot({ path: process.env.PATCHLENS_SCREENSHOT });
  await context.close();
});

test('when the module cannot load, the page says so, and the next try loads it afresh', async () => {
  const context = await session.browser.newContext({ viewport: VIEWPORT });
  const page = await context.newPage();
  let blocked = 0;
  const modules = '**/pkg/patchlens*_bg.wasm'; // the first module and the full one
  await context.route(modules, (route) => { blocked += 1; return route.abort(); });
  await page.goto(`${session.server.url}?sample=none`);
  const failed = await settledAfter(page, () => page.click('#sample-button'));
  assert.ok(blocked > 0, 'the module request was blocked');
  assert.equal(failed.data.state, 'error', failed.text);
  assert.match(failed.alert ?? '', /^The patchlens module could not be loaded\b.*\.$/);
  assert.deepEqual(failed.canvas, { width: 0, height: 0 });

  await context.unroute(modules);
  const recovered = await settledAfter(page, () => page.click('#sample-button'));
  assert.equal(recovered.data.state, 'ready', recovered.text);
  assert.equal(recovered.data.tensor, 'embedding/kernel');
  assert.equal(recovered.alert, null);
  await context.close();
});

test('the small first module draws the sample; a file dropped after it is read by the full module', async () => {
  // With the full module held back, the sample is still drawn (by the first module alone); a dropped file
  // waits for the full one, and a .pth, which only the full module reads, is drawn once it is in.
  const context = await session.browser.newContext({ viewport: VIEWPORT });
  const page = await context.newPage();
  let release;
  const held = new Promise((resolve) => { release = resolve; });
  await context.route('**/pkg/patchlens_bg.wasm', async (route) => { await held; await route.continue(); });
  await page.goto(session.server.url);
  await page.waitForFunction(() => document.getElementById('status').dataset.state === 'ready');
  assert.equal(await page.getAttribute('#status', 'data-tensor'), 'embedding/kernel');
  const pth = loadManifest().fixtures.find((f) => f.name === 'zip_f32.pth');
  assert.ok(pth, 'the manifest lists zip_f32.pth');
  const dropped = settledAfter(page, () => page.setInputFiles('#file-input', pth.path));
  await page.waitForTimeout(300);
  release();
  const status = await dropped;
  assert.equal(status.data.state, 'ready', status.alert ?? status.text);
  assert.equal(status.data.format, 'pytorch');
  assert.equal(status.data.tensor, pth.default_tensor);
  await context.close();
});

test('a first visit under a view the small first module does not draw gets that view of the sample', async () => {
  // The first module draws only the filters view; under #view=pca the sample waits for the full module.
  const context = await session.browser.newContext({ viewport: VIEWPORT });
  const page = await context.newPage();
  await page.goto(`${session.server.url}#view=pca&k=12`);
  await page.waitForFunction(() => ['ready', 'error'].includes(document.getElementById('status').dataset.state));
  const status = await statusOf(page);
  assert.equal(status.data.state, 'ready', status.alert ?? status.text);
  assert.equal(status.data.view, 'pca');
  assert.equal(status.data.filtersShown, '12');
  await context.close();
});
