// Defaults the proxy command states in its help, apart from the proxy itself so that showing
// them loads nothing else.

/** How long a starting proxy with a cache waits for etcd before it serves the cached config. */
export const CACHE_GRACE_MS = 2_000;
/** On SIGTERM/SIGINT, how long requests in flight may finish before they are cut. */
export const DEFAULT_DRAIN_TIMEOUT_MS = 30_000;
/** Health transitions reach the fleet view at most this often (one etcd write per proxy). */
export const HEALTH_REPORT_DELAY_MS = 1_000;

/**
 * V8 flags every proxy process runs with (bin/signalbox, `signalbox dev`'s proxy, the benches;
 * `--workers` children inherit them). Without incremental marking a full GC is one pause instead
 * of marking spread over seconds; with it, on a proxy whose cores are busy, marking was in
 * progress most of the time, and the scavenges meanwhile promoted what requests in flight held
 * (1.3-1.4 MB a scavenge instead of 0.12), so the old generation filled with dead requests and
 * marking began again: on the 2-core VM, forwarding 16.8-17.6 k req/s with a p99 of 7.8-9.0 ms
 * against 18.9-19.2 k and 5.9 ms without it, one 9-15 ms full GC in 8 s instead of four or five
 * shorter ones (bench:forwarding, same runs; README, Benchmarks).
 */
export const PROXY_NODE_FLAGS: readonly string[] = ['--no-incremental-marking'];
