import type { Command } from 'commander';
import { KINDS, type ConfigObject, type Kind } from '../config/schema.js';
import type { VersionInfo } from '../store/decode.js';
import { ApiClient, CliError, apiOptions } from './common.js';
import { FORMATS, outputOption, printDocument, printTable, type Columns, type Format } from './output.js';
import { objectColumns, versionColumns } from './tables.js';

const WHAT = ['config', ...KINDS, 'versions'] as const;

export function register(program: Command): void {
  apiOptions(
    program
      .command('get')
      .description('read the live state; with an id, one route, upstream, policy or certificate')
      .argument('<what>', WHAT.join('|'))
      .argument('[id]', 'one object of that kind')
      .addOption(outputOption(FORMATS, undefined, 'output format (default: table for versions, yaml otherwise)')),
  ).action(async (what: string, id: string | undefined, opts: { output?: Format; server?: string; token?: string }) => {
    if (!(WHAT as readonly string[]).includes(what)) throw new CliError(`get: unknown "${what}"; one of ${WHAT.join(', ')}`, 2);
    const kind = (KINDS as readonly string[]).includes(what) ? (what as Kind) : null;
    if (id !== undefined && !kind) throw new CliError(`get ${what} takes no id; an id goes with ${KINDS.join(', ')}`, 2);
    const format = opts.output ?? (what === 'versions' ? 'table' : 'yaml');
    if (format === 'table' && what === 'config') throw new CliError('get config: -o table is not available; use -o yaml or -o json', 2);

    const api = new ApiClient(opts);
    const path = what === 'config' ? '/config' : id !== undefined ? `/${what}/${encodeURIComponent(id)}` : `/${what}`;
    const { body } = await api.request<Record<string, unknown>>('GET', path);
    if (format !== 'table') printDocument(format, body);
    else if (what === 'versions') printTable(versionColumns, body.versions as VersionInfo[]);
    // One kind's columns for that kind's objects; TypeScript cannot pair the two through `kind`.
    else printTable(objectColumns[kind!] as Columns<ConfigObject>, id !== undefined ? [body as ConfigObject] : (body[kind!] as ConfigObject[]));
  });
}
