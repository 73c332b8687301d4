// A state relayed from a pool's primary to a worker (--workers N): through JSON, as the IPC
// channel carries it, the worker ends up with the entries and the delta the primary's watcher
// emitted, so its incremental compile works as a single process's does.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { relayedState, RelayedWatch, type RelayedState } from '../../src/proxy/relayed-watch.js';
import type { CommittedState } from '../../src/store/revision-folder.js';

const version = (n: number) => ({ version: n, hash: `h${n}`, author: '', message: '', source: '', at: '', counts: { upstreams: 1, routes: 2, policies: 0, certificates: 0, consumers: 0, settings: 0 } });

function state(revision: number, entries: Record<string, string>, delta: CommittedState['delta']): CommittedState {
  return { revision, version: version(revision), entries: new Map(Object.entries(entries)), resync: false, versionExact: true, delta, versionKey: { revision, writeId: `w${revision}`, chain: null, base: null } };
}

/** Over the channel: JSON, both ways. */
const wire = (s: RelayedState): RelayedState => JSON.parse(JSON.stringify(s)) as RelayedState;

function worker() {
  const follows: number[] = [];
  const feed = new RelayedWatch(() => follows.push(1));
  const states: CommittedState[] = [];
  feed.on('state', (s) => states.push(s));
  return { feed, states, follows };
}

const entriesOf = (s: CommittedState) => Object.fromEntries([...s.entries].sort());

it('a worker gets the whole state first, then each change as its delta, and holds what the primary holds', async () => {
  const { feed, states, follows } = worker();
  const started = feed.start();
  assert.equal(follows.length, 1, 'starting asks the primary to follow');

  const first = state(10, { 'r/a': '{"a":1}', 'r/b': '{"b":1}', 'u/x': '{"x":1}' }, null);
  feed.receive(wire(relayedState(first, false)));
  await started;
  assert.deepEqual(entriesOf(states[0]!), entriesOf(first));
  assert.equal(states[0]!.delta, null, 'a whole state: the worker compiles it whole');
  assert.deepEqual(states[0]!.version, first.version);
  assert.deepEqual(states[0]!.versionKey, first.versionKey);

  const changed = new Map<string, string | null>([['r/a', '{"a":2}'], ['r/b', null], ['r/c', '{"c":1}']]);
  const second = state(12, { 'r/a': '{"a":2}', 'r/c': '{"c":1}', 'u/x': '{"x":1}' }, { base: 10, changed });
  const sent = relayedState(second, false);
  assert.equal(sent.changes.length, 3, 'only the changed keys cross the channel');
  feed.receive(wire(sent));
  assert.deepEqual(entriesOf(states[1]!), entriesOf(second));
  assert.deepEqual(states[1]!.delta, { base: 10, changed });
  assert.equal(states[1]!.revision, 12);
});

it('a worker that joins late gets the current state whole, and changes that do not follow its state are not applied', () => {
  const { feed, states, follows } = worker();
  void feed.start();
  const current = state(20, { 'r/a': '{"a":3}' }, { base: 18, changed: new Map([['r/a', '{"a":3}']]) });
  feed.receive(wire(relayedState(current, true)));
  assert.deepEqual(entriesOf(states[0]!), { 'r/a': '{"a":3}' });
  assert.equal(states[0]!.delta, null);

  // Changes on a base the worker does not hold: nothing is emitted; it asks for the whole state again.
  feed.receive(wire(relayedState(state(25, { 'r/a': '{"a":4}' }, { base: 22, changed: new Map([['r/a', '{"a":4}']]) }), false)));
  assert.equal(states.length, 1);
  assert.equal(follows.length, 2);
});

it("the primary's etcd connection shows in the worker, and a stopped worker takes no more states", async () => {
  const { feed, states } = worker();
  const events: string[] = [];
  feed.on('connected', () => events.push('connected'));
  feed.on('disconnected', () => events.push('disconnected'));
  feed.etcd(true);
  feed.etcd(true);
  feed.etcd(false);
  assert.deepEqual(events, ['connected', 'disconnected']);
  assert.equal(feed.connected, false);

  const started = feed.start();
  await feed.stop();
  await started;
  feed.receive(wire(relayedState(state(30, { 'r/a': '{}' }, null), false)));
  assert.equal(states.length, 0);
});
