// The proxy's client-facing listeners. HTTPS picks its certificate per connection from the
// runtime current at handshake time (SNI), so certificate changes need no restart either.
import { createServer, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { SecureContext } from 'node:tls';
import { listen, type HostPort } from '../net.js';
import type { ProxyHandler } from './handler.js';
import type { RuntimeHolder } from './runtime.js';
import { answerClientError, refuseConnect } from './strict-http.js';

export interface ListenAt {
  http: HostPort;
  https?: HostPort | null;
}

export interface Listeners {
  readonly http: Server;
  readonly https: HttpsServer | null;
  readonly urls: { http?: string; https?: string };
  /**
   * Drain: stop accepting (synchronously: a connection attempted after this call is refused),
   * close idle keep-alive connections now, tell every response not yet started that its
   * connection ends (`Connection: close`), close each busy connection once its response is
   * done, and cut whatever is still open after `graceMs`. `cut`: the grace ran out.
   */
  close(graceMs?: number): Promise<{ cut: boolean }>;
}

const DEFAULT_GRACE_MS = 10_000;

/** The responses under way on a server: the ones a drain still can mark `Connection: close`. */
function trackResponses(server: Server): Set<ServerResponse> {
  const active = new Set<ServerResponse>();
  // One shared listener function, so tracking allocates nothing per request beyond the set entry.
  function untrack(this: ServerResponse): void {
    active.delete(this);
  }
  server.on('request', (_req, res: ServerResponse) => {
    active.add(res);
    res.once('close', untrack);
  });
  return active;
}

function closeServer(server: Server, active: ReadonlySet<ServerResponse>, graceMs: number): Promise<{ cut: boolean }> {
  return new Promise((resolve) => {
    if (!server.listening) {
      server.closeAllConnections();
      resolve({ cut: false });
      return;
    }
    let cut = false;
    const timer = setTimeout(() => {
      cut = true;
      server.closeAllConnections();
    }, graceMs);
    // Node keeps a connection that was busy at close() open for keepAliveTimeout after its
    // response; sweep idle ones until the server is empty instead.
    const sweep = setInterval(() => server.closeIdleConnections(), 50);
    server.close(() => {
      clearTimeout(timer);
      clearInterval(sweep);
      resolve({ cut });
    });
    server.closeIdleConnections();
    // Node would still answer these "keep-alive"; a client reusing the connection would then race
    // the sweep. Requests still arriving on open connections are told the same.
    for (const res of active) if (!res.headersSent) res.setHeader('connection', 'close');
    server.on('request', (_req, res: ServerResponse) => res.setHeader('connection', 'close'));
  });
}

/** SNI → SecureContext from the current runtime; no certificate → the handshake fails. */
export function sniCallback(holder: RuntimeHolder) {
  return (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void): void => {
    const ctx = holder.current?.secureContext(servername) ?? null;
    if (ctx === null) cb(new Error(`no certificate for "${servername}"`));
    else cb(null, ctx);
  };
}

// The handler checks Host itself (strict-http.ts), so a missing one gets our JSON 400 too.
const SERVER_OPTIONS = { requireHostHeader: false };

/** CONNECT and what the parser refuses get the proxy's own answers (strict-http.ts). */
function answerOutsideRequests(server: Server | HttpsServer): void {
  server.on('connect', refuseConnect);
  server.on('clientError', answerClientError);
}

export async function startListeners(handler: ProxyHandler, holder: RuntimeHolder, at: ListenAt): Promise<Listeners> {
  const http = createServer(SERVER_OPTIONS, handler);
  answerOutsideRequests(http);
  const httpActive = trackResponses(http);
  const urls: { http?: string; https?: string } = {};
  urls.http = await listen(http, at.http, 'http');

  let https: HttpsServer | null = null;
  let httpsActive = new Set<ServerResponse>();
  if (at.https) {
    https = createHttpsServer({ ...SERVER_OPTIONS, SNICallback: sniCallback(holder) }, handler);
    answerOutsideRequests(https);
    httpsActive = trackResponses(https);
    try {
      urls.https = await listen(https, at.https, 'https');
    } catch (err) {
      await closeServer(http, httpActive, 0);
      throw err;
    }
  }

  return {
    http,
    https,
    urls,
    async close(graceMs = DEFAULT_GRACE_MS) {
      const results = await Promise.all([closeServer(http, httpActive, graceMs), https ? closeServer(https, httpsActive, graceMs) : { cut: false }]);
      return { cut: results.some((r) => r.cut) };
    },
  };
}
