// A first visit, timed: each run opens the page in a new browser context (empty cache, no code cache, as a
// first visit) and reports, by the page's own clock (its performance marks, from navigation start), when the
// first module reported itself ready and when the sample's pixels were put on the canvas — the moment every
// drop → pixels figure ends at. The driver keeps its hands off the page until then: Playwright's waiting
// functions inject and run its script in the page, on the main thread the first visit is busy with (waiting that
// way, the same build measured 340 ms instead of 197), so it only sleeps and reads the marks afterwards. Not a test.
//
//   node benches/fresh.mjs [--runs 7] [--www www/]
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { startServer } from '../scripts/serve.mjs';

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run'];
const { values: flags } = parseArgs({
  options: {
    runs: { type: 'string', default: '7' },
    www: { type: 'string', default: fileURLToPath(new URL('../www/', import.meta.url)) },
    chromium: { type: 'string', default: process.env.CHROMIUM ?? '/usr/bin/chromium' },
  },
});
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const server = await startServer({ root: flags.www, port: 0 });
const browser = await chromium.launch({ executablePath: flags.chromium, args: CHROMIUM_ARGS });
const drawn = [];
const loaded = [];
try {
  for (let i = 0; i < Number(flags.runs); i += 1) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    await page.goto(server.url, { waitUntil: 'commit' });
    const marks = () => page.evaluate(() => ({
      drawn: performance.getEntriesByName('patchlens-sample-drawn')[0]?.startTime,
      module: performance.getEntriesByName('patchlens-module-ready')[0]?.startTime,
      state: document.getElementById('status')?.dataset.state,
      alert: document.getElementById('alert')?.textContent,
    }));
    let times;
    for (let waited = 0; ; waited += 1) {
      await new Promise((resolve) => setTimeout(resolve, 2000)); // hands off while the page loads
      times = await marks();
      if (times.drawn !== undefined) break;
      if (times.state === 'error' || waited === 30) throw new Error(`The sample was not drawn: ${times.alert || times.state}`);
    }
    drawn.push(times.drawn);
    loaded.push(times.module);
    console.error(`run ${i + 1}: sample drawn at ${times.drawn.toFixed(0)} ms (module ready at ${times.module?.toFixed(0)} ms)`);
    await context.close();
  }
} finally {
  await browser.close();
  await server.close();
}
const range = (xs) => `${median(xs).toFixed(0)} (${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)})`;
console.log('| runs | first module ready, median ms (min–max) | sample drawn, median ms (min–max) |');
console.log('|---|---|---|');
console.log(`| ${flags.runs} | ${range(loaded)} | ${range(drawn)} |`);
