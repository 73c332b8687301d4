// The REST API (`/api/v1`): the route groups, one router, errors in the contract's shape.
// Every write goes through ConfigWriter: validated whole, written as one new version, guarded
// against concurrent writers.
import type { IncomingMessage, ServerResponse } from 'node:http';
import Router from 'find-my-way';
import type { ApiContext, Route } from './context.js';
import { HttpError, sendError, sendJson } from './http.js';
import { openApiDocument } from './openapi.js';
import { configRoutes } from './routes/config.js';
import { gitopsRoutes } from './routes/gitops.js';
import { objectRoutes } from './routes/objects.js';
import { proxyRoutes } from './routes/proxies.js';
import { tokenRoutes } from './routes/tokens.js';
import { versionRoutes } from './routes/versions.js';

export const API_BASE = '/api/v1';

/** Every endpoint, relative to API_BASE, in the order the router must see them. */
export function apiRoutes(ctx: ApiContext): Route[] {
  return [
    ['GET', '/openapi.json', async (_req, res) => sendJson(res, 200, openApiDocument())],
    ...configRoutes(ctx),
    ...versionRoutes(ctx),
    ...proxyRoutes(ctx),
    ...tokenRoutes(ctx),
    ...gitopsRoutes(ctx),
    // Last: its /:kind patterns must not shadow the fixed paths above.
    ...objectRoutes(ctx),
  ];
}

export function createApi(ctx: ApiContext): (req: IncomingMessage, res: ServerResponse) => void {
  const router = Router({ ignoreTrailingSlash: true });
  for (const [method, path, handler] of apiRoutes(ctx)) {
    router.on(method, API_BASE + path, (req, res, params) => {
      handler(req, res, params).catch((err: unknown) => fail(res, err, ctx));
    });
  }

  return (req, res) => {
    const found = router.find(req.method as 'GET', (req.url ?? '/').split('?')[0]!);
    if (!found) {
      fail(res, new HttpError(404, `no endpoint ${req.method} ${req.url}`), ctx);
      return;
    }
    found.handler(req, res, found.params, found.store, found.searchParams);
  };
}

function fail(res: ServerResponse, err: unknown, ctx: ApiContext): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (!(err instanceof HttpError)) ctx.logger.error({ err }, 'API request failed');
  sendError(res, err instanceof HttpError ? err : new HttpError(500, `internal error: ${(err as Error).message}`));
}
