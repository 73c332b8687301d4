// One sync of a folder to the live config: checked against git, validated, compared with the live
// config, and applied unless that would overwrite a change made outside git.
import { relative } from 'node:path';
import { escapeControl } from '../api/audit-text.js';
import { ApiError, type ApiClient } from '../api/client.js';
import { endpoints } from '../api/endpoints.js';
import type { GitopsReport, Version } from '../api/schemas.js';
import { loadConfigFiles } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { readCheckout, type Checkout } from './git-info.js';

/** A report but for `force`, which is the agent's to say. */
export type SyncOutcome = Omit<GitopsReport, 'force'>;

export interface SyncOptions {
  /** Absolute path of the folder. */
  dir: string;
  api: ApiClient;
  /** The version last written by this agent or found equal to the folder; null after a start. */
  appliedVersion: number | null;
  /** Overwrite changes made outside git. */
  force: boolean;
}

/** A 409 means someone wrote between our check and our write: check again, a few times. */
const CONFLICT_ATTEMPTS = 3;

/** Who wrote a version, as drift reports it. */
type Writer = Pick<Version, 'version' | 'author' | 'source' | 'at'>;

export async function syncFolder(opts: SyncOptions): Promise<SyncOutcome> {
  const base: SyncOutcome = {
    dir: opts.dir,
    commit: null,
    subject: null,
    state: 'error',
    lastSyncAt: new Date().toISOString(),
    liveVersion: null,
    lastAppliedVersion: opts.appliedVersion,
    uncommitted: [],
    error: null,
    drift: null,
  };
  try {
    const checkout = await readCheckout(opts.dir);
    if (checkout.workTree) Object.assign(base, { commit: checkout.commit, subject: checkout.subject });
    return await syncCheckout(opts, checkout, base);
  } catch (err) {
    const details = err instanceof ApiError ? [...err.details] : [];
    return { ...base, state: 'error', error: { message: (err as Error).message.split('\n')[0]!, details } };
  }
}

async function syncCheckout(opts: SyncOptions, checkout: Checkout, base: SyncOutcome): Promise<SyncOutcome> {
  const { dir, api } = opts;
  // The live config follows commits: a file being edited, or a pull half done, is not applied.
  if (checkout.workTree && checkout.uncommitted.length > 0) return { ...base, state: 'uncommitted', uncommitted: checkout.uncommitted };

  const loaded = await loadConfigFiles([dir], { storedKeys: 'control-plane' });
  if (!loaded.ok) {
    const details = loaded.issues.map((i) => (i.file ? { ...i, file: relative(dir, i.file) } : i));
    return { ...base, state: 'invalid', error: { message: 'the folder does not validate; the live config stays as it is', details } };
  }

  for (let attempt = 1; ; attempt++) {
    const { body: check } = await api.call(endpoints.validateConfig, { body: loaded.config });
    if (!check.valid) {
      return { ...base, state: 'invalid', error: { message: 'the control plane refused the folder; the live config stays as it is', details: check.errors } };
    }
    const live = check.liveVersion;
    if (check.changes.length === 0) return { ...base, state: 'synced', liveVersion: live, lastAppliedVersion: live };

    const outsider = await writtenOutsideGit(api, live, opts.appliedVersion);
    if (outsider && !opts.force) {
      const { version, author, source, at } = outsider;
      return { ...base, state: 'drift', liveVersion: live, drift: { version, author, source, at, changes: check.changes } };
    }
    try {
      const { body } = await apply(api, loaded.config, live, versionMessage(dir, checkout, outsider));
      return { ...base, state: 'synced', liveVersion: body.version.version, lastAppliedVersion: body.version.version };
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 409) || attempt >= CONFLICT_ATTEMPTS) throw err;
    }
  }
}

function apply(api: ApiClient, config: Config, expectVersion: number, message: string) {
  return api.call(endpoints.putConfig, { body: config, expectVersion, message });
}

/**
 * The live version when someone else wrote it: after a version of ours, any other; after a start
 * (nothing of ours yet), one that GitOps did not write. Version 0 is an empty etcd.
 */
async function writtenOutsideGit(api: ApiClient, live: number, appliedVersion: number | null): Promise<Writer | null> {
  if (live === 0 || live === appliedVersion) return null;
  const { body } = await api.call(endpoints.listVersions);
  const info = body.versions.find((v) => v.version === live);
  if (appliedVersion === null && info?.source === 'gitops') return null;
  return info ?? { version: live, author: 'unknown', source: 'unknown', at: '' };
}

/**
 * `gitops: 1a2b3c4d5e6f Add the users route`, and what it overwrote, if anything. A commit subject
 * is anyone's text: its control characters are escaped, as the control plane takes a message only
 * as one line of plain text.
 */
function versionMessage(dir: string, checkout: Checkout, overwrote: Writer | null): string {
  const what = checkout.workTree && checkout.commit ? `${checkout.commit.slice(0, 12)} ${checkout.subject}` : `${dir} (${checkout.workTree ? 'no commit yet' : checkout.reason})`;
  const over = overwrote ? ` (overwrote version ${overwrote.version} by ${overwrote.author} via ${overwrote.source})` : '';
  return escapeControl(`gitops: ${what}${over}`);
}
