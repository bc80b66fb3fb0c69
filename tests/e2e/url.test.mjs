// URL mode in real Chromium (issue 8): checkpoints on another origin, read by HTTP ranges through the test host
// (tests/server/checkpoint-server.mjs). The page's own counters and the host's log must agree, within the
// budget (≤ 4 requests, ≤ kernel + 1 MiB); the pixels are those of the same file dropped; a server without
// ranges downloads the whole file with a progress bar; every failure says why and the page still works.
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { startCheckpointServer } from '../server/checkpoint-server.mjs';
import {
  MANIFEST, assertSamePixels, canvasPixels, controlsOf, defaultTiles, expectedGrid, loadManifest, openPage, panelsSettled,
  settledAfter, startSession, waitSettled,
} from './harness.mjs';

const FIXTURES = dirname(MANIFEST);
const MIB = 1 << 20;

let session;
let host;
before(async () => {
  session = await startSession();
  host = await startCheckpointServer({
    root: FIXTURES,
    hub: {
      'org/dinov2-small': { files: { 'model.safetensors': 'dinov2_small_patch_embed.safetensors', 'config.json': 'notes.txt' } },
      'org/sharded': {
        files: {
          'model.safetensors.index.json': 'big-model.safetensors.index.json',
          'big-model-00001-of-00003.safetensors': 'big-model-00001-of-00003.safetensors',
          'big-model-00002-of-00003.safetensors': 'big-model-00002-of-00003.safetensors',
          'big-model-00003-of-00003.safetensors': 'big-model-00003-of-00003.safetensors',
        },
      },
    },
  });
});
after(async () => {
  await session?.close();
  await host?.close();
});

/** Opens the page with `?url=` for each path on the host, and waits until every panel has settled. */
async function openAddress(page, paths) {
  const query = paths.map((p) => `url=${encodeURIComponent(`${host.origin}/${p}`)}`).join('&');
  await page.goto(`${session.server.url}?${query}`);
  await page.waitForFunction((n) => document.querySelectorAll('.panel').length === n, paths.length);
  return panelsSettled(page, 60_000);
}

/** The pixels of `file` dropped on the page (through the file input), for comparison. */
async function droppedPixels(page, file) {
  await page.evaluate(() => { document.getElementById('status').dataset.state = 'test-waiting'; });
  await page.setInputFiles('#file-input', join(FIXTURES, file));
  await waitSettled(page, 60_000);
  return canvasPixels(page);
}

test('by ?url=: each big checkpoint draws from ranges, within 4 requests and kernel + 1 MiB, the dropped file\'s pixels', async (t) => {
  const cases = [
    { path: 'redirect/augreg_b16.npz', file: 'augreg_b16.npz', kernel: 16 * 16 * 3 * 768 * 4 },
    { path: 'files/dino_vitb16.pth', file: 'dino_vitb16.pth', kernel: 768 * 3 * 16 * 16 * 4 },
    { path: 'files/hf_vit_l16.safetensors', file: 'hf_vit_l16.safetensors', kernel: 1024 * 3 * 16 * 16 * 4 },
  ];
  const { page, context, problems } = await openPage(session);
  for (const { path, file, kernel } of cases) {
    if (!existsSync(join(FIXTURES, file))) {
      assert.ok(!process.env.PATCHLENS_REQUIRE_BIG, `${file} is missing: make_fixtures.py --big writes it`);
      t.diagnostic(`${file} skipped: make_fixtures.py --big writes it`);
      continue;
    }
    host.reset();
    const [panel] = await openAddress(page, [path]);
    assert.equal(panel.data.state, 'ready', `${file}: ${panel.alert}`);
    const requests = Number(panel.data.requests);
    const bytes = Number(panel.data.networkBytes);
    assert.ok(requests <= 4, `${file}: ${requests} requests`);
    assert.ok(bytes <= kernel + MIB, `${file}: ${bytes} bytes for a ${kernel}-byte kernel`);
    assert.match(panel.text, new RegExp(`${requests} requests, [\\d.]+ (kB|MB) of [\\d.]+ (MB|GB) transferred`));
    // The host saw the same: the first requests it logged (a redirect, then the reads) carry those bytes. The
    // tensor list that follows the pixels asks for more, later.
    const redirects = path.startsWith('redirect/') ? 1 : 0;
    // Only this file's requests: a page left behind may still finish one of its own (its tensor list).
    const drawing = host.log.filter((e) => e.path.includes(file)).slice(0, requests + redirects);
    assert.equal(drawing.filter((e) => e.status === 302).length, redirects);
    assert.deepEqual(drawing.filter((e) => e.status !== 302).map((e) => e.status), Array(requests).fill(206));
    assert.equal(drawing.reduce((sum, e) => sum + e.bytes, 0), bytes, `${file}: the page counts what the host sent`);
    const shown = await canvasPixels(page);
    const dropped = await droppedPixels(page, file);
    assert.ok(shown.width > 0 && Buffer.from(shown.rgba).equals(Buffer.from(dropped.rgba)), `${file}: the dropped file's pixels`);
  }
  assert.deepEqual(problems, []);
  await context.close();
});

test('a TensorFlow checkpoint by the address of its .index brings the data file beside it, within the budget', async () => {
  const manifest = loadManifest();
  const { page, context, problems } = await openPage(session);
  for (const name of ['tf1_f32.index', 'tf1_sharded.index', 'augreg_b16_tf.index']) {
    const fixture = manifest.fixtures.find((f) => f.name === name);
    if (!fixture || !existsSync(fixture.path)) {
      assert.ok(!process.env.PATCHLENS_REQUIRE_BIG, `${name} is missing: make_fixtures.py --big writes it`);
      continue;
    }
    host.reset();
    const [panel] = await openAddress(page, [`files/${name}`]);
    assert.equal(panel.data.state, 'ready', `${name}: ${panel.alert}`);
    assert.equal(panel.data.tensor, fixture.default_tensor);
    const requests = Number(panel.data.requests);
    assert.ok(requests <= 1 + fixture.companions.length + 1, `${name}: ${requests} requests`);
    const data = host.log.filter((e) => fixture.companions.some((c) => e.path.endsWith(c)));
    assert.ok(data.length >= 1 && data.every((e) => e.status === 206), `${name}: its data files were read by ranges`);
    const kernel = fixture.kernel_bytes ?? 0;
    assert.ok(Number(panel.data.networkBytes) <= kernel + MIB, `${name}: ${panel.data.networkBytes} bytes`);
    const tiles = defaultTiles(fixture);
    if (tiles) {
      const expected = expectedGrid(tiles.path, tiles.kernel_shape, await controlsOf(page));
      assertSamePixels(await canvasPixels(page), expected, `${name} by URL`);
    }
  }
  assert.deepEqual(problems, []);
  await context.close();
});

test('the URL field: one URL per line opens one panel each, and the address keeps them for a shared link', async () => {
  const { page, context, problems } = await openPage(session);
  const urls = ['files/dinov2_vits14.npz', 'files/dinov2_small_patch_embed.safetensors'].map((p) => `${host.origin}/${p}`);
  // Every format, each drawing exactly what the same file dropped draws.
  const formats = ['legacy_f32.pt', 'dino_checkpoint.pth', 'clip_projector_f32.gguf', 'cnn_typed.onnx', 'conv1_weight.npy',
    'keras3_tiny.keras', 'tf_model.h5', 'cnn_int8.tflite', 'vit_f32.msgpack', 'detectron2_r50.pkl'];
  await page.fill('#url-input', formats.map((f) => `${host.origin}/files/${f}`).join('\n'));
  await page.press('#url-input', 'Enter');
  await page.waitForFunction((n) => document.querySelectorAll('.panel').length === n, formats.length);
  const opened = await panelsSettled(page);
  assert.deepEqual(opened.map((p) => p.data.state), formats.map(() => 'ready'), opened.map((p) => p.alert).join(' '));
  const overHttp = await Promise.all(formats.map((_, i) => canvasPixels(page, i)));
  await page.setInputFiles('#file-input', formats.map((f) => join(FIXTURES, f)));
  await page.waitForFunction((n) => document.querySelectorAll('.panel .status[data-state="ready"]:not([data-requests])').length === n,
    formats.length);
  for (const [i, f] of formats.entries()) {
    const dropped = await canvasPixels(page, i);
    assert.ok(Buffer.from(overHttp[i].rgba).equals(Buffer.from(dropped.rgba)) && dropped.width > 0, `${f}: the dropped file's pixels`);
  }
  await page.fill('#url-input', urls.join('\n'));
  await page.evaluate(() => document.querySelectorAll('.panel .status').forEach((s) => { s.dataset.state = 'test-waiting'; }));
  await page.press('#url-input', 'Enter');
  await page.waitForFunction(() => document.querySelectorAll('.panel').length === 2);
  const panels = await panelsSettled(page);
  assert.deepEqual(panels.map((p) => p.title), ['dinov2_vits14.npz', 'dinov2_small_patch_embed.safetensors']);
  assert.deepEqual(panels.map((p) => p.data.state), ['ready', 'ready']);
  const search = new URLSearchParams(await page.evaluate(() => location.search));
  assert.deepEqual(search.getAll('url'), urls);
  // The shared link opens the same.
  await page.reload();
  await page.waitForFunction(() => document.querySelectorAll('.panel').length === 2);
  assert.deepEqual((await panelsSettled(page)).map((p) => p.data.tensor), panels.map((p) => p.data.tensor));
  // A dropped file takes the place of the URLs, in the address too.
  await droppedPixels(page, 'dinov2_vits14.npz');
  assert.equal(new URLSearchParams(await page.evaluate(() => location.search)).getAll('url').length, 0);
  assert.deepEqual(problems, []);
  await context.close();
});

/** A size as the page's status line writes it (app.js humanBytes), with its dots escaped for a RegExp. */
function sizeText(bytes) {
  const [value, unit] = bytes < 1e6 ? [bytes / 1e3, 'kB'] : [bytes / 1e6, 'MB'];
  return `${value.toFixed(value < 10 ? 2 : 1)} ${unit}`.replace('.', '\\.');
}

test('a server without ranges: the whole file downloads first with a progress bar, and can be cancelled', async () => {
  const { page, context, problems } = await openPage(session);
  const size = sizeText(statSync(join(FIXTURES, 'dinov2_vits14.npz')).size); // a copy of the sample
  // 0.9–2 MB at 300 kB/s: seconds to watch.
  await page.fill('#url-input', `${host.origin}/norange/dinov2_vits14.npz?rate=300000`);
  await page.press('#url-input', 'Enter');
  await page.waitForSelector('#fetch-progress:not([hidden])');
  await page.waitForFunction(() => Number(document.getElementById('fetch-progress-bar').value) > 0);
  assert.match(await page.textContent('#fetch-progress-text'),
    new RegExp(`^Downloading all of dinov2_vits14\\.npz: [\\d.]+ [kM]B of ${size}\\. Its server does not send parts of files`));
  await page.click('#fetch-cancel');
  await page.waitForSelector('#open-error:not([hidden])');
  assert.match(await page.textContent('#open-error-text'), /The download of dinov2_vits14\.npz was cancelled\./);
  assert.equal(await page.isVisible('#fetch-progress'), false, 'the bar goes');
  assert.equal(await page.isVisible('#open-error-retry'), false, 'a cancelled download is not a failure to retry');
  await page.click('#open-error-close');
  assert.equal((await waitSettled(page)).data.file, 'dinov2-vits14-patch-embed.npz', 'the sample is still shown');

  // Left to finish, it draws, and says how it was read.
  const [whole] = await openAddress(page, ['norange/dinov2_vits14.npz']);
  assert.equal(whole.data.state, 'ready');
  assert.match(whole.text, new RegExp(`downloaded whole, ${size} \\(the server does not send parts of files\\)`));
  assert.deepEqual(problems, []);
  await context.close();
});

test('every failure says why in one sentence, a network failure offers to try again, and a good URL then works', async () => {
  const { page, context } = await openPage(session);
  const cases = [
    ['nocors/dinov2_vits14.npz', 'The server of dinov2_vits14.npz does not let other sites read its files, so this page cannot; download the file and drop it here.', false],
    ['status/404/model.safetensors', 'There is no file model.safetensors at this address (404).', false],
    ['status/401/model.safetensors', 'The server refused to send model.safetensors (401): the model may be gated or private; download it with your account and open the file from disk.', false],
    ['status/503/model.safetensors', 'The server failed while sending model.safetensors (503); try again later.', false],
    ['changing/dinov2_vits14.npz', 'The file dinov2_vits14.npz changed on the server while it was being read; open it again.', false],
    // The host answered the first read, then dropped the connection: it broke, it was reached.
    ['cut/dinov2_vits14.npz', `The connection to ${new URL(host.origin).host} broke while dinov2_vits14.npz was being read; try again.`, true],
  ];
  for (const [path, sentence, retry] of cases) {
    host.reset();
    await page.fill('#url-input', `${host.origin}/${path}`);
    await page.press('#url-input', 'Enter');
    await page.waitForSelector('#open-error:not([hidden])');
    assert.equal(await page.textContent('#open-error-text'), `Could not open ${path.split('/').pop()}: ${sentence}`);
    assert.equal(await page.isVisible('#open-error-retry'), retry, `${path}: try again offered`);
    if (retry) {
      // Trying again asks the server again (and fails again here: /cut/ drops every read after the first).
      const before = host.log.length;
      await page.click('#open-error-retry');
      await page.waitForSelector('#open-error:not([hidden])');
      assert.ok(host.log.length > before, 'asked again');
    }
    await page.click('#open-error-close');
  }
  // No server at all: a browser cannot tell a wrong name from a refusal, and says what it can.
  await page.fill('#url-input', 'http://127.0.0.1:9/model.safetensors');
  await page.press('#url-input', 'Enter');
  await page.waitForSelector('#open-error:not([hidden])');
  assert.equal(await page.textContent('#open-error-text'), 'Could not open model.safetensors: Could not reach 127.0.0.1:9 for model.safetensors: no answer came (a mistyped address, a server that is down, or no network); check the address and try again.');
  assert.doesNotMatch(await page.textContent('#open-error-text'), /network dropped/);
  await page.click('#open-error-close');
  // Offline, the browser says so, and so does the page.
  await context.setOffline(true);
  await page.fill('#url-input', `${host.origin}/files/dinov2_vits14.npz`);
  await page.press('#url-input', 'Enter');
  await page.waitForSelector('#open-error:not([hidden])');
  assert.equal(await page.textContent('#open-error-text'), `Could not open dinov2_vits14.npz: Could not reach ${new URL(host.origin).host} for dinov2_vits14.npz: this browser is offline; connect to a network and try again.`);
  assert.equal(await page.isVisible('#open-error-retry'), true, 'offline: try again offered');
  await context.setOffline(false);
  await page.click('#open-error-close');
  // A server that hides Content-Range from other sites: the size comes from a HEAD's Content-Length.
  host.reset();
  const [hidden] = await openAddress(page, ['noexpose/dinov2_vits14.npz']);
  assert.equal(hidden.data.state, 'ready', hidden.alert);
  assert.ok(host.log.some((e) => e.method === 'HEAD'), 'the size was asked with HEAD');
  // And the page still works.
  const [good] = await openAddress(page, ['files/dinov2_vits14.npz']);
  assert.equal(good.data.state, 'ready');
  assert.equal(good.data.tensor, 'embedding/kernel');
  await context.close();
});

test('a Hugging Face model id or page opens its weights through the hub; of a sharded model only the kernel\'s shard is read', async () => {
  const { page, context, problems } = await openPage(session);
  const hub = encodeURIComponent(host.origin);
  // By id, in the field; the page was given the mock hub as ?hub=.
  await page.goto(`${session.server.url}?sample=none&hub=${hub}`);
  await page.fill('#url-input', 'org/dinov2-small');
  host.reset();
  await page.press('#url-input', 'Enter');
  await page.waitForFunction(() => document.getElementById('status').dataset.state === 'ready', null, { timeout: 60_000 });
  const [small] = await panelsSettled(page);
  assert.equal(small.title, 'org/dinov2-small · model.safetensors');
  assert.match(small.text, /^org\/dinov2-small · model\.safetensors · safetensors · /);
  const dropped = await droppedPixels(page, 'dinov2_small_patch_embed.safetensors');
  await page.goto(`${session.server.url}?hub=${hub}&url=org%2Fdinov2-small`);
  await page.waitForFunction(() => document.getElementById('status').dataset.state === 'ready', null, { timeout: 60_000 });
  const byAddress = await canvasPixels(page);
  assert.ok(Buffer.from(byAddress.rgba).equals(Buffer.from(dropped.rgba)), 'the same pixels as the file dropped');

  // A sharded model by its page's address: the listing, the index, then the kernel's shard only.
  host.reset();
  await page.goto(`${session.server.url}?hub=${hub}&url=${encodeURIComponent(`${host.origin}/org/sharded`)}`);
  await page.waitForFunction(() => document.getElementById('status').dataset.state === 'ready', null, { timeout: 60_000 });
  const status = await page.evaluate(() => ({ ...document.getElementById('status').dataset, text: document.getElementById('status').textContent }));
  assert.match(status.text, /^org\/sharded · model\.safetensors \(4 files\) · safetensors \(sharded\) · /);
  // Drawing: the listing, the index, then the kernel's shard — its header and the kernel, no probe (the listing
  // gave its size). The tensor list, after the pixels, reads the other shards' headers.
  assert.equal(Number(status.requests), 4, `${status.requests} requests`);
  const ranged = host.log.filter((e) => e.status === 206).map((e) => e.path);
  assert.deepEqual(ranged.slice(0, 2), Array(2).fill('/files/big-model-00003-of-00003.safetensors'), `${ranged}`);

  // An id the hub does not know.
  await page.fill('#url-input', 'org/no-such-model');
  await page.press('#url-input', 'Enter');
  await page.waitForSelector('#open-error:not([hidden])');
  assert.match(await page.textContent('#open-error-text'), /The hub does not show the model org\/no-such-model \(401\): it is gated or private, or no model has that name\./);
  await page.click('#open-error-close');
  assert.deepEqual(problems, []);

  // A hub that cannot be reached is named as the hub, not as the model.
  await page.goto(`${session.server.url}?sample=none&hub=${encodeURIComponent('http://127.0.0.1:9')}`);
  await page.fill('#url-input', 'org/dinov2-small');
  const failed = await settledAfter(page, () => page.press('#url-input', 'Enter'));
  assert.equal(failed.data.state, 'error', failed.text);
  // Nothing was shown before, so the panel itself says it.
  assert.equal(failed.alert, 'Could not reach the hub at http://127.0.0.1:9: no answer came (a mistyped address, a server that is down, or no network); check the address and try again.');
  assert.equal(await page.isVisible('.panel .retry'), true, 'a hub out of reach: try again offered');
  await context.close();
});
