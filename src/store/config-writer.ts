// Versioned writes of the whole config. The version key is the commit point: a change goes out
// as ONE transaction when it fits etcd's limits, or as several (under the write lock) with the
// version key in the last one. Readers only ever see the state at the version key's revision.
// The parts: config-reader (what is committed, history), write-plan (what to put, pure),
// write-commit (one transaction or batches under the lock, and undoing an unfinished change).
import { randomUUID } from 'node:crypto';
import type { Etcd3 } from 'etcd3';
import type { Logger } from 'pino';
import type { ObjectChange } from '../config/diff.js';
import type { Config } from '../config/schema.js';
import { normalize } from '../config/validate.js';
import { readCommittedRaw } from './committed.js';
import { ConfigReader, type CommittedConfig } from './config-reader.js';
import { HISTORY_GZIP_ABOVE, type VersionInfo } from './decode.js';
import type { Keys } from './keys.js';
import { DEFAULT_WRITE_LIMITS, txnBudget, type TxnBudget, type WriteLimits } from './txn-budget.js';
import { WriteCommitter } from './write-commit.js';
import { VersionConflictError } from './write-errors.js';
import { planWrite, type WriteMeta } from './write-plan.js';

export { DEFAULT_WRITE_LIMITS, type WriteLimits } from './txn-budget.js';
export { ConfigTooLargeError, VersionConflictError, WriteInterruptedError } from './write-errors.js';
export { HISTORY_VERSIONS_KEPT, type WriteMeta } from './write-plan.js';
export type { CommittedConfig } from './config-reader.js';

export interface WriteResult {
  version: VersionInfo;
  revision: number;
  changes: ObjectChange[];
  unchanged: boolean;
  /** etcd transactions the write took (0 when unchanged). */
  transactions: number;
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

export class ConfigWriter {
  private readonly budget: TxnBudget;
  private readonly conflictRetries: number;
  private readonly gzipAbove: number;
  private readonly log: Logger | undefined;
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
    this.log = opts.logger;
    this.reader = new ConfigReader(client, keys, opts.logger);
    this.committer = new WriteCommitter(client, keys, this.budget, opts);
  }

  /** The committed config, read at the version key's mod revision. */
  readCommitted(): Promise<CommittedConfig> {
    return this.reader.readCommitted();
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
    await this.committer.recoverUnfinished();
    const read = await readCommittedRaw(this.client, this.keys, (msg) => this.log?.warn(msg));
    if (read.revision > 0 && !read.version) {
      throw new Error(`${this.keys.version} does not hold a valid version; repair or delete it`);
    }
    const current = read.version?.version ?? 0;
    if (meta.expectVersion !== undefined && meta.expectVersion !== current) {
      throw new VersionConflictError(meta.expectVersion, current);
    }
    const plan = planWrite(this.keys, read, config, meta, {
      budget: this.budget,
      gzipHistoryAbove: this.gzipAbove,
      writeId: randomUUID(),
      at: new Date().toISOString(),
    });
    if (!plan) return { version: read.version!, revision: read.revision, changes: [], unchanged: true, transactions: 0 };
    const { revision, transactions } = await this.committer.commit(
      plan,
      { revision: read.revision, headRevision: read.headRevision, expected: meta.expectVersion ?? current },
      meta.author,
    );
    this.log?.info({ version: plan.version.version, changes: plan.changes.length, transactions }, 'config written');
    return { version: plan.version, revision, changes: plan.changes, unchanged: false, transactions };
  }
}
