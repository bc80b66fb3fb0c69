// What a new user tripped over (issue 16), on the page: every view works on the sample at first load; a view that
// cannot be drawn leaves nothing stale and says what to do in the page's words; labels never overlap and controls
// never clip, at 1280 × 800 and on a 390 × 844 phone; a phone's grid fills its box; "R, G, B apart" keeps the
// tiles' size; tiles, filters, components and positions are counted from 1; only URLs that opened stay in the
// address; the canvas is never read back (no `willReadFrequently` warning).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { DESKTOP, PHONE, dropBytes, loadManifest, settledAfter, startSession, statusOf, waitSettled } from './harness.mjs';

let session;
let manifest;
before(async () => {
  manifest = loadManifest();
  session = await startSession();
});
after(async () => { await session?.close(); });


/** A page in a fresh context of `device`, at `address` (after the server's root), settled; problems logged. */
async function pageAt(device, address = '') {
  const context = await session.browser.newContext(device);
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
  page.on('console', (message) => { if (['error', 'warning'].includes(message.type())) problems.push(`${message.type()}: ${message.text()}`); });
  await page.goto(`${session.server.url}${address}`);
  await waitSettled(page);
  return { context, page, problems };
}

/** How many distinct colours the canvas holds (a drawn figure has many; an empty or flat one has one or none). */
const canvasColours = (page) => page.evaluate(() => {
  const canvas = document.getElementById('grid');
  if (canvas.width === 0) return 0;
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  const seen = new Set();
  for (let i = 0; i < data.length && seen.size < 1000; i += 4 * 97) seen.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
  return seen.size;
});

for (const [view, mode, what] of [['positions-cosine', 'cosine', 'position cosine similarity'], ['positions-dot', 'dot', 'position Gram matrix P·Pᵀ']]) {
  test(`the sample's ${what} draws on a first load of #view=${view}: DINOv2's 1 + 37 × 37 tokens`, async () => {
    const { page, context, problems } = await pageAt(DESKTOP, `#view=${view}`);
    const status = await statusOf(page);
    assert.equal(status.data.state, 'ready', `${status.text} / ${status.alert}`);
    assert.equal(status.alert, null);
    assert.equal(status.data.view, 'positions');
    assert.equal(status.data.mode, mode);
    assert.equal(status.data.tensor, 'Transformer/posembed_input/pos_embedding');
    assert.equal(status.data.shape, '1,1370,384');
    assert.match(status.text, /1 class token; 37 × 37 positions/);
    const side = mode === 'cosine' ? 37 * 37 + 36 : 37 * 37; // 1-px gaps between the tiles of the cosine figure
    assert.deepEqual(status.canvas, { width: side, height: side });
    assert.ok(await canvasColours(page) > 100, 'a figure, not a flat or empty canvas');
    assert.equal(await page.isVisible('.colorbar'), true);
    assert.deepEqual(problems, []);
    await context.close();
  });
}

test('switching to a view the checkpoint cannot draw leaves no grid, scree line or status of the last view, and says what to do', async () => {
  const plain = manifest.fixtures.find((f) => f.name === 'stored_f32.npz'); // a kernel and no position embedding
  const { page, context, problems } = await pageAt(DESKTOP);
  await settledAfter(page, () => page.setInputFiles('#file-input', plain.path));
  const pca = await settledAfter(page, () => page.selectOption('#view', 'pca'));
  assert.match(pca.text, /principal components/);
  assert.equal(await page.isVisible('.scree'), true);

  const refused = await settledAfter(page, () => page.selectOption('#view', 'positions-cosine'));
  assert.equal(refused.data.state, 'error');
  assert.equal(refused.text, 'Could not draw the position cosine similarity of stored_f32.npz.');
  assert.doesNotMatch(refused.text, /principal components/, 'no stale status');
  assert.deepEqual(refused.canvas, { width: 0, height: 0 }, 'no stale grid');
  assert.equal(await page.isVisible('.stage'), false, 'no empty box either');
  assert.equal(await page.isVisible('.scree'), false, 'no stale scree line');
  assert.equal(await page.isVisible('.colorbar'), false);
  assert.doesNotMatch(refused.alert, /tensor option/, 'the page\'s words, not the API\'s');
  assert.match(refused.alert, /^No position embedding was found: .*Choose View “filters”.*Tensor picker/);

  const back = await settledAfter(page, () => page.selectOption('#view', 'filters'));
  assert.equal(back.data.state, 'ready', 'the checkpoint stayed open: the filters draw again');
  assert.equal(back.alert, null);
  assert.ok(back.canvas.width > 0);
  assert.equal(await page.isVisible('.stage'), true);

  // Opened while the view cannot draw it: switching view still draws it.
  await settledAfter(page, () => page.selectOption('#view', 'positions-dot'));
  const reopened = await settledAfter(page, () => page.setInputFiles('#file-input', plain.path));
  assert.equal(reopened.data.state, 'error');
  assert.equal(reopened.text, 'Could not draw the position Gram matrix P·Pᵀ of stored_f32.npz.');
  assert.equal(await page.isVisible('.stage'), false);
  assert.equal(await page.isVisible('.notes'), false, 'no "Drawn by default" beside a view that drew nothing');
  const drawn = await settledAfter(page, () => page.selectOption('#view', 'pca'));
  assert.equal(drawn.data.state, 'ready', drawn.text);
  assert.equal(await page.isVisible('.scree'), true);
  assert.deepEqual(problems, []);
  await context.close();
});

/** A safetensors file of one float32 tensor. */
function safetensors(name, shape, values) {
  const data = Buffer.from(new Float32Array(values).buffer);
  const header = Buffer.from(JSON.stringify({ [name]: { dtype: 'F32', shape, data_offsets: [0, data.length] } }));
  const size = Buffer.alloc(8);
  size.writeBigUInt64LE(BigInt(header.length));
  return Buffer.concat([size, header, data]);
}

/** A class token and 4 × 4 positions of 8 numbers whose Gram matrix runs from -0.04299 to 0.34: the tick at 0 sits
 *  an eighth of the way along the bar, where "-0.04299" centred or left-aligned would run into "0". */
function nearZeroGram() {
  const rows = [[0, 0, 0, 0, 0, 0, 0, 0.1]];
  for (let i = 0; i < 16; i += 1) {
    const row = new Array(8).fill(0);
    row[0] = i === 15 ? -0.042987 / 0.5 : 0.5;
    row[1 + (i === 15 ? 0 : i % 7)] = 0.3;
    rows.push(row);
  }
  return safetensors('pos_embed', [1, 17, 8], rows.flat());
}

test('the colour bar\'s tick labels never touch, on the page and at both widths', async () => {
  for (const device of [DESKTOP, PHONE]) {
    for (const view of ['positions-dot', 'positions-cosine', 'near zero']) {
      const { page, context } = await pageAt(device, `#view=${view === 'near zero' ? 'positions-dot' : view}`);
      if (view === 'near zero') {
        await settledAfter(page, () => dropBytes(page, nearZeroGram(), 'near-zero.safetensors'));
        const ticks = await page.$$eval('.colorbar-ticks span', (spans) => spans.map((s) => s.textContent));
        assert.ok(ticks.includes('-0.04299') && ticks.includes('0'), `the labels of the issue (${ticks})`);
      }
      const boxes = await page.$$eval('.colorbar-ticks span', (spans) => spans.filter((s) => !s.hidden)
        .map((s) => ({ text: s.textContent, ...s.getBoundingClientRect().toJSON() })));
      const bar = await page.$eval('.colorbar-ticks', (el) => el.getBoundingClientRect().toJSON());
      assert.ok(boxes.length >= 2, `${view}: at least its two ends are labelled (${boxes.map((b) => b.text)})`);
      for (const [i, a] of boxes.entries()) {
        assert.ok(a.left >= bar.left - 0.5 && a.right <= bar.right + 0.5, `${view} at ${device.viewport.width}: "${a.text}" within the bar`);
        for (const b of boxes.slice(i + 1)) {
          assert.ok(a.right <= b.left || b.right <= a.left, `${view} at ${device.viewport.width}: "${a.text}" and "${b.text}" overlap`);
        }
      }
      await context.close();
    }
  }
});

/** Every visible control whose text is wider than the room it has: buttons and labels by their scroll width, a
 *  select by its chosen option, a text field by its value or placeholder (measured in the control's own font). */
const clippedControls = (page) => page.evaluate(() => {
  const measure = document.createElement('canvas').getContext('2d');
  const textWidth = (el, text) => {
    const style = getComputedStyle(el);
    measure.font = `${style.fontStyle} ${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
    return measure.measureText(text).width;
  };
  const room = (el, extra = 0) => {
    const style = getComputedStyle(el);
    return el.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight) - extra;
  };
  const visible = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
  const clipped = [];
  for (const el of document.querySelectorAll('button, select, input, textarea, label')) {
    if (!visible(el) || el.closest('dialog:not([open])') || el.classList.contains('visually-hidden')) continue;
    const name = `${el.tagName.toLowerCase()}#${el.id || el.className}`;
    if (el.tagName === 'SELECT') {
      const text = el.selectedOptions[0]?.textContent ?? '';
      // Chromium's arrow takes about 20 px of the box.
      if (textWidth(el, text) > room(el, 20)) clipped.push(`${name}: "${text}"`);
    } else if (el.tagName === 'TEXTAREA' || (el.tagName === 'INPUT' && ['text', 'search', 'number', ''].includes(el.type))) {
      const text = el.value || el.placeholder;
      if (text && textWidth(el, text) > room(el, el.type === 'number' ? 18 : 0)) clipped.push(`${name}: "${text}"`);
    } else if (el.tagName === 'BUTTON' || el.tagName === 'LABEL') {
      if (el.scrollWidth > el.clientWidth + 1) clipped.push(`${name}: "${el.textContent.trim()}"`);
    }
  }
  return clipped;
});

test('no control\'s text is clipped, at 1280 × 800 and 390 × 844, in each view', async () => {
  for (const device of [DESKTOP, PHONE]) {
    for (const view of ['filters', 'pca', 'positions-cosine']) {
      const { page, context } = await pageAt(device, `#view=${view}`);
      await page.waitForSelector('#tensor[data-listed="done"]', { state: 'attached' });
      assert.deepEqual(await clippedControls(page), [], `${view} at ${device.viewport.width} × ${device.viewport.height}`);
      await context.close();
    }
  }
});

test('on a phone the sample\'s grid fills its box, drawn in device pixels', async () => {
  const { page, context, problems } = await pageAt(PHONE);
  const status = await statusOf(page);
  const fill = await page.evaluate(() => {
    const stage = document.querySelector('.stage');
    const style = getComputedStyle(stage);
    const inner = stage.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    const canvas = document.getElementById('grid');
    return { inner, shown: canvas.getBoundingClientRect().width, pixels: canvas.width, ratio: devicePixelRatio };
  });
  assert.ok(fill.shown / fill.inner >= 0.8, `the grid is ${fill.shown.toFixed(0)} of ${fill.inner} px (${status.text})`);
  assert.ok(fill.shown <= fill.inner, 'and fits');
  assert.ok(Math.abs(fill.pixels / fill.ratio - fill.shown) < 1, 'one canvas pixel per device pixel');
  assert.ok(Number(status.data.zoom) >= 3, `zoom ${status.data.zoom}, not 1`);
  // The pointer still finds the tile under it: tile 18 is row 2, column 2.
  const box = await page.locator('#grid').boundingBox();
  const pitch = (14 * Number(status.data.zoom) + 2) / fill.ratio;
  await page.mouse.move(box.x + pitch + pitch / 2, box.y + pitch + pitch / 2);
  assert.match(await page.textContent('.tile-readout'), /^Filter 18 of 384/);
  assert.deepEqual(problems, []);
  await context.close();
});

test('"R, G, B apart" keeps the desktop grid\'s tiles their size', async () => {
  const { page, context, problems } = await pageAt(DESKTOP);
  const whole = await statusOf(page);
  const apart = await settledAfter(page, () => page.check('#channels'));
  assert.match(apart.text, /R G B apart/);
  assert.equal(apart.data.zoom, whole.data.zoom, `zoom ${apart.data.zoom} apart, ${whole.data.zoom} whole`);
  assert.equal(await page.inputValue('#columns'), '16', 'the columns asked for stay in the field');
  assert.equal(await page.textContent('#columns-note'), 'Columns: 5 filters a row, three tiles each, to fit the width.');
  const geometry = await page.evaluate(() => {
    const stage = document.querySelector('.stage');
    return { canvas: document.getElementById('grid').getBoundingClientRect().width, stage: stage.clientWidth, scrolls: stage.scrollWidth > stage.clientWidth };
  });
  assert.equal(geometry.scrolls, false, 'and fits the width');
  assert.ok(geometry.canvas / geometry.stage > 0.7, `the grid takes ${geometry.canvas} of ${geometry.stage} px`);
  const back = await settledAfter(page, () => page.uncheck('#channels'));
  assert.equal(back.data.zoom, whole.data.zoom);
  assert.equal(await page.textContent('#columns-note'), '');
  assert.deepEqual(problems, []);
  await context.close();
});

test('everything is counted from 1: tiles, filters, components, positions; the file\'s own index is said as such', async () => {
  const { page, context, problems } = await pageAt(DESKTOP);
  await page.focus('#grid');
  await page.keyboard.press('Home');
  assert.match(await page.textContent('.tile-readout'), /^Filter 1 of 384 · /);
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('Enter');
  assert.equal(await page.textContent('#inspector-title'), 'Filter 3 of 384 — embedding/kernel');
  const numbers = await page.textContent('#inspector-numbers');
  assert.match(numbers, /place in the gridtile 3 of 128, row 1, column 3/);
  assert.match(numbers, /index in the file \(from 0\)2/);
  // Walking the inspector reads the kept pixels, not the canvas: no readback warning however often.
  for (let i = 0; i < 6; i += 1) await page.keyboard.press('ArrowRight');
  assert.equal(await page.textContent('#inspector-title'), 'Filter 9 of 384 — embedding/kernel');
  await page.keyboard.press('Escape');

  await settledAfter(page, () => page.selectOption('#view', 'pca'));
  await page.focus('#grid');
  await page.keyboard.press('Home');
  assert.match(await page.textContent('.tile-readout'), /^Component 1: explains/);
  assert.match(await page.textContent('.scree-note'), /^Explained variance: component 1 [\d.]+ %, component 28 /);

  await settledAfter(page, () => page.selectOption('#view', 'positions-cosine'));
  await page.focus('#grid');
  await page.keyboard.press('Home');
  await page.keyboard.press('Enter');
  assert.equal(await page.textContent('#inspector-title'), 'Position 1 (row 1, column 1) — Transformer/posembed_input/pos_embedding');
  assert.match(await page.textContent('#inspector-numbers'), /token index in the tensor \(from 0\)1/);
  await page.keyboard.press('Escape');
  assert.deepEqual(problems, [], 'no warning (willReadFrequently among them)');
  await context.close();
});

test('a URL that does not open is not kept in the address; a link to one shows the sample under the error', async () => {
  const { page, context, problems } = await pageAt(DESKTOP);
  // At once, while the sample's tensors may still be being listed: the listing is let finish (bridge.js), so the
  // sample stays open beside the error, and its picker is filled.
  await page.fill('#url-input', 'not a url at all');
  await page.press('#url-input', 'Enter');
  await page.waitForSelector('#open-error:not([hidden])');
  await page.waitForSelector('#tensor[data-listed="done"]', { state: 'attached' });
  assert.equal(await page.evaluate(() => new URLSearchParams(location.search).getAll('url').length), 0, 'typed, failed: not in the address');
  assert.equal((await statusOf(page)).data.file, 'dinov2-vits14-patch-embed.npz', 'the sample stays');
  await context.close();

  const linked = await pageAt(DESKTOP, '?url=not+a+url+at+all');
  await linked.page.waitForSelector('#open-error:not([hidden])');
  assert.match(await linked.page.textContent('#open-error-text'), /^Could not open not a url at all: /);
  assert.equal(await linked.page.evaluate(() => location.search), '', 'the failed URL left the address');
  const status = await waitSettled(linked.page);
  assert.equal(status.data.file, 'dinov2-vits14-patch-embed.npz', 'not a blank page: the sample, under the error');
  assert.ok(status.canvas.width > 0);
  await linked.page.reload();
  assert.equal((await waitSettled(linked.page)).data.state, 'ready', 'and reloading shows the sample');
  assert.equal(await linked.page.isVisible('#open-error'), false);
  assert.deepEqual([...problems, ...linked.problems], []);
  await linked.context.close();
});
