// A running proxy's status in etcd, under a lease: it disappears when the proxy stops or dies.
// Reports are coalesced (one put in flight, the latest status always written last), and etcd
// being down never reaches the caller: the registry retries with backoff and re-creates a lost
// lease.
import { ClientClosedError, type Etcd3, type Lease } from 'etcd3';
import type { Logger } from 'pino';
import { Backoff } from '../util/backoff.js';
import { errorMessage } from '../util/errors.js';
import { buf, kvKey, kvValue, prefixEnd } from './kv.js';
import type { Keys } from './keys.js';

export interface ProxyListing {
  id: string;
  /** The proxy's status (parsed JSON; the raw string when it is not JSON). */
  status: unknown;
}

export class ProxyRegistry {
  private lease: Lease | null = null;
  private latest: string | null = null;
  private dirty = false;
  private flushing: Promise<void> | null = null;
  private stopped = false;
  private readonly backoff = new Backoff(200, 2_000);
  private wake: (() => void) | null = null;
  private readonly key: string;
  /** The last status etcd acknowledged (raw JSON). */
  written: string | null = null;

  constructor(
    private readonly client: Etcd3,
    keys: Keys,
    readonly id: string,
    private readonly logger: Logger,
    private readonly ttlSeconds = 10,
  ) {
    this.key = keys.proxy(id);
  }

  /** Publish the latest status. Never throws and never waits for etcd. */
  report(status: object): void {
    if (this.stopped) return;
    this.latest = JSON.stringify(status);
    this.dirty = true;
    this.kick();
  }

  /** Resolves when nothing is left to write (the latest status is in etcd) or the registry stopped. */
  async flushed(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  /** Stop reporting and revoke the lease (the status key disappears). Never throws. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.flushing?.catch(() => undefined);
    const lease = this.lease;
    this.lease = null;
    if (lease) {
      try {
        await lease.revoke();
      } catch (err) {
        // The key expires with its lease anyway.
        this.logger.warn({ err: errorMessage(err) }, 'revoking the proxy registry lease failed');
      }
    }
  }

  /** Every registered proxy's status, by id. */
  static async list(client: Etcd3, keys: Keys): Promise<ProxyListing[]> {
    const res = await client.kv.range({ key: buf(keys.proxiesPrefix), range_end: prefixEnd(keys.proxiesPrefix) });
    return res.kvs.map((kv) => {
      const raw = kvValue(kv);
      let status: unknown = raw;
      try {
        status = JSON.parse(raw);
      } catch {
        // keep the raw string
      }
      return { id: kvKey(kv).slice(keys.proxiesPrefix.length), status };
    });
  }

  private kick(): void {
    if (this.flushing || this.stopped) return;
    this.flushing = this.flush().finally(() => {
      this.flushing = null;
      if (this.dirty && !this.stopped) this.kick();
    });
  }

  private async flush(): Promise<void> {
    while (this.dirty && !this.stopped) {
      const value = this.latest!;
      this.dirty = false;
      try {
        const lease = await this.ensureLease();
        await lease.put(this.key).value(value).exec();
        this.written = value;
        this.backoff.reset();
      } catch (err) {
        if (this.stopped) return;
        if (err instanceof ClientClosedError) {
          this.stopped = true; // the client is gone; nothing can be written any more
          return;
        }
        this.dirty = true;
        const delay = this.backoff.next();
        this.logger.warn({ err: errorMessage(err), retryInMs: delay }, 'writing the proxy status to etcd failed; retrying');
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, delay);
          this.wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
        this.wake = null;
      }
    }
  }

  private async ensureLease(): Promise<Lease> {
    if (this.lease && !this.lease.revoked()) return this.lease;
    const lease = this.client.lease(this.ttlSeconds);
    this.lease = lease;
    lease.on('lost', (err) => {
      if (this.lease !== lease) return;
      this.lease = null;
      if (this.stopped) return;
      this.logger.warn({ err: errorMessage(err) }, 'proxy registry lease lost; re-registering');
      if (this.latest !== null) {
        this.dirty = true;
        this.kick();
      }
    });
    try {
      await lease.grant();
    } catch (err) {
      if (this.lease === lease) this.lease = null;
      throw err;
    }
    return lease;
  }
}
