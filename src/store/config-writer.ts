// Versioned writes of the whole config. The version key is the commit point: a change goes out
// as ONE transaction when it fits etcd's limits, or as several (under the write lock) with the
// version key in the last one. Readers only ever see the state at the version key's revision.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Etcd3, ICompare, IRequestOp, ITxnResponse } from 'etcd3';
import type { Logger } from 'pino';
import { configHash, stableStringify } from '../config/canonical.js';
import type { ObjectChange } from '../config/diff.js';
import { KINDS, type Config, type ConfigObject } from '../config/schema.js';
import { normalize, validateDocument, type ConfigIssue } from '../config/validate.js';
import { readCommittedRaw, resolveCommitted, splitSnapshot, uncommittedChanges, type CurrentEntry } from './committed.js';
import {
  configEntries,
  countsOf,
  decodeEntriesLenient,
  decodeHistory,
  encodeHistory,
  HISTORY_GZIP_ABOVE,
  parseVersionInfo,
  type VersionInfo,
} from './decode.js';
import { errorMessage } from '../util/errors.js';
import { buf, createIs, deleteOp, kvValue, modIs, opBytes, prefixEnd, prefixModBelow, putOp, rangeOp } from './kv.js';
import type { Keys } from './keys.js';

export interface WriteLimits {
  maxOpsPerTxn: number;
  maxBytesPerTxn: number;
}

/** Stock etcd: at most 128 operations and 1.5 MiB per request; we stay at 1 MiB. */
export const DEFAULT_WRITE_LIMITS: WriteLimits = { maxOpsPerTxn: 128, maxBytesPerTxn: 1024 * 1024 };
export const HISTORY_VERSIONS_KEPT = 500;
/** Room left in every txn for its compares and framing. */
const TXN_OVERHEAD_BYTES = 4 * 1024;

export class VersionConflictError extends Error {
  constructor(
    readonly expected: number,
    readonly actual: number,
    readonly reason: 'version' | 'locked' | 'concurrent' = 'version',
  ) {
    super(
      reason === 'locked'
        ? `another change is being written (version ${actual}); try again`
        : reason === 'concurrent'
          ? `the config changed while this change was prepared (version ${actual}); try again`
          : `version conflict: expected version ${expected}, current version is ${actual}`,
    );
    this.name = 'VersionConflictError';
  }
}

/** A multi-transaction write that lost its lock midway: nothing was committed. */
export class WriteInterruptedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WriteInterruptedError';
  }
}

export interface WriteMeta {
  author: string;
  message: string;
  source: string;
  /** Write only if the current version is this one (0: no version yet). */
  expectVersion?: number;
}

export interface WriteResult {
  version: VersionInfo;
  revision: number;
  changes: ObjectChange[];
  unchanged: boolean;
  /** etcd transactions the write took (0 when unchanged). */
  transactions: number;
}

export interface CommittedConfig {
  /** The committed config; when it is invalid, its valid objects only (see issues). */
  config: Config;
  version: VersionInfo | null;
  /** Mod revision of the version key (0: no version yet). */
  revision: number;
  /** Why the committed state is invalid (someone wrote etcd by hand); empty when valid. */
  issues: ConfigIssue[];
}

export interface ConfigWriterOptions {
  /** TTL of the write lock's lease. Default 10 s. */
  lockTtlSeconds?: number;
  /** Extra attempts after a lost compare when no expectVersion is given. Default 2. */
  conflictRetries?: number;
  /** History values above this many bytes are gzipped. Default 256 KiB. */
  gzipHistoryAbove?: number;
  logger?: Logger;
  /** Test hook: runs after each batch of a multi-transaction write; throwing aborts the write. */
  afterBatch?: (index: number, batches: number) => void | Promise<void>;
}

interface Planned {
  ops: IRequestOp[];
  changes: ObjectChange[];
}

const KIND_ORDER = new Map(KINDS.map((k, i) => [k, i]));

function tryParse(raw: string): unknown {
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return undefined;
  }
}

function sameJson(a: string, b: string): boolean {
  if (a === b) return true;
  const pa = tryParse(a);
  return pa !== undefined && stableStringify(pa) === stableStringify(tryParse(b));
}

export class ConfigWriter {
  private readonly lockTtl: number;
  private readonly conflictRetries: number;
  private readonly gzipAbove: number;
  private readonly log: Logger | undefined;

  constructor(
    private readonly client: Etcd3,
    private readonly keys: Keys,
    private readonly limits: WriteLimits = DEFAULT_WRITE_LIMITS,
    private readonly opts: ConfigWriterOptions = {},
  ) {
    this.lockTtl = opts.lockTtlSeconds ?? 10;
    this.conflictRetries = opts.conflictRetries ?? 2;
    this.gzipAbove = Math.min(opts.gzipHistoryAbove ?? HISTORY_GZIP_ABOVE, Math.floor(limits.maxBytesPerTxn / 2));
    this.log = opts.logger;
  }

  private warn = (msg: string) => this.log?.warn(msg);

  /** The committed config, read at the version key's mod revision. */
  async readCommitted(): Promise<CommittedConfig> {
    const read = await readCommittedRaw(this.client, this.keys, this.warn);
    const { config, issues } = decodeEntriesLenient(this.keys, read.entries);
    return { config, version: read.version, revision: read.revision, issues };
  }

  /** Replace the whole config. Throws VersionConflictError instead of ever losing an update. */
  async write(config: Config, meta: WriteMeta): Promise<WriteResult> {
    const normalized = normalize(config);
    const retries = meta.expectVersion === undefined ? this.conflictRetries : 0;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.writeOnce(normalized, meta);
      } catch (err) {
        if (!(err instanceof VersionConflictError) || attempt >= retries) throw err;
        await new Promise((r) => setTimeout(r, 100 * (attempt + 1) + Math.random() * 100));
      }
    }
  }

  private async writeOnce(config: Config, meta: WriteMeta): Promise<WriteResult> {
    await this.recoverUnfinished();
    const read = await readCommittedRaw(this.client, this.keys, this.warn);
    if (read.revision > 0 && !read.version) {
      throw new Error(`${this.keys.version} does not hold a valid version; repair or delete it`);
    }
    const current = read.version?.version ?? 0;
    if (meta.expectVersion !== undefined && meta.expectVersion !== current) {
      throw new VersionConflictError(meta.expectVersion, current);
    }
    const { ops, changes } = this.plan(read.entries, configEntries(this.keys, config), read.current);
    if (ops.length === 0 && read.version) {
      return { version: read.version, revision: read.revision, changes: [], unchanged: true, transactions: 0 };
    }

    const n = current + 1;
    const version: VersionInfo = {
      version: n,
      hash: configHash(config),
      author: meta.author,
      message: meta.message,
      source: meta.source,
      at: new Date().toISOString(),
      counts: countsOf(config),
    };
    const writeId = randomUUID();
    const finalOps = [
      putOp(this.keys.version, JSON.stringify({ ...version, writeId })),
      putOp(this.keys.history(n), encodeHistory(config, this.gzipAbove)),
      putOp(this.keys.historyInfo(n), JSON.stringify(version)),
      // Also clears a marker a crashed writer left when its change could not be undone.
      deleteOp(this.keys.unfinished),
    ];
    if (n > HISTORY_VERSIONS_KEPT) {
      // Everything older than the 500 newest versions (a range, so a missed prune heals).
      const keepFrom = n - HISTORY_VERSIONS_KEPT + 1;
      finalOps.push(
        { request_delete_range: { key: buf(this.keys.historyPrefix), range_end: buf(this.keys.history(keepFrom)) } },
        { request_delete_range: { key: buf(this.keys.historyInfoPrefix), range_end: buf(this.keys.historyInfo(keepFrom)) } },
      );
    }
    const budget = this.limits.maxBytesPerTxn - TXN_OVERHEAD_BYTES;
    const finalBytes = sumBytes(finalOps) + opBytes(deleteOp(this.keys.writeLock));
    if (finalBytes > budget) {
      throw new Error(`version ${n} is too large to record: its history entry needs ${finalBytes} bytes, a transaction holds ${budget}`);
    }
    for (const op of ops) {
      if (opBytes(op) > budget) {
        throw new Error(`${op.request_put!.key!.toString()} is too large: ${opBytes(op)} bytes, a transaction holds ${budget}`);
      }
    }

    const expected = meta.expectVersion ?? current;
    const guard: ICompare[] = [
      modIs(this.keys.version, read.revision),
      createIs(this.keys.writeLock, 0),
      // Nothing under the config prefix changed since it was read.
      prefixModBelow(this.keys.config, read.headRevision + 1),
    ];
    const all = [...ops, ...finalOps];
    let result: { revision: number; transactions: number };
    if (all.length <= this.limits.maxOpsPerTxn && sumBytes(all) <= budget) {
      const res = await this.txnOrOurs(writeId, { compare: guard, success: all });
      if (!res) throw await this.conflict(expected);
      result = { revision: res, transactions: 1 };
    } else {
      result = await this.writeInBatches(ops, finalOps, guard, { writeId, expected, n, author: meta.author });
    }
    this.log?.info({ version: n, changes: changes.length, transactions: result.transactions }, 'config written');
    return { version, revision: result.revision, changes, unchanged: false, transactions: result.transactions };
  }

  /**
   * The operations turning the prefix into `desired`, and the per-object changes (against the
   * committed state) they make. Uncommitted keys left behind (normally undone by
   * recoverUnfinished already) are overwritten or deleted too.
   */
  private plan(
    committed: ReadonlyMap<string, string>,
    desired: ReadonlyMap<string, string>,
    current: ReadonlyMap<string, CurrentEntry>,
  ): Planned {
    const ops: IRequestOp[] = [];
    const changes: ObjectChange[] = [];
    const change = (key: string, op: ObjectChange['op'], before?: string, after?: string) => {
      const where = this.keys.parseObject(key);
      if (!where) return; // a stray key under the prefix: deleted, but not a config object
      const c: ObjectChange = { kind: where.kind, id: where.id, op };
      const b = before === undefined ? undefined : tryParse(before);
      if (b !== undefined) c.before = b as ConfigObject;
      if (after !== undefined) c.after = JSON.parse(after) as ConfigObject;
      changes.push(c);
    };
    for (const [key, value] of desired) {
      const prev = committed.get(key);
      const changed = prev === undefined || !sameJson(prev, value);
      if (changed) change(key, prev === undefined ? 'add' : 'change', prev, value);
      const now = current.get(key)?.value;
      if (changed || now === undefined || !sameJson(now, value)) ops.push(putOp(key, value));
    }
    for (const key of new Set([...committed.keys(), ...current.keys()])) {
      if (desired.has(key)) continue;
      ops.push(deleteOp(key));
      const prev = committed.get(key);
      if (prev !== undefined) change(key, 'remove', prev);
    }
    changes.sort((a, b) => KIND_ORDER.get(a.kind)! - KIND_ORDER.get(b.kind)! || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return { ops, changes };
  }

  /**
   * A change too large for one transaction: take the write lock and put the unfinished-write
   * marker (only if the lock is free and nothing changed since the read), write the objects in
   * batches each guarded by the lock still being ours, then the version key, history, marker
   * removal and lock release in the last transaction.
   */
  private async writeInBatches(
    ops: IRequestOp[],
    finalOps: IRequestOp[],
    guard: ICompare[],
    w: { writeId: string; expected: number; n: number; author: string },
  ): Promise<{ revision: number; transactions: number }> {
    const budget = this.limits.maxBytesPerTxn - TXN_OVERHEAD_BYTES;
    const batches = packBatches(ops, this.limits.maxOpsPerTxn, budget);
    // The last batch rides along with the final transaction when there is room.
    const final = [...finalOps, deleteOp(this.keys.writeLock)];
    const last = batches[batches.length - 1];
    if (last && last.length + final.length <= this.limits.maxOpsPerTxn && sumBytes(last) + sumBytes(final) <= budget) {
      final.unshift(...batches.pop()!);
    }

    const lease = this.client.lease(this.lockTtl);
    lease.on('lost', (err) => this.log?.warn({ err: errorMessage(err) }, 'write lock lease lost'));
    let committed = false;
    try {
      const leaseId = await lease.grant();
      const token = randomUUID();
      const lockValue = JSON.stringify({ token, version: w.n, author: w.author, host: hostname(), pid: process.pid, at: new Date().toISOString() });
      let lockRev: number;
      try {
        const res = await this.client.kv.txn({
          compare: guard,
          success: [putOp(this.keys.writeLock, lockValue, leaseId), putOp(this.keys.unfinished, lockValue)],
          failure: [],
        });
        if (!res.succeeded) throw await this.conflict(w.expected);
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
      const res = await this.txnOrOurs(w.writeId, { compare: [ours, guard[0]!], success: final });
      transactions++;
      if (!res) throw new WriteInterruptedError('lost the write lock before committing; the change was not committed');
      committed = true;
      return { revision: res, transactions };
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
    const { entries, source } = await resolveCommitted(this.client, this.keys, snap, this.warn);
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
    // Readers ignore the restored keys until the marker goes, with the last batch.
    const batches = packBatches(ops, this.limits.maxOpsPerTxn - 1, this.limits.maxBytesPerTxn - TXN_OVERHEAD_BYTES);
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

  /** Every version still in history, newest first. */
  async listVersions(): Promise<VersionInfo[]> {
    const res = await this.client.kv.range({ key: buf(this.keys.historyInfoPrefix), range_end: prefixEnd(this.keys.historyInfoPrefix) });
    return res.kvs
      .map((kv) => parseVersionInfo(kvValue(kv)))
      .filter((v): v is VersionInfo => v !== null)
      .sort((a, b) => b.version - a.version);
  }

  /** One version from history; null when it is not (or no longer) there. */
  async getVersion(n: number): Promise<{ version: VersionInfo; config: Config } | null> {
    if (!Number.isInteger(n) || n < 1) return null;
    const res = await this.client.kv.txn({
      compare: [],
      success: [rangeOp(this.keys.history(n)), rangeOp(this.keys.historyInfo(n))],
      failure: [],
    });
    const historyKv = res.responses[0]!.response_range.kvs[0];
    if (!historyKv) return null;
    let doc: unknown;
    try {
      doc = decodeHistory(kvValue(historyKv));
    } catch (err) {
      throw new Error(`${this.keys.history(n)} is corrupt: ${errorMessage(err)}`);
    }
    const result = validateDocument(doc);
    if (!result.ok) throw new Error(`${this.keys.history(n)} is not a valid config: ${result.issues[0]!.path}: ${result.issues[0]!.message}`);
    const infoKv = res.responses[1]!.response_range.kvs[0];
    const version = (infoKv && parseVersionInfo(kvValue(infoKv))) || {
      version: n,
      hash: configHash(result.config),
      author: '',
      message: '',
      source: '',
      at: '',
      counts: countsOf(result.config),
    };
    return { version, config: result.config };
  }
}

function sumBytes(ops: readonly IRequestOp[]): number {
  let n = 0;
  for (const op of ops) n += opBytes(op);
  return n;
}

/** Split operations into transactions of at most maxOps operations and maxBytes bytes. */
export function packBatches(ops: readonly IRequestOp[], maxOps: number, maxBytes: number): IRequestOp[][] {
  const batches: IRequestOp[][] = [];
  let batch: IRequestOp[] = [];
  let bytes = 0;
  for (const op of ops) {
    const b = opBytes(op);
    if (batch.length > 0 && (batch.length >= maxOps || bytes + b > maxBytes)) {
      batches.push(batch);
      batch = [];
      bytes = 0;
    }
    batch.push(op);
    bytes += b;
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}
