// The request handler of the proxy listeners: checks → path normalization → runtime → route →
// policy chain → the route's own answer (redirect, respond), or its rewrite and forward. The front half (everything before forward) is `createAdmission`,
// which upgrade requests (upgrade.ts) go through as well.
//
// A request reads `holder.current` once and holds that runtime (acquire/release) until its
// response closes, so a config swap never changes the route, policies or upstream under a
// request that already started. HTTP/1 and HTTP/2 requests alike (http2-compat.ts).
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { isoNow, type AccessEntry, type AccessLog } from './access-log.js';
import { Exchange, upstreamRequestHeaders } from './forward.js';
import { withoutQueryParams } from './query-params.js';
import { TRUST_NONE, clientAddress, peerAddress, type TrustedProxies } from './forwarded.js';
import { requestAuthority } from './http2-compat.js';
import { NO_ROUTE_LABEL, OTHER_CONSUMER_LABEL, type ProxyMetrics } from './metrics.js';
import { markRequestId } from './own-answer.js';
import { normalizePath, type NormalizedPath } from './path.js';
import { PolicyContext, runPolicies } from './policies/index.js';
import { answerLocally, pickArm, type UpstreamArm } from './route-actions.js';
import { BAD_GATEWAY, BAD_PATH, NO_CONFIG, NO_ROUTE, sendJson } from './respond.js';
import type { CompiledRoute, Runtime, RuntimeHolder } from './runtime.js';
import { REFUSE_HOST, REFUSE_METHOD, isValidAuthority, refuseRequest, type Refusal } from './strict-http.js';
import type { SpanExport } from './span-export.js';
import { childContext, type TraceContext } from './trace-context.js';

export interface ProxyHandlerOptions {
  logger: Logger;
  metrics: ProxyMetrics;
  /**
   * X-Forwarded-Proto of every request. Unset: decided per request from the socket, so one
   * handler can serve both the HTTP and the HTTPS listener.
   */
  https?: boolean;
  /**
   * Peers whose X-Forwarded-For, -Proto and -Host are kept (forwarded.ts); from every other peer
   * they are replaced. Default: none.
   */
  trustedProxies?: TrustedProxies;
  /** Where finished requests are written, if anywhere (`--access-log`). */
  accessLog?: AccessLog | null;
  /** Where the spans of sampled requests go, if anywhere (`--otlp-endpoint`). */
  spans?: SpanExport | null;
  /** The share of requests without a trace that start a sampled one (`--trace-sample`); default 0. */
  traceSample?: number;
}

export type ProxyHandler = (req: IncomingMessage, res: ServerResponse) => void;

function noop(): void {}

const SLASH = 47; // "/"
/** Expect's one defined expectation (RFC 9110 §10.1.1), as Node matches it. */
const CONTINUE_EXPECTATION = /(?:^|\W)100-continue(?:$|\W)/i;

/** Visible ASCII, no spaces: UUIDs, ULIDs, hex and base64 ids pass; nothing a log or header would trip on. */
const VALID_REQUEST_ID = /^[\x21-\x7e]{1,128}$/;

/** The client's X-Request-Id when it sent one valid id, else a new one. */
function requestIdOf(sent: string | string[] | undefined): string {
  return typeof sent === 'string' && VALID_REQUEST_ID.test(sent) ? sent : randomUUID();
}

function refuse(res: ServerResponse, refusal: Refusal): void {
  sendJson(res, refusal.status, refusal.body, refusal.headers);
}

/** Status for metrics: 499 (nginx's "client closed request") when nothing was sent. */
export function finalStatus(res: ServerResponse): number {
  return res.headersSent ? res.statusCode : 499;
}

/** What the front half learned about a request it let through (and the route it matched). */
export interface Admission {
  /** The matched route; also set when a check after routing answered the request. */
  route: CompiledRoute | null;
  /** Normalized path with the query string: routed and forwarded. */
  path: string;
  host: string | undefined;
  peer: string;
  peerTrusted: boolean;
  /** The client's address (forwarded.ts): rate-limit keys, balancers that hash on it. */
  clientIp: string;
  /** X-Forwarded-Proto of this request. */
  proto: string;
  /** X-Request-Id: the client's when valid, else a new one; sent upstream and back. */
  requestId: string;
  /** The proxy's hop of the client's W3C trace: sent upstream as traceparent. */
  trace: TraceContext;
  /** What the route's policies decided on the way (consumer, header changes, body limit); null without policies. */
  policy: PolicyContext | null;
}

const NO_TRACE: TraceContext = { traceId: '', spanId: '', parentId: null, header: '', keepsState: false, sampled: false };

export function emptyAdmission(): Admission {
  return { route: null, path: '', host: undefined, peer: '', peerTrusted: false, clientIp: '', proto: '', requestId: '', trace: NO_TRACE, policy: null };
}

/**
 * The front half every request goes through, upgrades included: strict HTTP, the absolute
 * form, path normalization, routing, the route's own checks and its policies. Returns true when
 * the request may be forwarded (`into` says where); false when it was answered here; a promise of
 * either when a policy must wait (the rest of the chain runs once it has decided).
 */
export type Admit = (rt: Runtime, req: IncomingMessage, res: ServerResponse, now: number, into: Admission) => boolean | Promise<boolean>;

export function createAdmission(opts: ProxyHandlerOptions): Admit {
  const fixedProto = opts.https === undefined ? null : opts.https ? 'https' : 'http';
  const trusted = opts.trustedProxies ?? TRUST_NONE;
  const traceSample = opts.traceSample ?? 0;
  // Filled by normalizePath and read at once: requests are handled one at a time.
  const normalized: NormalizedPath = { path: '', encodedSlash: false };

  return function admit(rt, req, res, now, into): boolean | Promise<boolean> {
    const requestId = requestIdOf(req.headers['x-request-id']);
    into.requestId = requestId;
    markRequestId(res, requestId);
    into.trace = childContext(req.headers.traceparent, traceSample);
    const refusal = refuseRequest(req);
    if (refusal !== null) {
      refuse(res, refusal);
      return false;
    }
    let target = req.url ?? '/';
    let host = requestAuthority(req);
    if (target.charCodeAt(0) !== SLASH) {
      // Absolute form ("GET http://host/path"): its authority wins over Host (RFC 9112 §3.2.2).
      const abs = absoluteForm(target);
      if (abs === null) {
        // "OPTIONS *" asks about the server itself: no route serves it.
        sendJson(res, target === '*' ? 404 : 400, target === '*' ? NO_ROUTE : BAD_PATH);
        return false;
      }
      if (!isValidAuthority(abs.host)) {
        refuse(res, REFUSE_HOST);
        return false;
      }
      target = abs.path;
      host = abs.host;
    }
    if (!normalizePath(target, normalized)) {
      sendJson(res, 400, BAD_PATH);
      return false;
    }
    const path = normalized.path;
    const method = req.method ?? 'GET';
    into.path = path;
    into.host = host;

    // A CORS preflight goes where the request it announces would go, when a cors policy there
    // answers it (cors.ts); otherwise it is an OPTIONS request like any other.
    let route: CompiledRoute | null = null;
    let preflight = false;
    if (method === 'OPTIONS') {
      const announced = req.headers['access-control-request-method'];
      if (typeof announced === 'string' && req.headers.origin !== undefined) {
        route = rt.match(host, announced, path, req.headers);
        preflight = route !== null && route.preflight !== null;
        if (!preflight) route = null;
      }
    }
    route ??= rt.match(host, method, path, req.headers);
    into.route = route;
    if (route === null) {
      sendJson(res, 404, NO_ROUTE);
      return false;
    }
    if (normalized.encodedSlash && !route.allowEncodedSlashes) {
      sendJson(res, 400, BAD_PATH);
      return false;
    }
    // TRACE echoes the request, credentials included, to whoever can make a browser send it.
    if (method === 'TRACE' && !route.allowsTrace) {
      refuse(res, REFUSE_METHOD);
      return false;
    }

    const peer = peerAddress(req);
    const peerTrusted = trusted.trustsPeer(req.socket, peer);
    const clientIp = clientAddress(peer, peerTrusted, req.headers['x-forwarded-for'], trusted);
    into.peer = peer;
    into.peerTrusted = peerTrusted;
    into.clientIp = clientIp;
    into.proto = fixedProto ?? ((req.socket as TLSSocket).encrypted ? 'https' : 'http');
    if (preflight) {
      route.preflight!.preflight(req, res);
      return false;
    }
    const chain = route.policies;
    if (chain.length === 0) return true;
    const ctx = new PolicyContext(route.id, now, clientIp, requestId, rt.consumers, res);
    into.policy = ctx;
    return runPolicies(chain, req, res, ctx);
  };
}

/** Where an admitted request goes: one arm of its route, with the route's rewrite applied. */
export interface UpstreamRequest {
  arm: UpstreamArm;
  path: string;
  headers: string[];
}

/**
 * The route's own answer (redirect, respond) for an admitted request, sent here; else where the
 * request goes upstream. null when it was answered.
 */
export function routeAction(req: IncomingMessage, res: ServerResponse, a: Admission): UpstreamRequest | null {
  const route = a.route!;
  if (route.answer !== null) {
    answerLocally(route.answer, req, res, a.path, a.host);
    return null;
  }
  const forward = route.forward!;
  const rewrite = forward.rewrite;
  const policy = a.policy;
  const removals = policy?.queryRemovals ?? null;
  const path = removals === null ? a.path : withoutQueryParams(a.path, removals);
  return {
    arm: pickArm(forward),
    path: rewrite === null ? path : rewrite.path(path),
    headers: upstreamRequestHeaders(req, a, rewrite === null ? null : rewrite.host, policy === null ? null : policy.upstreamEditsFor(route.consumerHeaders)),
  };
}

/**
 * The runtime current at a request's start, acquired (the caller releases it once); null when
 * there is none yet, after answering 503 no_config.
 */
export function acquireRuntime(holder: RuntimeHolder, req: IncomingMessage, res: ServerResponse, record: Recorder, start: number): Runtime | null {
  const rt = holder.current;
  if (rt === null) {
    res.once('close', () => record(null, req, res, emptyAdmission(), null, finalStatus(res), start));
    sendJson(res, 503, NO_CONFIG);
    return null;
  }
  rt.acquire();
  return rt;
}

/**
 * One finished request: in the metrics under its route (or none), in the access log when its
 * mode wants it, and a span when its trace is sampled and spans are exported. `rt` is null when
 * no config was loaded yet.
 */
export type Recorder = (rt: Runtime | null, req: IncomingMessage, res: ServerResponse, admission: Admission, exchange: Exchange | null, status: number, start: number) => void;

export function createRecorder(metrics: ProxyMetrics, accessLog: AccessLog | null, spans: SpanExport | null): Recorder {
  return function record(rt, req, res, admission, exchange, status, start): void {
    const ms = performance.now() - start;
    const route = admission.route;
    metrics.observeRequest(route === null ? NO_ROUTE_LABEL : route.id, status, ms / 1000);
    const consumer = admission.policy?.consumer;
    if (consumer != null) metrics.observeConsumer(rt !== null && rt.consumers.has(consumer) ? consumer : OTHER_CONSUMER_LABEL, status);
    const logged = accessLog !== null && accessLog.wants(status);
    const traced = spans !== null && admission.trace.sampled;
    if (!logged && !traced) return;
    const entry = describeRequest(rt, req, res, admission, exchange, status, ms);
    if (logged) accessLog.write(entry);
    if (traced) spans.record(entry, admission.trace.parentId, performance.timeOrigin + start);
  };
}

/** The access log's line, which is also the span's data. */
function describeRequest(rt: Runtime | null, req: IncomingMessage, res: ServerResponse, admission: Admission, exchange: Exchange | null, status: number, ms: number): AccessEntry {
  const route = admission.route;
  const query = admission.path.indexOf('?');
  const length = req.headers['content-length'];
  return {
    time: isoNow(),
    requestId: admission.requestId,
    traceId: admission.trace.traceId,
    spanId: admission.trace.spanId,
    clientIp: admission.clientIp || peerAddress(req),
    method: req.method ?? '',
    host: admission.host,
    path: query < 0 ? admission.path : admission.path.slice(0, query),
    protocol: req.httpVersion,
    status,
    bytesIn: length === undefined ? undefined : Number(length),
    bytesOut: exchange === null ? Number(res.getHeader('content-length') ?? 0) : exchange.bytesOut,
    durationMs: Math.round(ms * 1000) / 1000,
    upstreamMs: exchange === null || exchange.answeredAt === 0 ? undefined : Math.round((exchange.answeredAt - exchange.dispatchedAt) * 1000) / 1000,
    route: route?.id,
    upstream: exchange?.upstreamId,
    target: exchange?.targetUrl,
    consumer: admission.policy?.consumer ?? undefined,
    retries: exchange === null || exchange.attempts === 0 ? 0 : exchange.attempts - 1,
    version: rt === null ? 0 : rt.meta.version,
  };
}

/**
 * Server 'request' and 'checkContinue': both come here. An `Expect: 100-continue` request is
 * admitted (routed, its policies run) before "100 Continue" asks the client for its body, so a
 * request refused here never sends it (RFC 9110 §10.1.1).
 */
export function createProxyHandler(holder: RuntimeHolder, opts: ProxyHandlerOptions): ProxyHandler {
  const { logger } = opts;
  const admit = createAdmission(opts);
  const record = createRecorder(opts.metrics, opts.accessLog ?? null, opts.spans ?? null);

  return function proxyRequest(req: IncomingMessage, res: ServerResponse): void {
    const start = performance.now();
    // An aborted upload emits 'error' on req; the exchange sees it through undici or res 'close'.
    req.on('error', noop);

    const rt = acquireRuntime(holder, req, res, record, start);
    if (rt === null) return;
    const admission = emptyAdmission();
    let exchange: Exchange | null = null;
    res.once('close', () => {
      if (exchange !== null) exchange.clientClosed();
      rt.release();
      record(rt, req, res, admission, exchange, finalStatus(res), start);
    });

    const fail = (err: unknown): void => {
      logger.error({ err, route: admission.route?.id }, 'proxy handler failed');
      if (!res.headersSent) sendJson(res, 502, BAD_GATEWAY);
      else res.destroy();
    };
    const forward = (): void => {
      // A policy that waited may have outlived the client.
      if (res.destroyed || res.headersSent) return;
      const up = routeAction(req, res, admission);
      if (up === null) return;
      const expect = req.headers.expect;
      if (expect !== undefined && req.httpVersion !== '1.0' && CONTINUE_EXPECTATION.test(expect)) res.writeContinue();
      exchange = new Exchange(req, res, admission.route!, up.arm, up.path, up.headers, logger, admission.clientIp, admission.policy);
      exchange.start();
    };

    try {
      const admitted = admit(rt, req, res, start, admission);
      if (admitted === true) forward();
      else if (admitted !== false) admitted.then((ok) => ok && forward()).catch(fail);
    } catch (err) {
      fail(err);
    }
  };
}

/** "http://host:port/path?q" → its authority and its path (with the query); null if not http(s). */
function absoluteForm(target: string): { host: string; path: string } | null {
  const start = target.startsWith('http://') ? 7 : target.startsWith('https://') ? 8 : 0;
  if (start === 0) return null;
  let end = start;
  while (end < target.length) {
    const c = target.charCodeAt(end);
    if (c === SLASH || c === 63 /* ? */) break;
    end++;
  }
  const rest = target.slice(end);
  return { host: target.slice(start, end), path: rest.charCodeAt(0) === SLASH ? rest : `/${rest}` };
}
