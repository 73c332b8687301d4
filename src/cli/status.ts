import type { Command } from '@commander-js/extra-typings';
import { escapeControl } from '../api/audit-text.js';
import { endpoints } from '../api/endpoints.js';
import { apiClient, apiOptions } from './common.js';
import { formatDocument, outputOption } from './output.js';

export function register(program: Command): void {
  apiOptions(program.command('status').description('every proxy, its version, in sync or not').addOption(outputOption(['table', 'json']).default('table'))).action(
    async (opts) => {
      const { body } = await apiClient(opts).call(endpoints.listProxies);
      if (opts.output === 'json') {
        process.stdout.write(formatDocument('json', body));
        return;
      }
      process.stdout.write(`live version ${body.liveVersion}; ${body.proxies.length} prox${body.proxies.length === 1 ? 'y' : 'ies'}\n`);
      for (const p of body.proxies) {
        const sync = p.inSync ? 'in sync' : 'BEHIND';
        const err = p.lastError ? `  last error: ${p.lastError.errors[0]}` : '';
        const line = `${p.id.padEnd(24)} version ${String(p.version ?? '-').padEnd(6)} ${sync.padEnd(8)} etcd ${String(p.etcd).padEnd(12)} ${p.routes} routes${err}`;
        process.stdout.write(`${escapeControl(line)}\n`);
      }
    },
  );
}
