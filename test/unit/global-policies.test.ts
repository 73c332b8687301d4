// Global policies: a top-level `globalPolicies` list, checked with paths as written, stored as
// the settings object, shown back as the top-level field, and compiled in front of every route's
// own chain.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { configHash } from '../../src/config/canonical.js';
import { changeLine, diffConfigs } from '../../src/config/diff.js';
import { validateSources } from '../../src/config/load.js';
import { referrers } from '../../src/config/references.js';
import { toDocument, type Config } from '../../src/config/schema.js';
import { validateDocument, type ValidationResult } from '../../src/config/validate.js';
import { policyChain } from '../../src/proxy/route-compile.js';
import { compileRuntime } from '../../src/proxy/runtime.js';
import { decodeEntries, decodeObject } from '../../src/store/decode.js';
import { Keys } from '../../src/store/keys.js';

const base = {
  upstreams: [{ id: 'svc', targets: [{ url: 'http://127.0.0.1:9001' }] }],
  routes: [
    { id: 'open', match: { paths: ['/open'] }, upstream: 'svc' },
    { id: 'keyed', match: { paths: ['/keyed'] }, upstream: 'svc', policies: ['auth', 'rl'] },
  ],
  policies: [
    { id: 'rl', type: 'rate-limit', requestsPerSecond: 5 },
    { id: 'auth', type: 'key-auth' },
    { id: 'spare', type: 'rate-limit', requestsPerSecond: 50 },
  ],
};

function valid(doc: unknown): Config {
  const r = validateDocument(doc);
  assert.ok(r.ok, JSON.stringify(!r.ok && r.issues));
  return r.config;
}

function issues(r: ValidationResult): { path: string; message: string }[] {
  assert.equal(r.ok, false);
  return r.ok ? [] : r.issues.map(({ path, message }) => ({ path, message }));
}

const meta = (version: number) => ({ version, hash: `h${version}`, revision: version });

describe('globalPolicies: validation', () => {
  it('is kept as the settings object and shown back as the top-level field', () => {
    const config = valid({ ...base, globalPolicies: ['rl', 'spare'] });
    assert.deepEqual(config.settings, [{ id: 'global', globalPolicies: ['rl', 'spare'] }]);
    const doc = toDocument(config);
    assert.deepEqual(doc.globalPolicies, ['rl', 'spare']);
    assert.equal('settings' in doc, false);
    // What is shown applies back to the same config.
    assert.deepEqual(valid(JSON.parse(JSON.stringify(doc))), config);
  });

  it('an unknown policy is named at its index', () => {
    assert.deepEqual(issues(validateDocument({ ...base, globalPolicies: ['rl', 'nope'] })), [{ path: 'globalPolicies[1]', message: 'unknown policy "nope"' }]);
  });

  it('a policy listed twice is refused at the second place', () => {
    assert.deepEqual(issues(validateDocument({ ...base, globalPolicies: ['rl', 'spare', 'rl'] })), [
      { path: 'globalPolicies[2]', message: 'duplicate policy "rl" (also globalPolicies[0])' },
    ]);
  });

  it('something other than a list of ids is refused at its path', () => {
    assert.deepEqual(issues(validateDocument({ ...base, globalPolicies: 'rl' })).map((i) => i.path), ['globalPolicies']);
    assert.deepEqual(issues(validateDocument({ ...base, globalPolicies: ['rl', 'Bad Id'] })).map((i) => i.path), ['globalPolicies[1]']);
  });

  it('given in two files of one desired state, the second is refused with its file and line', () => {
    const r = validateSources([
      { file: 'a.yaml', text: 'policies:\n  - { id: rl, type: rate-limit, requestsPerSecond: 5 }\nglobalPolicies: [rl]\n' },
      { file: 'b.yaml', text: 'upstreams: []\nglobalPolicies: [rl]\n' },
    ]);
    assert.equal(r.ok, false);
    assert.deepEqual(!r.ok && r.issues, [{ file: 'b.yaml', line: 2, path: 'globalPolicies', message: 'given twice (also globalPolicies in a.yaml)' }]);
  });

  it('an empty list is no settings object: the config, its hash and its diff are as without it', () => {
    const without = valid(base);
    const empty = valid({ ...base, globalPolicies: [] });
    assert.deepEqual(empty, without);
    assert.deepEqual(empty.settings, []);
    assert.equal(configHash(empty), configHash(without));
    assert.notEqual(configHash(valid({ ...base, globalPolicies: ['rl'] })), configHash(without));
  });

  it('an empty settings object written straight into etcd decodes as an object (no global policies), never as a hole', () => {
    const keys = new Keys('/g');
    const key = keys.object('settings', 'global');
    const value = '{"id":"global","globalPolicies":[]}';
    assert.deepEqual(decodeObject(keys, key, value), { kind: 'settings', id: 'global', object: { id: 'global', globalPolicies: [] } });
    const r = decodeEntries(keys, [[key, value]]);
    assert.ok(r.ok);
    assert.equal(toDocument(r.config).globalPolicies, undefined);
    const bad = decodeEntries(keys, [[key, '{"id":"global","globalPolicies":["nope"]}']]);
    assert.deepEqual(!bad.ok && bad.issues.map(({ file, path, message }) => ({ file, path, message })), [{ file: key, path: 'globalPolicies[0]', message: 'unknown policy "nope"' }]);
  });

  it('a change shows as "~ globalPolicies", added, changed or removed', () => {
    const none = valid(base);
    const one = valid({ ...base, globalPolicies: ['rl'] });
    const two = valid({ ...base, globalPolicies: ['spare', 'rl'] });
    for (const [a, b] of [[none, one], [one, two], [two, none]] as const) {
      assert.deepEqual(diffConfigs(a, b).map(changeLine), ['~ globalPolicies']);
    }
  });

  it('a policy the global policies use has them as a referrer (what refuses its deletion)', () => {
    const config = valid({ ...base, globalPolicies: ['spare', 'rl'] });
    assert.deepEqual(referrers(config, 'policies', 'rl'), [
      { kind: 'settings', id: 'global', path: 'globalPolicies[1]' },
      { kind: 'routes', id: 'keyed', path: 'routes[0].policies[1]' },
    ]);
  });
});

describe('globalPolicies: compiled chains', () => {
  it('the global policies first, then the route\'s own; one listed again runs once, at its global place', () => {
    assert.deepEqual(policyChain(['rl', 'spare'], ['auth', 'rl']), ['rl', 'spare', 'auth']);
    assert.deepEqual(policyChain([], ['auth', 'rl']), ['auth', 'rl']);
    assert.deepEqual(policyChain(['rl']), ['rl']);

    const rt = compileRuntime(valid({ ...base, globalPolicies: ['rl', 'spare'] }), meta(1));
    assert.deepEqual(rt.match('x', 'GET', '/open', {})!.policies.map((p) => p.id), ['rl', 'spare']);
    assert.deepEqual(rt.match('x', 'GET', '/keyed', {})!.policies.map((p) => p.id), ['rl', 'spare', 'auth']);
  });

  it('an unchanged global policy keeps its instance (its buckets) across an unrelated change; the old chains stay as they were', () => {
    const first = compileRuntime(valid({ ...base, globalPolicies: ['rl'] }), meta(1));
    const firstChain = first.match('x', 'GET', '/open', {})!.policies;
    const second = compileRuntime(valid({ ...base, routes: [...base.routes, { id: 'new', match: { paths: ['/new'] }, upstream: 'svc' }], globalPolicies: ['rl', 'spare'] }), meta(2), first);
    assert.equal(second.policy('rl'), first.policy('rl'));
    assert.equal(second.match('x', 'GET', '/new', {})!.policies[0], first.policy('rl'));
    assert.deepEqual(second.match('x', 'GET', '/open', {})!.policies.map((p) => p.id), ['rl', 'spare']);
    assert.deepEqual(firstChain.map((p) => p.id), ['rl']);
    assert.deepEqual(first.match('x', 'GET', '/open', {})!.policies.map((p) => p.id), ['rl']);
  });
});
