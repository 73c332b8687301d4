// Traffic for the screenshots: upstreams on 127.0.0.1 that answer like services do (some slow,
// some failing for a while), and a load that rises and falls, sent through the proxies with the
// hosts and headers their routes match.
import { createServer, type Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';

export interface DemoUpstream {
  url: string;
  close(): Promise<void>;
}

/** `latencyMs` picks each answer's delay; `failing(t)` whether the answer at t (ms since start) is a 503. */
export async function demoUpstream(latencyMs: () => number, failing: (t: number) => boolean = () => false): Promise<DemoUpstream> {
  const started = Date.now();
  const server: Server = createServer((req, res) => {
    req.resume();
    setTimeout(() => {
      const status = failing(Date.now() - started) ? 503 : 200;
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'unavailable');
    }, latencyMs());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface DemoRequest {
  path: string;
  headers?: Record<string, string>;
  /** Relative share of the load. */
  weight: number;
}

/**
 * Send `requests` to the `proxies` until `signal` aborts, at a rate that swings between about
 * 10 and 50 requests a second over a few minutes; a few at a time.
 */
export async function sendDemoLoad(proxies: string[], requests: DemoRequest[], signal: AbortSignal): Promise<void> {
  const total = requests.reduce((a, r) => a + r.weight, 0);
  const pick = () => {
    let x = Math.random() * total;
    for (const r of requests) if ((x -= r.weight) < 0) return r;
    return requests[0]!;
  };
  const started = Date.now();
  const worker = async () => {
    while (!signal.aborted) {
      const r = pick();
      const base = proxies[Math.floor(Math.random() * proxies.length)]!;
      try {
        const res = await request(`${base}${r.path}`, { headers: r.headers, signal });
        await res.body.dump();
      } catch {
        // Aborted, or a proxy restarting: the load goes on.
      }
      const perSecond = 30 + 20 * Math.sin((Date.now() - started) / 40_000);
      await sleep((4 * 1000) / perSecond, undefined, { signal }).catch(() => undefined);
    }
  };
  await Promise.all([1, 2, 3, 4].map(worker));
}
