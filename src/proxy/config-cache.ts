// The last good config on disk (`--cache-dir`), so a proxy restarted while etcd is unreachable
// can serve what it served before instead of staying unready. Written after every applied state,
// atomically (temp file + rename), so a crash mid-write leaves the previous file whole.
//
// The file holds TLS private keys: the folder is created 0700 and every file 0600 from its first
// byte, and a proxy refuses to start on a folder or file that its group or others can use.
import { mkdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { CommittedState } from '../store/config-watcher.js';
import { parseVersionInfo } from '../store/decode.js';

const FILE = 'last-good-config.json';
const FORMAT = 1;

const cacheFileSchema = z.object({
  format: z.literal(FORMAT),
  /** A cache written for another prefix is not this proxy's config. */
  prefix: z.string(),
  savedAt: z.string(),
  revision: z.number().int().nonnegative(),
  version: z.unknown(),
  versionExact: z.boolean(),
  entries: z.record(z.string(), z.string()),
});
type CacheFile = z.infer<typeof cacheFileSchema>;

/** The cache folder or file can be read (or changed) by users other than the proxy's own. */
export class InsecureCacheError extends Error {}

/** Throws InsecureCacheError when `path` grants its group or others any access. */
async function checkPrivate(path: string, kind: 'folder' | 'file'): Promise<void> {
  let mode: number;
  try {
    mode = (await stat(path)).mode & 0o777;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if ((mode & 0o077) === 0) return;
  const want = kind === 'folder' ? '700' : '600';
  throw new InsecureCacheError(
    `--cache-dir: the cache ${kind} ${path} is open to other users (mode ${mode.toString(8).padStart(4, '0')}) and holds TLS private keys; ` +
      `run "chmod ${want} ${path}" (and replace the certificates' keys if others may have read them)`,
  );
}

export class ConfigCache {
  private readonly file: string;
  private latest: CommittedState | null = null;
  private writing: Promise<void> | null = null;

  private constructor(
    private readonly dir: string,
    private readonly prefix: string,
    private readonly logger: Logger,
  ) {
    this.file = join(dir, FILE);
  }

  /** The cache in `dir`, created private when missing; InsecureCacheError when it is not private. */
  static async open(dir: string, prefix: string, logger: Logger): Promise<ConfigCache> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const cache = new ConfigCache(dir, prefix, logger);
    await checkPrivate(dir, 'folder');
    await checkPrivate(cache.file, 'file');
    return cache;
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
    const why = (reason: string) => {
      this.logger.warn({ err: reason, file: this.file }, 'config cache is not usable; ignoring it');
      return null;
    };
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch (err) {
      return why(`not JSON: ${(err as Error).message}`);
    }
    const parsed = cacheFileSchema.safeParse(json);
    if (!parsed.success) return why(parsed.error.issues.map((i) => `${i.path.join('.') || '(file)'}: ${i.message}`).join('; '));
    const c = parsed.data;
    if (c.prefix !== this.prefix) return why(`written for prefix ${c.prefix}, this proxy uses ${this.prefix}`);
    const version = parseVersionInfo(JSON.stringify(c.version));
    return { revision: c.revision, version, entries: new Map(Object.entries(c.entries)), resync: false, versionExact: c.versionExact && version !== null };
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
        await mkdir(this.dir, { recursive: true, mode: 0o700 });
        const tmp = `${this.file}.${process.pid}.tmp`;
        // A temp file left by a crash may have any mode; 'wx' creates a new one, 0600 from the start.
        await unlink(tmp).catch(() => undefined);
        await writeFile(tmp, JSON.stringify(body), { mode: 0o600, flag: 'wx' });
        await rename(tmp, this.file);
      } catch (err) {
        this.logger.warn({ err, file: this.file }, 'writing the config cache failed; the proxy serves on');
      }
    }
  }
}
