// Opening files the ways a person does: dropping them on the page and picking them with the button.
// Every drawn grid is compared pixel for pixel with one rebuilt from the fixture's expected tiles.
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  assertSamePixels, canvasPixels, controlsOf, defaultTiles, drawableFixtures, dropBytes, expectedGrid,
  loadManifest, naturalSort, openPage, pickerOptions, settledAfter, startSession, statusOf,
} from './harness.mjs';

let session;
let manifest;
before(async () => {
  manifest = loadManifest();
  session = await startSession();
});
after(async () => { await session?.close(); });

async function assertShows(page, fixture, tiles, status) {
  assert.equal(status.alert, null, `no alert for ${fixture.name}`);
  assert.equal(status.data.state, 'ready', status.text);
  assert.equal(status.data.file, fixture.name);
  assert.equal(status.data.tensor, tiles.tensor);
  const controls = await controlsOf(page);
  const expected = expectedGrid(tiles.path, tiles.kernel_shape, controls);
  assert.equal(status.data.filtersShown, String(expected.shown));
  assert.equal(status.data.filtersTotal, String(tiles.kernel_shape[3]));
  assert.match(status.text, new RegExp(`${expected.shown} of ${tiles.kernel_shape[3]} filters`));
  assert.equal(Number(status.data.fileSize), readFileSync(fixture.path).length);
  assertSamePixels(await canvasPixels(page), expected, `${fixture.name} ${tiles.tensor}`);
}

test('dropping each fixture draws its default tensor exactly', async (t) => {
  const fixtures = drawableFixtures(manifest);
  assert.ok(fixtures.length > 0, 'the manifest has fixtures with expected tiles');
  const { page, context, problems } = await openPage(session);
  for (const fixture of fixtures) {
    await t.test(fixture.name, async () => {
      let drop;
      const status = await settledAfter(page, async () => { drop = await dropBytes(page, readFileSync(fixture.path), fixture.name); });
      assert.ok(drop.highlighted, 'the page highlights while a file is dragged over it');
      assert.ok(drop.accepted, 'the page accepts the drop');
      assert.ok(!drop.highlightedAfter, 'the highlight goes away after the drop');
      await assertShows(page, fixture, defaultTiles(fixture), status);
    });
  }
  assert.deepEqual(problems, []);
  await context.close();
});

test('picking a file with the button draws it', async () => {
  const [fixture] = drawableFixtures(manifest);
  const { page, context, problems } = await openPage(session);
  const chooser = page.waitForEvent('filechooser');
  await page.click('#pick-button');
  const status = await settledAfter(page, async () => (await chooser).setFiles(fixture.path));
  await assertShows(page, fixture, defaultTiles(fixture), status);
  // And straight onto the input, as the benchmark does.
  const again = await settledAfter(page, () => page.setInputFiles('#file-input', fixture.path));
  await assertShows(page, fixture, defaultTiles(fixture), again);
  assert.deepEqual(problems, []);
  await context.close();
});

test('a large checkpoint opens by reading little more than its patch embedding', async (t) => {
  const big = manifest.fixtures.filter((f) => f.big);
  if (big.length === 0) {
    t.diagnostic('no big fixture in the manifest: make_fixtures.py --big writes one (scripts/test.sh does)');
    return;
  }
  const { page, context, problems } = await openPage(session);
  for (const fixture of big) {
    // Paths, not bytes: Chromium reads the files from disk, as after a real drop. Shards come together.
    const paths = [fixture.path, ...(fixture.companions ?? []).map((c) => join(dirname(fixture.path), c))];
    const status = await settledAfter(page, () => page.setInputFiles('#file-input', paths));
    assert.equal(status.data.state, 'ready', status.text);
    assert.equal(status.data.tensor, fixture.default_tensor);
    const read = Number(status.data.bytesRead);
    const size = Number(status.data.fileSize);
    assert.equal(size, paths.reduce((sum, path) => sum + statSync(path).size, 0));
    const extra = fixture.extra_budget ?? 1024 * 1024;
    const budget = fixture.kernel_bytes + extra;
    // At least the drawn filters' bytes; a format storing its kernel filter by filter reads only those.
    const drawn = Math.floor((fixture.kernel_bytes * Number(status.data.filtersShown)) / Number(status.data.filtersTotal));
    assert.ok(read >= drawn, `read ${read} bytes, the filters drawn alone are ${drawn}`);
    assert.ok(read <= budget, `${fixture.name}: read ${read} of ${size} bytes for a ${fixture.kernel_bytes}-byte kernel`);
    if (['pytorch', 'safetensors', 'gguf'].includes(status.data.format)) {
      assert.ok(read <= drawn + extra, `${fixture.name}: read ${read} bytes to draw ${drawn} bytes of filters`);
    }
    t.diagnostic(`${fixture.name}: read ${read} of ${size} bytes in ${status.data.reads} reads, ${status.data.ms} ms`);
  }
  assert.deepEqual(problems, []);
  await context.close();
});

test('a file dropped while another is still opening wins, with its own tensor list', async () => {
  const slow = manifest.fixtures.find((f) => f.big && !f.companions) ?? manifest.fixtures.find((f) => f.name === 'stored_f32.npz');
  const fast = drawableFixtures(manifest).find((f) => f.name === 'compressed_f32.npz') ?? drawableFixtures(manifest)[0];
  const { page, context, problems } = await openPage(session);
  const status = await settledAfter(page, async () => {
    await page.setInputFiles('#file-input', slow.path); // starts opening; not awaited by the page
    await dropBytes(page, readFileSync(fast.path), fast.name);
  });
  await assertShows(page, fast, defaultTiles(fast), status);
  await page.waitForSelector('#tensor[data-listed="done"]', { state: 'attached' });
  await page.waitForTimeout(300); // a late reply about the first file would land in here
  const options = await pickerOptions(page, { all: true });
  assert.deepEqual(options.map((o) => o.value), naturalSort(fast.tensors.map((t) => t.name)), 'the list is the second file\'s');
  assert.equal(await page.getAttribute('#status', 'data-file'), fast.name);
  assert.deepEqual(problems, []);
  await context.close();
});

test('the tensor picker offers the drawable tensors, the default marked; "show all" adds the rest with reasons', async () => {
  const fixture = manifest.fixtures.find((f) => f.tiles.filter((tile) => [1, 3].includes(tile.kernel_shape[2])).length > 1)
    ?? drawableFixtures(manifest)[0];
  const { page, context } = await openPage(session);
  await settledAfter(page, () => page.setInputFiles('#file-input', fixture.path));
  assert.equal(await page.inputValue('#tensor'), fixture.default_tensor, 'the drawn tensor is shown as chosen');
  await page.waitForSelector('#tensor[data-listed="done"]:not([disabled])', { state: 'attached' });
  const drawable = await pickerOptions(page);
  const all = await pickerOptions(page, { all: true });
  assert.deepEqual(all.map((o) => o.value), naturalSort(fixture.tensors.map((tensor) => tensor.name)), 'show all: every tensor, in natural order');
  assert.deepEqual(drawable.map((o) => o.value), all.filter((o) => !o.disabled).map((o) => o.value), 'by default: the drawable ones only');
  assert.ok(drawable.every((o) => !o.disabled));
  assert.deepEqual(drawable.filter((o) => o.label.endsWith('· default')).map((o) => o.value), [fixture.default_tensor], 'the default is marked');
  for (const option of all.filter((o) => o.disabled)) assert.ok(option.title.length > 0 && option.label.includes(option.title), `${option.value} says why it cannot be drawn`);
  await page.uncheck('.show-all');
  for (const tiles of fixture.tiles.filter((tile) => [1, 3].includes(tile.kernel_shape[2]))) {
    assert.ok(drawable.some((o) => o.value === tiles.tensor), `${tiles.tensor} is selectable`);
    const status = (await page.inputValue('#tensor')) === tiles.tensor
      ? await statusOf(page)
      : await settledAfter(page, () => page.selectOption('#tensor', tiles.tensor));
    await assertShows(page, fixture, tiles, status);
  }
  await context.close();
});

test('the picker for the AugReg B/16 file: one drawable of 200, all 200 in natural order with a filter box', async (t) => {
  const augreg = manifest.fixtures.find((f) => f.name === 'augreg_b16.npz');
  if (!augreg) { t.skip('augreg_b16.npz is written by make_fixtures.py --big'); return; }
  const { page, context } = await openPage(session);
  await settledAfter(page, () => page.setInputFiles('#file-input', augreg.path));
  await page.waitForSelector('#tensor[data-listed="done"]', { state: 'attached' });
  const drawable = await pickerOptions(page);
  assert.deepEqual(drawable.map((o) => o.label), ['embedding/kernel — float32 16×16×3×768 · default']);
  assert.equal(await page.textContent('.tensor-count'), '(1 drawable of 200)');
  assert.equal(await page.isVisible('.tensor-filter'), false, 'no filter box for one entry');

  const all = await pickerOptions(page, { all: true });
  const names = all.map((o) => o.value);
  assert.deepEqual(names, naturalSort(augreg.tensors.map((tensor) => tensor.name)));
  const block = (n) => names.indexOf(`Transformer/encoderblock_${n}/LayerNorm_0/bias`);
  assert.ok(block(1) < block(2) && block(2) < block(10) && block(9) < block(10), 'encoderblock_10 comes after encoderblock_9');
  assert.equal(await page.isVisible('.tensor-filter'), true, 'a filter box once there are more than 20');
  await page.fill('.tensor-filter', 'encoderblock_11/mlp');
  const found = await pickerOptions(page);
  assert.deepEqual(found.map((o) => o.value), naturalSort([
    'embedding/kernel', ...augreg.tensors.map((tensor) => tensor.name).filter((name) => name.includes('encoderblock_11/Mlp') || name.toLowerCase().includes('encoderblock_11/mlp')),
  ]), 'the filter narrows the list (case-insensitive); the drawn tensor stays');
  await context.close();
});

test('a file that cannot be opened leaves the grid on screen, dimmed, with its error, until it is closed', async (t) => {
  const [good] = drawableFixtures(manifest);
  const bad = manifest.errors.filter((e) => e.stage !== 'draw').map((e) => ({ name: e.name, bytes: readFileSync(e.path), reason: e.reason }));
  assert.ok(bad.length > 0, 'the manifest lists broken files');
  const { page, context } = await openPage(session);
  const shown = await statusOf(page);
  const pixels = await canvasPixels(page);
  for (const file of bad) {
    await t.test(file.name, async () => {
      const failed = await settledAfter(page, () => dropBytes(page, file.bytes, file.name));
      assert.equal(failed.data.state, 'error', `${file.name}: ${failed.text}`);
      const error = await page.textContent('#open-error-text');
      assert.ok(await page.isVisible('#open-error'), `an error is shown for ${file.name}${file.reason ? ` (${file.reason})` : ''}`);
      assert.ok(error.startsWith(`Could not open ${file.name}: `), error);
      const sentence = error.slice(`Could not open ${file.name}: `.length);
      assert.match(sentence, /^[A-Z"'`].*[.!?]$/s, `the error is a sentence: ${sentence}`);
      assert.ok(!/\b(panicked|RuntimeError|unreachable|undefined|\[object)/.test(sentence), `plain words: ${sentence}`);
      assert.equal(failed.text, shown.text, 'the status still describes the grid on screen');
      assert.equal(failed.data.tensor, shown.data.tensor);
      assertSamePixels(await canvasPixels(page), pixels, 'the previous grid stays');
      assert.equal(await page.evaluate(() => getComputedStyle(document.getElementById('grid')).opacity), '0.35', 'dimmed');
      assert.equal(await page.isEnabled('#download'), true, 'it can still be saved');

      await page.click('#open-error-close');
      assert.equal(await page.isVisible('#open-error'), false);
      assert.equal(await page.evaluate(() => getComputedStyle(document.getElementById('grid')).opacity), '1');
      assert.equal((await statusOf(page)).data.state, 'ready');
    });
  }
  const recovered = await settledAfter(page, () => dropBytes(page, readFileSync(good.path), good.name));
  await assertShows(page, good, defaultTiles(good), recovered);
  await context.close();
});

test('a file that cannot be opened with nothing on screen says why in the panel; the next drop works', async (t) => {
  const [good] = drawableFixtures(manifest);
  const bad = manifest.errors.filter((e) => e.stage !== 'draw').slice(0, 3);
  const context = await session.browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.goto(`${session.server.url}?sample=none`);
  for (const file of bad) {
    await t.test(file.name, async () => {
      const failed = await settledAfter(page, () => dropBytes(page, readFileSync(file.path), file.name));
      assert.equal(failed.data.state, 'error', failed.text);
      assert.match(failed.alert ?? '', /^[A-Z"'`].*[.!?]$/s, `the alert is a sentence: ${failed.alert}`);
      assert.ok(failed.text.includes(file.name), 'the status names the file that failed');
      assert.equal(failed.data.tensor, undefined);
      assert.deepEqual(failed.canvas, { width: 0, height: 0 });
      assert.ok(await page.isDisabled('#download'), 'nothing to download');
    });
  }
  const recovered = await settledAfter(page, () => dropBytes(page, readFileSync(good.path), good.name));
  await assertShows(page, good, defaultTiles(good), recovered);
  await context.close();
});

test('a checkpoint with nothing drawable replaces the grid, lists its tensors and writes out why', async () => {
  const fixtures = manifest.fixtures.filter((f) => !f.default_tensor && !f.big);
  assert.ok(fixtures.length > 0, 'the manifest has a fixture with nothing to draw');
  const { page, context } = await openPage(session);
  for (const fixture of fixtures) {
    const status = await settledAfter(page, () => dropBytes(page, readFileSync(fixture.path), fixture.name));
    assert.equal(status.data.state, 'error', status.text);
    assert.match(status.alert ?? '', /^[A-Z"'`].*[.!?]$/s, `the alert is a sentence: ${status.alert}`);
    assert.equal(status.data.tensor, undefined);
    assert.deepEqual(status.canvas, { width: 0, height: 0 });
    assert.equal(await page.getAttribute('#tensor', 'data-listed'), 'done');
    const options = await pickerOptions(page);
    assert.equal(await page.isChecked('.show-all'), true, '"show all" is on: there is nothing else to show');
    assert.deepEqual(options.map((o) => o.value), naturalSort(fixture.tensors.map((t) => t.name)), 'its tensors are still listed');
    assert.ok(options.every((o) => o.disabled && o.title), 'none selectable, each with a reason');
    assert.equal(await page.isVisible('.reasons'), true, 'the reasons are on the page, not only in the picker');
    const reasons = await page.$$eval('.reasons-list li', (items) => items.map((li) => li.textContent));
    for (const tensor of fixture.tensors.slice(0, 8)) {
      const option = options.find((o) => o.value === tensor.name);
      assert.ok(reasons.some((r) => r.startsWith(tensor.name) && r.endsWith(`: ${option.title}`)), `${tensor.name} and its reason are written out`);
    }
  }
  await context.close();
});

test('a file that opens but cannot be drawn replaces the grid and says why in a sentence', async (t) => {
  const broken = manifest.errors.filter((e) => e.stage === 'draw');
  const { page, context } = await openPage(session);
  for (const file of broken) {
    await t.test(file.name, async () => {
      const failed = await settledAfter(page, () => dropBytes(page, readFileSync(file.path), file.name));
      assert.equal(failed.data.state, 'error', failed.text);
      assert.match(failed.alert ?? '', /^[A-Z"'`].*[.!?]$/s, `the alert is a sentence: ${failed.alert}`);
      assert.ok(!/\b(panicked|RuntimeError|unreachable|undefined|\[object)/.test(failed.alert), `plain words: ${failed.alert}`);
      assert.ok(failed.text.includes(file.name), 'the status names the file');
      assert.equal(failed.data.tensor, undefined, 'the status claims no tensor from an earlier file');
      assert.deepEqual(failed.canvas, { width: 0, height: 0 }, 'no stale grid');
      assert.equal(await page.isVisible('#open-error'), false);
    });
  }
  await context.close();
});

test('dropping text instead of a file says so', async () => {
  const { page, context } = await openPage(session);
  await page.evaluate(() => {
    const transfer = new DataTransfer();
    transfer.setData('text/plain', 'https://example.invalid/model.npz');
    document.getElementById('dropzone').dispatchEvent(new DragEvent('drop', { bubbles: true, cancelable: true, dataTransfer: transfer }));
  });
  const alert = await page.textContent('#alert');
  assert.match(alert, /Only files can be opened/);
  assert.equal(await page.getAttribute('#status', 'data-tensor'), 'embedding/kernel', 'the sample stays open');
  await context.close();
});
