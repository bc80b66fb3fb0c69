// Where the time of one drop goes, from Chromium's own trace (not a test; not timed by us): loads the page,
// waits for its sample, starts tracing (timeline, V8 and its sampling CPU profiler, user timing), drops one
// file through the file input, waits for the pixels, and reads the trace. It prints, for the page's main thread
// and the worker's thread, the time in each kind of top-level task (script, wasm compilation, GC, paint…), and
// the CPU profile's self time by function — wasm functions by name when the module keeps its name section
// (`bash benches/profile-build.sh` writes such a copy of www/ to /tmp/patchlens-profile/www).
//
//   node benches/profile.mjs [--www DIR] [--top 25] [--fresh] [--trace out.json] file[+file] ...
import { writeFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { startServer } from '../scripts/serve.mjs';

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run'];
const CATEGORIES = ['devtools.timeline', 'disabled-by-default-devtools.timeline', 'v8', 'v8.execute', 'v8.wasm',
  'disabled-by-default-v8.cpu_profiler', 'blink.user_timing', 'toplevel'];

const { values: flags, positionals: files } = parseArgs({
  allowPositionals: true,
  options: {
    www: { type: 'string', default: fileURLToPath(new URL('../www/', import.meta.url)) },
    top: { type: 'string', default: '25' },
    fresh: { type: 'boolean', default: false }, // drop on a page that has not drawn its sample
    trace: { type: 'string' },
    chromium: { type: 'string', default: process.env.CHROMIUM ?? '/usr/bin/chromium' },
  },
});

/** The threads of the page's renderer: its main thread and every worker thread, by tid. */
function threads(events) {
  const names = new Map();
  for (const e of events) if (e.ph === 'M' && e.name === 'thread_name') names.set(`${e.pid}:${e.tid}`, e.args.name);
  return names;
}

/** Self time per function from the sampling profiler's chunks, one table per thread. */
function cpuProfile(events, window) {
  const byThread = new Map(); // key → { nodes: Map(id → node), samples: [], deltas: [] }
  for (const e of events) {
    if (e.name !== 'ProfileChunk') continue;
    const key = e.id; // a chunk names its profile by id; the Profile event names the thread
    const profile = byThread.get(key) ?? { nodes: new Map(), samples: [], deltas: [], start: null };
    const data = e.args.data;
    for (const node of data.cpuProfile?.nodes ?? []) profile.nodes.set(node.id, node);
    profile.samples.push(...(data.cpuProfile?.samples ?? []));
    profile.deltas.push(...(data.timeDeltas ?? []));
    byThread.set(key, profile);
  }
  const threadOf = new Map();
  for (const e of events) {
    if (e.name === 'Profile') {
      threadOf.set(e.id, `${e.pid}:${e.tid}`);
      const profile = byThread.get(e.id);
      if (profile) profile.start = e.args.data.startTime;
    }
  }
  const tables = new Map();
  for (const [id, p] of byThread) {
    const key = threadOf.get(id);
    const self = new Map();
    let t = p.start ?? 0;
    for (let i = 0; i < p.samples.length; i += 1) {
      t += p.deltas[i] ?? 0;
      const next = t + (p.deltas[i + 1] ?? 0);
      if (t < window.start || t > window.end) continue;
      const node = p.nodes.get(p.samples[i]);
      const frame = node?.callFrame ?? {};
      const name = frame.functionName || `(${frame.url ? basename(frame.url) : 'program'})`;
      self.set(name, (self.get(name) ?? 0) + (next - t) / 1000);
    }
    tables.set(key, self);
  }
  return tables;
}

/** Time in each top-level event name inside the window, per thread (complete events and B/E pairs). */
function topLevel(events, window) {
  const totals = new Map();
  for (const e of events) {
    if (e.ph !== 'X' || e.ts < window.start || e.ts > window.end) continue;
    if (!['RunTask', 'ThreadControllerImpl::RunTask'].includes(e.name) && !e.cat.includes('devtools.timeline') && !e.cat.includes('v8')) continue;
    const key = `${e.pid}:${e.tid}`;
    const table = totals.get(key) ?? new Map();
    table.set(e.name, (table.get(e.name) ?? 0) + (e.dur ?? 0) / 1000);
    totals.set(key, table);
  }
  return totals;
}

const server = await startServer({ root: resolve(flags.www), port: 0 });
const browser = await chromium.launch({ executablePath: flags.chromium, args: CHROMIUM_ARGS });
try {
  for (const file of files) {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(flags.fresh ? `${server.url}?sample=none` : server.url);
    await page.waitForSelector('html[data-module="ready"]');
    if (!flags.fresh) await page.waitForFunction(() => document.getElementById('status').dataset.state === 'ready');
    await page.waitForTimeout(1000); // let the idle worker's warm-up finish
    await browser.startTracing(page, { categories: CATEGORIES });
    await page.evaluate(() => { document.getElementById('status').dataset.state = 'bench-waiting'; performance.mark('drop'); });
    await page.setInputFiles('#file-input', file.split('+').map((f) => resolve(f))); // a TF checkpoint: index+data
    await page.waitForFunction(() => ['ready', 'error'].includes(document.getElementById('status').dataset.state), null, { polling: 20 });
    const status = await page.evaluate(() => ({ ...document.getElementById('status').dataset }));
    const trace = JSON.parse((await browser.stopTracing()).toString());
    const events = trace.traceEvents ?? trace;
    if (flags.trace) writeFileSync(flags.trace, JSON.stringify(trace));
    const names = threads(events);
    const drop = events.find((e) => e.name === 'drop' && e.cat.includes('blink.user_timing'));
    const window = { start: drop?.ts ?? 0, end: (drop?.ts ?? 0) + Number(status.ms) * 1000 + 5000 };
    console.log(`\n## ${basename(file)}: drop → pixels ${status.ms} ms (worker: open ${status.openMs} ms, render ${status.renderMs} ms)`);
    const wanted = (key) => /CrRendererMain|DedicatedWorker/.test(names.get(key) ?? '');
    for (const [key, table] of topLevel(events, window)) {
      if (!wanted(key)) continue;
      const rows = [...table].filter(([, ms]) => ms >= 0.5).sort((a, b) => b[1] - a[1]).slice(0, 12);
      console.log(`\n${names.get(key)} — trace events (ms, nested events counted in each):`);
      for (const [name, ms] of rows) console.log(`  ${ms.toFixed(1).padStart(7)}  ${name}`);
    }
    for (const [key, table] of cpuProfile(events, window)) {
      if (!wanted(key)) continue;
      const rows = [...table].filter(([name]) => name !== '(idle)').sort((a, b) => b[1] - a[1]).slice(0, Number(flags.top));
      const busy = [...table].filter(([name]) => name !== '(idle)').reduce((s, [, ms]) => s + ms, 0);
      console.log(`\n${names.get(key)} — CPU profile, self time (ms; ${busy.toFixed(1)} ms sampled busy):`);
      for (const [name, ms] of rows) console.log(`  ${ms.toFixed(1).padStart(7)}  ${name}`);
    }
    await page.close();
  }
} finally {
  await browser.close();
  await server.close();
}
