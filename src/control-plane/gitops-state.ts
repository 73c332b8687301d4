// What the control plane keeps for the GitOps agent, in etcd so that every replica answers the
// same: the agent's last report and the last sync request. The agent itself never touches etcd.
import type { Etcd3, IKeyValue } from 'etcd3';
import { gitopsStatusSchema, syncRequestSchema, type GitopsStatus, type SyncRequest } from '../api/schemas.js';
import { parseVersionInfo } from '../store/decode.js';
import { kvValue, rangeOp } from '../store/kv.js';
import type { Keys } from '../store/keys.js';
import { waitForChange, type WaitOutcome } from '../store/wait-change.js';
import { parseStored } from './stored-record.js';

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
