import type { Command } from 'commander';
import { stringify } from 'yaml';
import { ApiClient, CliError, apiOptions } from './common.js';

const WHAT = ['config', 'routes', 'upstreams', 'policies', 'certificates', 'versions'] as const;

interface VersionRow {
  version: number;
  at: string;
  author: string;
  source: string;
  message: string;
}

export function register(program: Command): void {
  apiOptions(
    program
      .command('get')
      .description(`read the live state: ${WHAT.join('|')}`)
      .argument('<what>', WHAT.join('|'))
      .option('-o, --output <format>', 'yaml|json (versions: table by default)'),
  ).action(async (what: string, opts: { output?: string; server?: string; token?: string }) => {
    if (!(WHAT as readonly string[]).includes(what)) throw new CliError(`get: unknown "${what}"; one of ${WHAT.join(', ')}`, 2);
    const format = opts.output ?? (what === 'versions' ? 'table' : 'yaml');
    if (!['yaml', 'json', 'table'].includes(format)) throw new CliError(`-o must be yaml, json or table, got "${format}"`, 2);
    const api = new ApiClient(opts);
    const { body } = await api.request<Record<string, unknown>>('GET', what === 'config' ? '/config' : `/${what}`);
    if (format === 'json') process.stdout.write(JSON.stringify(body, null, 2) + '\n');
    else if (format === 'yaml') process.stdout.write(stringify(body));
    else if (what === 'versions') {
      for (const v of (body.versions as VersionRow[]) ?? []) {
        process.stdout.write(`${String(v.version).padStart(6)}  ${v.at}  ${v.source.padEnd(9)} ${v.author.padEnd(12)} ${v.message}\n`);
      }
    } else throw new CliError('-o table is for versions only', 2);
  });
}
