// The proxy's admin port: liveness, readiness, status, Prometheus metrics and live traffic.
import { createServer } from 'node:http';
import { listen, type HostPort } from '../net.js';
import { DEFAULT_TOP_ROUTES, MAX_TOP_ROUTES } from '../api/schemas.js';

/** One proxy process, or a pool's primary asking its workers (hence the promises). */
export interface AdminSources {
  status(): object | Promise<object>;
  ready(): boolean;
  /** Prometheus text. */
  metrics(): Promise<string>;
  metricsContentType: string;
  /** Requests per route over the last minutes, the `top` busiest routes. */
  traffic(top: number): object | Promise<object>;
}

export async function startAdminServer(at: HostPort, src: AdminSources): Promise<{ url: string; close(): Promise<void> }> {
  const json = (res: import('node:http').ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
    res.end(JSON.stringify(body) + '\n');
  };
  const later = (res: import('node:http').ServerResponse, body: object | Promise<object>) =>
    Promise.resolve(body).then(
      (b) => json(res, 200, b),
      (err: Error) => json(res, 500, { error: err.message }),
    );
  const server = createServer((req, res) => {
    const [path, query] = (req.url ?? '/').split('?', 2);
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(res, 405, { error: 'method_not_allowed' });
    switch (path) {
      case '/healthz':
        return json(res, 200, { ok: true });
      case '/readyz':
        return src.ready() ? json(res, 200, { ready: true }) : json(res, 503, { ready: false });
      case '/status':
        return void later(res, src.status());
      case '/traffic': {
        const top = new URLSearchParams(query).get('top') ?? String(DEFAULT_TOP_ROUTES);
        if (!/^\d{1,3}$/.test(top) || Number(top) < 1 || Number(top) > MAX_TOP_ROUTES) {
          return json(res, 400, { error: `top must be an integer from 1 to ${MAX_TOP_ROUTES}, got "${top.slice(0, 20)}"` });
        }
        return void later(res, src.traffic(Number(top)));
      }
      case '/metrics':
        src.metrics().then(
          (text) => {
            res.writeHead(200, { 'content-type': src.metricsContentType });
            res.end(text);
          },
          (err: Error) => json(res, 500, { error: err.message }),
        );
        return;
      default:
        return json(res, 404, { error: 'not_found' });
    }
  });
  const url = await listen(server, at);
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
