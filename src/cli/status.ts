import type { Command } from '@commander-js/extra-typings';
import { escapeControl } from '../api/audit-text.js';
import { routes } from '../api/routes.js';
import type { ProxyStatus, VersionConvergence } from '../api/schemas.js';
import { durationSeconds } from './args.js';
import { apiClient, apiOptions } from './common.js';
import { outputOption, printDocument, printTable, type Columns } from './output.js';

const ms = (n: number | null | undefined) => (n == null ? '-' : n < 1000 ? `${Math.round(n)} ms` : `${(n / 1000).toFixed(1)} s`);
const time = (iso: string | null) => (iso ? iso.replace(/\.\d+Z$/, 'Z') : '-');

const proxyColumns: Columns<ProxyStatus> = {
  header: ['ID', 'VERSION', 'SYNC', 'ETCD', 'ROUTES', 'WORKERS', 'PROPAGATION', 'APPLY', 'LAST-ERROR'],
  row: (p) => [
    p.id,
    String(p.version ?? '-'),
    p.inSync ? 'in sync' : p.lagging ? 'LAGGING' : 'BEHIND',
    String(p.etcd ?? '-'),
    String(p.routes ?? '-'),
    // Serving now, of those running (a pool); a proxy without --workers is one process.
    p.workers ? `${p.workers.filter((w) => w.ready).length}/${p.workers.length}` : '1',
    ms(p.propagationMs),
    ms(p.lastApplyMs),
    p.lastError?.errors[0] ?? '-',
  ],
};

const convergenceColumns: Columns<VersionConvergence> = {
  header: ['VERSION', 'COMMITTED', 'APPLIED-BY', 'PENDING', 'CONVERGED-IN', 'LAST-PROXY'],
  row: (v) => [String(v.version), time(v.committedAt), String(v.applied), String(v.pending), v.pending > 0 ? 'not yet' : ms(v.maxPropagationMs), v.lastProxy ?? '-'],
};

export function register(program: Command): void {
  apiOptions(
    program
      .command('status')
      .description('every proxy, its version, in sync or lagging; how long recent versions took to reach the fleet')
      .addOption(outputOption(['table', 'json']).default('table'))
      .option('--lag-threshold <duration>', 'a proxy not on the live version this long after its commit is LAGGING (e.g. 30s, 5m); default 30s', durationSeconds('--lag-threshold', 86_400)),
  ).action(async (opts) => {
    const { body } = await apiClient(opts).call(routes.listProxies, { query: { lagThresholdMs: opts.lagThreshold === undefined ? undefined : opts.lagThreshold * 1000 } });
    if (opts.output === 'json') {
      await printDocument('json', body);
      return;
    }
    const n = body.proxies.length;
    const inSync = body.proxies.filter((p) => p.inSync).length;
    const committed = body.liveCommittedAt ? `, committed ${time(body.liveCommittedAt)}` : '';
    const line = `live version ${body.liveVersion}${committed}; ${n} prox${n === 1 ? 'y' : 'ies'}, ${inSync} in sync, ${body.lagging} lagging (not on it ${ms(body.lagThresholdMs)} after its commit)`;
    process.stdout.write(`${escapeControl(line)}\n`);
    if (n > 0) printTable(proxyColumns, body.proxies);
    if (body.convergence.length > 0) {
      process.stdout.write('\nrecent versions (CONVERGED-IN: commit → applied on the slowest proxy that was running)\n');
      printTable(convergenceColumns, body.convergence);
    }
  });
}
