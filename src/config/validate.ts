// Structural (schema) and semantic (references, uniqueness, certificates) validation.
// Every problem is collected, never just the first, so a user fixes a document in one pass.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import type { z } from 'zod';
import { KINDS, documentSchema, type Config, type ConfigObject, type Kind } from './schema.js';

export type PathSegment = string | number;

export interface ConfigIssue {
  path: string;
  message: string;
  file?: string;
  line?: number;
}

export type ValidationResult = { ok: true; config: Config } | { ok: false; issues: ConfigIssue[] };

/** `routes[2].match.paths[0]`: the notation every error message uses. */
export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_$][\w$]*$/.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out || '(document)';
}

export function formatIssue(issue: ConfigIssue): string {
  const where = issue.file ? `${issue.file}${issue.line ? `:${issue.line}` : ''}: ` : '';
  return `${where}${issue.path}: ${issue.message}`;
}

/** An issue before it is placed in a file: the raw path, so a locator can find its line. */
export interface RawIssue {
  path: PathSegment[];
  message: string;
}

export function schemaIssues(error: z.ZodError): RawIssue[] {
  const out: RawIssue[] = [];
  for (const issue of error.issues) {
    const path = issue.path.filter((p): p is PathSegment => typeof p !== 'symbol');
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) out.push({ path: [...path, key], message: 'unknown field' });
    } else {
      out.push({ path, message: issue.message });
    }
  }
  return out;
}

export function normalize(doc: z.infer<typeof documentSchema>): Config {
  const byId = <T extends { id: string }>(xs: T[] | undefined): T[] =>
    [...(xs ?? [])].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return {
    upstreams: byId(doc.upstreams),
    routes: byId(doc.routes),
    policies: byId(doc.policies),
    certificates: byId(doc.certificates),
  };
}

/**
 * Cross-object checks on a structurally valid document. Paths index into `doc` as given
 * (before sorting), so they point at what the user wrote.
 */
export function semanticIssues(
  doc: z.infer<typeof documentSchema>,
  describe: (kind: Kind, index: number) => string = (kind, i) => `${kind}[${i}]`,
): RawIssue[] {
  const issues: RawIssue[] = [];
  const ids = {} as Record<Kind, Map<string, number>>;
  for (const kind of KINDS) {
    const seen = new Map<string, number>();
    (doc[kind] as ConfigObject[] | undefined)?.forEach((obj, i) => {
      const first = seen.get(obj.id);
      if (first !== undefined) {
        issues.push({ path: [kind, i, 'id'], message: `duplicate id "${obj.id}" (also ${describe(kind, first)})` });
      } else {
        seen.set(obj.id, i);
      }
    });
    ids[kind] = seen;
  }

  doc.routes?.forEach((route, i) => {
    if (!ids.upstreams.has(route.upstream)) {
      issues.push({ path: ['routes', i, 'upstream'], message: `unknown upstream "${route.upstream}"` });
    }
    route.policies?.forEach((p, j) => {
      if (!ids.policies.has(p)) issues.push({ path: ['routes', i, 'policies', j], message: `unknown policy "${p}"` });
    });
  });

  const sniOwner = new Map<string, string>();
  doc.certificates?.forEach((cert, i) => {
    issues.push(...certificateIssues(cert.cert, cert.key).map((message) => ({ path: ['certificates', i], message })));
    cert.snis.forEach((sni, j) => {
      const owner = sniOwner.get(sni);
      if (owner !== undefined) {
        issues.push({ path: ['certificates', i, 'snis', j], message: `SNI "${sni}" is already served by certificate "${owner}"` });
      } else {
        sniOwner.set(sni, cert.id);
      }
    });
  });
  return issues;
}

function certificateIssues(certPem: string, keyPem: string): string[] {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch {
    return ['cert is not a PEM certificate'];
  }
  try {
    if (!cert.checkPrivateKey(createPrivateKey(keyPem))) return ['key does not belong to cert'];
  } catch {
    return ['key is not a PEM private key'];
  }
  return [];
}

/** Validate a single parsed document (no file context). */
export function validateDocument(input: unknown): ValidationResult {
  const parsed = documentSchema.safeParse(input ?? {});
  const raw = parsed.success ? semanticIssues(parsed.data) : schemaIssues(parsed.error);
  if (raw.length > 0) return { ok: false, issues: raw.map((r) => ({ path: formatPath(r.path), message: r.message })) };
  return { ok: true, config: normalize(parsed.data!) };
}
