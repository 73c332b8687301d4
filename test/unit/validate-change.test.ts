// Incremental validation: a change to one object checked against a valid live config gives the
// very issues (paths, messages, order) and the very object a whole validation of the changed
// config gives; a state's validity kept from change to change agrees with validating it whole.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KINDS, type Config, type ConfigObject, type Kind } from '../../src/config/schema.js';
import { listed, validAfter, validateChange, validWhole, type ChangedObject } from '../../src/config/validate-change.js';
import { normalize, validateDocument, type ValidateOptions } from '../../src/config/validate.js';
import { ConfigView } from '../../src/store/config-view.js';
import { Keys } from '../../src/store/keys.js';
import { CERT_A, CERT_B, KEY_A, KEY_B } from './tls-fixtures.js';

const keys = new Keys('/change');

/** A valid live config with every kind, references and certificates. */
const live: Config = normalize({
  upstreams: [
    { id: 'users', targets: [{ url: 'http://10.0.0.1:80' }] },
    { id: 'orders', targets: [{ url: 'http://10.0.0.2:80', weight: 2 }] },
    { id: 'spare', targets: [] },
  ],
  routes: [
    { id: 'r-users', match: { paths: ['/users'] }, upstream: 'users', policies: ['slow'] },
    { id: 'r-orders', match: { paths: ['/orders'], hosts: ['a.example.test'] }, upstream: 'orders' },
    { id: 'r-both', match: { paths: ['/both'] }, upstream: 'users', policies: ['slow', 'fast'] },
  ],
  policies: [
    { id: 'slow', type: 'rate-limit', requestsPerSecond: 1 },
    { id: 'fast', type: 'rate-limit', requestsPerSecond: 100 },
    { id: 'unused', type: 'rate-limit', requestsPerSecond: 5 },
  ],
  certificates: [{ id: 'a', snis: ['a.example.test'], cert: CERT_A, key: KEY_A }],
  consumers: [{ id: 'alice', keys: ['alice-key-0123456789'] }],
  settings: [{ id: 'global', globalPolicies: ['fast'] }],
});
assert.ok(validateDocument(live).ok);

const storedKeys = new Map(live.certificates.map((c) => [c.id, c.key!]));

/** What the per-object endpoints have always done: the changed object last in its list, the whole validated. */
function whole(kind: Kind, id: string, next: ConfigObject | null, opts: ValidateOptions) {
  const objects = (live[kind] as ConfigObject[]).filter((o) => o.id !== id);
  if (next) objects.push(next);
  const r = validateDocument({ ...live, [kind]: objects }, opts);
  return r.ok ? { ok: true as const, object: next === null ? null : (r.config[kind] as ConfigObject[]).find((o) => o.id === id)! } : r;
}

const cases: [string, Kind, string, ConfigObject | null][] = [
  ['a new route', 'routes', 'r-new', { id: 'r-new', match: { paths: ['/new'] }, upstream: 'spare' }],
  ['a new route, unknown upstream', 'routes', 'r-new', { id: 'r-new', match: { paths: ['/new'] }, upstream: 'nope' }],
  ['a new route, unknown policies', 'routes', 'r-new', { id: 'r-new', match: { paths: ['/new'] }, upstream: 'users', policies: ['slow', 'gone', 'missing'] }],
  ['a new route, everything unknown', 'routes', 'aaa', { id: 'aaa', match: { paths: ['/a'] }, upstream: 'nope', policies: ['gone'] }],
  ['a route changed', 'routes', 'r-users', { id: 'r-users', match: { paths: ['/users', '/people'] }, upstream: 'orders' }],
  ['a route changed, unknown upstream', 'routes', 'r-orders', { id: 'r-orders', match: { paths: ['/orders'] }, upstream: 'nope' }],
  ['a route removed', 'routes', 'r-both', null],
  ['a new upstream', 'upstreams', 'extra', { id: 'extra', targets: [{ url: 'http://10.0.0.9:80' }] }],
  ['an upstream changed', 'upstreams', 'users', { id: 'users', targets: [{ url: 'http://10.0.0.7:80' }], connectTimeoutMs: 100 }],
  ['an unused upstream removed', 'upstreams', 'spare', null],
  ['an upstream two routes use, removed', 'upstreams', 'users', null],
  ['a new policy', 'policies', 'burst', { id: 'burst', type: 'rate-limit', requestsPerSecond: 3, burst: 9 }],
  ['a policy changed', 'policies', 'slow', { id: 'slow', type: 'rate-limit', requestsPerSecond: 2, key: 'header:x-user' }],
  ['an unused policy removed', 'policies', 'unused', null],
  ['a policy routes use, removed', 'policies', 'slow', null],
  ['a new certificate', 'certificates', 'b', { id: 'b', snis: ['b.example.test'], cert: CERT_B, key: KEY_B }],
  ['a new certificate without key', 'certificates', 'b', { id: 'b', snis: ['b.example.test'], cert: CERT_B }],
  ['a new certificate whose key is another', 'certificates', 'b', { id: 'b', snis: ['b.example.test'], cert: CERT_B, key: KEY_A }],
  ['a new certificate, an SNI another serves', 'certificates', 'b', { id: 'b', snis: ['b.example.test', 'a.example.test'], cert: CERT_B, key: KEY_B }],
  ['a new certificate, an SNI twice', 'certificates', 'b', { id: 'b', snis: ['b.example.test', 'b.example.test'], cert: CERT_B, key: KEY_B }],
  ['a certificate changed without key: the stored one', 'certificates', 'a', { id: 'a', snis: ['a.example.test', 'x.example.test'], cert: CERT_A }],
  ['a certificate given a cert the stored key does not fit', 'certificates', 'a', { id: 'a', snis: ['a.example.test'], cert: CERT_B }],
  ['a certificate with read-only fields', 'certificates', 'a', { id: 'a', snis: ['a.example.test'], cert: CERT_A, key: KEY_A, keySha256: 'x', notAfter: 'y' }],
  ['a certificate removed', 'certificates', 'a', null],
  ['a new consumer with a key', 'consumers', 'bob', { id: 'bob', keys: ['bob-key-0123456789ab'] }],
  ['a new consumer with the key of another', 'consumers', 'bob', { id: 'bob', keys: ['alice-key-0123456789'] }],
  ['a consumer removed', 'consumers', 'alice', null],
  ['the global policies changed', 'settings', 'global', { id: 'global', globalPolicies: ['unused', 'fast'] }],
  ['the global policies name an unknown policy', 'settings', 'global', { id: 'global', globalPolicies: ['fast', 'gone'] }],
  ['the global policies removed', 'settings', 'global', null],
  ['a policy the global policies use, removed', 'policies', 'fast', null],
];

describe('validateChange gives what validating the whole changed config gives', () => {
  const objects = listed(live);
  for (const [name, kind, id, next] of cases) {
    it(name, () => {
      for (const opts of [{ storedKeys }, {}]) {
        const expected = whole(kind, id, next, opts);
        assert.deepEqual(validateChange(objects, kind, id, next, opts), expected);
      }
    });
  }

  it('the cases cover valid and invalid changes of every kind, and removals', () => {
    for (const kind of KINDS) {
      const mine = cases.filter((c) => c[1] === kind).map((c) => whole(c[1], c[2], c[3], { storedKeys }).ok);
      assert.ok(mine.includes(true) && mine.includes(false), kind);
      assert.ok(cases.some((c) => c[1] === kind && c[3] === null), `${kind} removed`);
    }
  });
});

describe('validAfter: validity kept from change to change agrees with validating the whole', () => {
  /** A deterministic sequence of random changes of every kind, dangling references included. */
  function* changes(seed: number): Generator<[Kind, string, ConfigObject | null]> {
    let x = seed;
    const rand = (n: number) => {
      x = (x * 1103515245 + 12345) % 2 ** 31;
      return (x >>> 16) % n; // the high bits: the low ones of this generator cycle
    };
    const ids = (prefix: string) => `${prefix}${rand(6)}`;
    for (;;) {
      const kind = KINDS[rand(3)]!; // certificates are covered above
      const id = ids(kind[0]!);
      if (rand(4) === 0) yield [kind, id, null];
      else if (kind === 'upstreams') yield [kind, id, { id, targets: [{ url: `http://10.1.0.${rand(200)}:80` }] }];
      else if (kind === 'policies') yield [kind, id, { id, type: 'rate-limit', requestsPerSecond: 1 + rand(9) }];
      else yield [kind, id, { id, match: { paths: [`/${id}`] }, upstream: ids('u'), ...(rand(2) ? { policies: [ids('p')] } : {}) }];
    }
  }

  for (const seed of [1, 7, 42, 2024]) {
    it(`seed ${seed}: 400 changes, one or three at a time`, () => {
      let state: Config = normalize({ upstreams: [{ id: 'u0', targets: [] }], routes: [], policies: [{ id: 'p0', type: 'rate-limit', requestsPerSecond: 1 }], certificates: [] });
      const gen = changes(seed);
      let valids = 0;
      for (let step = 0; step < 400; step++) {
        const batch = Array.from({ length: step % 2 ? 3 : 1 }, () => gen.next().value as [Kind, string, ConfigObject | null]);
        const next = structuredClone(state);
        const changed: ChangedObject[] = [];
        for (const [kind, id, obj] of batch) {
          const list = (next[kind] as ConfigObject[]).filter((o) => o.id !== id);
          if (obj) list.push(obj);
          (next as Record<Kind, ConfigObject[]>)[kind] = list;
          changed.push({ kind, id, present: obj !== null });
        }
        const normalized = normalize(next);
        const truth = validateDocument(normalized).ok;
        assert.equal(validAfter(listed(normalized), changed), truth, `step ${step}: ${JSON.stringify(batch)}`);
        assert.equal(validWhole(listed(normalized)), truth);
        if (truth) {
          state = normalized;
          valids++;
        }
      }
      assert.ok(valids > 50 && valids < 400, `${valids} valid steps: both outcomes are exercised`);
    });
  }
});

describe('a whole document whose objects equal to live ones skip their schema check', () => {
  it('validates exactly as without the skip, valid or not, and takes the live objects for the equal ones', () => {
    const view = ConfigView.of(keys, live);
    const known = (kind: Kind, object: unknown) => view.same(kind, object);
    const docs: unknown[] = [
      live,
      // The same, keys in another order, as a user's file has them.
      JSON.parse(JSON.stringify({ ...live, routes: live.routes.map((r) => Object.fromEntries(Object.entries(r).reverse())) })),
      { ...live, routes: [...live.routes, { id: 'new', match: { paths: ['/n'] }, upstream: 'gone' }] },
      { ...live, routes: live.routes.map((r) => ({ ...r, extra: 1 })) },
      { ...live, upstreams: [...live.upstreams, live.upstreams[0]] },
      { ...live, certificates: [{ ...live.certificates[0], key: undefined }] },
      { ...live, routes: [{ ...live.routes[0], __proto__: { upstream: 'users' } }, { ...live.routes[1], upstream: 'nope' }] },
      JSON.parse('{"routes":[{"id":"r-users","match":{"paths":["/users"]},"upstream":"users","policies":["slow"],"__proto__":{"x":1}}]}'),
    ];
    let skipped = 0;
    for (const doc of docs) {
      const counted = (kind: Kind, object: unknown) => {
        const same = known(kind, object);
        if (same) skipped++;
        return same;
      };
      assert.deepEqual(validateDocument(doc, { storedKeys, known: counted }), validateDocument(doc, { storedKeys }), JSON.stringify(doc).slice(0, 200));
    }
    assert.ok(skipped > 10);
    const r = validateDocument(docs[1], { known });
    assert.ok(r.ok && r.config.routes[0] === view.find('routes', r.config.routes[0]!.id));
  });
});
