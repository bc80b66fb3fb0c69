// Static file server for the www/ demo: no dependencies, no uploads, loopback by default.
// `node scripts/serve.mjs` serves www/ on $PORT (default 8080); tests import startServer({root, port: 0}).
import { createServer } from 'node:http';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const DEFAULT_ROOT = fileURLToPath(new URL('../www/', import.meta.url));
const DEFAULT_PORT = 8080;
// Loopback only: the demo never needs to be reachable from another machine.
const DEFAULT_HOST = '127.0.0.1';

const MIME_TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.ts': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.wasm': 'application/wasm',
  '.npz': 'application/octet-stream',
  '.npy': 'application/octet-stream',
  '.safetensors': 'application/octet-stream',
  '.pt': 'application/octet-stream',
};

/** Maps a URL path to a file under root, or null when it would escape root. */
function resolveUnder(root, urlPath) {
  let decoded;
  try {
    decoded = decodeURIComponent(urlPath.split('?')[0].split('#')[0]);
  } catch {
    return null;
  }
  if (decoded.includes('\0')) return null;
  const full = normalize(join(root, decoded));
  return full === root || full.startsWith(root + sep) ? full : null;
}

async function findFile(path) {
  const info = await stat(path).catch(() => null);
  if (info?.isDirectory()) return findFile(join(path, 'index.html'));
  return info?.isFile() ? { path, size: info.size } : null;
}

function send(res, status, text) {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

async function handle(root, req, res) {
  if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'Method not allowed\n');
  const path = resolveUnder(root, new URL(req.url, 'http://localhost').pathname);
  const file = path && (await findFile(path));
  if (!file) return send(res, 404, 'Not found\n');
  res.writeHead(200, {
    'Content-Type': MIME_TYPES[extname(file.path).toLowerCase()] ?? 'application/octet-stream',
    'Content-Length': file.size,
    'Cache-Control': 'no-cache',
    'X-Content-Type-Options': 'nosniff',
  });
  if (req.method === 'HEAD') return res.end();
  createReadStream(file.path)
    .on('error', () => res.destroy())
    .pipe(res);
}

/**
 * Starts serving `root`. Resolves to { server, port, url, close() } once listening.
 * port 0 picks a free port (for tests); onRequest(req) sees every request, before it is answered.
 */
export function startServer({ root = DEFAULT_ROOT, port = DEFAULT_PORT, host = DEFAULT_HOST, onRequest } = {}) {
  const absRoot = resolve(root);
  const server = createServer((req, res) => {
    onRequest?.(req);
    handle(absRoot, req, res).catch(() => send(res, 500, 'Internal error\n'));
  });
  return new Promise((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const actual = server.address().port;
      resolvePromise({
        server,
        port: actual,
        url: `http://${host}:${actual}/`,
        close: () => new Promise((done) => { server.closeAllConnections(); server.close(() => done()); }),
      });
    });
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const port = process.env.PORT ? Number(process.env.PORT) : DEFAULT_PORT;
  const { url } = await startServer({ port, host: process.env.HOST ?? DEFAULT_HOST });
  console.log(`patchlens: serving ${DEFAULT_ROOT} at ${url}`);
}
