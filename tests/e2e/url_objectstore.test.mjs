// An `.npz` by URL from an object store (issue 14): S3 and GCS answer several ranges with the whole file, so each
// of the tensor list's header groups would be a request of its own (78 for an AugReg B/16). The list comes first by
// the names and sizes of the zip directory the pixels already read (Checkpoint.tensorsRead): pixels and list in at
// most 6 requests. An entry picked before its shape is known is read when drawn; "Read every shape" fetches the
// rest concurrently (Checkpoint.listingPlan / provideReply): the host (`multirange=whole`, 20 ms before each
// answer) sees them overlap, and the picker then lists every tensor as for the dropped file.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { startCheckpointServer } from '../server/checkpoint-server.mjs';
import { MANIFEST, openPage, panelsSettled, pickerOptions, startSession, waitSettled } from './harness.mjs';

const FIXTURES = dirname(MANIFEST);
const FILE = 'augreg_b16.npz';

let session;
let host;
before(async () => {
  session = await startSession();
  host = await startCheckpointServer({ root: FIXTURES });
});
after(async () => {
  await session?.close();
  await host?.close();
});

/** Waits until the first panel's picker holds the list: `names` (names and sizes) or `done` (every shape). */
const listed = (page, state = 'done') =>
  page.waitForFunction((want) => document.getElementById('tensor').dataset.listed === want, state, { timeout: 60_000 });
const fileLog = () => host.log.filter((e) => e.path.includes(FILE));

test('an .npz from an object store lists its names and sizes at once, then every shape on request', async (t) => {
  if (!existsSync(join(FIXTURES, FILE))) {
    assert.ok(!process.env.PATCHLENS_REQUIRE_BIG, `${FILE} is missing: make_fixtures.py --big writes it`);
    t.diagnostic(`${FILE} skipped: make_fixtures.py --big writes it`);
    return;
  }
  const { page, context, problems } = await openPage(session);
  host.reset();
  const url = `${host.origin}/files/${FILE}?multirange=whole&delay=20`;
  await page.goto(`${session.server.url}?url=${encodeURIComponent(url)}`);
  const [panel] = await panelsSettled(page, 60_000);
  assert.equal(panel.data.state, 'ready', panel.alert);
  await listed(page, 'names');
  const named = await pickerOptions(page);
  const first = fileLog().length;
  t.diagnostic(`pixels and ${named.length} names in ${first} requests: ${fileLog().map((e) => `${e.method} ${e.range ?? ''}`).join('; ')}`);
  assert.ok(first <= 6, `${first} requests for the pixels and the list`);
  assert.equal(fileLog().filter((e) => e.method === 'HEAD').length, 1, 'one HEAD asks whether the server sends parts');
  assert.equal(named.length, 200, 'every entry, pickable before its shape is read');
  assert.ok(named.every((o) => !o.disabled), 'none refused before its header is read');
  const kernel = named.find((o) => o.value === 'embedding/kernel');
  assert.match(kernel.label, /^embedding\/kernel — float32 16×16×3×768 · default$/, 'the drawn entry, with its shape');
  const norm = named.find((o) => o.value === 'Transformer/encoder_norm/scale');
  assert.equal(norm.label, 'Transformer/encoder_norm/scale — 3.20 kB, shape not read yet', 'the rest by their size');
  assert.match(await page.textContent('.tensor-count'), /^\(200 tensors; 1 of 200 shapes read\)$/);
  const button = await page.textContent('.read-shapes');
  const unread = Number(button.match(/^Read every shape \((\d+) requests\)$/)?.[1]);
  assert.ok(unread > 6 && unread <= 80, button);

  // Picked before its shape is known: drawing reads it (one request), and its row then says why it is not drawn.
  await page.evaluate(() => { document.getElementById('status').dataset.state = 'test-waiting'; });
  await page.selectOption('#tensor', 'Transformer/encoder_norm/scale');
  await page.check('.show-all'); // the refused row leaves the drawable ones
  await page.waitForFunction(() => /encoder_norm\/scale — float32 768 — /.test(
    [...document.querySelectorAll('#tensor option')].map((o) => o.textContent).join('\n')), null, { timeout: 30_000 });
  const picked = fileLog().length - first;
  assert.ok(picked <= 1, `${picked} requests read the picked entry (none where an earlier reply holds it)`);
  assert.match(await page.textContent('.alert'), /encoder_norm\/scale/);

  await page.click('.read-shapes');
  await listed(page);
  const byUrl = await pickerOptions(page, { all: true });
  const log = fileLog();
  const gets = log.filter((e) => e.method === 'GET');
  const mostAtOnce = Math.max(...log.map((e) => e.inFlight));
  t.diagnostic(`every shape: ${log.length} requests in all, at most ${mostAtOnce} in flight at once`);
  assert.ok(gets.every((e) => e.status === 206 && !e.range?.includes(',')), 'single ranges only, never the whole file');
  assert.ok(log.length - first - picked <= unread, `${log.length - first - picked} requests for the shapes, as the button said at most`);
  assert.ok(mostAtOnce > 1, `the header groups were fetched together (at most ${mostAtOnce} in flight at once)`);
  assert.equal(await page.isHidden('.read-shapes'), true, 'nothing left to read');

  await page.evaluate(() => { document.getElementById('status').dataset.state = 'test-waiting'; });
  await page.setInputFiles('#file-input', join(FIXTURES, FILE));
  await waitSettled(page, 60_000);
  await listed(page);
  const dropped = await pickerOptions(page, { all: true });
  assert.equal(byUrl.length, 200);
  assert.deepEqual(byUrl.map((o) => o.value), dropped.map((o) => o.value), 'the dropped file\'s names');
  assert.deepEqual(byUrl.filter((o) => o.value !== 'Transformer/encoder_norm/scale'),
    dropped.filter((o) => o.value !== 'Transformer/encoder_norm/scale'), 'the dropped file\'s list');
  assert.deepEqual(problems, []);
  await context.close();
});
