// A checkpoint host for URL-mode tests (issue 8): serves files by ranges with CORS and ETags like a model
// hub's CDN — several ranges in one request as nginx answers them (206 multipart/byteranges, the parts in the
// order asked; the whole file when they add up to more than it) — plus switches for each way a real server
// can fall short, a second origin that the first redirects to (as the hub sends `resolve/…` to its CDN), and
// a mock of the hub's model API. Every request is logged (method, path, range, status, body bytes) so tests
// can check what crossed the network, and with how many requests in flight when it came (`inFlight`, itself
// included: more than 1 means a client sent requests concurrently).
//
// Routes on the main origin (the CDN origin serves only /files/ and the switches):
//   /files/NAME                   the file, by ranges                 /redirect/NAME   302 → CDN /files/NAME
//   /norange/NAME                 ignores Range: 200 with the body     /nocors/NAME     no Access-Control-Allow-Origin
//   /noexpose/NAME                Content-Range not exposed to scripts /changing/NAME   another ETag after the first reply
//   /status/CODE/NAME             answers CODE                         /cut/NAME        drops the connection after the first reply
//   /api/models/OWNER/NAME        the hub's file listing               /OWNER/NAME/resolve/REV/PATH → 302 to the CDN
//   /__log, /__reset              the request log as JSON; clear it (and the /changing/ and /cut/ counters)
// Any route takes ?delay=MS (a wait before answering, for latency benchmarks); file routes take ?rate=BYTES
// (a body sent at that many bytes per second, so a download's progress can be watched) and ?multirange=whole
// (several ranges answered with the whole file, 200, as S3 and GCS do) or ?multirange=first (only the first
// range, a plain 206).
//
//   node tests/server/checkpoint-server.mjs --root DIR [--hub hub.json]   prints {"origin", "cdn"} and serves
import { once } from 'node:events';
import { createServer } from 'node:http';
import { createReadStream, readFileSync } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const CORS = { 'Access-Control-Allow-Origin': '*' };
const EXPOSED = { 'Access-Control-Expose-Headers': 'Content-Range, Content-Length, ETag, Accept-Ranges' };

/** The ranges of a `Range: bytes=…` header as [[first, last], …] within size, in the order asked, as nginx's
 *  range filter reads them: null for no header or one that is not `bytes=`, or when the ranges add up to more
 *  than the file (then the whole file is sent); 'unsatisfiable' for a malformed list or when none starts
 *  inside the file. */
function parseRanges(header, size) {
  const value = header?.trim() ?? '';
  if (!/^bytes=/i.test(value)) return null;
  const ranges = [];
  for (const spec of value.slice(6).split(',')) {
    const match = /^\s*(\d*)\s*-\s*(\d*)\s*$/.exec(spec);
    if (!match || (match[1] === '' && match[2] === '')) return 'unsatisfiable';
    if (match[1] === '') { // a suffix: the last N bytes
      if (Number(match[2]) > 0 && size > 0) ranges.push([Math.max(0, size - Number(match[2])), size - 1]);
      continue;
    }
    const first = Number(match[1]);
    const last = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
    if (match[2] !== '' && Number(match[2]) < first) return 'unsatisfiable';
    if (first < size) ranges.push([first, last]);
  }
  if (ranges.length === 0) return 'unsatisfiable';
  return ranges.reduce((sum, [a, b]) => sum + b - a + 1, 0) > size ? null : ranges;
}

/** A writer to `res` at `rate` bytes per second (when given): after each chunk it waits as long as the chunk
 *  takes at that rate, in steps of at least 10 ms, so many small writes cost their bytes' time, not a pause each. */
function throttled(res, rate) {
  let owed = 0; // ms
  return async (chunk) => {
    if (!res.write(chunk)) await once(res, 'drain');
    if (!(rate > 0)) return;
    owed += (chunk.length / rate) * 1000;
    if (owed >= 10) {
      await new Promise((done) => setTimeout(done, owed));
      owed = 0;
    }
  };
}

/** Maps a name to a file under root, or null when it would escape it. */
function under(root, name) {
  const full = normalize(join(root, name));
  return full.startsWith(root + sep) ? full : null;
}

/**
 * Starts the main origin and the CDN origin. `hub` maps model ids to { files: { hubPath: fixtureName } }.
 * Resolves to { origin, cdn, log, reset(), close() }; `log` is the live array of requests to both.
 */
export async function startCheckpointServer({ root, hub = {}, host = '127.0.0.1' }) {
  const absRoot = resolve(root);
  const log = [];
  const seen = new Map(); // path → replies sent, for /changing/ and /cut/
  let boundaries = 0; // each multipart reply gets its own boundary, as nginx's counter gives
  let cdnOrigin = '';
  let inFlight = 0; // requests received and not yet answered, on both origins

  async function serveFile(req, res, name, mode, origin) {
    const path = under(absRoot, decodeURIComponent(name));
    const info = path && (await stat(path).catch(() => null));
    const entry = { origin, method: req.method, path: req.url, range: req.headers.range ?? null, status: 0, bytes: 0, inFlight };
    log.push(entry);
    const headers = { ...(mode === 'nocors' ? {} : CORS), ...(mode === 'nocors' || mode === 'noexpose' ? {} : EXPOSED) };
    if (!info?.isFile()) {
      entry.status = 404;
      res.writeHead(404, { ...headers, 'Content-Type': 'text/plain' });
      return res.end('Not found\n');
    }
    const count = (seen.get(req.url.split('?')[0]) ?? 0) + 1;
    seen.set(req.url.split('?')[0], count);
    if (mode === 'cut' && count > 1) {
      entry.status = -1;
      return req.socket.destroy();
    }
    const etag = `"${info.size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}${mode === 'changing' && count > 1 ? '-v2' : ''}"`;
    const query = new URL(req.url, 'http://localhost').searchParams;
    let ranges = mode === 'norange' ? null : parseRanges(req.headers.range, info.size);
    if (Array.isArray(ranges) && ranges.length > 1) {
      if (query.get('multirange') === 'whole') ranges = null;
      if (query.get('multirange') === 'first') ranges = ranges.slice(0, 1);
    }
    // no-store: a browser cache that revalidated ranges would add requests the tests could not predict.
    const base = { ...headers, ETag: etag, 'Content-Type': 'application/octet-stream', 'Cache-Control': 'no-store' };
    if (mode !== 'norange') base['Accept-Ranges'] = 'bytes';
    if (ranges === 'unsatisfiable') {
      entry.status = 416;
      res.writeHead(416, { ...base, 'Content-Range': `bytes */${info.size}` });
      return res.end();
    }
    const rate = Number(query.get('rate') ?? 0);
    if (ranges?.length > 1) return serveParts(req, res, path, info.size, ranges, base, entry, rate);
    const [first, last] = ranges?.[0] ?? [0, info.size - 1];
    entry.status = ranges ? 206 : 200;
    entry.bytes = req.method === 'HEAD' ? 0 : last - first + 1;
    res.writeHead(entry.status, {
      ...base, 'Content-Length': last - first + 1, ...(ranges ? { 'Content-Range': `bytes ${first}-${last}/${info.size}` } : {}),
    });
    if (req.method === 'HEAD' || info.size === 0) return res.end();
    const stream = createReadStream(path, { start: first, end: last, highWaterMark: rate > 0 ? Math.max(1, Math.floor(rate / 10)) : undefined });
    stream.on('error', () => res.destroy());
    if (rate > 0) {
      // A tenth of a second's worth at a time, each chunk taking its time at the rate (a short reply, less).
      const send = throttled(res, rate);
      res.on('close', () => stream.destroy());
      (async () => {
        for await (const chunk of stream) await send(chunk);
        res.end();
      })().catch(() => res.destroy());
    } else {
      stream.pipe(res);
    }
  }

  /** Several ranges as nginx sends them: 206 multipart/byteranges, each part CRLF `--boundary` CRLF, its
   *  Content-Type and Content-Range, a blank line and its bytes, in the order asked; CRLF `--boundary--` CRLF
   *  at the end. A HEAD gets the same headers, Content-Length included. */
  async function serveParts(req, res, path, size, ranges, base, entry, rate) {
    boundaries += 1;
    const boundary = String(boundaries).padStart(20, '0');
    const head = ([first, last]) => Buffer.from(`\r\n--${boundary}\r\nContent-Type: ${base['Content-Type']}\r\n`
      + `Content-Range: bytes ${first}-${last}/${size}\r\n\r\n`);
    const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
    const length = ranges.reduce((sum, r) => sum + head(r).length + r[1] - r[0] + 1, tail.length);
    entry.status = 206;
    entry.bytes = req.method === 'HEAD' ? 0 : length;
    res.writeHead(206, { ...base, 'Content-Type': `multipart/byteranges; boundary=${boundary}`, 'Content-Length': length });
    if (req.method === 'HEAD') return res.end();
    const file = await open(path);
    const send = throttled(res, rate);
    try {
      for (const [first, last] of ranges) {
        await send(head([first, last]));
        for (let at = first; at <= last; at += 1 << 20) {
          const chunk = Buffer.alloc(Math.min(1 << 20, last - at + 1));
          const { bytesRead } = await file.read(chunk, 0, chunk.length, at);
          await send(chunk.subarray(0, bytesRead));
        }
      }
      await send(tail);
    } finally {
      await file.close();
    }
    res.end();
  }

  function redirect(res, location, origin, req) {
    log.push({ origin, method: req.method, path: req.url, range: req.headers.range ?? null, status: 302, bytes: 0 });
    res.writeHead(302, { ...CORS, Location: location });
    res.end();
  }

  function json(res, status, value) {
    const body = JSON.stringify(value);
    res.writeHead(status, { ...CORS, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  }

  async function handle(req, res, origin) {
    const url = new URL(req.url, 'http://localhost');
    const delay = Number(url.searchParams.get('delay') ?? 0);
    if (delay > 0) await new Promise((done) => setTimeout(done, delay));
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { ...CORS, 'Access-Control-Allow-Headers': 'Range', 'Access-Control-Allow-Methods': 'GET, HEAD' });
      return res.end();
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(res, 405, { error: 'method not allowed' });
    const parts = url.pathname.split('/').slice(1);
    const rest = (n) => parts.slice(n).join('/');
    if (url.pathname === '/__log') return json(res, 200, log);
    if (url.pathname === '/__reset') { log.length = 0; seen.clear(); return json(res, 200, {}); }
    switch (parts[0]) {
      case 'files': return serveFile(req, res, rest(1), 'files', origin);
      case 'norange': case 'nocors': case 'noexpose': case 'changing': case 'cut':
        return serveFile(req, res, rest(1), parts[0], origin);
      case 'status': {
        log.push({ origin, method: req.method, path: req.url, range: req.headers.range ?? null, status: Number(parts[1]), bytes: 0 });
        return json(res, Number(parts[1]), { error: `status ${parts[1]}` });
      }
      default: break;
    }
    if (origin === 'cdn') return json(res, 404, { error: 'not found' });
    if (parts[0] === 'redirect') return redirect(res, `${cdnOrigin}/files/${rest(1)}${url.search}`, origin, req);
    if (parts[0] === 'api' && parts[1] === 'models') {
      const id = parts.slice(2, 4).join('/');
      log.push({ origin, method: req.method, path: req.url, range: null, status: hub[id] ? 200 : 401, bytes: 0 });
      // The hub answers 401 for a model that does not exist or is private to someone else.
      if (!hub[id]) return json(res, 401, { error: 'Repository not found' });
      // With ?blobs=true the hub adds each file's size, as the real one does.
      const blobs = url.searchParams.get('blobs') === 'true';
      const siblings = await Promise.all(Object.entries(hub[id].files).map(async ([rfilename, fixture]) => {
        const info = blobs ? await stat(under(absRoot, fixture) ?? '').catch(() => null) : null;
        return info ? { rfilename, size: info.size } : { rfilename };
      }));
      return json(res, 200, { id, sha: 'mock', siblings });
    }
    if (parts[2] === 'resolve' && parts.length >= 5) {
      const id = parts.slice(0, 2).join('/');
      const fixture = hub[id]?.files[parts.slice(4).join('/')];
      if (!fixture) return json(res, 404, { error: 'Entry not found' });
      return redirect(res, `${cdnOrigin}/files/${encodeURIComponent(fixture)}${url.search}`, origin, req);
    }
    return json(res, 404, { error: 'not found' });
  }

  const listen = (which) => new Promise((done, fail) => {
    const server = createServer((req, res) => {
      inFlight += 1;
      res.once('close', () => { inFlight -= 1; });
      handle(req, res, which).catch(() => { if (!res.headersSent) json(res, 500, { error: 'internal' }); else res.destroy(); });
    });
    server.once('error', fail);
    server.listen(0, host, () => done(server));
  });
  const main = await listen('main');
  const cdn = await listen('cdn');
  cdnOrigin = `http://${host}:${cdn.address().port}`;
  const close = (server) => new Promise((done) => { server.closeAllConnections(); server.close(() => done()); });
  return {
    origin: `http://${host}:${main.address().port}`,
    cdn: cdnOrigin,
    log,
    reset: () => { log.length = 0; seen.clear(); },
    close: () => Promise.all([close(main), close(cdn)]),
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { root: { type: 'string' }, hub: { type: 'string' } } });
  if (!values.root) {
    console.error('usage: node tests/server/checkpoint-server.mjs --root DIR [--hub hub.json]');
    process.exit(2);
  }
  const hub = values.hub ? JSON.parse(readFileSync(values.hub, 'utf8')) : {};
  const { origin, cdn } = await startCheckpointServer({ root: values.root, hub });
  console.log(JSON.stringify({ origin, cdn }));
}
