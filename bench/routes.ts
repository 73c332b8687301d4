// The benchmarks' route tables; route i serves /svc<i>/items and /svc<i>/items/<id>. The
// forwarding benchmark's is written once for Signalbox and once for nginx so both proxies look up
// the measured request among the same number of routes: the measured route goes to the two listen
// ports of the real upstream, every other one to an idle upstream on the discard port, which no
// request reaches.

/** Upstreams the unmeasured routes are spread over. */
const IDLE_UPSTREAMS = 20;
const IDLE_TARGET = 'http://127.0.0.1:9';

export interface RouteTable {
  routes: number;
  /** Index of the route the load goes through. */
  measured: number;
  /** The measured upstream's targets (origins). */
  targets: string[];
}

export function measuredPath(t: RouteTable): string {
  return `/svc${t.measured}/items/42`;
}

const idleUpstream = (i: number) => `idle-${i % IDLE_UPSTREAMS}`;

/** A Signalbox route; `extraPaths` lets the swap scenario change the measured route. */
export function signalboxRoute(i: number, upstream: string, extraPaths: string[] = []) {
  return {
    id: `r${i}`,
    match: { paths: [`/svc${i}/items`, `/svc${i}/items/:id`, ...extraPaths], methods: ['GET', 'POST'] },
    upstream,
  };
}

/**
 * `routes` routes over two upstreams, where change c moves route c (mod routes) to the other
 * one: a one-object change, the usual day-to-day edit. The propagation, fan-out and write-path
 * benches (which give the two upstreams real targets, to see the change served).
 */
export function oneRouteChangeDoc(routes: number, c: number, targets: [string, string] = [IDLE_TARGET, 'http://127.0.0.1:10']) {
  return {
    upstreams: [
      { id: 'u0', targets: [{ url: targets[0] }] },
      { id: 'u1', targets: [{ url: targets[1] }] },
    ],
    routes: Array.from({ length: routes }, (_, i) => signalboxRoute(i, i === c % routes ? `u${c % 2}` : 'u0')),
  };
}

/** The measured upstream, its targets weighted as given (the swap scenario changes them). */
export function benchUpstream(t: RouteTable, weights: number[] = t.targets.map(() => 1)) {
  return { id: 'bench', targets: t.targets.map((url, i) => ({ url, weight: weights[i] })) };
}

export function signalboxDoc(t: RouteTable) {
  return {
    upstreams: [
      benchUpstream(t),
      ...Array.from({ length: IDLE_UPSTREAMS }, (_, i) => ({ id: idleUpstream(i), targets: [{ url: IDLE_TARGET }] })),
    ],
    routes: Array.from({ length: t.routes }, (_, i) => signalboxRoute(i, i === t.measured ? 'bench' : idleUpstream(i))),
  };
}

/**
 * nginx's http{} content: the same routes as prefix locations (nginx finds those in a tree, as
 * Signalbox's router does), configured as a fair peer would be: keep-alive to the upstream
 * (HTTP/1.1, Connection cleared) and the forwarded headers Signalbox sets.
 */
export function nginxRoutes(t: RouteTable, listenPort: number): string {
  const origin = (url: string) => new URL(url).host;
  const upstreams = [
    `upstream bench { ${t.targets.map((u) => `server ${origin(u)};`).join(' ')} keepalive 64; keepalive_requests 1000000; }`,
    ...Array.from({ length: IDLE_UPSTREAMS }, (_, i) => `upstream ${idleUpstream(i)} { server ${origin(IDLE_TARGET)}; keepalive 8; }`),
  ];
  const locations = Array.from({ length: t.routes }, (_, i) =>
    `    location /svc${i}/items { proxy_pass http://${i === t.measured ? 'bench' : idleUpstream(i)}; }`);
  return [
    ...upstreams,
    'server {',
    `    listen 127.0.0.1:${listenPort};`,
    '    proxy_http_version 1.1;',
    '    proxy_set_header Connection "";',
    '    proxy_set_header Host $http_host;',
    '    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;',
    '    proxy_set_header X-Forwarded-Proto $scheme;',
    '    proxy_set_header X-Forwarded-Host $host;',
    ...locations,
    `    location / { return 404 '{"error":"no_route"}'; }`,
    '}',
  ].join('\n');
}

/** The measured path through the route that rewrites and retries (forwarding's `traffic` target). */
export function trafficPath(t: RouteTable): string {
  return `/traffic${measuredPath(t)}`;
}

/**
 * A route to the measured upstream with the traffic features a request pays for on every pass:
 * a rewrite (prefix stripped, Host set) and retries (nothing fails, so none happen, but the
 * policy is checked and the retry budget counts every request).
 */
export function trafficRoute() {
  return {
    id: 'traffic',
    match: { paths: ['/traffic/*'], methods: ['GET', 'POST'] },
    upstream: 'bench',
    rewrite: { stripPrefix: '/traffic', host: 'bench.internal' },
    retries: { attempts: 3, on: ['connect-failure', 'reset', 502, 503, 504] },
    timeoutMs: 30_000,
  };
}

/** The measured path through the route with a policy chain (forwarding's `policies` target). */
/** The bench consumer's API key, sent in key-auth's default header (removed before forwarding). */
const BENCH_KEY = 'bench-key-0123456789abcdef';
export const POLICY_CHAIN_HEADERS = { 'x-api-key': BENCH_KEY };

export function policyChainPath(t: RouteTable): string {
  return `/chain${measuredPath(t)}`;
}

/**
 * A route to the measured upstream whose requests pass the issue's chain of policies, and nothing
 * else differs from the bare route (no rewrite: the upstream answers any path): key-auth (the key
 * in x-api-key, looked up by its SHA-256 and removed before forwarding), a rate limit per
 * consumer high enough to refuse nothing, and header changes both ways, one of them a variable.
 */
export function policyChainRoute() {
  return { id: 'policy-chain', match: { paths: ['/chain/*'], methods: ['GET', 'POST'] }, upstream: 'bench', policies: ['bench-key', 'bench-rl', 'bench-headers'] };
}

const BENCH_CONSUMERS = [{ id: 'bench', keys: [BENCH_KEY] }];

export const BENCH_POLICIES = [
  { id: 'bench-key', type: 'key-auth' },
  { id: 'bench-rl', type: 'rate-limit', requestsPerSecond: 1_000_000, burst: 10_000_000, key: 'consumer' },
  { id: 'bench-headers', type: 'headers', request: { set: { 'x-route': '$route' }, remove: ['x-debug'] }, response: { set: { 'x-served-by': 'signalbox' } } },
];

/** The bench's table plus the routes of the feature targets asked for. */
export function signalboxFeatureDoc(t: RouteTable, features: { traffic: boolean; policies: boolean }) {
  const doc = signalboxDoc(t);
  return {
    ...doc,
    routes: [...doc.routes, ...(features.traffic ? [trafficRoute()] : []), ...(features.policies ? [policyChainRoute()] : [])],
    ...(features.policies ? { policies: BENCH_POLICIES, consumers: BENCH_CONSUMERS } : {}),
  };
}
