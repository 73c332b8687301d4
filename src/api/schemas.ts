// What the control plane's API takes and answers, as zod schemas: the server checks request bodies
// with them, the CLI and the GitOps agent read answers by their inferred types, and the OpenAPI
// document is generated from them. Nothing here knows the server or the CLI.
import { z } from 'zod';
import { ID_PATTERN, KINDS, certificateSchema, consumerSchema, perKind, documentSchema, policySchema, routeSchema, upstreamSchema, type ConfigObject } from '../config/schema.js';
import { MAX_TOKEN_TTL_SECONDS, ROLES, SOURCES, TOKEN_PURPOSES } from './terms.js';

export { MAX_TOKEN_TTL_SECONDS, ROLES, SOURCES, TOKEN_PURPOSES, type Role, type Source } from './terms.js';

export const errorDetailSchema = z.object({
  path: z.string().meta({ description: 'where in the input, e.g. routes[2].upstream' }),
  message: z.string(),
  line: z.number().int().optional().meta({ description: 'line of the request body, for YAML or indented JSON' }),
});
export type ErrorDetail = z.infer<typeof errorDetailSchema>;

export const errorBodySchema = z.object({ error: z.string(), details: z.array(errorDetailSchema).optional() });
export type ErrorBody = z.infer<typeof errorBodySchema>;

export const versionSchema = z.object({
  version: z.number().int(),
  hash: z.string().meta({ description: 'sha256 of the canonical config' }),
  author: z.string().meta({ description: 'name of the token that wrote it' }),
  source: z.string().meta({ description: `one of ${SOURCES.join(', ')}` }),
  message: z.string(),
  at: z.string(),
  counts: z.object(perKind(() => z.number().int())),
});
export type Version = z.infer<typeof versionSchema>;

export const CHANGE_OPS = ['add', 'change', 'remove'] as const;

export const changeSummarySchema = z.strictObject({ kind: z.enum(KINDS), id: z.string(), op: z.enum(CHANGE_OPS) });
export type ChangeSummary = z.infer<typeof changeSummarySchema>;

const configObject = z.custom<ConfigObject>().meta({ description: 'a route, upstream, policy, certificate or consumer (certificate keys redacted, consumer secrets as their hashes)' });

/** A change with the object before and after (each present where it exists). */
export const changeSchema = changeSummarySchema.extend({ before: configObject.optional(), after: configObject.optional() });
export type Change = z.infer<typeof changeSchema>;

export const writeResultSchema = z.object({
  version: versionSchema,
  unchanged: z.boolean().meta({ description: 'true when the config already was this: no new version' }),
  changes: z.array(changeSummarySchema),
});
export type WriteResult = z.infer<typeof writeResultSchema>;

export const validateAnswerSchema = z.discriminatedUnion('valid', [
  z.object({ valid: z.literal(false), errors: z.array(errorDetailSchema) }),
  z.object({
    valid: z.literal(true),
    liveVersion: z.number().int(),
    changes: z.array(changeSchema).meta({ description: 'with ?detail=1, each object before and after' }),
  }),
]);
export type ValidateAnswer = z.infer<typeof validateAnswerSchema>;

/** A config as written: each kind may be left out. */
export const configSchema = documentSchema;

/** A config as the control plane answers it: every kind present, objects sorted by id, keys redacted. */
export const liveConfigSchema = z.object({
  upstreams: z.array(upstreamSchema),
  routes: z.array(routeSchema),
  policies: z.array(policySchema),
  certificates: z.array(certificateSchema),
  consumers: z.array(consumerSchema),
  globalPolicies: z.array(z.string()).optional().meta({ description: 'left out when there are none' }),
});

export const versionListSchema = z.object({ versions: z.array(versionSchema) });
export const versionWithConfigSchema = z.object({ version: versionSchema, config: liveConfigSchema });
export const versionDiffSchema = z.object({ from: versionSchema, to: versionSchema, changes: z.array(changeSchema) });

export const rollbackRequestSchema = z.strictObject({
  version: z.number({ error: 'must be an integer' }).int({ error: 'must be an integer' }).meta({ description: 'the version to return to' }),
});

export const proxyStatusSchema = z.looseObject({
  id: z.string(),
  inSync: z.boolean().meta({ description: 'runs the live version and its hash' }),
  version: z.number().int().nullable().optional(),
  hash: z.string().optional(),
  etcd: z.string().optional(),
  routes: z.number().int().optional(),
  lastError: z.object({ errors: z.array(z.string()) }).nullable().optional(),
  unhealthyTargets: z
    .array(z.object({ upstream: z.string(), url: z.string() }))
    .optional()
    .meta({ description: "targets the proxy's active health checks hold out of rotation (the first 20, by upstream id)" }),
  unhealthyTargetCount: z.number().int().optional().meta({ description: 'how many targets its active health checks hold out' }),
  lagging: z.boolean().meta({ description: 'not on the live version, which was committed longer than lagThresholdMs ago (a draining proxy never lags)' }),
  lastApplyMs: z.number().nullable().optional().meta({ description: 'its last apply: decode, validate, compile and swap, in ms' }),
  propagationMs: z.number().nullable().optional().meta({ description: 'commit → applied of the version it serves, in ms (null: read at its start)' }),
  recentApplies: z
    .array(z.object({ version: z.number().int(), committedAt: z.string().nullable(), appliedAt: z.string(), propagationMs: z.number().nullable() }))
    .optional()
    .meta({ description: 'the last 10 versions it applied, newest first' }),
  workers: z
    .array(z.looseObject({ worker: z.number().int(), pid: z.number().int(), version: z.number().int().nullable(), ready: z.boolean(), restarts: z.number().int() }))
    .optional()
    .meta({ description: 'a proxy run with --workers N: its worker processes; its version is the one every serving worker serves' }),
});
export type ProxyStatus = z.infer<typeof proxyStatusSchema>;

export const versionConvergenceSchema = z.object({
  version: z.number().int(),
  committedAt: z.string().nullable(),
  applied: z.number().int().meta({ description: 'proxies that report applying it (among their last 10 applies)' }),
  pending: z.number().int().meta({ description: 'proxies still on an older version' }),
  maxPropagationMs: z.number().nullable().meta({ description: 'commit → applied of the slowest proxy that applied it while running; the whole fleet, when pending is 0' }),
  lastProxy: z.string().nullable().meta({ description: 'that proxy' }),
  lastAppliedAt: z.string().nullable(),
});
export type VersionConvergence = z.infer<typeof versionConvergenceSchema>;

export const fleetSchema = z.object({
  liveVersion: z.number().int(),
  liveHash: z.string(),
  liveErrors: z.array(z.string()).meta({ description: 'why the config in etcd does not validate (written there by hand); no proxy is in sync then' }),
  liveCommittedAt: z.string().nullable(),
  lagThresholdMs: z.number().int(),
  lagging: z.number().int().meta({ description: 'proxies lagging' }),
  convergence: z.array(versionConvergenceSchema).meta({ description: 'the recent versions the proxies report, newest first (at most 10)' }),
  proxies: z.array(proxyStatusSchema),
});
export type Fleet = z.infer<typeof fleetSchema>;

// One check per list, not one schema per number: a control plane reads ~200,000 of them from 100
// proxies on every ask (zod per element took 4x as long as parsing the JSON).
const isCounts = (v: unknown): v is number[] => Array.isArray(v) && v.length <= 1_000 && v.every((n) => Number.isSafeInteger(n) && n >= 0);
const counts = (what: string) => z.custom<number[]>(isCounts, { message: 'must be a list of at most 1000 whole numbers, none negative' }).meta({ description: what });
const countSeries = {
  requests: counts('requests answered in each bucket, oldest first'),
  errors: counts('of those, answered with a 5xx status'),
  latency: z
    .custom<number[][]>((v) => Array.isArray(v) && v.length <= 1_000 && v.every(isCounts), { message: 'must be a list of lists of whole numbers' })
    .meta({ description: 'per bucket, requests per latency slot; trailing zeros left out' }),
};

/** Routes a traffic summary lists, the busiest first, unless asked for another number; and at most. */
export const DEFAULT_TOP_ROUTES = 20;
export const MAX_TOP_ROUTES = 200;

/** A proxy's admin port, GET /traffic: what the control plane adds up (its own clock's buckets). */
export const trafficSummarySchema = z.object({
  bucketMs: z.number().int().min(1_000),
  start: z.number().int().meta({ description: 'start of the oldest bucket, ms since the epoch' }),
  now: z.number().int().meta({ description: 'when it was taken: the newest bucket runs until now' }),
  latencyBoundsMs: z.array(z.number().positive()).min(1).max(64).meta({ description: 'upper bound of each latency slot; one more slot holds what is above the last' }),
  total: z.object(countSeries),
  routes: z.array(z.object({ route: z.string().max(200), ...countSeries })).max(1_000),
  routesWithTraffic: z.number().int(),
});
export type TrafficSummary = z.infer<typeof trafficSummarySchema>;

const rateSeries = {
  requestsPerSecond: z.array(z.number()),
  errorRate: z.array(z.number().nullable()).meta({ description: 'share of 5xx answers, 0 to 1; null without requests' }),
  p99Ms: z.array(z.number().nullable()).meta({ description: 'latency p99 in ms, interpolated within the latency bounds of /metrics; null without requests' }),
  requests: z.number().int().meta({ description: 'requests in the whole window' }),
  errors: z.number().int(),
};

export const trafficSchema = z.object({
  bucketMs: z.number().int(),
  start: z.number().int().meta({ description: 'start of the oldest bucket, ms since the epoch; the newest bucket runs until now' }),
  now: z.number().int(),
  fleet: z.object(rateSeries),
  proxies: z.array(z.union([z.object({ id: z.string(), ...rateSeries }), z.object({ id: z.string(), error: z.string().meta({ description: 'why its numbers are missing' }) })])),
  routes: z.array(z.object({ route: z.string(), proxies: z.number().int().meta({ description: 'proxies that count it among their busiest routes' }), ...rateSeries })),
});
export type Traffic = z.infer<typeof trafficSchema>;

const tokenName = z.string().regex(ID_PATTERN, 'must match [a-z0-9][a-z0-9._-]{0,62}');

export const tokenRequestSchema = z
  .strictObject({
    name: tokenName.optional().meta({ description: 'recorded as the author of its writes; default <role>-<random> (gitops-<random> for a GitOps token)' }),
    role: z.enum(ROLES).meta({ description: 'viewer: read; editor: also write config; admin: also manage tokens' }),
    for: z.enum(TOKEN_PURPOSES).optional().meta({ description: "gitops: the GitOps agent's token (role editor), which may say X-Signalbox-Source: gitops (as may an admin's)" }),
    ttlSeconds: z.number().int().min(1).max(MAX_TOKEN_TTL_SECONDS).optional().meta({ description: 'the token is refused (401) this many seconds after its creation; default: never' }),
  })
  .superRefine((r, ctx) => {
    if (r.for === 'gitops' && r.role !== 'editor') ctx.addIssue({ code: 'custom', path: ['role'], message: 'a token for gitops has role editor' });
  });

export const tokenInfoSchema = z.object({
  name: z.string(),
  role: z.enum(ROLES),
  for: z.enum(TOKEN_PURPOSES).optional(),
  createdAt: z.string(),
  createdBy: z.string(),
  expiresAt: z.string().optional().meta({ description: 'when the token stops working; absent: never' }),
  lastUsedAt: z.string().optional().meta({ description: 'when a request last used it (recorded at most once a minute per control plane); absent: never used' }),
});
export type TokenInfo = z.infer<typeof tokenInfoSchema>;

export const createdTokenSchema = tokenInfoSchema.extend({ token: z.string().meta({ description: 'the bearer token; shown once' }) });
export const tokenListSchema = z.object({ tokens: z.array(tokenInfoSchema) });
export const deletedTokenSchema = z.object({ deleted: z.string() });

export const GITOPS_STATES = ['synced', 'uncommitted', 'invalid', 'drift', 'error'] as const;

const problemSchema = z.strictObject({
  file: z.string().optional().meta({ description: 'relative to the folder' }),
  path: z.string(),
  line: z.number().int().optional(),
  message: z.string(),
});

/** What the agent reports after every sync (`PUT /gitops/status`). */
export const gitopsReportSchema = z.strictObject({
  dir: z.string().meta({ description: 'the folder the agent keeps the live config equal to' }),
  commit: z.string().nullable().meta({ description: 'the commit checked out there; null when the folder is not in a git work tree' }),
  subject: z.string().nullable().meta({ description: "that commit's subject line" }),
  state: z.enum(GITOPS_STATES).meta({
    description:
      'synced: live equals the folder · uncommitted: config files differ from the commit, nothing applied until they are committed · ' +
      'invalid: the folder does not validate, the last good version stays live · drift: the live config was changed outside git and ' +
      'is not overwritten without --force · error: the control plane refused or could not be reached',
  }),
  force: z.boolean().meta({ description: 'started with --force: changes made outside git are overwritten' }),
  lastSyncAt: z.string(),
  liveVersion: z.number().int().nullable(),
  lastAppliedVersion: z.number().int().nullable().meta({ description: 'the last version the agent wrote, or found equal to the folder' }),
  uncommitted: z.array(z.string()).meta({ description: 'config files (relative to the repository) that differ from the commit' }),
  error: z.strictObject({ message: z.string(), details: z.array(problemSchema) }).nullable(),
  drift: z
    .strictObject({
      version: z.number().int().meta({ description: 'the live version written outside git' }),
      author: z.string(),
      source: z.string(),
      at: z.string(),
      changes: z.array(changeSummarySchema).meta({ description: 'what applying the folder would change in the live config' }),
    })
    .nullable(),
});
export type GitopsReport = z.infer<typeof gitopsReportSchema>;

/** A report as stored and answered: who sent it, and when. */
export const gitopsStatusSchema = gitopsReportSchema.extend({ reportedBy: z.string(), reportedAt: z.string() });
export type GitopsStatus = z.infer<typeof gitopsStatusSchema>;

export const syncRequestSchema = z.strictObject({
  id: z.number().int().meta({ description: 'grows with every request' }),
  force: z.boolean().meta({ description: 'this one sync overwrites changes made outside git' }),
  requestedBy: z.string(),
  requestedAt: z.string(),
});
export type SyncRequest = z.infer<typeof syncRequestSchema>;

export const gitopsStateSchema = z.object({ status: gitopsStatusSchema.nullable(), syncRequest: syncRequestSchema.nullable() });
export const gitopsWaitSchema = z.object({ syncRequest: syncRequestSchema.nullable(), liveVersion: z.number().int() });
