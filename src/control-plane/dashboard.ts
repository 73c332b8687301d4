// The dashboard's static files, served as they are from dashboard/ at the repository root: plain
// HTML, CSS and a browser ES module, so there is no build step for anyone to forget.
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HttpError, sendError } from './http.js';

// From dist/src/control-plane/ (tsc leaves assets where they are).
export const DASHBOARD_DIR = fileURLToPath(new URL('../../../dashboard/', import.meta.url));

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

// The page holds a bearer token: only its own scripts may run, and no other site may frame it.
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  // Small files that change with the control plane's version: always revalidate.
  'cache-control': 'no-cache',
};

export function dashboardHandler(dir = DASHBOARD_DIR): (req: IncomingMessage, res: ServerResponse) => void {
  const root = resolve(dir);
  return (req, res) => {
    serve(root, req, res).catch((err: unknown) => {
      if (res.headersSent) res.destroy();
      else sendError(res, err instanceof HttpError ? err : new HttpError(500, `internal error: ${(err as Error).message}`));
    });
  };
}

async function serve(root: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, `${req.method} not allowed here`, [], { allow: 'GET, HEAD' });
  const file = resolveFile(root, req.url ?? '/');
  const type = CONTENT_TYPES[extname(file)];
  if (!type) throw new HttpError(404, 'not found');
  let body: Buffer;
  try {
    body = await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EISDIR' || code === 'ENOTDIR') throw new HttpError(404, 'not found');
    throw err;
  }
  res.writeHead(200, { 'content-type': type, 'content-length': body.length, ...SECURITY_HEADERS });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** The file a URL path names inside `root`; anything that would leave it is a 404. */
function resolveFile(root: string, url: string): string {
  let path: string;
  try {
    path = decodeURIComponent(new URL(url, 'http://dashboard').pathname);
  } catch {
    throw new HttpError(400, 'malformed URL path');
  }
  if (path === '/') path = '/index.html';
  const file = join(root, path);
  // join() normalizes "..", including ones that only appear after decoding (%2e%2e%2f).
  if (!file.startsWith(root + sep) || path.includes('\0')) throw new HttpError(404, 'not found');
  return file;
}
