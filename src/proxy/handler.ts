// The request handler of the proxy listeners: checks → path normalization → runtime → route →
// policy chain → the route's own answer (redirect, respond), or its rewrite and forward.
//
// A request reads `holder.current` once and holds that runtime (acquire/release) until its
// response closes, so a config swap never changes the route, policies or upstream under a
// request that already started.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { Exchange, upstreamRequestHeaders } from './forward.js';
import { TRUST_NONE, clientAddress, peerAddress, type TrustedProxies } from './forwarded.js';
import { NO_ROUTE_LABEL, type ProxyMetrics } from './metrics.js';
import { normalizePath, type NormalizedPath } from './path.js';
import { HANDLED, type PolicyContext } from './policies/index.js';
import { answerLocally, pickArm } from './route-actions.js';
import { BAD_GATEWAY, BAD_PATH, NO_CONFIG, NO_ROUTE, sendJson } from './respond.js';
import type { CompiledRoute, RuntimeHolder } from './runtime.js';
import { REFUSE_HOST, REFUSE_METHOD, isValidAuthority, refuseRequest, type Refusal } from './strict-http.js';

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
}

export type ProxyHandler = (req: IncomingMessage, res: ServerResponse) => void;

function noop(): void {}

const SLASH = 47; // "/"

function refuse(res: ServerResponse, refusal: Refusal): void {
  sendJson(res, refusal.status, refusal.body, refusal.headers);
}

/** Status for metrics: 499 (nginx's "client closed request") when nothing was sent. */
function finalStatus(res: ServerResponse): number {
  return res.headersSent ? res.statusCode : 499;
}

export function createProxyHandler(holder: RuntimeHolder, opts: ProxyHandlerOptions): ProxyHandler {
  const { logger, metrics } = opts;
  const fixedProto = opts.https === undefined ? null : opts.https ? 'https' : 'http';
  const trusted = opts.trustedProxies ?? TRUST_NONE;
  // Filled by normalizePath and read at once: requests are handled one at a time.
  const normalized: NormalizedPath = { path: '', encodedSlash: false };

  return function proxyRequest(req: IncomingMessage, res: ServerResponse): void {
    const start = performance.now();
    // An aborted upload emits 'error' on req; the exchange sees it through undici or res 'close'.
    req.on('error', noop);

    const rt = holder.current;
    if (rt === null) {
      res.once('close', () => metrics.observeRequest(NO_ROUTE_LABEL, finalStatus(res), (performance.now() - start) / 1000));
      sendJson(res, 503, NO_CONFIG);
      return;
    }
    rt.acquire();
    let route: CompiledRoute | null = null;
    let exchange: Exchange | null = null;
    res.once('close', () => {
      if (exchange !== null) exchange.clientClosed();
      rt.release();
      metrics.observeRequest(route === null ? NO_ROUTE_LABEL : route.id, finalStatus(res), (performance.now() - start) / 1000);
    });

    try {
      const refusal = refuseRequest(req);
      if (refusal !== null) {
        refuse(res, refusal);
        return;
      }
      let target = req.url ?? '/';
      let host = req.headers.host;
      if (target.charCodeAt(0) !== SLASH) {
        // Absolute form ("GET http://host/path"): its authority wins over Host (RFC 9112 §3.2.2).
        const abs = absoluteForm(target);
        if (abs === null) {
          // "OPTIONS *" asks about the server itself: no route serves it.
          sendJson(res, target === '*' ? 404 : 400, target === '*' ? NO_ROUTE : BAD_PATH);
          return;
        }
        if (!isValidAuthority(abs.host)) {
          refuse(res, REFUSE_HOST);
          return;
        }
        target = abs.path;
        host = abs.host;
      }
      if (!normalizePath(target, normalized)) {
        sendJson(res, 400, BAD_PATH);
        return;
      }
      const path = normalized.path;
      const method = req.method ?? 'GET';

      route = rt.match(host, method, path, req.headers);
      if (route === null) {
        sendJson(res, 404, NO_ROUTE);
        return;
      }
      if (normalized.encodedSlash && !route.allowEncodedSlashes) {
        sendJson(res, 400, BAD_PATH);
        return;
      }
      // TRACE echoes the request, credentials included, to whoever can make a browser send it.
      if (method === 'TRACE' && !route.allowsTrace) {
        refuse(res, REFUSE_METHOD);
        return;
      }

      const peer = peerAddress(req);
      const peerTrusted = trusted.trustsPeer(req.socket, peer);
      const clientIp = clientAddress(peer, peerTrusted, req.headers['x-forwarded-for'], trusted);
      const chain = route.policies;
      if (chain.length > 0) {
        const ctx: PolicyContext = { routeId: route.id, now: start, clientIp };
        for (let i = 0; i < chain.length; i++) {
          if (chain[i]!.handle(req, res, ctx) === HANDLED) return;
        }
      }

      if (route.answer !== null) {
        answerLocally(route.answer, req, res, path, host);
        return;
      }
      const forward = route.forward!;
      const rewrite = forward.rewrite;
      const proto = fixedProto ?? ((req.socket as TLSSocket).encrypted ? 'https' : 'http');
      const headers = upstreamRequestHeaders(req, proto, host, peer, peerTrusted, rewrite === null ? null : rewrite.host);
      exchange = new Exchange(req, res, route, pickArm(forward), rewrite === null ? path : rewrite.path(path), headers, logger, clientIp);
      exchange.start();
    } catch (err) {
      logger.error({ err, route: route?.id }, 'proxy handler failed');
      if (!res.headersSent) sendJson(res, 502, BAD_GATEWAY);
      else res.destroy();
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
