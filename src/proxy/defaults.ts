// Defaults the proxy command states in its help, apart from the proxy itself so that showing
// them loads nothing else.

/** How long a starting proxy with a cache waits for etcd before it serves the cached config. */
export const CACHE_GRACE_MS = 2_000;
/** On SIGTERM/SIGINT, how long requests in flight may finish before they are cut. */
export const DEFAULT_DRAIN_TIMEOUT_MS = 30_000;
/** Health transitions reach the fleet view at most this often (one etcd write per proxy). */
export const HEALTH_REPORT_DELAY_MS = 1_000;
