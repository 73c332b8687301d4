import type { Command } from 'commander';
import { ApiClient, apiOptions } from './common.js';

interface ProxyRow {
  id: string;
  version: number | null;
  inSync: boolean;
  etcd: string;
  routes: number;
  lastError: { errors: string[] } | null;
}

export function register(program: Command): void {
  apiOptions(program.command('status').description('every proxy, its version, in sync or not').option('-o, --output <format>', 'table|json', 'table'))
    .action(async (opts: { output: string; server?: string; token?: string }) => {
      const { body } = await new ApiClient(opts).request<{ liveVersion: number; proxies: ProxyRow[] }>('GET', '/proxies');
      if (opts.output === 'json') {
        process.stdout.write(JSON.stringify(body, null, 2) + '\n');
        return;
      }
      process.stdout.write(`live version ${body.liveVersion}; ${body.proxies.length} prox${body.proxies.length === 1 ? 'y' : 'ies'}\n`);
      for (const p of body.proxies) {
        const sync = p.inSync ? 'in sync' : 'BEHIND';
        const err = p.lastError ? `  last error: ${p.lastError.errors[0]}` : '';
        process.stdout.write(`${p.id.padEnd(24)} version ${String(p.version ?? '-').padEnd(6)} ${sync.padEnd(8)} etcd ${p.etcd.padEnd(12)} ${p.routes} routes${err}\n`);
      }
    });
}
