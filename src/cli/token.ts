import { Option, type Command } from 'commander';
import { ROLES, type Role } from '../control-plane/auth.js';
import type { TokenInfo } from '../control-plane/token-store.js';
import { ApiClient, apiOptions, type ApiOptions } from './common.js';
import { FORMATS, outputOption, printDocument, printTable, type Format } from './output.js';
import { tokenColumns } from './tables.js';

export function register(program: Command): void {
  const token = program.command('token').description('API tokens (needs an admin token): create, list, delete');

  apiOptions(
    token
      .command('create')
      .description('a new token; it is printed once, on stdout alone, so TOKEN=$(signalbox token create ...) keeps it')
      .addOption(new Option('--role <role>', 'viewer: read; editor: also write config; admin: also manage tokens').choices(ROLES).makeOptionMandatory())
      .option('--name <name>', 'recorded as the author of every version written with it (default: <role>-<random>)'),
  ).action(async (opts: ApiOptions & { role: Role; name?: string }) => {
    const { body } = await new ApiClient(opts).request<TokenInfo & { token: string }>('POST', '/tokens', { role: opts.role, ...(opts.name ? { name: opts.name } : {}) });
    process.stdout.write(`${body.token}\n`);
    // On stderr, so that stdout stays the token alone.
    process.stderr.write(`token "${body.name}" (role ${body.role}) created. It is shown only this once: the control plane keeps its hash, not the token.\n`);
  });

  apiOptions(token.command('list').description('every token: name, role, when and by whom it was created (never the secret)').addOption(outputOption(FORMATS, 'table')))
    .action(async (opts: ApiOptions & { output: Format }) => {
      const { body } = await new ApiClient(opts).request<{ tokens: TokenInfo[] }>('GET', '/tokens');
      if (opts.output === 'table') printTable(tokenColumns, body.tokens);
      else printDocument(opts.output, body);
    });

  apiOptions(token.command('delete').description('delete a token; it stops working at once').argument('<name>', 'the token\'s name'))
    .action(async (name: string, opts: ApiOptions) => {
      await new ApiClient(opts).request('DELETE', `/tokens/${encodeURIComponent(name)}`);
      process.stdout.write(`deleted token "${name}"\n`);
    });
}
