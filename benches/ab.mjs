// Builds side by side (not a test): each file dropped after the sample on each build of the site in turn, run by
// run, so that the machine's drift falls on every build alike; prints each build's median drop → pixels and its
// steps (the status line's data-steps, as benches/drop.mjs reads them).
//
//   node benches/ab.mjs --www /tmp/base-www,www [--runs 9] [--settle 1500] file ...
//   (a baseline's site: `git worktree add /tmp/base <commit>`, then `bash scripts/build.sh` there)
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { startServer } from '../scripts/serve.mjs';

const { values: flags, positionals: files } = parseArgs({
  allowPositionals: true,
  options: {
    www: { type: 'string' },
    runs: { type: 'string', default: '9' },
    // How long the page is left idle after its sample before the drop (the worker warms up meanwhile).
    settle: { type: 'string', default: '1500' },
    chromium: { type: 'string', default: process.env.CHROMIUM ?? '/usr/bin/chromium' },
  },
});
if (!flags.www || files.length === 0) {
  console.error('usage: node benches/ab.mjs --www A,B [--runs N] [--settle MS] checkpoint ...');
  process.exit(2);
}
const builds = flags.www.split(',');
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const servers = await Promise.all(builds.map((root) => startServer({ root, port: 0 })));
const browser = await chromium.launch({ executablePath: flags.chromium,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const ready = (states) => page.waitForFunction((s) => s.includes(document.getElementById('status').dataset.state),
    states, { timeout: 60_000, polling: 20 });
  const rows = [];
  for (const path of files) {
    const results = builds.map(() => []);
    for (let run = 0; run < Number(flags.runs); run += 1) {
      for (const [b, server] of servers.entries()) {
        await page.goto(server.url);
        await ready(['ready']);
        await page.waitForTimeout(Number(flags.settle));
        await page.evaluate(() => { document.getElementById('status').dataset.state = 'bench-waiting'; });
        await page.setInputFiles('#file-input', path.split('+'));
        await ready(['ready', 'error']);
        const data = await page.evaluate(() => ({ ...document.getElementById('status').dataset }));
        if (data.state !== 'ready') throw new Error(`${basename(path)} on ${builds[b]}: not drawn`);
        results[b].push({ ms: Number(data.ms), steps: JSON.parse(data.steps ?? '{}') });
      }
    }
    for (const [b, runs] of results.entries()) {
      const steps = [...new Set(runs.flatMap((r) => Object.keys(r.steps)))];
      const step = (k) => median(runs.map((r) => r.steps[k]).filter((x) => typeof x === 'number')).toFixed(1);
      rows.push([path.split('+').map((p) => basename(p)).join(' + '), builds[b], median(runs.map((r) => r.ms)),
        `${Math.min(...runs.map((r) => r.ms))}–${Math.max(...runs.map((r) => r.ms))}`,
        steps.filter((k) => k !== 'scale').map((k) => `${k} ${step(k)}`).join(', ')]);
    }
  }
  const header = ['file', 'build', 'drop → pixels, median ms', 'min–max', 'steps, median ms'];
  console.log(`| ${header.join(' | ')} |`);
  console.log(`|${header.map(() => '---').join('|')}|`);
  for (const row of rows) console.log(`| ${row.join(' | ')} |`);
} finally {
  await browser.close();
  await Promise.all(servers.map((s) => s.close()));
}
