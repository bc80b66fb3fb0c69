// The restartable reads under the widget (python/widget/ranges.js), without a browser: a miss records its
// blocks and throws, `settle` fetches them in one request and runs the operation again, and gives up in a
// sentence when an operation keeps missing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BLOCK, BlockCache, MAX_ROUNDS, settle } from '../../python/widget/ranges.js';

const file = new Uint8Array(10 * BLOCK + 123).map((_, i) => (i * 7) % 251);
const kernel = (cache) => (ranges) => {
  cache.fill(ranges, ranges.map(([, offset, length]) => new DataView(file.buffer, offset, length)));
  return Promise.resolve();
};

test('a miss throws and records its blocks, merged into ranges; a hit returns the bytes', () => {
  const cache = new BlockCache([{ name: 'a.npz', size: file.length }]);
  assert.throws(() => cache.read(0, BLOCK - 2, 4), /not in the browser yet/);
  assert.throws(() => cache.read(0, 10 * BLOCK + 100, 23), /not in the browser yet/);
  assert.deepEqual(cache.takeWanted(), [[0, 0, 2 * BLOCK], [0, 10 * BLOCK, 123]], 'the last block stops at the end of the file');
  assert.deepEqual(cache.takeWanted(), [], 'taken once');
  cache.fill([[0, 0, 2 * BLOCK], [0, 10 * BLOCK, 123]], [file.slice(0, 2 * BLOCK), file.slice(10 * BLOCK).buffer]);
  assert.deepEqual(cache.read(0, BLOCK - 2, 4), file.slice(BLOCK - 2, BLOCK + 2));
  assert.deepEqual(cache.read(0, 10 * BLOCK + 100, 23), file.slice(10 * BLOCK + 100));
  assert.equal(cache.received, 2 * BLOCK + 123);
  assert.throws(() => cache.fill([[0, 0, 8]], [new Uint8Array(4)]), /sent 4 bytes of a\.npz where 8 were asked for/);
});

test('settle reruns the operation until it misses nothing, asking once per round', async () => {
  const cache = new BlockCache([{ name: 'a.npz', size: file.length }]);
  const asked = [];
  let resets = 0;
  // A chain of dependent reads, as a container walks: each read's place comes from the one before.
  const walk = () => {
    const first = cache.read(0, 0, 8);
    const second = cache.read(0, 3 * BLOCK + first[1], 16);
    return cache.read(0, 9 * BLOCK + second[0], 4);
  };
  const result = await settle(cache, walk, (ranges) => { asked.push(ranges); return kernel(cache)(ranges); }, () => { resets += 1; });
  assert.deepEqual(result, walk());
  assert.equal(asked.length, 3, 'one request per level of the chain');
  assert.equal(resets, 3);
  assert.ok(cache.received <= 3 * BLOCK, 'only the blocks read');
});

test('settle returns the error of an attempt that missed nothing, and gives up after its rounds', async () => {
  const cache = new BlockCache([{ name: 'a.npz', size: file.length }]);
  await assert.rejects(settle(cache, () => { throw new Error('The file is no checkpoint.'); }, kernel(cache), () => {}),
    { message: 'The file is no checkpoint.' });
  // A kernel whose bytes never stay: every attempt misses again.
  const endless = () => cache.read(0, 0, 1);
  let requests = 0;
  const forgetful = (ranges) => { requests += 1; return kernel(cache)(ranges).then(() => cache.blocks[0].clear()); };
  await assert.rejects(settle(cache, endless, forgetful, () => {}),
    { message: `Reading this checkpoint needed more than ${MAX_ROUNDS} rounds of reads from the kernel; patchlens stopped.` });
  assert.equal(requests, MAX_ROUNDS);
});
