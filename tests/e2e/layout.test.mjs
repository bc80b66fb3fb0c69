// The page's layout at desktop and phone width: the whole grid is visible at the default settings, it follows the
// window's width, a zoom typed in wins (and the stage says it scrolls), phones see the grid before the settings
// and no talk of dropping, and the sample's attribution shows only under the sample.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  PHONE, assertSamePixels, canvasPixels, controlsOf, defaultTiles, drawableFixtures, expectedGrid, loadManifest,
  openPage, sampleFixture, settledAfter, startSession, statusOf, waitSettled,
} from './harness.mjs';

let session;
let manifest;
before(async () => {
  manifest = loadManifest();
  session = await startSession();
});
after(async () => { await session?.close(); });


/** Where the grid, its stage and the settings are, and how wide the document is. */
const geometry = (page) => page.evaluate(() => {
  const box = (el) => el.getBoundingClientRect().toJSON();
  const stage = document.querySelector('.stage');
  return {
    viewport: { width: window.innerWidth, height: window.innerHeight },
    documentWidth: document.documentElement.scrollWidth,
    canvas: box(document.getElementById('grid')),
    stage: box(stage),
    stageScrolls: stage.scrollWidth > stage.clientWidth,
    controls: box(document.getElementById('controls')),
  };
});

function assertWholeGridVisible(g, label) {
  assert.ok(g.canvas.width > 0, `${label}: a grid is drawn`);
  assert.ok(g.canvas.left >= 0 && g.canvas.right <= g.viewport.width, `${label}: canvas ${g.canvas.left}–${g.canvas.right} px within ${g.viewport.width}`);
  assert.ok(g.canvas.right <= g.stage.right && g.canvas.left >= g.stage.left, `${label}: canvas inside its stage`);
  assert.equal(g.stageScrolls, false, `${label}: the stage does not scroll`);
  assert.ok(g.documentWidth <= g.viewport.width, `${label}: the page is ${g.documentWidth} px wide in a ${g.viewport.width} px window`);
}

test('at 1280 × 800 the AugReg B/16 grid fits: zoom 3, every column visible, the stage sized to it', async (t) => {
  const augreg = manifest.fixtures.find((f) => f.name === 'augreg_b16.npz');
  if (!augreg) { t.skip('augreg_b16.npz is written by make_fixtures.py --big'); return; }
  const { page, context, problems } = await openPage(session);
  const status = await settledAfter(page, () => page.setInputFiles('#file-input', augreg.path));
  assert.equal(status.data.zoom, '3', `16 columns of 16 px at zoom 4 (1054 px) would not fit: ${status.text}`);
  assert.match(status.text, /zoom 3 \(fit\)/);
  const g = await geometry(page);
  assertWholeGridVisible(g, 'B/16 at 1280');
  assert.ok(g.stage.bottom - g.canvas.bottom < 40, `no empty band under the grid (${g.stage.bottom - g.canvas.bottom} px)`);
  assert.ok(g.canvas.bottom <= g.viewport.height, 'the whole grid is on the first screen');
  assert.deepEqual(problems, []);
  await context.close();
});

test('the fitted zoom follows the window; a typed zoom wins and the stage scrolls, visibly', async () => {
  const { page, context, problems } = await openPage(session); // the sample, 14 px filters
  const sample = sampleFixture(manifest);
  const tiles = sample && defaultTiles(sample);
  assert.equal((await statusOf(page)).data.zoom, '4');
  assertWholeGridVisible(await geometry(page), 'sample at 1280');

  await page.evaluate(() => { document.getElementById('status').dataset.state = 'test-waiting'; });
  await page.setViewportSize({ width: 700, height: 800 });
  const narrower = await waitSettled(page);
  assert.ok(Number(narrower.data.zoom) < 4, `a narrower window gets a smaller zoom (${narrower.data.zoom})`);
  assertWholeGridVisible(await geometry(page), 'sample at 700');
  assert.equal(await page.inputValue('#zoom'), narrower.data.zoom, 'the zoom field shows the zoom in use');
  if (tiles) assertSamePixels(await canvasPixels(page), expectedGrid(tiles.path, tiles.kernel_shape, await controlsOf(page)), 'fitted grid');

  const wider = await settledAfter(page, () => page.setViewportSize({ width: 1280, height: 800 }));
  assert.equal(wider.data.zoom, '4', 'back to the wide window, back to zoom 4');
  await settledAfter(page, () => page.fill('#zoom', '8'));
  assert.equal(await page.isChecked('#fit'), false);
  const g = await geometry(page);
  assert.equal(g.canvas.width, 16 * 14 * 8 + 15 * 2);
  assert.ok(g.stageScrolls, 'the stage scrolls sideways');
  assert.ok(g.documentWidth <= g.viewport.width, 'the page itself does not');
  assert.equal(await page.isVisible('.overflow-note'), true, 'and says so');
  assert.deepEqual(problems, []);
  await context.close();
});

test('on a phone the grid comes first and fits, the settings follow, and nothing speaks of dropping', async () => {
  const context = await session.browser.newContext(PHONE);
  const page = await context.newPage();
  await page.goto(session.server.url);
  const status = await waitSettled(page);
  assert.equal(status.data.state, 'ready', status.text);
  const g = await geometry(page);
  assertWholeGridVisible(g, 'phone');
  assert.ok(g.canvas.bottom <= g.controls.top, 'the grid is above the settings');
  assert.ok(g.canvas.bottom <= g.viewport.height, `the whole grid is on the first screen (bottom at ${g.canvas.bottom} px)`);
  const text = await page.evaluate(() => document.body.innerText);
  assert.doesNotMatch(text, /\bdrop/i, 'touch devices are not told to drop files');
  assert.match(text, /Open a checkpoint/);
  await context.close();
});

test('with a mouse the page invites drops; the attribution shows only under the sample', async () => {
  const { page, context } = await openPage(session);
  assert.match(await page.evaluate(() => document.body.innerText), /Drop a checkpoint anywhere/);
  assert.equal(await page.isVisible('.attribution'), true, 'the sample is credited');
  const other = drawableFixtures(manifest)[0];
  await settledAfter(page, () => page.setInputFiles('#file-input', other.path));
  assert.equal(await page.isVisible('.attribution'), false, 'another file is not captioned as the sample');
  await settledAfter(page, () => page.click('#sample-button'));
  assert.equal(await page.isVisible('.attribution'), true);
  await context.close();
});
