// The filters view's options on the page: each normalisation and the norm order draw exactly their numpy
// formula's bytes (tests/reference/tiles.py via views.json), channels apart lay each filter out as R, G, B, and
// the settings live in the page address: a reload or a shared link restores them.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import {
  MANIFEST, REPO, assertSamePixels, canvasPixels, controlsOf, expectedGrid, openPage, panelsSettled, settledAfter,
  startSession, waitSettled,
} from './harness.mjs';
import { decodePng } from './png.mjs';

let session;
let sample; // the views.json case of the bundled sample
let scratch;
before(async () => {
  session = await startSession();
  const { cases } = JSON.parse(readFileSync(join(dirname(MANIFEST), 'views.json'), 'utf8'));
  sample = cases.find((c) => c.file === 'dinov2_vits14.npz');
  assert.ok(sample, 'views.json has the sample');
  scratch = mkdtempSync(join(tmpdir(), 'patchlens-views-'));
});
after(async () => {
  await session?.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

const tilesOf = (mode) => join(dirname(MANIFEST), sample[mode]);
const sampleTiles = () => join(dirname(MANIFEST), JSON.parse(readFileSync(MANIFEST, 'utf8')).fixtures
  .find((f) => f.file === 'dinov2_vits14.npz').tiles[0].file);

/** A tiles file with its tiles in `order` (the expected grid is then the usual layout rule). */
function reordered(path, order) {
  const bytes = readFileSync(path);
  const [kh, kw, c] = sample.kernel_shape;
  const size = kh * kw * c;
  const out = Buffer.alloc(bytes.length);
  order.forEach((index, k) => bytes.copy(out, k * size, index * size, (index + 1) * size));
  const file = join(scratch, `order-${Date.now()}.u8`);
  writeFileSync(file, out);
  return file;
}

/** The grid the page should show for a tiles file at its current controls. */
async function expected(path, page) {
  return expectedGrid(path, sample.kernel_shape, await controlsOf(page));
}

test('each normalisation and the norm order draw their formula\'s bytes', async () => {
  const { page, context, problems } = await openPage(session);
  let status = await settledAfter(page, () => page.selectOption('#normalize', 'global'));
  assert.equal(status.data.normalize, 'global');
  assert.match(status.text, /scaled over the whole kernel/);
  assertSamePixels(await canvasPixels(page), await expected(tilesOf('global'), page), 'global');

  status = await settledAfter(page, () => page.selectOption('#normalize', 'symmetric'));
  assertSamePixels(await canvasPixels(page), await expected(tilesOf('symmetric'), page), 'symmetric');

  status = await settledAfter(page, () => page.selectOption('#order', 'norm'));
  assert.equal(status.data.order, 'norm');
  assert.match(status.text, /largest norm first/);
  assertSamePixels(await canvasPixels(page), await expected(reordered(tilesOf('symmetric'), sample.norm_order), page), 'symmetric, by norm');

  status = await settledAfter(page, () => page.selectOption('#normalize', 'filter'));
  assertSamePixels(await canvasPixels(page), await expected(reordered(sampleTiles(), sample.norm_order), page), 'per filter, by norm');
  assert.deepEqual(problems, []);
  await context.close();
});

test('R, G, B apart: each filter is three grey tiles in one cell', async () => {
  const { page, context } = await openPage(session);
  await settledAfter(page, () => page.fill('#zoom', '2'));
  const status = await settledAfter(page, () => page.check('#channels'));
  assert.equal(status.data.channels, 'true');
  const [kh, kw] = sample.kernel_shape;
  const cell = 3 * kw * 2 + 2 * 2;
  assert.deepEqual(status.canvas, { width: 16 * cell + 15 * 2, height: 8 * kh * 2 + 7 * 2 });
  const pixels = await canvasPixels(page);
  const tiles = readFileSync(sampleTiles());
  for (const channel of [0, 1, 2]) {
    const x = channel * (kw * 2 + 2) + 5 * 2; // filter 0, pixel (row 3, column 5)
    const at = (3 * 2 * pixels.width + x) * 4;
    const value = tiles[(3 * kw + 5) * 3 + channel];
    assert.deepEqual([...pixels.rgba.subarray(at, at + 3)], [value, value, value], `channel ${channel}`);
  }
  await context.close();
});

test('the settings live in the page address: a reload restores them and draws the same pixels', async () => {
  const { page, context } = await openPage(session);
  await settledAfter(page, () => page.selectOption('#normalize', 'symmetric'));
  await settledAfter(page, () => page.selectOption('#order', 'norm'));
  await settledAfter(page, () => page.fill('#count', '64'));
  const before = await canvasPixels(page);
  const hash = await page.evaluate(() => location.hash);
  assert.equal(hash, '#normalize=symmetric&order=norm&count=64');
  await page.reload();
  const status = await waitSettled(page);
  assert.equal(await page.inputValue('#normalize'), 'symmetric');
  assert.equal(await page.inputValue('#order'), 'norm');
  assert.equal(await page.inputValue('#count'), '64');
  assert.equal(status.data.filtersShown, '64');
  assertSamePixels(await canvasPixels(page), before, 'after a reload');

  // A shared link with a zoom: fitting is off and the zoom is the link's.
  await page.goto(`${session.server.url}#zoom=2&columns=8`);
  const shared = await waitSettled(page);
  assert.equal(await page.isChecked('#fit'), false);
  assert.equal(shared.data.zoom, '2');
  assert.equal(shared.canvas.width, 8 * sample.kernel_shape[1] * 2 + 7 * 2);
  await context.close();
});

test('the inspector: hovering names a tile and its numbers, a click opens it large, arrows move, Esc closes', async () => {
  const { page, context, problems } = await openPage(session);
  const { zoom, gap } = await controlsOf(page);
  const [kh, kw] = sample.kernel_shape;
  const box = await page.locator('#grid').boundingBox();
  const pitch = kw * zoom + gap;
  // Tile 5 (row 0, column 5), in its middle.
  await page.mouse.move(box.x + 5 * pitch + (kw * zoom) / 2, box.y + (kh * zoom) / 2);
  const digits = (v) => (v === 'nan' ? 'NaN' : Number(Number(v).toPrecision(4)).toString());
  const [min, max, mean, norm] = sample.stats[5].map(digits);
  assert.equal(await page.textContent('.tile-readout'), `Filter 6 of 384 · min ${min} · max ${max} · mean ${mean} · L2 norm ${norm}`);
  assert.equal(await page.isVisible('.tile-mark'), true);
  await page.mouse.move(box.x + kw * zoom + 1, box.y + 2); // over the gap between tiles 0 and 1
  assert.equal(await page.textContent('.tile-readout'), '');

  await page.mouse.click(box.x + 5 * pitch + 3, box.y + 3);
  assert.equal(await page.isVisible('#inspector'), true);
  assert.match(await page.textContent('#inspector-title'), /^Filter 6 of 384 — embedding\/kernel$/);
  const shown = await page.evaluate(() => {
    const tile = document.getElementById('inspector-tile');
    return { width: tile.width, height: tile.height, pixel: [...tile.getContext('2d').getImageData(0, 0, 1, 1).data] };
  });
  const scale = Math.floor(192 / Math.max(kh, kw));
  assert.deepEqual([shown.width, shown.height], [kw * scale, kh * scale], 'enlarged');
  const tiles = readFileSync(sampleTiles());
  const first = 5 * kh * kw * 3;
  assert.deepEqual(shown.pixel, [tiles[first], tiles[first + 1], tiles[first + 2], 255], 'the filter\'s own top-left pixel');
  assert.match(await page.textContent('#inspector-numbers'), new RegExp(`L2 norm${norm.replace('.', '\\.')}`));
  await page.keyboard.press('ArrowRight');
  assert.match(await page.textContent('#inspector-title'), /^Filter 7 of 384/);
  await page.keyboard.press('ArrowDown');
  assert.match(await page.textContent('#inspector-title'), /^Filter 23 of 384/, 'down one row of 16');
  await page.keyboard.press('Escape');
  assert.equal(await page.isVisible('#inspector'), false);
  assert.equal(await page.evaluate(() => document.activeElement.id), 'grid', 'the focus goes back to the grid');

  // From the keyboard alone: arrows walk the tiles, Enter opens the one marked.
  await page.keyboard.press('Home');
  assert.match(await page.textContent('.tile-readout'), /^Filter 1 of 384/);
  await page.keyboard.press('End');
  assert.match(await page.textContent('.tile-readout'), /^Filter 128 of 384/);
  await page.keyboard.press('Enter');
  assert.match(await page.textContent('#inspector-title'), /^Filter 128 of 384/);
  await page.click('#inspector-close');

  // Sorted by norm, a tile names its place and its filter.
  await settledAfter(page, () => page.selectOption('#order', 'norm'));
  await page.focus('#grid');
  assert.match(await page.textContent('.tile-readout'), /^Tile 128 by norm/, 'the marked tile stays where it was');
  await page.keyboard.press('Home');
  assert.match(await page.textContent('.tile-readout'), new RegExp(`^Tile 1 by norm: filter ${sample.norm_order[0] + 1} of 384`));
  assert.deepEqual(problems, []);
  await context.close();
});

test('the position view: the figure the CLI draws, with its colour bar; the settings it does not use are off', async () => {
  const file = join(dirname(MANIFEST), 'positions_augreg.npz');
  const { page, context, problems } = await openPage(session);
  await settledAfter(page, () => page.setInputFiles('#file-input', file));
  for (const [choice, mode] of [['positions-cosine', 'cosine'], ['positions-dot', 'dot']]) {
    const status = await settledAfter(page, () => page.selectOption('#view', choice));
    assert.equal(status.data.view, 'positions', status.text);
    assert.equal(status.data.mode, mode);
    assert.equal(status.data.tensor, 'Transformer/posembed_input/pos_embedding');
    assert.match(status.text, /1 class token; 14 × 14 positions/);
    const out = join(scratch, `positions-${mode}.png`);
    execFileSync(join(REPO, 'target/debug/patchlens'),
      ['render', file, '-o', out, '--view', 'positions', '--mode', mode, '--zoom', status.data.zoom], { stdio: 'ignore' });
    assertSamePixels(await canvasPixels(page), decodePng(readFileSync(out)), `position ${mode} equals the CLI's`);
    assert.equal(await page.isVisible('.colorbar'), true);
    const ticks = await page.$$eval('.colorbar-ticks span', (spans) => spans.map((s) => s.textContent));
    if (mode === 'cosine') assert.deepEqual(ticks, ['-1', '0', '1']);
    assert.equal(await page.isDisabled('#count'), true, 'the figure sets its own count');
    assert.equal(await page.isVisible('.tensor-picker'), false);
  }
  const back = await settledAfter(page, () => page.selectOption('#view', 'filters'));
  assert.equal(back.data.view, 'filters');
  assert.equal(await page.isVisible('.colorbar'), false);
  assert.equal(await page.isDisabled('#count'), false);
  assert.deepEqual(problems, []);
  await context.close();
});

test('compare: two checkpoints of one shape give an A − B panel, least similar first, the CLI\'s pixels', async () => {
  const pair = ['compare_a.npz', 'compare_b.npz'].map((name) => join(dirname(MANIFEST), name));
  const { page, context, problems } = await openPage(session);
  assert.equal(await page.isVisible('#compare'), false, 'one checkpoint: nothing to compare');
  await page.evaluate(() => { document.querySelector('.panel .status').dataset.state = 'test-waiting'; });
  await page.setInputFiles('#file-input', pair);
  await page.waitForFunction(() => document.querySelectorAll('.panel').length === 2
    && [...document.querySelectorAll('.panel .status')].every((s) => s.dataset.state === 'ready'));
  assert.equal(await page.isVisible('#compare'), true);
  await page.check('#difference');
  await page.waitForFunction(() => document.querySelector('.panel.difference .status')?.dataset.state === 'ready');
  const status = await page.evaluate(() => ({ ...document.querySelector('.panel.difference .status').dataset,
    text: document.querySelector('.panel.difference .status').textContent }));
  assert.match(status.text, /A − B, 128 of 384 filters, least similar first/);
  const { count, columns, gap } = await controlsOf(page);
  const out = join(scratch, 'difference.png');
  execFileSync(join(REPO, 'target/debug/patchlens'), ['render', ...pair, '-o', out, '--view', 'difference',
    '--count', String(count), '--columns', String(columns), '--zoom', status.zoom, '--gap', String(gap)], { stdio: 'ignore' });
  // The page's grid has a band under each row for the similarities; its tiles are the CLI's, row by row.
  const page2 = await canvasPixels(page, 2);
  const cli = decodePng(readFileSync(out));
  const tileH = 14 * Number(status.zoom);
  assert.equal(page2.width, cli.width);
  assert.equal(page2.height, cli.height + 8 * 14, 'eight rows, each with a 14-px band');
  for (let row = 0; row < 8; row += 1) {
    const from = (y) => y * cli.width * 4;
    const ours = page2.rgba.subarray(from(row * (tileH + 14 + gap)), from(row * (tileH + 14 + gap) + tileH));
    const theirs = cli.rgba.subarray(from(row * (tileH + gap)), from(row * (tileH + gap) + tileH));
    assert.ok(Buffer.from(ours).equals(Buffer.from(theirs)), `row ${row} of tiles equals the CLI's`);
  }
  // A line through the middle of the first band crosses text: more than the gap colour's one value.
  const inBand = [...page2.rgba.subarray((tileH + 7) * page2.width * 4, (tileH + 8) * page2.width * 4)];
  assert.ok(new Set(inBand.filter((_, i) => i % 4 === 0)).size > 2, 'the similarities are written under the tiles');
  const { difference } = JSON.parse(readFileSync(join(dirname(MANIFEST), 'views.json'), 'utf8'));
  await page.locator('.panel.difference canvas.grid').scrollIntoViewIfNeeded();
  const box = await page.locator('.panel.difference canvas.grid').boundingBox();
  await page.mouse.move(box.x + 3, box.y + 3);
  const first = difference.order[0];
  const readout = await page.textContent('.panel.difference .tile-readout');
  assert.ok(readout.startsWith(`Tile 1, least similar first: filter ${first + 1} of 384 · cosine similarity `
    + `${Number(Number(difference.cosine[first]).toPrecision(4))}`), readout);
  await page.uncheck('#difference');
  assert.equal(await page.$('.panel.difference'), null, 'unticked, the panel goes');
  assert.deepEqual(problems, []);
  await context.close();
});

test('the principal-components view: 28 components 7 to a row, within a level of the CLI, with the scree line', async () => {
  const { page, context, problems } = await openPage(session);
  const status = await settledAfter(page, () => page.selectOption('#view', 'pca'));
  assert.equal(status.data.view, 'pca', status.text);
  assert.match(status.text, /28 of 28 principal components of 14×14×3×384, [\d.]+ % of the variance/);
  assert.equal(await page.isVisible('#components'), true);
  const out = join(scratch, 'pca.png');
  execFileSync(join(REPO, 'target/debug/patchlens'), ['render', join(dirname(MANIFEST), 'dinov2_vits14.npz'), '-o', out,
    '--view', 'pca', '--zoom', status.data.zoom], { stdio: 'ignore' });
  const cli = decodePng(readFileSync(out));
  const shown = await canvasPixels(page);
  assert.deepEqual([shown.width, shown.height], [cli.width, cli.height]);
  const worst = shown.rgba.reduce((most, v, i) => Math.max(most, Math.abs(v - cli.rgba[i])), 0);
  assert.ok(worst <= 1, `a pixel is ${worst} levels from the CLI's`);
  assert.equal(await page.isVisible('.scree'), true);
  const box = await page.locator('#grid').boundingBox();
  await page.mouse.move(box.x + 3, box.y + 3);
  assert.match(await page.textContent('.tile-readout'), /^Component 1: explains [\d.]+ % of the variance$/);
  const nine = await settledAfter(page, () => page.fill('#components', '9'));
  assert.match(nine.text, /9 of 9 principal components/);
  assert.match(await page.evaluate(() => location.hash), /view=pca&k=9/);
  assert.deepEqual(problems, []);
  await context.close();
});

/** Runs `action`, then waits until every panel has drawn what it causes (not the state before it). */
async function allSettledAfter(page, action) {
  await page.evaluate(() => document.querySelectorAll('.panel .status').forEach((s) => { s.dataset.state = 'test-waiting'; }));
  await action();
  return panelsSettled(page);
}

test('one switch keeps the panels in step; unlinked, each panel keeps its own view and options', async () => {
  const files = ['positions_augreg.npz', 'dinov2_vits14.npz'].map((name) => join(dirname(MANIFEST), name));
  const { page, context, problems } = await openPage(session);
  assert.equal(await page.isVisible('#link'), false, 'one panel: nothing to link');
  await page.evaluate(() => { document.querySelector('.panel .status').dataset.state = 'test-waiting'; });
  await page.setInputFiles('#file-input', files);
  await page.waitForFunction(() => document.querySelectorAll('.panel').length === 2);
  await panelsSettled(page);
  assert.equal(await page.isChecked('#link'), true, 'linked by default');
  assert.equal(await page.isVisible('#editing'), false);
  let [a, b] = await allSettledAfter(page, () => page.selectOption('#view', 'pca'));
  assert.deepEqual([a.data.view, b.data.view], ['pca', 'pca'], 'linked: both follow');

  await page.uncheck('#link');
  assert.equal(await page.isVisible('#editing'), true);
  assert.equal(await page.inputValue('#editing'), '0');
  assert.match(await page.textContent('#editing option[value="1"]'), /^2: dinov2_vits14\.npz$/);
  assert.deepEqual(await page.$$eval('.panel', (ps) => ps.map((p) => p.classList.contains('editing'))), [true, false]);
  [a, b] = await allSettledAfter(page, () => page.selectOption('#view', 'positions-cosine'));
  assert.deepEqual([a.data.view, b.data.view], ['positions', 'pca'], 'unlinked: only the chosen panel changes');

  await page.selectOption('#editing', '1');
  assert.equal(await page.inputValue('#view'), 'pca', 'the controls show the second panel\'s settings');
  assert.equal(await page.isVisible('#components'), true);
  [a, b] = await allSettledAfter(page, () => page.fill('#components', '5'));
  assert.match(b.text, /5 of 5 principal components/);
  assert.equal(a.data.view, 'positions');
  await page.selectOption('#editing', '0');
  assert.equal(await page.inputValue('#view'), 'positions-cosine');
  assert.equal(await page.inputValue('#components'), '28', 'the first panel never had 5');

  await page.selectOption('#editing', '1');
  [a, b] = await allSettledAfter(page, () => page.check('#link'));
  assert.match(a.text, /5 of 5 principal components/, 'linked again: every panel takes the settings shown');
  assert.match(b.text, /5 of 5 principal components/);
  assert.equal(await page.isVisible('#editing'), false);
  assert.deepEqual(problems, []);
  await context.close();
});

test('positions: extra tokens and the grid can be given, the pointer reads each pixel\'s number, the PNG keeps the colour bar', async () => {
  const file = join(dirname(MANIFEST), 'positions_augreg.npz');
  const { page, context, problems } = await openPage(session);
  await settledAfter(page, () => page.setInputFiles('#file-input', file));
  const square = await settledAfter(page, () => page.selectOption('#view', 'positions-cosine'));
  assert.equal(await page.isVisible('#extra-tokens'), true);
  assert.equal(await page.isVisible('#position-grid'), true);

  const refused = await settledAfter(page, () => page.fill('#extra-tokens', '0'));
  assert.equal(refused.alert, 'After 0 extra tokens the remaining 197 positions make no square grid; give the rows × columns too.');
  assert.deepEqual(refused.canvas, square.canvas, 'the grid drawn before stays');
  const wide = await settledAfter(page, () => page.fill('#extra-tokens', '1'));
  assert.equal(wide.alert, null);
  const given = await settledAfter(page, () => page.fill('#position-grid', '7x28'));
  assert.match(given.text, /1 extra token, as given; 7 × 28 positions, as given/);
  assert.match(await page.evaluate(() => location.hash), /extra=1&grid=7x28/);
  await page.fill('#position-grid', '7 by 28');
  assert.equal(await page.textContent('#position-grid-note'), 'Grid: rows × columns, such as 16x12, or empty for square.');
  const back = await settledAfter(page, () => page.fill('#position-grid', ''));
  assert.match(back.text, /14 × 14 positions/);
  assert.equal(await page.textContent('#position-grid-note'), '');

  // Tile 0, pixel (row 2, column 3): position 0 against position 2 · 14 + 3, its number in the colour-map bin
  // matplotlib drew there (tests/reference/fixtures_positions.py, zoom 1 with 1-px gaps: 209 px wide).
  const zoom = Number(back.data.zoom);
  const box = await page.locator('#grid').boundingBox();
  await page.mouse.move(box.x + 3 * zoom + zoom / 2, box.y + 2 * zoom + zoom / 2);
  const readout = await page.textContent('.tile-readout');
  const match = /^position 1 \(row 1, column 1\) · position 32 \(row 3, column 4\): cosine similarity (-?[\d.e-]+)$/.exec(readout);
  assert.ok(match, readout);
  const reference = readFileSync(join(dirname(MANIFEST), 'positions_augreg_npz.cosine.u16'));
  const bin = reference.readUInt16LE((2 * 209 + 3) * 2);
  const ours = Math.min(Math.floor(((Number(match[1]) + 1) / 2) * 256), 255);
  assert.ok(Math.abs(ours - bin) <= 1, `cosine ${match[1]} is in bin ${ours}, matplotlib drew bin ${bin}`);
  await page.mouse.move(box.x + zoom / 2, box.y + zoom / 2);
  assert.match(await page.textContent('.tile-readout'), /position 1 \(row 1, column 1\): cosine similarity 1$/);

  await page.mouse.click(box.x + (14 * zoom + 1) + 3, box.y + (14 * zoom + 1) + 3); // tile 15: row 1, column 1
  assert.match(await page.textContent('#inspector-title'), /^Position 16 \(row 2, column 2\) — Transformer\/posembed_input\/pos_embedding$/);
  assert.match(await page.textContent('#inspector-numbers'), /token index in the tensor \(from 0\)16/);
  assert.match(await page.textContent('#inspector-numbers'), /most similar otherposition \d+ \(row \d+, column \d+\), [\d.]+/);
  assert.equal(await page.isVisible('#inspector .channel'), false, 'a colour map has no R, G, B');
  await page.keyboard.press('ArrowRight');
  assert.match(await page.textContent('#inspector-title'), /^Position 17 /);
  await page.keyboard.press('Escape');

  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
  assert.equal(download.suggestedFilename(), 'positions_augreg-Transformer_posembed_input_pos_embedding-positions-cosine.png');
  const png = decodePng(readFileSync(await download.path()));
  const shown = await canvasPixels(page);
  assert.deepEqual([png.width, png.height], [Math.max(shown.width, 160), shown.height + 6 + 12 + 16]);
  const rows = png.rgba.subarray(0, shown.height * png.width * 4);
  assert.ok(png.width === shown.width && Buffer.from(rows).equals(Buffer.from(shown.rgba)), 'the grid\'s own pixels on top');
  // Under it, the bar runs through the colour map: its ends are the map's first and last colours.
  const ends = await page.evaluate(() => {
    const bar = document.querySelector('.colorbar canvas').getContext('2d');
    return [[...bar.getImageData(0, 0, 1, 1).data], [...bar.getImageData(255, 0, 1, 1).data]];
  });
  const barRow = (shown.height + 6 + 6) * png.width * 4;
  assert.deepEqual([...png.rgba.subarray(barRow, barRow + 4)], ends[0]);
  assert.deepEqual([...png.rgba.subarray(barRow + (png.width - 1) * 4, barRow + png.width * 4)], ends[1]);
  assert.deepEqual(problems, []);
  await context.close();
});

test('the inspector opens a principal component large, with its channels and its share of the variance', async () => {
  const { page, context, problems } = await openPage(session);
  const status = await settledAfter(page, () => page.selectOption('#view', 'pca'));
  const zoom = Number(status.data.zoom);
  const { gap } = await controlsOf(page);
  const box = await page.locator('#grid').boundingBox();
  await page.mouse.move(box.x + 3 * (14 * zoom + gap) + 2, box.y + 2);
  const readout = await page.textContent('.tile-readout');
  await page.mouse.down();
  await page.mouse.up();
  assert.equal(await page.textContent('#inspector-title'), 'Component 4 of 28 — embedding/kernel');
  const percent = Number(/explains ([\d.]+) %/.exec(readout)[1]);
  const numbers = await page.textContent('#inspector-numbers');
  const precise = Number(/explained variance([\d.]+) %/.exec(numbers)[1]);
  assert.ok(Math.abs(precise - percent) <= 0.005 + 1e-9, `${numbers} vs ${readout}`);
  assert.equal(await page.isVisible('#inspector .channel'), true, 'a colour component has R, G, B');
  await page.keyboard.press('ArrowDown');
  assert.equal(await page.textContent('#inspector-title'), 'Component 11 of 28 — embedding/kernel', 'down one row of 7');
  await page.keyboard.press('Escape');
  assert.deepEqual(problems, []);
  await context.close();
});
