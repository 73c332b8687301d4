// What a pool's primary and its workers say over the cluster IPC channel (--workers N). A worker
// is a whole proxy (its own runtime, listeners, upstream connections) without an etcd watch, an
// admin port or a registry entry: it follows the config states the primary's watch relays
// (relayed-watch.ts), sends each status it would have written to etcd to the primary, answers
// the primary's admin questions, leases rate-limit tokens from it, and drains when told.
import type { AdminSources } from './admin.js';
import type { HealthRelay, LastCheck } from './health-check.js';
import type { ProxyStatus } from './main.js';
import { ANSWER_TIMEOUT_MS, failOpen, type LeaseAsker, type LeaseGrant, type LeaseRequest } from './policies/rate-limit-leases.js';
import { RelayedWatch, type RelayedState } from './relayed-watch.js';

export type AdminQuestion = { what: 'status' } | { what: 'metrics' } | { what: 'traffic'; top: number };

export type ToWorker =
  | { sb: 'ask'; id: number; question: AdminQuestion }
  | { sb: 'drain' }
  | { sb: 'granted'; id: number; grant: LeaseGrant }
  | { sb: 'checked'; key: string; last: LastCheck }
  | { sb: 'lead' }
  | { sb: 'state'; state: RelayedState }
  | { sb: 'etcd'; connected: boolean };

export type FromWorker =
  | { sb: 'status'; status: ProxyStatus }
  | { sb: 'answer'; id: number; body: unknown }
  | { sb: 'answer'; id: number; error: string }
  | { sb: 'lease'; id: number; request: LeaseRequest }
  | { sb: 'checked'; key: string; last: LastCheck }
  | { sb: 'follow' };

/** Messages on the channel that are not ours (Node's own cluster messages among them) are ignored. */
export function isOurs<T extends { sb: string }>(msg: unknown): msg is T {
  return typeof msg === 'object' && msg !== null && typeof (msg as { sb?: unknown }).sb === 'string';
}

function send(msg: FromWorker): void {
  // The primary went away: the 'disconnect' handler (cli/proxy.ts) drains this worker.
  if (process.connected) process.send!(msg);
}

interface PendingLease {
  resolve(grant: LeaseGrant): void;
  timer: NodeJS.Timeout;
  want: number;
}

/**
 * The worker's side: statuses go to the primary; questions are answered from `admin`; rate
 * limits lease their tokens from it (a lease it does not answer in time, or cannot, lets the
 * requests through); the leader's health check results go to the others through it. The
 * primary names the leader: at its fork (SIGNALBOX_HEALTH_CHECKS=send), or with 'lead' when the
 * one before it died, so checks go on while a dead leader is replaced.
 */
export class PrimaryLink implements LeaseAsker, HealthRelay {
  private readonly leases = new Map<number, PendingLease>();
  private leased = 0;
  leader = process.env.SIGNALBOX_HEALTH_CHECKS === 'send';
  private onChecked: ((key: string, last: LastCheck) => void) | null = null;
  private onLead: (() => void) | null = null;
  /** The config, as the primary's watch relays it. */
  readonly config = new RelayedWatch(() => send({ sb: 'follow' }));

  constructor(onDrain: () => void) {
    process.on('message', (msg: unknown) => {
      if (!isOurs<ToWorker>(msg)) return;
      if (msg.sb === 'drain') return onDrain();
      if (msg.sb === 'granted') return this.settle(msg.id, msg.grant);
      if (msg.sb === 'checked') return this.onChecked?.(msg.key, msg.last);
      if (msg.sb === 'lead') return this.lead();
      if (msg.sb === 'state') return this.config.receive(msg.state);
      if (msg.sb === 'etcd') return this.config.etcd(msg.connected);
      if (msg.sb === 'ask' && this.admin !== null) this.answer(msg.id, msg.question, this.admin);
    });
    process.on('disconnect', () => {
      for (const [id, p] of this.leases) this.settle(id, failOpen(p.want));
    });
  }

  private admin: AdminSources | null = null;

  lease(request: LeaseRequest): Promise<LeaseGrant> {
    if (!process.connected) return Promise.resolve(failOpen(request.want));
    const id = ++this.leased;
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.settle(id, failOpen(request.want)), ANSWER_TIMEOUT_MS);
      this.leases.set(id, { resolve, timer, want: request.want });
      send({ sb: 'lease', id, request });
    });
  }

  publish(key: string, last: LastCheck): void {
    send({ sb: 'checked', key, last });
  }

  follow(onResult: (key: string, last: LastCheck) => void, onLead: () => void): void {
    this.onChecked = onResult;
    this.onLead = onLead;
  }

  private lead(): void {
    if (this.leader) return;
    this.leader = true;
    this.onChecked = null;
    this.onLead?.();
  }

  private settle(id: number, grant: LeaseGrant): void {
    const p = this.leases.get(id);
    if (p === undefined) return;
    this.leases.delete(id);
    clearTimeout(p.timer);
    p.resolve(grant);
  }

  /** Answer the primary's questions from here on. */
  serve(admin: AdminSources): void {
    this.admin = admin;
  }

  /** As ProxyRegistry.report: the primary writes the pool's one entry. */
  report(status: object): void {
    send({ sb: 'status', status: status as ProxyStatus });
  }

  async stop(): Promise<void> {}

  private answer(id: number, question: AdminQuestion, admin: AdminSources): void {
    const body = question.what === 'status' ? admin.status() : question.what === 'metrics' ? admin.metrics() : admin.traffic(question.top);
    Promise.resolve(body).then(
      (b) => send({ sb: 'answer', id, body: b }),
      (err: Error) => send({ sb: 'answer', id, error: err.message }),
    );
  }
}
