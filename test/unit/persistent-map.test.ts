// PersistentMap: the same content as a plain Map after any sequence of changes, old versions
// untouched by later ones, and a one-key change sharing everything but one path.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mapChanges, PersistentMap } from '../../src/util/persistent-map.js';

/** A small seeded generator, so a failure replays. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const sorted = <V>(m: ReadonlyMap<string, V>) => [...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
const key = (i: number) => `/signalbox/config/routes/route-${String(i).padStart(6, '0')}`;
const plainMap = (n: number, tag = 'v') => new Map(Array.from({ length: n }, (_, i) => [key(i), `{"id":"${i}","${tag}":1}`] as [string, string]));

/** A batch of random puts and deletes over `space` keys, applied to the model as well. */
function randomBatch(next: () => number, model: Map<string, string>, space: number, size: number, step: number): [string, string | null][] {
  const batch: [string, string | null][] = [];
  for (let i = 0; i < size; i++) {
    const k = key(Math.floor(next() * space));
    const value = next() < 0.3 ? null : `{"step":${step},"i":${i}}`;
    batch.push([k, value]);
    if (value === null) model.delete(k);
    else model.set(k, value);
  }
  return batch;
}

describe('PersistentMap', () => {
  it('holds what a plain Map holds after every batch of random puts and deletes', () => {
    const next = random(7);
    const model = new Map<string, string>();
    let map = PersistentMap.empty<string>();
    for (let step = 0; step < 300; step++) {
      // Mostly small batches, now and then a large one (many edits to the same new nodes).
      const size = step % 25 === 0 ? 400 : 1 + Math.floor(next() * 8);
      map = map.withChanges(randomBatch(next, model, 3000, size, step));
      assert.equal(map.size, model.size, `size after step ${step}`);
      for (const [k, v] of model) assert.equal(map.get(k), v, `${k} after step ${step}`);
    }
    assert.deepEqual(sorted(map), sorted(model));
    assert.equal(map.get(key(999_999)), undefined);
    assert.equal(map.has(key(999_999)), false);
    assert.deepEqual(new Map(map), new Map([...map]));
  });

  it('iterates in one order for one content, however the map was built', () => {
    const next = random(11);
    const model = new Map<string, string>();
    let map = PersistentMap.empty<string>();
    for (let step = 0; step < 200; step++) map = map.withChanges(randomBatch(next, model, 2000, 20, step));
    const order = [...map.keys()];
    assert.deepEqual([...map.keys()], order, 'the same map iterates the same way twice');
    assert.deepEqual([...PersistentMap.from(sorted(model)).keys()], order, 'built in one go from sorted entries');
    assert.deepEqual([...PersistentMap.from([...model].reverse()).keys()], order, 'built in one go from reversed entries');
    assert.deepEqual([...map.values()], order.map((k) => model.get(k)));
    const seen: string[] = [];
    map.forEach((value, k, self) => {
      assert.equal(self, map);
      assert.equal(value, model.get(k));
      seen.push(k);
    });
    assert.deepEqual(seen, order);
    assert.equal(Object.prototype.toString.call(map), '[object PersistentMap]');
  });

  it('never changes a version once it is returned, whatever is made from it later', () => {
    const next = random(3);
    const model = new Map<string, string>();
    let map = PersistentMap.empty<string>();
    const versions: { map: PersistentMap<string>; content: [string, string][] }[] = [];
    for (let step = 0; step < 150; step++) {
      map = map.withChanges(randomBatch(next, model, 500, step % 10 === 0 ? 200 : 3, step));
      versions.push({ map, content: sorted(model) });
      // Branch off an old version too: its descendants must not write into what it shares.
      const old = versions[Math.floor(next() * versions.length)]!.map;
      old.withChanges(randomBatch(next, new Map(old), 500, 50, -step));
    }
    for (const [i, v] of versions.entries()) assert.deepEqual(sorted(v.map), v.content, `version ${i}`);
  });

  it('a one-key change on 10,000 entries copies one path and shares every other node', () => {
    const before = PersistentMap.from(plainMap(10_000));
    const depth = 7; // the root and at most 6 levels below it
    for (const [k, v] of [[key(1234), '{"changed":true}'], [key(20_000), '{"new":true}']] as const) {
      const after = before.withChanges([[k, v]]);
      const old = new Set(before.nodes());
      const fresh = after.nodes().filter((n) => !old.has(n));
      assert.ok(fresh.length >= 1 && fresh.length <= depth, `${fresh.length} new nodes for one key`);
      assert.equal(after.nodes().length - fresh.length, after.nodes().filter((n) => old.has(n)).length);
      assert.ok(old.size - (after.nodes().length - fresh.length) <= depth, 'every node off the path is shared');
      assert.equal(after.get(k), v);
    }
    const deleted = before.withChanges([[key(5), null]]);
    assert.equal(deleted.size, 9_999);
    assert.equal(before.size, 10_000);
    assert.equal(before.get(key(5)), '{"id":"5","v":1}');
  });

  it('returns itself when the changes change nothing', () => {
    const map = PersistentMap.from(plainMap(100));
    assert.equal(map.withChanges([]), map);
    assert.equal(map.withChanges([[key(3), map.get(key(3))!], [key(500), null]]), map);
    assert.notEqual(map.withChanges([[key(3), 'other']]), map);
  });

  it('changesSince gives exactly what turns an older map into this one, shared or not', () => {
    const next = random(5);
    const model = new Map<string, string>();
    let map = PersistentMap.from(plainMap(2000));
    for (const [k, v] of map) model.set(k, v);
    const history = [{ map, content: new Map(model) }];
    for (let step = 0; step < 60; step++) {
      map = map.withChanges(randomBatch(next, model, 2500, 1 + (step % 7) * 30, step));
      history.push({ map, content: new Map(model) });
    }
    for (let i = 0; i < history.length; i += 7) {
      const older = history[i]!;
      const expected = sorted(mapChanges(older.content, model));
      assert.ok(expected.length > 0);
      assert.deepEqual(sorted(map.changesSince(older.map)), expected, `since version ${i}`);
      // Against a plain Map, and against a map built afresh (nothing shared, another shape).
      assert.deepEqual(sorted(map.changesSince(older.content)), expected);
      assert.deepEqual(sorted(map.changesSince(PersistentMap.from(older.content))), expected);
    }
    assert.equal(map.changesSince(map).size, 0);
    assert.deepEqual(sorted(PersistentMap.empty<string>().changesSince(map)), sorted(map).map(([k]) => [k, null]));
  });
});
