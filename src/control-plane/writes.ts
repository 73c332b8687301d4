// Turning a request into a new version: who wrote it, from where, with what message, guarded by
// If-Match; and the answer every write gives.
import type { WriteResult } from '../api/schemas.js';
import type { ObjectChange } from '../config/diff.js';
import type { Config } from '../config/schema.js';
import type { ValidationResult } from '../config/validate.js';
import type { LiveSnapshot, WriteMeta, WriteResult as StoreWriteResult } from '../store/config-writer.js';
import type { Principal } from './auth.js';
import type { ApiContext } from './context.js';
import { HttpError, issueDetails } from './http.js';
import type { WriteHeaders } from './request-headers.js';
import type { Reply } from './router.js';

export function requireValid(result: ValidationResult): Config {
  if (!result.ok) throw new HttpError(400, 'invalid config', issueDetails(result.issues));
  return result.config;
}

/** The ETag of an answer read at `version`: the version's number. */
export function versionETag(version: { version: number } | null): Record<string, string> {
  return version ? { etag: `"${version.version}"` } : {};
}

export function summarize(changes: readonly ObjectChange[]) {
  return changes.map(({ kind, id, op }) => ({ kind, id, op }));
}

/** What a write by `principal` records, and the version it must replace. */
export function writeMeta(principal: Principal, headers: WriteHeaders, opts: { expectVersion: number | undefined; message: string }): WriteMeta {
  return { author: principal.name, source: headers.source, message: headers.message ?? opts.message, expectVersion: opts.expectVersion };
}

/** The answer to a write. */
export function writeAnswer(result: StoreWriteResult): Reply<WriteResult> {
  return {
    body: { version: result.version, unchanged: result.unchanged, changes: summarize(result.changes) },
    headers: versionETag(result.version),
  };
}

/** Write `config` (checked on `checkedOn`, when given) as a new version for `principal` (a conflict is thrown, and answered 409). */
export async function writeVersion(
  ctx: Pick<ApiContext, 'writer'>,
  principal: Principal,
  headers: WriteHeaders,
  config: Config,
  opts: { expectVersion: number | undefined; message: string; checkedOn?: LiveSnapshot },
): Promise<Reply<WriteResult>> {
  return writeAnswer(await ctx.writer.write(config, writeMeta(principal, headers, opts), opts.checkedOn));
}
