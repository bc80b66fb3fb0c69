// The Jupyter widget's front end (python/patchlens/_static/widget.js, built by scripts/build-widget.sh) in
// real Chromium against a stand-in anywidget model (fake-model.js) whose "Python side" serves byte ranges of
// fixture files from this test's server: the canvas equals the CLI's PNG, views switch, two checkpoints sit
// side by side, the inspector names the filter under the pointer, a hostile file is one sentence, and only a
// small part of a big file ever reaches the browser.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS, MANIFEST, REPO, assertSamePixels } from '../e2e/harness.mjs';
import { decodePng } from '../e2e/png.mjs';

const STATIC = join(REPO, 'python/patchlens/_static');
const FIXTURES = dirname(MANIFEST);
const CLI = process.env.PATCHLENS_CLI ?? join(REPO, 'target/debug/patchlens');
const fixture = (name) => join(FIXTURES, name);

const PAGE = `<!doctype html><meta charset="utf-8"><title>widget test</title><body>
<script type="module">
import widget from '/widget.js';
import { FakeModel } from '/fake-model.js';
const wasm = new DataView(await (await fetch('/patchlens_bg.wasm')).arrayBuffer());
window.mount = async (files, settings = {}, failFirstRead = null) => {
  const host = document.createElement('div');
  document.body.replaceChildren(host);
  const checkpoints = new Set(files.map((f) => f.checkpoint)).size;
  const state = { _module: wasm, files: files.map(({ checkpoint, name, size }) => ({ checkpoint, name, size })),
    view: 'filters', normalize: 'filter', channels: false, order: 'file', count: null, columns: null, zoom: 4, gap: null,
    components: 28, mode: 'cosine', tensor: Array(checkpoints).fill(null), selected: null, hovered: null, ...settings };
  window.model = new FakeModel(state, files);
  window.model.failNext = failFirstRead;
  window.cleanup = await widget.render({ model: window.model, el: host });
};
window.ready = true;
</script>`;

let server;
let browser;
let scratch;
const served = new Map(); // path → bytes sent to the page

before(async () => {
  for (const file of ['widget.js', 'patchlens_bg.wasm']) {
    assert.ok(existsSync(join(STATIC, file)), `python/patchlens/_static/${file} is missing: run \`bash scripts/build-widget.sh\`.`);
  }
  assert.ok(existsSync(CLI), `${CLI} is missing: build it with \`cargo build --features cli,http --bin patchlens\` (or set PATCHLENS_CLI).`);
  assert.ok(existsSync(MANIFEST), `${MANIFEST} is missing: generate the fixtures (scripts/test.sh does).`);
  scratch = mkdtempSync(join(tmpdir(), 'patchlens-widget-'));
  server = createServer((request, response) => {
    const url = new URL(request.url, 'http://localhost');
    const send = (type, body) => { response.writeHead(200, { 'Content-Type': type }); response.end(body); };
    if (url.pathname === '/') return send('text/html', PAGE);
    if (url.pathname === '/favicon.ico') { response.writeHead(204); return response.end(); }
    if (url.pathname === '/widget.js') return send('text/javascript', readFileSync(join(STATIC, 'widget.js')));
    if (url.pathname === '/patchlens_bg.wasm') return send('application/wasm', readFileSync(join(STATIC, 'patchlens_bg.wasm')));
    if (url.pathname === '/fake-model.js') return send('text/javascript', readFileSync(new URL('./fake-model.js', import.meta.url)));
    if (url.pathname === '/bytes') {
      const path = url.searchParams.get('path');
      const [offset, length] = ['offset', 'length'].map((k) => Number(url.searchParams.get(k)));
      if (dirname(path) !== FIXTURES || !existsSync(path)) { response.writeHead(404); return response.end(`no fixture ${path}`); }
      const bytes = Buffer.alloc(length);
      const fd = openSync(path, 'r');
      try { readSync(fd, bytes, 0, length, offset); } finally { closeSync(fd); }
      served.set(path, (served.get(path) ?? 0) + length);
      return send('application/octet-stream', bytes);
    }
    response.writeHead(404);
    return response.end();
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
});

after(async () => {
  await browser?.close();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve()));
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

/** A page with the widget for `checkpoints` (each a path or a list of paths), drawn once. */
async function mount(checkpoints, settings = {}, failFirstRead = null) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const problems = [];
  page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
  page.on('console', (message) => { if (message.type() === 'error') problems.push(`console: ${message.text()}`); });
  await page.goto(`http://127.0.0.1:${server.address().port}/`);
  await page.waitForFunction(() => window.ready === true);
  const files = checkpoints.flatMap((c, checkpoint) => [c].flat().map((path) => ({ checkpoint, path, name: basename(path), size: statSync(path).size })));
  await drawnAfter(page, () => page.evaluate(([f, s, fail]) => window.mount(f, s, fail), [files, settings, failFirstRead]));
  return { page, problems };
}

/** Runs `action` and waits for the draw it causes. */
async function drawnAfter(page, action) {
  await page.evaluate(() => { const root = document.querySelector('.patchlens'); if (root) root.dataset.state = 'waiting'; });
  await action();
  await page.waitForFunction(() => ['drawn', 'failed'].includes(document.querySelector('.patchlens')?.dataset.state), null, { timeout: 60_000 });
}

/** Canvas `index`'s pixels. */
async function canvasPixels(page, index = 0) {
  const { width, height, base64 } = await page.evaluate((i) => {
    const canvas = document.querySelectorAll('.patchlens canvas')[i];
    if (!canvas.width || !canvas.height) return { width: canvas.width, height: canvas.height, base64: '' };
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let binary = '';
    for (let at = 0; at < data.length; at += 0x8000) binary += String.fromCharCode.apply(null, data.subarray(at, at + 0x8000));
    return { width: canvas.width, height: canvas.height, base64: btoa(binary) };
  }, index);
  return { width, height, rgba: new Uint8Array(Buffer.from(base64, 'base64')) };
}

let outputs = 0;
/** The CLI's PNG for `files` and `args`. */
function cli(files, args = []) {
  const out = join(scratch, `cli-${outputs++}.png`);
  execFileSync(CLI, ['render', ...files, '-o', out, ...args.map(String)], { stdio: ['ignore', 'ignore', 'pipe'] });
  return decodePng(readFileSync(out));
}

function assertWithinALevel(actual, expected, label) {
  assert.deepEqual([actual.width, actual.height], [expected.width, expected.height], `${label}: canvas size`);
  const worst = actual.rgba.reduce((most, v, i) => Math.max(most, Math.abs(v - expected.rgba[i])), 0);
  assert.ok(worst <= 1, `${label}: a pixel is ${worst} levels from the CLI's`);
}

const text = (page, selector, index = 0) => page.evaluate(([s, i]) => document.querySelectorAll(s)[i]?.textContent ?? null, [selector, index]);

test('the canvas equals the CLI PNG, at the defaults and at settings set from Python and in the panel', async () => {
  const file = fixture('dinov2_vits14.npz');
  const { page, problems } = await mount([file]);
  assertSamePixels(await canvasPixels(page), cli([file]), 'defaults');
  // The file's size as the status line writes it (the fixture is a copy of the sample, whose size changes with it).
  const size = statSync(file).size;
  const sized = (size < 1e6 ? `${(size / 1e3).toFixed(1)} kB` : `${(size / 1e6).toFixed(1)} MB`).replace('.', '\\.');
  assert.match(await text(page, '.pl-status'), new RegExp(`^embedding/kernel · float32 · 14 × 14 × 3 × 384 · [\\d.]+ (kB|MB) read of ${sized}$`));
  // From Python (a model change), then from the panel's own inputs (which write the model back).
  await drawnAfter(page, () => page.evaluate(() => window.model.fromPython('count', 40)));
  await drawnAfter(page, () => page.fill('.pl-columns input', '7').then(() => page.dispatchEvent('.pl-columns input', 'change')));
  await drawnAfter(page, () => page.selectOption('.pl-normalize select', 'global'));
  await drawnAfter(page, () => page.check('.pl-channels input'));
  await drawnAfter(page, () => page.selectOption('.pl-order select', 'norm'));
  assert.deepEqual(await page.evaluate(() => ['count', 'columns', 'normalize', 'channels', 'order'].map((k) => window.model.get(k))),
    [40, 7, 'global', true, 'norm'], 'the panel wrote its settings to the model');
  assert.ok(await page.evaluate(() => window.model.saves) >= 4, 'each change was saved');
  assertSamePixels(await canvasPixels(page), cli([file], ['--count', 40, '--columns', 7, '--normalize', 'global', '--channels', '--order', 'norm']), 'settings');
  assert.deepEqual(problems, []);
  await page.close();
});

test('a view switch redraws: principal components from the panel, positions from Python', async () => {
  const file = fixture('positions_augreg.npz');
  const { page, problems } = await mount([file]);
  await drawnAfter(page, () => page.click('.pl-views button[data-view="pca"]'));
  assert.equal(await page.getAttribute('.pl-views button[data-view="pca"]', 'aria-pressed'), 'true');
  assert.equal(await page.evaluate(() => window.model.get('view')), 'pca');
  // PCA in wasm and in the native CLI may differ by a level where a float lands on a rounding edge (as in
  // tests/e2e/views.test.mjs); every other view is byte-exact.
  assertWithinALevel(await canvasPixels(page), cli([file], ['--view', 'pca']), 'pca');
  await drawnAfter(page, () => page.evaluate(() => window.model.fromPython('view', 'positions')));
  assertSamePixels(await canvasPixels(page), cli([file], ['--view', 'positions']), 'positions');
  await drawnAfter(page, () => page.evaluate(() => window.model.fromPython('mode', 'dot')));
  assertSamePixels(await canvasPixels(page), cli([file], ['--view', 'positions', '--mode', 'dot']), 'positions, dot');
  assert.deepEqual(problems, []);
  await page.close();
});

test('two checkpoints side by side share the settings, and their difference draws as the CLI does', async () => {
  const pair = ['compare_a.npz', 'compare_b.npz'].map(fixture);
  const { page, problems } = await mount(pair, { count: 32, zoom: 3 });
  for (const [i, file] of pair.entries()) assertSamePixels(await canvasPixels(page, i), cli([file], ['--count', 32, '--zoom', 3]), `panel ${i + 1}`);
  await drawnAfter(page, () => page.fill('.pl-zoom input', '2').then(() => page.dispatchEvent('.pl-zoom input', 'change')));
  for (const [i, file] of pair.entries()) assertSamePixels(await canvasPixels(page, i), cli([file], ['--count', 32, '--zoom', 2]), `panel ${i + 1}, linked zoom`);
  assert.equal(await page.isDisabled('.pl-views button[data-view="difference"]'), false, 'one shape: the difference is offered');
  await drawnAfter(page, () => page.click('.pl-views button[data-view="difference"]'));
  assertSamePixels(await canvasPixels(page), cli(pair, ['--view', 'difference', '--count', 32, '--zoom', 2]), 'difference');
  assert.equal(await page.isHidden('.pl-panel >> nth=1'), true, 'the difference is one panel');
  assert.match(await text(page, '.pl-title span'), /^compare_a\.npz − compare_b\.npz$/);
  if (process.env.PATCHLENS_SCREENSHOTS) {
    // JupyterLab's dark theme, as its variables set it.
    await page.addStyleTag({ content: 'body { background: #111; --jp-layout-color1: #111; --jp-layout-color2: #2b2b2b; --jp-ui-font-color1: #ddd; --jp-ui-font-color2: #999; --jp-border-color1: #555; --jp-brand-color1: #2196f3; --jp-input-background: #222; }' });
    await drawnAfter(page, () => page.click('.pl-views button[data-view="filters"]'));
    await page.mouse.move(...(await page.locator('.patchlens canvas').first().boundingBox().then((b) => [b.x + 10, b.y + 10])));
    await page.screenshot({ path: join(process.env.PATCHLENS_SCREENSHOTS, 'widget-two-dark.png') });
  }
  assert.deepEqual(problems, []);
  await page.close();
});

test('several files are one checkpoint, a tensor picked in the panel draws, and the PNG download is the canvas', async () => {
  const files = ['tf1_f32.index', 'tf1_f32.data-00000-of-00001'].map(fixture);
  const { page, problems } = await mount([files]);
  assertSamePixels(await canvasPixels(page), cli(files), 'a TF index and its data');
  assert.equal(await text(page, '.pl-title span'), 'tf1_f32.index + tf1_f32.data-00000-of-00001');
  await page.waitForFunction(() => document.querySelector('.patchlens').dataset.listed === 'done');
  assert.equal(await page.isVisible('.pl-panel select'), true, 'two drawable tensors: a picker');
  await drawnAfter(page, () => page.selectOption('.pl-panel select', 'conv_root/kernel'));
  assert.deepEqual(await page.evaluate(() => window.model.get('tensor')), ['conv_root/kernel']);
  assertSamePixels(await canvasPixels(page), cli(files, ['--tensor', 'conv_root/kernel']), 'the picked tensor');
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('.pl-png')]);
  assert.match(download.suggestedFilename(), /^tf1_f32-filters\.png$/);
  const saved = join(scratch, 'download.png');
  await download.saveAs(saved);
  assertSamePixels(decodePng(readFileSync(saved)), await canvasPixels(page), 'the downloaded PNG');
  assert.deepEqual(problems, []);
  await page.close();
});

test('the inspector names the filter under the pointer, counted from 1, with its numbers; a click selects it', async () => {
  const file = fixture('dinov2_vits14.npz');
  const { page, problems } = await mount([file], { zoom: 2, gap: 2 });
  // Tile 4 (index 3): 14 × 2 px wide, 2 px gaps, so x = 3 · 30 + 5.
  const box = await page.locator('.patchlens canvas').boundingBox();
  await page.mouse.move(box.x + 3 * 30 + 5, box.y + 5);
  const line = await text(page, '.pl-inspector');
  const grid = JSON.parse(execFileSync(process.execPath, ['-e', `
    import('${join(REPO, 'js/index.js').replaceAll('\\', '/')}').then(async ({ openPath }) => {
      const c = await openPath(${JSON.stringify(file)});
      const g = c.render({ zoom: 2, gap: 2 });
      process.stdout.write(JSON.stringify({ tile: g.tiles[3], total: g.filtersTotal }));
    });`], { encoding: 'utf8' }));
  const n = (v) => Number(v.toPrecision(4)).toString();
  assert.equal(line, `Filter 4 of ${grid.total} · min ${n(grid.tile.min)} · max ${n(grid.tile.max)} · mean ${n(grid.tile.mean)} · L2 norm ${n(grid.tile.norm)}`);
  assert.match(line, /^Filter 4 of 384 · /);
  assert.deepEqual(await page.evaluate(() => window.model.get('hovered')), { checkpoint: 0, filter: 3 });
  await page.mouse.click(box.x + 3 * 30 + 5, box.y + 5);
  assert.deepEqual(await page.evaluate(() => window.model.get('selected')), { checkpoint: 0, filter: 3 });
  await page.mouse.move(box.x + 29, box.y + 5); // a gap: the line goes back to the selected filter
  await page.mouse.move(box.x - 20, box.y - 20); // off the canvas
  assert.match(await text(page, '.pl-inspector'), /^Filter 4 of 384 · /);
  assert.equal(await page.evaluate(() => window.model.get('hovered')), null);
  assert.deepEqual(await page.evaluate(() => { const m = document.querySelector('.pl-mark'); return [m.hidden, m.style.left, m.style.top, m.style.width, m.style.height]; }),
    [false, '90px', '0px', '28px', '28px'], 'the selected tile is outlined');
  // Selected from Python.
  await page.evaluate(() => window.model.fromPython('selected', { checkpoint: 0, filter: 9 }));
  assert.match(await text(page, '.pl-inspector'), /^Filter 10 of 384 · /);
  await page.screenshot({ path: join(scratch, 'inspector.png') });
  if (process.env.PATCHLENS_SCREENSHOTS) await page.screenshot({ path: join(process.env.PATCHLENS_SCREENSHOTS, 'widget-inspector.png') });
  assert.deepEqual(problems, []);
  await page.close();
});

test('a hostile file is its sentence, as the CLI says it, and the widget keeps working', async () => {
  const hostile = fixture('truncated_central_directory.npz');
  const good = fixture('dinov2_vits14.npz');
  const refused = spawnSync(CLI, ['render', hostile, '-o', join(scratch, 'never.png')], { encoding: 'utf8' });
  assert.equal(refused.status, 1);
  const sentence = refused.stderr.trim().replace(/^patchlens: /, '').replace(/^error: /, '');
  const { page, problems } = await mount([hostile, good]);
  const shown = await text(page, '.pl-error', 0);
  assert.ok(shown && sentence.includes(shown), `the panel says the module's sentence: ${shown} (CLI: ${sentence})`);
  assert.equal(await text(page, '.pl-error', 1), '');
  assertSamePixels(await canvasPixels(page, 1), cli([good]), 'the good checkpoint beside it');
  if (process.env.PATCHLENS_SCREENSHOTS) await page.screenshot({ path: join(process.env.PATCHLENS_SCREENSHOTS, 'widget-hostile.png') });
  await drawnAfter(page, () => page.evaluate(() => window.model.fromPython('count', 16)));
  assertSamePixels(await canvasPixels(page, 1), cli([good], ['--count', 16]), 'after a change');
  assert.equal(await text(page, '.pl-error', 0), shown);
  assert.deepEqual(problems, []);
  await page.close();
  // The kernel failing a read (a file removed under it) is a sentence too, and the next change draws.
  const failed = await mount([good], {}, 'Could not read dinov2_vits14.npz (No such file or directory).');
  assert.equal(await text(failed.page, '.pl-error'), 'Could not read dinov2_vits14.npz (No such file or directory).');
  await drawnAfter(failed.page, () => failed.page.evaluate(() => window.model.fromPython('count', 16)));
  assert.equal(await text(failed.page, '.pl-error'), '');
  assertSamePixels(await canvasPixels(failed.page), cli([good], ['--count', 16]), 'after a failed read');
  assert.deepEqual(failed.problems, []);
  await failed.page.close();
});

test('every fixture format, side by side in one widget, draws the CLI\'s pixels through the restartable reads', async () => {
  const { fixtures } = JSON.parse(readFileSync(MANIFEST, 'utf8'));
  // The drawable ones that are not big (the big ones have their own test below); several files as one checkpoint.
  const chosen = fixtures.filter((f) => f.default_tensor && !f.big);
  const checkpoints = chosen.map((f) => [f.file, ...(f.companions ?? [])].map(fixture));
  const { page, problems } = await mount(checkpoints, { count: 16 });
  const rounds = await page.evaluate(() => window.model.reads.length);
  console.log(`# ${checkpoints.length} checkpoints drawn together in ${rounds} rounds`);
  for (const [i, files] of checkpoints.entries()) {
    const out = join(scratch, `every-${i}.png`);
    execFileSync(CLI, ['render', ...files, '-o', out, '--count', '16'], { stdio: ['ignore', 'ignore', 'pipe'] });
    assertSamePixels(await canvasPixels(page, i), decodePng(readFileSync(out)), chosen[i].file);
  }
  assert.deepEqual(problems, []);
  await page.close();
});

test('every hostile fixture, side by side in one widget, is the module\'s sentence in its own panel', async () => {
  const { errors } = JSON.parse(readFileSync(MANIFEST, 'utf8'));
  const checkpoints = errors.map((e) => [e.file, ...(e.companions ?? [])].map(fixture));
  const { page, problems } = await mount(checkpoints);
  const shown = await page.evaluate(() => [...document.querySelectorAll('.pl-panel')].map((p) => ({
    error: p.querySelector('.pl-error').textContent, drawn: p.querySelector('canvas').dataset.drawn })));
  assert.equal(shown.length, errors.length);
  errors.forEach((e, i) => {
    const args = ['render', ...checkpoints[i], '-o', join(scratch, 'never.png')];
    assert.equal(spawnSync(CLI, args, { stdio: 'ignore' }).status, 1, `${e.file}: the CLI refuses it`);
    // The sentence as the same wasm module says it through the npm CLI: on two files (a shape whose size
    // overflows) the 32-bit module's sentence differs from the native CLI's.
    const refused = spawnSync(process.execPath, [join(REPO, 'js/cli.js'), ...args], { encoding: 'utf8' });
    assert.equal(refused.status, 1, `${e.file}: npx patchlens refuses it`);
    assert.equal(shown[i].drawn, 'false', `${e.file}: nothing drawn`);
    assert.ok(shown[i].error.length > 0 && refused.stderr.includes(shown[i].error), `${e.file}: "${shown[i].error}" is the module's "${refused.stderr.trim()}"`);
  });
  const rounds = await page.evaluate(() => window.model.reads.length);
  assert.ok(rounds <= 12, `${errors.length} files read together in ${rounds} rounds`);
  assert.deepEqual(problems, []);
  await page.close();
});

test('a big checkpoint reaches the browser only in the few blocks drawn', async () => {
  const { fixtures } = JSON.parse(readFileSync(MANIFEST, 'utf8'));
  const big = fixtures.filter((f) => ['augreg_b16.npz', 'hf_vit_l16.safetensors'].includes(f.file) && existsSync(fixture(f.file)));
  assert.ok(big.length > 0, 'the big fixtures are there (scripts/test.sh writes them with --big)');
  for (const { file: name, kernel_bytes: kernelBytes } of big) {
    const file = fixture(name);
    served.clear();
    const { page, problems } = await mount([file], { count: 64 });
    assertSamePixels(await canvasPixels(page), cli([file], ['--count', 64]), name);
    await page.waitForFunction(() => document.querySelector('.patchlens').dataset.listed === 'done'); // the tensor list read too
    const size = statSync(file).size;
    const sent = served.get(file) ?? 0;
    const rounds = await page.evaluate(() => window.model.reads.length);
    console.log(`# ${name}: ${sent} of ${size} bytes served (${(100 * sent / size).toFixed(3)} %) in ${rounds} rounds; kernel ${kernelBytes} bytes`);
    // At most the kernel drawn and 2 MiB of headers and directory, and never a sizeable share of the file.
    assert.ok(sent > 0 && sent <= kernelBytes + 2 * 1024 * 1024 && sent < size / 50, `${name}: ${sent} bytes served of ${size}`);
    assert.match(await text(page, '.pl-status'), / · [\d.]+ [kMG]B read of [\d.]+ [MG]B$/);
    assert.deepEqual(problems, []);
    await page.close();
  }
});
