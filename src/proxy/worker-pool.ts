// A proxy of N worker processes behind one port (--workers N). The primary handles no request:
// node:cluster's primary accepts each connection and hands it to the next worker (round-robin,
// SCHED_RR; Node 20 has no reusePort, and SCHED_NONE lets the kernel favour the busiest worker).
// Each worker is a whole proxy (worker-ipc.ts) but for the etcd watch: the primary holds the
// proxy's one watch and relays every state to the workers (relayed-watch.ts), each of which
// compiles and applies it itself. The primary owns what the proxy shows as one: the admin port
// (/status and /metrics combine the workers'), and the registry entry in etcd, where a version
// counts as applied once every serving worker serves it (worker-status.ts). A worker that dies
// is replaced, after a backoff that grows while its replacements keep dying; the other workers
// and their connections are not touched. The primary also holds the rate limits' buckets, from
// which the workers lease tokens (rate-limit-leases.ts), and passes one worker's health check
// results on to the others, which send none of their own: worker 1's, and when the leader dies,
// the next serving worker's from then on.
import cluster, { type Worker } from 'node:cluster';
import type { Etcd3 } from 'etcd3';
import type { Logger } from 'pino';
import { MAX_TOP_ROUTES, type TrafficSummary } from '../api/schemas.js';
import type { HostPort } from '../net.js';
import { createEtcdClient } from '../store/client.js';
import { ConfigWatcher } from '../store/config-watcher.js';
import type { EtcdAccess } from '../store/etcd-access.js';
import { Keys } from '../store/keys.js';
import { ProxyRegistry } from '../store/proxy-registry.js';
import { Backoff } from '../util/backoff.js';
import { startAdminServer } from './admin.js';
import { DEFAULT_DRAIN_TIMEOUT_MS } from './defaults.js';
import type { ProxyAdminStatus, ProxyStatus } from './main.js';
import { mergeMetricsText } from './metrics-merge.js';
import { MAX_KEYS } from './policies/rate-limit.js';
import { LeaseBank } from './policies/rate-limit-leases.js';
import { relayedState } from './relayed-watch.js';
import { mergeTrafficSummaries } from './traffic.js';
import { isOurs, type AdminQuestion, type FromWorker, type ToWorker } from './worker-ipc.js';
import { poolStatus, type PoolStatus, type WorkerReport } from './worker-status.js';

export interface PoolOptions {
  id: string;
  workers: number;
  etcd: string[];
  etcdAccess?: EtcdAccess;
  prefix: string;
  adminListen: HostPort;
  drainTimeoutMs?: number;
  logger: Logger;
}

/** A worker that answers no admin question within this is left out of that answer. */
const ASK_TIMEOUT_MS = 2_000;
/** A replacement that has served this long resets its slot's restart backoff. */
const STABLE_MS = 10_000;
/** After the drain timeout, how long workers get to exit before they are killed. */
const EXIT_GRACE_MS = 5_000;

const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

interface Pending {
  resolve(body: unknown): void;
  timer: NodeJS.Timeout;
}

/** One worker place: its process comes and goes, its number and restart count stay. */
class Slot implements WorkerReport {
  process: Worker | null = null;
  status: ProxyStatus | null = null;
  restarts = 0;
  readonly backoff = new Backoff(250, 10_000);
  restartTimer: NodeJS.Timeout | null = null;
  stableTimer: NodeJS.Timeout | null = null;
  readonly pending = new Map<number, Pending>();
  /** The process asked for the config: it gets every state the watch emits from here on. */
  following = false;
  constructor(readonly worker: number) {}

  /** The process ended: unanswered questions get no answer. */
  gone(): void {
    this.process = null;
    this.status = null;
    this.following = false;
    if (this.stableTimer) clearTimeout(this.stableTimer);
    this.stableTimer = null;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.resolve(undefined);
    }
    this.pending.clear();
  }
}

export class ProxyPool {
  private readonly slots: Slot[];
  /** The rate limits' buckets, shared by the workers (rate-limit-leases.ts). */
  private readonly leases = new LeaseBank(MAX_KEYS);
  private readonly client: Etcd3;
  private readonly registry: ProxyRegistry;
  /** The proxy's one watch; its states go to every following worker. */
  private readonly watcher: ConfigWatcher;
  private readonly startedAt = new Date().toISOString();
  private readonly logger: Logger;
  private adminUrl = '';
  private admin: { close(): Promise<void> } | null = null;
  private started = false;
  private draining = false;
  private closing: Promise<void> | null = null;
  private asked = 0;
  /** Settles when every worker has exited, once draining. */
  private allExited: (() => void) | null = null;
  /** Start-up failed: a worker exited before every worker served. */
  private failStart: ((err: Error) => void) | null = null;
  /** Start-up: called once every worker serves. */
  private allServing: (() => void) | null = null;
  /** The worker that sends the health checks (worker-ipc.ts); null while none serves to be told. */
  private checker: Slot | null = null;

  static async start(opts: PoolOptions): Promise<ProxyPool> {
    const pool = new ProxyPool(opts);
    try {
      await pool.run();
    } catch (err) {
      await pool.close();
      throw err;
    }
    return pool;
  }

  private constructor(private readonly opts: PoolOptions) {
    this.logger = opts.logger;
    this.slots = Array.from({ length: opts.workers }, (_, i) => new Slot(i + 1));
    this.client = createEtcdClient(opts.etcd, opts.etcdAccess);
    const keys = new Keys(opts.prefix);
    this.registry = new ProxyRegistry(this.client, keys, opts.id, this.logger);
    this.watcher = new ConfigWatcher(this.client, keys, this.logger);
  }

  get url(): string {
    return this.adminUrl;
  }

  private ready(): boolean {
    return this.started && !this.draining && this.slots.some((s) => s.status?.ready === true);
  }

  private facts() {
    return { id: this.opts.id, pid: process.pid, startedAt: this.startedAt, ready: this.ready(), draining: this.draining, adminUrl: this.adminUrl };
  }

  /** The registry entry: the workers' last statuses. */
  private report(): void {
    if (this.started || this.draining) this.registry.report(poolStatus(this.facts(), this.slots));
  }

  private async run(): Promise<void> {
    const admin = await startAdminServer(this.opts.adminListen, {
      status: () => this.status(),
      ready: () => this.ready(),
      metrics: () => this.metrics(),
      metricsContentType: CONTENT_TYPE,
      traffic: (top) => this.traffic(top),
    });
    this.admin = admin;
    this.adminUrl = admin.url;
    // Round-robin is Node's default on Linux; said here so no environment variable changes it.
    cluster.schedulingPolicy = cluster.SCHED_RR;
    this.watcher.on('state', (state) => this.toFollowers({ sb: 'state', state: relayedState(state, false) }));
    this.watcher.on('connected', () => this.toFollowers({ sb: 'etcd', connected: true }));
    this.watcher.on('disconnected', () => this.toFollowers({ sb: 'etcd', connected: false }));
    // Not awaited: with etcd down at start, workers with a --cache-dir serve from it meanwhile.
    void this.watcher.start();
    const failed = new Promise<never>((_, reject) => (this.failStart = reject));
    for (const slot of this.slots) this.fork(slot);
    const served = new Promise<void>((resolve) => (this.allServing = resolve));
    await Promise.race([served, failed]);
    this.failStart = this.allServing = null;
    this.started = true;
    this.logger.info({ id: this.opts.id, workers: this.slots.map((s) => s.process?.process.pid), admin: this.adminUrl }, 'proxy workers listening');
    this.report();
  }

  private fork(slot: Slot): void {
    slot.restartTimer = null;
    this.checker ??= slot;
    const worker = cluster.fork({ SIGNALBOX_WORKER: String(slot.worker), SIGNALBOX_HEALTH_CHECKS: this.checker === slot ? 'send' : 'follow' });
    slot.process = worker;
    worker.on('message', (msg: unknown) => {
      if (!isOurs<FromWorker>(msg)) return;
      if (msg.sb === 'checked') {
        // The leader's health check result: every other worker judges by it (health-check.ts).
        for (const other of this.slots) if (other !== slot && other.process?.isConnected()) other.process.send(msg satisfies ToWorker);
        return;
      }
      if (msg.sb === 'follow') {
        this.follow(slot);
        return;
      }
      if (msg.sb === 'lease') {
        worker.send({ sb: 'granted', id: msg.id, grant: this.leases.grant(msg.request, performance.now()) } satisfies ToWorker);
        return;
      }
      if (msg.sb === 'status') {
        const wasReady = slot.status?.ready === true;
        slot.status = msg.status;
        if (!wasReady && msg.status.ready) {
          this.settling(slot);
          if (this.checker === null && !this.draining) this.lead(slot);
          if (this.slots.every((s) => s.status?.ready)) this.allServing?.();
        }
        this.report();
        return;
      }
      const pending = slot.pending.get(msg.id);
      if (pending === undefined) return;
      slot.pending.delete(msg.id);
      clearTimeout(pending.timer);
      pending.resolve('body' in msg ? msg.body : undefined);
    });
    worker.on('exit', (code, signal) => this.exited(slot, worker, code, signal));
    // A message to a worker that has just exited fails (EPIPE): cluster itself sends one when a
    // listen fails (the port taken). The exit is handled above; unhandled, the error would kill
    // the primary with a stack trace instead of its one-line reason.
    worker.on('error', (err) => this.logger.debug({ worker: slot.worker, err: err.message }, 'message to a worker not delivered'));
  }

  /** A worker asks for the config: the watch's state as it stands, whole, then every change. */
  private follow(slot: Slot): void {
    slot.following = true;
    const state = this.watcher.state;
    this.toFollower(slot, { sb: 'etcd', connected: this.watcher.connected });
    if (state !== null) this.toFollower(slot, { sb: 'state', state: relayedState(state, true) });
  }

  private toFollowers(msg: ToWorker): void {
    for (const slot of this.slots) this.toFollower(slot, msg);
  }

  private toFollower(slot: Slot, msg: ToWorker): void {
    if (slot.following && slot.process?.isConnected()) slot.process.send(msg);
  }

  /** A worker serves: once it has for STABLE_MS, its slot's next crash restarts at once again. */
  private settling(slot: Slot): void {
    if (slot.stableTimer) clearTimeout(slot.stableTimer);
    slot.stableTimer = setTimeout(() => slot.backoff.reset(), STABLE_MS);
    slot.stableTimer.unref();
  }

  private exited(slot: Slot, worker: Worker, code: number | null, signal: string | null): void {
    if (slot.process !== worker) return;
    slot.gone();
    if (this.draining) {
      if (this.slots.every((s) => s.process === null)) this.allExited?.();
      return;
    }
    if (this.failStart) {
      this.failStart(new Error(`worker ${slot.worker} (pid ${worker.process.pid}) exited with ${signal ?? `code ${code}`} before every worker served; its messages are above`));
      return;
    }
    const delay = slot.backoff.next();
    this.logger.warn({ worker: slot.worker, pid: worker.process.pid, code, signal, restartInMs: delay }, 'proxy worker died; starting another');
    if (this.checker === slot) this.handOverChecks(slot);
    this.report();
    slot.restartTimer = setTimeout(() => {
      slot.restarts++;
      this.fork(slot);
    }, delay);
  }

  /**
   * The health checks' leader died: the next serving worker sends them from now on, so no target
   * goes unchecked while the dead one is replaced (or keeps dying). Only a serving worker is told:
   * one still starting may not listen yet. With none serving, the first to serve leads (or the
   * next one forked, told at its fork).
   */
  private handOverChecks(dead: Slot): void {
    this.checker = null;
    const next = this.slots.find((s) => s !== dead && s.status?.ready === true && s.process?.isConnected());
    if (next !== undefined) this.lead(next);
  }

  private lead(slot: Slot): void {
    this.checker = slot;
    slot.process!.send({ sb: 'lead' } satisfies ToWorker);
    // Said beside the death that caused it, at the same level.
    this.logger.warn({ worker: slot.worker }, 'health checks now sent by another worker');
  }

  /** Ask every live worker; those that do not answer in time are left out. */
  private async ask(question: AdminQuestion): Promise<{ slot: Slot; body: unknown }[]> {
    const answers = this.slots
      .filter((s) => s.process !== null && s.process.isConnected())
      .map(
        (slot) =>
          new Promise<{ slot: Slot; body: unknown }>((resolve) => {
            const id = ++this.asked;
            const timer = setTimeout(() => {
              slot.pending.delete(id);
              resolve({ slot, body: undefined });
            }, ASK_TIMEOUT_MS);
            slot.pending.set(id, { resolve: (body) => resolve({ slot, body }), timer });
            slot.process!.send({ sb: 'ask', id, question } satisfies ToWorker);
          }),
      );
    return (await Promise.all(answers)).filter((a) => a.body !== undefined);
  }

  /** GET /status: fresh statuses from the workers; `upstreams` as the most lagging worker sees them. */
  async status(): Promise<PoolStatus & Pick<ProxyAdminStatus, 'upstreams'>> {
    const answers = new Map((await this.ask({ what: 'status' })).map(({ slot, body }) => [slot, body as ProxyAdminStatus]));
    // A worker that did not answer in time shows its last status.
    const combined = poolStatus(this.facts(), this.slots.map((slot) => ({ worker: slot.worker, restarts: slot.restarts, status: answers.get(slot) ?? slot.status })));
    const lagging = [...answers.values()].find((s) => s.revision === combined.revision);
    return { ...combined, upstreams: lagging?.upstreams ?? [] };
  }

  private async metrics(): Promise<string> {
    const answers = await this.ask({ what: 'metrics' });
    const live = this.slots.filter((s) => s.process !== null).length;
    const restarts = this.slots.reduce((n, s) => n + s.restarts, 0);
    return (
      mergeMetricsText(answers.map((a) => a.body as string)) +
      [
        '# HELP signalbox_workers Worker processes alive (--workers N).',
        '# TYPE signalbox_workers gauge',
        `signalbox_workers ${live}`,
        '# HELP signalbox_worker_restarts_total Workers started again after one died.',
        '# TYPE signalbox_worker_restarts_total counter',
        `signalbox_worker_restarts_total ${restarts}`,
        '',
      ].join('\n')
    );
  }

  private async traffic(top: number): Promise<TrafficSummary> {
    const answers = await this.ask({ what: 'traffic', top: MAX_TOP_ROUTES });
    if (answers.length === 0) throw new Error('no worker answered');
    return mergeTrafficSummaries(
      answers.map((a) => a.body as TrafficSummary),
      top,
    );
  }

  /** Drain: /readyz 503 at once, every worker drains (its own drain timeout) and exits, then the registry entry goes. */
  close(): Promise<void> {
    this.closing ??= this.drainAndStop();
    return this.closing;
  }

  private async drainAndStop(): Promise<void> {
    this.draining = true;
    this.report();
    for (const slot of this.slots) {
      if (slot.restartTimer) clearTimeout(slot.restartTimer);
      slot.restartTimer = null;
    }
    const live = this.slots.filter((s) => s.process !== null);
    if (live.length > 0) {
      const exited = new Promise<void>((resolve) => (this.allExited = resolve));
      for (const slot of live) if (slot.process!.isConnected()) slot.process!.send({ sb: 'drain' } satisfies ToWorker);
      const kill = setTimeout(
        () => {
          this.logger.warn('workers still running after the drain timeout; killing them');
          for (const slot of this.slots) slot.process?.process.kill('SIGKILL');
        },
        (this.opts.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS) + EXIT_GRACE_MS,
      );
      await exited;
      clearTimeout(kill);
    }
    await this.watcher.stop();
    await this.registry.stop();
    await this.admin?.close();
    this.client.close();
  }
}
