// The state of every upstream's targets as /status, the fleet view and /metrics show it, read
// from the runtime being served.
import type { LastCheck } from './health-check.js';
import { CHECK_RESULTS } from './health-check.js';
import type { Runtime } from './runtime.js';

export interface TargetStatus {
  url: string;
  weight: number;
  /** In rotation: its active checks (if any) pass and passive health has not ejected it. */
  healthy: boolean;
  /** Requests this proxy has in flight to it. */
  inFlight: number;
  /** Wall clock (ISO 8601) until which passive health holds it out; null when it does not. */
  ejectedUntil: string | null;
  /** Its active checks; null without healthCheck. */
  check: {
    healthy: boolean;
    consecutivePasses: number;
    consecutiveFailures: number;
    lastCheck: LastCheck | null;
  } | null;
}

export interface UpstreamStatus {
  id: string;
  balancer: string;
  targets: TargetStatus[];
}

export function upstreamStatus(rt: Runtime | null): UpstreamStatus[] {
  if (rt === null) return [];
  const now = Date.now();
  return [...rt.upstreams.values()].map((pool) => ({
    id: pool.id,
    balancer: pool.balancerName,
    targets: pool.targets.map((t, i) => {
      const ejectedForMs = pool.ejectedForMs(i);
      const c = t.checker;
      return {
        url: t.url,
        weight: t.weight,
        healthy: pool.inRotation(i),
        inFlight: t.shared.inFlight,
        ejectedUntil: ejectedForMs > 0 ? new Date(now + ejectedForMs).toISOString() : null,
        check: c === null ? null : { healthy: c.healthy, consecutivePasses: c.passes, consecutiveFailures: c.failures, lastCheck: c.last },
      };
    }),
  }));
}

/** At most this many unhealthy targets are named in the fleet view (all are counted). */
export const FLEET_UNHEALTHY_LISTED = 20;

export interface UnhealthyTargets {
  /** Targets whose active checks hold them out, by upstream id (the first FLEET_UNHEALTHY_LISTED). */
  unhealthyTargets: { upstream: string; url: string }[];
  unhealthyTargetCount: number;
}

/**
 * The fleet view's short form: targets out of rotation by their active checks. Passive ejections
 * (10 s each) are left to /status: they would be stale before anyone read them.
 */
export function unhealthyTargets(rt: Runtime | null): UnhealthyTargets {
  const listed: { upstream: string; url: string }[] = [];
  let count = 0;
  for (const pool of rt?.upstreams.values() ?? []) {
    for (const t of pool.targets) {
      if (t.checker === null || t.checker.healthy) continue;
      if (count++ < FLEET_UNHEALTHY_LISTED) listed.push({ upstream: pool.id, url: t.url });
    }
  }
  return { unhealthyTargets: listed, unhealthyTargetCount: count };
}

const HEALTHY = 'signalbox_upstream_target_healthy';
const IN_FLIGHT = 'signalbox_upstream_target_in_flight';
const EJECTIONS = 'signalbox_upstream_target_ejections_total';
const CHECKS = 'signalbox_health_checks_total';

/** A Prometheus label value: backslash, double quote and newline escaped. */
function label(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));
}

/** The upstream series in Prometheus text, rendered at scrape time. */
export function upstreamMetricsText(rt: Runtime | null): string {
  const healthy: string[] = [];
  const inFlight: string[] = [];
  const ejections: string[] = [];
  const checks: string[] = [];
  for (const pool of rt?.upstreams.values() ?? []) {
    pool.targets.forEach((t, i) => {
      const labels = `upstream="${pool.id}",target="${label(t.url)}"`;
      healthy.push(`${HEALTHY}{${labels}} ${pool.inRotation(i) ? 1 : 0}`);
      inFlight.push(`${IN_FLIGHT}{${labels}} ${t.shared.inFlight}`);
      ejections.push(`${EJECTIONS}{${labels}} ${t.passive.ejections}`);
      if (t.checker !== null) for (const r of CHECK_RESULTS) checks.push(`${CHECKS}{${labels},result="${r}"} ${t.checker.totals[r]}`);
    });
  }
  return [
    `# HELP ${HEALTHY} 1 while the target is in rotation (its active checks, if any, pass and passive health has not ejected it), else 0.`,
    `# TYPE ${HEALTHY} gauge`,
    ...healthy,
    `# HELP ${IN_FLIGHT} Requests this proxy has in flight to the target.`,
    `# TYPE ${IN_FLIGHT} gauge`,
    ...inFlight,
    `# HELP ${EJECTIONS} Times passive health took the target out of the upstream's rotation.`,
    `# TYPE ${EJECTIONS} counter`,
    ...ejections,
    `# HELP ${CHECKS} Active health checks of the target by result: pass, fail (an unexpected status), timeout, error (no answer: refused, reset, TLS).`,
    `# TYPE ${CHECKS} counter`,
    ...checks,
    '',
  ].join('\n');
}
