// What a config write puts into etcd, decided without etcd: the object operations that turn the
// prefix into the desired state, the per-object changes against the committed state, and the
// commit operations (version key, history, marker removal, pruning). Pure; the committer runs it.
import type { IRequestOp } from 'etcd3';
import { configHash, stableStringify } from '../config/canonical.js';
import type { ObjectChange } from '../config/diff.js';
import { KINDS, type Config, type ConfigObject } from '../config/schema.js';
import type { CurrentEntry } from './committed.js';
import { configEntries, countsOf, encodeHistory, type VersionInfo } from './decode.js';
import { buf, deleteOp, opBytes, putOp } from './kv.js';
import type { Keys } from './keys.js';
import { sumBytes, type TxnBudget } from './txn-budget.js';
import { ConfigTooLargeError } from './write-errors.js';

export const HISTORY_VERSIONS_KEPT = 500;

export interface WriteMeta {
  author: string;
  message: string;
  source: string;
  /** Write only if the current version is this one (0: no version yet). */
  expectVersion?: number;
}

/** The committed state a write is planned against (from readCommittedRaw). */
export interface PlanBase {
  version: VersionInfo | null;
  /** Committed object keys → raw value. */
  entries: ReadonlyMap<string, string>;
  /** Keys under the config prefix as they stand, uncommitted ones included. */
  current: ReadonlyMap<string, CurrentEntry>;
}

export interface WritePlan {
  version: VersionInfo;
  /** Stored in the version key beside the VersionInfo: tells this write's commit from any other. */
  writeId: string;
  /** Puts and deletes of object keys. */
  objectOps: IRequestOp[];
  /** The commit point and its companions; they go in the last transaction. */
  commitOps: IRequestOp[];
  changes: ObjectChange[];
}

export interface PlanOptions {
  budget: TxnBudget;
  gzipHistoryAbove: number;
  writeId: string;
  /** ISO time of the write. */
  at: string;
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

/**
 * The write of `config` over `base`: null when it changes nothing. Throws when a single object
 * or the commit itself cannot fit one transaction.
 */
export function planWrite(keys: Keys, base: PlanBase, config: Config, meta: WriteMeta, opts: PlanOptions): WritePlan | null {
  const { ops, changes } = planObjectOps(keys, base.entries, configEntries(keys, config), base.current);
  if (ops.length === 0 && base.version) return null;

  const n = (base.version?.version ?? 0) + 1;
  const version: VersionInfo = {
    version: n,
    hash: configHash(config),
    author: meta.author,
    message: meta.message,
    source: meta.source,
    at: opts.at,
    counts: countsOf(config),
  };
  const commitOps = [
    putOp(keys.version, JSON.stringify({ ...version, writeId: opts.writeId })),
    putOp(keys.history(n), encodeHistory(config, opts.gzipHistoryAbove)),
    putOp(keys.historyInfo(n), JSON.stringify(version)),
    // Also clears a marker a crashed writer left when its change could not be undone.
    deleteOp(keys.unfinished),
  ];
  if (n > HISTORY_VERSIONS_KEPT) {
    // Everything older than the newest versions kept (a range, so a missed prune heals).
    const keepFrom = n - HISTORY_VERSIONS_KEPT + 1;
    commitOps.push(
      { request_delete_range: { key: buf(keys.historyPrefix), range_end: buf(keys.history(keepFrom)) } },
      { request_delete_range: { key: buf(keys.historyInfoPrefix), range_end: buf(keys.historyInfo(keepFrom)) } },
    );
  }

  const { maxBytes } = opts.budget;
  // A write in several transactions also releases the write lock in the last one.
  const commitBytes = sumBytes(commitOps) + opBytes(deleteOp(keys.writeLock));
  if (commitBytes > maxBytes) {
    throw new ConfigTooLargeError(`version ${n} is too large to record: its history entry needs ${commitBytes} bytes, a transaction holds ${maxBytes}`);
  }
  for (const op of ops) {
    if (opBytes(op) > maxBytes) {
      throw new ConfigTooLargeError(`${op.request_put!.key!.toString()} is too large: ${opBytes(op)} bytes, a transaction holds ${maxBytes}`);
    }
  }
  return { version, writeId: opts.writeId, objectOps: ops, commitOps, changes };
}

/**
 * The operations turning the prefix into `desired`, and the per-object changes (against the
 * committed state) they make. Uncommitted keys left behind (normally undone by recovery
 * already) are overwritten or deleted too.
 */
export function planObjectOps(
  keys: Keys,
  committed: ReadonlyMap<string, string>,
  desired: ReadonlyMap<string, string>,
  current: ReadonlyMap<string, CurrentEntry>,
): { ops: IRequestOp[]; changes: ObjectChange[] } {
  const ops: IRequestOp[] = [];
  const changes: ObjectChange[] = [];
  const change = (key: string, op: ObjectChange['op'], before?: string, after?: string) => {
    const where = keys.parseObject(key);
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
