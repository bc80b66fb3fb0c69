// An `.npz` by URL from an object store (issue 14): S3 and GCS answer several ranges with the whole file, so the
// tensor list's header groups are single-range requests. The worker fetches them concurrently before listing
// (Checkpoint.listingPlan / provideReply): the host (`multirange=whole`, 20 ms before each answer) sees them
// overlap, no more requests than one after another took, and the picker lists every tensor as for the dropped file.
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

/** Waits until the first panel's picker holds the whole tensor list. */
const listed = (page) => page.waitForFunction(() => document.getElementById('tensor').dataset.listed === 'done', null, { timeout: 60_000 });

test('an .npz from an object store lists every tensor, its single-range requests in flight together', async (t) => {
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
  await listed(page);
  const byUrl = await pickerOptions(page, { all: true });
  const log = host.log.filter((e) => e.path.includes(FILE));
  const gets = log.filter((e) => e.method === 'GET');
  const heads = log.filter((e) => e.method === 'HEAD');
  const mostAtOnce = Math.max(...log.map((e) => e.inFlight));
  t.diagnostic(`${log.length} requests (${heads.length} HEAD), at most ${mostAtOnce} in flight at once`);
  assert.equal(heads.length, 1, 'one HEAD asks whether the server sends parts');
  assert.ok(gets.every((e) => e.status === 206 && !e.range?.includes(',')), 'single ranges only, never the whole file');
  assert.ok(log.length > 6 && log.length <= 80, `${log.length} requests: the groups one each, as before`);
  assert.ok(mostAtOnce > 1, `the header groups were fetched together (at most ${mostAtOnce} in flight at once)`);

  await page.evaluate(() => { document.getElementById('status').dataset.state = 'test-waiting'; });
  await page.setInputFiles('#file-input', join(FIXTURES, FILE));
  await waitSettled(page, 60_000);
  await listed(page);
  const dropped = await pickerOptions(page, { all: true });
  assert.equal(byUrl.length, 200);
  assert.deepEqual(byUrl, dropped, 'the dropped file\'s list');
  assert.deepEqual(problems, []);
  await context.close();
});
