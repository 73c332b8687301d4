// Versioned writes of the config. The version key is the commit point: a change goes out as ONE
// transaction when it fits etcd's limits, or as several (under the write lock) with the version
// key in the last one. Readers only ever see the state at the version key's revision.
// The parts: a snapshot of the committed state to plan against (the live copy a LiveConfig keeps,
// or a read of the prefix), write-plan (what to put, pure), write-commit (one transaction or
// batches under the lock, and undoing an unfinished change), config-reader (history).
import { randomUUID } from 'node:crypto';
import type { Etcd3 } from 'etcd3';
import type { Logger } from 'pino';
import type { ObjectChange } from '../config/diff.js';
import type { Config, ConfigObject, Kind } from '../config/schema.js';
import { normalize } from '../config/validate.js';
import { readCommittedRaw } from './committed.js';
import { ConfigReader, type CommittedConfig } from './config-reader.js';
import { ConfigView, storedObject } from './config-view.js';
import { HISTORY_GZIP_ABOVE, type VersionInfo } from './decode.js';
import { SNAPSHOT_EVERY } from './history.js';
import type { Keys } from './keys.js';
import type { LiveConfig, LiveSnapshot } from './live-config.js';
import { LiveView } from './live-view.js';
import { stateOfRead } from './revision-folder.js';
import { DEFAULT_WRITE_LIMITS, txnBudget, type TxnBudget, type WriteLimits } from './txn-budget.js';
import { WriteCommitter } from './write-commit.js';
import { VersionConflictError } from './write-errors.js';
import { planWrite, type Desired, type WriteMeta } from './write-plan.js';

export { DEFAULT_WRITE_LIMITS, type WriteLimits } from './txn-budget.js';
export { ConfigTooLargeError, VersionConflictError, WriteInterruptedError } from './write-errors.js';
export { HISTORY_VERSIONS_KEPT, type WriteMeta } from './write-plan.js';
export type { CommittedConfig } from './config-reader.js';
export type { LiveSnapshot } from './live-config.js';

export interface WriteResult {
  version: VersionInfo;
  revision: number;
  changes: ObjectChange[];
  unchanged: boolean;
  /** etcd transactions the write took (0 when unchanged). */
  transactions: number;
}

/** One object of a per-object write: set to `object`, or removed (null). */
export interface ObjectEdit {
  kind: Kind;
  id: string;
  object: ConfigObject | null;
}

export interface ConfigWriterOptions {
  /** TTL of the write lock's lease. Default 10 s. */
  lockTtlSeconds?: number;
  /** Extra attempts after a lost compare when no expectVersion is given. Default 2. */
  conflictRetries?: number;
  /** History values above this many bytes are gzipped. Default 256 KiB. */
  gzipHistoryAbove?: number;
  /** A history snapshot every this many versions (history.ts); the same for every writer of a prefix. Tests only. */
  snapshotEvery?: number;
  /** Plan and answer from this live copy of the committed config instead of reading the prefix each time. */
  live?: LiveConfig;
  logger?: Logger;
  /** Test hook: runs after each batch of a multi-transaction write; throwing aborts the write. */
  afterBatch?: (index: number, batches: number) => void | Promise<void>;
}

export class ConfigWriter {
  private readonly budget: TxnBudget;
  private readonly conflictRetries: number;
  private readonly gzipAbove: number;
  private readonly snapshotEvery: number;
  private readonly log: Logger | undefined;
  private readonly live: LiveConfig | undefined;
  private readonly reader: ConfigReader;
  private readonly committer: WriteCommitter;

  constructor(
    private readonly client: Etcd3,
    private readonly keys: Keys,
    limits: WriteLimits = DEFAULT_WRITE_LIMITS,
    opts: ConfigWriterOptions = {},
  ) {
    this.budget = txnBudget(limits);
    this.conflictRetries = opts.conflictRetries ?? 2;
    // The history entry shares the last transaction with the version key and the last batch.
    this.gzipAbove = Math.min(opts.gzipHistoryAbove ?? HISTORY_GZIP_ABOVE, Math.floor(limits.maxBytesPerTxn / 2));
    this.snapshotEvery = opts.snapshotEvery ?? SNAPSHOT_EVERY;
    this.log = opts.logger;
    this.live = opts.live;
    this.reader = new ConfigReader(client, keys);
    this.committer = new WriteCommitter(client, keys, this.budget, opts);
  }

  /**
   * The committed state, decoded: the live copy's when there is one that can vouch for it (at
   * least as new as every version committed before the call), else read from etcd.
   */
  async snapshot(): Promise<LiveSnapshot> {
    return (await this.live?.current()) ?? this.readSnapshot();
  }

  /** The committed config (its valid objects, when it does not validate), read at the version key's mod revision. */
  async readCommitted(): Promise<CommittedConfig> {
    const { view } = await this.snapshot();
    return { config: view.objects.config(), version: view.state.version, revision: view.state.versionKey?.revision ?? 0, issues: view.issues() };
  }

  /** Every version still in history, newest first. */
  listVersions(): Promise<VersionInfo[]> {
    return this.reader.listVersions();
  }

  /** One version from history; null when it is not (or no longer) there. */
  getVersion(n: number): Promise<{ version: VersionInfo; config: Config } | null> {
    return this.reader.getVersion(n);
  }

  /** Undo a change a crashed writer left unfinished (a write does this first anyway). */
  recoverUnfinished(): Promise<{ restored: number; skipped?: 'locked' | 'unknown-committed-state' }> {
    return this.committer.recoverUnfinished();
  }

  /**
   * What a write plans on: the live copy's snapshot, or (when there is none it vouches for) the
   * prefix read after undoing any change a crashed writer left unfinished.
   */
  async writeBase(): Promise<LiveSnapshot> {
    const live = await this.live?.current();
    if (live) return live;
    await this.committer.recoverUnfinished();
    return this.readSnapshot();
  }

  /**
   * Replace the whole config. Throws VersionConflictError instead of ever losing an update.
   * `checkedOn`: the snapshot the caller validated `config` against, planned on first when it
   * holds no unfinished change (saves a read; a retry takes a new one).
   */
  async write(config: Config, meta: WriteMeta, checkedOn?: LiveSnapshot): Promise<WriteResult> {
    const normalized = normalize(config);
    const retries = meta.expectVersion === undefined ? this.conflictRetries : 0;
    for (let attempt = 0; ; attempt++) {
      try {
        const base = attempt === 0 && checkedOn && !checkedOn.uncommitted ? checkedOn : await this.writeBase();
        return await this.commitOn(base, { view: ConfigView.of(this.keys, normalized, base.view.objects), scope: 'all' }, meta);
      } catch (err) {
        if (!(err instanceof VersionConflictError) || attempt >= retries) throw err;
        await new Promise((r) => setTimeout(r, 100 * (attempt + 1) + Math.random() * 100));
      }
    }
  }

  /**
   * Set or remove one object of `base` (a snapshot of writeBase(), which the caller validated the
   * edit against). Commits only if nothing changed since `base`.
   */
  writeObject(base: LiveSnapshot, edit: ObjectEdit, meta: WriteMeta): Promise<WriteResult> {
    const { kind, id, object } = edit;
    const view = base.view.objects.withChanges([object ? storedObject(this.keys, kind, object) : { kind, id, removed: true }]);
    return this.commitOn(base, { view, scope: [this.keys.object(kind, id)] }, meta);
  }

  private async readSnapshot(): Promise<LiveSnapshot> {
    const read = await readCommittedRaw(this.client, this.keys, (msg) => this.log?.warn(msg));
    return { view: LiveView.of(this.keys, stateOfRead(this.keys, read)), headRevision: read.headRevision, uncommitted: read.unfinished ? read.current : null };
  }

  private async commitOn(base: LiveSnapshot, desired: Desired, meta: WriteMeta): Promise<WriteResult> {
    const { state } = base.view;
    const versionRevision = state.versionKey?.revision ?? 0;
    if (versionRevision > 0 && !state.version) {
      throw new Error(`${this.keys.version} does not hold a valid version; repair or delete it`);
    }
    const current = state.version?.version ?? 0;
    if (meta.expectVersion !== undefined && meta.expectVersion !== current) {
      throw new VersionConflictError(meta.expectVersion, current);
    }
    const plan = planWrite(
      this.keys,
      {
        version: state.version,
        entries: state.entries,
        current: base.uncommitted,
        chain: state.versionExact ? (state.versionKey?.chain ?? null) : null,
        headRevision: base.headRevision,
      },
      desired,
      meta,
      { budget: this.budget, gzipHistoryAbove: this.gzipAbove, snapshotEvery: this.snapshotEvery, writeId: randomUUID(), at: new Date().toISOString() },
    );
    if (!plan) return { version: state.version!, revision: versionRevision, changes: [], unchanged: true, transactions: 0 };
    const { revision, transactions } = await this.committer.commit(
      plan,
      {
        revision: versionRevision,
        headRevision: base.headRevision,
        stands: (key) => (base.uncommitted ? base.uncommitted.get(key)?.value : state.entries.get(key)),
        marker: base.uncommitted !== null,
        expected: meta.expectVersion ?? current,
      },
      meta.author,
    );
    this.log?.info({ version: plan.version.version, changes: plan.changes.length, transactions }, 'config written');
    return { version: plan.version, revision, changes: plan.changes, unchanged: false, transactions };
  }
}
