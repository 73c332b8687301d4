// The API's endpoints bound to their handlers. What an endpoint declares is done here, before its
// handler runs: the token and its role, the write headers, the query, and the body (bounded, and
// checked against its schema). The handler runs here, or in the handler thread it is bound to.
// What it answers or throws is rendered here too.
import type { IncomingMessage, ServerResponse } from 'node:http';
import Router from 'find-my-way';
import type { z } from 'zod';
import type { Logger } from 'pino';
import { API_BASE, type Endpoint, type ParsedBodyOf, type QueryOf, type ResponseOf } from '../api/endpoints.js';
import { formatPath, schemaIssues } from '../config/validate.js';
import type { Authenticate, Principal } from './auth.js';
import type { HandlerThread, ThreadName } from './handler-thread.js';
import { parseJsonBody, readBody } from './body.js';
import { httpErrorOf } from './errors.js';
import { HttpError, sendError, sendJson, sendText } from './http.js';
import { sourceOf, writeHeaders, type WriteHeaders } from './request-headers.js';

export interface Call<E> {
  /** The Accept header. */
  accept: string | undefined;
  principal: Principal;
  params: Readonly<Record<string, string>>;
  query: QueryOf<E>;
  /** A JSON body, as the endpoint's schema parsed it. */
  body: ParsedBodyOf<E>;
  /** The bytes of a config body (empty for any other). */
  raw: Buffer;
  /** If-Match, message and source, for endpoints that write. */
  write: WriteHeaders;
  /** Aborted when the client goes away. */
  signal: AbortSignal;
}

export type Reply<R> = { status?: number; headers?: Record<string, string> } & ({ body: R } | { text: string; contentType: string });

/** null: the client went away and there is nothing to answer. */
export type Handler<E> = (call: Call<E>) => Promise<Reply<ResponseOf<E>> | null>;

export interface BoundRoute {
  /** Names the route across threads: `putConfig`, `routes.patch`. */
  id: string;
  endpoint: Endpoint;
  handler: Handler<Endpoint>;
  /** Runs in that handler thread, not on the event loop. */
  thread?: ThreadName;
}

export function bind<E extends Endpoint>(id: string, endpoint: E, handler: Handler<E>, thread?: ThreadName): BoundRoute {
  return { id, endpoint, handler: handler as unknown as Handler<Endpoint>, thread };
}

export interface RouterDeps {
  authenticate: Authenticate;
  logger: Logger;
  threads: Record<ThreadName, Pick<HandlerThread, 'run'>>;
}

const ANONYMOUS: Principal = { name: 'anonymous', role: 'viewer', gitops: false };

export function createRouter(routes: readonly BoundRoute[], deps: RouterDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const router = Router({ ignoreTrailingSlash: true });
  for (const route of routes) {
    router.on(route.endpoint.method, API_BASE + route.endpoint.path, (req, res, params) => {
      serve(route, req, res, params as Record<string, string>, deps).catch((err: unknown) => fail(res, err, deps.logger));
    });
  }
  return (req, res) => {
    const found = router.find(req.method as 'GET', (req.url ?? '/').split('?')[0]!);
    if (!found) {
      fail(res, new HttpError(404, `no endpoint ${req.method} ${req.url}`), deps.logger);
      return;
    }
    found.handler(req, res, found.params, found.store, found.searchParams);
  };
}

async function serve(route: BoundRoute, req: IncomingMessage, res: ServerResponse, params: Record<string, string>, deps: RouterDeps): Promise<void> {
  const { endpoint } = route;
  const principal = endpoint.role === null ? ANONYMOUS : await deps.authenticate(req, endpoint.role);
  // On every request, so an agent with the wrong token is told at its first one, a read.
  const source = endpoint.role === null ? 'api' : sourceOf(req, principal);
  const write = endpoint.headers ? writeHeaders(req, source) : { expectVersion: undefined, message: undefined, source };
  const query = parseQuery(endpoint, req);
  let body: unknown;
  let raw: Buffer = Buffer.alloc(0);
  if (endpoint.body) {
    const bytes = await readBody(req, endpoint.body.maxBytes);
    if (endpoint.body.read === 'config') raw = bytes;
    else if (endpoint.body.read === 'json') body = checked(endpoint.body.schema, parseJsonBody(bytes), endpoint.body.invalid);
  }
  const accept = req.headers.accept;
  if (route.thread) {
    const reply = await deps.threads[route.thread].run(route.id, { accept, principal, params, query, body, raw, write });
    if (!reply.ok) {
      if (reply.unexpected) deps.logger.error({ err: reply.unexpected, route: route.id }, 'API request failed');
      throw new HttpError(reply.status, reply.message, reply.details, reply.headers);
    }
    sendText(res, reply.status ?? endpoint.ok.status, reply.text, reply.contentType, reply.headers);
    return;
  }
  const gone = new AbortController();
  res.on('close', () => gone.abort());
  const reply = await route.handler({ accept, principal, params, query, body: body as undefined, raw, write, signal: gone.signal });
  if (reply === null) return;
  const status = reply.status ?? endpoint.ok.status;
  if ('text' in reply) sendText(res, status, reply.text, reply.contentType, reply.headers);
  else sendJson(res, status, reply.body, reply.headers);
}

function parseQuery(endpoint: Endpoint, req: IncomingMessage): QueryOf<Endpoint> {
  if (!endpoint.query) return {};
  const params = new URL(req.url ?? '/', 'http://control-plane').searchParams;
  const parsed = endpoint.query.safeParse(Object.fromEntries(params));
  if (parsed.success) return parsed.data as QueryOf<Endpoint>;
  const details = schemaIssues(parsed.error).map((i) => ({ path: formatPath(i.path), message: i.message }));
  throw new HttpError(400, `query parameter ${details[0]!.path} ${details[0]!.message}`, details);
}

/** `data` as `schema` reads it, or a 400 `what` listing every problem with its path. */
function checked(schema: z.ZodType, data: unknown, what: string): unknown {
  const parsed = schema.safeParse(data);
  if (!parsed.success) throw new HttpError(400, what, schemaIssues(parsed.error).map((i) => ({ path: formatPath(i.path), message: i.message })));
  return parsed.data;
}

function fail(res: ServerResponse, err: unknown, logger: Logger): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const known = httpErrorOf(err);
  if (!known) logger.error({ err }, 'API request failed');
  sendError(res, known ?? new HttpError(500, `internal error: ${(err as Error).message}`));
}
