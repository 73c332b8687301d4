// The last good config on disk (`--cache-dir`), so a proxy restarted while etcd is unreachable
// can serve what it served before instead of staying unready. Written after every applied state,
// atomically (temp file + rename), so a crash mid-write leaves the previous file whole.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { CommittedState } from '../store/config-watcher.js';
import { parseVersionInfo } from '../store/decode.js';

const FILE = 'last-good-config.json';
const FORMAT = 1;

interface CacheFile {
  format: number;
  /** A cache written for another prefix is not this proxy's config. */
  prefix: string;
  savedAt: string;
  revision: number;
  version: unknown;
  versionExact: boolean;
  entries: Record<string, string>;
}

export class ConfigCache {
  private readonly file: string;
  private latest: CommittedState | null = null;
  private writing: Promise<void> | null = null;

  constructor(
    private readonly dir: string,
    private readonly prefix: string,
    private readonly logger: Logger,
  ) {
    this.file = join(dir, FILE);
  }

  /** The cached state, or null when there is none usable (the reason is logged). */
  async load(): Promise<CommittedState | null> {
    let raw: string;
    try {
      raw = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.logger.warn({ err, file: this.file }, 'config cache unreadable; ignoring it');
      return null;
    }
    try {
      const c = JSON.parse(raw) as CacheFile;
      if (c.format !== FORMAT) throw new Error(`format ${c.format}, expected ${FORMAT}`);
      if (c.prefix !== this.prefix) throw new Error(`written for prefix ${c.prefix}, this proxy uses ${this.prefix}`);
      const entries = new Map(Object.entries(c.entries).filter((e): e is [string, string] => typeof e[1] === 'string'));
      const version = parseVersionInfo(JSON.stringify(c.version));
      return { revision: Number(c.revision) || 0, version, entries, resync: false, versionExact: c.versionExact === true && version !== null };
    } catch (err) {
      this.logger.warn({ err: (err as Error).message, file: this.file }, 'config cache is not usable; ignoring it');
      return null;
    }
  }

  /** Remember `state` as the last good config; writes coalesce so only the newest goes to disk. */
  save(state: CommittedState): void {
    this.latest = state;
    this.writing ??= this.drain().finally(() => (this.writing = null));
  }

  /** Resolves when every saved state is on disk. */
  async flushed(): Promise<void> {
    while (this.writing) await this.writing;
  }

  private async drain(): Promise<void> {
    while (this.latest) {
      const state = this.latest;
      this.latest = null;
      const body: CacheFile = {
        format: FORMAT,
        prefix: this.prefix,
        savedAt: new Date().toISOString(),
        revision: state.revision,
        version: state.version,
        versionExact: state.versionExact,
        entries: Object.fromEntries(state.entries),
      };
      try {
        await mkdir(this.dir, { recursive: true });
        const tmp = `${this.file}.${process.pid}.tmp`;
        await writeFile(tmp, JSON.stringify(body));
        await rename(tmp, this.file);
      } catch (err) {
        this.logger.warn({ err, file: this.file }, 'writing the config cache failed; the proxy serves on');
      }
    }
  }
}
