// A change too large to apply in one go (a whole-config PUT moving every one of 5,000 routes)
// is compiled in slices: the proxy answers requests with the old version's routes while it
// compiles, then serves the new version whole. Real etcd, a proxy started in this process (to
// hear its watcher), real upstreams and sockets.
import assert from 'node:assert/strict';
import type { EventEmitter } from 'node:events';
import { Agent, request } from 'node:http';
import { it } from 'node:test';
import { pino } from 'pino';
import type { Config } from '../../src/config/schema.js';
import { startProxy, type ProxyServer } from '../../src/proxy/main.js';
import { createEtcdClient } from '../../src/store/client.js';
import type { CommittedState } from '../../src/store/config-watcher.js';
import { ConfigWriter } from '../../src/store/config-writer.js';
import { Keys } from '../../src/store/keys.js';
import { atFileEnd } from '../helpers/cleanup.js';
import { startTestEtcd } from '../helpers/etcd.js';
import { waitFor } from '../helpers/processes.js';
import { startUpstream } from '../helpers/upstreams.js';

const ROUTES = 5_000;
const meta = { author: 'test', message: 'every route', source: 'api' };

/** ROUTES routes /svc<i>/..., every one on `upstream`, and route r1 on `r1` when given. */
function routesOn(upstream: 'a' | 'b', r1: 'a' | 'b' = upstream): Config {
  return {
    upstreams: [
      { id: 'a', targets: [{ url: urls.a }] },
      { id: 'b', targets: [{ url: urls.b }] },
    ],
    routes: Array.from({ length: ROUTES }, (_, i) => ({ id: `r${i}`, match: { paths: [`/svc${i}/*`] }, upstream: i === 1 ? r1 : upstream })),
    policies: [],
    certificates: [],
    consumers: [],
    settings: [],
  };
}

const urls = { a: (await startUpstream('a')).url, b: (await startUpstream('b')).url };
const etcd = await startTestEtcd();
const client = createEtcdClient([etcd.endpoint]);
atFileEnd(() => client.close());
const keys = new Keys('/large-apply');
const writer = new ConfigWriter(client, keys);

const agent = new Agent({ keepAlive: true, maxSockets: 1 });
atFileEnd(() => agent.destroy());
/** The body of GET path through the proxy (the upstream's name). */
const get = (proxy: ProxyServer, path: string) =>
  new Promise<string>((resolve, reject) => {
    const req = request(`${proxy.urls.http}${path}`, { agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.end();
  });

/** The proxy's watcher: the test hears each state before the proxy applies it. */
const watcherOf = (proxy: ProxyServer) => (proxy as unknown as { watcher: EventEmitter }).watcher;

it('a change to every route is compiled while the old version answers; the new one then serves whole', async () => {
  await writer.write(routesOn('a'), meta);
  const proxy = await startProxy({ id: 'p1', etcd: [etcd.endpoint], prefix: keys.root, listen: { host: '127.0.0.1', port: 0 }, logger: pino({ level: 'silent' }) });
  atFileEnd(() => proxy.close());
  assert.equal(proxy.status().version, 1);
  assert.equal(await get(proxy, '/svc0/x'), 'a', 'a warm connection to the proxy');

  const events: string[] = [];
  const answeredDuring = new Promise<void>((resolve, reject) => {
    watcherOf(proxy).prependListener('state', (state: CommittedState) => {
      if (state.version?.version !== 2) return;
      events.push(`state of version 2 received (${state.delta?.changed.size ?? 'no'} changed keys)`);
      // Sent now, before the proxy starts on the state: a proxy compiling in one pass answers it
      // only once version 2 serves.
      get(proxy, '/svc4999/x').then((body) => {
        events.push(`answered by ${body} while version ${proxy.status().version} serves`);
        resolve();
      }, reject);
    });
  });
  await writer.write(routesOn('b'), meta);
  await answeredDuring;
  await waitFor('version 2 served', () => proxy.status().version === 2 || undefined, 60_000);
  events.push(`version ${proxy.status().version} serves`);
  events.push(`answered by ${await get(proxy, '/svc4999/x')}`);
  assert.deepEqual(events, [
    `state of version 2 received (${ROUTES} changed keys)`,
    'answered by a while version 1 serves',
    'version 2 serves',
    'answered by b',
  ]);
  assert.equal(proxy.status().routes, ROUTES);
  assert.equal(proxy.status().lastError, null);
  for (const i of [0, 1, 2500, 4998]) assert.equal(await get(proxy, `/svc${i}/x`), 'b', `route r${i} on version 2`);
});

it('versions written while a large change compiles: the proxy ends on the newest, with every change in it', async () => {
  const proxy = await startProxy({ id: 'p2', etcd: [etcd.endpoint], prefix: keys.root, listen: { host: '127.0.0.1', port: 0 }, logger: pino({ level: 'silent' }) });
  atFileEnd(() => proxy.close());
  const start = proxy.status().version!;
  // Every route back to a (a large change), then r1 to b, then everything on a but r1: written
  // back to back, so the later ones land while the first one compiles.
  const written: number[] = [];
  for (const config of [routesOn('a'), routesOn('a', 'b'), routesOn('b', 'a')]) written.push((await writer.write(config, meta)).version.version);
  assert.deepEqual(written, [start + 1, start + 2, start + 3]);
  await waitFor('the newest version served', () => proxy.status().version === start + 3 || undefined, 60_000);
  assert.equal(await get(proxy, '/svc1/x'), 'a');
  for (const i of [0, 2, 2500, 4999]) assert.equal(await get(proxy, `/svc${i}/x`), 'b', `route r${i} as the newest version has it`);
  assert.equal(proxy.status().lastError, null);
});
