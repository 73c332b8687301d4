// Forwarding one request to an upstream with undici's dispatch API: bodies stream both ways with
// backpressure (a slow client pauses the upstream read), nothing is buffered whole (except a
// small body a route's retries may need to send again: retry.ts).
//
// Failure handling. undici calls onRequestStart right before it writes the request to a
// connection; an error before that means nothing reached the target. (undici itself sends a
// request on a new connection when it finds its keep-alive connection closed before the write.)
//   - Whether and where a failed attempt is tried again is decided in retry.ts: nothing written,
//     reset after the write, or (with a route's `retries`) an answer whose status is listed.
//   - Refused or failed connects, and resets and malformed responses after the write, count as
//     the target's failures for passive ejection (UpstreamPool); a timeout waiting for the
//     response does not: a slow target is not a dead one.
//   - Otherwise, before response headers: 504 upstream_timeout for a connect or headers
//     timeout, 502 bad_gateway for the rest. After headers: the client socket is destroyed, so
//     the client sees a truncated response instead of a well-formed wrong one.
//   - A route's `timeoutMs` bounds the whole exchange, retries included: passed before the
//     response headers, the client gets 504 upstream_timeout; after them, the response is cut
//     the same way as when readTimeoutMs passes between two chunks of it.
//
// Trailers. A client that takes them (any HTTP/2 client; an HTTP/1.1 client that sent
// `TE: trailers`) gets the upstream's trailers, and the upstream is told `TE: trailers` then. A
// gRPC "trailers-only" response (its status in the headers) reaches an HTTP/2 client as it came:
// one HEADERS frame that ends the stream (gRPC clients refuse anything else).
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { performance } from 'node:perf_hooks';
import { Transform } from 'node:stream';
import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import type { PickContext } from './balancers/index.js';
import { asHttp2Response, isPseudoHeader } from './http2-compat.js';
import { DEFAULT_CONSUMER_HEADER } from '../config/fields.js';
import { editHeaderList, editHeaderObject, sendBodyTooLarge, type HeaderEdit, type PolicyContext } from './policies/index.js';
import { requestIdOf } from './own-answer.js';
import { BAD_GATEWAY, NO_HEALTHY_UPSTREAM, UPSTREAM_TIMEOUT, sendJson } from './respond.js';
import {
  GIVE_UP,
  IDEMPOTENT_METHODS,
  NOT_WRITTEN,
  REPLAY,
  RETRY,
  RESET,
  RETRY_BODY_LIMIT_BYTES,
  STATUS,
  UNTRIED,
  decideRetry,
  retriesWritten,
  retryBackoffMs,
  type RetryPolicy,
  type RetryState,
} from './retry.js';
import type { RetryBudget } from './retry-budget.js';
import type { UpstreamArm } from './route-actions.js';
import type { CompiledRoute } from './route-compile.js';
import type { SharedTarget } from './target-registry.js';
import type { TraceContext } from './trace-context.js';
import type { UpstreamPool } from './upstream-pool.js';

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

/** A reset, or a response undici's parser refused, after the request was written. */
function failedAfterWrite(err: Error, code: string): boolean {
  // HTTPParserError's code is "HPE_*" when llhttp names the error, undefined otherwise.
  return RESETS_AFTER_WRITE.has(code) || err.name === 'HTTPParserError';
}

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

/** TE lists "trailers" (RFC 9110 §10.1.4): the client takes trailer fields. */
export function acceptsTrailers(te: string | string[] | undefined): boolean {
  if (te === undefined) return false;
  if (te === 'trailers') return true;
  for (const token of (typeof te === 'string' ? te : te.join(',')).split(',')) {
    const t = token.trim();
    const semi = t.indexOf(';');
    if ((semi < 0 ? t : t.slice(0, semi).trim()).toLowerCase() === 'trailers') return true;
  }
  return false;
}

/** What the proxy learned about a request that its upstream headers say (handler.ts Admission). */
export interface RequestOrigin {
  /** X-Forwarded-Proto. */
  proto: string;
  /** The client's Host (or authority). */
  host: string | undefined;
  /** The peer's address, and whether it is a trusted proxy (forwarded.ts). */
  peer: string;
  peerTrusted: boolean;
  /** X-Request-Id: the client's when it sent a valid one, else a new one. */
  requestId: string;
  /** The proxy's hop of the W3C trace (trace-context.ts). */
  trace: TraceContext;
}

/**
 * Headers for the upstream request as a flat [name, value, ...] list (undici accepts it and it
 * keeps the client's spelling and repeats). The client's Host is kept. From a trusted peer
 * (forwarded.ts) X-Forwarded-For gets the peer appended and X-Forwarded-Proto and -Host are kept
 * when sent; from any other peer all three are replaced by what this proxy saw; a route's
 * rewrite may send another Host (`upstreamHost`). X-Request-Id is the request's id; traceparent
 * names the proxy's span (tracestate goes on beside a valid one only). TE is the
 * proxy's own: `trailers` when the client takes them (gRPC servers insist on it). From an HTTP/2
 * client: no pseudo-headers, and its cookie fields joined in one (RFC 9113 §8.2.3), as an
 * HTTP/1.1 upstream needs them. The route's policies' changes (`edits`: a credential removed, a
 * header set) come last.
 */
export function upstreamRequestHeaders(
  req: IncomingMessage,
  from: RequestOrigin,
  upstreamHost: string | null = null,
  edits: readonly HeaderEdit[] | null = null,
): string[] {
  const { proto, host, peer, peerTrusted } = from;
  const raw = req.rawHeaders;
  const named = connectionTokens(req.headers.connection);
  const h2 = req.httpVersionMajor === 2;
  const out: string[] = [];
  let xff: string | null = null;
  let xfProto: string | null = null;
  let xfHost: string | null = null;
  let cookie: string | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (h2 && isPseudoHeader(name)) continue;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower)) continue;
    switch (lower) {
      case 'cookie':
        if (!h2) break;
        cookie = cookie === null ? raw[i + 1]! : `${cookie}; ${raw[i + 1]!}`;
        continue;
      // Set once below. Expect: Node already answered "100 Continue"; undici refuses to send it.
      // X-Consumer-Id: only an auth policy says who the consumer is (handler.ts), on any route.
      case 'host':
      case 'expect':
      case 'x-request-id':
      case 'traceparent':
      case DEFAULT_CONSUMER_HEADER:
        continue;
      case 'tracestate':
        if (!from.trace.keepsState) continue;
        break;
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
  if (cookie !== null) out.push('cookie', cookie);
  const sentHost = upstreamHost ?? host;
  if (sentHost !== undefined) out.push('host', sentHost);
  if (acceptsTrailers(req.headers.te)) out.push('te', 'trailers');
  out.push('x-forwarded-for', xff === null ? peer : `${xff}, ${peer}`, 'x-forwarded-proto', xfProto ?? proto);
  const forwardedHost = xfHost ?? host;
  if (forwardedHost !== undefined) out.push('x-forwarded-host', forwardedHost);
  out.push('x-request-id', from.requestId, 'traceparent', from.trace.header);
  return edits === null ? out : editHeaderList(out, edits);
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

/** Trailer fields that may follow: neither hop-by-hop, nor framing, nor pseudo-headers. */
function trailerFields(trailers: IncomingHttpHeaders): OutgoingHttpHeaders | null {
  let out: OutgoingHttpHeaders | null = null;
  for (const name in trailers) {
    if (HOP_BY_HOP.has(name) || name === 'content-length' || isPseudoHeader(name)) continue;
    (out ??= {})[name] = trailers[name];
  }
  return out;
}

/**
 * The trailers of undici's response. Over HTTP/2 undici (7.x) hands the handler API a parse of
 * its raw trailers that expects a list and gets an object, so they arrive empty; the controller
 * still has the object.
 */
function upstreamTrailers(controller: Dispatcher.DispatchController, trailers: IncomingHttpHeaders): IncomingHttpHeaders {
  const raw = (controller as { rawTrailers?: unknown }).rawTrailers;
  if (raw !== null && typeof raw === 'object' && !Array.isArray(raw)) return raw as IncomingHttpHeaders;
  return trailers;
}

export function requestHasBody(req: IncomingMessage): boolean {
  // HTTP/2 frames a body without Content-Length (gRPC never sends one): the HEADERS frame says.
  if (req.httpVersionMajor === 2) return !(req as unknown as Http2ServerRequest).stream.endAfterHeaders;
  const h = req.headers;
  if (h['transfer-encoding'] !== undefined) return true;
  const cl = h['content-length'];
  return cl !== undefined && cl !== '0';
}

/** The body's Content-Length says it is small enough to keep for retries. */
function bodyKeepable(req: IncomingMessage): boolean {
  return req.headers['transfer-encoding'] === undefined && Number(req.headers['content-length']) <= RETRY_BODY_LIMIT_BYTES;
}

/**
 * One client request forwarded to one upstream (several attempts at most). Implements undici's
 * DispatchHandler; `finished` tells the caller whether the upstream exchange is over. It is also
 * the RetryState retry.ts decides on, and the balancer's view of the request (PickContext).
 */
export class Exchange implements Dispatcher.DispatchHandler, RetryState, PickContext {
  finished = false;
  attempts = 0;
  replayed = false;
  readonly method: string;
  readonly hasBody: boolean;
  bodyKept: boolean;
  /** Response body bytes passed to the client (the access log). */
  bytesOut = 0;
  /** performance.now() at the first dispatch, and when the answer's headers came (the access log). */
  dispatchedAt = 0;
  answeredAt = 0;
  private controller: Dispatcher.DispatchController | null = null;
  private target = -1;
  /** The target of the attempt under way, counted in its requests in flight. */
  private busy: SharedTarget | null = null;
  /** Targets that failed this request, each once; allocated on the first failure only. */
  private tried: number[] | null = null;
  private responded = false;
  /** The client went away, or the route's timeout answered it: nothing more goes to the client. */
  protected stopped = false;
  /** The answer being received is thrown away: its status is retried once it ends. */
  private discarding = false;
  private drainHooked = false;
  private lastError: unknown = null;
  /** A gRPC trailers-only response held for an HTTP/2 client until it ends (see top). */
  private held: OutgoingHttpHeaders | null = null;
  /** The request body went past the route's body limit (limitedBody). */
  private bodyTooLarge = false;
  private timer: NodeJS.Timeout | null = null;
  /** The wait before a route's retry (retry.ts); `backoffs` counts them. */
  private backoff: NodeJS.Timeout | null = null;
  private backoffs = 0;
  private readonly pool: UpstreamPool;
  private readonly policy: RetryPolicy | null;
  /** The pool's budget when the route retries (only such routes count their requests in it). */
  private readonly budget: RetryBudget | null;
  private readonly opts: Dispatcher.DispatchOptions;
  protected readonly h2: Http2ServerResponse | null;

  /** `upgrade`: the protocols of an Upgrade request (upgrade.ts handles the switch). */
  constructor(
    protected readonly req: IncomingMessage,
    protected readonly res: ServerResponse,
    protected readonly route: CompiledRoute,
    arm: UpstreamArm,
    path: string,
    headers: string[],
    protected readonly logger: Logger,
    /** The client's address (forwarded.ts), for balancers that hash on it. */
    readonly clientIp = '',
    /** What the route's policies decided: response header changes, a body limit. */
    private readonly policies: PolicyContext | null = null,
    upgrade: string | null = null,
  ) {
    this.method = req.method ?? 'GET';
    this.hasBody = requestHasBody(req);
    this.bodyKept = !this.hasBody;
    this.pool = arm.pool;
    this.policy = route.forward?.retry ?? null;
    this.budget = this.policy === null ? null : arm.budget;
    const readTimeoutMs = arm.pool.readTimeoutMs;
    // readTimeoutMs bounds the wait for response headers and each later gap between body chunks,
    // like nginx's proxy_read_timeout; per request, since a target's pool may serve several upstreams.
    this.h2 = asHttp2Response(res);
    // A body-limit policy answered a Content-Length over its limit already; a body of unknown
    // length is counted on its way (and cut at the limit).
    const limit = policies?.maxBodyBytes ?? Infinity;
    const body = !this.hasBody ? null : limit !== Infinity && req.headers['content-length'] === undefined ? this.limitedBody(limit) : req;
    this.opts = { path, method: this.method as Dispatcher.HttpMethod, headers, body, headersTimeout: readTimeoutMs, bodyTimeout: readTimeoutMs, upgrade };
  }

  /**
   * The request body, counted: past `limit` bytes it stops (the upstream request fails with it,
   * and the client gets 413, or a cut connection when the answer had begun). The client's stream
   * is unpiped, never destroyed, so the 413 can still be written.
   */
  private limitedBody(limit: number): Transform {
    let seen = 0;
    const counted = new Transform({
      transform: (chunk: Buffer, _encoding, done) => {
        seen += chunk.length;
        if (seen <= limit) return done(null, chunk);
        this.bodyTooLarge = true;
        this.req.unpipe(counted);
        done(new Error(`request body over ${limit} bytes`));
      },
    });
    this.req.pipe(counted);
    return counted;
  }

  get headers(): IncomingHttpHeaders {
    return this.req.headers;
  }

  /** The target of the last attempt; undefined before any. */
  get targetUrl(): string | undefined {
    return this.pool.targets[this.target]?.url;
  }

  get upstreamId(): string {
    return this.pool.id;
  }

  get untriedLeft(): boolean {
    return this.tried === null || this.tried.length < this.pool.targets.length;
  }

  /** Dispatch to a target in rotation; answers 503 itself when there is none. */
  start(): void {
    const timeoutMs = this.route.forward?.timeoutMs ?? 0;
    if (timeoutMs > 0) this.timer = setTimeout(() => this.timedOut(), timeoutMs);
    const policy = this.policy;
    if (policy === null) {
      this.first();
      return;
    }
    this.budget!.recordRequest();
    if (this.hasBody && retriesWritten(policy) && IDEMPOTENT_METHODS.has(this.method) && bodyKeepable(this.req)) this.keepBody();
    else this.first();
  }

  private first(): void {
    this.dispatchedAt = performance.now();
    if (!this.attempt(false)) this.answerFailure();
  }

  /** Read the (small) body whole before the first attempt, so that a retry can send it again. */
  private keepBody(): void {
    const chunks: Buffer[] = [];
    this.req.on('data', (c: Buffer) => chunks.push(c));
    this.req.once('end', () => {
      if (this.stopped) return;
      this.opts.body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      this.bodyKept = true;
      this.first();
    });
  }

  /** The client response closed; stop the upstream side if it is still running. */
  clientClosed(): void {
    if (this.finished) return;
    this.stop();
  }

  private stop(): void {
    this.clearTimers();
    this.stopped = true;
    this.controller?.abort(new ClientGoneError());
  }

  private finish(): void {
    this.finished = true;
    this.clearTimers();
  }

  /** The route timeout and a retry's backoff: neither may fire once the exchange is over. */
  private clearTimers(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.backoff !== null) {
      clearTimeout(this.backoff);
      this.backoff = null;
    }
  }

  /** The route's timeoutMs passed. */
  private timedOut(): void {
    this.timer = null;
    if (this.finished || this.stopped) return;
    this.logger.warn({ route: this.route.id, upstream: this.pool.id, responded: this.responded }, 'route timeout passed');
    this.stop();
    this.finish();
    if (this.responded) this.res.destroy();
    else sendJson(this.res, 504, UPSTREAM_TIMEOUT);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.stopped) controller.abort(new ClientGoneError());
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
    statusMessage?: string,
  ): void {
    if (this.stopped) return;
    if (statusCode < 200) {
      this.interim(statusCode, headers);
      return;
    }
    if (this.policy !== null && this.policy.statuses.has(statusCode) && decideRetry(STATUS, statusCode, this, this.policy, this.budget) !== GIVE_UP) {
      // Read to its end and dropped, so the connection stays usable; the retry follows.
      this.discarding = true;
      this.logger.debug({ route: this.route.id, upstream: this.pool.id, target: this.pool.targets[this.target]?.url, status: statusCode }, 'retrying after status');
      return;
    }
    const out = clientResponseHeaders(headers);
    // The id the proxy logged and sent upstream, whatever the upstream answers with.
    const requestId = requestIdOf(this.res);
    if (requestId !== undefined) out['x-request-id'] = requestId;
    const edits = this.policies?.responseEdits;
    if (edits != null) editHeaderObject(out, edits);
    // Trailer names what follows: kept for a client that takes trailers (it is no hop-by-hop
    // field in RFC 9110, though RFC 2616 listed it), dropped with them otherwise.
    if (headers.trailer !== undefined && this.takesTrailers()) out.trailer = headers.trailer;
    this.responded = true;
    this.answeredAt = performance.now();
    if (this.h2 !== null && headers['grpc-status'] !== undefined) {
      this.res.statusCode = statusCode;
      this.held = out;
      return;
    }
    try {
      if (statusMessage && this.h2 === null) this.res.writeHead(statusCode, statusMessage, out);
      else this.res.writeHead(statusCode, out);
    } catch (err) {
      // Node refused a header or status undici accepted: a bad response.
      this.responded = false;
      controller.abort(err as Error);
    }
  }

  /** Whether the client gets trailer fields: HTTP/2 always, HTTP/1.1 when it said TE: trailers. */
  private takesTrailers(): boolean {
    return this.h2 !== null || (this.req.httpVersion === '1.1' && acceptsTrailers(this.req.headers.te));
  }

  /**
   * An informational response comes before the final one (RFC 9110 §15.2: a proxy forwards
   * them, except to an HTTP/1.0 client). 103 Early Hints and 102 Processing are passed on; any
   * other 1xx too to an HTTP/2 client, while Node has no way to send one over HTTP/1.1. 100
   * Continue is the client's exchange with the handler, 101 the upgrade's (upgrade.ts).
   */
  private interim(statusCode: number, headers: IncomingHttpHeaders): void {
    if (this.req.httpVersion === '1.0' || statusCode === 100 || statusCode === 101) return;
    try {
      if (statusCode === 103) {
        if (headers.link !== undefined) this.res.writeEarlyHints(clientResponseHeaders(headers) as Record<string, string | string[]>);
      } else if (this.h2 !== null) {
        this.h2.stream.additionalHeaders({ ...clientResponseHeaders(headers), ':status': statusCode });
      } else if (statusCode === 102) {
        this.res.writeProcessing();
      }
    } catch (err) {
      // Interim answers are advisory: a value Node refuses must not cost the response.
      this.logger.debug({ route: this.route.id, status: statusCode, err: (err as Error).message }, 'informational response not passed on');
    }
  }

  /** A held trailers-only head goes out as an ordinary one after all (body data followed it). */
  private releaseHeld(): void {
    const out = this.held!;
    this.held = null;
    this.res.writeHead(this.res.statusCode, out);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.stopped || this.discarding) return;
    if (this.held !== null) this.releaseHeld();
    this.bytesOut += chunk.length;
    if (!this.res.write(chunk)) {
      controller.pause();
      if (!this.drainHooked) {
        this.drainHooked = true;
        this.res.on('drain', () => this.controller?.resume());
      }
    }
  }

  onResponseEnd(controller: Dispatcher.DispatchController, trailers: IncomingHttpHeaders): void {
    this.settle();
    this.controller = null;
    if (this.discarding && !this.stopped) {
      this.discarding = false;
      this.retryAfterBackoff();
      return;
    }
    this.finish();
    if (this.stopped) return;
    const fields = trailerFields(upstreamTrailers(controller, trailers));
    if (this.held !== null && fields === null) {
      // The whole gRPC answer in one HEADERS frame that ends the stream.
      const head = this.held;
      this.held = null;
      const stream = this.h2!.stream;
      if (!stream.destroyed) stream.respond({ ...head, ':status': this.res.statusCode }, { endStream: true });
      return;
    }
    if (this.held !== null) this.releaseHeld();
    if (fields !== null && this.takesTrailers()) {
      try {
        this.res.addTrailers(fields);
      } catch (err) {
        this.logger.debug({ route: this.route.id, err: (err as Error).message }, 'trailers not passed on');
      }
    }
    this.res.end();
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    this.settle();
    // undici reports connect failures before onRequestStart, with no controller of ours.
    const written = this.controller !== null;
    this.controller = null;
    if (this.stopped) {
      this.finish();
      return;
    }
    if (this.bodyTooLarge) {
      // The client's doing, not the target's: no retry, no ejection.
      this.finish();
      if (this.responded) this.res.destroy();
      else sendBodyTooLarge(this.res);
      return;
    }
    const code = errorCode(err);
    const pool = this.pool;
    const target = pool.targets[this.target];
    if (this.responded) {
      this.finish();
      this.logger.warn({ route: this.route.id, upstream: pool.id, target: target?.url, code, err: err.message }, 'upstream failed mid-response');
      this.res.destroy();
      return;
    }
    this.lastError = err;
    if (this.discarding) {
      // The answer being dropped broke off: the retry it was dropped for goes ahead.
      this.discarding = false;
      this.retryAfterBackoff();
      return;
    }
    let verdict = GIVE_UP;
    if (!written) {
      if (CONNECT_FAILURES.has(code)) this.reportFailure(code);
      verdict = decideRetry(NOT_WRITTEN, 0, this, this.policy, this.budget);
    } else if (failedAfterWrite(err, code)) {
      this.reportFailure(code);
      verdict = decideRetry(RESET, 0, this, this.policy, this.budget);
    }
    if (verdict === RETRY) {
      this.retryAfterBackoff();
      return;
    }
    if (verdict !== GIVE_UP) {
      if (verdict === REPLAY) this.replayed = true;
      if (this.retry(verdict === UNTRIED)) return;
    }
    this.logger.warn({ route: this.route.id, upstream: pool.id, target: target?.url, code, err: err.message }, 'upstream request failed');
    this.answerFailure();
  }

  /** The current target failed this request: passive health may take it out of rotation. */
  private reportFailure(code: string): void {
    const pool = this.pool;
    if (pool.reportFailure(this.target)) {
      this.logger.warn({ upstream: pool.id, target: pool.targets[this.target]?.url, code, ejectedForMs: pool.ejectMs }, 'upstream target ejected');
    }
  }

  /**
   * Try again after the current target failed: on a target this request has not tried, and
   * unless `untriedOnly`, on any when every one has been. False when nothing was dispatched.
   */
  private retry(untriedOnly: boolean): boolean {
    const tried = (this.tried ??= []);
    if (!tried.includes(this.target)) tried.push(this.target);
    return this.attempt(true) || (!untriedOnly && this.attempt(false));
  }

  /**
   * A route's retry, after its backoff (retry.ts). The route's timeoutMs and the client going
   * away end the exchange meanwhile as at any other time (stop clears the wait).
   */
  private retryAfterBackoff(): void {
    const waitMs = retryBackoffMs(this.policy!, ++this.backoffs, Math.random());
    const go = () => {
      this.backoff = null;
      if (!this.retry(false)) this.answerFailure();
    };
    if (waitMs === 0) go();
    else this.backoff = setTimeout(go, waitMs);
  }

  /** Dispatch to the next target in rotation; with `untried`, only to one that has not failed. */
  private attempt(untried: boolean): boolean {
    const pool = this.pool;
    const index = pool.pick(untried ? this.tried : null, this);
    if (index < 0) return false;
    this.target = index;
    this.attempts++;
    const target = pool.shared(index);
    target.inFlight++;
    this.busy = target;
    try {
      (this.opts.upgrade != null ? target.upgradeDispatcher() : target.dispatcher()).dispatch(this.opts, this);
    } catch (err) {
      // Only a closed pool throws here (undici reports its own errors through onResponseError).
      this.settle();
      this.lastError = err;
      return false;
    }
    return true;
  }

  /** The target switched protocols (upgrade.ts): the exchange is over, the session is not. */
  protected switchedProtocols(): void {
    this.settle();
    this.finish();
  }

  /** The attempt under way ended: it no longer counts as in flight to its target. */
  private settle(): void {
    if (this.busy !== null) this.busy.inFlight--;
    this.busy = null;
  }

  private answerFailure(): void {
    this.finish();
    const err = this.lastError;
    if (err === null) sendJson(this.res, 503, NO_HEALTHY_UPSTREAM);
    else if (TIMEOUTS.has(errorCode(err))) sendJson(this.res, 504, UPSTREAM_TIMEOUT);
    else sendJson(this.res, 502, BAD_GATEWAY);
  }
}
