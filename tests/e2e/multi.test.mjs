// Several files in one drop: the shards of one checkpoint and an ONNX model with its external data each
// become one panel; different checkpoints become one panel each, every one drawn exactly; a broken file
// gets its own panel with its error while the others draw.
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  assertSamePixels, canvasPixels, controlsOf, defaultTiles, drawableFixtures, dropFiles, dropFolders, expectedGrid,
  loadManifest, multiFileFixtures, openPage, panelsSettled, startSession,
} from './harness.mjs';

let session;
let manifest;
before(async () => {
  manifest = loadManifest();
  session = await startSession();
});
after(async () => { await session?.close(); });

/** Drops `paths` together and waits for every panel; marks the first panel busy first so a stale state is not read. */
async function drop(page, paths) {
  await page.evaluate(() => { document.querySelector('.panel .status').dataset.state = 'test-waiting'; });
  const accepted = await dropFiles(page, paths.map((path) => ({ bytes: readFileSync(path), name: basename(path) })));
  assert.ok(accepted, 'the page accepts the drop');
  return panelsSettled(page);
}

async function assertPanelShows(page, index, panel, fixture) {
  const tiles = defaultTiles(fixture);
  assert.equal(panel.alert, null, `${fixture.name}: ${panel.alert}`);
  assert.equal(panel.data.state, 'ready', panel.text);
  assert.equal(panel.data.tensor, tiles.tensor, panel.text);
  // Fitting picks each panel's own zoom (filters differ in size); its status says which.
  const controls = { ...(await controlsOf(page)), zoom: Number(panel.data.zoom) };
  const expected = expectedGrid(tiles.path, tiles.kernel_shape, controls);
  assertSamePixels(await canvasPixels(page, index), expected, `${fixture.name} in panel ${index}`);
}

test('the files of one checkpoint dropped together make one panel, drawn exactly', async (t) => {
  const fixtures = multiFileFixtures(manifest);
  assert.ok(fixtures.length >= 2, 'the manifest has multi-file fixtures (shards, external data)');
  const { page, context, problems } = await openPage(session);
  for (const fixture of fixtures) {
    await t.test(fixture.name, async () => {
      const panels = await drop(page, fixture.paths);
      assert.equal(panels.length, 1, `one panel for ${fixture.paths.map((p) => basename(p)).join(' + ')}`);
      await assertPanelShows(page, 0, panels[0], fixture);
      const total = fixture.paths.reduce((sum, path) => sum + statSync(path).size, 0);
      assert.ok(Number(panels[0].data.fileSize) <= total, 'the size counts the checkpoint\'s own files');
      assert.ok(Number(panels[0].data.bytesRead) < total || total < 200_000, 'not everything was read');
    });
  }
  assert.deepEqual(problems, []);
  await context.close();
});

test('different checkpoints dropped together get a panel each, and a broken one does not stop the rest', async () => {
  // One fixture of each format, in the order dropped.
  const byFormat = new Map();
  for (const f of drawableFixtures(manifest)) {
    const format = f.name.split('.').pop();
    if (!byFormat.has(format)) byFormat.set(format, f);
  }
  const chosen = [...byFormat.values()];
  assert.ok(chosen.length >= 2, `fixtures of several formats: ${[...byFormat.keys()]}`);
  const broken = manifest.errors.find((e) => e.stage === 'open');
  const { page, context, problems } = await openPage(session);
  const panels = await drop(page, [...chosen.map((f) => f.path), broken.path]);
  assert.equal(panels.length, chosen.length + 1, panels.map((p) => p.text).join('\n'));
  for (const [i, fixture] of chosen.entries()) {
    assert.equal(panels[i].title, fixture.name, 'panels follow the order of the drop');
    await assertPanelShows(page, i, panels[i], fixture);
  }
  const last = panels[chosen.length];
  assert.equal(last.data.state, 'error');
  assert.match(last.alert ?? '', /^[A-Z"'`].*[.!?]$/s, `the broken file's panel says why in a sentence: ${last.alert}`);
  // Controls apply to every panel.
  await page.fill('#zoom', '2');
  await page.waitForFunction(() => [...document.querySelectorAll('.panel .status')]
    .filter((s) => s.dataset.state !== 'error').every((s) => s.dataset.state === 'ready'));
  for (const [i, fixture] of chosen.entries()) {
    const tiles = defaultTiles(fixture);
    await page.waitForFunction(({ i: index, w }) => document.querySelectorAll('.panel canvas.grid')[index].width === w,
      { i, w: expectedGrid(tiles.path, tiles.kernel_shape, await controlsOf(page)).width });
    await assertPanelShows(page, i, (await panelsSettled(page))[i], fixture);
  }
  // A single file afterwards is one panel again.
  const again = await drop(page, [chosen[0].path]);
  assert.equal(again.length, 1);
  await assertPanelShows(page, 0, again[0], chosen[0]);
  assert.deepEqual(problems, []);
  await context.close();
});

test('folders dropped as folders: a SavedModel (its variables/ one level down) and a TF checkpoint with its state file', async () => {
  const savedModel = manifest.fixtures.find((f) => f.name === 'variables.index');
  const checkpoint = manifest.fixtures.find((f) => f.name === 'tf1_f32.index');
  assert.ok(savedModel && checkpoint, 'the manifest has the SavedModel and the TF1 checkpoint');
  const bytesOf = (fixture, name) => readFileSync(join(dirname(fixture.path), name));
  const { page, context, problems } = await openPage(session);
  await page.evaluate(() => { document.querySelector('.panel .status').dataset.state = 'test-waiting'; });
  const accepted = await dropFolders(page, [
    {
      folder: 'vit_saved_model',
      files: [
        ...savedModel.companions.filter((c) => !c.startsWith('variables.')).map((c) => ({ path: c, bytes: bytesOf(savedModel, c) })),
        { path: 'variables/variables.index', bytes: readFileSync(savedModel.path) },
        ...savedModel.companions.filter((c) => c.startsWith('variables.'))
          .map((c) => ({ path: `variables/${c}`, bytes: bytesOf(savedModel, c) })),
        { path: '.hidden-notes', bytes: Buffer.from('not a checkpoint') },
      ],
    },
    {
      folder: 'run',
      files: [
        { path: 'checkpoint', bytes: Buffer.from('model_checkpoint_path: "tf1_f32"\nall_model_checkpoint_paths: "tf1_f32"\n') },
        { path: 'tf1_f32.index', bytes: readFileSync(checkpoint.path) },
        ...checkpoint.companions.map((c) => ({ path: c, bytes: bytesOf(checkpoint, c) })),
      ],
    },
  ]);
  assert.ok(accepted, 'the page accepts the drop');
  const panels = await panelsSettled(page);
  assert.deepEqual(panels.map((p) => p.title), ['saved_model', 'tf1_f32'], panels.map((p) => p.alert).join(' '));
  await assertPanelShows(page, 0, panels[0], savedModel);
  await assertPanelShows(page, 1, panels[1], checkpoint);
  assert.deepEqual(problems, []);
  await context.close();
});
