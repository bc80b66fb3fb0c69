// Accessibility, checked by a real tool and by keyboard: axe-core finds no WCAG 2.1 A/AA violation in any state
// of the page, and every control can be reached and used without a mouse.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { startCheckpointServer } from '../server/checkpoint-server.mjs';
import {
  MANIFEST, drawableFixtures, dropBytes, loadManifest, openPage, panelsSettled, settledAfter, startSession, statusOf,
  waitSettled,
} from './harness.mjs';

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const WCAG_21_AA = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];

let session;
let manifest;
before(async () => {
  manifest = loadManifest();
  session = await startSession();
});
after(async () => { await session?.close(); });

/** Runs axe-core on the page as it is and fails with every violation, its rule and the elements. */
async function assertNoViolations(page, state) {
  if (!(await page.evaluate(() => 'axe' in window))) await page.addScriptTag({ content: axeSource });
  const results = await page.evaluate((tags) => window.axe.run(document, { runOnly: { type: 'tag', values: tags } }), WCAG_21_AA);
  const found = results.violations.map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  assert.deepEqual(found, [], `${state}: axe-core found WCAG 2.1 AA violations`);
  assert.ok(results.passes.length > 10, `${state}: axe-core ran its checks (${results.passes.length} passed)`);
}

test('axe-core: no WCAG 2.1 AA violations with the sample drawn, the inspector open, an error shown, the picker open, on a phone', async () => {
  const { page, context } = await openPage(session);
  await page.waitForSelector('#tensor[data-listed="done"]', { state: 'attached' });
  await assertNoViolations(page, 'sample drawn');
  await page.click('#grid', { position: { x: 3, y: 3 } });
  assert.equal(await page.isVisible('#inspector'), true);
  await assertNoViolations(page, 'inspector open');
  await page.keyboard.press('Escape');

  const broken = manifest.errors[0];
  await settledAfter(page, () => dropBytes(page, readFileSync(broken.path), broken.name));
  assert.equal(await page.isVisible('#open-error'), true);
  await assertNoViolations(page, 'failed open beside the previous grid');
  await page.click('#open-error-close');

  const augreg = manifest.fixtures.find((f) => f.name === 'augreg_b16.npz') ?? drawableFixtures(manifest)[0];
  await settledAfter(page, () => page.setInputFiles('#file-input', augreg.path));
  await page.waitForSelector('#tensor[data-listed="done"]', { state: 'attached' });
  await page.check('.show-all');
  await page.focus('#tensor');
  await assertNoViolations(page, 'picker with every tensor listed');
  await page.fill('#zoom', '12');
  await waitSettled(page);
  await page.fill('#columns', '100000');
  await waitSettled(page);
  assert.equal(await page.isVisible('.overflow-note'), true, 'the stage scrolls in this state');
  await assertNoViolations(page, 'a field corrected with a note, the stage scrolling');

  // Two panels, unlinked: one shows position cosines (colour bar, its fields), the other principal components.
  const pair = ['positions_augreg.npz', 'dinov2_vits14.npz'].map((name) => join(dirname(MANIFEST), name));
  await page.setInputFiles('#file-input', pair);
  await page.waitForFunction(() => document.querySelectorAll('.panel').length === 2);
  await panelsSettled(page);
  await page.uncheck('#link');
  await page.selectOption('#view', 'positions-cosine');
  await page.selectOption('#editing', '1');
  await page.selectOption('#view', 'pca');
  await page.waitForFunction(() => document.querySelectorAll('.panel .scree:not([hidden])').length === 1
    && document.querySelectorAll('.panel .colorbar:not([hidden])').length === 1);
  await panelsSettled(page);
  await assertNoViolations(page, 'two panels unlinked: positions beside principal components');
  await page.click('.panel[data-panel="0"] canvas.grid', { position: { x: 3, y: 3 } });
  assert.equal(await page.isVisible('#inspector'), true);
  await assertNoViolations(page, 'a position open in the inspector');
  await page.keyboard.press('Escape');

  // Opening by URL: a whole-file download with its progress bar, then a network failure offering to try again.
  const host = await startCheckpointServer({ root: dirname(MANIFEST) });
  try {
    await page.fill('#url-input', `${host.origin}/norange/dinov2_vits14.npz?rate=200000`);
    await page.press('#url-input', 'Enter');
    await page.waitForSelector('#fetch-progress:not([hidden])');
    await assertNoViolations(page, 'a whole file downloading, with its progress bar');
    await page.click('#fetch-cancel');
    await page.waitForSelector('#open-error:not([hidden])');
    await page.click('#open-error-close');
    await page.fill('#url-input', `${host.origin}/cut/dinov2_vits14.npz`);
    await page.press('#url-input', 'Enter');
    await page.waitForSelector('#open-error-retry:not([hidden])');
    await assertNoViolations(page, 'a URL that failed, with Try again');
  } finally {
    await host.close();
  }
  await context.close();

  const first = await session.browser.newContext({ viewport: { width: 1280, height: 800 } });
  const fresh = await first.newPage();
  await fresh.goto(`${session.server.url}?sample=none`);
  await settledAfter(fresh, () => dropBytes(fresh, readFileSync(broken.path), broken.name));
  assert.ok((await statusOf(fresh)).alert, 'the first open failed with nothing to keep: the alert is in the panel');
  await assertNoViolations(fresh, 'failed first open');
  await first.close();

  const phone = await session.browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const small = await phone.newPage();
  await small.goto(session.server.url);
  await waitSettled(small);
  await assertNoViolations(small, 'narrow viewport');
  await phone.close();
});

/** Presses Tab until `selector` has the focus (at most 40 times); returns the ids/classes focused on the way. */
async function tabTo(page, selector) {
  const path = [];
  for (let i = 0; i < 40; i += 1) {
    await page.keyboard.press('Tab');
    const here = await page.evaluate((s) => {
      const el = document.activeElement;
      return { name: el.id || el.className, matches: el.matches(s), outline: getComputedStyle(el).outlineStyle };
    }, selector);
    path.push(here.name);
    if (here.matches) {
      assert.notEqual(here.outline, 'none', `${selector} shows where the focus is`);
      return path;
    }
  }
  assert.fail(`${selector} was not reached by Tab; focus went ${path.join(' → ')}`);
}

test('every control works from the keyboard alone', async () => {
  const fixture = manifest.fixtures.find((f) => f.tiles.filter((tile) => [1, 3].includes(tile.kernel_shape[2])).length > 1);
  assert.ok(fixture, 'a fixture with two drawable tensors');
  const { page, context, problems } = await openPage(session);
  await page.bringToFront(); // keys and the file chooser go to the focused page
  // Playwright intercepts file choosers only once a listener exists (an asynchronous switch): listen from the
  // start, so the chooser the Enter key opens below cannot come before the interception.
  const choosers = [];
  page.on('filechooser', (chooser) => choosers.push(chooser));

  // The file button opens the file chooser from the keyboard; what is picked is drawn.
  await tabTo(page, '#pick-button');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => true); // a round trip for the chooser event
  for (let i = 0; i < 50 && choosers.length === 0; i += 1) await page.waitForTimeout(100);
  assert.equal(choosers.length, 1, 'Enter on the button opened the file chooser');
  await settledAfter(page, () => choosers[0].setFiles(fixture.path));
  assert.equal((await statusOf(page)).data.file, fixture.name);
  await page.waitForSelector('#tensor[data-listed="done"]:not([disabled])', { state: 'attached' });

  // The tensor picker: arrow keys choose another tensor.
  await page.evaluate(() => document.activeElement.blur());
  await tabTo(page, '#tensor');
  const before = await page.inputValue('#tensor');
  let status = await settledAfter(page, () => page.keyboard.press('ArrowDown'));
  assert.notEqual(status.data.tensor, before, 'ArrowDown picked the next tensor and drew it');

  // "show all", the layout list, each number field, fit, the colour, and Download, in that order.
  await tabTo(page, '.show-all');
  await page.keyboard.press('Space');
  assert.equal(await page.isChecked('.show-all'), true);
  await tabTo(page, '#layout');
  status = await settledAfter(page, () => page.keyboard.press('ArrowDown'));
  assert.equal(status.data.state, 'ready', status.text);
  await tabTo(page, '#count');
  await page.keyboard.press('Control+A');
  status = await settledAfter(page, () => page.keyboard.type('2'));
  assert.equal(status.data.filtersShown, '2');
  await tabTo(page, '#columns');
  status = await settledAfter(page, () => page.keyboard.press('ArrowUp'));
  assert.equal(status.data.state, 'ready');
  await tabTo(page, '#zoom');
  status = await settledAfter(page, () => page.keyboard.press('ArrowUp'));
  assert.equal(await page.isChecked('#fit'), false, 'changing the zoom from the keyboard turns fitting off');
  await tabTo(page, '#fit');
  status = await settledAfter(page, () => page.keyboard.press('Space'));
  assert.equal(await page.isChecked('#fit'), true);
  await tabTo(page, '#gap');
  status = await settledAfter(page, () => page.keyboard.press('ArrowUp'));
  assert.equal(status.data.state, 'ready');
  await tabTo(page, '#gap-color');
  await tabTo(page, '#download');
  const [download] = await Promise.all([page.waitForEvent('download'), page.keyboard.press('Enter')]);
  assert.match(download.suggestedFilename(), /\.png$/);

  // The error of a failed open is closed from the keyboard: its Close button has the focus.
  const broken = manifest.errors[0];
  await settledAfter(page, () => dropBytes(page, readFileSync(broken.path), broken.name));
  assert.equal(await page.evaluate(() => document.activeElement.id), 'open-error-close');
  await page.keyboard.press('Enter');
  assert.equal(await page.isVisible('#open-error'), false);
  assert.equal((await statusOf(page)).data.state, 'ready');

  // "Try the sample" from the keyboard.
  await tabTo(page, '#sample-button');
  status = await settledAfter(page, () => page.keyboard.press('Enter'));
  assert.equal(status.data.tensor, 'embedding/kernel');

  // A URL typed into its field opens with Enter.
  const host = await startCheckpointServer({ root: dirname(MANIFEST) });
  try {
    await page.evaluate(() => document.activeElement.blur());
    await tabTo(page, '#url-input');
    await page.keyboard.type(`${host.origin}/files/dinov2_vits14.npz`);
    status = await settledAfter(page, () => page.keyboard.press('Enter'));
    assert.equal(status.data.file, 'dinov2_vits14.npz', status.text);
    assert.ok(Number(status.data.requests) > 0, 'read over the network');
  } finally {
    await host.close();
  }
  assert.deepEqual(problems, []);
  await context.close();
});
