// The proxy's client-facing listeners. HTTPS picks its certificate per connection from the
// runtime current at handshake time (SNI), so certificate changes need no restart either.
//
// The TLS listener speaks HTTP/2 and HTTP/1.1, chosen by ALPN (node:http2 with allowHTTP1); both
// reach the same handler through Node's compatibility API (http2-compat.ts). The plain listener
// speaks HTTP/1.1.
import { createServer, ServerResponse, type IncomingMessage, type Server } from 'node:http';
import { createSecureServer, type Http2SecureServer, type Http2ServerRequest, type Http2ServerResponse, type ServerHttp2Session } from 'node:http2';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { SecureContext } from 'node:tls';
import { listen, type HostPort } from '../net.js';
import type { ProxyHandler } from './handler.js';
import { METHOD_NOT_ALLOWED, sendJson } from './respond.js';
import type { RuntimeHolder } from './runtime.js';
import { ALLOW, answerClientError, refuseConnect } from './strict-http.js';
import type { UpgradeHandler } from './upgrade.js';
import { SlotSet } from '../util/slot-set.js';

export interface ListenAt {
  http: HostPort;
  https?: HostPort | null;
}

export interface Listeners {
  readonly http: Server;
  readonly https: Http2SecureServer | null;
  readonly urls: { http?: string; https?: string };
  /**
   * Drain: stop accepting (synchronously: a connection attempted after this call is refused),
   * close idle keep-alive connections now, tell every HTTP/1 response not yet started that its
   * connection ends (`Connection: close`) and every HTTP/2 connection that it takes no new
   * streams (GOAWAY), close each busy connection once its responses are done, and cut whatever
   * is still open after `graceMs`, upgraded connections (WebSocket) included. `cut`: the grace
   * ran out.
   */
  close(graceMs?: number): Promise<{ cut: boolean }>;
}

const DEFAULT_GRACE_MS = 10_000;
/** Node's HTTP/1 default, which its HTTP/2 server leaves unset for the HTTP/1.1 it also serves. */
const KEEP_ALIVE_TIMEOUT_MS = 5_000;
/** An HTTP/2 connection without a frame for this long is told to go (GOAWAY). */
const H2_IDLE_MS = 120_000;
/** nginx's http2_max_concurrent_streams is 128; Node's default is unlimited. */
const H2_MAX_STREAMS = 128;

type AnyServer = Server | Http2SecureServer;
/** HTTP/1 responses are ServerResponses; HTTP/2 ones are Http2ServerResponses. */
type AnyResponse = ServerResponse | Http2ServerResponse;

/** What a server holds open: for the drain to close, and to cut at its end. */
class Connections {
  /**
   * Every accepted socket until it closes: server.closeAllConnections() misses upgraded ones.
   * SlotSets, not Sets: these gain and lose a member per request or connection (slot-set.ts).
   */
  readonly sockets = new SlotSet<Socket>();
  /** The responses under way: the ones a drain still can mark `Connection: close`. */
  readonly responses = new SlotSet<AnyResponse>();
  readonly sessions = new Set<ServerHttp2Session>();
  draining = false;

  constructor(server: AnyServer) {
    const sockets = this.sockets;
    const responses = this.responses;
    // Shared listener functions, so tracking allocates nothing per request.
    function forgetSocket(this: Socket): void {
      sockets.delete(this);
    }
    function forgetResponse(this: AnyResponse): void {
      responses.delete(this);
    }
    server.on('connection', (socket: Socket) => {
      sockets.add(socket);
      socket.once('close', forgetSocket);
    });
    const onRequest = (_req: unknown, res: AnyResponse): void => {
      if (this.draining) {
        endAfter(res);
        return;
      }
      responses.add(res);
      res.once('close', forgetResponse);
    };
    server.on('request', onRequest);
    server.on('checkContinue', onRequest);
    server.on('session', (session: ServerHttp2Session) => {
      if (this.draining) {
        session.close();
        return;
      }
      this.sessions.add(session);
      session.once('close', () => this.sessions.delete(session));
      session.setTimeout(H2_IDLE_MS, () => session.close());
    });
  }

  /** Start the drain: what is idle closes now, what is busy is told to close when done. */
  drain(server: AnyServer): void {
    this.draining = true;
    closeIdle(server);
    this.responses.forEach((res) => {
      if (!res.headersSent) endAfter(res);
    });
    for (const session of this.sessions) session.close();
  }

  cut(): void {
    this.sockets.forEach((socket) => socket.destroy());
  }
}

/** An HTTP/1 response says its connection ends; an HTTP/2 one has its session's GOAWAY. */
function endAfter(res: AnyResponse): void {
  if (res instanceof ServerResponse && !res.headersSent) res.setHeader('connection', 'close');
}

function closeIdle(server: AnyServer): void {
  // Node's HTTP/2 server has it too, for the HTTP/1.1 it serves (allowHTTP1); @types/node 20
  // does not list it there.
  (server as Server).closeIdleConnections();
}

function closeServer(server: AnyServer, connections: Connections, graceMs: number): Promise<{ cut: boolean }> {
  return new Promise((resolve) => {
    if (!server.listening) {
      connections.cut();
      resolve({ cut: false });
      return;
    }
    let cut = false;
    const timer = setTimeout(() => {
      cut = true;
      connections.cut();
    }, graceMs);
    // Node keeps a connection that was busy at close() open for keepAliveTimeout after its
    // response; sweep idle ones until the server is empty instead.
    const sweep = setInterval(() => closeIdle(server), 50);
    server.close(() => {
      clearTimeout(timer);
      clearInterval(sweep);
      resolve({ cut });
    });
    // Node would still answer HTTP/1 requests "keep-alive"; a client reusing the connection would
    // then race the sweep. Requests still arriving on open connections are told the same.
    connections.drain(server);
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

/**
 * CONNECT (HTTP/1 on 'connect' with the raw socket, HTTP/2 with a response), 'checkContinue'
 * (Expect: 100-continue goes through the handler before "100 Continue" is sent), upgrades and
 * what the parser refuses get the proxy's own answers (strict-http.ts).
 */
function answerOutsideRequests(server: AnyServer, handler: ProxyHandler, upgrade: UpgradeHandler | null): void {
  server.on('connect', (req: IncomingMessage | Http2ServerRequest, socketOrRes: Duplex | Http2ServerResponse) => {
    if (req.httpVersionMajor === 2) sendJson(socketOrRes as unknown as ServerResponse, 405, METHOD_NOT_ALLOWED, { allow: ALLOW });
    else refuseConnect(req as IncomingMessage, socketOrRes as Duplex);
  });
  server.on('clientError', answerClientError);
  server.on('checkContinue', handler);
  if (upgrade !== null) server.on('upgrade', upgrade);
}

/**
 * Start the listeners. `upgrade` handles Upgrade requests (upgrade.ts); without it Node answers
 * them as ordinary requests.
 */
export async function startListeners(handler: ProxyHandler, holder: RuntimeHolder, at: ListenAt, upgrade: UpgradeHandler | null = null): Promise<Listeners> {
  const http = createServer(SERVER_OPTIONS, handler);
  const httpConnections = new Connections(http);
  answerOutsideRequests(http, handler, upgrade);
  const urls: { http?: string; https?: string } = {};
  urls.http = await listen(http, at.http, 'http');

  let https: Http2SecureServer | null = null;
  let httpsConnections: Connections | null = null;
  if (at.https) {
    // Http2ServerRequest/Response go to the same handler: it uses what they share with
    // IncomingMessage/ServerResponse (http2-compat.ts).
    https = createSecureServer(
      { allowHTTP1: true, SNICallback: sniCallback(holder), settings: { maxConcurrentStreams: H2_MAX_STREAMS } },
      handler as unknown as (req: Http2ServerRequest, res: Http2ServerResponse) => void,
    );
    Object.assign(https, { keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS });
    httpsConnections = new Connections(https);
    answerOutsideRequests(https, handler, upgrade);
    try {
      urls.https = await listen(https, at.https, 'https');
    } catch (err) {
      await closeServer(http, httpConnections, 0);
      throw err;
    }
  }

  return {
    http,
    https,
    urls,
    async close(graceMs = DEFAULT_GRACE_MS) {
      const results = await Promise.all([
        closeServer(http, httpConnections, graceMs),
        https && httpsConnections ? closeServer(https, httpsConnections, graceMs) : { cut: false },
      ]);
      return { cut: results.some((r) => r.cut) };
    },
  };
}
