// What several commands share: flag defaults from the environment, the logger, the API client.
import { existsSync, readFileSync } from 'node:fs';
import type { Command, OptionValues } from '@commander-js/extra-typings';
import { ApiClient, ApiError, ApiUnreachableError } from '../api/client.js';
import type { ChangeSummary, Source } from '../api/schemas.js';
import { changeLine } from '../config/diff.js';
import { ETCD_ACCESS_ENV, etcdAccessFromFlags, parseEndpoints, type EtcdAccess, type EtcdAccessFlags } from '../store/etcd-access.js';
import { DEFAULT_PREFIX } from '../store/keys.js';

export const env = {
  etcd: () => process.env.SIGNALBOX_ETCD ?? 'http://127.0.0.1:2379',
  prefix: () => process.env.SIGNALBOX_PREFIX ?? DEFAULT_PREFIX,
  server: () => process.env.SIGNALBOX_SERVER ?? 'http://127.0.0.1:9000',
};

/** A failure the user caused or can fix: printed as one line, no stack. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
  }
}

/** A failure to print as one line and exit with: the CLI's own, or the control plane's answer. */
export function userFailure(err: unknown): { message: string; exitCode: number } | null {
  if (err instanceof CliError) return { message: err.message, exitCode: err.exitCode };
  if (err instanceof ApiError || err instanceof ApiUnreachableError) return { message: err.message, exitCode: 1 };
  return null;
}

/** --token, then SIGNALBOX_TOKEN, then the token `signalbox dev` left in ./.signalbox. */
export function resolveToken(flag: string | undefined): string | undefined {
  if (flag) return flag;
  if (process.env.SIGNALBOX_TOKEN) return process.env.SIGNALBOX_TOKEN;
  const devToken = '.signalbox/admin-token';
  return existsSync(devToken) ? readFileSync(devToken, 'utf8').trim() : undefined;
}

export interface ApiFlags {
  server: string;
  token?: string;
}

/** The client of a command with --server and --token; its writes are recorded with `source`. */
export function apiClient(flags: ApiFlags, source: Source = 'cli'): ApiClient {
  return new ApiClient({ server: flags.server, token: resolveToken(flags.token), source });
}

/** --etcd, --prefix and how to reach a secured etcd, for the commands that talk to etcd themselves. */
export function etcdOptions<A extends unknown[], O extends OptionValues, G extends OptionValues>(cmd: Command<A, O, G>) {
  return cmd
    .option('--etcd <urls>', 'etcd endpoints, comma-separated (env SIGNALBOX_ETCD)', env.etcd())
    .option('--prefix <prefix>', 'etcd key prefix (env SIGNALBOX_PREFIX)', env.prefix())
    .option('--etcd-cacert <file>', `CA certificates that sign etcd's server certificate (env ${ETCD_ACCESS_ENV.etcdCacert})`)
    .option('--etcd-cert <file>', `client certificate, for etcd's --client-cert-auth (env ${ETCD_ACCESS_ENV.etcdCert})`)
    .option('--etcd-key <file>', `the client certificate's private key (env ${ETCD_ACCESS_ENV.etcdKey})`)
    .option('--etcd-user <name>', `etcd user (env ${ETCD_ACCESS_ENV.etcdUser})`)
    .option('--etcd-password <password>', `its password; prefer the env ${ETCD_ACCESS_ENV.etcdPassword}, which other users cannot read in the process list`);
}

/** `parse()`, or a usage error (exit 2) prefixed with `what` when it throws. */
export function usage<T>(what: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    throw new CliError(what ? `${what}: ${(err as Error).message}` : (err as Error).message, 2);
  }
}

/** Where etcd is and how to reach it, from etcdOptions' flags; a usage error names the flag at fault. */
export function etcdTarget(flags: { etcd: string } & EtcdAccessFlags): { endpoints: string[]; access: EtcdAccess } {
  return usage('', () => {
    const access = etcdAccessFromFlags(flags);
    return { endpoints: parseEndpoints(flags.etcd, access.tls ? 'https' : 'http'), access };
  });
}

export function apiOptions<A extends unknown[], O extends OptionValues, G extends OptionValues>(cmd: Command<A, O, G>) {
  return cmd
    .option('--server <url>', 'control plane URL (env SIGNALBOX_SERVER)', env.server())
    .option('--token <token>', 'bearer token (env SIGNALBOX_TOKEN; falls back to ./.signalbox/admin-token)');
}

const COLOR = { add: 32, change: 33, remove: 31 } as const;

export function printChanges(changes: readonly ChangeSummary[], out: NodeJS.WriteStream = process.stdout): void {
  for (const c of changes) {
    const line = changeLine(c);
    out.write(out.isTTY ? `\x1b[${COLOR[c.op]}m${line}\x1b[0m\n` : `${line}\n`);
  }
}
