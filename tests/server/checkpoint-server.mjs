// A checkpoint host for URL-mode tests (issue 8): serves files with single-range GETs, CORS and ETags like a
// model hub's CDN, plus switches for each way a real server can fall short, a second origin that the first
// redirects to (as the hub sends `resolve/…` to its CDN), and a mock of the hub's model API. Every request
// is logged (method, path, range, status, body bytes) so tests can check what crossed the network.
//
// Routes on the main origin (the CDN origin serves only /files/ and the switches):
//   /files/NAME                   the file, by ranges                 /redirect/NAME   302 → CDN /files/NAME
//   /norange/NAME                 ignores Range: 200 with the body     /nocors/NAME     no Access-Control-Allow-Origin
//   /noexpose/NAME                Content-Range not exposed to scripts /changing/NAME   another ETag after the first reply
//   /status/CODE/NAME             answers CODE                         /cut/NAME        drops the connection after the first reply
//   /api/models/OWNER/NAME        the hub's file listing               /OWNER/NAME/resolve/REV/PATH → 302 to the CDN
//   /__log, /__reset              the request log as JSON; clear it (and the /changing/ and /cut/ counters)
// Any route takes ?delay=MS (a wait before answering, for latency benchmarks); file routes take ?rate=BYTES
// (a body sent at that many bytes per second, so a download's progress can be watched).
//
//   node tests/server/checkpoint-server.mjs --root DIR [--hub hub.json]   prints {"origin", "cdn"} and serves
import { createServer } from 'node:http';
import { createReadStream, readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const CORS = { 'Access-Control-Allow-Origin': '*' };
const EXPOSED = { 'Access-Control-Expose-Headers': 'Content-Range, Content-Length, ETag, Accept-Ranges' };

/** One range of a `Range: bytes=…` header as [first, last] within size; null for none or several ranges;
 *  'unsatisfiable' when it starts past the end. */
function parseRange(header, size) {
  const match = /^bytes=(\d*)-(\d*)$/.exec(header?.trim() ?? '');
  if (!match || (match[1] === '' && match[2] === '')) return null;
  if (match[1] === '') return [Math.max(0, size - Number(match[2])), size - 1]; // a suffix: the last N bytes
  const first = Number(match[1]);
  if (first >= size) return 'unsatisfiable';
  return [first, match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1)];
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
  let cdnOrigin = '';

  async function serveFile(req, res, name, mode, origin) {
    const path = under(absRoot, decodeURIComponent(name));
    const info = path && (await stat(path).catch(() => null));
    const entry = { origin, method: req.method, path: req.url, range: req.headers.range ?? null, status: 0, bytes: 0 };
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
    const range = mode === 'norange' ? null : parseRange(req.headers.range, info.size);
    // no-store: a browser cache that revalidated ranges would add requests the tests could not predict.
    const base = { ...headers, ETag: etag, 'Content-Type': 'application/octet-stream', 'Cache-Control': 'no-store' };
    if (mode !== 'norange') base['Accept-Ranges'] = 'bytes';
    if (range === 'unsatisfiable') {
      entry.status = 416;
      res.writeHead(416, { ...base, 'Content-Range': `bytes */${info.size}` });
      return res.end();
    }
    const [first, last] = range ?? [0, info.size - 1];
    entry.status = range ? 206 : 200;
    entry.bytes = req.method === 'HEAD' ? 0 : last - first + 1;
    res.writeHead(entry.status, {
      ...base, 'Content-Length': last - first + 1, ...(range ? { 'Content-Range': `bytes ${first}-${last}/${info.size}` } : {}),
    });
    if (req.method === 'HEAD' || info.size === 0) return res.end();
    const rate = Number(new URL(req.url, 'http://localhost').searchParams.get('rate') ?? 0);
    const stream = createReadStream(path, { start: first, end: last, highWaterMark: rate > 0 ? Math.max(1, Math.floor(rate / 10)) : undefined });
    stream.on('error', () => res.destroy());
    if (rate > 0) {
      // A tenth of a second's worth at a time.
      stream.on('data', (chunk) => { stream.pause(); res.write(chunk); setTimeout(() => stream.resume(), 100); });
      stream.on('end', () => res.end());
      res.on('close', () => stream.destroy());
    } else {
      stream.pipe(res);
    }
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
