// The write planner and the transaction budget: what a write puts into etcd, decided without etcd.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { IRequestOp } from 'etcd3';
import type { Config } from '../../src/config/schema.js';
import { normalize } from '../../src/config/validate.js';
import type { CurrentEntry } from '../../src/store/committed.js';
import { configEntries, decodeHistory, parseVersionInfo, type VersionInfo } from '../../src/store/decode.js';
import { Keys } from '../../src/store/keys.js';
import { packBatches, txnBudget } from '../../src/store/txn-budget.js';
import { HISTORY_VERSIONS_KEPT, planObjectOps, planWrite, type PlanBase } from '../../src/store/write-plan.js';
import { ConfigTooLargeError } from '../../src/store/write-errors.js';

const keys = new Keys('/plan');
const meta = { author: 'alice', message: 'm', source: 'test' };
const budget = txnBudget({ maxOpsPerTxn: 128, maxBytesPerTxn: 1024 * 1024 });
const opts = { budget, gzipHistoryAbove: 256 * 1024, writeId: 'w-1', at: '2030-01-01T00:00:00.000Z' };

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

function base(cfg: Config | null, version: VersionInfo | null): PlanBase {
  const entries = cfg ? configEntries(keys, cfg) : new Map<string, string>();
  return { version, entries, current: current(entries) };
}

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
    assert.equal(planWrite(keys, base(config(['a']), v1), config(['a']), meta, opts), null);
  });

  it('the first version is written even for an empty config', () => {
    const plan = planWrite(keys, base(null, null), config([]), meta, opts)!;
    assert.equal(plan.version.version, 1);
  });

  it('the next version: counts, author, the version key carrying the write id, history, marker removal', () => {
    const plan = planWrite(keys, base(config(['a']), v1), config(['a', 'b']), meta, opts)!;
    assert.equal(plan.version.version, 2);
    assert.deepEqual(plan.version.counts, { upstreams: 1, routes: 2, policies: 0, certificates: 0 });
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

  it(`past ${HISTORY_VERSIONS_KEPT} versions, older history is deleted as ranges`, () => {
    const v = parseVersionInfo(JSON.stringify({ version: HISTORY_VERSIONS_KEPT }))!;
    const plan = planWrite(keys, base(config(['a']), v), config(['b']), meta, opts)!;
    const ranges = plan.commitOps.filter((o) => o.request_delete_range?.range_end);
    assert.deepEqual(
      ranges.map((o) => [o.request_delete_range!.key!.toString(), o.request_delete_range!.range_end!.toString()]),
      [
        [keys.historyPrefix, keys.history(2)],
        [keys.historyInfoPrefix, keys.historyInfo(2)],
      ],
    );
  });

  it('an object or a commit larger than a transaction is refused, naming what is too large', () => {
    const big = config(['a'], `http://127.0.0.1:9101/${'x'.repeat(3_000)}`);
    const tight = { ...opts, budget: { maxOps: 128, maxBytes: 2_000 } };
    // The history entry (gzipped, it compresses well) fits; the upstream object itself does not.
    assert.throws(
      () => planWrite(keys, base(null, null), big, meta, { ...tight, gzipHistoryAbove: 100 }),
      (err: Error) => err instanceof ConfigTooLargeError && new RegExp(`^${keys.object('upstreams', 'users')} is too large: \\d+ bytes, a transaction holds 2000$`).test(err.message),
    );
    // Stored plain, the history entry is too large to go with the version key.
    assert.throws(() => planWrite(keys, base(null, null), big, meta, tight), (err: Error) => err instanceof ConfigTooLargeError && /^version 1 is too large to record/.test(err.message));
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
