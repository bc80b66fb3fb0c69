#!/usr/bin/env node
// Regenerates README's pictures (docs/*.png) from the built page (www/, `npm run build` first), the bundled
// sample and the generated fixtures, in headless Chromium: `node scripts/screenshots.mjs [NAME...]`.
// Each shot waits for the page's own "drawn" state (a panel's status `data-state="ready"`), never a fixed
// sleep, so a slower machine or a changed layout gives the same picture. The status line's timing
// ("· 287 ms") is the one thing that differs run to run; it is left out of the picture. Each PNG is also
// re-encoded (RGB without the always-opaque alpha, each row's best filter, deflate level 9) and the smaller
// of that and Chromium's own is written: a 1–2 % saving, Chromium's being close to it already.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { chromium } from 'playwright-core';
import { startServer } from './serve.mjs';
import { CHROMIUM, CHROMIUM_ARGS, MANIFEST, REPO, WWW, requireBuild } from '../tests/e2e/harness.mjs';
import { decodePng } from '../tests/e2e/png.mjs';

const DOCS = join(REPO, 'docs');
const FIXTURES = join(MANIFEST, '..');
const DESKTOP = { viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 };
// A phone as Chromium's device list has it (iPhone 12-class: 390 × 844 CSS px), at device pixel ratio 2 so
// that fitting by the device's pixels shows; the picture is 780 × 1688.
const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
const DRAW_TIMEOUT = 60_000;
// The DOM unchanged this long after a draw means the page is done with it (its own follow-ups take a few ms).
const QUIET_MS = 750;

/** Waits until every panel on the page is drawn, and fails with the page's own words if one is not. */
async function drawn(page, panels = 1) {
  await page.waitForFunction((n) => {
    const states = [...document.querySelectorAll('.panel .status')].map((s) => s.dataset.state);
    return states.length >= n && states.every((s) => s === 'ready' || s === 'error');
  }, panels, { timeout: DRAW_TIMEOUT });
  const failed = await page.evaluate(() => [...document.querySelectorAll('.panel')]
    .filter((p) => p.querySelector('.status').dataset.state !== 'ready')
    .map((p) => `${p.querySelector('.status').textContent} ${p.querySelector('.alert')?.textContent ?? ''}`));
  if (failed.length > 0) throw new Error(`A panel did not draw: ${failed.join('; ')}`);
}

/** Runs `action` (a change of a control) and waits until the page has drawn what it asked for. */
async function drawnAfter(page, action, panels = 1) {
  await page.evaluate(() => document.querySelectorAll('.panel .status').forEach((s) => { s.dataset.state = 'screenshot-waiting'; }));
  await action();
  await drawn(page, panels);
}

/** Sets a number field as a person does: type, then Enter. */
async function setNumber(page, selector, value) {
  await page.fill(selector, String(value));
  await page.press(selector, 'Enter');
}

/** Opens fixtures (paths under tests/fixtures/generated) through the page's file picker. */
async function openFiles(page, names) {
  await drawnAfter(page, () => page.setInputFiles('#file-input', names.map((n) => join(FIXTURES, n))), names.length);
}

/**
 * The shots: a name, a device, the steps from a fresh page (the sample drawn) to the picture, and for the
 * views the panel to picture (its title, status line, grid and colour bar, whatever its height) instead of the
 * viewport.
 */
const SHOTS = [
  { name: 'screenshot', device: DESKTOP, steps: async () => {} },
  { name: 'screenshot-phone', device: PHONE, steps: async () => {} },
  {
    name: 'view-symmetric', device: DESKTOP, panel: '.panel',
    steps: async (page) => {
      await drawnAfter(page, () => page.selectOption('#normalize', 'symmetric'));
      await drawnAfter(page, () => page.selectOption('#order', 'norm'));
    },
  },
  { name: 'view-pca', device: DESKTOP, panel: '.panel', steps: (page) => drawnAfter(page, () => page.selectOption('#view', 'pca')) },
  {
    name: 'view-positions', device: DESKTOP, panel: '.panel',
    steps: async (page) => {
      await openFiles(page, ['positions_augreg.npz']);
      await drawnAfter(page, () => page.selectOption('#view', 'positions-cosine'));
    },
  },
  {
    name: 'view-positions-dot', device: DESKTOP, panel: '.panel',
    steps: async (page) => {
      await openFiles(page, ['positions_augreg.npz']);
      await drawnAfter(page, () => page.selectOption('#view', 'positions-dot'));
    },
  },
  {
    name: 'view-difference', device: DESKTOP, panel: '.panel.difference',
    steps: async (page) => {
      await openFiles(page, ['compare_a.npz', 'compare_b.npz']);
      await drawnAfter(page, () => page.check('#difference'), 3);
      await drawnAfter(page, () => setNumber(page, '#count', 32), 3);
      await drawnAfter(page, () => setNumber(page, '#columns', 8), 3);
    },
  },
];

/**
 * Waits until the page has finished what the draw set off — the tensor list filled in after the pixels, the
 * full module taking over from the first one — by its DOM: no change for `QUIET_MS`.
 */
async function quiet(page) {
  const settled = await page.evaluate(({ quietMs, timeoutMs }) => new Promise((resolve) => {
    let timer;
    const done = (value) => { observer.disconnect(); clearTimeout(timer); clearTimeout(limit); resolve(value); };
    const observer = new MutationObserver(() => { clearTimeout(timer); timer = setTimeout(() => done(true), quietMs); });
    observer.observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
    timer = setTimeout(() => done(true), quietMs);
    const limit = setTimeout(() => done(false), timeoutMs);
  }), { quietMs: QUIET_MS, timeoutMs: DRAW_TIMEOUT });
  if (!settled) throw new Error(`The page kept changing for ${DRAW_TIMEOUT / 1000} s.`);
}

/** Leaves out what differs from run to run (the timing in each status line) and any focus ring or caret. */
async function steady(page) {
  await page.evaluate(async () => {
    for (const status of document.querySelectorAll('.panel .status')) {
      const walker = document.createTreeWalker(status, NodeFilter.SHOW_TEXT);
      for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        node.textContent = node.textContent.replace(/ · [\d.]+ (ms|s)\b/g, '');
      }
    }
    document.activeElement?.blur?.();
    await document.fonts.ready;
  });
}

/** The page area of the first element matching `selector`, with a margin of the page around it. */
async function around(page, selector) {
  const margin = 12;
  const box = await page.evaluate((sel) => {
    const rect = document.querySelector(sel).getBoundingClientRect();
    return { x: rect.left + scrollX, y: rect.top + scrollY, width: rect.width, height: rect.height };
  }, selector);
  const x = Math.max(0, Math.floor(box.x - margin));
  const y = Math.max(0, Math.floor(box.y - margin));
  return { x, y, width: Math.ceil(box.x + box.width + margin) - x, height: Math.ceil(box.y + box.height + margin) - y };
}

function paeth(a, b, c) {
  const p = a + b - c;
  const [pa, pb, pc] = [Math.abs(p - a), Math.abs(p - b), Math.abs(p - c)];
  if (pa <= pb && pa <= pc) return a;
  return pb <= pc ? b : c;
}

/** Chromium's PNG (RGBA, fast deflate) as a smaller one: RGB, the best of the five filters per row, level 9. */
function smallPng(bytes) {
  const { width, height, rgba } = decodePng(bytes);
  const stride = width * 3;
  const rgb = Buffer.alloc(height * stride);
  for (let i = 0, o = 0; i < rgba.length; i += 4, o += 3) rgb.set(rgba.subarray(i, i + 3), o);
  const raw = Buffer.alloc(height * (stride + 1));
  const line = Buffer.alloc(stride);
  for (let y = 0; y < height; y += 1) {
    const row = rgb.subarray(y * stride, (y + 1) * stride);
    const up = y > 0 ? rgb.subarray((y - 1) * stride, y * stride) : Buffer.alloc(stride);
    let best = null;
    for (let filter = 0; filter <= 4; filter += 1) {
      let cost = 0;
      for (let i = 0; i < stride; i += 1) {
        const a = i >= 3 ? row[i - 3] : 0;
        const c = i >= 3 ? up[i - 3] : 0;
        const predicted = [0, a, up[i], (a + up[i]) >> 1, paeth(a, up[i], c)][filter];
        line[i] = (row[i] - predicted) & 0xff;
        cost += line[i] < 128 ? line[i] : 256 - line[i]; // the usual heuristic: small residuals deflate best
      }
      if (best === null || cost < best.cost) best = { cost, filter, bytes: Buffer.from(line) };
    }
    raw[y * (stride + 1)] = best.filter;
    best.bytes.copy(raw, y * (stride + 1) + 1);
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8-bit RGB, deflate, adaptive filters, not interlaced
  return Buffer.concat([SIGNATURE, chunk('IHDR', header), chunk('IDAT', deflateSync(raw, { level: 9, memLevel: 9 })),
    chunk('IEND', Buffer.alloc(0))]);
}

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function chunk(type, data) {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  out.set(data, 8);
  let crc = 0xffffffff;
  for (const byte of out.subarray(4, 8 + data.length)) crc = CRC_TABLE[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  out.writeUInt32BE((crc ^ 0xffffffff) >>> 0, 8 + data.length);
  return out;
}

async function main(names) {
  requireBuild();
  const unknown = names.filter((n) => !SHOTS.some((s) => s.name === n));
  if (unknown.length > 0) throw new Error(`No shot named ${unknown.join(', ')}; the shots are ${SHOTS.map((s) => s.name).join(', ')}.`);
  const server = await startServer({ root: WWW, port: 0 });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  mkdirSync(DOCS, { recursive: true });
  try {
    for (const shot of SHOTS.filter((s) => names.length === 0 || names.includes(s.name))) {
      const context = await browser.newContext({ ...shot.device, reducedMotion: 'reduce' });
      const page = await context.newPage();
      const problems = [];
      page.on('pageerror', (error) => problems.push(error.message));
      await page.goto(server.url);
      await drawn(page);
      await shot.steps(page);
      await quiet(page);
      await drawn(page);
      await steady(page);
      if (problems.length > 0) throw new Error(`${shot.name}: the page reported ${problems.join('; ')}`);
      const options = { animations: 'disabled', caret: 'hide', scale: 'device' };
      const taken = await page.screenshot({ ...options, ...(shot.panel ? { fullPage: true, clip: await around(page, shot.panel) } : {}) });
      // Chromium's own PNGs are already close to the best deflate can do; the smaller of the two is kept.
      const smaller = smallPng(taken);
      const png = smaller.length < taken.length ? smaller : taken;
      const file = join(DOCS, `${shot.name}.png`);
      writeFileSync(file, png);
      const { width, height } = decodePng(png);
      console.log(`${file}: ${width} × ${height}, ${png.length} bytes (${taken.length} as Chromium wrote it)`);
      await context.close();
    }
  } finally {
    await browser.close();
    await server.close();
  }
}

await main(process.argv.slice(2));
