// How the fleet follows the live version, from what each proxy reports in its registry entry: per
// recent version, how many proxies applied it, how long the slowest took and which one it was;
// and which proxies lag. Pure: registry entries in (any JSON: etcd holds what anyone wrote),
// numbers out.
import type { VersionConvergence } from '../api/schemas.js';

/** A proxy not on the live version this long after its commit is lagging. */
export const DEFAULT_LAG_THRESHOLD_MS = 30_000;
/** Versions the fleet view shows. */
const VERSIONS_SHOWN = 10;

export interface FleetMember {
  id: string;
  version?: unknown;
  draining?: unknown;
  recentApplies?: unknown;
}

interface Apply {
  version: number;
  committedAt: string | null;
  appliedAt: string;
  propagationMs: number | null;
}

/** The live version and its commit time (the version key's `at`, the control plane's clock). */
export interface LiveVersion {
  version: number;
  at: string;
}

/**
 * Not on the live version, `thresholdMs` after its commit. Both times are control-plane clocks
 * (the commit's and this one's), so only skew between control-plane replicas is in it. A draining
 * proxy stopped following on purpose; a version key without a time (written by hand) counts as
 * committed long ago.
 */
export function isLagging(p: FleetMember, live: LiveVersion | null, nowMs: number, thresholdMs: number): boolean {
  if (live === null || p.draining === true || p.version === live.version) return false;
  const committed = Date.parse(live.at);
  return !Number.isFinite(committed) || nowMs - committed > thresholdMs;
}

function appliesOf(p: FleetMember): Apply[] {
  if (!Array.isArray(p.recentApplies)) return [];
  return p.recentApplies.filter(
    (a: Partial<Apply> | null): a is Apply =>
      typeof a === 'object' &&
      a !== null &&
      Number.isInteger(a.version) &&
      typeof a.appliedAt === 'string' &&
      (a.committedAt === null || typeof a.committedAt === 'string') &&
      (a.propagationMs === null || (typeof a.propagationMs === 'number' && Number.isFinite(a.propagationMs))),
  );
}

/**
 * The live version and the newest versions the proxies report applying, newest first. A proxy that read a version at
 * its start counts as having applied it but not in the times (it was not running at the commit).
 * `pending`: proxies still on an older version (or none), draining ones aside; a proxy that went
 * past a version without applying it (two commits in one watch response) is neither.
 */
export function versionConvergence(proxies: readonly FleetMember[], live: LiveVersion | null): VersionConvergence[] {
  const byVersion = new Map<number, VersionConvergence>();
  const entry = (version: number) => {
    let v = byVersion.get(version);
    if (v === undefined) {
      v = { version, committedAt: null, applied: 0, pending: 0, maxPropagationMs: null, lastProxy: null, lastAppliedAt: null };
      byVersion.set(version, v);
    }
    return v;
  };
  // The live version even before any proxy applied it (or when none can).
  if (live !== null) entry(live.version).committedAt = live.at || null;
  for (const p of proxies) {
    for (const a of appliesOf(p)) {
      const v = entry(a.version);
      v.applied++;
      v.committedAt ??= a.committedAt;
      if (a.propagationMs !== null && (v.maxPropagationMs === null || a.propagationMs > v.maxPropagationMs)) {
        v.maxPropagationMs = a.propagationMs;
        v.lastProxy = p.id;
        v.lastAppliedAt = a.appliedAt;
      }
    }
  }
  const recent = [...byVersion.values()].sort((a, b) => b.version - a.version).slice(0, VERSIONS_SHOWN);
  for (const v of recent) {
    v.pending = proxies.filter((p) => p.draining !== true && !(typeof p.version === 'number' && p.version >= v.version)).length;
  }
  return recent;
}
