// What several commands share: flag defaults from the environment, the logger, the API client.
import { existsSync, readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { pino, type Logger } from 'pino';
import { changeLine } from '../config/diff.js';
import type { ErrorDetail } from '../control-plane/http.js';
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

export function splitEndpoints(value: string): string[] {
  return value.split(',').map((s) => s.trim()).filter(Boolean);
}

export function createLogger(name: string, destination?: string): Logger {
  // A file is written synchronously: an asynchronous one that is still opening when the process
  // exits (a start-up error) makes pino's exit flush throw over the real message.
  return pino({ name, level: process.env.SIGNALBOX_LOG_LEVEL ?? 'info' }, destination ? pino.destination({ dest: destination, mkdir: true, sync: true }) : undefined);
}

/** --token, then SIGNALBOX_TOKEN, then the token `signalbox dev` left in ./.signalbox. */
export function resolveToken(flag: string | undefined): string | undefined {
  if (flag) return flag;
  if (process.env.SIGNALBOX_TOKEN) return process.env.SIGNALBOX_TOKEN;
  const devToken = '.signalbox/admin-token';
  return existsSync(devToken) ? readFileSync(devToken, 'utf8').trim() : undefined;
}

export interface ApiOptions {
  server?: string;
  token?: string;
}

export type { ErrorDetail };

interface ApiErrorBody {
  error?: string;
  details?: ErrorDetail[];
}

/** The control plane's error details, one indented line each, to follow a message. */
export function formatDetails(details: readonly ErrorDetail[] = []): string {
  return details.map((d) => `\n  ${d.path}${d.line ? ` (line ${d.line})` : ''}: ${d.message}`).join('');
}

/** The control plane answered with an error status; status and details for callers that act on them. */
export class ApiError extends CliError {
  constructor(
    message: string,
    readonly status: number,
    readonly details: readonly ErrorDetail[],
  ) {
    super(message);
  }
}

export class ApiClient {
  private readonly base: string;
  private readonly token: string | undefined;

  constructor(opts: ApiOptions) {
    this.base = (opts.server ?? env.server()).replace(/\/+$/, '');
    this.token = resolveToken(opts.token);
  }

  async request<T>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
    signal?: AbortSignal,
  ): Promise<{ body: T; headers: Headers }> {
    let res: Response;
    try {
      res = await fetch(`${this.base}/api/v1${path}`, {
        method,
        headers: {
          ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          'x-signalbox-source': 'cli',
          ...headers,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
      });
    } catch (err) {
      if (signal?.aborted) throw err;
      throw new CliError(`cannot reach the control plane at ${this.base}: ${(err as Error & { cause?: Error }).cause?.message ?? (err as Error).message}`);
    }
    const text = await res.text();
    const parsed = text ? (JSON.parse(text) as unknown) : undefined;
    if (!res.ok) {
      const e = (parsed ?? {}) as ApiErrorBody;
      throw new ApiError(`${method} ${path}: ${res.status} ${e.error ?? res.statusText}${formatDetails(e.details)}`, res.status, e.details ?? []);
    }
    return { body: parsed as T, headers: res.headers };
  }
}

/** --etcd and --prefix, for the commands that talk to etcd themselves. */
export function etcdOptions(cmd: Command): Command {
  return cmd
    .option('--etcd <urls>', 'etcd endpoints, comma-separated (env SIGNALBOX_ETCD)', env.etcd())
    .option('--prefix <prefix>', 'etcd key prefix (env SIGNALBOX_PREFIX)', env.prefix());
}

export function apiOptions(cmd: Command): Command {
  return cmd
    .option('--server <url>', 'control plane URL (env SIGNALBOX_SERVER)', env.server())
    .option('--token <token>', 'bearer token (env SIGNALBOX_TOKEN; falls back to ./.signalbox/admin-token)');
}

export interface ChangeSummary {
  kind: string;
  id: string;
  op: 'add' | 'change' | 'remove';
}

const COLOR = { add: 32, change: 33, remove: 31 } as const;

export function printChanges(changes: readonly ChangeSummary[], out: NodeJS.WriteStream = process.stdout): void {
  for (const c of changes) {
    const line = changeLine(c);
    out.write(out.isTTY ? `\x1b[${COLOR[c.op]}m${line}\x1b[0m\n` : `${line}\n`);
  }
}
