// The proxy's admin port: liveness, readiness, status and Prometheus metrics.
import { createServer } from 'node:http';
import { listen, type HostPort } from '../net.js';
import type { ProxyMetrics } from './metrics.js';

export interface AdminSources {
  status(): object;
  ready(): boolean;
  metrics: ProxyMetrics;
}

export async function startAdminServer(at: HostPort, src: AdminSources): Promise<{ url: string; close(): Promise<void> }> {
  const json = (res: import('node:http').ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
    res.end(JSON.stringify(body) + '\n');
  };
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(res, 405, { error: 'method_not_allowed' });
    switch (path) {
      case '/healthz':
        return json(res, 200, { ok: true });
      case '/readyz':
        return src.ready() ? json(res, 200, { ready: true }) : json(res, 503, { ready: false });
      case '/status':
        return json(res, 200, src.status());
      case '/metrics':
        src.metrics.text().then(
          (text) => {
            res.writeHead(200, { 'content-type': src.metrics.contentType });
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
