// No caller can stall or crash the control plane: a real control-plane process on a real etcd, sent
// documents nobody writes by hand (huge, empty by the hundred thousand, nested, malformed). Each gets
// a 4xx that says what is wrong, and /healthz keeps answering while a large document is checked.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import type { Etcd3 } from 'etcd3';
import { configToYaml } from '../../src/config/yaml.js';
import { createEtcdClient } from '../../src/store/client.js';
import type { ManagedEtcd } from '../../src/dev/managed-etcd.js';
import { startTestEtcd } from '../helpers/etcd.js';
import { startControlPlaneProcess, type Stack } from '../helpers/processes.js';
import { freeze } from '../helpers/launch.js';
import { singleRouteDoc } from '../helpers/upstreams.js';

type Detail = { path: string; message: string };
type Body = { error?: string; details?: Detail[]; valid?: boolean; errors?: Detail[]; versions?: unknown[] };

/** Routes as large installations write them, `n` of them: a document that takes seconds to parse as YAML. */
function largeConfig(n: number) {
  const upstreams = Math.ceil(n / 10);
  return {
    upstreams: Array.from({ length: upstreams }, (_, i) => ({ id: `svc-${i}`, targets: [{ url: `http://10.0.${(i >> 8) & 255}.${i & 255}:8080` }] })),
    routes: Array.from({ length: n }, (_, i) => ({
      id: `route-${i}`,
      match: { hosts: [`team-${i % 200}.example.com`], paths: [`/api/v1/svc-${i}`, `/api/v1/svc-${i}/:id`, `/api/v1/svc-${i}/:id/*`], methods: ['GET' as const, 'POST' as const, 'PUT' as const] },
      upstream: `svc-${i % upstreams}`,
    })),
    policies: [],
    certificates: [],
    consumers: [],
  };
}

describe('control plane under oversized and hostile input', () => {
  let stack: Stack;
  let etcd: ManagedEtcd;
  let kv: Etcd3;
  const call = async (method: string, path: string, body?: string, headers: Record<string, string> = {}) => {
    const res = await fetch(`${stack.api}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${stack.token}`, 'content-type': 'application/json', ...headers },
      body,
    }).catch((err: Error & { cause?: { code?: string; message?: string } }) => {
      // fetch says only "fetch failed"; what failed (a reset, a refused connect) is in its cause.
      throw new Error(`${method} ${path}: ${err.message}: ${err.cause?.code ?? ''} ${err.cause?.message ?? ''}`);
    });
    return { status: res.status, headers: res.headers, body: (await res.json()) as Body };
  };
  const versionCount = async () => (await call('GET', '/versions')).body.versions!.length;

  before(async () => {
    etcd = await startTestEtcd();
    stack = await startControlPlaneProcess(etcd.endpoint);
    kv = createEtcdClient([etcd.endpoint]);
  });
  after(() => kv.close());

  it('100,000 empty routes: 400 listing the first 100 problems and then how many more, not a 500', async () => {
    const empties = JSON.stringify({ routes: Array.from({ length: 100_000 }, () => ({})) });
    const put = await call('PUT', '/config', empties);
    assert.equal(put.status, 400, JSON.stringify(put.body).slice(0, 300));
    assert.equal(put.body.error, 'invalid config');
    const details = put.body.details!;
    assert.equal(details.length, 101);
    assert.ok(details.slice(0, 100).every((d) => /^routes\[\d+\]\.(id|match|upstream)$/.test(d.path)), JSON.stringify(details.slice(0, 5)));
    assert.deepEqual(details[0], { path: 'routes[0].id', message: 'Invalid input: expected string, received undefined', line: 1 });
    assert.match(details[100]!.message, /^and (at least )?\d+ more problems/);
    assert.equal(await versionCount(), 0, 'nothing written');

    const check = await call('POST', '/config/validate', empties);
    assert.equal(check.status, 200);
    assert.equal(check.body.valid, false);
    assert.equal(check.body.errors!.length, 101);
  });

  it('a body over 16 MiB is refused with 413 before it is parsed, with or without Content-Length', async () => {
    const over = `{"routes":[${'{"id":"r"},'.repeat((17 * 1024 * 1024) / 11)}{}]}`;
    const sized = await call('POST', '/config/validate', over);
    assert.equal(sized.status, 413);
    assert.match(sized.body.error!, /request body over 16777216 bytes \(16 MiB\)/);

    // Chunked: the size is only known as it arrives.
    const chunked = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(`${stack.api}/api/v1/config`, { method: 'PUT', headers: { authorization: `Bearer ${stack.token}`, 'content-type': 'application/json' } }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      });
      req.on('error', reject);
      const chunk = Buffer.alloc(1024 * 1024, ' ');
      let sent = 0;
      const pump = () => {
        while (sent < 17) {
          sent++;
          if (!req.write(chunk)) return void req.once('drain', pump);
        }
        req.end();
      };
      pump();
    });
    assert.equal(chunked.status, 413, chunked.body);
    assert.equal(await versionCount(), 0);
  });

  it('a config under the body limit that etcd cannot record (one object over 1 MiB) is a 413 saying so, not a 500', async () => {
    const huge = { upstreams: [{ id: 'u', targets: [{ url: 'http://127.0.0.1:9' }] }], routes: [{ id: 'long', match: { paths: [`/${'a'.repeat(1_100_000)}`] }, upstream: 'u' }] };
    const r = await call('PUT', '/config', JSON.stringify(huge));
    assert.equal(r.status, 413, JSON.stringify(r.body).slice(0, 300));
    assert.match(r.body.error!, /^the config is too large for etcd: \S+\/config\/routes\/long is too large: \d+ bytes, a transaction holds \d+/);
    assert.equal(await versionCount(), 0);
  });

  it('/healthz keeps answering while a large YAML document is checked, before the check answers', async () => {
    const yaml = configToYaml(largeConfig(15_000));
    const check = call('POST', '/config/validate', yaml, { 'content-type': 'application/yaml' });
    let answered = false;
    void check.then(() => (answered = true));
    // On the event loop, this parse stops every other answer until it ends; off it, /healthz
    // answers again and again meanwhile.
    let healthy = 0;
    while (!answered) {
      const res = await fetch(`${stack.api}/healthz`);
      if (res.ok && !answered) healthy++;
      await res.arrayBuffer();
    }
    const result = await check;
    assert.equal(result.status, 200);
    assert.equal(result.body.valid, true, JSON.stringify(result.body).slice(0, 300));
    assert.ok(healthy >= 100, `/healthz answered ${healthy} times while the document was checked`);
  });

  it('malformed input is a 400 naming what is wrong, never a 500: a merge patch nested 50,000 deep', async () => {
    assert.equal((await call('PUT', '/config', JSON.stringify(singleRouteDoc('http://127.0.0.1:9')))).status, 200);
    const deep = `{"match":${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}}`;
    const r = await call('PATCH', '/routes/all', deep, { 'content-type': 'application/merge-patch+json' });
    assert.equal(r.status, 400, JSON.stringify(r.body).slice(0, 300));
    assert.match(r.body.error!, /nests deeper than \d+ levels/);
  });

  it('a YAML alias bomb ("billion laughs") is a 400, and nothing is written', async () => {
    const lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let i = 1; i < 10; i++) lines.push(`${'abcdefghij'[i]}: &${'abcdefghij'[i]} [${Array(9).fill(`*${'abcdefghij'[i - 1]}`).join(',')}]`);
    const before = await versionCount();
    const put = await call('PUT', '/config', `${lines.join('\n')}\n`, { 'content-type': 'application/yaml' });
    assert.equal(put.status, 400, JSON.stringify(put.body));
    assert.deepEqual(put.body.details, [{ path: '(document)', message: 'Excessive alias count indicates a resource exhaustion attack' }]);
    assert.equal(await versionCount(), before);
  });

  it('a malformed X-Signalbox-Message is a 400 naming the header', async () => {
    const before = await versionCount();
    const r = await call('PUT', '/routes/other', JSON.stringify({ id: 'other', match: { paths: ['/o'] }, upstream: 'svc' }), { 'x-signalbox-message': '%E0%A4%A' });
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.match(r.body.error!, /^X-Signalbox-Message must be URI-encoded UTF-8/);
    assert.equal(await versionCount(), before);
  });

  it('a write lock left by another writer: 409 saying so (not "expected version N, live version is N"), with Retry-After', async () => {
    const live = await versionCount();
    // What a control plane that stopped in the middle of a large write leaves until its lease ends.
    await kv.put(`${stack.prefix}/write-lock`).value(JSON.stringify({ token: 'x', version: live + 1, author: 'elsewhere' })).exec();
    try {
      const r = await call('PUT', '/config', JSON.stringify(singleRouteDoc('http://127.0.0.1:10')), { 'if-match': `"${live}"` });
      assert.equal(r.status, 409, JSON.stringify(r.body));
      assert.match(r.body.error!, /another change holds the write lock/);
      assert.doesNotMatch(r.body.error!, /expected version/);
      assert.equal(r.headers.get('retry-after'), '2');
    } finally {
      await kv.delete().key(`${stack.prefix}/write-lock`).exec();
    }
    assert.equal(await versionCount(), live);
  });

  it('etcd not answering within the deadline: 503 with Retry-After, not a 500; the retry then succeeds', async () => {
    const doc = JSON.stringify(singleRouteDoc('http://127.0.0.1:11'));
    await freeze(etcd.pid!);
    let r: Awaited<ReturnType<typeof call>>;
    try {
      r = await call('PUT', '/config', doc, { 'x-signalbox-message': 'while etcd is frozen' });
    } finally {
      process.kill(etcd.pid!, 'SIGCONT');
    }
    assert.equal(r.status, 503, JSON.stringify(r.body));
    assert.match(r.body.error!, /^etcd did not answer in time/);
    assert.equal(r.headers.get('retry-after'), '1');
    const retry = await call('PUT', '/config', doc);
    assert.equal(retry.status, 200, JSON.stringify(retry.body));
  });
});
