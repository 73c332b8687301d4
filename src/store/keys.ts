// The etcd key layout (docs/architecture.md). Every key the product reads or writes is built here.
import { KINDS, type Kind } from '../config/kinds.js';

export const DEFAULT_PREFIX = '/signalbox';
const VERSION_DIGITS = 10;

export class Keys {
  readonly root: string;
  readonly config: string;
  readonly version: string;
  readonly historyPrefix: string;
  /** `<prefix>/history-info/<n>`: the small VersionInfo of version n, so listing versions never reads whole configs. */
  readonly historyInfoPrefix: string;
  readonly proxiesPrefix: string;
  /** `<prefix>/tokens/<name>`: API tokens, their role and the sha256 of the secret (never the secret). */
  readonly tokensPrefix: string;
  /** `<prefix>/token-used/<name>`: when a token was last used (apart, so the credential record is never rewritten). */
  readonly tokenUsedPrefix: string;
  /** `<prefix>/gitops/status`: the GitOps agent's last report (what it synced, what stopped it). */
  readonly gitopsStatus: string;
  /** `<prefix>/gitops/sync-request`: the last `POST /gitops/sync`; its mod revision is the request's id. */
  readonly gitopsSyncRequest: string;
  /** Held (under a lease) by a control plane while a change spans several transactions. */
  readonly writeLock: string;
  /**
   * `<prefix>/config/unfinished-write`: present from the first to the last transaction of a
   * multi-transaction change, and after a writer crashed between them until the change is undone.
   * Not leased, so it outlives a crashed writer. While it exists, readers take the prefix as it
   * was just before the marker was created; without it, the prefix as it stands is the config (so
   * a key written straight into etcd is applied or refused like any other change).
   */
  readonly unfinished: string;

  constructor(prefix: string = DEFAULT_PREFIX) {
    this.root = prefix.replace(/\/+$/, '');
    this.config = `${this.root}/config/`;
    this.version = `${this.config}version`;
    this.historyPrefix = `${this.root}/history/`;
    this.historyInfoPrefix = `${this.root}/history-info/`;
    this.proxiesPrefix = `${this.root}/proxies/`;
    this.tokensPrefix = `${this.root}/tokens/`;
    this.tokenUsedPrefix = `${this.root}/token-used/`;
    this.gitopsStatus = `${this.root}/gitops/status`;
    this.gitopsSyncRequest = `${this.root}/gitops/sync-request`;
    this.writeLock = `${this.root}/write-lock`;
    this.unfinished = `${this.config}unfinished-write`;
  }

  object(kind: Kind, id: string): string {
    return `${this.config}${kind}/${id}`;
  }

  history(version: number): string {
    return `${this.historyPrefix}${String(version).padStart(VERSION_DIGITS, '0')}`;
  }

  historyInfo(version: number): string {
    return `${this.historyInfoPrefix}${String(version).padStart(VERSION_DIGITS, '0')}`;
  }

  proxy(id: string): string {
    return `${this.proxiesPrefix}${id}`;
  }

  token(name: string): string {
    return `${this.tokensPrefix}${name}`;
  }

  tokenUsed(name: string): string {
    return `${this.tokenUsedPrefix}${name}`;
  }

  /** `{kind, id}` for an object key under the config prefix; null for the version key or a stray key. */
  parseObject(key: string): { kind: Kind; id: string } | null {
    if (!key.startsWith(this.config)) return null;
    const rest = key.slice(this.config.length);
    const slash = rest.indexOf('/');
    if (slash < 0) return null;
    const kind = rest.slice(0, slash) as Kind;
    if (!KINDS.includes(kind)) return null;
    return { kind, id: rest.slice(slash + 1) };
  }
}
