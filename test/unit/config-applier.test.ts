// ConfigApplier.apply: a committed state becomes the served runtime whole, or is refused whole
// while the last good runtime serves on. States are built here; no etcd.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import type { Config } from '../../src/config/schema.js';
import { ConfigApplier, type ConfigSource } from '../../src/proxy/config-applier.js';
import { ProxyMetrics } from '../../src/proxy/metrics.js';
import { RuntimeHolder } from '../../src/proxy/runtime.js';
import type { CommittedState } from '../../src/store/config-watcher.js';
import { configEntries, countsOf, type VersionInfo } from '../../src/store/decode.js';
import { Keys } from '../../src/store/keys.js';
import { WEAK_CERT, WEAK_KEY } from './tls-fixtures.js';

const keys = new Keys('/signalbox');


function config(target: string, over: Partial<Config> = {}): Config {
  return {
    upstreams: [{ id: 'svc', targets: [{ url: target }] }],
    routes: [{ id: 'all', match: { paths: ['/*'] }, upstream: 'svc', policies: ['rl'] }],
    policies: [{ id: 'rl', type: 'rate-limit', requestsPerSecond: 10 }],
    certificates: [],
    consumers: [],
    settings: [],
    ...over,
  };
}

function state(version: number, cfg: Config, extra: Record<string, string> = {}): CommittedState {
  const info: VersionInfo = { version, hash: `hash-${version}`, author: 't', message: '', source: 'api', at: '', counts: countsOf(cfg) };
  const entries = new Map([...configEntries(keys, cfg), ...Object.entries(extra)]);
  return { revision: version * 10, version: info, entries, resync: false, versionExact: Object.keys(extra).length === 0 };
}

function setup() {
  const holder = new RuntimeHolder();
  return { holder, applier: new ConfigApplier(keys, holder, new ProxyMetrics(), pino({ level: 'silent' })) };
}

const servedVersion = (holder: RuntimeHolder) => holder.current?.meta.version ?? null;

describe('ConfigApplier.apply', () => {
  it('serves a valid state: its version, hash and routes', () => {
    const { holder, applier } = setup();
    assert.deepEqual(applier.apply(state(1, config('http://127.0.0.1:9001'))), { ok: true });
    assert.deepEqual(holder.current!.meta, { version: 1, hash: 'hash-1', revision: 10 });
    assert.equal(holder.current!.match('x', 'GET', '/a', {})!.id, 'all');
    assert.equal(applier.source, 'etcd');
    assert.equal(applier.lastError, null);
    assert.notEqual(applier.appliedAt, null);
  });

  it('refuses a state with a garbage key whole, naming the key, and keeps serving the last good one', () => {
    const { holder, applier } = setup();
    applier.apply(state(1, config('http://127.0.0.1:9001')));
    const before = holder.current;
    const bad = state(2, config('http://127.0.0.1:9002'), { '/signalbox/config/routes/bad': '{not json' });
    const result = applier.apply(bad);
    assert.equal(result.ok, false);
    assert.equal(holder.current, before, 'the runtime was not swapped');
    assert.equal(applier.lastError!.version, 2);
    assert.equal(applier.lastError!.revision, 20);
    assert.match(applier.lastError!.errors.join('\n'), /\/signalbox\/config\/routes\/bad.*not JSON/);
  });

  it('refuses a state with a certificate TLS cannot load, and applies the next valid one', () => {
    const { holder, applier } = setup();
    applier.apply(state(1, config('http://127.0.0.1:9001')));
    const weak = config('http://127.0.0.1:9001', { certificates: [{ id: 'weak', snis: ['weak.test'], cert: WEAK_CERT, key: WEAK_KEY }] });
    const result = applier.apply(state(2, weak));
    assert.equal(result.ok, false);
    assert.match(applier.lastError!.errors[0]!, /certificates\[0\]: TLS refuses this cert and key: .*key too small/);
    assert.equal(servedVersion(holder), 1);

    assert.equal(applier.apply(state(3, config('http://127.0.0.1:9003'))).ok, true);
    assert.equal(servedVersion(holder), 3);
    assert.equal(applier.lastError, null, 'a live state that applies clears the error');
  });

  it('applies the same state twice without losing warm pools or rate-limit buckets', () => {
    const { holder, applier } = setup();
    const s = state(1, config('http://127.0.0.1:9001'));
    applier.apply(s);
    const first = holder.current!;
    assert.equal(applier.apply(s).ok, true);
    const second = holder.current!;
    assert.equal(second.meta.version, 1);
    assert.equal(second.upstreams.get('svc'), first.upstreams.get('svc'), 'the same upstream pool');
    assert.equal(second.match('x', 'GET', '/a', {})!.policies[0], first.match('x', 'GET', '/a', {})!.policies[0], 'the same rate-limit bucket');
  });

  it('a fallback source never replaces the error that names what is wrong in etcd', () => {
    const { holder, applier } = setup();
    applier.apply(state(2, config('http://127.0.0.1:9002'), { '/signalbox/config/routes/bad': '{not json' }));
    const liveError = applier.lastError;
    assert.notEqual(liveError, null);
    assert.equal(holder.current, null, 'nothing to serve yet');

    const brokenHistory = state(1, config('http://127.0.0.1:9001'), { '/signalbox/config/upstreams/x': '[]' });
    assert.equal(applier.apply(brokenHistory, 'history').ok, false);
    assert.equal(applier.lastError, liveError);

    const source: ConfigSource = 'history';
    assert.equal(applier.apply(state(1, config('http://127.0.0.1:9001')), source).ok, true);
    assert.equal(servedVersion(holder), 1);
    assert.equal(applier.source, 'history');
    assert.equal(applier.lastError, liveError, 'still says why the live state is not served');
  });
});
