// GET /metrics of the control plane, in Prometheus text: the fleet as etcd shows it at the scrape
// (registered proxies, lagging ones, the live version) and the process's own metrics. Read per
// scrape from the registry and the version key, never the whole config, so every replica answers
// the same and a scrape costs two small reads.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Etcd3 } from 'etcd3';
import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { parseVersionInfo } from '../store/decode.js';
import type { Keys } from '../store/keys.js';
import { ProxyRegistry } from '../store/proxy-registry.js';
import type { Authenticate } from './auth.js';
import { DEFAULT_LAG_THRESHOLD_MS, isLagging, type FleetMember } from './fleet-convergence.js';
import { HttpError, sendError, sendText } from './http.js';
import { httpErrorOf } from './errors.js';

/** `?lagThresholdMs=` (Prometheus' `params:`) as /proxies takes it; the default otherwise. */
function lagThreshold(url: string): number {
  const raw = new URL(url, 'http://control-plane').searchParams.get('lagThresholdMs');
  if (raw === null) return DEFAULT_LAG_THRESHOLD_MS;
  if (!/^\d{1,8}$/.test(raw) || Number(raw) > 86_400_000) throw new HttpError(400, `query parameter lagThresholdMs must be an integer from 0 to 86400000, got "${raw.slice(0, 20)}"`);
  return Number(raw);
}

export function controlPlaneMetrics(client: Etcd3, keys: Keys, authenticate: Authenticate): (req: IncomingMessage, res: ServerResponse) => void {
  const registry = new Registry();
  const registers = [registry];
  collectDefaultMetrics({ register: registry });
  const proxies = new Gauge({ name: 'signalbox_proxies', help: 'Proxies registered in etcd (running, their lease alive).', registers });
  const lagging = new Gauge({
    name: 'signalbox_proxies_lagging',
    help: 'Registered proxies not on the live version longer than the lag threshold after its commit (30 s, or ?lagThresholdMs=); draining ones aside.',
    registers,
  });
  const live = new Gauge({ name: 'signalbox_config_live_version', help: 'The version the version key holds (0 before the first).', registers });

  // One scrape at a time: the gauges are set, then written out, with no other scrape between.
  let last: Promise<unknown> = Promise.resolve();
  const scrape = async (thresholdMs: number) => {
    const [listed, versionKv] = await Promise.all([ProxyRegistry.list(client, keys), client.get(keys.version).string()]);
    const version = parseVersionInfo(versionKv);
    const now = Date.now();
    const members: FleetMember[] = listed.map(({ id, status }) => ({ ...(typeof status === 'object' && status !== null ? status : {}), id }));
    proxies.set(members.length);
    lagging.set(members.filter((p) => isLagging(p, version, now, thresholdMs)).length);
    live.set(version?.version ?? 0);
    return registry.metrics();
  };

  return (req, res) => {
    const serve = async () => {
      if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, `${req.method} not allowed here`, [], { allow: 'GET, HEAD' });
      await authenticate(req, 'viewer');
      const thresholdMs = lagThreshold(req.url ?? '/');
      const text = last.catch(() => undefined).then(() => scrape(thresholdMs));
      last = text;
      sendText(res, 200, await text, registry.contentType);
    };
    serve().catch((err: unknown) => {
      if (res.headersSent) return void res.destroy();
      sendError(res, httpErrorOf(err) ?? new HttpError(500, `internal error: ${(err as Error).message}`));
    });
  };
}
