// The npm package's JS API in plain Node, with no set-up: load() in every documented form without the
// glue's deprecation warning, openBytes, and openPath/openPaths reading files by ranges (fs.readSync).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import {
  REPO, WWW, SAMPLE_NAME, assertSamePixels, defaultTiles, expectedGrid, loadManifest, requireBuild, sampleFixture,
} from './harness.mjs';

const DEFAULTS = { count: 128, columns: 16, zoom: 4, gap: 2, gapColor: '#1b1e24' };
const SAMPLE = join(WWW, 'samples', SAMPLE_NAME);
const WASM = join(REPO, 'pkg/patchlens_bg.wasm');

let manifest;
let api;
before(async () => {
  requireBuild();
  manifest = loadManifest();
  api = await import('../../js/index.js');
});

const fixture = (name) => {
  const found = manifest.fixtures.find((f) => f.name === name);
  assert.ok(found, `the manifest has ${name}`);
  return found;
};

/** The grid scikit-learn's tiles give for a fixture's default tensor at the module's defaults. */
const expectedFor = (f) => {
  const tiles = defaultTiles(f);
  return expectedGrid(tiles.path, tiles.kernel_shape, DEFAULTS);
};

/**
 * Runs `code` in a fresh Node process (the module loads once per process) with the package imported as
 * `api` and the sample's bytes as `sample`; it sets `result`. Returns the result, what was printed to
 * stderr and every console.warn.
 */
function inFreshNode(code) {
  const script = `
    import { readFileSync } from 'node:fs';
    const warnings = [];
    console.warn = (...args) => warnings.push(args.join(' '));
    const api = await import(${JSON.stringify(join(REPO, 'js/index.js'))});
    const sample = readFileSync(${JSON.stringify(SAMPLE)});
    const wasmPath = ${JSON.stringify(WASM)};
    let result;
    ${code}
    const checkpoint = await api.openBytes(sample);
    const grid = checkpoint.render();
    process.stdout.write(JSON.stringify({ result, warnings, width: grid.width, height: grid.height,
      rgba: Buffer.from(grid.rgba.buffer, grid.rgba.byteOffset, grid.rgba.byteLength).toString('base64') }));`;
  const stdout = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
  const out = JSON.parse(stdout);
  return { ...out, rgba: new Uint8Array(Buffer.from(out.rgba, 'base64')) };
}

test('openBytes works in plain Node with no set-up, and draws the sample exactly', () => {
  const run = inFreshNode('');
  assert.deepEqual(run.warnings, []);
  assertSamePixels(run, expectedFor(sampleFixture(manifest)), 'openBytes in Node');
});

test('load() takes every documented form without a deprecation warning', () => {
  const forms = {
    'a file: URL': 'new URL("file://" + wasmPath)',
    'a file: URL string': '"file://" + wasmPath',
    'a path': 'wasmPath',
    'a Response': 'new Response(readFileSync(wasmPath), { headers: { "Content-Type": "application/wasm" } })',
    'a promise of a Response': 'Promise.resolve(new Response(readFileSync(wasmPath), { headers: { "Content-Type": "application/wasm" } }))',
    'bytes (Uint8Array)': 'readFileSync(wasmPath)',
    'bytes (ArrayBuffer)': 'new Uint8Array(readFileSync(wasmPath)).buffer',
    'a WebAssembly.Module': 'new WebAssembly.Module(readFileSync(wasmPath))',
    '{ module_or_path } with bytes': '({ module_or_path: readFileSync(wasmPath) })',
    '{ module_or_path } with nothing': '({ module_or_path: undefined })',
  };
  const expected = expectedFor(sampleFixture(manifest));
  for (const [form, input] of Object.entries(forms)) {
    const run = inFreshNode(`await api.load(${input});`);
    assert.deepEqual(run.warnings, [], `${form}: no warnings`);
    assertSamePixels(run, expected, form);
  }
});

test('the warning the old call form causes is caught by this test', () => {
  // The generated init called the old way warns: what load() must never do.
  const run = inFreshNode('await api.init(readFileSync(wasmPath));');
  assert.equal(run.warnings.length, 1, run.warnings.join(' | '));
  assert.match(run.warnings[0], /deprecated parameters/);
});

test('openPath reads only the ranges it needs, with fs.readSync', async () => {
  const onet = fixture('onet.pt'); // a legacy PyTorch file: 1.5 MB, its kernel a few KB
  const size = fs.statSync(onet.path).size;
  const expected = expectedFor(onet); // read before fs.readSync is watched (readFileSync calls it)
  const reads = [];
  const readSync = fs.readSync;
  fs.readSync = (fd, buffer, offset, length, position) => {
    const n = readSync(fd, buffer, offset, length, position);
    reads.push(n);
    return n;
  };
  let checkpoint;
  try {
    checkpoint = await api.openPath(onet.path);
    assertSamePixels(checkpoint.render(), expected, 'onet.pt');
  } finally {
    fs.readSync = readSync;
  }
  const read = reads.reduce((a, b) => a + b, 0);
  assert.equal(read, checkpoint.bytesTransferred, 'the module saw exactly what the file system delivered');
  assert.ok(read < size / 10, `read ${read} of ${size} bytes`);
  assert.ok(reads.length <= 4, `${reads.length} reads`);
  assert.equal(checkpoint.fileSize, size);
  checkpoint.free();
});

test('openPath: an index brings its shards and opens only the one holding the kernel', async () => {
  const index = fixture('model.safetensors.index.json');
  const checkpoint = await api.openPath(index.path);
  assert.equal(checkpoint.defaultTensor, index.default_tensor);
  assertSamePixels(checkpoint.render(), expectedFor(index), 'shards');
  assert.ok(checkpoint.bytesRead < checkpoint.fileSize, `read ${checkpoint.bytesRead} of ${checkpoint.fileSize}`);
  checkpoint.free();
});

test('openPath draws one file of each second-wave format exactly; a TF .index brings its data files from beside it', async () => {
  const names = ['keras2_tiny.h5', 'tf_model.h5', 'keras3_tiny.keras', 'keras3_tiny.weights.h5', 'hdf5_latest_layouts.h5',
    'cnn_int8.tflite', 'vit_bf16.msgpack', 'detectron2_r50.pkl', 'py2_protocol0.pkl', 'tf1_f32.index', 'tf1_sharded.index'];
  for (const name of names) {
    const f = fixture(name);
    const checkpoint = await api.openPath(f.path);
    assert.equal(checkpoint.defaultTensor, f.default_tensor, name);
    assertSamePixels(checkpoint.render(), expectedFor(f), name);
    checkpoint.free();
  }
  const sharded = fixture('tf1_sharded.index');
  const [opened] = await api.openPaths([sharded.path]);
  assert.deepEqual(opened.files, ['tf1_sharded.index', ...sharded.companions], 'the index and both data files');
  opened.checkpoint.free();
});

test('openPaths groups files as openFiles does: an ONNX model and its external data are one', async () => {
  const onnx = fixture('vit_external.onnx');
  const single = fixture('onet.pt');
  const opened = await api.openPaths([single.path, onnx.path, join(REPO, 'tests/fixtures/generated', onnx.companions[0])]);
  assert.deepEqual(opened.map((o) => o.label), ['onet.pt', 'vit_external.onnx']);
  assert.deepEqual(opened[1].files, ['vit_external.onnx', 'vit_external.onnx.data']);
  assertSamePixels(opened[1].checkpoint.render(), expectedFor(onnx), 'external data');
  opened.forEach((o) => o.checkpoint.free());
});

test('openPaths: a folder gives its checkpoints and leaves out files that are none', async () => {
  const opened = await api.openPaths([join(REPO, 'tests/fixtures/generated')]);
  const labels = opened.map((o) => o.label);
  assert.ok(labels.includes('onet.pt') && labels.includes('model.safetensors'), labels.join(', '));
  assert.ok(!labels.includes('manifest.json'), 'manifest.json is no checkpoint and is left out');
  assert.ok(opened.some((o) => o.error), 'broken checkpoints stay, with their error');
  opened.forEach((o) => o.checkpoint?.free());
});

test('openPath rejects in one sentence: a missing file, a file that is no checkpoint, several checkpoints', async () => {
  const reasons = [];
  for (const path of ['/nonexistent/model.pth', fixture('onet.pt').path.replace('onet.pt', 'manifest.json'), join(REPO, 'tests/fixtures/generated')]) {
    reasons.push(await api.openPath(path).then(() => 'opened', (error) => error.message));
  }
  assert.match(reasons[0], /^Could not open \/nonexistent\/model\.pth: No such file or directory \(os error 2\)\.$/);
  assert.match(reasons[1], /not a checkpoint/);
  assert.match(reasons[2], /checkpoints \(.*\); open them with openPaths\.$/);
  for (const reason of reasons) assert.match(reason, /^[A-Z/].*\.$/);
});

test('numbers out of range are corrected and said; what cannot be corrected is a RangeError', async () => {
  const checkpoint = await api.openBytes(fs.readFileSync(SAMPLE));
  const corrected = checkpoint.render({ zoom: 0, gap: 65 });
  assert.deepEqual(corrected.adjustments.map((a) => a.option).sort(), ['gap', 'zoom']);
  // 384 filters of 14 px in one column with 64 px gaps: taller than a canvas can be, even at zoom 1.
  for (const options of [{ gapColor: 'red' }, { layout: 'xyz' }, { count: 384, columns: 1, gap: 64 }]) {
    assert.throws(() => checkpoint.render(options), (error) => error instanceof RangeError && /^[A-Z].*\.$/.test(error.message),
      JSON.stringify(options));
  }
  assert.throws(() => checkpoint.render({ tensor: 'no.such.tensor' }), (error) => error.constructor === Error);
  assert.doesNotThrow(() => api.Checkpoint.checkRenderOptions({ gapColor: '#336699', layout: 'oihw' }));
  assert.throws(() => api.Checkpoint.checkRenderOptions({ gapColor: '#33669' }), RangeError);
  checkpoint.free();
});
