// What `-o table` shows of each thing the API lists: the fields a person scans for, one line each.
// The full object is always a `-o yaml` away.
import type { TokenInfo, Version } from '../api/schemas.js';
import type { Certificate, Consumer, ObjectKind, Policy, Route, Upstream } from '../config/schema.js';
import type { Columns } from './output.js';

const list = (values: readonly string[] | undefined, none: string) => (values && values.length > 0 ? values.join(',') : none);

/** An ISO time to the second: milliseconds are noise in a table. */
const seconds = (iso: string | undefined) => (iso ? iso.replace(/\.\d+Z$/, 'Z') : '-');

/** What a route does, in a few words: its upstream, its split, or the answer it gives. */
function action(r: Route): string {
  if (r.split) return `split ${r.split.map((a) => `${a.upstream}:${a.weight}`).join(',')}`;
  if (r.redirect) return `redirect ${r.redirect.status} ${r.redirect.location ?? `to ${r.redirect.scheme}`}`;
  if (r.respond) return `respond ${r.respond.status}`;
  return r.upstream ?? '-';
}

const routes: Columns<Route> = {
  header: ['ID', 'HOSTS', 'PATHS', 'METHODS', 'ACTION', 'POLICIES'],
  // A route without hosts or methods matches any: say so rather than leave a blank.
  row: (r) => [r.id, list(r.match.hosts, 'any'), r.match.pathRegex ?? list(r.match.paths, '-'), list(r.match.methods, 'any'), action(r), list(r.policies, '-')],
};

const upstreams: Columns<Upstream> = {
  header: ['ID', 'TARGETS'],
  row: (u) => [u.id, list(u.targets.map((t) => (t.weight === undefined ? t.url : `${t.url} (weight ${t.weight})`)), '-')],
};

const policies: Columns<Policy> = {
  header: ['ID', 'TYPE', 'SETTINGS'],
  // Every field but id and type, so a policy type added later shows without a change here.
  row: ({ id, type, ...settings }) => [id, type, Object.entries(settings).map(([k, v]) => `${k}=${setting(v)}`).join(' ') || '-'],
};

/** A setting on one line of a table cell: objects as JSON, and long values (PEM keys, key sets) cut. */
function setting(v: unknown): string {
  const text = (typeof v === 'string' ? v : JSON.stringify(v)).replace(/\s+/g, ' ');
  return text.length > MAX_SETTING ? `${text.slice(0, MAX_SETTING - 1)}…` : text;
}
const MAX_SETTING = 48;

const certificates: Columns<Certificate> = {
  header: ['ID', 'SNIS', 'NOT-AFTER', 'KEY-SHA256'],
  row: (c) => [c.id, list(c.snis, '-'), seconds(c.notAfter), c.keySha256 ? `${c.keySha256.slice(0, 16)}…` : '-'],
};

// Secrets only as counts: the stored forms are not for scanning.
const consumers: Columns<Consumer> = {
  header: ['ID', 'KEYS', 'BASIC-USERNAME'],
  row: (c) => [c.id, String(c.keys?.length ?? 0), c.basic?.username ?? '-'],
};

export const objectColumns = { routes, upstreams, policies, certificates, consumers } as const satisfies Record<ObjectKind, Columns<never>>;

export const versionColumns: Columns<Version> = {
  header: ['VERSION', 'TIME', 'SOURCE', 'AUTHOR', 'ROUTES', 'UPSTREAMS', 'POLICIES', 'CERTS', 'MESSAGE'],
  row: (v) => [
    String(v.version),
    seconds(v.at),
    v.source,
    v.author,
    ...[v.counts.routes, v.counts.upstreams, v.counts.policies, v.counts.certificates].map(String),
    v.message,
  ],
};

export const tokenColumns: Columns<TokenInfo> = {
  header: ['NAME', 'ROLE', 'CREATED', 'CREATED-BY', 'EXPIRES', 'LAST-USED'],
  // A GitOps token is an editor made for one job: say so where the role is.
  row: (t) => [t.name, t.for ? `${t.role} (for ${t.for})` : t.role, seconds(t.createdAt), t.createdBy, t.expiresAt ? seconds(t.expiresAt) : 'never', seconds(t.lastUsedAt)],
};
