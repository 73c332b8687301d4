// Handlers that run in a worker thread, so that no request can stall the control plane's event
// loop (/healthz, and every other endpoint): a 50,000-route YAML document takes seconds to parse,
// and reading a live config of that size takes half a second. The router sends a handler's call
// here; the worker (api-worker.ts) runs the same handler with an etcd client of its own and
// answers the reply as text. Two such threads run (api.ts says which handler runs where):
// - documents: whole documents a caller sends, one at a time, so a long parse never delays the
//   etcd calls of another job in the same thread past their deadline, and a document that runs
//   the worker out of memory is the one that gets 413;
// - config: whatever reads or writes the whole live config, several at a time.
// A bounded number of calls wait their turn (each holds its body); beyond, callers get 503 with
// Retry-After. A worker that dies is started anew.
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { ErrorDetail } from '../api/schemas.js';
import type { EtcdAccessData } from '../store/etcd-access.js';
import { HttpError } from './http.js';
import type { Principal } from './auth.js';
import type { WriteHeaders } from './request-headers.js';

export type ThreadName = 'documents' | 'config';

export interface ThreadLimits {
  /** Calls the worker runs at once. */
  concurrent: number;
  /** Calls that may wait for their turn. */
  waiting: number;
  /** The worker's old-generation heap. */
  heapMb: number;
}

export const THREAD_LIMITS: Record<ThreadName, ThreadLimits> = {
  // Parsing the largest document accepted (16 MiB of YAML) takes about 1.2 GB.
  documents: { concurrent: 1, waiting: 8, heapMb: 2048 },
  config: { concurrent: 16, waiting: 64, heapMb: 1024 },
};

/** What a handler is called with, as it crosses to the worker. */
export interface ThreadCall {
  accept: string | undefined;
  principal: Principal;
  params: Readonly<Record<string, string>>;
  query: unknown;
  body: unknown;
  raw: Uint8Array;
  write: WriteHeaders;
}

/** A handler's reply, rendered; or the error it ended with (`unexpected`: a fault of ours, with its stack). */
export type ThreadReply =
  | { ok: true; status: number | undefined; text: string; contentType: string; headers: Record<string, string> | undefined }
  | { ok: false; status: number; message: string; details: readonly ErrorDetail[]; headers: Record<string, string>; unexpected?: string };

export interface WorkerData {
  etcd: string[];
  etcdAccess: EtcdAccessData;
  prefix: string;
  logLevel: string;
  thread: ThreadName;
}

interface Pending {
  id: number;
  route: string;
  call: ThreadCall;
  resolve(reply: ThreadReply): void;
  reject(err: Error): void;
}

export class HandlerThread {
  private worker: Worker | null = null;
  private readonly running = new Map<number, Pending>();
  private readonly waiting: Pending[] = [];
  private nextId = 1;
  private closed = false;
  private readonly limits: ThreadLimits;

  constructor(
    private readonly data: WorkerData,
    private readonly logger: Logger,
  ) {
    this.limits = THREAD_LIMITS[data.thread];
    this.start();
  }

  /** The reply of handler `route` to `call`; 503 when too many calls wait already. */
  run(route: string, call: ThreadCall): Promise<ThreadReply> {
    if (this.closed) return Promise.reject(new HttpError(503, 'the control plane is stopping'));
    if (this.waiting.length >= this.limits.waiting) {
      return Promise.reject(new HttpError(503, `the control plane is busy: ${this.waiting.length} requests of this kind are waiting already; try again`, [], { 'retry-after': '2' }));
    }
    return new Promise((resolve, reject) => {
      this.waiting.push({ id: this.nextId++, route, call, resolve, reject });
      this.next();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.waiting.splice(0)) p.reject(new HttpError(503, 'the control plane is stopping'));
    await this.worker?.terminate();
  }

  private start(): void {
    const worker = new Worker(new URL('./api-worker.js', import.meta.url), {
      workerData: this.data,
      resourceLimits: { maxOldGenerationSizeMb: this.limits.heapMb },
    });
    worker.on('message', (m: { id?: number; reply?: ThreadReply; log?: string }) => {
      if (m.log !== undefined) {
        this.log(m.log);
        return;
      }
      const p = this.running.get(m.id!);
      if (!p) return;
      this.running.delete(p.id);
      p.resolve(m.reply!);
      this.next();
    });
    // The worker is gone: the calls it ran end with `fail`; a new worker takes the waiting ones.
    const gone = (fail: Error) => {
      if (this.worker !== worker) return;
      this.worker = null;
      void worker.terminate();
      for (const p of this.running.values()) p.reject(fail);
      this.running.clear();
      if (!this.closed) this.start();
    };
    worker.on('error', (err: Error & { code?: string }) => {
      this.logger.error({ err, thread: this.data.thread }, 'a handler thread failed; starting it again');
      // Out of memory: with one call at a time, that call's document is more than it can take.
      const oom = err.code === 'ERR_WORKER_OUT_OF_MEMORY';
      gone(oom ? new HttpError(413, `the request is too large to process: it took more than ${this.limits.heapMb} MiB`) : err);
    });
    worker.on('exit', () => gone(new Error('a handler thread stopped')));
    // It never keeps the process alive by itself: close() ends it, and so does the process's exit.
    worker.unref();
    this.worker = worker;
    this.next();
  }

  private next(): void {
    while (this.worker && this.running.size < this.limits.concurrent && this.waiting.length > 0) {
      const p = this.waiting.shift()!;
      this.running.set(p.id, p);
      this.worker.postMessage({ id: p.id, route: p.route, call: p.call });
    }
  }

  /** A pino line of the worker's, through this process's logger. */
  private log(line: string): void {
    try {
      const { level, msg, ...fields } = JSON.parse(line) as { level: number; msg?: string; [k: string]: unknown };
      const method = level >= 50 ? 'error' : level >= 40 ? 'warn' : level >= 30 ? 'info' : 'debug';
      this.logger[method]({ ...fields, thread: this.data.thread }, msg);
    } catch {
      this.logger.info(line);
    }
  }
}
