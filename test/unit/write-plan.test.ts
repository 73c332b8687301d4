// The write planner and the transaction budget: what a write puts into etcd, decided without etcd.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { IRequestOp } from 'etcd3';
import type { Config } from '../../src/config/schema.js';
import { normalize } from '../../src/config/validate.js';
import type { CurrentEntry } from '../../src/store/committed.js';
import { ConfigView } from '../../src/store/config-view.js';
import { configEntries, decodeHistory, parseVersionInfo, type HistoryChain, type VersionInfo } from '../../src/store/decode.js';
import { Keys } from '../../src/store/keys.js';
import { packBatches, txnBudget } from '../../src/store/txn-budget.js';
import { HISTORY_VERSIONS_KEPT, planObjectOps, planWrite, type PlanBase } from '../../src/store/write-plan.js';
import { ConfigTooLargeError } from '../../src/store/write-errors.js';

const keys = new Keys('/plan');
const meta = { author: 'alice', message: 'm', source: 'test' };
const budget = txnBudget({ maxOpsPerTxn: 128, maxBytesPerTxn: 1024 * 1024 });
const opts = { budget, gzipHistoryAbove: 256 * 1024, snapshotEvery: 100, writeId: 'w-1', at: '2030-01-01T00:00:00.000Z' };

function config(routes: string[], upstreamUrl = 'http://127.0.0.1:9101'): Config {
  return normalize({
    upstreams: [{ id: 'users', targets: [{ url: upstreamUrl }] }],
    routes: routes.map((id) => ({ id, match: { paths: [`/${id}`] }, upstream: 'users' })),
    policies: [],
    certificates: [],
  });
}

function current(entries: ReadonlyMap<string, string>): Map<string, CurrentEntry> {
  return new Map([...entries].map(([k, value]) => [k, { value, modRevision: 1 }]));
}

function base(cfg: Config | null, version: VersionInfo | null, chain: HistoryChain | null = null): PlanBase {
  const entries = cfg ? configEntries(keys, cfg) : new Map<string, string>();
  return { version, entries, current: current(entries), chain, headRevision: 1 };
}

/** A whole config as a write's desired state. */
const whole = (cfg: Config) => ({ view: ConfigView.of(keys, cfg), scope: 'all' as const });

const opKey = (op: IRequestOp) => (op.request_put ?? op.request_delete_range)!.key!.toString();
const puts = (ops: IRequestOp[]) => ops.filter((o) => o.request_put).map(opKey);
const deletes = (ops: IRequestOp[]) => ops.filter((o) => o.request_delete_range).map(opKey);

describe('planObjectOps', () => {
  it('adds, changes and removes, with changes ordered by kind then id', () => {
    const before = configEntries(keys, config(['a', 'b']));
    const after = configEntries(keys, config(['b', 'c'], 'http://127.0.0.1:9102'));
    const { ops, changes } = planObjectOps(keys, before, after, current(before));
    assert.deepEqual(
      changes.map((c) => `${c.op} ${c.kind}/${c.id}`),
      ['change upstreams/users', 'remove routes/a', 'add routes/c'],
    );
    assert.deepEqual(puts(ops).sort(), [keys.object('routes', 'c'), keys.object('upstreams', 'users')].sort());
    assert.deepEqual(deletes(ops), [keys.object('routes', 'a')]);
  });

  it('the same JSON with other key order or spacing is no change and no write', () => {
    const desired = configEntries(keys, config(['a']));
    const committed = new Map([...desired].map(([k, v]) => [k, JSON.stringify(JSON.parse(v), null, 2)]));
    const { ops, changes } = planObjectOps(keys, committed, desired, current(committed));
    assert.deepEqual(ops, []);
    assert.deepEqual(changes, []);
  });

  it('keys left by an unfinished change are rewritten or deleted, but are not changes', () => {
    const committed = configEntries(keys, config(['a']));
    const now = current(committed);
    now.set(keys.object('routes', 'a'), { value: '{"half":"written"}', modRevision: 9 });
    now.set(keys.object('routes', 'zz'), { value: '{}', modRevision: 9 });
    const { ops, changes } = planObjectOps(keys, committed, committed, now);
    assert.deepEqual(changes, []);
    assert.deepEqual(puts(ops), [keys.object('routes', 'a')]);
    assert.deepEqual(deletes(ops), [keys.object('routes', 'zz')]);
  });

  it('a stray key under the prefix is deleted without being reported as an object change', () => {
    const committed = new Map([[`${keys.config}not-a-kind/x`, '1']]);
    const { ops, changes } = planObjectOps(keys, committed, new Map(), current(committed));
    assert.deepEqual(deletes(ops), [`${keys.config}not-a-kind/x`]);
    assert.deepEqual(changes, []);
  });
});

describe('planWrite', () => {
  const v1 = parseVersionInfo(JSON.stringify({ version: 1, hash: 'h' }))!;

  it('nothing to do when the committed version already holds the config', () => {
    assert.equal(planWrite(keys, base(config(['a']), v1), whole(config(['a'])), meta, opts), null);
  });

  it('the first version is written even for an empty config', () => {
    const plan = planWrite(keys, base(null, null), whole(config([])), meta, opts)!;
    assert.equal(plan.version.version, 1);
  });

  it('the next version: counts, author, the version key carrying the write id, history, marker removal', () => {
    const plan = planWrite(keys, base(config(['a']), v1), whole(config(['a', 'b'])), meta, opts)!;
    assert.equal(plan.version.version, 2);
    assert.deepEqual(plan.version.counts, { upstreams: 1, routes: 2, policies: 0, certificates: 0, consumers: 0, settings: 0 });
    assert.equal(plan.version.author, 'alice');
    assert.equal(plan.version.at, opts.at);
    assert.deepEqual(puts(plan.objectOps), [keys.object('routes', 'b')]);
    assert.deepEqual(puts(plan.commitOps), [keys.version, keys.history(2), keys.historyInfo(2)]);
    assert.deepEqual(deletes(plan.commitOps), [keys.unfinished]);
    const versionValue = JSON.parse(plan.commitOps[0]!.request_put!.value!.toString()) as Record<string, unknown>;
    assert.equal(versionValue.writeId, 'w-1');
    const history = decodeHistory(plan.commitOps[1]!.request_put!.value!.toString());
    assert.deepEqual(history, config(['a', 'b']));
  });

  it(`past ${HISTORY_VERSIONS_KEPT} versions, older history is deleted as ranges: infos below the oldest kept, entries below its snapshot point`, () => {
    const v = parseVersionInfo(JSON.stringify({ version: HISTORY_VERSIONS_KEPT + 150 }))!;
    const plan = planWrite(keys, base(config(['a']), v), whole(config(['b'])), meta, opts)!;
    const ranges = plan.commitOps.filter((o) => o.request_delete_range?.range_end);
    // Version 651 keeps 152..651; 152's chain may start at the snapshot of version 101.
    assert.deepEqual(
      ranges.map((o) => [o.request_delete_range!.key!.toString(), o.request_delete_range!.range_end!.toString()]),
      [
        [keys.historyPrefix, keys.history(101)],
        [keys.historyInfoPrefix, keys.historyInfo(152)],
      ],
    );
  });

  describe('history entries', () => {
    const at = (n: number) => parseVersionInfo(JSON.stringify({ version: n, hash: 'h' }))!;
    const entryOf = (plan: NonNullable<ReturnType<typeof planWrite>>) => decodeHistory(plan.commitOps[1]!.request_put!.value!.toString());
    const chainOf = (plan: NonNullable<ReturnType<typeof planWrite>>) => (JSON.parse(plan.commitOps[0]!.request_put!.value!.toString()) as { chain: HistoryChain }).chain;

    it('on top of a version recorded with its chain, a diff of what changed; the chain goes on in the version key and its info', () => {
      const others = Array.from({ length: 20 }, (_, i) => `r${i}`);
      const plan = planWrite(keys, base(config(['a', 'b', ...others]), at(7), { snapshot: 1, bytes: 40 }), whole(config(['b', 'c', ...others])), meta, opts)!;
      const entry = entryOf(plan) as Record<string, unknown>;
      assert.deepEqual(entry, { diffFrom: 7, routes: { a: null, c: config(['c']).routes[0] } });
      const bytes = plan.commitOps[1]!.request_put!.value!.length;
      assert.deepEqual(chainOf(plan), { snapshot: 1, bytes: 40 + bytes });
      const info = JSON.parse(plan.commitOps[2]!.request_put!.value!.toString()) as { chain: HistoryChain };
      assert.deepEqual(info.chain, chainOf(plan));
    });

    it('a snapshot at every snapshot point, without a known chain, or once the diffs would outweigh the config', () => {
      const others = Array.from({ length: 20 }, (_, i) => `r${i}`);
      const before = config(['a', ...others]);
      const next = config(['a', 'b', ...others]);
      const snapshotAt = (b: PlanBase) => {
        const plan = planWrite(keys, b, whole(next), meta, opts)!;
        return { snapshot: (entryOf(plan) as { diffFrom?: number }).diffFrom === undefined, chain: chainOf(plan) };
      };
      assert.deepEqual(snapshotAt(base(before, at(100), { snapshot: 1, bytes: 10 })), { snapshot: true, chain: { snapshot: 101, bytes: 0 } });
      assert.deepEqual(snapshotAt(base(before, at(7), null)), { snapshot: true, chain: { snapshot: 8, bytes: 0 } });
      assert.deepEqual(snapshotAt(base(before, at(7), { snapshot: 1, bytes: 10_000 })), { snapshot: true, chain: { snapshot: 8, bytes: 0 } });
      assert.equal(snapshotAt(base(before, at(7), { snapshot: 1, bytes: 10 })).snapshot, false);
    });
  });

  it('a write scoped to one object plans that object alone', () => {
    const before = config(['a', 'b']);
    const view = ConfigView.of(keys, config(['a', 'c'])).withChanges([]);
    const plan = planWrite(keys, base(before, v1), { view, scope: [keys.object('routes', 'c')] }, meta, opts)!;
    // b is not in the desired view, but out of scope: left alone.
    assert.deepEqual(puts(plan.objectOps), [keys.object('routes', 'c')]);
    assert.deepEqual(deletes(plan.objectOps), []);
    const removal = planWrite(keys, base(before, v1), { view: ConfigView.of(keys, config(['a'])), scope: [keys.object('routes', 'b')] }, meta, opts)!;
    assert.deepEqual(deletes(removal.objectOps), [keys.object('routes', 'b')]);
    assert.deepEqual(removal.changes.map((c) => `${c.op} ${c.kind}/${c.id}`), ['remove routes/b']);
  });

  it('an object or a commit larger than a transaction is refused, naming what is too large', () => {
    const big = config(['a'], `http://127.0.0.1:9101/${'x'.repeat(3_000)}`);
    const tight = { ...opts, budget: { maxOps: 128, maxBytes: 2_000 } };
    // The history entry (gzipped, it compresses well) fits; the upstream object itself does not.
    assert.throws(
      () => planWrite(keys, base(null, null), whole(big), meta, { ...tight, gzipHistoryAbove: 100 }),
      (err: Error) => err instanceof ConfigTooLargeError && new RegExp(`^${keys.object('upstreams', 'users')} is too large: \\d+ bytes, a transaction holds 2000$`).test(err.message),
    );
    // Stored plain, the history entry is too large to go with the version key.
    assert.throws(() => planWrite(keys, base(null, null), whole(big), meta, tight), (err: Error) => err instanceof ConfigTooLargeError && /^version 1 is too large to record/.test(err.message));
  });
});

describe('txnBudget and packBatches', () => {
  it('keeps room for compares and framing, and packs by count and by bytes', () => {
    const b = txnBudget({ maxOpsPerTxn: 3, maxBytesPerTxn: 4096 + 200 });
    assert.deepEqual(b, { maxOps: 3, maxBytes: 200 });
    const op = (k: string, bytes: number): IRequestOp => ({ request_put: { key: Buffer.from(k), value: Buffer.alloc(bytes) } });
    const byCount = packBatches([op('a', 1), op('b', 1), op('c', 1), op('d', 1)], b);
    assert.deepEqual(byCount.map((x) => x.map(opKey)), [['a', 'b', 'c'], ['d']]);
    const byBytes = packBatches([op('a', 100), op('b', 100), op('c', 10)], b);
    assert.deepEqual(byBytes.map((x) => x.map(opKey)), [['a'], ['b', 'c']]);
  });
});
