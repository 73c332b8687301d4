// The revision folder: watch events in, whole committed states out, for every order in which a
// change can reach a proxy. The etcd tests (store-watcher, store-large) cover the wire.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CommittedRead, CurrentEntry } from '../../src/store/committed.js';
import { parseVersionInfo, type VersionInfo } from '../../src/store/decode.js';
import { Keys } from '../../src/store/keys.js';
import { RevisionFolder, type CommittedState, type WatchEvent } from '../../src/store/revision-folder.js';
import { PersistentMap } from '../../src/util/persistent-map.js';

const keys = new Keys('/fold');
const route = (id: string) => keys.object('routes', id);
const upstream = (id: string) => keys.object('upstreams', id);

function versionValue(n: number, counts: Partial<VersionInfo['counts']> = {}): string {
  return JSON.stringify({ version: n, hash: `h${n}`, counts: { upstreams: 0, routes: 0, policies: 0, certificates: 0, ...counts }, writeId: `w${n}` });
}

const put = (revision: number, key: string, value: string): WatchEvent => ({ revision, key, value });
const del = (revision: number, key: string): WatchEvent => ({ revision, key, value: null });
const putVersion = (revision: number, n: number, counts?: Partial<VersionInfo['counts']>) => put(revision, keys.version, versionValue(n, counts));
const putMarker = (revision: number) => put(revision, keys.unfinished, '{"token":"t"}');
const delMarker = (revision: number) => del(revision, keys.unfinished);

/** What a state holds, for comparing by content (never by map identity). */
const entriesOf = (s: CommittedState | null) => (s ? Object.fromEntries([...s.entries].sort()) : null);

/** What a state's delta says, by content: the revision it is relative to and the changed keys (null: deleted). */
const deltaOf = (s: CommittedState | null) =>
  s?.delta ? { base: s.delta.base, changed: Object.fromEntries([...s.delta.changed].sort()) } : null;

/**
 * A folder started from a snapshot read at `head`: version `n` committed at revision `versionRev`
 * with `entries`, and keys changed since (`uncommitted`; null: deleted), under the marker when
 * `marker` names the revision that created it.
 */
function started(opts: {
  n?: number;
  versionRev?: number;
  head?: number;
  entries?: Record<string, string>;
  uncommitted?: Record<string, string | null>;
  marker?: number;
}): { folder: RevisionFolder; first: CommittedState } {
  const n = opts.n ?? 1;
  const versionRev = opts.versionRev ?? 10;
  const head = opts.head ?? versionRev;
  const entries = new Map(Object.entries(opts.entries ?? { [route('a')]: '{"id":"a"}' }));
  const current = new Map<string, CurrentEntry>([...entries].map(([k, value]) => [k, { value, modRevision: versionRev }]));
  for (const [k, v] of Object.entries(opts.uncommitted ?? {})) {
    if (v === null) current.delete(k);
    else current.set(k, { value: v, modRevision: head });
  }
  const routes = [...entries.keys()].filter((k) => k.startsWith(`${keys.config}routes/`)).length;
  const raw = versionValue(n, { routes });
  const read: CommittedRead = {
    version: parseVersionInfo(raw),
    versionRaw: raw,
    revision: versionRev,
    // Without the marker the prefix as it stands is the state; with it, the state before it.
    entries: opts.marker ? entries : new Map([...current].map(([k, e]) => [k, e.value])),
    headRevision: head,
    current,
    unfinished: opts.marker ?? 0,
    stateRevision: opts.marker ? opts.marker - 1 : head,
    source: opts.marker ? 'revision' : 'head',
  };
  const folder = new RevisionFolder(keys);
  return { folder, first: folder.restart(read, false) };
}

/** A fresh read of the prefix holding exactly `state`'s entries under its version (as after a resync). */
function readOf(state: CommittedState): CommittedRead {
  const current = new Map<string, CurrentEntry>([...state.entries].map(([k, value]) => [k, { value, modRevision: state.revision }]));
  const raw = JSON.stringify(state.version);
  return {
    version: state.version,
    versionRaw: raw,
    revision: state.revision,
    entries: new Map(state.entries),
    headRevision: state.revision,
    current,
    unfinished: 0,
    stateRevision: state.revision,
    source: 'head',
  };
}

describe('RevisionFolder', () => {
  it('a snapshot is the first state; it matches its version exactly; the watch resumes after its head', () => {
    const { folder, first } = started({ versionRev: 10, head: 12 });
    assert.equal(first.revision, 12);
    assert.equal(first.version?.version, 1);
    assert.equal(first.versionExact, true);
    assert.equal(first.resync, false);
    assert.deepEqual(entriesOf(first), { [route('a')]: '{"id":"a"}' });
    assert.equal(folder.state, first);
    assert.equal(folder.lastRevision, 12);
    assert.equal(deltaOf(first), null, 'nothing before it: every entry counts as changed');
  });

  it('a snapshot with a key written since the version is not exact', () => {
    const { first } = started({ versionRev: 10, head: 12, uncommitted: { [route('b')]: '{"id":"b"}' } });
    // Without a marker the prefix as it stands is the state: the version stays, its hash does not hold.
    assert.equal(first.versionExact, false);
    assert.deepEqual(Object.keys(entriesOf(first)!), [route('a'), route('b')]);
  });

  it('objects and the version key in the same revision: one state of the new version', () => {
    const { folder } = started({});
    const { state } = folder.fold([put(11, route('b'), '{"id":"b"}'), del(11, route('a')), putVersion(11, 2, { routes: 1 })], 11);
    assert.equal(state?.revision, 11);
    assert.equal(state?.version?.version, 2);
    assert.equal(state?.versionExact, true);
    assert.deepEqual(entriesOf(state), { [route('b')]: '{"id":"b"}' });
    assert.deepEqual(deltaOf(state), { base: 10, changed: { [route('a')]: null, [route('b')]: '{"id":"b"}' } });
    assert.equal(folder.state, state);
    assert.equal(folder.lastRevision, 11);
  });

  it('under the unfinished marker, nothing is committed until the revision that puts the version key', () => {
    const { folder, first } = started({});
    const steps: [WatchEvent[], number][] = [
      [[putMarker(11)], 11],
      [[put(12, route('b'), '{"id":"b"}')], 12],
      [[put(13, route('c'), '{"id":"c"}'), del(13, route('a'))], 13],
    ];
    for (const [events, header] of steps) {
      assert.equal(folder.fold(events, header).state, null, `revision ${header} is not committed`);
      assert.equal(folder.state, first);
    }
    assert.equal(folder.lastRevision, 13);
    const { state } = folder.fold([putVersion(14, 2), delMarker(14), put(14, upstream('u'), '{"id":"u"}')], 14);
    assert.equal(state?.revision, 14);
    assert.equal(state?.version?.version, 2);
    assert.deepEqual(entriesOf(state), { [route('b')]: '{"id":"b"}', [route('c')]: '{"id":"c"}', [upstream('u')]: '{"id":"u"}' });
    // Relative to the last emitted state: the whole change, not its last revision.
    assert.deepEqual(deltaOf(state), {
      base: 10,
      changed: { [route('a')]: null, [route('b')]: '{"id":"b"}', [route('c')]: '{"id":"c"}', [upstream('u')]: '{"id":"u"}' },
    });
  });

  it('a whole multi-transaction change in one response: one state, at the revision of the version key', () => {
    const { folder } = started({});
    const { state } = folder.fold(
      [putMarker(11), put(12, route('b'), '{"id":"b"}'), put(13, route('c'), '{"id":"c"}'), putVersion(14, 2), delMarker(14)],
      14,
    );
    assert.equal(state?.revision, 14);
    assert.deepEqual(Object.keys(entriesOf(state)!), [route('a'), route('b'), route('c')]);
    assert.deepEqual(deltaOf(state), { base: 10, changed: { [route('b')]: '{"id":"b"}', [route('c')]: '{"id":"c"}' } });
  });

  it('the version key in a later revision than objects written without the marker: two states', () => {
    const { folder } = started({});
    const direct = folder.fold([put(11, route('b'), '{"id":"b"}')], 11).state;
    assert.equal(direct?.revision, 11);
    assert.equal(direct?.version?.version, 1, 'a direct write keeps the version');
    assert.equal(direct?.versionExact, false);
    assert.deepEqual(deltaOf(direct), { base: 10, changed: { [route('b')]: '{"id":"b"}' } });
    const versioned = folder.fold([putVersion(12, 2)], 12).state;
    assert.equal(versioned?.version?.version, 2);
    assert.equal(versioned?.versionExact, true);
    assert.deepEqual(entriesOf(versioned), entriesOf(direct));
    assert.deepEqual(deltaOf(versioned), { base: 11, changed: {} }, 'a new version over the same entries changes no entry');
  });

  it('a version planned at a revision (guarded key by key): exact unless something else changed between that revision and its own', () => {
    const planned = (revision: number, n: number, base: number) => put(revision, keys.version, JSON.stringify({ ...JSON.parse(versionValue(n)), base }));
    const quiet = started({}).folder;
    assert.equal(quiet.fold([put(12, route('b'), '{"id":"b"}'), planned(12, 2, 10)], 12).state?.versionExact, true);
    const raced = started({}).folder;
    raced.fold([put(11, route('z'), '{"id":"z"}')], 11);
    const state = raced.fold([put(12, route('b'), '{"id":"b"}'), planned(12, 2, 10)], 12).state;
    assert.equal(state?.versionExact, false, 'route z was written at 11, after the plan saw 10: version 2 does not hold it');
    assert.deepEqual(Object.keys(entriesOf(state)!), [route('a'), route('b'), route('z')]);
    // Planned after the direct write: it held it.
    assert.equal(raced.fold([put(13, route('c'), '{"id":"c"}'), planned(13, 3, 12)], 13).state?.versionExact, true);
  });

  it('a snapshot of such a version: a key written between the plan and the version is not in it', () => {
    const { first } = started({ versionRev: 10, head: 12, uncommitted: { [route('b')]: '{"id":"b"}' } });
    assert.equal(first.versionExact, false);
    const read = readOf({ ...first, revision: 12 });
    read.versionRaw = JSON.stringify({ ...JSON.parse(versionValue(2, { routes: 2 })), base: 10 });
    read.version = parseVersionInfo(read.versionRaw);
    read.current.set(route('b'), { value: '{"id":"b"}', modRevision: 11 });
    assert.equal(new RevisionFolder(keys).restart(read, false).versionExact, false);
    read.current.set(route('b'), { value: '{"id":"b"}', modRevision: 9 });
    assert.equal(new RevisionFolder(keys).restart(read, false).versionExact, true);
  });

  it('a key written or deleted straight into etcd is a state of its own, keeping the version', () => {
    const { folder, first } = started({ entries: { [route('a')]: '{"id":"a"}', [route('b')]: '{"id":"b"}' } });
    const written = folder.fold([put(11, route('a'), '{"id":"a","x":1}')], 11).state;
    assert.equal(written?.version, first.version);
    assert.deepEqual(entriesOf(written), { [route('a')]: '{"id":"a","x":1}', [route('b')]: '{"id":"b"}' });
    assert.deepEqual(deltaOf(written), { base: 10, changed: { [route('a')]: '{"id":"a","x":1}' } });
    const deleted = folder.fold([del(12, route('b'))], 12).state;
    assert.equal(deleted?.revision, 12);
    assert.deepEqual(entriesOf(deleted), { [route('a')]: '{"id":"a","x":1}' });
    assert.equal(deleted?.versionExact, false);
    assert.deepEqual(deltaOf(deleted), { base: 11, changed: { [route('b')]: null } });
    // The earlier states are left as they were emitted.
    assert.deepEqual(entriesOf(written), { [route('a')]: '{"id":"a","x":1}', [route('b')]: '{"id":"b"}' });
  });

  it('several revisions in one response: only the newest state comes out', () => {
    const { folder } = started({});
    const { state } = folder.fold([put(11, route('b'), '1'), put(12, route('c'), '2'), putVersion(13, 2)], 13);
    assert.equal(state?.revision, 13);
    assert.deepEqual(Object.keys(entriesOf(state)!), [route('a'), route('b'), route('c')]);
    assert.deepEqual(deltaOf(state), { base: 10, changed: { [route('b')]: '1', [route('c')]: '2' } }, 'the delta spans every revision folded');
  });

  it('a key changed and changed back within one response is not in the delta', () => {
    const { folder } = started({});
    const { state } = folder.fold([put(11, route('a'), 'other'), put(12, route('a'), '{"id":"a"}'), put(12, route('b'), '{"id":"b"}')], 12);
    assert.equal(state?.revision, 12);
    assert.deepEqual(deltaOf(state), { base: 10, changed: { [route('b')]: '{"id":"b"}' } });
  });

  it('a deleted version key is reported and ignored: the config and its version stay', () => {
    const { folder, first } = started({});
    const folded = folder.fold([del(11, keys.version)], 11);
    assert.equal(folded.state, null);
    assert.deepEqual(folded.versionDeletedAt, [11]);
    assert.equal(folder.state, first);
    const next = folder.fold([put(12, route('b'), '{"id":"b"}')], 12).state;
    assert.equal(next?.version?.version, 1);
    assert.deepEqual(deltaOf(next), { base: 10, changed: { [route('b')]: '{"id":"b"}' } });
  });

  it('events already received before a reconnect are skipped', () => {
    const { folder } = started({});
    const once = folder.fold([put(11, route('b'), '{"id":"b"}')], 11).state;
    assert.equal(folder.fold([put(11, route('b'), '{"id":"b"}')], 11).state, null);
    // A resumed watch may repeat a revision before new ones: only the new ones count.
    const { state } = folder.fold([put(10, route('a'), 'stale'), put(11, route('b'), 'stale'), put(12, route('c'), '{"id":"c"}')], 12);
    assert.equal(state?.revision, 12);
    assert.deepEqual(entriesOf(state), { ...entriesOf(once), [route('c')]: '{"id":"c"}' });
    assert.deepEqual(deltaOf(state), { base: 11, changed: { [route('c')]: '{"id":"c"}' } }, 'repeated events change nothing');
  });

  it('a progress notification moves the resume point forward, never back, and commits nothing', () => {
    const { folder, first } = started({ head: 12 });
    assert.deepEqual(folder.fold([], 40), { state: null, versionDeletedAt: [] });
    assert.equal(folder.lastRevision, 40);
    folder.fold([], 30);
    assert.equal(folder.lastRevision, 40);
    assert.equal(folder.state, first);
  });

  it('an unfinished change that is undone changes nothing, and leaks into no later state', () => {
    const { folder, first } = started({ entries: { [route('a')]: '{"id":"a"}' } });
    assert.equal(folder.fold([putMarker(11), put(12, route('a'), 'half'), put(12, route('z'), 'half')], 12).state, null);
    // Recovery restores the committed values and removes the marker in its last transaction.
    const undone = folder.fold([put(13, route('a'), '{"id":"a"}'), del(13, route('z')), delMarker(13)], 13);
    assert.equal(undone.state, null);
    assert.equal(folder.state, first);
    const later = folder.fold([put(14, route('b'), '{"id":"b"}')], 14).state;
    assert.deepEqual(entriesOf(later), { [route('a')]: '{"id":"a"}', [route('b')]: '{"id":"b"}' });
    assert.deepEqual(deltaOf(later), { base: 10, changed: { [route('b')]: '{"id":"b"}' } }, 'the undone keys are not in it');
  });

  it('a marker set and cleared without changes commits nothing', () => {
    const { folder } = started({});
    assert.equal(folder.fold([putMarker(11)], 11).state, null);
    assert.equal(folder.fold([delMarker(12)], 12).state, null);
  });

  it('the same version key written again over an unchanged prefix commits nothing', () => {
    const { folder } = started({});
    assert.equal(folder.fold([putVersion(11, 1)], 11).state, null);
  });

  it('a snapshot taken under the marker starts from the state before it, and the rest of the change completes it', () => {
    const { folder, first } = started({
      versionRev: 10,
      head: 13,
      marker: 11,
      uncommitted: { [route('b')]: '{"id":"b"}', [route('a')]: null },
    });
    assert.equal(first.revision, 10);
    assert.equal(first.versionExact, false);
    assert.deepEqual(entriesOf(first), { [route('a')]: '{"id":"a"}' });
    assert.equal(folder.lastRevision, 13);
    assert.equal(folder.fold([put(14, route('c'), '{"id":"c"}')], 14).state, null, 'still unfinished');
    const { state } = folder.fold([putVersion(15, 2), delMarker(15)], 15);
    assert.deepEqual(entriesOf(state), { [route('b')]: '{"id":"b"}', [route('c')]: '{"id":"c"}' });
    assert.deepEqual(deltaOf(state), { base: 10, changed: { [route('a')]: null, [route('b')]: '{"id":"b"}', [route('c')]: '{"id":"c"}' } });
  });

  it('a resync is relative to the state before it: the delta says what the re-read changed', () => {
    const { folder } = started({ entries: { [route('a')]: '{"id":"a"}', [route('b')]: '{"id":"b"}' } });
    const before = folder.fold([put(11, route('b'), '{"id":"b","x":1}')], 11).state!;
    // Compacted past the watch; meanwhile b was deleted and c written. A fresh read at 20.
    const read = started({ versionRev: 20, entries: { [route('a')]: '{"id":"a"}', [route('c')]: '{"id":"c"}' } }).first;
    const resynced = folder.restart(readOf(read), true);
    assert.equal(resynced.resync, true);
    assert.deepEqual(entriesOf(resynced), { [route('a')]: '{"id":"a"}', [route('c')]: '{"id":"c"}' });
    assert.deepEqual(deltaOf(resynced), { base: 11, changed: { [route('b')]: null, [route('c')]: '{"id":"c"}' } });
    assert.deepEqual(entriesOf(before), { [route('a')]: '{"id":"a"}', [route('b')]: '{"id":"b","x":1}' }, 'the old state is left as it was');
    const again = folder.restart(readOf(resynced), true);
    assert.deepEqual(deltaOf(again), { base: 20, changed: {} }, 'a re-read that finds nothing new changes no entry');
  });

  it('a one-key revision on 10,000 entries shares all but one path with the state before', () => {
    const { folder, first } = started({ entries: Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [route(`r${i}`), `{"id":"r${i}"}`])) });
    const { state } = folder.fold([put(11, route('r42'), '{"id":"r42","x":1}'), putVersion(11, 2)], 11);
    assert.ok(first.entries instanceof PersistentMap && state?.entries instanceof PersistentMap, 'entries are a PersistentMap');
    const old = new Set(first.entries.nodes());
    const fresh = state.entries.nodes().filter((n) => !old.has(n));
    assert.ok(fresh.length <= 7, `${fresh.length} nodes made for one key`);
    assert.equal(first.entries.get(route('r42')), '{"id":"r42"}');
  });

  it('every emitted state keeps the entries it was emitted with, through any later folds', () => {
    const { folder, first } = started({ entries: Object.fromEntries(Array.from({ length: 200 }, (_, i) => [route(`r${i}`), `{"id":"r${i}"}`])) });
    const emitted: [CommittedState, Record<string, string> | null][] = [[first, entriesOf(first)]];
    for (let rev = 11; rev < 200; rev++) {
      const events = [put(rev, route(`r${rev % 50}`), `{"v":${rev}}`), del(rev, route(`r${(rev * 7) % 200}`)), put(rev, route(`n${rev}`), '{}')];
      const { state } = folder.fold(rev % 3 === 0 ? [...events, putVersion(rev, rev)] : events, rev);
      if (state) emitted.push([state, entriesOf(state)]);
    }
    assert.ok(emitted.length > 150);
    for (const [state, content] of emitted) assert.deepEqual(entriesOf(state), content, `state at revision ${state.revision}`);
  });
});
