// One proxy's status from its workers' (--workers N). The proxy serves a version only once every
// worker that serves traffic serves it: the top-level version, hash, revision and applies are the
// most lagging serving worker's, and each version's apply time and propagation are the last
// worker's to apply it. The fleet view (registry in etcd, GET /proxies) thus never counts a
// version as applied while a worker still serves an older one.
import type { RecentApply } from './apply-log.js';
import type { ProxyStatus } from './main.js';

/** What /status and the registry show of each worker. */
export interface WorkerDetail {
  /** 1..N: the slot; a restarted worker keeps its slot's number. */
  worker: number;
  pid: number;
  version: number | null;
  revision: number;
  hash: string | null;
  ready: boolean;
  draining: boolean;
  etcd: ProxyStatus['etcd'];
  routes: number;
  appliedAt: string | null;
  lastApplyMs: number | null;
  propagationMs: number | null;
  startedAt: string;
  /** Times this slot's worker was replaced after it died. */
  restarts: number;
  /** Requests it answered (in GET /status, not in the registry, where it would be stale). */
  requests?: number;
}

export interface WorkerReport {
  worker: number;
  restarts: number;
  /** Its last status; null until it sent one. */
  status: ProxyStatus | null;
}

export interface PoolStatus extends ProxyStatus {
  workers: WorkerDetail[];
  workerRestarts: number;
}

export interface PoolFacts {
  id: string;
  pid: number;
  startedAt: string;
  ready: boolean;
  draining: boolean;
  adminUrl: string;
}

function detail(r: WorkerReport, s: ProxyStatus): WorkerDetail {
  return {
    worker: r.worker,
    pid: s.pid,
    version: s.version,
    revision: s.revision,
    hash: s.hash,
    ready: s.ready,
    draining: s.draining,
    etcd: s.etcd,
    routes: s.routes,
    appliedAt: s.appliedAt,
    lastApplyMs: s.lastApplyMs,
    propagationMs: s.propagationMs,
    startedAt: s.startedAt,
    restarts: r.restarts,
    ...('requests' in s && typeof s.requests === 'number' ? { requests: s.requests } : {}),
  };
}

const later = (a: string | null, b: string | null) => (a === null ? b : b === null ? a : a > b ? a : b);
const larger = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.max(a, b));

/** Each version's entry as the last worker to apply it saw it: latest apply, longest propagation. */
function combinedApplies(base: readonly RecentApply[], others: readonly ProxyStatus[]): RecentApply[] {
  return base.map((entry) => {
    let { appliedAt, propagationMs } = entry;
    for (const s of others) {
      const same = s.recentApplies.find((e) => e.version === entry.version);
      if (same === undefined) continue;
      appliedAt = later(appliedAt, same.appliedAt)!;
      propagationMs = larger(propagationMs, same.propagationMs);
    }
    return { ...entry, appliedAt, propagationMs };
  });
}

/** The proxy as one entry, with per-worker detail. */
export function poolStatus(facts: PoolFacts, reports: readonly WorkerReport[]): PoolStatus {
  const known = reports.filter((r): r is WorkerReport & { status: ProxyStatus } => r.status !== null);
  const statuses = known.map((r) => r.status);
  // Workers that serve decide the version; before any serves, every one that reported.
  const serving = statuses.filter((s) => s.ready && s.version !== null);
  const pool = serving.length > 0 ? serving : statuses;
  const lagging = pool.reduce<ProxyStatus | null>((min, s) => (min === null || s.revision < min.revision ? s : min), null);
  const others = pool.filter((s) => s !== lagging);
  const workers = known.map((r) => detail(r, r.status));
  const propagationMs = lagging === null ? null : others.reduce((ms, s) => (s.version === lagging.version ? larger(ms, s.propagationMs) : ms), lagging.propagationMs);
  return {
    id: facts.id,
    pid: facts.pid,
    version: lagging?.version ?? null,
    hash: lagging?.hash ?? null,
    revision: lagging?.revision ?? 0,
    etcd: statuses.length > 0 && statuses.every((s) => s.etcd === 'connected') ? 'connected' : 'disconnected',
    routes: lagging?.routes ?? 0,
    ready: facts.ready,
    draining: facts.draining,
    lastError: statuses.find((s) => s.lastError !== null)?.lastError ?? null,
    resyncs: statuses.reduce((n, s) => n + s.resyncs, 0),
    configSource: lagging?.configSource ?? null,
    startedAt: facts.startedAt,
    appliedAt: pool.reduce<string | null>((at, s) => (s.version === lagging?.version ? later(at, s.appliedAt) : at), null),
    lastApplyMs: pool.reduce<number | null>((ms, s) => larger(ms, s.lastApplyMs), null),
    propagationMs,
    recentApplies: lagging === null ? [] : combinedApplies(lagging.recentApplies, others),
    listen: { ...(lagging?.listen ?? statuses[0]?.listen), admin: facts.adminUrl },
    unhealthyTargets: lagging?.unhealthyTargets ?? [],
    unhealthyTargetCount: lagging?.unhealthyTargetCount ?? 0,
    workers,
    workerRestarts: reports.reduce((n, r) => n + r.restarts, 0),
  };
}
