// GitOps through the API: the agent (`signalbox gitops`) reports after every sync and long-polls
// for work here; people read its state, and webhooks ask for a sync.
import type { ApiContext, Route } from '../context.js';
import { GitopsState, gitopsReportSchema } from '../gitops-state.js';
import { HttpError, parseBody, queryOf, readJson, readText, sendJson } from '../http.js';

const DEFAULT_WAIT_SECONDS = 25;
const MAX_WAIT_SECONDS = 60;

function intParam(params: URLSearchParams, name: string, range: { min: number; max: number }): number | undefined {
  const raw = params.get(name);
  if (raw === null) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < range.min || n > range.max) {
    throw new HttpError(400, `query parameter ${name} must be an integer from ${range.min} to ${range.max}, got "${raw}"`);
  }
  return n;
}

export function gitopsRoutes(ctx: ApiContext): Route[] {
  const { authenticate } = ctx;
  const state = new GitopsState(ctx.client, ctx.keys);
  return [
    ['GET', '/gitops', async (req, res) => {
      await authenticate(req, 'viewer');
      const { status, syncRequest } = await state.read();
      sendJson(res, 200, { status, syncRequest });
    }],
    ['PUT', '/gitops/status', async (req, res) => {
      const principal = await authenticate(req, 'editor');
      const report = parseBody(gitopsReportSchema, await readJson(req), 'invalid GitOps status');
      const status = { ...report, reportedBy: principal.name, reportedAt: new Date().toISOString() };
      await state.report(status);
      sendJson(res, 200, status);
    }],
    ['POST', '/gitops/sync', async (req, res) => {
      const principal = await authenticate(req, 'editor');
      // A webhook sends a payload of its own (a push event, say); what the body holds does not matter.
      await readText(req);
      const force = /^(1|true)$/.test(queryOf(req).get('force') ?? '');
      sendJson(res, 202, await state.requestSync(force, principal.name));
    }],
    // The agent's long poll: answers at once when there is a sync request newer than `after` or
    // the live version is not `version`, otherwise when either happens or after `timeout` seconds.
    ['GET', '/gitops/wait', async (req, res) => {
      await authenticate(req, 'viewer');
      const params = queryOf(req);
      const after = intParam(params, 'after', { min: 0, max: Number.MAX_SAFE_INTEGER });
      const version = intParam(params, 'version', { min: 0, max: Number.MAX_SAFE_INTEGER });
      const seconds = intParam(params, 'timeout', { min: 1, max: MAX_WAIT_SECONDS }) ?? DEFAULT_WAIT_SECONDS;
      let snap = await state.read();
      const news = after === undefined || (snap.syncRequest?.id ?? 0) > after || (version !== undefined && snap.liveVersion !== version);
      if (!news) {
        const gone = new AbortController();
        res.on('close', () => gone.abort());
        if ((await state.waitAfter(snap.revision, { timeoutMs: seconds * 1000, signal: gone.signal })) === 'aborted') return;
        snap = await state.read();
      }
      sendJson(res, 200, { syncRequest: snap.syncRequest, liveVersion: snap.liveVersion });
    }],
  ];
}
