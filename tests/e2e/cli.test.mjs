// The CLI and the page draw the same pixels: the PNG `patchlens render` writes equals the canvas,
// for the sample at the page's defaults and for a fixture at other settings.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  REPO, WWW, SAMPLE_NAME, assertSamePixels, canvasPixels, controlsOf, drawableFixtures, loadManifest, openPage,
  settledAfter, startSession,
} from './harness.mjs';
import { decodePng } from './png.mjs';

const CLI = join(REPO, 'target/debug/patchlens');
let session;
let manifest;
let scratch;
before(async () => {
  assert.ok(existsSync(CLI), `${CLI} is missing: build it with \`cargo build --features cli\` (scripts/test.sh does).`);
  manifest = loadManifest();
  session = await startSession();
  scratch = mkdtempSync(join(tmpdir(), 'patchlens-cli-'));
});
after(async () => {
  await session?.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

/** Runs the CLI with the page's current controls and decodes its PNG. */
function cliRender(file, { count, columns, zoom, gap, gapColor }, tensor) {
  const out = join(scratch, `grid-${Date.now()}.png`);
  const args = ['render', file, '-o', out, '--count', count, '--columns', columns, '--zoom', zoom, '--gap', gap,
    '--gap-color', gapColor, ...(tensor ? ['--tensor', tensor] : [])].map(String);
  execFileSync(CLI, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  return decodePng(readFileSync(out));
}

test('the CLI PNG of the sample equals the page canvas at the defaults', async () => {
  const { page, context, problems } = await openPage(session);
  const controls = await controlsOf(page);
  assertSamePixels(await canvasPixels(page), cliRender(join(WWW, 'samples', SAMPLE_NAME), controls), 'sample');
  // The CLI with no options at all draws the page's default grid too.
  const out = join(scratch, 'defaults.png');
  execFileSync(CLI, ['render', join(WWW, 'samples', SAMPLE_NAME), '-o', out], { stdio: ['ignore', 'ignore', 'pipe'] });
  assertSamePixels(await canvasPixels(page), decodePng(readFileSync(out)), 'CLI defaults');
  assert.deepEqual(problems, []);
  await context.close();
});

test('the CLI PNG equals the canvas at other settings and for a picked tensor', async () => {
  const fixture = drawableFixtures(manifest).find((f) => f.tiles.length > 1);
  assert.ok(fixture, 'a fixture with a second drawable tensor');
  const { page, context, problems } = await openPage(session);
  await settledAfter(page, () => page.setInputFiles('#file-input', fixture.path));
  await page.waitForFunction(() => document.getElementById('tensor').dataset.listed === 'done');
  const tensor = fixture.tiles[1].tensor;
  await settledAfter(page, () => page.selectOption('#tensor', tensor));
  await settledAfter(page, () => page.fill('#zoom', '3'));
  await settledAfter(page, () => page.fill('#columns', '5'));
  await settledAfter(page, () => page.fill('#gap-color', '#336699'));
  const status = await settledAfter(page, () => page.fill('#gap', '1'));
  assert.equal(status.data.tensor, tensor);
  assertSamePixels(await canvasPixels(page), cliRender(fixture.path, await controlsOf(page), tensor), tensor);
  assert.deepEqual(problems, []);
  await context.close();
});
