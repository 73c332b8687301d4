// The control plane's API from the outside: what the CLI and the GitOps agent call it with. Paths,
// methods and the types of bodies and answers come from the endpoint declarations the server
// serves (the types only: a call needs just the route, so the CLI loads no schemas), so the two
// cannot drift apart.
import type { IncomingHttpHeaders, IncomingMessage, RequestOptions } from 'node:http';
import type { EndpointAt, RequestBodyOf, ResponseOf } from './endpoints.js';
import { API_BASE, type Route } from './routes.js';
import type { ErrorBody, ErrorDetail } from './schemas.js';
import type { Source } from './terms.js';

/** The control plane's error details, one indented line each, to follow a message. */
export function formatDetails(details: readonly ErrorDetail[] = []): string {
  return details.map((d) => `\n  ${d.path}${d.line ? ` (line ${d.line})` : ''}: ${d.message}`).join('');
}

/** The control plane answered with an error status: the status and details, for callers that act on them. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly details: readonly ErrorDetail[],
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** No answer at all: the control plane is down, or the URL is wrong. */
export class ApiUnreachableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ApiUnreachableError';
  }
}

export interface ApiClientOptions {
  /** The control plane's URL, e.g. http://127.0.0.1:9000. */
  server: string;
  /** Bearer token; none: requests go without (and get 401 from a control plane that needs one). */
  token?: string;
  /** Recorded with every version this client writes (`X-Signalbox-Source`). */
  source: Source;
}

export interface CallInput<E> {
  /** Values of the path's `:name` segments. */
  params?: Readonly<Record<string, string | number>>;
  query?: Readonly<Record<string, string | number | undefined>>;
  body?: RequestBodyOf<E>;
  /** The message recorded with the version a write makes. */
  message?: string;
  /** Refuse the write (409) unless this is the live version. */
  expectVersion?: number;
  signal?: AbortSignal;
}

export class ApiClient {
  readonly server: string;

  constructor(private readonly opts: ApiClientOptions) {
    this.server = opts.server.replace(/\/+$/, '');
  }

  /** Call the endpoint at `endpoint`'s route: a declaration from endpoints.ts, or just its route from routes.ts. */
  async call<R extends Route>(endpoint: R, input: CallInput<EndpointAt<R>> = {}): Promise<{ body: ResponseOf<EndpointAt<R>>; headers: IncomingHttpHeaders }> {
    const path = endpoint.path.replace(/:(\w+)/g, (_, name: string) => {
      const value = input.params?.[name];
      if (value === undefined) throw new Error(`${endpoint.method} ${endpoint.path}: no value for :${name}`);
      return encodeURIComponent(String(value));
    });
    const query = Object.entries(input.query ?? {}).filter((e): e is [string, string | number] => e[1] !== undefined);
    const url = `${this.server}${API_BASE}${path}${query.length ? `?${new URLSearchParams(query.map(([k, v]): [string, string] => [k, String(v)]))}` : ''}`;
    const headers: Record<string, string> = { accept: 'application/json', 'x-signalbox-source': this.opts.source };
    if (this.opts.token) headers.authorization = `Bearer ${this.opts.token}`;
    if (input.body !== undefined) headers['content-type'] = 'application/json';
    if (input.message !== undefined) headers['x-signalbox-message'] = encodeURIComponent(input.message);
    if (input.expectVersion !== undefined) headers['if-match'] = `"${input.expectVersion}"`;

    const payload = input.body === undefined ? undefined : JSON.stringify(input.body);
    if (payload !== undefined) headers['content-length'] = String(Buffer.byteLength(payload));

    let res: IncomingMessage;
    let text: string;
    try {
      res = await send(url, { method: endpoint.method, headers, signal: input.signal }, payload);
      text = await readText(res);
    } catch (err) {
      if (input.signal?.aborted) throw err;
      throw new ApiUnreachableError(`cannot reach the control plane at ${this.server}: ${(err as Error).message}`);
    }
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // Not the control plane's JSON: a proxy in between, or another server at that URL.
      parsed = undefined;
    }
    const what = `${endpoint.method} ${path}`;
    const status = res.statusCode ?? 0;
    if (status < 200 || status > 299) {
      const e = (parsed ?? {}) as Partial<ErrorBody>;
      throw new ApiError(`${what}: ${status} ${e.error ?? res.statusMessage ?? ''}${formatDetails(e.details)}`, status, e.details ?? []);
    }
    if (parsed === undefined && text) throw new ApiError(`${what}: ${status} answered with something that is not JSON`, status, []);
    return { body: parsed as ResponseOf<EndpointAt<R>>, headers: res.headers };
  }
}

/**
 * One request with node:http(s). Not fetch: its first call loads and compiles Node's bundled
 * undici, about 100 ms of every CLI command's start (bench/cli-startup.ts). Taken with
 * getBuiltinModule, not import(): from Node 22 node:http exports WebSocket, whose getter loads
 * that same undici as soon as an ES module namespace of node:http is made.
 */
async function send(url: string, options: RequestOptions, payload: string | undefined): Promise<IncomingMessage> {
  const { protocol } = new URL(url);
  if (protocol !== 'http:' && protocol !== 'https:') throw new Error('unknown scheme');
  const { request } = process.getBuiltinModule(protocol === 'https:' ? 'node:https' : 'node:http');
  return new Promise((resolve, reject) => {
    const req = request(url, options, resolve).on('error', reject);
    req.end(payload);
  });
}

async function readText(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
