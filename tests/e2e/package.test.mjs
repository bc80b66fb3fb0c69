// The npm package as users get it: `npm pack`, then the tarball installed (offline) into a scratch app and
// used from a Vite build, from a plain <script type="module"> page, from Node (API and CLI) and through
// the examples/ page it ships — each drawing exactly scikit-learn's tiles.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';
import { startServer } from '../../scripts/serve.mjs';
import {
  CHROMIUM, CHROMIUM_ARGS, REPO, WWW, SAMPLE_NAME, assertOnlyLocalRequests, assertSamePixels, defaultTiles, expectedGrid,
  loadManifest, requireBuild, sampleFixture,
} from './harness.mjs';
import { decodePng } from './png.mjs';

const DEFAULTS = { count: 128, columns: 16, zoom: 4, gap: 2, gapColor: '#1b1e24' };
const SAMPLE = join(WWW, 'samples', SAMPLE_NAME);
const VITE = join(REPO, 'node_modules/vite/bin/vite.js');
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

let manifest;
let scratch;
let app; // the scratch app the tarball is installed into
let packed; // npm pack --json's report: { filename, files: [{ path }] }
let browser;
before(async () => {
  requireBuild();
  manifest = loadManifest();
  scratch = mkdtempSync(join(tmpdir(), 'patchlens-package-'));
  [packed] = JSON.parse(execFileSync(NPM, ['pack', '--json', '--pack-destination', scratch], { cwd: REPO, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }));
  app = join(scratch, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  // --offline: the package has no dependencies, so installing it needs no network.
  execFileSync(NPM, ['install', '--offline', '--no-audit', '--no-fund', join(scratch, packed.filename)], { cwd: app, stdio: ['ignore', 'ignore', 'pipe'] });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
});
after(async () => {
  await browser?.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

const expectedSample = () => {
  const tiles = defaultTiles(sampleFixture(manifest));
  return expectedGrid(tiles.path, tiles.kernel_shape, DEFAULTS);
};

/** Opens `url`, waits for `#status` to settle, and returns the canvas pixels, the status and what it logged. */
async function drawnPage(url, { action } = {}) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const requests = [];
  const problems = [];
  context.on('request', (request) => requests.push(request.url()));
  page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
  page.on('console', (message) => { if (['error', 'warning'].includes(message.type())) problems.push(`${message.type()}: ${message.text()}`); });
  await page.goto(url);
  await action?.(page);
  await page.waitForFunction(() => ['ready', 'error'].includes(document.getElementById('status').dataset.state), null, { timeout: 30_000 });
  const result = await page.evaluate(() => {
    const canvas = document.querySelector('canvas');
    const { width, height } = canvas;
    const data = width && height ? canvas.getContext('2d').getImageData(0, 0, width, height).data : new Uint8ClampedArray();
    let binary = '';
    for (let i = 0; i < data.length; i += 0x8000) binary += String.fromCharCode.apply(null, data.subarray(i, i + 0x8000));
    const status = document.getElementById('status');
    return { width, height, base64: btoa(binary), state: status.dataset.state, text: status.textContent };
  });
  await context.close();
  return { ...result, rgba: new Uint8Array(Buffer.from(result.base64, 'base64')), requests, problems };
}

/** A page (index.html + main.js) that fetches the sample, opens it with `openBytes` and draws it. */
function writeSamplePage(dir, importFrom) {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'index.html'), `<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,">
    <canvas id="grid"></canvas><output id="status"></output><script type="module" src="./main.js"></script>`);
  writeFileSync(join(dir, 'main.js'), `import { openBytes, drawGrid } from '${importFrom}';
    const status = document.getElementById('status');
    try {
      const checkpoint = await openBytes(new Uint8Array(await (await fetch('sample.npz')).arrayBuffer()));
      drawGrid(document.getElementById('grid'), checkpoint.render());
      checkpoint.free();
      status.dataset.state = 'ready';
    } catch (error) {
      status.textContent = error.message;
      status.dataset.state = 'error';
    }`);
}

test('the tarball holds the licences, the examples, the module, the JS and its types, and nothing else', () => {
  const files = packed.files.map((f) => f.path).sort();
  for (const needed of ['LICENSE-MIT', 'LICENSE-APACHE', 'README.md', 'package.json', 'examples/index.html',
    'examples/worker.js', 'js/index.js', 'js/index.d.ts', 'js/node.js', 'js/cli.js', 'js/png.js', 'pkg/patchlens.js',
    'pkg/patchlens_bg.wasm', 'pkg/patchlens.d.ts', 'pkg/patchlens_bg.wasm.d.ts']) {
    assert.ok(files.includes(needed), `the tarball has ${needed}`);
  }
  const stray = files.filter((f) => !/^(LICENSE-MIT|LICENSE-APACHE|README\.md|package\.json|examples\/(index\.html|worker\.js)|js\/.+|pkg\/.+)$/.test(f));
  assert.deepEqual(stray, [], 'nothing else (no tests/, target/, src/, www/, no Rust examples)');
  assert.match(readFileSync(join(app, 'node_modules/patchlens/LICENSE-MIT'), 'utf8'), /Copyright \(c\) the patchlens authors/);
  assert.ok(existsSync(join(app, 'node_modules/.bin/patchlens')), 'npm links the CLI');
  assert.ok(!readFileSync(join(app, 'node_modules/patchlens/README.md'), 'utf8').includes('](docs/'), 'README images by absolute URL');
});

test('a Vite app: builds without a warning, no Node module in the bundle, and draws the sample exactly', async () => {
  const root = join(app, 'vite');
  writeSamplePage(root, 'patchlens');
  mkdirSync(join(root, 'public'));
  cpSync(SAMPLE, join(root, 'public/sample.npz'));
  const build = spawnSync(process.execPath, [VITE, 'build', '--logLevel', 'info'], { cwd: root, encoding: 'utf8' });
  assert.equal(build.status, 0, build.stderr);
  const log = build.stdout + build.stderr;
  assert.doesNotMatch(log, /warn|externalized|\(!\)/i, log);
  const assets = join(root, 'dist/assets');
  const bundle = readdirSync(assets).filter((f) => f.endsWith('.js')).map((f) => readFileSync(join(assets, f), 'utf8')).join('\n');
  assert.ok(readdirSync(assets).some((f) => f.endsWith('.wasm')), 'Vite emitted the .wasm');
  for (const nodeOnly of ['__vite-browser-external', 'node:fs', 'readSync', 'openSync']) {
    assert.ok(!bundle.includes(nodeOnly), `the bundle has no ${nodeOnly}`);
  }
  const server = await startServer({ root: join(root, 'dist'), port: 0 });
  try {
    const drawn = await drawnPage(server.url);
    assert.equal(drawn.state, 'ready', drawn.text);
    assertSamePixels(drawn, expectedSample(), 'Vite app');
    assert.deepEqual(drawn.problems, []);
    assertOnlyLocalRequests(drawn.requests, server.url);
  } finally {
    await server.close();
  }
});

test('a plain module page, no bundler, importing ./node_modules/patchlens/js/index.js', async () => {
  writeSamplePage(app, './node_modules/patchlens/js/index.js'); // the app's own folder, served as it is
  cpSync(SAMPLE, join(app, 'sample.npz'));
  const server = await startServer({ root: app, port: 0 });
  try {
    const drawn = await drawnPage(server.url);
    assert.equal(drawn.state, 'ready', drawn.text);
    assertSamePixels(drawn, expectedSample(), 'plain page');
    assert.deepEqual(drawn.problems, []);
  } finally {
    await server.close();
  }
});

test('Node: openBytes and openPath from the installed package, without a warning', () => {
  const script = `
    import { readFileSync } from 'node:fs';
    import { openBytes, openPath } from 'patchlens';
    const warnings = [];
    console.warn = (...args) => warnings.push(args.join(' '));
    const grids = [];
    for (const checkpoint of [await openBytes(readFileSync(process.argv[1])), await openPath(process.argv[1])]) {
      const { width, height, rgba } = checkpoint.render();
      grids.push({ width, height, rgba: Buffer.from(rgba).toString('base64'), bytesRead: checkpoint.bytesRead });
      checkpoint.free();
    }
    process.stdout.write(JSON.stringify({ warnings, grids }));`;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script, SAMPLE], { cwd: app, encoding: 'utf8', maxBuffer: 64 << 20 });
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stderr, '');
  const { warnings, grids } = JSON.parse(run.stdout);
  assert.deepEqual(warnings, []);
  for (const [grid, how] of [[grids[0], 'openBytes'], [grids[1], 'openPath']]) {
    assertSamePixels({ ...grid, rgba: new Uint8Array(Buffer.from(grid.rgba, 'base64')) }, expectedSample(), how);
  }
});

test('Node: `npx patchlens render` from the installed package writes the exact PNG', () => {
  const out = join(scratch, 'npx.png');
  const run = spawnSync('npx', ['--offline', 'patchlens', 'render', SAMPLE, '-o', out], { cwd: app, encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  assertSamePixels(decodePng(readFileSync(out)), expectedSample(), 'npx patchlens render');
  const version = spawnSync('npx', ['--offline', 'patchlens', '--version'], { cwd: app, encoding: 'utf8' });
  assert.equal(version.stdout, 'patchlens 0.1.0\n');
});

test('the examples/ page it ships: a picked file and a dropped one, drawn from the worker exactly', async () => {
  const server = await startServer({ root: join(app, 'node_modules/patchlens'), port: 0 });
  try {
    const url = `${server.url}examples/index.html`;
    const picked = await drawnPage(url, { action: (page) => page.setInputFiles('#file', SAMPLE) });
    assert.equal(picked.state, 'ready', picked.text);
    assertSamePixels(picked, expectedSample(), 'examples/ with a picked file');
    assert.match(picked.text, /^embedding\/kernel float32 \[14, 14, 3, 384\]: 128 of 384 filters; read /);
    assert.deepEqual(picked.problems, []);
    assertOnlyLocalRequests(picked.requests, server.url);

    const pth = manifest.fixtures.find((f) => f.name === 'dino_checkpoint.pth');
    const dropped = await drawnPage(url, {
      action: (page) => page.evaluate(async ({ base64, name }) => {
        const transfer = new DataTransfer();
        transfer.items.add(new File([Uint8Array.from(atob(base64), (ch) => ch.charCodeAt(0))], name));
        const drop = document.getElementById('drop');
        for (const type of ['dragenter', 'dragover', 'drop']) {
          drop.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: transfer }));
        }
      }, { base64: readFileSync(pth.path).toString('base64'), name: pth.name }),
    });
    assert.equal(dropped.state, 'ready', dropped.text);
    const tiles = defaultTiles(pth);
    assertSamePixels(dropped, expectedGrid(tiles.path, tiles.kernel_shape, DEFAULTS), 'examples/ with a dropped .pth');

    const broken = await drawnPage(url, { action: (page) => page.setInputFiles('#file', join(REPO, 'package.json')) });
    assert.equal(broken.state, 'error');
    assert.match(broken.text, /^[A-Z].*\.$/, 'a file that is no checkpoint: one sentence');
  } finally {
    await server.close();
  }
});

test('npm pack in a fresh clone (no pkg/ yet) builds the module first, so the tarball carries it', () => {
  const clone = mkdtempSync(join(tmpdir(), 'patchlens-clone-'));
  try {
    execFileSync('git', ['clone', '--quiet', REPO, clone], { stdio: ['ignore', 'ignore', 'pipe'] });
    assert.ok(!existsSync(join(clone, 'pkg/patchlens_bg.wasm')), 'a fresh clone has no module');
    // The repository's compiled dependencies and tools serve the clone's build (only the crate is rebuilt).
    const env = { ...process.env, CARGO_TARGET_DIR: join(REPO, 'target'), PATH: `${join(REPO, 'node_modules/.bin')}:${process.env.PATH}` };
    const [report] = JSON.parse(execFileSync(NPM, ['pack', '--dry-run', '--json'],
      { cwd: clone, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 600_000 }));
    const files = report.files.map((f) => f.path);
    for (const needed of ['pkg/patchlens_bg.wasm', 'pkg/patchlens.js', 'pkg/patchlens.d.ts']) {
      assert.ok(files.includes(needed), `the fresh clone's tarball has ${needed}`);
    }
  } finally {
    rmSync(clone, { recursive: true, force: true });
  }
});
