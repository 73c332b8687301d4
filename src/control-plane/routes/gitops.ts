// GitOps through the API: the agent (`signalbox gitops`) reports after every sync and long-polls
// for work here; people read its state, and webhooks ask for a sync.
import type { ApiContext, Handlers } from '../context.js';
import { GitopsState } from '../gitops-state.js';

const DEFAULT_WAIT_SECONDS = 25;

export function gitopsHandlers(ctx: ApiContext): Pick<Handlers, 'getGitops' | 'reportGitops' | 'requestSync' | 'waitGitops'> {
  const state = new GitopsState(ctx.client, ctx.keys);
  return {
    getGitops: async () => {
      const { status, syncRequest } = await state.read();
      return { body: { status, syncRequest } };
    },
    reportGitops: async ({ body, principal }) => {
      const status = { ...body, reportedBy: principal.name, reportedAt: new Date().toISOString() };
      await state.report(status);
      return { body: status };
    },
    // A webhook sends a payload of its own (a push event, say); what the body holds does not matter.
    requestSync: async ({ query, principal }) => ({ body: await state.requestSync(/^(1|true)$/.test(query.force ?? ''), principal.name) }),
    // The agent's long poll: answers at once when there is a sync request newer than `after` or
    // the live version is not `version`, otherwise when either happens or after `timeout` seconds.
    waitGitops: async ({ query, signal }) => {
      const { after, version } = query;
      let snap = await state.read();
      const news = after === undefined || (snap.syncRequest?.id ?? 0) > after || (version !== undefined && snap.liveVersion !== version);
      if (!news) {
        const timeoutMs = (query.timeout ?? DEFAULT_WAIT_SECONDS) * 1000;
        if ((await state.waitAfter(snap.revision, { timeoutMs, signal })) === 'aborted') return null;
        snap = await state.read();
      }
      return { body: { syncRequest: snap.syncRequest, liveVersion: snap.liveVersion } };
    },
  };
}
