import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validateSources } from '../../src/config/load.js';
import { formatIssue, validateDocument } from '../../src/config/validate.js';
import { configHash } from '../../src/config/canonical.js';
import { diffConfigs, emptyConfig } from '../../src/config/diff.js';
import { WEAK_CERT, WEAK_KEY } from './tls-fixtures.js';

const good = `
upstreams:
  - id: users
    targets:
      - url: http://127.0.0.1:9101
        weight: 2
routes:
  - id: users-api
    match:
      paths: ["/users", "/users/:id", "/users/*"]
    upstream: users
    policies: [rl]
policies:
  - id: rl
    type: rate-limit
    requestsPerSecond: 10
`;

function errors(text: string, file = 'a.yaml'): string[] {
  const r = validateSources([{ file, text }]);
  assert.equal(r.ok, false, 'expected the document to be refused');
  return r.ok ? [] : r.issues.map(formatIssue);
}

describe('config validation', () => {
  it('accepts the contract example and sorts objects by id', () => {
    const r = validateSources([{ file: 'a.yaml', text: good }]);
    assert.ok(r.ok, JSON.stringify(!r.ok && r.issues));
    assert.equal(r.config.routes[0]!.id, 'users-api');
    assert.deepEqual(r.config.certificates, []);
  });

  it('names an unknown upstream with its path and line', () => {
    const text = good.replace('upstream: users', 'upstream: usrs');
    assert.deepEqual(errors(text), ['a.yaml:11: routes[0].upstream: unknown upstream "usrs"']);
  });

  it('refuses unknown fields, so a typo never passes silently', () => {
    const text = good.replace('weight: 2', 'wieght: 2');
    assert.deepEqual(errors(text), ['a.yaml:6: upstreams[0].targets[0].wieght: unknown field']);
  });

  it('lists every problem, not only the first', () => {
    const text = good.replace('upstream: users', 'upstream: usrs').replace('policies: [rl]', 'policies: [nope]');
    assert.equal(errors(text).length, 2);
  });

  it('lists schema errors and unknown references together, across files', () => {
    const r = validateSources([
      { file: 'routes.yaml', text: 'routes:\n  - id: r\n    match: { paths: ["/u"] }\n    upstream: usrs\n    retry: 3\n' },
      { file: 'ups.yaml', text: 'upstreams:\n  - id: users\n    targets: [{ url: "ftp://x" }]\n' },
    ]);
    assert.equal(r.ok, false);
    assert.deepEqual(r.ok ? [] : r.issues.map(formatIssue).sort(), [
      'routes.yaml:4: routes[0].upstream: unknown upstream "usrs"',
      'routes.yaml:5: routes[0].retry: unknown field',
      'ups.yaml:3: upstreams[0].targets[0].url: scheme must be http or https',
    ]);
  });

  it('checks path patterns, ids, hosts and origins', () => {
    const bad = `
upstreams:
  - id: Users
    targets: [{ url: "http://127.0.0.1:1/path" }]
routes:
  - id: r
    match: { paths: ["users", "/a/*/b", "/x/:"], hosts: ["API.example.com:80"] }
    upstream: Users
`;
    const out = errors(bad);
    assert.ok(out.some((e) => e.includes('upstreams[0].id: must match')), out.join('\n'));
    assert.ok(out.some((e) => e.includes('targets[0].url: must be an origin only')), out.join('\n'));
    assert.ok(out.some((e) => e.includes('paths[0]: must start with "/"')), out.join('\n'));
    assert.ok(out.some((e) => e.includes('paths[1]: "*" is allowed only as the last segment')), out.join('\n'));
    assert.ok(out.some((e) => e.includes('paths[2]: parameter segment')), out.join('\n'));
    assert.ok(out.some((e) => e.includes('hosts[0]: must be a lowercase host name')), out.join('\n'));
  });

  it('refuses a certificate TLS cannot load, though its key belongs to it', () => {
    const r = validateDocument({ certificates: [{ id: 'weak', snis: ['weak.test'], cert: WEAK_CERT, key: WEAK_KEY }] });
    assert.equal(r.ok, false);
    assert.ok(!r.ok && r.issues.some((i) => i.path === 'certificates[0]' && /TLS refuses this cert and key: .*key too small/.test(i.message)));
  });

  it('refuses an unknown policy type by name', () => {
    const text = good.replace('type: rate-limit', 'type: rate-limitt');
    assert.match(errors(text)[0]!, /policies\[0\]\.type: unknown policy type; known types: rate-limit/);
  });

  it('reports a YAML syntax error with its line', () => {
    assert.match(errors('routes:\n  - id: a\n   bad: [\n')[0]!, /^a\.yaml:\d+: \(document\): /);
  });

  it('merges several files and names both files of a duplicated id', () => {
    const r = validateSources([
      { file: 'one.yaml', text: good },
      { file: 'two.yaml', text: 'upstreams:\n  - id: users\n    targets: []\n' },
    ]);
    assert.equal(r.ok, false);
    const out = r.ok ? [] : r.issues.map(formatIssue);
    assert.deepEqual(out, ['two.yaml:2: upstreams[0].id: duplicate id "users" (also upstreams[0] in one.yaml)']);
  });

  it('hashes equal configs equally whatever the object order', () => {
    const a = validateSources([{ file: 'a', text: 'upstreams: [{id: b, targets: []}, {id: a, targets: []}]' }]);
    const b = validateSources([{ file: 'b', text: '{"upstreams": [{"targets": [], "id": "a"}, {"id": "b", "targets": []}]}' }]);
    assert.ok(a.ok && b.ok);
    assert.equal(configHash(a.config), configHash(b.config));
  });

  it('diffs per object', () => {
    const r = validateSources([{ file: 'a.yaml', text: good }]);
    assert.ok(r.ok);
    const next = structuredClone(r.config);
    next.upstreams[0]!.targets[0]!.weight = 3;
    next.policies = [];
    next.routes[0]!.policies = [];
    const ops = diffConfigs(r.config, next).map((c) => `${c.op} ${c.kind}/${c.id}`);
    assert.deepEqual(ops.sort(), ['change routes/users-api', 'change upstreams/users', 'remove policies/rl']);
    assert.equal(diffConfigs(emptyConfig(), r.config).length, 3);
  });
});
