import { hostname } from 'node:os';
import type { Command } from '@commander-js/extra-typings';
import { CACHE_GRACE_MS, DEFAULT_DRAIN_TIMEOUT_MS } from '../proxy/defaults.js';
import { parseHostPort } from '../net.js';
import { wholeNumber } from './args.js';
import { CliError, etcdOptions, etcdTarget, usage } from './common.js';
import { onShutdown } from './shutdown.js';
import { parseShare } from '../util/share.js';

export function register(program: Command): void {
  etcdOptions(program.command('proxy').description('a proxy: reads config from etcd, serves traffic, hot-swaps on every change'))
    .requiredOption('--listen <host:port>', 'HTTP listener')
    .option('--tls-listen <host:port>', 'HTTPS listener (certificates chosen by SNI)')
    .requiredOption('--admin-listen <host:port>', 'admin port: /healthz /readyz /status /metrics')
    .option('--id <id>', 'proxy id in status and etcd', `${hostname()}-${process.pid}`)
    .option('--cache-dir <dir>', `keep the last good config here; serve it at start when etcd does not answer within ${CACHE_GRACE_MS / 1000} s`)
    .option('--drain-timeout-ms <ms>', 'on SIGTERM/SIGINT, how long requests in flight may finish before they are cut (env SIGNALBOX_DRAIN_TIMEOUT_MS)', process.env.SIGNALBOX_DRAIN_TIMEOUT_MS ?? String(DEFAULT_DRAIN_TIMEOUT_MS))
    .option('--workers <n>', 'not implemented yet: only 1 is accepted', '1')
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
      if (opts.workers !== '1') throw new CliError('--workers other than 1 is not implemented yet; run one proxy process per core', 2);
      const drainTimeoutMs = wholeNumber('--drain-timeout-ms', opts.drainTimeoutMs, 0);
      const target = etcdTarget(opts);
      const trustedProxies = usage('--trusted-proxies', () => TrustedProxies.parse(opts.trustedProxies));
      const accessLogMode = usage('--access-log', () => parseAccessLogMode(opts.accessLog));
      const traceSample = usage('--trace-sample', () => parseShare(opts.traceSample));
      const otlp = opts.otlpEndpoint === undefined ? undefined : usage('--otlp-endpoint', () => httpUrl(opts.otlpEndpoint!));
      const spans = otlp === undefined ? undefined : new (await import('../proxy/span-export.js')).SpanExport(otlp, opts.id);
      const logger = createLogger('proxy');
      const proxy = await startProxy({
        id: opts.id,
        etcd: target.endpoints,
        etcdAccess: target.access,
        prefix: opts.prefix,
        listen: parseHostPort(opts.listen, '--listen'),
        tlsListen: opts.tlsListen ? parseHostPort(opts.tlsListen, '--tls-listen') : undefined,
        adminListen: parseHostPort(opts.adminListen, '--admin-listen'),
        cacheDir: opts.cacheDir,
        drainTimeoutMs,
        trustedProxies,
        accessLog: { mode: accessLogMode, file: opts.accessLogFile },
        spans,
        traceSample,
        logger,
      }).catch((err: Error) => {
        // A start-up problem the user fixes (a port in use, an insecure cache folder): one line.
        throw new CliError(`proxy: ${err.message}`);
      });
      onShutdown(() => proxy.close());
      // Started by a parent over IPC (`signalbox dev`): stop, draining, when the parent goes away,
      // even if it died without stopping us.
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
