// What a config write puts into etcd, decided without etcd: the object operations that turn the
// prefix into the desired state, the per-object changes against the committed state, and the
// commit operations (version key, history entry, marker removal, pruning). Pure; the committer
// runs it.
import type { IRequestOp } from 'etcd3';
import { stableStringify } from '../config/canonical.js';
import type { ObjectChange } from '../config/diff.js';
import { KINDS, type ConfigObject } from '../config/schema.js';
import type { CurrentEntry } from './committed.js';
import type { ConfigView } from './config-view.js';
import type { HistoryChain, VersionInfo } from './decode.js';
import { historyEntry, pruneRanges } from './history.js';
import { buf, deleteOp, opBytes, putOp } from './kv.js';
import type { Keys } from './keys.js';
import { fitsOneTxn, sumBytes, type TxnBudget } from './txn-budget.js';
import { ConfigTooLargeError } from './write-errors.js';

export { HISTORY_VERSIONS_KEPT } from './history.js';

export interface WriteMeta {
  author: string;
  message: string;
  source: string;
  /** Write only if the current version is this one (0: no version yet). */
  expectVersion?: number;
}

/** The committed state a write is planned against. */
export interface PlanBase {
  version: VersionInfo | null;
  /** Committed object keys → raw value. */
  entries: ReadonlyMap<string, string>;
  /** Keys under the config prefix as they stand, when they differ from `entries` (an unfinished change); null: as `entries`. */
  current: ReadonlyMap<string, CurrentEntry> | null;
  /** The history chain of `version`, when `entries` hold exactly that version: a diff may follow it. */
  chain: HistoryChain | null;
  /** Every change under the config prefix up to this revision is in `entries` (and `current`). */
  headRevision: number;
}

/** The config a write makes. */
export interface Desired {
  view: ConfigView;
  /** The object keys the write may change; 'all': a whole config (every other key is removed). */
  scope: readonly string[] | 'all';
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
  /**
   * It fits one transaction, which is then guarded key by key (each key it writes still holds what
   * the plan saw) rather than by the whole prefix: a compare over every key under the prefix costs
   * etcd time in proportion to the config (12 ms at 10,000 routes). The version key records the
   * plan's head revision (`base`), so whoever folds the commit can tell whether anything else under
   * the prefix changed between the plan and the commit (revision-folder.ts).
   */
  keyGuard: boolean;
}

export interface PlanOptions {
  budget: TxnBudget;
  gzipHistoryAbove: number;
  /** A history snapshot every this many versions (history.ts). */
  snapshotEvery: number;
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

/** Object key → value of the desired config, over its scope. */
function desiredEntries(keys: Keys, desired: Desired): Map<string, string> {
  const out = new Map<string, string>();
  if (desired.scope === 'all') {
    for (const kind of KINDS) for (const o of desired.view.list(kind)) out.set(o.key, o.value);
    return out;
  }
  for (const key of desired.scope) {
    const where = keys.parseObject(key);
    const value = where && desired.view.stored(where.kind, where.id)?.value;
    if (value !== undefined && value !== null) out.set(key, value);
  }
  return out;
}

/**
 * The write of `desired` over `base`: null when it changes nothing. Throws when a single object
 * or the commit itself cannot fit one transaction.
 */
export function planWrite(keys: Keys, base: PlanBase, desired: Desired, meta: WriteMeta, opts: PlanOptions): WritePlan | null {
  const scope = desired.scope === 'all' ? undefined : desired.scope;
  const { ops, changes } = planObjectOps(keys, base.entries, desiredEntries(keys, desired), base.current, scope);
  if (ops.length === 0 && base.version) return null;

  const { view } = desired;
  const n = (base.version?.version ?? 0) + 1;
  const version: VersionInfo = {
    version: n,
    hash: view.hash(),
    author: meta.author,
    message: meta.message,
    source: meta.source,
    at: opts.at,
    counts: view.counts(),
  };
  const history = historyEntry({
    version: n,
    base: base.version?.version === n - 1 ? base.chain : null,
    writes: () => changes.map((c) => ({ kind: c.kind, id: c.id, value: c.op === 'remove' ? null : view.stored(c.kind, c.id)!.value })),
    wholeJson: () => JSON.stringify(view.config()),
    wholeBytes: view.bytes(),
    gzipAbove: opts.gzipHistoryAbove,
    snapshotEvery: opts.snapshotEvery,
  });
  const versionKey = (head?: number) => putOp(keys.version, JSON.stringify({ ...version, writeId: opts.writeId, chain: history.chain, base: head }));
  const companions = [
    putOp(keys.history(n), history.value),
    putOp(keys.historyInfo(n), JSON.stringify({ ...version, chain: history.chain })),
    // Also clears a marker a crashed writer left when its change could not be undone.
    deleteOp(keys.unfinished),
    // Ranges, so a missed prune heals.
    ...pruneRanges(keys, n, opts.snapshotEvery).map(({ key, end }): IRequestOp => ({ request_delete_range: { key: buf(key), range_end: buf(end) } })),
  ];
  // One transaction has room for a compare per key it writes: it has an operation per key and more.
  const keyGuard = fitsOneTxn([...ops, versionKey(base.headRevision), ...companions], opts.budget);
  const commitOps = [versionKey(keyGuard ? base.headRevision : undefined), ...companions];

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
  return { version, writeId: opts.writeId, objectOps: ops, commitOps, changes, keyGuard };
}

/**
 * The operations turning the prefix into `desired`, and the per-object changes (against the
 * committed state) they make. Uncommitted keys left behind (normally undone by recovery
 * already) are overwritten or deleted too. With a `scope`, only those keys are considered (a key
 * in it that `desired` lacks is deleted); without, every key under the prefix.
 */
export function planObjectOps(
  keys: Keys,
  committed: ReadonlyMap<string, string>,
  desired: ReadonlyMap<string, string>,
  current: ReadonlyMap<string, CurrentEntry> | null,
  scope?: readonly string[],
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
    const now = current ? current.get(key)?.value : prev;
    if (changed || now === undefined || !sameJson(now, value)) ops.push(putOp(key, value));
  }
  for (const key of scope ?? new Set([...committed.keys(), ...(current?.keys() ?? [])])) {
    if (desired.has(key)) continue;
    const prev = committed.get(key);
    if (prev === undefined && !current?.has(key)) continue;
    ops.push(deleteOp(key));
    if (prev !== undefined) change(key, 'remove', prev);
  }
  changes.sort((a, b) => KIND_ORDER.get(a.kind)! - KIND_ORDER.get(b.kind)! || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { ops, changes };
}
