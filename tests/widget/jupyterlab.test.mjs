// A real JupyterLab: a headless server on localhost with a token, a notebook whose cell makes a Widget of a
// fixture, Chromium running it. The canvas the widget draws in the notebook equals the CLI's PNG, a setting
// changed from Python redraws it, and a tile clicked in the panel is readable from Python.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS, MANIFEST, REPO, assertSamePixels } from '../e2e/harness.mjs';
import { decodePng } from '../e2e/png.mjs';

const PYTHON = process.env.PATCHLENS_PYTHON ?? join(REPO, '.venv/bin/python');
const CLI = process.env.PATCHLENS_CLI ?? join(REPO, 'target/debug/patchlens');
const FIXTURE = join(REPO, 'tests/fixtures/generated/dinov2_vits14.npz');
const TOKEN = 'patchlens-widget-smoke';
const hasLab = existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import jupyterlab, anywidget'], { stdio: 'ignore' }).status === 0;
const skip = hasLab ? false : `JupyterLab or anywidget is not installed in ${PYTHON} (pip install -r python/requirements.txt)`;

let scratch;
let lab;
let browser;
let url;
const log = [];

const freePort = () => new Promise((resolve, reject) => {
  const probe = createServer().once('error', reject).listen(0, '127.0.0.1', () => {
    const { port } = probe.address();
    probe.close(() => resolve(port));
  });
});

// As a user writes it: the installed package (scripts/test-python.sh installs the wheel).
const IMPORT = 'from patchlens import Widget';
const cell = (source) => ({ cell_type: 'code', metadata: {}, execution_count: null, outputs: [], source });

before(async () => {
  if (skip) return;
  for (const file of ['widget.js', 'patchlens_bg.wasm']) {
    assert.ok(existsSync(join(REPO, 'python/patchlens/_static', file)), `python/patchlens/_static/${file} is missing: run \`bash scripts/build-widget.sh\`.`);
  }
  assert.ok(existsSync(CLI), `${CLI} is missing: build it with \`cargo build --features cli,http --bin patchlens\` (or set PATCHLENS_CLI).`);
  assert.ok(existsSync(MANIFEST) && existsSync(FIXTURE), `${FIXTURE} is missing: generate the fixtures (scripts/test.sh does).`);
  scratch = mkdtempSync(join(tmpdir(), 'patchlens-lab-'));
  const home = join(scratch, 'home');
  for (const dir of ['notebooks', 'home', 'config', 'settings', 'workspaces', 'ipython', 'runtime']) mkdirSync(join(scratch, dir), { recursive: true });
  writeFileSync(join(scratch, 'notebooks/smoke.ipynb'), JSON.stringify({
    nbformat: 4, nbformat_minor: 5,
    metadata: { kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' } },
    cells: [
      cell(`${IMPORT}\nw = Widget(${JSON.stringify(FIXTURE)}, count=64, zoom=3)\nw`),
      cell('w.count = 16'),
      cell('print("selected:", w.selected, "served:", w.bytes_served)'),
    ].map((c, i) => ({ ...c, id: `cell-${i}` })),
  }));
  const port = await freePort();
  // Its own config, data and runtime folders: nothing from this machine's Jupyter set-up, no news, no update check.
  const env = {
    ...process.env, HOME: home, JUPYTER_CONFIG_DIR: join(scratch, 'config'), JUPYTERLAB_SETTINGS_DIR: join(scratch, 'settings'),
    JUPYTERLAB_WORKSPACES_DIR: join(scratch, 'workspaces'), IPYTHONDIR: join(scratch, 'ipython'), JUPYTER_RUNTIME_DIR: join(scratch, 'runtime'),
  };
  lab = spawn(PYTHON, ['-m', 'jupyterlab', '--no-browser', `--ServerApp.port=${port}`, '--ServerApp.ip=127.0.0.1',
    `--IdentityProvider.token=${TOKEN}`, `--ServerApp.root_dir=${join(scratch, 'notebooks')}`, '--ServerApp.port_retries=0', '--ServerApp.allow_root=True', '--LabApp.extension_manager=readonly',
    '--LabApp.news_url=', '--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  lab.stdout.on('data', (d) => log.push(String(d)));
  lab.stderr.on('data', (d) => log.push(String(d)));
  url = `http://127.0.0.1:${port}`;
  const started = Date.now();
  for (;;) {
    if (lab.exitCode !== null) assert.fail(`jupyter lab stopped:\n${log.join('')}`);
    const up = await fetch(`${url}/api/status?token=${TOKEN}`).then((r) => r.ok, () => false);
    if (up) break;
    assert.ok(Date.now() - started < 60_000, `jupyter lab did not start in 60 s:\n${log.join('')}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
});

after(async () => {
  await browser?.close();
  if (lab && lab.exitCode === null) {
    const stopped = new Promise((resolve) => lab.once('exit', resolve));
    lab.kill('SIGTERM');
    await Promise.race([stopped, new Promise((resolve) => setTimeout(resolve, 10_000))]);
    if (lab.exitCode === null) lab.kill('SIGKILL');
  }
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

async function canvasPixels(page) {
  const { width, height, base64 } = await page.evaluate(() => {
    const canvas = document.querySelector('.patchlens canvas');
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let binary = '';
    for (let at = 0; at < data.length; at += 0x8000) binary += String.fromCharCode.apply(null, data.subarray(at, at + 0x8000));
    return { width: canvas.width, height: canvas.height, base64: btoa(binary) };
  });
  return { width, height, rgba: new Uint8Array(Buffer.from(base64, 'base64')) };
}

function cli(args) {
  const out = join(scratch, `cli-${args.join('_')}.png`);
  execFileSync(CLI, ['render', FIXTURE, '-o', out, ...args.map(String)], { stdio: ['ignore', 'ignore', 'pipe'] });
  return decodePng(readFileSync(out));
}

/** Runs cell `index` of the open notebook (Shift+Enter in it) and waits for its execution count. */
async function runCell(page, index) {
  const cellNode = page.locator('.jp-Notebook .jp-Cell').nth(index);
  await cellNode.locator('.cm-content').click();
  await page.keyboard.press('Shift+Enter');
  try {
    await cellNode.locator('.jp-InputPrompt', { hasText: /\[\d+\]/ }).waitFor({ timeout: 60_000 });
  } catch (error) {
    await page.screenshot({ path: join(process.env.PATCHLENS_SCREENSHOTS ?? scratch, 'widget-jupyterlab-stuck.png') });
    throw new Error(`${error.message}\nserver log:\n${log.join('').slice(-3000)}`);
  }
}

test('in JupyterLab the widget draws the CLI\'s pixels, follows Python, and tells Python what was clicked', { skip, timeout: 120_000 }, async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const problems = [];
  page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
  await page.goto(`${url}/lab/tree/smoke.ipynb?token=${TOKEN}`);
  // Run nothing before the kernel is connected and idle (the status bar says so): a cell run earlier is dropped.
  await page.locator('.jp-Notebook .jp-Cell').first().waitFor({ timeout: 60_000 });
  await page.locator('.jp-StatusBar-Widget', { hasText: /\| Idle/ }).first().waitFor({ timeout: 60_000 });
  await runCell(page, 0);
  await page.locator('.patchlens canvas[data-drawn="true"]').waitFor({ timeout: 60_000 });
  assertSamePixels(await canvasPixels(page), cli(['--count', 64, '--zoom', 3]), 'the notebook\'s canvas');
  await page.screenshot({ path: join(process.env.PATCHLENS_SCREENSHOTS ?? scratch, 'widget-jupyterlab.png') });

  // From Python: w.count = 16 redraws.
  await page.evaluate(() => { document.querySelector('.patchlens').dataset.state = 'waiting'; });
  await runCell(page, 1);
  await page.waitForFunction(() => document.querySelector('.patchlens').dataset.state === 'drawn', null, { timeout: 60_000 });
  assertSamePixels(await canvasPixels(page), cli(['--count', 16, '--zoom', 3]), 'after w.count = 16');

  // From the panel: a click on tile 2 is w.selected in the kernel.
  const box = await page.locator('.patchlens canvas').boundingBox();
  await page.mouse.click(box.x + (14 * 3 + 2) + 5, box.y + 5);
  assert.match(await page.textContent('.patchlens .pl-inspector'), /^Filter 2 of 384 · /);
  await runCell(page, 2);
  const printed = await page.locator('.jp-Notebook .jp-Cell').nth(2).locator('.jp-OutputArea-output').textContent();
  const served = Number(/served: (\d+)/.exec(printed)?.[1]);
  assert.match(printed, /selected: \{'checkpoint': 0, 'filter': 1\}/);
  assert.ok(served > 0 && served <= readFileSync(FIXTURE).length, printed);
  if (process.env.PATCHLENS_SCREENSHOTS) { // how it reads in the dark theme
    await page.click('text=Settings');
    await page.click('.lm-Menu-item:has-text("Theme")');
    await page.click('.lm-Menu-item:has-text("JupyterLab Dark")');
    await page.waitForFunction(() => document.body.dataset.jpThemeLight === 'false', null, { timeout: 30_000 });
    await page.locator('#jupyterlab-splash').waitFor({ state: 'detached', timeout: 30_000 });
    await page.mouse.move(box.x + 5, box.y + 5);
    await page.screenshot({ path: join(process.env.PATCHLENS_SCREENSHOTS, 'widget-jupyterlab-dark.png') });
  }
  assert.deepEqual(problems, []);
  await page.close();
});
