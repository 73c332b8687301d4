import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SlotSet } from '../../src/util/slot-set.js';

const members = <T extends object>(s: SlotSet<T>): T[] => {
  const out: T[] = [];
  s.forEach((x) => out.push(x));
  return out;
};

describe('SlotSet', () => {
  it('holds what was added and not deleted, each once', () => {
    const s = new SlotSet<{ n: number }>();
    const [a, b, c] = [{ n: 1 }, { n: 2 }, { n: 3 }];
    s.add(a);
    s.add(b);
    s.add(b);
    s.add(c);
    s.delete(b);
    s.delete(b);
    s.delete({ n: 2 });
    assert.equal(s.size, 2);
    assert.deepEqual(members(s), [a, c]);
    assert.equal(s.has(b), false);
    assert.equal(s.has(c), true);
  });

  it('reuses freed slots: as many slots as members at the most, however many came and went', () => {
    const s = new SlotSet<object>();
    const live: object[] = [];
    for (let i = 0; i < 10_000; i++) {
      const o = {};
      s.add(o);
      live.push(o);
      if (live.length > 50) s.delete(live.shift()!);
    }
    assert.equal(s.size, 50);
    assert.deepEqual(new Set(members(s)), new Set(live));
    assert.equal((s as unknown as { items: unknown[] }).items.length, 51, 'slots');
  });

  it('an object may be in two sets, and a member deleted while iterating is not visited', () => {
    const [s, t] = [new SlotSet<object>(), new SlotSet<object>()];
    const [a, b, c] = [{}, {}, {}];
    for (const o of [a, b, c]) s.add(o);
    t.add(b);
    t.add(a);
    const seen: object[] = [];
    s.forEach((o) => {
      seen.push(o);
      if (o === a) s.delete(b);
    });
    assert.deepEqual(seen, [a, c]);
    assert.deepEqual(members(t), [b, a]);
  });
});
