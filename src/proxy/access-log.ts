// The access log: one JSON line per finished request, written through pino's asynchronous
// destination (sonic-boom: writes coalesced while one is under way, EAGAIN on a pipe retried), so
// a request never waits on the disk. Each line is encoded as it is made into a chunk Buffer, and
// each full chunk goes to sonic-boom as one write (contentMode 'buffer'). Handed one at a time,
// each line cost a Buffer of its own plus sonic-boom's bookkeeping and a thread-pool write per
// 8 KiB. Joined into one string per chunk, each line was flattened twice, once to measure its
// UTF-8 size and once when the chunk was encoded: 1.6-2.1 µs a line written, against 0.85-0.92
// encoded at once (to /dev/null, the two builds in one session).
//
// To a file, chunks of 64 KiB. To stdout, which may be a pipe that a proxy's workers (and its
// own log) share, no write is over PIPE_BUF: a pipe takes such a write whole, never cut by
// another's (POSIX), where a larger one can be split and interleaved line through line.
//
// Which requests are written is the mode's choice (`--access-log`): none, those that failed (5xx,
// or 499 when the client left before an answer), a random share, or all.
//
// The query string is never written: it may carry credentials (key-auth's `query`, signed URLs).
import { pino } from 'pino';
import { parseShare } from '../util/share.js';
import { accessLine } from './access-line.js';

export type AccessLogMode = { kind: 'off' } | { kind: 'errors' } | { kind: 'all' } | { kind: 'sampled'; rate: number };

/** `off` | `errors` | `all` | a share 0..1 (`0.1`: one request in ten, at random). */
export function parseAccessLogMode(text: string): AccessLogMode {
  if (text === 'off' || text === 'errors' || text === 'all') return { kind: text };
  let rate: number;
  try {
    rate = parseShare(text);
  } catch {
    throw new Error(`must be off, errors, all or a share from 0 to 1 (got "${text}")`);
  }
  if (rate === 0) return { kind: 'off' };
  if (rate === 1) return { kind: 'all' };
  return { kind: 'sampled', rate };
}

/** One finished request, as written. Absent fields did not apply (no upstream for a 404). */
export interface AccessEntry {
  /** When it ended, ISO 8601 (isoNow). */
  time: string;
  requestId: string;
  traceId: string;
  spanId: string;
  clientIp: string;
  method: string;
  host: string | undefined;
  /** The normalized path, without the query string. */
  path: string;
  protocol: string;
  status: number;
  /** The request body's declared length; absent for a chunked body or none. */
  bytesIn: number | undefined;
  /** Response body bytes sent. */
  bytesOut: number;
  /** Rounded to the microsecond, as upstreamMs (accessLine writes them as such). */
  durationMs: number;
  /** From the first attempt's dispatch to the answer's headers, retries included. */
  upstreamMs: number | undefined;
  route: string | undefined;
  upstream: string | undefined;
  target: string | undefined;
  consumer: string | undefined;
  /** Attempts beyond the first. */
  retries: number;
  /** The config version the request was served by. */
  version: number;
  /** Set on the line when fields were cut to keep it within MAX_LINE_BYTES (access-line.ts). */
  truncated?: true;
}

/** Lines are handed to a file in chunks of at most this many bytes... */
const FILE_CHUNK_BYTES = 64 * 1024;
/** ...and to stdout in writes of at most this many (Linux's PIPE_BUF; POSIX's least is 512). */
const PIPE_BUF = 4096;
/** ...or this often, whichever comes first, so a quiet proxy's lines still show within a second. */
const FLUSH_EVERY_MS = 1000;
/**
 * What one write may carry: all that waited while the write before it was under way. sonic-boom's
 * default (16 KiB) cuts that into a write per 16 KiB (measured: the logged proxy at 0.71-0.73x
 * the bare one with it, 0.88-0.91x with this).
 */
const MAX_WRITE_BYTES = 1 << 20;

let isoMs = 0;
let iso = '';

/** The time now as ISO 8601, made once per millisecond however many requests end in it. */
export function isoNow(): string {
  const ms = Date.now();
  if (ms !== isoMs) {
    isoMs = ms;
    iso = new Date(ms).toISOString();
  }
  return iso;
}

/** sonic-boom in buffer mode: it takes Buffers, which its typings do not say. */
interface LineSink {
  write(line: Buffer): boolean;
  flushSync(): void;
  end(): void;
}

export class AccessLog {
  private readonly destination: LineSink;
  private readonly flushTimer: NodeJS.Timeout;
  private readonly chunkBytes: number;
  /** Where lines are encoded until handed off, and how much of it they fill. */
  private chunk: Buffer;
  private used = 0;

  constructor(
    private readonly mode: Exclude<AccessLogMode, { kind: 'off' }>,
    /** A file (appended to, created with its folder), or stdout when absent. */
    file?: string,
  ) {
    this.chunkBytes = file === undefined ? PIPE_BUF : FILE_CHUNK_BYTES;
    this.chunk = Buffer.allocUnsafeSlow(this.chunkBytes);
    const maxWrite = file === undefined ? PIPE_BUF : MAX_WRITE_BYTES;
    this.destination = pino.destination({ dest: file ?? 1, sync: false, mkdir: true, maxWrite, contentMode: 'buffer' }) as unknown as LineSink;
    this.flushTimer = setInterval(() => this.handOff(), FLUSH_EVERY_MS).unref();
  }

  /** Whether a request that ended with `status` is written. */
  wants(status: number): boolean {
    switch (this.mode.kind) {
      case 'all':
        return true;
      case 'errors':
        return status >= 500 || status === 499;
      case 'sampled':
        return Math.random() < this.mode.rate;
    }
  }

  /**
   * A line longer than a third of a chunk may not fit one and goes alone, in a write of its own:
   * at most MAX_LINE_BYTES, which a pipe still takes whole.
   */
  write(entry: AccessEntry): void {
    const line = accessLine(entry);
    // UTF-8 takes at most 3 bytes per UTF-16 unit, so a line given that room cannot be cut.
    const room = line.length * 3;
    if (this.used + room > this.chunkBytes) {
      this.handOff();
      if (room > this.chunkBytes) {
        this.destination.write(Buffer.from(line));
        return;
      }
    }
    this.used += this.chunk.write(line, this.used);
  }

  private handOff(): void {
    if (this.used === 0) return;
    // sonic-boom keeps the Buffer until it is written: the next lines go into a new one.
    this.destination.write(this.chunk.subarray(0, this.used));
    this.chunk = Buffer.allocUnsafeSlow(this.chunkBytes);
    this.used = 0;
  }

  /** Write out what is buffered (on stop). */
  close(): void {
    clearInterval(this.flushTimer);
    this.handOff();
    try {
      this.destination.flushSync();
    } catch {
      // Nothing buffered, or the destination is not open yet: nothing to lose.
    }
    this.destination.end();
  }
}
