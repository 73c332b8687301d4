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
   * Stop accepting, close idle keep-alive connections now, let active requests finish, and
   * cut whatever is still open after `graceMs`.
   */
  close(graceMs?: number): Promise<void>;
}

const DEFAULT_GRACE_MS = 10_000;

function closeServer(server: Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      server.closeAllConnections();
      resolve();
      return;
    }
    const timer = setTimeout(() => server.closeAllConnections(), graceMs);
    // Node keeps a connection that was busy at close() open for keepAliveTimeout after its
    // response; sweep idle ones until the server is empty instead.
    const sweep = setInterval(() => server.closeIdleConnections(), 50);
    server.close(() => {
      clearTimeout(timer);
      clearInterval(sweep);
      resolve();
    });
    server.closeIdleConnections();
    // Requests still arriving on open keep-alive connections are told this is the last one.
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
  const urls: { http?: string; https?: string } = {};
  urls.http = await listen(http, at.http, 'http');

  let https: HttpsServer | null = null;
  if (at.https) {
    https = createHttpsServer({ ...SERVER_OPTIONS, SNICallback: sniCallback(holder) }, handler);
    answerOutsideRequests(https);
    try {
      urls.https = await listen(https, at.https, 'https');
    } catch (err) {
      await closeServer(http, 0);
      throw err;
    }
  }

  return {
    http,
    https,
    urls,
    async close(graceMs = DEFAULT_GRACE_MS) {
      await Promise.all([closeServer(http, graceMs), https ? closeServer(https, graceMs) : undefined]);
    },
  };
}
