// The Node CLI (js/cli.js, `npx patchlens`) against the Rust CLI: the same PNG pixels, the same listing
// bytes, the same help, messages and exit statuses (0 ok, 1 bad input, 2 bad usage).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  REPO, WWW, SAMPLE_NAME, assertSamePixels, defaultTiles, drawableFixtures, expectedGrid, loadManifest, requireBuild,
  sampleFixture,
} from './harness.mjs';
import { decodePng } from './png.mjs';

const RUST_CLI = join(REPO, 'target/debug/patchlens');
const NODE_CLI = join(REPO, 'js/cli.js');
const SAMPLE = join(WWW, 'samples', SAMPLE_NAME);
const GENERATED = join(REPO, 'tests/fixtures/generated');
const COMMITTED = join(REPO, 'tests/fixtures/committed');

let manifest;
let scratch;
before(() => {
  requireBuild();
  assert.ok(existsSync(RUST_CLI), `${RUST_CLI} is missing: build it with \`cargo build --features cli\` (scripts/test.sh does).`);
  manifest = loadManifest();
  scratch = mkdtempSync(join(tmpdir(), 'patchlens-node-cli-'));
});
after(() => { if (scratch) rmSync(scratch, { recursive: true, force: true }); });

/** Runs one CLI: { status, stdout, stderr }. */
function run(cli, args) {
  const [command, ...rest] = cli === 'node' ? [process.execPath, NODE_CLI] : [RUST_CLI];
  const result = spawnSync(command, [...rest, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  assert.equal(result.error, undefined, String(result.error));
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Both CLIs on the same arguments must agree on everything they print and on the exit status. */
function sameOutput(args) {
  const rust = run('rust', args);
  const node = run('node', args);
  assert.equal(node.stdout, rust.stdout, `stdout of ${args.join(' ')}`);
  assert.equal(node.stderr, rust.stderr, `stderr of ${args.join(' ')}`);
  assert.equal(node.status, rust.status, `exit status of ${args.join(' ')}`);
  return node;
}

/** Renders with both CLIs (PNG files in scratch) and returns both decoded. */
function renderBoth(args) {
  const out = (cli) => join(scratch, `${cli}-${Math.random().toString(36).slice(2)}.png`);
  const [rustOut, nodeOut] = [out('rust'), out('node')];
  const rust = run('rust', ['render', ...args, '-o', rustOut]);
  const node = run('node', ['render', ...args, '-o', nodeOut]);
  assert.equal(rust.status, 0, rust.stderr);
  assert.equal(node.status, 0, node.stderr);
  // The summary line names the output file; otherwise it is the same.
  assert.equal(node.stderr.replace(nodeOut, 'OUT'), rust.stderr.replace(rustOut, 'OUT'));
  return { rust: decodePng(readFileSync(rustOut)), node: decodePng(readFileSync(nodeOut)) };
}

test('render: the sample at the defaults, the same pixels as the Rust CLI and scikit-learn', () => {
  const { rust, node } = renderBoth([SAMPLE]);
  assertSamePixels(node, rust, 'sample: Node CLI against Rust CLI');
  const tiles = defaultTiles(sampleFixture(manifest));
  const defaults = { count: 128, columns: 16, zoom: 4, gap: 2, gapColor: '#1b1e24' };
  assertSamePixels(node, expectedGrid(tiles.path, tiles.kernel_shape, defaults), 'sample: Node CLI against the tiles');
});

test('render: a picked tensor at other settings, the same pixels as the Rust CLI', () => {
  const fixture = drawableFixtures(manifest).find((f) => f.tiles.length > 1);
  const tiles = fixture.tiles[1];
  const settings = { count: 7, columns: 3, zoom: 3, gap: 1, gapColor: '#336699' };
  const { rust, node } = renderBoth([fixture.path, '--tensor', tiles.tensor, '--count', '7', '--columns', '3',
    '--zoom', '3', '--gap', '1', '--gap-color', '#336699']);
  assertSamePixels(node, rust, `${fixture.name} ${tiles.tensor}: Node CLI against Rust CLI`);
  assertSamePixels(node, expectedGrid(tiles.path, tiles.kernel_shape, settings), `${fixture.name}: against the tiles`);
});

test('render: the filters view\'s normalisations, order and channels draw the same pixels in both CLIs', () => {
  for (const view of [['--normalize', 'global'], ['--normalize', 'symmetric', '--order', 'norm'], ['--channels', '--gap', '1']]) {
    const { rust, node } = renderBoth([SAMPLE, '--count', '24', ...view]);
    assertSamePixels(node, rust, view.join(' '));
  }
  const pair = [join(GENERATED, 'compare_a.npz'), join(GENERATED, 'compare_b.npz')];
  const difference = renderBoth([...pair, '--view', 'difference', '--count', '16']);
  assertSamePixels(difference.node, difference.rust, 'the difference view');
  const one = sameOutput(['render', pair[0], '--view', 'difference', '-o', join(scratch, 'never.png')]);
  assert.equal(one.status, 1, 'a difference needs two checkpoints');
  // Principal components are floating-point work that wasm and native may round apart: within one level, as
  // each is of scikit-learn (tests/pca.rs).
  for (const pca of [['--view', 'pca'], ['--view', 'pca', '--components', '9', '--columns', '3', '--zoom', '2']]) {
    const { rust, node } = renderBoth([SAMPLE, ...pca]);
    assert.deepEqual([node.width, node.height], [rust.width, rust.height], pca.join(' '));
    const worst = node.rgba.reduce((most, v, i) => Math.max(most, Math.abs(v - rust.rgba[i])), 0);
    assert.ok(worst <= 1, `${pca.join(' ')}: a pixel is ${worst} levels from the Rust CLI's`);
  }
  for (const positions of [['--view', 'positions'], ['--view', 'positions', '--mode', 'dot', '--zoom', '2'],
    ['--view', 'positions', '--extra-tokens', '1', '--position-grid', '7x28', '--count', '3']]) {
    const { rust, node } = renderBoth([join(GENERATED, 'positions_augreg.npz'), ...positions]);
    assertSamePixels(node, rust, positions.join(' '));
  }
  const refused = sameOutput(['render', SAMPLE, '--normalize', 'each', '-o', join(scratch, 'never.png')]);
  assert.equal(refused.status, 2, 'a normalisation that does not exist is a usage error');
});

test('render: a layout asked for, files given together (ONNX and its external data), shards', () => {
  const npy = join(GENERATED, 'conv1_weight.npy'); // a bare .npy of a PyTorch weight
  const layout = renderBoth([npy, '--layout', 'oihw']);
  assertSamePixels(layout.node, layout.rust, '.npy as OIHW');
  const refused = sameOutput(['render', npy, '--layout', 'hwio', '-o', join(scratch, 'never.png')]);
  assert.equal(refused.status, 1, 'read as HWIO it has 5 input channels: not drawable');
  const onnx = manifest.fixtures.find((f) => f.name === 'vit_external.onnx');
  const both = renderBoth([onnx.path, join(GENERATED, onnx.companions[0]), '--zoom', '1', '--gap', '0']);
  assertSamePixels(both.node, both.rust, 'ONNX with external data');
  const index = manifest.fixtures.find((f) => f.name === 'pytorch_model.bin.index.json');
  const shards = renderBoth([index.path]);
  assertSamePixels(shards.node, shards.rust, 'shards from their index');
});

test('render: numbers out of range are corrected and said, as the Rust CLI says them', () => {
  const { rust, node } = renderBoth([join(GENERATED, 'onet.pt'), '--zoom', '0', '--count', '99999999999', '--columns', '0',
    '--gap', '100']);
  assertSamePixels(node, rust, 'corrected grid');
  const said = run('node', ['render', join(GENERATED, 'onet.pt'), '--zoom', '0', '-o', join(scratch, 'zoom.png')]);
  assert.match(said.stderr, /^patchlens: --zoom: at least 1\.$/m);
});

test('list: the same bytes as the Rust CLI, text and JSON, files, indexes and folders', () => {
  const cases = [
    ['list', join(GENERATED, 'dino_checkpoint.pth')],
    ['list', '--all', join(GENERATED, 'dino_checkpoint.pth')],
    ['list', '--json', join(GENERATED, 'onet.pt')],
    ['list', join(GENERATED, 'model.safetensors.index.json')],
    ['list', '--json', join(GENERATED, 'vit_external.onnx'), join(GENERATED, 'vit_external.onnx.data')],
    ['list', join(COMMITTED, 'torch')], // a folder: its .npy and .json files are listed or skipped alike
    ['list', '--json', '--all', join(COMMITTED, 'torch-shards')],
    ['list', join(GENERATED, 'stored_f32.npz'), join(GENERATED, 'broken_truncated.gguf')], // one fails: exit 1
  ];
  for (const args of cases) {
    const { stdout } = sameOutput(args);
    assert.ok(stdout.length > 0, `${args.join(' ')} prints a listing`);
  }
  const json = JSON.parse(run('node', ['list', '--json', join(GENERATED, 'onet.pt')]).stdout);
  assert.equal(json.checkpoints[0].defaultTensor, 'conv1.weight');
});

test('help, version, usage errors (exit 2) and bad input (exit 1) as the Rust CLI has them', () => {
  const onet = join(GENERATED, 'onet.pt');
  const out = join(scratch, 'never.png');
  const usage = [
    [], ['frobnicate'], ['--frobnicate'], ['help', 'frobnicate'], ['list'], ['list', '--frobnicate', onet],
    ['render', onet], ['render', '-o', out], ['render', onet, '-o'], ['render', onet, '-o', out, '--zoom', 'x'],
    ['render', onet, '-o', out, '--count', '-1'], ['render', onet, '-o', out, '--layout', 'xyz'],
    ['render', onet, '-o', out, '--gap-color', 'red'], ['render', onet, '-o', out, '--order', 'size'],
    ['render', onet, '-o', out, '--normalize'],
    // 768 filters of 16 px in one column with 64 px gaps: too tall for any canvas, even at zoom 1.
    ['render', join(GENERATED, 'stored_f32.npz'), '-o', out, '--count', '768', '--columns', '1', '--gap', '64'],
  ];
  for (const args of usage) {
    const { status, stderr } = sameOutput(args);
    assert.equal(status, 2, `${args.join(' ')}: exit 2`);
    assert.match(stderr, /^patchlens: [A-Za-z-].*\.\nRun `patchlens( list| render)? --help` for the (commands|options)\.\n$/);
  }
  const badInput = [
    ['list', join(GENERATED, 'manifest.json')], ['render', join(GENERATED, 'broken_truncated.gguf'), '-o', out],
    ['render', onet, '--tensor', 'no.such.tensor', '-o', out], ['render', '/nonexistent/model.pth', '-o', out],
  ];
  for (const args of badInput) {
    const { status, stderr } = sameOutput(args);
    assert.equal(status, 1, `${args.join(' ')}: exit 1`);
    assert.match(stderr, /^patchlens: [^\n]+\.\n$/, `${args.join(' ')}: one sentence`);
  }
  assert.ok(!existsSync(out), 'no PNG is written when the command fails');
  for (const args of [['--help'], ['-h'], ['help'], ['help', 'render'], ['list', '--help'], ['render', '-h'], ['--version']]) {
    assert.equal(sameOutput(args).status, 0);
  }
  const { version } = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8'));
  assert.equal(run('node', ['--version']).stdout, `patchlens ${version}\n`);
});

test('render: a PNG that cannot be written is exit 1 and one sentence', () => {
  const { status, stderr } = run('node', ['render', SAMPLE, '-o', join(scratch, 'no-such-folder', 'grid.png')]);
  assert.equal(status, 1);
  assert.match(stderr, /^patchlens: Could not write .*grid\.png: No such file or directory \(os error 2\)\.\n$/);
});

test('a URL or a hub model id is refused in one sentence that says where it opens, not "no such file"', () => {
  for (const [args, words] of [
    [['render', 'google/vit-base-patch16-224', '-o', join(scratch, 'hub.png')], /^patchlens: There is no file google\/vit-base-patch16-224, and npx patchlens reads files on disk only; a Hugging Face model id opens in the web page/],
    [['list', 'https://example.com/w/ViT-B_16.npz'], /^patchlens: https:\/\/example\.com\/w\/ViT-B_16\.npz is a URL, and npx patchlens reads files on disk only/],
    // Any case of the scheme, a hub page, an id written as hf.co/…, a URL beside a file that is here.
    [['list', 'HTTPS://example.com/w/model.safetensors'], /^patchlens: HTTPS:\/\/example\.com\/w\/model\.safetensors is a URL/],
    [['list', 'https://huggingface.co/google/vit-base-patch16-224'], /^patchlens: https:\/\/huggingface\.co\/google\/vit-base-patch16-224 is a URL/],
    [['list', 'hf.co/facebook/dinov2-small'], /^patchlens: There is no file hf\.co\/facebook\/dinov2-small, and npx patchlens reads files on disk only/],
    [['list', SAMPLE, 'http://127.0.0.1:9/x.npz'], /^patchlens: http:\/\/127\.0\.0\.1:9\/x\.npz is a URL/],
  ]) {
    const node = run('node', args);
    assert.equal(node.status, 1, node.stderr);
    assert.match(node.stderr, words);
    assert.doesNotMatch(node.stderr, /No such file or directory/);
    assert.equal(node.stderr.trim().split('\n').length, 1, 'one sentence');
    // Where it does open, as the Rust CLI built without `http` says it (src/local.rs, without_http).
    assert.ok(node.stderr.endsWith('the Rust CLI built with the `http` feature (cargo install --path . --features cli,http, from a clone of patchlens).\n'), node.stderr);
    assert.equal(node.stdout, '', 'nothing listed');
  }
});
