// The control plane's live copy of the config (each handler thread keeps its own from a watch):
// two control-plane replicas writing in turn, each through both of its handler threads, never
// plan a write on a stale copy, never lose an update, and read their own and each other's
// writes; history written as diffs reads back across snapshot points, diffs and rollbacks too.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { createEtcdClient } from '../../src/store/client.js';
import { Keys } from '../../src/store/keys.js';
import { decodeHistory } from '../../src/store/decode.js';
import { atFileEnd } from '../helpers/cleanup.js';
import { startTestEtcd } from '../helpers/etcd.js';
import { startControlPlaneProcess, type Stack } from '../helpers/processes.js';

interface Answer {
  status: number;
  etag: string | null;
  body: Record<string, unknown> & { error?: string; version?: { version: number } };
}

function caller(stack: Stack) {
  return async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> => {
    const res = await fetch(`${stack.api}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${stack.token}`, 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, etag: res.headers.get('etag'), body: (await res.json()) as Answer['body'] };
  };
}

const route = (id: string, upstream = 'svc') => ({ id, match: { paths: [`/${id}`] }, upstream });
const seed = { upstreams: [{ id: 'svc', targets: [{ url: 'http://127.0.0.1:9' }] }, { id: 'other', targets: [{ url: 'http://127.0.0.1:10' }] }], routes: [route('r0')] };

describe('two control planes, each with its live copy', () => {
  let a: ReturnType<typeof caller>;
  let b: ReturnType<typeof caller>;
  let etcdEndpoint: string;

  before(async () => {
    const etcd = await startTestEtcd();
    etcdEndpoint = etcd.endpoint;
    // Both started before anything is written: each copy follows the writes by its watch.
    [a, b] = (await Promise.all([startControlPlaneProcess(etcd.endpoint), startControlPlaneProcess(etcd.endpoint)])).map(caller) as [typeof a, typeof b];
    assert.equal((await a('PUT', '/config', seed)).status, 200);
  });

  it('writing in turn, whole and per object, each write builds on the other replica\'s last: nothing lost, each reads what the other wrote', async () => {
    let version = 1;
    for (let i = 1; i <= 30; i++) {
      const [writer, reader] = i % 2 ? [a, b] : [b, a];
      // Per object (the config thread) mostly; now and then the whole config (the documents thread).
      let write: Answer;
      if (i % 5 === 0) {
        const routes = (await reader('GET', '/routes')).body.routes as unknown[];
        write = await writer('PUT', '/config', { ...seed, routes: [...routes, route(`r${i}`)] }, { 'if-match': `"${version}"` });
      } else {
        write = await writer('PUT', `/routes/r${i}`, route(`r${i}`), { 'if-match': `"${version}"` });
      }
      assert.equal(write.status, 200, `write ${i}: ${JSON.stringify(write.body)}`);
      version++;
      assert.equal(write.etag, `"${version}"`);
      // The other replica, at once: its copy holds this write (read-your-writes across replicas).
      const seen = await reader('GET', `/routes/r${i}`);
      assert.equal(seen.status, 200, `read ${i} on the other replica`);
      assert.equal(seen.etag, `"${version}"`);
      // And a change guarded by the version just written is not refused as stale.
      const patched = await reader('PATCH', `/routes/r${i}`, { upstream: 'other' }, { 'if-match': `"${version}"` });
      assert.equal(patched.status, 200, `patch ${i}: ${JSON.stringify(patched.body)}`);
      version++;
    }
    const [fromA, fromB] = await Promise.all([a('GET', '/config'), b('GET', '/config')]);
    assert.deepEqual(fromA.body, fromB.body);
    assert.equal(fromA.etag, `"${version}"`);
    const routes = (fromA.body.routes as { id: string; upstream: string }[]).map((r) => `${r.id}:${r.upstream}`).sort();
    assert.deepEqual(routes, ['r0:svc', ...Array.from({ length: 30 }, (_, i) => `r${i + 1}:other`)].sort());
  });

  it('writing at the same time on both replicas: a write that lost the race is refused, never merged on a stale copy; every accepted one is there', async () => {
    const before = Number((await a('GET', '/config')).etag!.replaceAll('"', ''));
    const writes = Array.from({ length: 16 }, (_, i) => ((i % 2 ? a : b)('PUT', `/routes/race-${i}`, route(`race-${i}`))));
    const answers = await Promise.all(writes);
    const accepted = answers.flatMap((r, i) => (r.status === 200 ? [`race-${i}`] : []));
    for (const r of answers) assert.ok(r.status === 200 || r.status === 409, JSON.stringify(r.body));
    assert.ok(accepted.length >= 1, `${accepted.length} accepted`);
    const live = await b('GET', '/config');
    assert.equal(live.etag, `"${before + accepted.length}"`, 'one version per accepted write');
    const ids = new Set((live.body.routes as { id: string }[]).map((r) => r.id));
    for (const id of accepted) assert.ok(ids.has(id), `${id} was accepted and is live`);
    assert.equal([...ids].filter((id) => id.startsWith('race-')).length, accepted.length, 'nothing refused is live');
    // Every version written in the race reads back from history: each diff names the one before.
    for (let n = before + 1; n <= before + accepted.length; n++) assert.equal((await a('GET', `/versions/${n}`)).status, 200, `version ${n}`);
  });

  it('a key written straight into etcd meanwhile: the next versions still read back as etcd held them', async () => {
    const client = createEtcdClient([etcdEndpoint]);
    atFileEnd(async () => client.close());
    const keys = new Keys();
    await client.put(keys.object('routes', 'by-hand')).value(JSON.stringify(route('by-hand')));
    const w1 = await a('PUT', '/routes/after-hand-1', route('after-hand-1'));
    assert.equal(w1.status, 200);
    const w2 = await b('PUT', '/routes/after-hand-2', route('after-hand-2'));
    assert.equal(w2.status, 200);
    const live = await a('GET', '/config');
    assert.ok((live.body.routes as { id: string }[]).some((r) => r.id === 'by-hand'));
    const v2 = await b('GET', `/versions/${w2.body.version!.version}`);
    assert.equal(v2.status, 200, JSON.stringify(v2.body));
    assert.deepEqual(v2.body.config, live.body);
  });
});

describe('history as diffs, through the API', () => {
  let call: ReturnType<typeof caller>;
  let stack: Stack;
  before(async () => {
    const etcd = await startTestEtcd();
    stack = await startControlPlaneProcess(etcd.endpoint);
    call = caller(stack);
  });

  it('across a snapshot point (every 100th version): each version, diffs between them and a rollback are exact', async () => {
    assert.equal((await call('PUT', '/config', { ...seed, routes: Array.from({ length: 20 }, (_, i) => route(`r${i}`)) })).status, 200);
    // Versions 2..105: route r<v % 20> gets a new path; now and then a route is added, and removed in the next.
    for (let v = 2; v <= 105; v++) {
      const id = `r${v % 20}`;
      const r = v % 17 === 0
        ? await call('DELETE', `/routes/extra-${v - 1}`)
        : v % 17 === 16
          ? await call('PUT', `/routes/extra-${v}`, route(`extra-${v}`))
          : await call('PATCH', `/routes/${id}`, { match: { paths: [`/${id}/v${v}`] } });
      assert.equal(r.status, 200, `version ${v}: ${JSON.stringify(r.body)}`);
    }
    const client = createEtcdClient([stack.etcd]);
    atFileEnd(async () => client.close());
    const keys = new Keys();
    const kind = async (n: number) => ((decodeHistory((await client.get(keys.history(n)).string())!) as { diffFrom?: number }).diffFrom === undefined ? 'snapshot' : 'diff');
    assert.deepEqual(await Promise.all([1, 2, 100, 101, 102].map(kind)), ['snapshot', 'diff', 'diff', 'snapshot', 'diff']);

    // Each version as it was: the live config at 105; version n and n+1 differ by one route.
    const v105 = await call('GET', '/versions/105');
    assert.deepEqual(v105.body.config, (await call('GET', '/config')).body);
    for (const n of [99, 100, 101, 102]) {
      const d = await call('GET', `/versions/${n}/diff/${n + 1}`);
      assert.equal(d.status, 200);
      assert.equal((d.body.changes as unknown[]).length, 1, `${n} → ${n + 1}: ${JSON.stringify(d.body.changes)}`);
    }
    // 99, 100 and 103 change r19, r0 and r3; 101 adds extra-101 and 102 removes it.
    const across = await call('GET', '/versions/98/diff/103');
    assert.deepEqual((across.body.changes as { id: string; op: string }[]).map((c) => `${c.op} ${c.id}`), ['change r0', 'change r19', 'change r3']);

    const rb = await call('POST', '/rollback', { version: 99 });
    assert.equal(rb.status, 200, JSON.stringify(rb.body));
    assert.deepEqual((await call('GET', '/config')).body, (await call('GET', '/versions/99')).body.config);
    assert.deepEqual((await call('GET', '/versions/106')).body.config, (await call('GET', '/versions/99')).body.config);
  });
});
