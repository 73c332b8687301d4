// The GitOps agent's life: a sync at start, after the folder or its checkout changes (debounced),
// when a sync is requested through the API, and when the live version moves (so drift is seen at
// once, and undone at once with --force). One sync runs at a time; whatever asks for a sync
// meanwhile is folded into one more.
import { relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { ApiClient } from '../api/client.js';
import { endpoints } from '../api/endpoints.js';
import type { GitopsReport, SyncRequest } from '../api/schemas.js';
import { Backoff } from '../util/backoff.js';
import { errorMessage } from '../util/errors.js';
import { FolderWatch } from './folder-watch.js';
import { readCheckout } from './git-info.js';
import { summarize } from './summary.js';
import { syncFolder } from './sync.js';

export interface AgentOptions {
  /** Absolute path of the folder. */
  dir: string;
  /** A client with source gitops, holding a token created for gitops. */
  api: ApiClient;
  /** Overwrite changes made to the live config outside git. */
  force: boolean;
  logger: Logger;
}

/** The control plane answers a long poll within 25 s; a connection silent for longer is dead. */
const POLL_DEADLINE_MS = 40_000;

export class GitopsAgent {
  /** The version this agent last wrote or found equal to the folder: anything else live is drift. */
  private appliedVersion: number | null = null;
  /** The live version as of the last sync; the long poll wakes when it moves. */
  private liveVersion: number | null = null;
  private pending: { force: boolean; reasons: string[] } | null = null;
  private running: Promise<void> | null = null;
  private watch: FolderWatch | null = null;
  private debounce: NodeJS.Timeout | null = null;
  private retry: NodeJS.Timeout | null = null;
  private readonly retryBackoff = new Backoff(1_000, 30_000);
  private readonly stopping = new AbortController();
  private polling: Promise<void> | null = null;

  constructor(private readonly opts: AgentOptions) {}

  /** One sync, reported to the control plane; `force` overwrites drift this once. */
  async syncOnce(force = false): Promise<GitopsReport> {
    const { dir, api } = this.opts;
    this.appliedVersion ??= await this.resumedVersion();
    const outcome = await syncFolder({ dir, api, appliedVersion: this.appliedVersion, force: force || this.opts.force });
    const report: GitopsReport = { ...outcome, force: this.opts.force };
    this.appliedVersion = report.lastAppliedVersion;
    if (report.liveVersion !== null) this.liveVersion = report.liveVersion;
    try {
      await api.call(endpoints.reportGitops, { body: report });
    } catch (err) {
      this.opts.logger.warn({ err: errorMessage(err) }, 'could not report the sync to the control plane');
    }
    return report;
  }

  /**
   * What the last agent on this folder wrote or found equal to it, from its last report: a restart
   * or the next `--once` run picks up where it left off, instead of taking a version it accepted
   * for a change made outside git.
   */
  private async resumedVersion(): Promise<number | null> {
    try {
      const { body } = await this.opts.api.call(endpoints.getGitops);
      return body.status?.dir === this.opts.dir ? body.status.lastAppliedVersion : null;
    } catch {
      // The sync that follows meets the same control plane and reports why it cannot be reached.
      return null;
    }
  }

  async start(opts: { watch: boolean; debounceMs: number }): Promise<void> {
    if (opts.watch) {
      const checkout = await readCheckout(this.opts.dir);
      this.watch = new FolderWatch(this.opts.dir, checkout.workTree ? checkout.gitDir : null, (path) => this.changed(path, opts.debounceMs));
      await this.watch.refresh();
    }
    this.opts.logger.info({ dir: this.opts.dir, watch: opts.watch, force: this.opts.force }, 'gitops agent started');
    this.schedule('start');
    this.polling = this.poll();
  }

  /** Ends the long poll, the watch and the timers, and waits for a running sync to end. */
  async stop(): Promise<void> {
    this.stopping.abort();
    for (const timer of [this.debounce, this.retry]) if (timer) clearTimeout(timer);
    this.watch?.close();
    this.pending = null;
    await Promise.all([this.polling, this.running]);
  }

  private changed(path: string, debounceMs: number): void {
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.debounce = null;
      this.schedule(`changed: ${relative(this.opts.dir, path) || '.'}`);
    }, debounceMs);
  }

  private schedule(reason: string, force = false): void {
    if (this.stopping.signal.aborted) return;
    this.pending = { force: force || (this.pending?.force ?? false), reasons: [...(this.pending?.reasons ?? []), reason] };
    this.kick();
  }

  private kick(): void {
    if (this.running || !this.pending || this.stopping.signal.aborted) return;
    const { force, reasons } = this.pending;
    this.pending = null;
    this.running = this.run(force, reasons)
      .catch((err: unknown) => this.opts.logger.error({ err: errorMessage(err) }, 'sync failed'))
      .finally(() => {
        this.running = null;
        this.kick();
      });
  }

  private async run(force: boolean, reasons: string[]): Promise<void> {
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
    const previous = this.appliedVersion;
    await this.watch?.refresh();
    const report = await this.syncOnce(force);
    this.log(report, reasons, previous);
    if (report.state !== 'error') {
      this.retryBackoff.reset();
      return;
    }
    // Nothing else may come to wake the agent (the control plane was down, say): try again.
    this.retry = setTimeout(() => this.schedule('retry after an error'), this.retryBackoff.next());
  }

  private log(report: GitopsReport, reasons: string[], previousApplied: number | null): void {
    const { logger } = this.opts;
    const fields = { state: report.state, commit: report.commit, liveVersion: report.liveVersion, reasons };
    const message = summarize(report);
    if (report.state === 'synced') {
      if (report.lastAppliedVersion !== previousApplied) logger.info(fields, message);
      else logger.debug(fields, message);
    } else if (report.state === 'invalid' || report.state === 'error') logger.error(fields, message);
    else logger.warn(fields, message);
  }

  /** Long-polls the control plane for sync requests and for changes of the live version. */
  private async poll(): Promise<void> {
    const { api, logger } = this.opts;
    const backoff = new Backoff(500, 15_000);
    let after: number | null = null;
    while (!this.stopping.signal.aborted) {
      // Until the first sync has read the live version, there is none to wait for a change of.
      if (this.liveVersion === null) await this.running;
      try {
        // The first call answers at once: requests made before this agent started are not its own.
        const query: { after?: number; version?: number } = after === null ? {} : { after, version: this.liveVersion ?? undefined };
        const signal = AbortSignal.any([this.stopping.signal, AbortSignal.timeout(POLL_DEADLINE_MS)]);
        const { body } = await api.call(endpoints.waitGitops, { query, signal });
        backoff.reset();
        const request: SyncRequest | null = body.syncRequest;
        if (after !== null && request && request.id > after) {
          this.schedule(`sync requested by ${request.requestedBy}${request.force ? ' with force' : ''}`, request.force);
        } else if (after !== null) {
          // A sync of ours may be what moved the version: judge once it has ended.
          await this.running;
          if (this.liveVersion !== null && body.liveVersion !== this.liveVersion) {
            // Known from now on, so that a sync that fails before it reads the live version does
            // not have the next poll answer at once, and again.
            this.liveVersion = body.liveVersion;
            this.schedule(`live config is now version ${body.liveVersion}`);
          }
        }
        after = request?.id ?? 0;
      } catch (err) {
        if (this.stopping.signal.aborted) return;
        logger.warn({ err: errorMessage(err) }, 'waiting for sync requests failed; trying again');
        await sleep(backoff.next(), undefined, { signal: this.stopping.signal }).catch(() => {});
      }
    }
  }
}
