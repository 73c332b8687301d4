import cluster from 'node:cluster';
import { availableParallelism, hostname } from 'node:os';
import type { Command } from '@commander-js/extra-typings';
import { CACHE_GRACE_MS, DEFAULT_DRAIN_TIMEOUT_MS } from '../proxy/defaults.js';
import { parseHostPort } from '../net.js';
import { wholeNumber } from './args.js';
import { CliError, etcdOptions, etcdTarget, usage } from './common.js';
import { onShutdown } from './shutdown.js';
import { parseShare } from '../util/share.js';

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
    .option('--access-log <mode>', 'one JSON line per request: off, errors (5xx and 499), all, or a share 0..1 sampled at random (env SIGNALBOX_ACCESS_LOG)', process.env.SIGNALBOX_ACCESS_LOG ?? 'off')
    .option('--access-log-file <file>', 'append the access log here instead of stdout (env SIGNALBOX_ACCESS_LOG_FILE)', process.env.SIGNALBOX_ACCESS_LOG_FILE)
    .option('--otlp-endpoint <url>', 'export the spans of sampled requests to this OTLP/HTTP traces endpoint, e.g. http://127.0.0.1:4318/v1/traces (env SIGNALBOX_OTLP_ENDPOINT)', process.env.SIGNALBOX_OTLP_ENDPOINT)
    .option('--trace-sample <share>', 'the share 0..1 of requests without a sampled traceparent that start a sampled trace (env SIGNALBOX_TRACE_SAMPLE)', process.env.SIGNALBOX_TRACE_SAMPLE ?? '0')
    .action(async (opts) => {
      // Loaded here, not at the top: every other command starts without the proxy's modules.
      const [{ TrustedProxies }, { startProxy }, { createLogger }, { parseAccessLogMode }] = await Promise.all([
        import('../proxy/forwarded.js'),
        import('../proxy/main.js'),
        import('./logger.js'),
        import('../proxy/access-log.js'),
      ]);
      const workers = workerCount(opts.workers);
      const drainTimeoutMs = wholeNumber('--drain-timeout-ms', opts.drainTimeoutMs, 0);
      const target = etcdTarget(opts);
      const trustedProxies = usage('--trusted-proxies', () => TrustedProxies.parse(opts.trustedProxies));
      const accessLog = { mode: usage('--access-log', () => parseAccessLogMode(opts.accessLog)), file: opts.accessLogFile };
      const traceSample = usage('--trace-sample', () => parseShare(opts.traceSample));
      const otlp = opts.otlpEndpoint === undefined ? undefined : usage('--otlp-endpoint', () => httpUrl(opts.otlpEndpoint!));
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
        if (primary) (await import('../proxy/policies/rate-limit.js')).shareRateLimits(primary, workers);
        // Each worker exports its own spans and appends to the access log file (O_APPEND: whole lines).
        const spans = otlp === undefined ? undefined : new (await import('../proxy/span-export.js')).SpanExport(otlp, opts.id);
        const traffic = { cacheDir: opts.cacheDir, trustedProxies, accessLog, spans, traceSample };
        serving = proxy = await startProxy({ ...common, listen, tlsListen, adminListen: primary ? undefined : adminListen, primary, ...traffic }).catch((err: Error) => {
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

/** An http(s) URL, as given; throws naming what is wrong. */
function httpUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`not a URL: "${text}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`must be an http or https URL, got "${text}"`);
  return text;
}
