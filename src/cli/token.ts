import { Option, type Command } from '@commander-js/extra-typings';
import { routes } from '../api/routes.js';
import { MAX_TOKEN_TTL_SECONDS, ROLES, TOKEN_PURPOSES } from '../api/terms.js';
import { durationSeconds } from './args.js';
import { apiClient, apiOptions } from './common.js';
import { FORMATS, outputOption, printDocument, printTable } from './output.js';
import { tokenColumns } from './tables.js';

export function register(program: Command): void {
  const token = program.command('token').description('API tokens (needs an admin token): create, list, delete');

  apiOptions(
    token
      .command('create')
      .description('a new token; it is printed once, on stdout alone, so TOKEN=$(signalbox token create ...) keeps it')
      .addOption(new Option('--role <role>', 'viewer: read; editor: also write config; admin: also manage tokens').choices(ROLES).makeOptionMandatory())
      .option('--name <name>', 'recorded as the author of every version written with it (default: <role>-<random>)')
      .addOption(
        new Option('--for <purpose>', "gitops: the GitOps agent's token (role editor): its versions are recorded with source gitops").choices(TOKEN_PURPOSES),
      )
      .option('--ttl <duration>', 'refused from this long after creation on (e.g. 12h, 30d); default: never', durationSeconds('--ttl', MAX_TOKEN_TTL_SECONDS)),
  ).action(async (opts) => {
    const request = {
      role: opts.role,
      ...(opts.name ? { name: opts.name } : {}),
      ...(opts.for ? { for: opts.for } : {}),
      ...(opts.ttl !== undefined ? { ttlSeconds: opts.ttl } : {}),
    };
    const { body } = await apiClient(opts).call(routes.createToken, { body: request });
    process.stdout.write(`${body.token}\n`);
    // On stderr, so that stdout stays the token alone.
    const purpose = body.for ? ` for ${body.for}` : '';
    const expires = body.expiresAt ? `, expires ${body.expiresAt}` : '';
    process.stderr.write(`token "${body.name}" (role ${body.role}${purpose}${expires}) created. It is shown only this once: the control plane keeps its hash, not the token.\n`);
  });

  apiOptions(token.command('list').description('every token: name, role, when and by whom it was created, when it expires and was last used (never the secret)').addOption(outputOption(FORMATS).default('table')))
    .action(async (opts) => {
      const { body } = await apiClient(opts).call(routes.listTokens);
      if (opts.output === 'table') printTable(tokenColumns, body.tokens);
      else await printDocument(opts.output, body);
    });

  apiOptions(token.command('delete').description('delete a token; it stops working at once').argument('<name>', "the token's name"))
    .action(async (name, opts) => {
      await apiClient(opts).call(routes.deleteToken, { params: { name } });
      process.stdout.write(`deleted token "${name}"\n`);
    });
}
