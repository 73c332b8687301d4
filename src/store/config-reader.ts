// Reading what the writer wrote: the committed config, and the versions kept in history.
import type { Etcd3 } from 'etcd3';
import type { Logger } from 'pino';
import { configHash } from '../config/canonical.js';
import type { Config } from '../config/schema.js';
import { validateDocument, type ConfigIssue } from '../config/validate.js';
import { errorMessage } from '../util/errors.js';
import { readCommittedRaw } from './committed.js';
import { countsOf, decodeEntriesLenient, decodeHistory, parseVersionInfo, type VersionInfo } from './decode.js';
import { buf, kvValue, prefixEnd, rangeOp } from './kv.js';
import type { Keys } from './keys.js';

export interface CommittedConfig {
  /** The committed config; when it is invalid, its valid objects only (see issues). */
  config: Config;
  version: VersionInfo | null;
  /** Mod revision of the version key (0: no version yet). */
  revision: number;
  /** Why the committed state is invalid (someone wrote etcd by hand); empty when valid. */
  issues: ConfigIssue[];
}

export class ConfigReader {
  constructor(
    private readonly client: Etcd3,
    private readonly keys: Keys,
    private readonly logger?: Logger,
  ) {}

  /** The committed config, read at the version key's mod revision. */
  async readCommitted(): Promise<CommittedConfig> {
    const read = await readCommittedRaw(this.client, this.keys, (msg) => this.logger?.warn(msg));
    const { config, issues } = decodeEntriesLenient(this.keys, read.entries);
    return { config, version: read.version, revision: read.revision, issues };
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
