// Forwarding one request to an upstream with undici's dispatch API: bodies stream both ways with
// backpressure (a slow client pauses the upstream read), nothing is buffered whole.
//
// Failure handling
//   - A target that refuses, resets or times out the connect is ejected (UpstreamPool) and the
//     request is tried on the next target (up to MAX_ATTEMPTS): nothing reached the upstream,
//     so this is safe for any method, and the request body has not been read yet.
//   - A connection that fails after the request was written (typically a keep-alive socket the
//     upstream closed just then) is retried once for idempotent requests without a body.
//   - Otherwise, before response headers: 504 upstream_timeout for a connect or headers
//     timeout, 502 bad_gateway for the rest. After headers: the client socket is destroyed, so
//     the client sees a truncated response instead of a well-formed wrong one.
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import { BAD_GATEWAY, NO_HEALTHY_UPSTREAM, UPSTREAM_TIMEOUT, sendJson } from './respond.js';
import type { CompiledRoute } from './runtime.js';

/** RFC 9110 §7.6.1, plus the pre-standard ones nginx also drops. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Errors meaning the connect itself failed: nothing reached the target. */
const CONNECT_FAILURES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'UND_ERR_CONNECT_TIMEOUT',
]);
const TIMEOUTS = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'ETIMEDOUT']);
const RETRYABLE_AFTER_CONNECT = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE']);
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

export const MAX_ATTEMPTS = 3;

class ClientGoneError extends Error {
  readonly code = 'SIGNALBOX_CLIENT_GONE';
  constructor() {
    super('client went away');
  }
}

function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : '';
}

/** Lowercased header names listed in a Connection header, or null. */
function connectionTokens(value: string | string[] | undefined): Set<string> | null {
  // Nearly every message says just one of these, which name no header: no split needed.
  if (value === undefined || value === 'keep-alive' || value === 'close') return null;
  const joined = typeof value === 'string' ? value : value.join(',');
  let set: Set<string> | null = null;
  for (const token of joined.split(',')) {
    const t = token.trim().toLowerCase();
    if (t.length === 0 || t === 'close' || t === 'keep-alive') continue;
    (set ??= new Set()).add(t);
  }
  return set;
}

export function clientIp(req: IncomingMessage): string {
  const ip = req.socket.remoteAddress;
  if (ip === undefined) return 'unknown';
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}

/**
 * Headers for the upstream request as a flat [name, value, ...] list (undici accepts it and it
 * keeps the client's spelling and repeats). The client's Host is kept; X-Forwarded-For gets the
 * client address appended; X-Forwarded-Proto and -Host are set from what this proxy saw.
 */
export function upstreamRequestHeaders(req: IncomingMessage, proto: string, host: string | undefined): string[] {
  const raw = req.rawHeaders;
  const named = connectionTokens(req.headers.connection);
  const out: string[] = [];
  let xff: string | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower)) continue;
    switch (lower) {
      // Set once below. Expect: Node already answered "100 Continue"; undici refuses to send it.
      case 'host':
      case 'x-forwarded-proto':
      case 'x-forwarded-host':
      case 'expect':
        continue;
      case 'x-forwarded-for':
        xff = xff === null ? raw[i + 1]! : `${xff}, ${raw[i + 1]!}`;
        continue;
    }
    if (named !== null && named.has(lower)) continue;
    out.push(name, raw[i + 1]!);
  }
  if (host !== undefined) out.push('host', host);
  const ip = clientIp(req);
  out.push('x-forwarded-for', xff === null ? ip : `${xff}, ${ip}`, 'x-forwarded-proto', proto);
  if (host !== undefined) out.push('x-forwarded-host', host);
  return out;
}

/** The upstream's response headers minus hop-by-hop ones (Node sets its own framing). */
export function clientResponseHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const named = connectionTokens(headers.connection);
  const out: OutgoingHttpHeaders = {};
  for (const name in headers) {
    if (HOP_BY_HOP.has(name) || (named !== null && named.has(name))) continue;
    out[name] = headers[name];
  }
  return out;
}

export function requestHasBody(req: IncomingMessage): boolean {
  const h = req.headers;
  if (h['transfer-encoding'] !== undefined) return true;
  const cl = h['content-length'];
  return cl !== undefined && cl !== '0';
}

/**
 * One client request forwarded to one upstream (several attempts at most). Implements undici's
 * DispatchHandler; `finished` tells the caller whether the upstream exchange is over.
 */
export class Exchange implements Dispatcher.DispatchHandler {
  finished = false;
  private controller: Dispatcher.DispatchController | null = null;
  private target = -1;
  private attempts = 0;
  private retriedAfterConnect = false;
  private responded = false;
  private clientGone = false;
  private drainHooked = false;
  private lastError: unknown = null;
  private readonly opts: Dispatcher.DispatchOptions;
  private readonly hasBody: boolean;

  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly route: CompiledRoute,
    path: string,
    headers: string[],
    private readonly logger: Logger,
  ) {
    this.hasBody = requestHasBody(req);
    this.opts = { path, method: req.method as Dispatcher.HttpMethod, headers, body: this.hasBody ? req : null };
  }

  /** Dispatch to a target in rotation; answers 503 itself when there is none. */
  start(): void {
    if (!this.attempt()) this.answerFailure();
  }

  /** The client response closed; stop the upstream side if it is still running. */
  clientClosed(): void {
    if (this.finished) return;
    this.clientGone = true;
    this.controller?.abort(new ClientGoneError());
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.clientGone) controller.abort(new ClientGoneError());
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
    statusMessage?: string,
  ): void {
    if (this.clientGone) return;
    if (statusCode < 200) {
      this.interim(statusCode, headers);
      return;
    }
    const out = clientResponseHeaders(headers);
    try {
      if (statusMessage) this.res.writeHead(statusCode, statusMessage, out);
      else this.res.writeHead(statusCode, out);
    } catch (err) {
      // Node refused a header or status undici accepted: a bad response.
      controller.abort(err as Error);
      return;
    }
    this.responded = true;
  }

  /**
   * An informational response comes before the final one. 103 Early Hints is passed on; 100
   * Continue is the client's own exchange with Node (it answers Expect itself), and 101 would need
   * Upgrade, which is not forwarded.
   */
  private interim(statusCode: number, headers: IncomingHttpHeaders): void {
    if (statusCode !== 103 || headers.link === undefined) return;
    try {
      this.res.writeEarlyHints(clientResponseHeaders(headers) as Record<string, string | string[]>);
    } catch (err) {
      // Hints are only hints: a value Node refuses must not cost the response.
      this.logger.debug({ route: this.route.id, err: (err as Error).message }, 'early hints not passed on');
    }
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.clientGone) return;
    if (!this.res.write(chunk)) {
      controller.pause();
      if (!this.drainHooked) {
        this.drainHooked = true;
        this.res.on('drain', () => this.controller?.resume());
      }
    }
  }

  onResponseEnd(): void {
    this.finished = true;
    this.controller = null;
    if (!this.clientGone) this.res.end();
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    // undici reports connect failures before onRequestStart, with no controller of ours.
    const connected = this.controller !== null;
    this.controller = null;
    if (this.clientGone) {
      this.finished = true;
      return;
    }
    const code = errorCode(err);
    const pool = this.route.upstream;
    const target = pool.targets[this.target];
    if (this.responded) {
      this.finished = true;
      this.logger.warn({ route: this.route.id, upstream: pool.id, target: target?.url, code, err: err.message }, 'upstream failed mid-response');
      this.res.destroy();
      return;
    }
    this.lastError = err;
    if (!connected && CONNECT_FAILURES.has(code)) {
      pool.reportConnectFailure(this.target);
      this.logger.warn({ upstream: pool.id, target: target?.url, code, ejectedFor: 'passive' }, 'upstream target ejected');
      if (this.attempts < MAX_ATTEMPTS && this.attempt()) return;
    } else if (
      connected &&
      !this.retriedAfterConnect &&
      !this.hasBody &&
      RETRYABLE_AFTER_CONNECT.has(code) &&
      IDEMPOTENT.has(this.req.method ?? '')
    ) {
      this.retriedAfterConnect = true;
      if (this.attempt()) return;
    }
    this.finished = true;
    this.logger.warn({ route: this.route.id, upstream: pool.id, target: target?.url, code, err: err.message }, 'upstream request failed');
    this.answerFailure();
  }

  private attempt(): boolean {
    const pool = this.route.upstream;
    const index = pool.pick();
    if (index < 0) return false;
    this.target = index;
    this.attempts++;
    try {
      pool.dispatcher(index).dispatch(this.opts, this);
    } catch (err) {
      // Only a closed pool throws here (undici reports its own errors through onResponseError).
      this.lastError = err;
      return false;
    }
    return true;
  }

  private answerFailure(): void {
    this.finished = true;
    const err = this.lastError;
    if (err === null) sendJson(this.res, 503, NO_HEALTHY_UPSTREAM);
    else if (TIMEOUTS.has(errorCode(err))) sendJson(this.res, 504, UPSTREAM_TIMEOUT);
    else sendJson(this.res, 502, BAD_GATEWAY);
  }
}
