// What the control plane keeps for the GitOps agent, in etcd so that every replica answers the
// same: the agent's last report and the last sync request. The agent itself never touches etcd.
import type { Etcd3, IKeyValue } from 'etcd3';
import { z } from 'zod';
import { KINDS } from '../config/schema.js';
import { parseVersionInfo } from '../store/decode.js';
import { kvValue, rangeOp } from '../store/kv.js';
import type { Keys } from '../store/keys.js';
import { waitForChange, type WaitOutcome } from '../store/wait-change.js';
import { parseStored } from './stored-record.js';

export const GITOPS_STATES = ['synced', 'uncommitted', 'invalid', 'drift', 'error'] as const;

const problemSchema = z.strictObject({
  file: z.string().optional().meta({ description: 'relative to the folder' }),
  path: z.string(),
  line: z.number().int().optional(),
  message: z.string(),
});

const changeSchema = z.strictObject({ kind: z.enum(KINDS), id: z.string(), op: z.enum(['add', 'change', 'remove']) });

/** What the agent reports after every sync (`PUT /gitops/status`). */
export const gitopsReportSchema = z.strictObject({
  dir: z.string().meta({ description: 'the folder the agent keeps the live config equal to' }),
  commit: z.string().nullable().meta({ description: 'the commit checked out there; null when the folder is not in a git work tree' }),
  subject: z.string().nullable().meta({ description: "that commit's subject line" }),
  state: z.enum(GITOPS_STATES).meta({
    description:
      'synced: live equals the folder · uncommitted: config files differ from the commit, nothing applied until they are committed · ' +
      'invalid: the folder does not validate, the last good version stays live · drift: the live config was changed outside git and ' +
      'is not overwritten without --force · error: the control plane refused or could not be reached',
  }),
  force: z.boolean().meta({ description: 'started with --force: changes made outside git are overwritten' }),
  lastSyncAt: z.string(),
  liveVersion: z.number().int().nullable(),
  lastAppliedVersion: z.number().int().nullable().meta({ description: 'the last version the agent wrote, or found equal to the folder' }),
  uncommitted: z.array(z.string()).meta({ description: 'config files (relative to the repository) that differ from the commit' }),
  error: z.strictObject({ message: z.string(), details: z.array(problemSchema) }).nullable(),
  drift: z
    .strictObject({
      version: z.number().int().meta({ description: 'the live version written outside git' }),
      author: z.string(),
      source: z.string(),
      at: z.string(),
      changes: z.array(changeSchema).meta({ description: 'what applying the folder would change in the live config' }),
    })
    .nullable(),
});
export type GitopsReport = z.infer<typeof gitopsReportSchema>;

/** A report as stored and answered: who sent it, and when. */
export const gitopsStatusSchema = gitopsReportSchema.extend({ reportedBy: z.string(), reportedAt: z.string() });
export type GitopsStatus = z.infer<typeof gitopsStatusSchema>;

export const syncRequestSchema = z.strictObject({
  id: z.number().int().meta({ description: 'grows with every request' }),
  force: z.boolean().meta({ description: 'this one sync overwrites changes made outside git' }),
  requestedBy: z.string(),
  requestedAt: z.string(),
});
export type SyncRequest = z.infer<typeof syncRequestSchema>;

export interface GitopsSnapshot {
  status: GitopsStatus | null;
  syncRequest: SyncRequest | null;
  liveVersion: number;
  /** The etcd revision all three were read at. */
  revision: number;
}

export class GitopsState {
  constructor(
    private readonly client: Etcd3,
    private readonly keys: Keys,
  ) {}

  async read(): Promise<GitopsSnapshot> {
    const { gitopsStatus, gitopsSyncRequest, version } = this.keys;
    const res = await this.client.kv.txn({ compare: [], success: [rangeOp(gitopsStatus), rangeOp(gitopsSyncRequest), rangeOp(version)], failure: [] });
    const [statusKv, requestKv, versionKv] = res.responses.map((r): IKeyValue | undefined => r.response_range.kvs[0]);
    // The request's id is the key's mod revision: it grows with every put, with no read-modify-write.
    const request = parseStored(syncRequestSchema.omit({ id: true }), requestKv && kvValue(requestKv));
    return {
      status: parseStored(gitopsStatusSchema, statusKv && kvValue(statusKv)),
      syncRequest: request && requestKv ? { id: Number(requestKv.mod_revision), ...request } : null,
      liveVersion: (versionKv && parseVersionInfo(kvValue(versionKv))?.version) || 0,
      revision: Number(res.header.revision),
    };
  }

  async report(status: GitopsStatus): Promise<void> {
    await this.client.put(this.keys.gitopsStatus).value(JSON.stringify(status)).exec();
  }

  async requestSync(force: boolean, requestedBy: string): Promise<SyncRequest> {
    const stored = { force, requestedBy, requestedAt: new Date().toISOString() };
    const res = await this.client.put(this.keys.gitopsSyncRequest).value(JSON.stringify(stored)).exec();
    return { id: Number(res.header.revision), ...stored };
  }

  /** Until a sync request or a new live version lands after `revision`, the timeout, or the abort. */
  waitAfter(revision: number, opts: { timeoutMs: number; signal: AbortSignal }): Promise<WaitOutcome> {
    return waitForChange(this.client, [this.keys.gitopsSyncRequest, this.keys.version], revision, opts);
  }
}
