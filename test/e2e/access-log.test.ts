// The access log and W3C trace context through a real proxy process reading its config from a
// real etcd: one JSON line per request with what an operator looks for, the query string never
// written, `errors` writing failures only, and traceparent continued upstream with the proxy's
// own span id.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { validateDocument } from '../../src/config/validate.js';
import { createEtcdClient } from '../../src/store/client.js';
import { ConfigWriter } from '../../src/store/config-writer.js';
import { Keys } from '../../src/store/keys.js';
import { atFileEnd } from '../helpers/cleanup.js';
import { deadUrl } from '../helpers/data-plane.js';
import { startTestEtcd } from '../helpers/etcd.js';
import { runCli, startProxyProcess, waitFor } from '../helpers/processes.js';
import { startUpstream } from '../helpers/upstreams.js';

type Line = Record<string, unknown>;

/** `doc` written as the config in the etcd at `endpoint`, as the control plane would; its version. */
async function writeConfig(endpoint: string, doc: unknown, message: string): Promise<number> {
  const client = createEtcdClient([endpoint]);
  atFileEnd(() => client.close());
  const v = validateDocument(doc);
  assert.ok(v.ok);
  return (await new ConfigWriter(client, new Keys()).write(v.config, { author: 'test', source: 'api', message })).version.version;
}

async function lines(file: string): Promise<Line[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as Line);
}

it('writes one JSON line per request, without the query string; errors mode writes failures only; traceparent goes on as a child', async () => {
  const etcd = await startTestEtcd();
  const echo = await startUpstream('echo', (req, res) => {
    res.end(JSON.stringify({ traceparent: req.headers.traceparent, tracestate: req.headers.tracestate }));
    return true;
  });
  const version = await writeConfig(etcd.endpoint, {
    upstreams: [
      { id: 'echo', targets: [{ url: echo.url }] },
      { id: 'gone', targets: [{ url: await deadUrl() }] },
    ],
    routes: [
      { id: 'api', match: { paths: ['/api/*'] }, upstream: 'echo' },
      { id: 'broken', match: { paths: ['/broken'] }, upstream: 'gone' },
    ],
  }, 'log');
  const dir = await mkdtemp(join(tmpdir(), 'signalbox-access-'));
  atFileEnd(() => rm(dir, { recursive: true, force: true }));
  const allFile = join(dir, 'all', 'access.log');
  const errorsFile = join(dir, 'errors.log');
  const all = await startProxyProcess(etcd.endpoint, { args: ['--access-log', 'all', '--access-log-file', allFile] });
  const errors = await startProxyProcess(etcd.endpoint, { env: { SIGNALBOX_ACCESS_LOG: 'errors', SIGNALBOX_ACCESS_LOG_FILE: errorsFile } });

  const parent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  for (const p of [all, errors]) {
    const ok = await fetch(`${p.url}/api/users?apikey=s3cret-in-query`, { headers: { 'x-request-id': 'req-1', traceparent: parent, tracestate: 'vendor=x' } });
    assert.equal(ok.status, 200);
    const up = (await ok.json()) as { traceparent: string; tracestate: string };
    const [, traceId, spanId, flags] = up.traceparent.split('-');
    assert.equal(traceId, '4bf92f3577b34da6a3ce929d0e0e4736', 'the trace goes on');
    assert.notEqual(spanId, '00f067aa0ba902b7', "the upstream's parent is the proxy's span, not the client's");
    assert.match(spanId!, /^[0-9a-f]{16}$/);
    assert.equal(flags, '01', 'the sampled flag goes on');
    assert.equal(up.tracestate, 'vendor=x');
    assert.equal((await fetch(`${p.url}/nowhere`)).status, 404);
    assert.equal((await fetch(`${p.url}/broken`)).status, 502);
  }

  // A malformed traceparent starts a new trace, and its tracestate is not passed on.
  const fresh = (await (await fetch(`${all.url}/api/x`, { headers: { traceparent: '00-zz-00-01', tracestate: 'vendor=x' } })).json()) as { traceparent: string; tracestate?: string };
  assert.match(fresh.traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
  assert.equal(fresh.tracestate, undefined);

  const logged = await waitFor('4 lines in the access log', async () => {
    const l = await lines(allFile);
    return l.length >= 4 && l;
  });
  assert.equal(logged.length, 4);
  const [ok, noRoute, broken] = logged as [Line, Line, Line];
  assert.equal(ok.requestId, 'req-1');
  assert.equal(ok.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
  assert.match(String(ok.spanId), /^[0-9a-f]{16}$/);
  assert.equal(ok.method, 'GET');
  assert.equal(ok.path, '/api/users', 'the query string is never written');
  assert.equal(ok.status, 200);
  assert.equal(ok.route, 'api');
  assert.equal(ok.upstream, 'echo');
  assert.equal(ok.target, echo.url);
  assert.equal(ok.retries, 0);
  assert.equal(ok.version, version);
  assert.equal(ok.clientIp, '127.0.0.1');
  assert.ok(Number(ok.bytesOut) > 0);
  assert.ok(typeof ok.durationMs === 'number' && typeof ok.upstreamMs === 'number' && ok.upstreamMs <= ok.durationMs);
  assert.ok(!Number.isNaN(Date.parse(String(ok.time))));
  assert.equal(noRoute.status, 404);
  assert.equal(noRoute.path, '/nowhere', 'a request no route took is logged with its path');
  assert.equal(noRoute.route, undefined);
  assert.equal(broken.status, 502);
  assert.equal(broken.route, 'broken');
  const text = await readFile(allFile, 'utf8');
  assert.ok(!text.includes('s3cret'), 'no credential from the query string');

  const failures = await waitFor('the 502 in the errors log', async () => {
    const l = await lines(errorsFile);
    return l.length >= 1 && l;
  });
  // The 502 was the last request sent to that proxy: had the 200 or 404 been written, they would be first.
  assert.deepEqual(
    failures.map((l) => [l.status, l.route]),
    [[502, 'broken']],
  );
});

it('with --workers 2 writing to one stdout pipe, no line is cut by another write, even while the pipe is full or a path is longer than a write', async () => {
  const etcd = await startTestEtcd();
  const up = await startUpstream('up', (_req, res) => {
    res.end('ok');
    return true;
  });
  await writeConfig(etcd.endpoint, { upstreams: [{ id: 'up', targets: [{ url: up.url }] }], routes: [{ id: 'all', match: { paths: ['/*'] }, upstream: 'up' }] }, 'workers');
  const p = await startProxyProcess(etcd.endpoint, { args: ['--workers', '2', '--access-log', 'all'] });
  let stdout = '';
  p.proc.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  // Nothing is read while the requests run: the pipe fills and both workers' writes wait on it.
  p.proc.stdout!.pause();
  // Lines of about 3 KiB, and paths of 9,000 characters, whose lines are cut to 4 KiB (PIPE_BUF).
  const pathOf = (i: number, k: number) => `/${i}/${k}/${'x'.repeat(k % 2 === 0 ? 3000 : 9000)}`;
  const LOOPS = 8;
  const EACH = 100;
  await Promise.all(Array.from({ length: LOOPS }, async (_, i) => {
    for (let k = 0; k < EACH; k++) {
      const r = await fetch(`${p.url}${pathOf(i, k)}`);
      assert.equal(r.status, 200);
      await r.arrayBuffer();
    }
  }));
  // Then read in sips, so that the pipe fills again and again with both workers' writes waiting.
  const complete = () => stdout.split('"path":').length > LOOPS * EACH;
  for (const until = Date.now() + 30_000; !complete() && Date.now() < until; ) {
    p.proc.stdout!.resume();
    await sleep(2);
    p.proc.stdout!.pause();
    await sleep(5);
  }
  p.proc.stdout!.resume();
  assert.ok(complete(), `${LOOPS * EACH} access lines on stdout`);
  const written = stdout.split('\n').filter((l) => l.includes('"path":'));
  const paths = new Set<string>();
  for (const line of written) {
    let entry: Line;
    try {
      entry = JSON.parse(line) as Line;
    } catch {
      assert.fail(`a line is not JSON (cut by another write): ${line.slice(0, 80)}...${line.slice(-80)}`);
    }
    const [, i, k] = String(entry.path).split('/');
    assert.ok(pathOf(Number(i), Number(k)).startsWith(String(entry.path)), `${String(entry.path).slice(0, 20)}...: what was sent, or its start`);
    assert.equal(entry.truncated, Number(k) % 2 === 0 ? undefined : true);
    paths.add(`${i}/${k}`);
  }
  assert.equal(paths.size, LOOPS * EACH, 'every request once');
});

it('refuses an --access-log mode it does not know, naming the flag (exit 2)', async () => {
  const r = await runCli(['proxy', '--etcd', 'http://127.0.0.1:1', '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--access-log', '1.5']);
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.match(r.stderr, /--access-log: must be off, errors, all or a share from 0 to 1 \(got "1\.5"\)/);
});

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes: { key: string; value: Record<string, unknown> }[];
}

it('exports the span of each sampled request to an OTLP collector, with the span id the upstream saw as its parent; a collector that is down costs nothing', async () => {
  const etcd = await startTestEtcd();
  const echo = await startUpstream('echo', (req, res) => {
    res.end(JSON.stringify({ traceparent: req.headers.traceparent }));
    return true;
  });
  // The collector: OTLP/HTTP with JSON bodies, as OpenTelemetry's exporter sends them.
  const spans: OtlpSpan[] = [];
  const resources: unknown[] = [];
  const collector = await startUpstream('collector', (req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const sent = JSON.parse(body) as { resourceSpans: { resource: unknown; scopeSpans: { spans: OtlpSpan[] }[] }[] };
      for (const rs of sent.resourceSpans) {
        resources.push(rs.resource);
        for (const ss of rs.scopeSpans) spans.push(...ss.spans);
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
    return true;
  });
  await writeConfig(etcd.endpoint, { upstreams: [{ id: 'echo', targets: [{ url: echo.url }] }], routes: [{ id: 'api', match: { paths: ['/api/*'] }, upstream: 'echo' }] }, 'otlp');
  const traced = await startProxyProcess(etcd.endpoint, { id: 'traced', args: ['--otlp-endpoint', `${collector.url}/v1/traces`, '--trace-sample', '1'] });
  const parentOf = async (url: string, traceparent?: string) => {
    const r = await fetch(url, { headers: traceparent === undefined ? {} : { traceparent } });
    assert.equal(r.status, 200);
    return ((await r.json()) as { traceparent: string }).traceparent.split('-');
  };

  const [, sampledTrace, sampledSpan] = await parentOf(`${traced.url}/api/a`, '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01');
  const [, , , unsampledFlags] = await parentOf(`${traced.url}/api/b`, '00-5bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00');
  assert.equal(unsampledFlags, '00', "the client's decision not to sample stands");
  const [, newTrace, newSpan, newFlags] = await parentOf(`${traced.url}/api/c`);
  assert.equal(newFlags, '01', '--trace-sample 1 samples every new trace');

  await waitFor('2 spans at the collector', () => spans.length >= 2);
  const byTrace = new Map(spans.map((s) => [s.traceId, s]));
  assert.equal(spans.length, 2, 'the unsampled request has no span');
  const continued = byTrace.get(sampledTrace!)!;
  assert.equal(continued.spanId, sampledSpan, 'the span is the parent the upstream was given');
  assert.equal(continued.parentSpanId, '00f067aa0ba902b7');
  assert.equal(continued.name, 'GET api');
  const attrs = Object.fromEntries(continued.attributes.map((a) => [a.key, Object.values(a.value)[0]]));
  assert.equal(attrs['http.request.method'], 'GET');
  assert.equal(attrs['url.path'], '/api/a');
  assert.equal(Number(attrs['http.response.status_code']), 200);
  assert.equal(attrs['signalbox.upstream'], 'echo');
  const started = byTrace.get(newTrace!)!;
  assert.equal(started.spanId, newSpan);
  assert.ok(started.parentSpanId === undefined || started.parentSpanId === '', 'a new trace: the proxy span is its root');
  assert.match(JSON.stringify(resources[0]), /"service\.name".*"signalbox-proxy"/);

  // A collector that does not answer: requests are answered as ever, spans are dropped.
  const dark = await startProxyProcess(etcd.endpoint, { id: 'dark', args: ['--otlp-endpoint', `${await deadUrl()}/v1/traces`, '--trace-sample', '1'] });
  for (let i = 0; i < 20; i++) await parentOf(`${dark.url}/api/d`);
  await dark.stop();
  assert.equal(dark.proc.exitCode, 0, dark.output());
});

it('refuses an --otlp-endpoint that is no http(s) URL and a --trace-sample out of range (exit 2)', async () => {
  const base = ['proxy', '--etcd', 'http://127.0.0.1:1', '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0'];
  const url = await runCli([...base, '--otlp-endpoint', 'collector:4318']);
  assert.equal(url.code, 2, url.stderr);
  assert.match(url.stderr, /--otlp-endpoint: must be an http or https URL, got "collector:4318"/);
  const share = await runCli([...base, '--trace-sample', '2']);
  assert.equal(share.code, 2, share.stderr);
  assert.match(share.stderr, /--trace-sample: must be a share from 0 to 1 \(got "2"\)/);
});
