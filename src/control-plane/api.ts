// The REST API (`/api/v1`): every endpoint of src/api/endpoints.ts bound to its handler, and where
// the handler runs. Every write goes through ConfigWriter: validated (a whole document whole, one
// object against the live config), written as one new version, guarded against concurrent writers.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { endpoints, objectEndpointsByKind, type ObjectEndpoints } from '../api/endpoints.js';
import { openApiDocument } from '../api/openapi.js';
import { OBJECT_KINDS } from '../config/schema.js';
import type { ApiContext, Handlers } from './context.js';
import type { ThreadName } from './handler-thread.js';
import { bind, createRouter, type BoundRoute, type RouterDeps } from './router.js';
import { configHandlers } from './routes/config.js';
import { gitopsHandlers } from './routes/gitops.js';
import { objectHandlers } from './routes/objects.js';
import { proxyHandlers } from './routes/proxies.js';
import { tokenHandlers } from './routes/tokens.js';
import { versionHandlers } from './routes/versions.js';

/**
 * Handlers that do not run on the event loop (handler-thread.ts): a whole document a caller sends
 * is parsed in the documents thread; whatever reads the whole live config (whose size is the
 * operator's) runs in the config thread, as do all object routes. Each thread keeps its own live
 * copy of the config (api-worker.ts), which the event loop does not hold.
 */
const THREAD: Partial<Record<keyof Handlers, ThreadName>> = {
  putConfig: 'documents',
  validateConfig: 'documents',
  getConfig: 'config',
  getVersion: 'config',
  diffVersions: 'config',
  rollback: 'config',
  listProxies: 'config',
};

/** Every endpoint with its handler. */
export function apiRoutes(ctx: ApiContext): BoundRoute[] {
  const handlers: Handlers = {
    openapi: async () => ({ body: openApiDocument() }),
    ...configHandlers(ctx),
    ...versionHandlers(ctx),
    ...proxyHandlers(ctx),
    ...tokenHandlers(ctx),
    ...gitopsHandlers(ctx),
  };
  const routes = (Object.keys(endpoints) as (keyof Handlers)[]).map((name) => bind(name, endpoints[name], handlers[name] as never, THREAD[name]));
  const forKind = objectHandlers(ctx);
  for (const kind of OBJECT_KINDS) {
    const bound = forKind(kind);
    const declared = objectEndpointsByKind[kind];
    for (const name of Object.keys(declared) as (keyof ObjectEndpoints)[]) routes.push(bind(`${kind}.${name}`, declared[name], bound[name] as never, 'config'));
  }
  return routes;
}

export function createApi(ctx: ApiContext, deps: RouterDeps): (req: IncomingMessage, res: ServerResponse) => void {
  return createRouter(apiRoutes(ctx), deps);
}
