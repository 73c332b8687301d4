// The versions a proxy applied lately and how long each took to reach it: from the commit (the
// version key's `at`, the control plane's clock) until the swap (this host's clock). The control
// plane adds these up per version across the fleet (GET /proxies: convergence).
//
// The two times come from two hosts' clocks, so a skew between them is in the number: a proxy
// whose clock is ahead reports that much more, one whose clock is behind that much less, down to
// a negative duration, which counts as 0 (and is logged: the clock is behind by at least that).
// NTP keeps hosts within a few milliseconds; without it these numbers mean little.
import type { Logger } from 'pino';
import type { VersionInfo } from '../store/decode.js';

/** How many applies a proxy reports: enough for the fleet view's recent versions, small in etcd. */
export const RECENT_APPLIES = 10;

export interface RecentApply {
  version: number;
  /** The version key's `at`; null when it has none (written by hand). */
  committedAt: string | null;
  appliedAt: string;
  /**
   * Commit → applied in ms; null when it is no propagation: the proxy read the version at start
   * (it was committed before the proxy watched), or the version has no commit time.
   */
  propagationMs: number | null;
}

export class ApplyLog {
  /** Newest first. */
  readonly recent: RecentApply[] = [];

  constructor(
    private readonly observe: (seconds: number) => void,
    private readonly logger: Logger,
  ) {}

  /** Commit → applied of the version served now; null when not measured. */
  get propagationMs(): number | null {
    return this.recent[0]?.propagationMs ?? null;
  }

  /**
   * `version` was applied at `appliedAt`. `watching`: it reached the proxy through its watch (or
   * a re-read after the watch broke), so its commit happened while the proxy was running. The
   * same version applied again (a key written beside the control plane) is not a new entry.
   */
  applied(version: VersionInfo | null, appliedAt: string, watching: boolean): void {
    if (version === null || this.recent[0]?.version === version.version) return;
    const committed = Date.parse(version.at);
    let propagationMs: number | null = null;
    if (watching && Number.isFinite(committed)) {
      const raw = Date.parse(appliedAt) - committed;
      if (raw < 0) {
        this.logger.warn({ version: version.version, committedAt: version.at, appliedAt, behindMs: -raw }, "this host's clock is behind the control plane's: propagation counted as 0");
      }
      propagationMs = Math.max(0, raw);
      this.observe(propagationMs / 1000);
    }
    this.recent.unshift({ version: version.version, committedAt: version.at || null, appliedAt, propagationMs });
    this.recent.length = Math.min(this.recent.length, RECENT_APPLIES);
  }
}
