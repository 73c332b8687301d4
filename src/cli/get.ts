import type { Command } from '@commander-js/extra-typings';
import { objectRoutesByKind, routes } from '../api/routes.js';
import { OBJECT_KINDS, type ObjectKind } from '../config/kinds.js';
import type { ConfigObject } from '../config/schema.js';
import { apiClient, apiOptions, CliError } from './common.js';
import { FORMATS, outputOption, printDocument, printTable, type Columns } from './output.js';
import { objectColumns, versionColumns } from './tables.js';

const WHAT = ['config', ...OBJECT_KINDS, 'versions'] as const;

export function register(program: Command): void {
  apiOptions(
    program
      .command('get')
      .description('read the live state; with an id, one route, upstream, policy or certificate')
      .argument('<what>', WHAT.join('|'))
      .argument('[id]', 'one object of that kind')
      .addOption(outputOption(FORMATS, 'output format: yaml, json or table (default: table for versions, yaml otherwise)')),
  ).action(async (what, id, opts) => {
    if (!(WHAT as readonly string[]).includes(what)) throw new CliError(`get: unknown "${what}"; one of ${WHAT.join(', ')}`, 2);
    const kind = (OBJECT_KINDS as readonly string[]).includes(what) ? (what as ObjectKind) : null;
    if (id !== undefined && !kind) throw new CliError(`get ${what} takes no id; an id goes with ${OBJECT_KINDS.join(', ')}`, 2);
    const format = opts.output ?? (what === 'versions' ? 'table' : 'yaml');
    if (format === 'table' && what === 'config') throw new CliError('get config: -o table is not available; use -o yaml or -o json', 2);

    const api = apiClient(opts);
    if (what === 'versions') {
      const { body } = await api.call(routes.listVersions);
      if (format === 'table') printTable(versionColumns, body.versions);
      else await printDocument(format, body);
    } else if (!kind) {
      await printDocument(format === 'table' ? 'yaml' : format, (await api.call(routes.getConfig)).body);
    } else {
      const objects = objectRoutesByKind[kind];
      const body = id === undefined ? (await api.call(objects.list)).body : (await api.call(objects.get, { params: { id } })).body;
      if (format !== 'table') await printDocument(format, body);
      // One kind's columns for that kind's objects; TypeScript cannot pair the two through `kind`.
      else printTable(objectColumns[kind] as Columns<ConfigObject>, id === undefined ? (body as Record<ObjectKind, ConfigObject[]>)[kind] : [body as ConfigObject]);
    }
  });
}
