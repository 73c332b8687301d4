import cluster from 'node:cluster';
import { availableParallelism, hostname } from 'node:os';
import type { Command } from '@commander-js/extra-typings';
import { CACHE_GRACE_MS, DEFAULT_DRAIN_TIMEOUT_MS } from '../proxy/defaults.js';
import { parseHostPort } from '../net.js';
import { wholeNumber } from './args.js';
import { CliError, etcdOptions, etcdTarget, usage } from './common.js';
import { onShutdown } from './shutdown.js';

const MAX_WORKERS = 64;

/** --workers: a count, or "auto" for one per core. */
export function workerCount(value: string): number {
  if (value === 'auto') return availableParallelism();
  const n = wholeNumber('--workers', value, 1);
  if (n > MAX_WORKERS) throw new CliError(`--workers must be at most ${MAX_WORKERS} (or "auto"), got "${value}"`, 2);
  return n;
}

export function register(program: Command): void {
  etcdOptions(program.command('proxy').description('a proxy: reads config from etcd, serves traffic, hot-swaps on every change'))
    .requiredOption('--listen <host:port>', 'HTTP listener')
    .option('--tls-listen <host:port>', 'HTTPS listener (certificates chosen by SNI)')
    .requiredOption('--admin-listen <host:port>', 'admin port: /healthz /readyz /status /metrics')
    .option('--id <id>', 'proxy id in status and etcd', `${hostname()}-${process.pid}`)
    .option('--cache-dir <dir>', `keep the last good config here; serve it at start when etcd does not answer within ${CACHE_GRACE_MS / 1000} s`)
    .option('--drain-timeout-ms <ms>', 'on SIGTERM/SIGINT, how long requests in flight may finish before they are cut (env SIGNALBOX_DRAIN_TIMEOUT_MS)', process.env.SIGNALBOX_DRAIN_TIMEOUT_MS ?? String(DEFAULT_DRAIN_TIMEOUT_MS))
    .option('--workers <n>', `worker processes behind the same ports, or "auto" (one per core); at most ${MAX_WORKERS}`, '1')
    .option('--trusted-proxies <cidrs>', 'peers (CIDR[,CIDR...]) whose X-Forwarded-For/-Proto/-Host are kept; from others they are replaced (env SIGNALBOX_TRUSTED_PROXIES; default: none)', process.env.SIGNALBOX_TRUSTED_PROXIES)
    .action(async (opts) => {
      // Loaded here, not at the top: every other command starts without the proxy's modules.
      const [{ TrustedProxies }, { startProxy }, { createLogger }] = await Promise.all([import('../proxy/forwarded.js'), import('../proxy/main.js'), import('./logger.js')]);
      const workers = workerCount(opts.workers);
      const drainTimeoutMs = wholeNumber('--drain-timeout-ms', opts.drainTimeoutMs, 0);
      const target = etcdTarget(opts);
      const trustedProxies = usage('--trusted-proxies', () => TrustedProxies.parse(opts.trustedProxies));
      // A worker's lines say which slot it serves (a replacement keeps the number).
      const logger = cluster.isWorker ? createLogger('proxy').child({ worker: Number(process.env.SIGNALBOX_WORKER) }) : createLogger('proxy');
      const listen = parseHostPort(opts.listen, '--listen');
      const tlsListen = opts.tlsListen ? parseHostPort(opts.tlsListen, '--tls-listen') : undefined;
      const adminListen = parseHostPort(opts.adminListen, '--admin-listen');
      const common = { id: opts.id, etcd: target.endpoints, etcdAccess: target.access, prefix: opts.prefix, drainTimeoutMs, logger };
      let proxy: { close(): Promise<void> };
      if (workers > 1 && cluster.isPrimary) {
        const { ProxyPool } = await import('../proxy/worker-pool.js');
        proxy = await ProxyPool.start({ ...common, workers, adminListen }).catch((err: Error) => {
          throw new CliError(`proxy: ${err.message}`);
        });
      } else {
        // A worker of a pool (the primary forked it with the same arguments) has no admin port
        // of its own and drains when the primary says so.
        const { PrimaryLink } = await import('../proxy/worker-ipc.js');
        let serving: { close(): Promise<void> } | null = null;
        // Told to drain before it serves (another worker failed at start): nothing to drain.
        const drain = () => void (serving ?? { close: async () => {} }).close().then(() => process.exit(0));
        const primary = cluster.isWorker ? new PrimaryLink(drain) : undefined;
        serving = proxy = await startProxy({ ...common, listen, tlsListen, adminListen: primary ? undefined : adminListen, primary, cacheDir: opts.cacheDir, trustedProxies }).catch((err: Error) => {
          // A start-up problem the user fixes (a port in use, an insecure cache folder): one line.
          throw new CliError(`proxy: ${err.message}`);
        });
      }
      onShutdown(() => proxy.close());
      // Started by a parent over IPC (`signalbox dev`, or a pool's primary): stop, draining, when
      // the parent goes away, even if it died without stopping us.
      process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
    });
}
