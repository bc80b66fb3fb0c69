// The grid settings redraw the open checkpoint, and "Download PNG" saves exactly the canvas pixels.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import {
  SAMPLE_NAME, assertSamePixels, canvasPixels, controlsOf, defaultTiles, drawableFixtures, expectedGrid,
  loadManifest, openPage, sampleFixture, settledAfter, startSession,
} from './harness.mjs';
import { decodePng } from './png.mjs';

let session;
let manifest;
before(async () => {
  manifest = loadManifest();
  session = await startSession();
});
after(async () => { await session?.close(); });

/** Sets one number field the way typing does, and waits for the redraw it causes. */
const setField = (page, id, value) => settledAfter(page, () => page.fill(`#${id}`, String(value)));

test('count, columns, zoom and gap redraw without reopening the file', async () => {
  const fixture = drawableFixtures(manifest).find((f) => defaultTiles(f).kernel_shape[3] >= 12) ?? drawableFixtures(manifest)[0];
  const tiles = defaultTiles(fixture);
  const [kh, kw, , n] = tiles.kernel_shape;
  const { page, context, problems } = await openPage(session);
  const opened = await settledAfter(page, () => page.setInputFiles('#file-input', fixture.path));

  const count = Math.min(10, n);
  await setField(page, 'count', count);
  await setField(page, 'columns', 4);
  let status = await setField(page, 'zoom', 3);
  assert.equal(await page.isChecked('#fit'), false, 'a zoom typed in wins over fitting');
  const rows = Math.ceil(count / 4);
  const used = Math.min(4, count);
  assert.equal(status.data.filtersShown, String(count));
  assert.equal(status.canvas.width, used * kw * 3 + (used - 1) * 2, 'width follows columns and zoom');
  assert.equal(status.canvas.height, rows * kh * 3 + (rows - 1) * 2, 'height follows rows and zoom');
  assertSamePixels(await canvasPixels(page), expectedGrid(tiles.path, tiles.kernel_shape, await controlsOf(page)), 'after settings');

  status = await setField(page, 'gap', 0);
  assert.equal(status.canvas.width, used * kw * 3, 'no gap: tiles touch');
  await settledAfter(page, () => page.fill('#gap-color', '#ff0000'));
  status = await setField(page, 'gap', 5);
  assertSamePixels(await canvasPixels(page), expectedGrid(tiles.path, tiles.kernel_shape, await controlsOf(page)), 'red gaps');
  assert.equal(status.data.file, fixture.name, 'still the same file');
  assert.equal(status.data.fileSize, opened.data.fileSize);

  // An unfinished entry (empty field) draws nothing new and raises no error.
  await page.fill('#columns', '');
  await page.waitForTimeout(200);
  assert.equal(await page.isHidden('#alert'), true);
  assert.deepEqual(problems, []);
  await context.close();
});

/** The notes under the number fields, by field, and whether the zoom fits the width. */
const fieldNotes = (page) => page.evaluate(() => ({
  count: document.getElementById('count-note').textContent, columns: document.getElementById('columns-note').textContent,
  zoom: document.getElementById('zoom-note').textContent, gap: document.getElementById('gap-note').textContent,
}));

test('a value out of range is corrected in its field with a note, and the status describes the canvas', async () => {
  const { page, context, problems } = await openPage(session); // the sample: 384 filters of 14×14
  let status = await setField(page, 'count', 5000);
  assert.equal(await page.inputValue('#count'), '384');
  assert.equal((await fieldNotes(page)).count, 'Filters: at most 384 — the number of filters.');
  assert.equal(status.data.filtersShown, '384');
  assert.match(status.text, /384 of 384 filters/);

  status = await setField(page, 'columns', 5000);
  assert.equal(await page.inputValue('#columns'), '384');
  assert.equal((await fieldNotes(page)).columns, 'Columns: at most 384 — the number of filters.');
  assert.equal((await fieldNotes(page)).count, '', 'a note lasts until the next change');
  assert.equal(status.canvas.width, 384 * 14 * Number(status.data.zoom) + 383 * 2);

  await setField(page, 'columns', 16);
  status = await setField(page, 'count', 0);
  assert.equal(await page.inputValue('#columns'), '16', 'a small count leaves the columns chosen alone');
  assert.equal(await page.inputValue('#count'), '1');
  assert.equal((await fieldNotes(page)).count, 'Filters: at least 1.');
  assert.equal(status.data.filtersShown, '1');

  await setField(page, 'count', 128);
  status = await setField(page, 'zoom', 64); // 16 × 14 × 64 px across, 8 rows: past a canvas's 64 Mpx
  assert.equal(await page.isChecked('#fit'), false, 'a zoom typed in turns fitting off');
  assert.equal(await page.inputValue('#zoom'), '51');
  assert.equal((await fieldNotes(page)).zoom, 'Zoom: at most 51 — a larger grid would not fit in a browser canvas.');
  assert.equal(status.data.zoom, '51');
  assert.deepEqual(status.canvas, { width: 16 * 14 * 51 + 15 * 2, height: 8 * 14 * 51 + 7 * 2 }, 'the canvas is what the status says');
  assert.match(status.text, /zoom 51 ·/);
  assert.equal(status.alert, null, 'corrected, not refused');
  assert.equal(await page.isVisible('.overflow-note'), true, 'the stage says it scrolls');

  status = await setField(page, 'gap', 100);
  assert.equal(await page.inputValue('#gap'), '64');
  assert.equal((await fieldNotes(page)).gap, 'Gap: at most 64.');

  await setField(page, 'gap', 2);
  status = await settledAfter(page, () => page.check('#fit'));
  assert.equal(status.data.zoom, '4', '1280 px wide: zoom 4 (926 px) fits, 5 would not');

  // A correction made for one kernel does not carry over: the next file gets the value asked for.
  const small = manifest.fixtures.find((f) => f.name === 'grayscale.npz'); // 20 filters
  await setField(page, 'count', 128);
  status = await settledAfter(page, () => page.setInputFiles('#file-input', small.path));
  assert.equal(await page.inputValue('#count'), '20');
  assert.equal((await fieldNotes(page)).count, 'Filters: at most 20 — the number of filters.');
  status = await settledAfter(page, () => page.click('#sample-button'));
  assert.equal(await page.inputValue('#count'), '128', 'the sample gets the 128 asked for');
  assert.equal(status.data.filtersShown, '128');
  assert.equal((await fieldNotes(page)).count, '');
  assert.equal(status.data.zoom, '4', '1280 px wide: zoom 4 (926 px) fits, 5 would not');
  assert.equal(await page.inputValue('#zoom'), '4', 'the field shows the zoom fitting chose');
  assert.equal(await page.isVisible('.overflow-note'), false);
  assert.deepEqual(problems, []);
  await context.close();
});

test('Download PNG saves exactly the canvas pixels', async () => {
  const { page, context } = await openPage(session);
  assert.equal(await page.getAttribute('#status', 'data-tensor'), 'embedding/kernel');
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
  assert.equal(download.suggestedFilename(), 'dinov2-vits14-patch-embed-embedding_kernel.png');
  const png = decodePng(readFileSync(await download.path()));
  assertSamePixels(png, await canvasPixels(page), 'downloaded PNG');

  const tiles = sampleFixture(manifest)?.tiles.find((tile) => tile.tensor === 'embedding/kernel');
  assert.ok(tiles, `the manifest has expected tiles for ${SAMPLE_NAME}`);
  assertSamePixels(png, expectedGrid(tiles.path, tiles.kernel_shape, await controlsOf(page)), 'downloaded PNG vs tiles');
  await context.close();
});

test('an npz holding a PyTorch-layout weight is read as OIHW, says so, and the layout can be switched', async () => {
  const fixture = manifest.fixtures.find((f) => f.name === 'torch_layout.npz');
  assert.ok(fixture, 'the manifest has torch_layout.npz');
  const tiles = defaultTiles(fixture);
  const { page, context, problems } = await openPage(session);
  const opened = await settledAfter(page, () => page.setInputFiles('#file-input', fixture.path));
  assert.equal(opened.data.state, 'ready', opened.text);
  assert.equal(opened.data.layout, 'oihw');
  assertSamePixels(await canvasPixels(page), expectedGrid(tiles.path, tiles.kernel_shape, await controlsOf(page)), 'OIHW read');
  await page.waitForSelector('#tensor[data-listed="done"]', { state: 'attached' });
  const label = await page.$eval('#tensor option[value="patch_embed.proj.weight"]', (o) => o.textContent);
  assert.match(label, /read as OIHW/);
  // Read the other way it has 8 input channels: refused in a sentence, the grid stays.
  const refused = await settledAfter(page, () => page.selectOption('#layout', 'hwio'));
  assert.match(refused.alert ?? '', /cannot be drawn as HWIO: its filters have 8 input channels/);
  assert.deepEqual(refused.canvas, opened.canvas);
  const back = await settledAfter(page, () => page.selectOption('#layout', ''));
  assert.equal(back.alert, null);
  assert.equal(back.data.layout, 'oihw');
  // A new file starts again from the file's own layout.
  await page.selectOption('#layout', 'oihw');
  const sample = await settledAfter(page, () => page.click('#sample-button'));
  assert.equal(sample.data.layout, 'hwio');
  assert.equal(await page.inputValue('#layout'), '');
  assert.deepEqual(problems, []);
  await context.close();
});
