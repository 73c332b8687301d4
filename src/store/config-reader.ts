// Reading what the writer recorded: the versions kept in history.
import type { Etcd3 } from 'etcd3';
import type { Config } from '../config/schema.js';
import { validateDocument, type ConfigIssue } from '../config/validate.js';
import { parseVersionInfo, type VersionInfo } from './decode.js';
import { readHistory } from './history.js';
import { buf, kvValue, prefixEnd } from './kv.js';
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
  ) {}

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
    const read = await readHistory(this.client, this.keys, n);
    const version = read && parseVersionInfo(read.infoRaw);
    if (!read || !version) return null;
    const result = validateDocument(read.doc);
    if (!result.ok) throw new Error(`${this.keys.history(n)} is not a valid config: ${result.issues[0]!.path}: ${result.issues[0]!.message}`);
    return { version, config: result.config };
  }
}
