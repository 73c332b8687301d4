// The control plane process: the REST API over one etcd client, /metrics, and the dashboard at every other path.
import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';
import { createEtcdClient } from '../store/client.js';
import { accessData, type EtcdAccess } from '../store/etcd-access.js';
import { ConfigWriter } from '../store/config-writer.js';
import { Keys } from '../store/keys.js';
import { listen, type HostPort } from '../net.js';
import { createApi } from './api.js';
import { tokenAuth } from './auth.js';
import { dashboardHandler } from './dashboard.js';
import { HandlerThread } from './handler-thread.js';
import { sendJson } from './http.js';
import { controlPlaneMetrics } from './metrics.js';
import { TokenStore } from './token-store.js';

export interface ControlPlaneOptions {
  etcd: string[];
  /** TLS and user for a secured etcd. */
  etcdAccess?: EtcdAccess;
  prefix: string;
  listen: HostPort;
  /** null only with --insecure. */
  token: string | null;
  logger: Logger;
}

export interface RunningControlPlane {
  url: string;
  close(): Promise<void>;
}

export async function startControlPlane(opts: ControlPlaneOptions): Promise<RunningControlPlane> {
  const client = createEtcdClient(opts.etcd, opts.etcdAccess);
  const keys = new Keys(opts.prefix);
  const tokens = new TokenStore(client, keys);
  const authenticate = tokenAuth(opts.token, (digest) => tokens.find(digest));
  const thread = (name: 'documents' | 'config') => new HandlerThread({ etcd: opts.etcd, etcdAccess: accessData(opts.etcdAccess ?? {}), prefix: opts.prefix, logLevel: opts.logger.level, thread: name }, opts.logger);
  const threads = { documents: thread('documents'), config: thread('config') };
  const writer = new ConfigWriter(client, keys, undefined, { logger: opts.logger });
  const api = createApi({ client, keys, writer, tokens, logger: opts.logger }, { authenticate, logger: opts.logger, threads });
  const dashboard = dashboardHandler();
  const metrics = controlPlaneMetrics(client, keys, authenticate);
  const server: Server = createServer((req, res) => {
    if (req.url === '/healthz') {
      sendJson(res, 200, { ok: true });
      return;
    }
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      opts.logger.info({ method: req.method, url: req.url, status: res.statusCode, ms: Math.round(ms * 10) / 10 }, 'api request');
    });
    const path = (req.url ?? '/').split('?')[0]!;
    if (path === '/api' || path.startsWith('/api/')) api(req, res);
    else if (path === '/metrics') metrics(req, res);
    else dashboard(req, res);
  });
  const address = await listen(server, opts.listen);
  opts.logger.info({ url: address, etcd: opts.etcd, prefix: keys.root }, 'control plane listening');
  return {
    url: address,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all([threads.documents.close(), threads.config.close()]);
      client.close();
    },
  };
}
