// The data plane in one process without etcd: a Config compiled into a runtime, served by the
// real listeners on 127.0.0.1, forwarding to real HTTP servers; requests over real sockets,
// through node:http or as raw bytes.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import {
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type RequestListener,
  type Server,
} from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import type { TestContext } from 'node:test';
import { pino } from 'pino';
import type { Config } from '../../src/config/schema.js';
import { validateDocument } from '../../src/config/validate.js';
import type { TrustedProxies } from '../../src/proxy/forwarded.js';
import { createProxyHandler } from '../../src/proxy/handler.js';
import { startListeners, type Listeners } from '../../src/proxy/listeners.js';
import { ProxyMetrics } from '../../src/proxy/metrics.js';
import { RuntimeHolder, compileRuntime, type CompileOptions, type Runtime } from '../../src/proxy/runtime.js';
import { TargetRegistry } from '../../src/proxy/target-registry.js';
import { createUpgradeHandler } from '../../src/proxy/upgrade.js';
import { upstreamMetricsText } from '../../src/proxy/upstream-status.js';

const logger = pino({ level: 'silent' });

export function deferred<V = void>() {
  let resolve!: (v: V) => void;
  const promise = new Promise<V>((r) => (resolve = r));
  return { promise, resolve };
}

export interface TestServer {
  url: string;
  server: Server;
  /** Server-side sockets ever accepted. */
  accepted: Socket[];
}

export async function upstream(t: TestContext, handler: RequestListener, port = 0): Promise<TestServer> {
  const server = createServer(handler);
  const accepted: Socket[] = [];
  server.on('connection', (s: Socket) => accepted.push(s));
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, accepted };
}

/** Answers with its name, and echoes what it received as JSON on /echo. */
export function named(name: string): RequestListener {
  return (req, res) => {
    if (req.url?.startsWith('/echo')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ name, url: req.url, method: req.method, headers: req.headers }));
      return;
    }
    res.end(name);
  };
}

/** A port nothing listens on (bound, then released). */
export async function deadUrl(): Promise<string> {
  const s = createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return `http://127.0.0.1:${port}`;
}

export function config(doc: unknown): Config {
  const r = validateDocument(doc);
  assert.ok(r.ok, JSON.stringify(!r.ok && r.issues));
  return r.config;
}

let version = 0;
export function compile(doc: unknown, previous?: Runtime | null, opts?: CompileOptions): Runtime {
  version++;
  return compileRuntime(config(doc), { version, hash: `h${version}`, revision: version }, previous, opts);
}

export interface Proxy {
  url: string;
  httpsUrl: string | undefined;
  holder: RuntimeHolder;
  metrics: ProxyMetrics;
  /** Where its runtimes share targets. */
  targets: TargetRegistry;
  /** Compile `doc` against the runtime served and swap to it, as a proxy applies a new config. */
  swap(doc: unknown): Runtime;
  listeners: Listeners;
}

export async function proxy(
  t: TestContext,
  doc: unknown | null,
  opts: { https?: boolean; trustedProxies?: TrustedProxies; upstream?: CompileOptions['upstream']; targets?: TargetRegistry } = {},
): Promise<Proxy> {
  const holder = new RuntimeHolder();
  const targets = opts.targets ?? new TargetRegistry();
  const swap = (next: unknown) => {
    const rt = compile(next, holder.current, { targets, upstream: opts.upstream });
    holder.swap(rt);
    return rt;
  };
  if (doc !== null) swap(doc);
  const metrics = new ProxyMetrics({ processMetrics: false });
  metrics.addSource(() => upstreamMetricsText(holder.current));
  const handling = { logger, metrics, trustedProxies: opts.trustedProxies };
  const listeners = await startListeners(
    createProxyHandler(holder, handling),
    holder,
    { http: { host: '127.0.0.1', port: 0 }, https: opts.https ? { host: '127.0.0.1', port: 0 } : null },
    createUpgradeHandler(holder, handling),
  );
  t.after(async () => {
    await listeners.close(0);
    await holder.close();
  });
  return { url: listeners.urls.http!, httpsUrl: listeners.urls.https, holder, metrics, targets, swap, listeners };
}

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export function read(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (c: string) => (body += c));
    res.on('end', () => resolve(body));
    res.on('error', reject);
  });
}

/** One request on a fresh connection (no agent), response read whole; `path` is sent as written. */
export function send(
  base: string,
  path: string,
  opts: { method?: string; headers?: OutgoingHttpHeaders; body?: string; localAddress?: string } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(base, { path, method: opts.method ?? 'GET', headers: opts.headers, agent: false, localAddress: opts.localAddress }, (res) => {
      read(res).then((body) => {
        resolve({ status: res.statusCode!, headers: res.headers, body });
        req.destroy();
      }, reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

export const json = (r: Reply): unknown => JSON.parse(r.body);

/**
 * Send `bytes` as they are on a new connection and read the first response: status, lowercased
 * headers and body (responses with Content-Length, as the proxy's own are). Status 0 when the
 * server closed without a complete response.
 */
export function rawRequest(base: string, bytes: string): Promise<Reply> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let text = '';
    socket.on('data', (c: Buffer) => {
      text += c.toString('latin1');
      const reply = parseResponse(text);
      if (reply !== null) {
        socket.destroy();
        resolve(reply);
      }
    });
    // A server that answers before reading everything resets the connection: what came first
    // is still the answer.
    socket.on('error', (err) => {
      const reply = parseResponse(text);
      if (reply !== null) resolve(reply);
      else reject(err);
    });
    socket.on('close', () => resolve(parseResponse(text) ?? { status: 0, headers: {}, body: text }));
    socket.write(Buffer.from(bytes, 'latin1'));
  });
}

function parseResponse(text: string): Reply | null {
  const headEnd = text.indexOf('\r\n\r\n');
  if (headEnd < 0) return null;
  const [statusLine, ...lines] = text.slice(0, headEnd).split('\r\n');
  const headers: IncomingHttpHeaders = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  const length = Number(headers['content-length'] ?? 0);
  if (text.length < headEnd + 4 + length) return null;
  return { status: Number(statusLine!.split(' ')[1]), headers, body: text.slice(headEnd + 4, headEnd + 4 + length) };
}
