// The control plane's API from the outside: what the CLI and the GitOps agent call it with. Paths,
// methods and the types of bodies and answers come from the endpoint declarations the server
// serves, so the two cannot drift apart.
import { API_BASE, type Endpoint, type RequestBodyOf, type ResponseOf } from './endpoints.js';
import type { ErrorBody, ErrorDetail, Source } from './schemas.js';

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

  async call<E extends Endpoint>(endpoint: E, input: CallInput<E> = {}): Promise<{ body: ResponseOf<E>; headers: Headers }> {
    const path = endpoint.path.replace(/:(\w+)/g, (_, name: string) => {
      const value = input.params?.[name];
      if (value === undefined) throw new Error(`${endpoint.method} ${endpoint.path}: no value for :${name}`);
      return encodeURIComponent(String(value));
    });
    const query = Object.entries(input.query ?? {}).filter((e): e is [string, string | number] => e[1] !== undefined);
    const url = `${this.server}${API_BASE}${path}${query.length ? `?${new URLSearchParams(query.map(([k, v]): [string, string] => [k, String(v)]))}` : ''}`;
    const headers: Record<string, string> = { 'x-signalbox-source': this.opts.source };
    if (this.opts.token) headers.authorization = `Bearer ${this.opts.token}`;
    if (input.body !== undefined) headers['content-type'] = 'application/json';
    if (input.message !== undefined) headers['x-signalbox-message'] = encodeURIComponent(input.message);
    if (input.expectVersion !== undefined) headers['if-match'] = `"${input.expectVersion}"`;

    let res: Response;
    try {
      res = await fetch(url, { method: endpoint.method, headers, body: input.body === undefined ? undefined : JSON.stringify(input.body), signal: input.signal });
    } catch (err) {
      if (input.signal?.aborted) throw err;
      throw new ApiUnreachableError(`cannot reach the control plane at ${this.server}: ${(err as Error & { cause?: Error }).cause?.message ?? (err as Error).message}`);
    }
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // Not the control plane's JSON: a proxy in between, or another server at that URL.
      parsed = undefined;
    }
    const what = `${endpoint.method} ${path}`;
    if (!res.ok) {
      const e = (parsed ?? {}) as Partial<ErrorBody>;
      throw new ApiError(`${what}: ${res.status} ${e.error ?? res.statusText}${formatDetails(e.details)}`, res.status, e.details ?? []);
    }
    if (parsed === undefined && text) throw new ApiError(`${what}: ${res.status} answered with something that is not JSON`, res.status, []);
    return { body: parsed as ResponseOf<E>, headers: res.headers };
  }
}
