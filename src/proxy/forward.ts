// Forwarding one request to an upstream with undici's dispatch API: bodies stream both ways with
// backpressure (a slow client pauses the upstream read), nothing is buffered whole.
//
// Failure handling. undici calls onRequestStart right before it writes the request to a
// connection; an error before that means nothing reached the target. (undici itself sends a
// request on a new connection when it finds its keep-alive connection closed before the write.)
//   - Nothing written (a refused, reset or timed-out connect; anything before onRequestStart):
//     the request goes to a target not tried yet, for any method, up to MAX_ATTEMPTS. The body
//     has not been read yet.
//   - Written, then reset or answered with something that is not HTTP: the target may have acted
//     on it (nginx's proxy_next_upstream without non_idempotent; Envoy's reset-before-request).
//     Only a safe method without a body (GET, HEAD, OPTIONS, TRACE) is sent again, once, to
//     another target when there is one: that is also how a keep-alive connection the upstream
//     closed just as the request went out is recovered. Anything else gets 502.
//   - Refused or failed connects, and resets and malformed responses after the write, count as
//     the target's failures for passive ejection (UpstreamPool); a timeout waiting for the
//     response does not: a slow target is not a dead one.
//   - Otherwise, before response headers: 504 upstream_timeout for a connect or headers
//     timeout, 502 bad_gateway for the rest. After headers: the client socket is destroyed, so
//     the client sees a truncated response instead of a well-formed wrong one.
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import type { PickContext } from './balancers/index.js';
import { BAD_GATEWAY, NO_HEALTHY_UPSTREAM, UPSTREAM_TIMEOUT, sendJson } from './respond.js';
import type { CompiledRoute } from './runtime.js';
import type { SharedTarget } from './target-registry.js';

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
/** Errors after the write that are the target's doing: the connection reset or closed early. */
const RESETS_AFTER_WRITE = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE', 'ECONNABORTED']);
/** RFC 9110 §9.2.1: no side effect is asked for, so a second delivery is harmless. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);

/** A reset, or a response undici's parser refused, after the request was written. */
function failedAfterWrite(err: Error, code: string): boolean {
  // HTTPParserError's code is "HPE_*" when llhttp names the error, undefined otherwise.
  return RESETS_AFTER_WRITE.has(code) || err.name === 'HTTPParserError';
}

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

/**
 * Headers for the upstream request as a flat [name, value, ...] list (undici accepts it and it
 * keeps the client's spelling and repeats). The client's Host is kept. From a trusted peer
 * (forwarded.ts) X-Forwarded-For gets the peer appended and X-Forwarded-Proto and -Host are kept
 * when sent; from any other peer all three are replaced by what this proxy saw.
 */
export function upstreamRequestHeaders(
  req: IncomingMessage,
  proto: string,
  host: string | undefined,
  peer: string,
  peerTrusted: boolean,
): string[] {
  const raw = req.rawHeaders;
  const named = connectionTokens(req.headers.connection);
  const out: string[] = [];
  let xff: string | null = null;
  let xfProto: string | null = null;
  let xfHost: string | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower)) continue;
    switch (lower) {
      // Set once below. Expect: Node already answered "100 Continue"; undici refuses to send it.
      case 'host':
      case 'expect':
        continue;
      case 'x-forwarded-proto':
        if (peerTrusted) xfProto ??= raw[i + 1]!;
        continue;
      case 'x-forwarded-host':
        if (peerTrusted) xfHost ??= raw[i + 1]!;
        continue;
      case 'x-forwarded-for':
        if (peerTrusted) xff = xff === null ? raw[i + 1]! : `${xff}, ${raw[i + 1]!}`;
        continue;
    }
    if (named !== null && named.has(lower)) continue;
    out.push(name, raw[i + 1]!);
  }
  if (host !== undefined) out.push('host', host);
  out.push('x-forwarded-for', xff === null ? peer : `${xff}, ${peer}`, 'x-forwarded-proto', xfProto ?? proto);
  const forwardedHost = xfHost ?? host;
  if (forwardedHost !== undefined) out.push('x-forwarded-host', forwardedHost);
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
 * DispatchHandler; `finished` tells the caller whether the upstream exchange is over. It is also
 * the balancer's view of the request (PickContext).
 */
export class Exchange implements Dispatcher.DispatchHandler, PickContext {
  finished = false;
  private controller: Dispatcher.DispatchController | null = null;
  private target = -1;
  /** The target of the attempt under way, counted in its requests in flight. */
  private busy: SharedTarget | null = null;
  private attempts = 0;
  /** Targets that failed this request; allocated on the first failure only. */
  private tried: number[] | null = null;
  private replayed = false;
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
    /** The client's address (forwarded.ts), for balancers that hash on it. */
    readonly clientIp = '',
  ) {
    this.hasBody = requestHasBody(req);
    const readTimeoutMs = route.upstream.readTimeoutMs;
    // readTimeoutMs bounds the wait for response headers and each later gap between body chunks,
    // like nginx's proxy_read_timeout; per request, since a target's pool may serve several upstreams.
    this.opts = { path, method: req.method as Dispatcher.HttpMethod, headers, body: this.hasBody ? req : null, headersTimeout: readTimeoutMs, bodyTimeout: readTimeoutMs };
  }

  get headers(): IncomingHttpHeaders {
    return this.req.headers;
  }

  /** Dispatch to a target in rotation; answers 503 itself when there is none. */
  start(): void {
    if (!this.attempt(false)) this.answerFailure();
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
    this.settle();
    this.finished = true;
    this.controller = null;
    if (!this.clientGone) this.res.end();
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    this.settle();
    // undici reports connect failures before onRequestStart, with no controller of ours.
    const written = this.controller !== null;
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
    (this.tried ??= []).push(this.target);
    if (!written) {
      if (CONNECT_FAILURES.has(code)) this.reportFailure(code);
      if (this.attempts < MAX_ATTEMPTS && this.attempt(true)) return;
    } else if (failedAfterWrite(err, code)) {
      this.reportFailure(code);
      if (!this.replayed && !this.hasBody && SAFE_METHODS.has(this.req.method ?? '')) {
        this.replayed = true;
        if (this.attempt(true) || this.attempt(false)) return;
      }
    }
    this.finished = true;
    this.logger.warn({ route: this.route.id, upstream: pool.id, target: target?.url, code, err: err.message }, 'upstream request failed');
    this.answerFailure();
  }

  /** The current target failed this request: passive health may take it out of rotation. */
  private reportFailure(code: string): void {
    const pool = this.route.upstream;
    if (pool.reportFailure(this.target)) {
      this.logger.warn({ upstream: pool.id, target: pool.targets[this.target]?.url, code, ejectedForMs: pool.ejectMs }, 'upstream target ejected');
    }
  }

  /** Dispatch to the next target in rotation; with `untried`, only to one that has not failed. */
  private attempt(untried: boolean): boolean {
    const pool = this.route.upstream;
    const index = pool.pick(untried ? this.tried : null, this);
    if (index < 0) return false;
    this.target = index;
    this.attempts++;
    const target = pool.shared(index);
    target.inFlight++;
    this.busy = target;
    try {
      target.dispatcher().dispatch(this.opts, this);
    } catch (err) {
      // Only a closed pool throws here (undici reports its own errors through onResponseError).
      this.settle();
      this.lastError = err;
      return false;
    }
    return true;
  }

  /** The attempt under way ended: it no longer counts as in flight to its target. */
  private settle(): void {
    if (this.busy !== null) this.busy.inFlight--;
    this.busy = null;
  }

  private answerFailure(): void {
    this.finished = true;
    const err = this.lastError;
    if (err === null) sendJson(this.res, 503, NO_HEALTHY_UPSTREAM);
    else if (TIMEOUTS.has(errorCode(err))) sendJson(this.res, 504, UPSTREAM_TIMEOUT);
    else sendJson(this.res, 502, BAD_GATEWAY);
  }
}
