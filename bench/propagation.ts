// Propagation: from the control plane's answer to a write until every proxy reports the new
// version in /status. Real etcd, a real control plane and N real proxy processes on loopback.
//   npm run bench:propagation -- [--proxies 8] [--routes 2000] [--changes 20]
//
// Each proxy stamps appliedAt (wall clock, ms) when it swaps; all processes share this machine's
// clock, so appliedAt minus the wall time of the commit answer is the propagation delay, without
// the bench's own polling (which would load the same 2 cores) shaping the number. A proxy can
// apply before the answer reaches the bench: that counts as 0.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ManagedEtcd, freePort } from '../src/dev/managed-etcd.js';
import { launch, waitFor, type Spawned } from '../test/helpers/launch.js';

const { values } = parseArgs({
  options: { proxies: { type: 'string', default: '8' }, routes: { type: 'string', default: '2000' }, changes: { type: 'string', default: '20' } },
});
const N = Number(values.proxies);
const R = Number(values.routes);
const CHANGES = Number(values.changes);

function config(routes: number, variant: number) {
  return {
    upstreams: [
      { id: 'u0', targets: [{ url: 'http://127.0.0.1:9' }] },
      { id: 'u1', targets: [{ url: 'http://127.0.0.1:10' }] },
    ],
    routes: Array.from({ length: routes }, (_, i) => ({
      id: `r${i}`,
      match: { paths: [`/svc${i}/items`, `/svc${i}/items/:id`], methods: ['GET', 'POST'] },
      // Each change moves one route to the other upstream: the usual day-to-day edit.
      upstream: i === variant % routes ? `u${variant % 2}` : 'u0',
    })),
  };
}

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};

async function main() {
  const dir = await mkdtemp(join(tmpdir(), 'signalbox-bench-'));
  const etcd = new ManagedEtcd({ dataDir: join(dir, 'etcd') });
  const procs: Spawned[] = [];
  try {
    await etcd.start();
    await writeFile(join(dir, 'token'), 'bench-token');
    const apiPort = await freePort();
    const api = `http://127.0.0.1:${apiPort}`;
    procs.push(launch(['control-plane', '--etcd', etcd.endpoint, '--listen', `127.0.0.1:${apiPort}`, '--admin-token-file', join(dir, 'token')], { SIGNALBOX_LOG_LEVEL: 'warn' }));
    await waitFor('control plane', async () => (await fetch(`${api}/healthz`)).ok);
    const put = async (variant: number) => {
      const res = await fetch(`${api}/api/v1/config`, {
        method: 'PUT',
        headers: { authorization: 'Bearer bench-token', 'content-type': 'application/json' },
        body: JSON.stringify(config(R, variant)),
      });
      if (!res.ok) throw new Error(`PUT /config: ${res.status} ${await res.text()}`);
      return ((await res.json()) as { version: { version: number } }).version.version;
    };

    let t = performance.now();
    const first = await put(0);
    console.log(`import of ${R} routes: version ${first} committed in ${(performance.now() - t).toFixed(0)} ms`);

    const admins: string[] = [];
    for (let i = 0; i < N; i++) {
      const [port, admin] = [await freePort(), await freePort()];
      procs.push(launch(['proxy', '--etcd', etcd.endpoint, '--listen', `127.0.0.1:${port}`, '--admin-listen', `127.0.0.1:${admin}`, '--id', `bench-${i}`], { SIGNALBOX_LOG_LEVEL: 'warn' }));
      admins.push(`http://127.0.0.1:${admin}`);
    }
    t = performance.now();
    await Promise.all(admins.map((a) => waitFor(`${a} ready`, async () => (await fetch(`${a}/readyz`)).ok, 60_000)));
    console.log(`${N} proxies started and ready with ${R} routes in ${(performance.now() - t).toFixed(0)} ms`);

    const samples: number[] = [];
    const slowest: number[] = [];
    for (let c = 1; c <= CHANGES; c++) {
      const version = await put(c);
      const answeredAt = performance.timeOrigin + performance.now();
      const done = await Promise.all(admins.map((a) => waitFor(`${a} at version ${version}`, async () => {
        const s = (await (await fetch(`${a}/status`)).json()) as { version: number; appliedAt: string };
        return s.version === version ? Math.max(0, Date.parse(s.appliedAt) - answeredAt) : undefined;
      }, 30_000, 20)));
      samples.push(...done);
      slowest.push(Math.max(...done));
    }
    const fmt = (x: number) => `${x.toFixed(1)} ms`;
    console.log(`propagation over ${CHANGES} changes x ${N} proxies (${R} routes; commit answer → the proxy swapped to it, by its /status appliedAt):`);
    console.log(`  per proxy:   p50 ${fmt(quantile(samples, 0.5))}  p90 ${fmt(quantile(samples, 0.9))}  max ${fmt(Math.max(...samples))}`);
    console.log(`  whole fleet: p50 ${fmt(quantile(slowest, 0.5))}  p90 ${fmt(quantile(slowest, 0.9))}  max ${fmt(Math.max(...slowest))}`);
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
    await etcd.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
