// One watch on a key prefix over its own gRPC stream, re-created from the revision its owner
// names after every break. etcd3's WatchManager is not used: after a watcher is cancelled by
// etcd (compaction) it cancels the shared stream and disconnects the others, it hides
// compact_revision, and on a re-created watch it moves its resume point to the create
// response's header revision, which can lie beyond events not yet delivered.
import { ClientClosedError, type Etcd3, type IDuplexStream, type IWatchRequest, type IWatchResponse } from 'etcd3';
import { Backoff } from '../util/backoff.js';
import { isStaleTokenError, renewAuthToken } from './client.js';
import { buf, prefixEnd } from './kv.js';

export interface PrefixWatchHandlers {
  /** The revision to (re)start from. */
  startRevision(): number;
  /** etcd accepted the watch. */
  onCreated(): void;
  /** A response carrying events (or a progress notification: no events). */
  onResponse(res: IWatchResponse): void;
  /** The stream broke; it is re-created after a backoff. */
  onDisconnected(err: Error): void;
  /**
   * etcd cancelled the watch (compactRevision > 0: the start revision was compacted). Not
   * re-created. A watch refused for its auth token is not cancelled: it is re-created.
   */
  onCanceled(info: { compactRevision: number; reason: string }): void;
}

export interface PrefixWatchOptions {
  /** A stream that is not accepted within this time is given up and re-created. Default 5 s. */
  createTimeoutMs?: number;
  backoff?: Backoff;
}

type WatchStream = IDuplexStream<IWatchRequest, IWatchResponse>;

export class PrefixWatch {
  private stream: WatchStream | null = null;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly backoff: Backoff;
  private readonly createTimeoutMs: number;

  constructor(
    private readonly client: Etcd3,
    private readonly prefix: string,
    private readonly handlers: PrefixWatchHandlers,
    opts: PrefixWatchOptions = {},
  ) {
    this.backoff = opts.backoff ?? new Backoff(100, 1_000);
    this.createTimeoutMs = opts.createTimeoutMs ?? 5_000;
  }

  start(): void {
    void this.connect();
  }

  /** Ends the stream; no handler is called afterwards. */
  close(): void {
    this.closed = true;
    this.clearTimer();
    const stream = this.stream;
    this.stream = null;
    if (stream) endStream(stream);
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private async connect(): Promise<void> {
    this.timer = null;
    if (this.closed) return;
    let stream: WatchStream;
    try {
      stream = await this.client.watchClient.watch();
    } catch (err) {
      this.broken(null, err as Error);
      return;
    }
    if (this.closed) {
      endStream(stream);
      return;
    }
    this.stream = stream;
    let created = false;
    this.timer = setTimeout(() => this.broken(stream, new Error('etcd did not accept the watch in time')), this.createTimeoutMs);
    stream.on('data', (res: IWatchResponse) => {
      if (stream !== this.stream) return;
      if (res.canceled) {
        const reason = res.cancel_reason ?? '';
        if (isStaleTokenError(reason)) {
          // Refused for its auth token (expired, or lost when etcd restarted): authenticate
          // again and resume from the same revision, as after any other break.
          renewAuthToken(this.client);
          this.broken(stream, new Error(`etcd refused the watch: ${reason}`));
          return;
        }
        this.clearTimer();
        this.stream = null;
        endStream(stream);
        this.handlers.onCanceled({ compactRevision: Number(res.compact_revision ?? 0), reason });
        return;
      }
      if (res.created && !created) {
        created = true;
        this.clearTimer();
        this.backoff.reset();
        this.handlers.onCreated();
        if (res.events?.length === 0) return;
      }
      this.handlers.onResponse(res);
    });
    stream.on('error', (err: Error) => this.broken(stream, err));
    stream.on('end', () => this.broken(stream, new Error('etcd ended the watch stream')));
    stream.write({
      create_request: {
        key: buf(this.prefix),
        range_end: prefixEnd(this.prefix),
        start_revision: this.handlers.startRevision(),
        progress_notify: true,
      },
    });
  }

  private broken(stream: WatchStream | null, err: Error): void {
    if (this.closed || stream !== this.stream) return;
    this.clearTimer();
    if (stream) endStream(stream);
    this.stream = null;
    this.handlers.onDisconnected(err);
    if (err instanceof ClientClosedError) this.closed = true; // nothing left to reconnect with
    if (this.closed) return;
    this.timer = setTimeout(() => void this.connect(), this.backoff.next());
  }
}

/** Half-close first: a stream that is no longer writable does not count as a failure of its host. */
function endStream(stream: WatchStream): void {
  try {
    stream.end();
  } catch {
    // already ended
  }
  try {
    stream.cancel();
  } catch {
    // already cancelled
  }
}
