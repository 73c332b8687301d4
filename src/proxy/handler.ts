// The request handler of the proxy listeners: runtime → route → policy chain → forward.
//
// A request reads `holder.current` once and holds that runtime (acquire/release) until its
// response closes, so a config swap never changes the route, policies or upstream under a
// request that already started.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { Exchange, upstreamRequestHeaders } from './forward.js';
import { NO_ROUTE_LABEL, type ProxyMetrics } from './metrics.js';
import { HANDLED, type PolicyContext } from './policies/index.js';
import { BAD_GATEWAY, NO_CONFIG, NO_ROUTE, sendJson } from './respond.js';
import type { CompiledRoute, RuntimeHolder } from './runtime.js';

export interface ProxyHandlerOptions {
  logger: Logger;
  metrics: ProxyMetrics;
  /**
   * X-Forwarded-Proto of every request. Unset: decided per request from the socket, so one
   * handler can serve both the HTTP and the HTTPS listener.
   */
  https?: boolean;
}

export type ProxyHandler = (req: IncomingMessage, res: ServerResponse) => void;

function noop(): void {}

/** Status for metrics: 499 (nginx's "client closed request") when nothing was sent. */
function finalStatus(res: ServerResponse): number {
  return res.headersSent ? res.statusCode : 499;
}

export function createProxyHandler(holder: RuntimeHolder, opts: ProxyHandlerOptions): ProxyHandler {
  const { logger, metrics } = opts;
  const fixedProto = opts.https === undefined ? null : opts.https ? 'https' : 'http';

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
      let path = req.url ?? '/';
      let host = req.headers.host;
      if (path.charCodeAt(0) !== 47 /* "/" */) {
        // Absolute form ("GET http://host/path"): its authority wins over Host (RFC 9112 §3.2.2).
        const abs = parseAbsoluteTarget(path);
        if (abs === null) {
          sendJson(res, 404, NO_ROUTE);
          return;
        }
        path = abs.path;
        host = abs.host;
      }

      route = rt.match(host, req.method ?? 'GET', path, req.headers);
      if (route === null) {
        sendJson(res, 404, NO_ROUTE);
        return;
      }

      const chain = route.policies;
      if (chain.length > 0) {
        const ctx: PolicyContext = { routeId: route.id, now: start };
        for (let i = 0; i < chain.length; i++) {
          if (chain[i]!.handle(req, res, ctx) === HANDLED) return;
        }
      }

      const proto = fixedProto ?? ((req.socket as TLSSocket).encrypted ? 'https' : 'http');
      exchange = new Exchange(req, res, route, path, upstreamRequestHeaders(req, proto, host), logger);
      exchange.start();
    } catch (err) {
      logger.error({ err, route: route?.id }, 'proxy handler failed');
      if (!res.headersSent) sendJson(res, 502, BAD_GATEWAY);
      else res.destroy();
    }
  };
}

function parseAbsoluteTarget(target: string): { path: string; host: string } | null {
  if (!target.startsWith('http://') && !target.startsWith('https://')) return null;
  try {
    const u = new URL(target);
    return { path: `${u.pathname}${u.search}`, host: u.host };
  } catch {
    return null;
  }
}
