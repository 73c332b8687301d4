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
//
// Trailers. A client that takes them (any HTTP/2 client; an HTTP/1.1 client that sent
// `TE: trailers`) gets the upstream's trailers, and the upstream is told `TE: trailers` then. A
// gRPC "trailers-only" response (its status in the headers) reaches an HTTP/2 client as it came:
// one HEADERS frame that ends the stream (gRPC clients refuse anything else).
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import { asHttp2Response, isPseudoHeader } from './http2-compat.js';
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

/**
 * Headers for the upstream request as a flat [name, value, ...] list (undici accepts it and it
 * keeps the client's spelling and repeats). The client's Host is kept. From a trusted peer
 * (forwarded.ts) X-Forwarded-For gets the peer appended and X-Forwarded-Proto and -Host are kept
 * when sent; from any other peer all three are replaced by what this proxy saw. TE is the
 * proxy's own: `trailers` when the client takes them (gRPC servers insist on it). From an
 * HTTP/2 client: no pseudo-headers, and its cookie fields joined in one (RFC 9113 §8.2.3), as an
 * HTTP/1.1 upstream needs them.
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
  if (cookie !== null) out.push('cookie', cookie);
  if (host !== undefined) out.push('host', host);
  if (acceptsTrailers(req.headers.te)) out.push('te', 'trailers');
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

/**
 * One client request forwarded to one upstream (several attempts at most). Implements undici's
 * DispatchHandler; `finished` tells the caller whether the upstream exchange is over.
 */
export class Exchange implements Dispatcher.DispatchHandler {
  finished = false;
  private controller: Dispatcher.DispatchController | null = null;
  private target = -1;
  private attempts = 0;
  /** Targets that failed this request; allocated on the first failure only. */
  private tried: number[] | null = null;
  private replayed = false;
  private responded = false;
  protected clientGone = false;
  private drainHooked = false;
  private lastError: unknown = null;
  /** A gRPC trailers-only response held for an HTTP/2 client until it ends (see top). */
  private held: OutgoingHttpHeaders | null = null;
  private readonly opts: Dispatcher.DispatchOptions;
  private readonly hasBody: boolean;
  protected readonly h2: Http2ServerResponse | null;

  /** `upgrade`: the protocols of an Upgrade request (upgrade.ts handles the switch). */
  constructor(
    protected readonly req: IncomingMessage,
    protected readonly res: ServerResponse,
    protected readonly route: CompiledRoute,
    path: string,
    headers: string[],
    protected readonly logger: Logger,
    upgrade: string | null = null,
  ) {
    this.hasBody = requestHasBody(req);
    this.h2 = asHttp2Response(res);
    this.opts = { path, method: req.method as Dispatcher.HttpMethod, headers, body: this.hasBody ? req : null, upgrade };
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
    // Trailer names what follows: kept for a client that takes trailers (it is no hop-by-hop
    // field in RFC 9110, though RFC 2616 listed it), dropped with them otherwise.
    if (headers.trailer !== undefined && this.takesTrailers()) out.trailer = headers.trailer;
    this.responded = true;
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
    if (this.clientGone) return;
    if (this.held !== null) this.releaseHeld();
    if (!this.res.write(chunk)) {
      controller.pause();
      if (!this.drainHooked) {
        this.drainHooked = true;
        this.res.on('drain', () => this.controller?.resume());
      }
    }
  }

  onResponseEnd(controller: Dispatcher.DispatchController, trailers: IncomingHttpHeaders): void {
    this.finished = true;
    this.controller = null;
    if (this.clientGone) return;
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
    const index = pool.pick(untried ? this.tried : null);
    if (index < 0) return false;
    this.target = index;
    this.attempts++;
    try {
      pool.dispatcher(index, this.opts.upgrade != null).dispatch(this.opts, this);
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
