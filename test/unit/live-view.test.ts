// The control plane's decoded copy of committed states: made from the state before and a delta,
// it holds what decoding and validating each state whole holds (objects, validity, issues), and
// its views hash as configHash does.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { configHash } from '../../src/config/canonical.js';
import type { Config } from '../../src/config/schema.js';
import { normalize } from '../../src/config/validate.js';
import { ConfigView, storedObject } from '../../src/store/config-view.js';
import { configEntries } from '../../src/store/decode.js';
import { Keys } from '../../src/store/keys.js';
import { LiveView } from '../../src/store/live-view.js';
import type { CommittedState } from '../../src/store/revision-folder.js';
import { mapChanges, PersistentMap } from '../../src/util/persistent-map.js';
import { decodeEntriesLenient } from '../helpers/decode-whole.js';
import { CERT_A, KEY_A } from './tls-fixtures.js';

const keys = new Keys('/live');
const route = (id: string, upstream = 'u') => ({ id, match: { paths: [`/${id}`] }, upstream });

const base: Config = normalize({
  upstreams: [{ id: 'u', targets: [{ url: 'http://10.0.0.1:80' }] }],
  routes: [route('a'), route('b'), route('c')],
  policies: [{ id: 'p', type: 'rate-limit', requestsPerSecond: 1 }],
  certificates: [{ id: 'cert', snis: ['a.example.test'], cert: CERT_A, key: KEY_A }],
});

/** Entry edits, one state each: a value, or null to delete. */
const edits: [string, Record<string, string | null>][] = [
  ['a route added', { [keys.object('routes', 'd')]: JSON.stringify(route('d')) }],
  ['a route pointing nowhere', { [keys.object('routes', 'e')]: JSON.stringify(route('e', 'nope')) }],
  ['the upstream it needs added', { [keys.object('upstreams', 'nope')]: JSON.stringify({ id: 'nope', targets: [] }) }],
  ['a value that is no JSON', { [keys.object('routes', 'b')]: '{"id":' }],
  ['a stray key', { [`${keys.config}stray`]: '1' }],
  ['both repaired', { [keys.object('routes', 'b')]: JSON.stringify(route('b')), [`${keys.config}stray`]: null }],
  ['an id that is not its key', { [keys.object('routes', 'x')]: JSON.stringify(route('y')) }],
  ['removed again', { [keys.object('routes', 'x')]: null }],
  ['an upstream routes use, deleted', { [keys.object('upstreams', 'u')]: null }],
  ['back', { [keys.object('upstreams', 'u')]: JSON.stringify(base.upstreams[0]) }],
  ['a certificate without its key', { [keys.object('certificates', 'cert')]: JSON.stringify({ ...base.certificates[0], key: undefined }) }],
  ['with it', { [keys.object('certificates', 'cert')]: JSON.stringify(base.certificates[0]) }],
  ['many routes at once', Object.fromEntries(Array.from({ length: 50 }, (_, i) => [keys.object('routes', `m${i}`), JSON.stringify(route(`m${i}`))]))],
  ['all of them gone', Object.fromEntries(Array.from({ length: 50 }, (_, i) => [keys.object('routes', `m${i}`), null]))],
];

function states(): { name: string; state: CommittedState }[] {
  let entries = PersistentMap.from(configEntries(keys, base));
  const out = [{ name: 'start', state: { revision: 1, version: null, entries, resync: false, versionExact: false } as CommittedState }];
  edits.forEach(([name, edit], i) => {
    const next = entries.withChanges(Object.entries(edit));
    out.push({ name, state: { revision: i + 2, version: null, entries: next, resync: false, versionExact: false, delta: { base: i + 1, changed: mapChanges(entries, next) } } });
    entries = next;
  });
  return out;
}

describe('LiveView', () => {
  it('state after state, from the view before and the delta: what decoding each state whole gives', () => {
    let view: LiveView | null = null;
    const validity: boolean[] = [];
    for (const { name, state } of states()) {
      view = LiveView.of(keys, state, view);
      const fresh = LiveView.of(keys, state);
      const decoded = decodeEntriesLenient(keys, state.entries);
      assert.equal(view.valid, decoded.issues.length === 0, name);
      assert.equal(fresh.valid, view.valid, name);
      assert.deepEqual(view.objects.config(), decoded.config, name);
      assert.deepEqual(view.issues(), decoded.issues, name);
      assert.deepEqual([...view.broken].sort(), [...fresh.broken].sort(), name);
      assert.equal(view.objects.hash(), configHash(decoded.config), name);
      validity.push(view.valid);
    }
    assert.ok(validity.includes(true) && validity.includes(false));
  });

  it('the issues of a state with many routes, found batch by batch: those decoding it whole finds, each once', () => {
    const many = normalize({ ...base, routes: Array.from({ length: 1000 }, (_, i) => route(`r${i}`)) });
    const entries = new Map(configEntries(keys, many));
    // Problems in different batches, on routes and on an object every batch checks again.
    entries.set(keys.object('routes', 'r5'), JSON.stringify(route('r5', 'nope')));
    entries.set(keys.object('routes', 'r700'), JSON.stringify(route('r700', 'gone')));
    entries.set(keys.object('routes', 'r900'), '{"id":');
    entries.set(keys.object('policies', 'p'), JSON.stringify({ id: 'p', type: 'rate-limit' }));
    const state = { revision: 1, version: null, entries: PersistentMap.from(entries), resync: false, versionExact: false } as CommittedState;
    const view = LiveView.of(keys, state);
    assert.equal(view.valid, false);
    const text = (issues: { file?: string; path: string; message: string }[]) => issues.map((i) => `${i.file}: ${i.path}: ${i.message}`).sort();
    const whole = decodeEntriesLenient(keys, state.entries).issues;
    assert.equal(whole.length, 4);
    assert.deepEqual(text(view.issues()), text(whole));
  });
});

describe('ConfigView', () => {
  it('hashes as configHash does through a long line of changes to a large list (the hash reuses runs of objects)', () => {
    const many = normalize({ ...base, routes: Array.from({ length: 1000 }, (_, i) => route(`r${String(i).padStart(4, '0')}`)) });
    let view = ConfigView.of(keys, many);
    let routes = new Map(many.routes.map((r) => [r.id, r]));
    assert.equal(view.hash(), configHash(many));
    for (let step = 0; step < 60; step++) {
      const id = `r${String((step * 397) % 1100).padStart(4, '0')}`;
      const change = step % 3 === 0 ? { kind: 'routes' as const, id, removed: true as const } : storedObject(keys, 'routes', route(id, step % 2 ? 'u' : 'x'));
      view = view.withChanges([change]);
      if ('removed' in change) routes.delete(id);
      else routes.set(id, change.object as ReturnType<typeof route>);
      routes = new Map([...routes].sort(([a], [b]) => (a < b ? -1 : 1)));
      const expected = normalize({ ...base, routes: [...routes.values()] });
      assert.equal(view.hash(), configHash(expected), `step ${step}`);
      assert.equal(view.bytes(), [...configEntries(keys, expected).values()].reduce((n, v) => n + v.length, 0), `bytes at step ${step}`);
    }
  });

  it('hashes as configHash does, before and after changes, and a whole config reuses the objects stored alike', () => {
    const view = ConfigView.of(keys, base);
    assert.equal(view.hash(), configHash(base));
    const changed = view.withChanges([storedObject(keys, 'routes', route('b', 'other')), { kind: 'routes', id: 'a', removed: true }, storedObject(keys, 'routes', route('0'))]);
    const expected = normalize({ ...base, routes: [route('0'), route('b', 'other'), route('c')] });
    assert.deepEqual(changed.config(), expected);
    assert.equal(changed.hash(), configHash(expected));
    assert.equal(view.hash(), configHash(base), 'the view changed from is as it was');
    const again = ConfigView.of(keys, expected, changed);
    assert.equal(again.stored('routes', 'c'), view.stored('routes', 'c'), 'an object stored with the same value is the same object');
    assert.equal(again.hash(), changed.hash());
    assert.equal(again.bytes(), [...configEntries(keys, expected).values()].reduce((n, v) => n + v.length, 0));
  });
});
