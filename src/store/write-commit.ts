// Committing a planned write. One guarded transaction when it fits; otherwise the write lock
// and the unfinished-write marker, the objects in batches each guarded by the lock still being
// ours, and the commit operations with the lock release last. A change cut off midway (a crash,
// a lost lock) is undone: by the writer at once, or by the next write.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Etcd3, ICompare, IRequestOp, ITxnResponse } from 'etcd3';
import type { Logger } from 'pino';
import { errorMessage } from '../util/errors.js';
import { resolveCommitted, splitSnapshot, uncommittedChanges } from './committed.js';
import { parseVersionInfo } from './decode.js';
import { createIs, deleteOp, kvValue, modIs, prefixModBelow, putOp, rangeOp, valueIs } from './kv.js';
import type { Keys } from './keys.js';
import { fitsOneTxn, packBatches, type TxnBudget } from './txn-budget.js';
import { VersionConflictError, WriteInterruptedError } from './write-errors.js';
import type { WritePlan } from './write-plan.js';

export interface CommitOptions {
  /** TTL of the write lock's lease. Default 10 s. */
  lockTtlSeconds?: number;
  logger?: Logger;
  /** Test hook: runs after each batch of a multi-transaction write; throwing aborts the write. */
  afterBatch?: (index: number, batches: number) => void | Promise<void>;
}

/** The state a write was planned on: the commit happens only if nothing changed since. */
export interface CommitBase {
  /** Mod revision of the version key (0: none). */
  revision: number;
  /** Every change under the config prefix up to this revision was in the state. */
  headRevision: number;
  /** What a key under the prefix held then (undefined: nothing). */
  stands(key: string): string | undefined;
  /** The unfinished-write marker stood then. */
  marker: boolean;
  /** The version the caller expects to replace (for the conflict it reports). */
  expected: number;
}

export class WriteCommitter {
  private readonly lockTtl: number;
  private readonly log: Logger | undefined;

  constructor(
    private readonly client: Etcd3,
    private readonly keys: Keys,
    private readonly budget: TxnBudget,
    private readonly opts: CommitOptions = {},
  ) {
    this.lockTtl = opts.lockTtlSeconds ?? 10;
    this.log = opts.logger;
  }

  /** Commit `plan`: its revision and the transactions it took. Throws VersionConflictError or WriteInterruptedError. */
  async commit(plan: WritePlan, base: CommitBase, author: string): Promise<{ revision: number; transactions: number }> {
    const guard: ICompare[] = [modIs(this.keys.version, base.revision), createIs(this.keys.writeLock, 0)];
    if (plan.keyGuard) {
      // Each key written still holds what the plan saw, and no multi-transaction write began; a
      // change elsewhere under the prefix meanwhile is told by the version key's `base`.
      if (!base.marker) guard.push(createIs(this.keys.unfinished, 0));
      for (const op of plan.objectOps) {
        const key = (op.request_put ?? op.request_delete_range)!.key!.toString();
        guard.push(valueIs(key, base.stands(key) ?? null));
      }
      const revision = await this.txnOrOurs(plan.writeId, { compare: guard, success: [...plan.objectOps, ...plan.commitOps] });
      if (!revision) throw await this.conflict(base.expected);
      return { revision, transactions: 1 };
    }
    // Nothing under the config prefix changed since the state the plan saw.
    guard.push(prefixModBelow(this.keys.config, base.headRevision + 1));
    return this.commitInBatches(plan, guard, base.expected, author);
  }

  /**
   * Take the write lock and put the unfinished-write marker (only if the lock is free and nothing
   * changed since the read), write the objects in batches each guarded by the lock still being
   * ours, then the commit operations, marker removal and lock release in the last transaction.
   */
  private async commitInBatches(
    plan: WritePlan,
    guard: ICompare[],
    expected: number,
    author: string,
  ): Promise<{ revision: number; transactions: number }> {
    const batches = packBatches(plan.objectOps, this.budget);
    // The last batch rides along with the final transaction when there is room.
    const final = [...plan.commitOps, deleteOp(this.keys.writeLock)];
    const last = batches[batches.length - 1];
    if (last && fitsOneTxn([...last, ...final], this.budget)) final.unshift(...batches.pop()!);

    const lease = this.client.lease(this.lockTtl);
    lease.on('lost', (err) => this.log?.warn({ err: errorMessage(err) }, 'write lock lease lost'));
    let committed = false;
    try {
      const leaseId = await lease.grant();
      const token = randomUUID();
      const lockValue = JSON.stringify({
        token,
        version: plan.version.version,
        author,
        host: hostname(),
        pid: process.pid,
        at: new Date().toISOString(),
      });
      let lockRev: number;
      try {
        const res = await this.client.kv.txn({
          compare: guard,
          success: [putOp(this.keys.writeLock, lockValue, leaseId), putOp(this.keys.unfinished, lockValue)],
          failure: [],
        });
        if (!res.succeeded) throw await this.conflict(expected);
        lockRev = Number(res.header.revision);
      } catch (err) {
        // The lock txn may have succeeded although its answer was lost: is the lock ours?
        const kv = (await this.client.get(this.keys.writeLock).exec().catch(() => null))?.kvs[0];
        if (!kv || !kvValue(kv).includes(token)) throw err;
        lockRev = Number(kv.create_revision);
      }
      const ours = createIs(this.keys.writeLock, lockRev);
      let transactions = 1;
      for (let i = 0; i < batches.length; i++) {
        const res = await this.client.kv.txn({ compare: [ours], success: batches[i]!, failure: [] });
        transactions++;
        if (!res.succeeded) throw new WriteInterruptedError('lost the write lock while writing; the change was not committed');
        await this.opts.afterBatch?.(i, batches.length);
      }
      const revision = await this.txnOrOurs(plan.writeId, { compare: [ours, guard[0]!], success: final });
      transactions++;
      if (!revision) throw new WriteInterruptedError('lost the write lock before committing; the change was not committed');
      committed = true;
      return { revision, transactions };
    } finally {
      await lease.revoke().catch(() => undefined);
      if (!committed) {
        // Undo the batches now rather than before the next write; a failure here is harmless.
        await this.recoverUnfinished().catch((err) => this.log?.warn({ err: errorMessage(err) }, 'undoing an interrupted write failed'));
      }
    }
  }

  /** Run a guarded txn: its revision if it committed (also when only its answer was lost), else null. */
  private async txnOrOurs(writeId: string, req: { compare: ICompare[]; success: IRequestOp[] }): Promise<number | null> {
    let res: ITxnResponse;
    try {
      res = await this.client.kv.txn({ ...req, failure: [] });
    } catch (err) {
      const kv = (await this.client.get(this.keys.version).exec().catch(() => null))?.kvs[0];
      if (kv && kvValue(kv).includes(writeId)) return Number(kv.mod_revision);
      throw err;
    }
    if (res.succeeded) return Number(res.header.revision);
    const kv = (await this.client.get(this.keys.version).exec()).kvs[0];
    return kv && kvValue(kv).includes(writeId) ? Number(kv.mod_revision) : null;
  }

  private async conflict(expected: number): Promise<VersionConflictError> {
    const res = await this.client.kv.txn({ compare: [], success: [rangeOp(this.keys.version), rangeOp(this.keys.writeLock)], failure: [] });
    const versionKv = res.responses[0]!.response_range.kvs[0];
    const actual = versionKv ? (parseVersionInfo(kvValue(versionKv))?.version ?? 0) : 0;
    const locked = res.responses[1]!.response_range.kvs.length > 0;
    const reason = locked ? 'locked' : actual !== expected ? 'version' : 'concurrent';
    return new VersionConflictError(expected, actual, reason);
  }

  /**
   * Undo an unfinished change (keys a crashed writer wrote after the version key, while the
   * unfinished-write marker stands): restore them to their committed value, delete the ones that
   * did not exist, and remove the marker in the last transaction. Does nothing while a writer
   * holds the lock.
   */
  async recoverUnfinished(): Promise<{ restored: number; skipped?: 'locked' | 'unknown-committed-state' }> {
    const res = await this.client.kv.txn({
      compare: [],
      success: [rangeOp(this.keys.writeLock), rangeOp(this.keys.config, { prefix: true })],
      failure: [],
    });
    if (res.responses[0]!.response_range.kvs.length > 0) return { restored: 0, skipped: 'locked' };
    const snap = splitSnapshot(this.keys, res.responses[1]!.response_range.kvs);
    if (!snap.unfinished) return { restored: 0 };
    const { entries, source } = await resolveCommitted(this.client, this.keys, snap, (msg) => this.log?.warn(msg));
    const pending = uncommittedChanges(entries, snap.current);
    if (source === 'head-without-newer') {
      // The next write replaces every key anyway and removes the marker.
      this.log?.error({ keys: pending.size }, 'an unfinished change was found but the committed state is unknown; not touching it');
      return { restored: 0, skipped: 'unknown-committed-state' };
    }
    const ops = [...pending.keys()].map((key) => {
      const value = entries.get(key);
      return value === undefined ? deleteOp(key) : putOp(key, value);
    });
    // Readers ignore the restored keys until the marker goes, with the last batch (room kept for it).
    const batches = packBatches(ops, { ...this.budget, maxOps: this.budget.maxOps - 1 });
    const last = batches.length > 0 ? batches[batches.length - 1]! : [];
    const guard = [createIs(this.keys.writeLock, 0), modIs(this.keys.version, snap.revision)];
    let restored = 0;
    for (const batch of batches.length > 0 ? batches : [last]) {
      const success = batch === last ? [...batch, deleteOp(this.keys.unfinished)] : batch;
      const r = await this.client.kv.txn({ compare: guard, success, failure: [] });
      if (!r.succeeded) break; // a writer started meanwhile; it will recover what is left
      restored += batch.length;
    }
    this.log?.warn({ restored, of: ops.length }, 'undid an unfinished config change');
    return { restored };
  }
}
