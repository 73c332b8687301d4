// Turning a request into a new version: who wrote it, from where, with what message, guarded by
// If-Match; and the answer every write gives.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ObjectChange } from '../config/diff.js';
import type { Config } from '../config/schema.js';
import type { ValidationResult } from '../config/validate.js';
import { VersionConflictError } from '../store/config-writer.js';
import type { Principal } from './auth.js';
import type { ApiContext } from './context.js';
import { HttpError, issueDetails, sendJson } from './http.js';

const SOURCES = new Set(['api', 'cli', 'gitops', 'dashboard']);

/** `If-Match: "7"` or `If-Match: 7` → 7; absent or `*` → undefined. */
export function ifMatchVersion(req: IncomingMessage): number | undefined {
  const raw = req.headers['if-match'];
  if (raw === undefined || raw === '*') return undefined;
  const n = Number(String(raw).replace(/^W\//, '').replace(/"/g, ''));
  if (!Number.isInteger(n) || n < 0) throw new HttpError(400, `If-Match must be a config version such as "7", got ${raw}`);
  return n;
}

export function requireValid(result: ValidationResult): Config {
  if (!result.ok) throw new HttpError(400, 'invalid config', issueDetails(result.issues));
  return result.config;
}

export function summarize(changes: readonly ObjectChange[]) {
  return changes.map(({ kind, id, op }) => ({ kind, id, op }));
}

function writeMeta(req: IncomingMessage, principal: Principal, fallbackMessage: string) {
  const source = String(req.headers['x-signalbox-source'] ?? 'api');
  const rawMessage = req.headers['x-signalbox-message'];
  return {
    author: principal.name,
    source: SOURCES.has(source) ? source : 'api',
    message: rawMessage ? decodeURIComponent(String(rawMessage)) : fallbackMessage,
  };
}

/** Write `config` as a new version for `principal`; 409 when another change got there first. */
export async function writeVersion(
  ctx: ApiContext,
  req: IncomingMessage,
  res: ServerResponse,
  principal: Principal,
  config: Config,
  opts: { expectVersion: number | undefined; message: string },
): Promise<void> {
  try {
    const result = await ctx.writer.write(config, { ...writeMeta(req, principal, opts.message), expectVersion: opts.expectVersion });
    sendJson(res, 200, { version: result.version, unchanged: result.unchanged, changes: summarize(result.changes) }, {
      etag: `"${result.version.version}"`,
    });
  } catch (err) {
    if (err instanceof VersionConflictError) {
      throw new HttpError(409, `config changed meanwhile: expected version ${err.expected}, live version is ${err.actual}`);
    }
    throw err;
  }
}
