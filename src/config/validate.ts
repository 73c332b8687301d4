// Structural (schema) and semantic (references, uniqueness, certificates) validation.
// Every problem is collected, never just the first, so a user fixes a document in one pass.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import type { z } from 'zod';
import { KINDS, documentSchema, perKind, type Certificate, type Config, type Kind } from './schema.js';

export type PathSegment = string | number;

export interface ConfigIssue {
  path: string;
  message: string;
  file?: string;
  line?: number;
}

export type ValidationResult = { ok: true; config: Config } | { ok: false; issues: ConfigIssue[] };

/**
 * Where a certificate left without `key` gets one. The control plane passes the keys it stores,
 * by id; the CLI, which never sees keys, passes 'control-plane' to leave that check to it. Without
 * it a key is required: etcd and proxies only ever hold complete certificates.
 */
export type StoredKeys = ReadonlyMap<string, string> | 'control-plane';

export interface ValidateOptions {
  storedKeys?: StoredKeys;
}

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

/** Shown by the control plane, ignored on input (schema.ts): never part of a stored config. */
const READ_ONLY_CERTIFICATE_FIELDS = ['keySha256', 'notAfter'] as const;

function withoutReadOnly(cert: Certificate): Certificate {
  const copy = { ...cert };
  for (const field of READ_ONLY_CERTIFICATE_FIELDS) delete copy[field];
  return copy;
}

export function normalize(doc: z.infer<typeof documentSchema>): Config {
  const byId = <T extends { id: string }>(xs: T[] | undefined): T[] =>
    [...(xs ?? [])].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return {
    upstreams: byId(doc.upstreams),
    routes: byId(doc.routes),
    policies: byId(doc.policies),
    certificates: byId(doc.certificates).map(withoutReadOnly),
  };
}

/** Objects of each kind as written, possibly malformed: what reference checks can still read. */
export type LooseLists = Record<Kind, readonly unknown[]>;

/** The per-kind lists of an unvalidated document (anything not a list counts as empty). */
export function looseLists(input: unknown): LooseLists {
  const doc = (typeof input === 'object' && input !== null ? input : {}) as Record<string, unknown>;
  const list = (kind: Kind) => (Array.isArray(doc[kind]) ? (doc[kind] as unknown[]) : []);
  return perKind(list);
}

type Describe = (kind: Kind, index: number) => string;
const defaultDescribe: Describe = (kind, i) => `${kind}[${i}]`;

/**
 * Duplicate ids and references to unknown upstreams and policies. Reads objects loosely, so it
 * also runs on a document with schema errors: a user sees every problem in one pass. Paths
 * index into the lists as given (before sorting), so they point at what the user wrote.
 */
export function referenceIssues(lists: LooseLists, describe: Describe = defaultDescribe): RawIssue[] {
  const field = (obj: unknown, name: string): unknown => (typeof obj === 'object' && obj !== null ? (obj as Record<string, unknown>)[name] : undefined);
  const issues: RawIssue[] = [];
  const ids = {} as Record<Kind, Map<string, number>>;
  for (const kind of KINDS) {
    const seen = new Map<string, number>();
    lists[kind].forEach((obj, i) => {
      const id = field(obj, 'id');
      if (typeof id !== 'string') return;
      const first = seen.get(id);
      if (first !== undefined) {
        issues.push({ path: [kind, i, 'id'], message: `duplicate id "${id}" (also ${describe(kind, first)})` });
      } else {
        seen.set(id, i);
      }
    });
    ids[kind] = seen;
  }
  lists.routes.forEach((route, i) => {
    const upstream = field(route, 'upstream');
    if (typeof upstream === 'string' && !ids.upstreams.has(upstream)) {
      issues.push({ path: ['routes', i, 'upstream'], message: `unknown upstream "${upstream}"` });
    }
    const policies = field(route, 'policies');
    if (!Array.isArray(policies)) return;
    policies.forEach((p: unknown, j) => {
      if (typeof p === 'string' && !ids.policies.has(p)) issues.push({ path: ['routes', i, 'policies', j], message: `unknown policy "${p}"` });
    });
  });
  return issues;
}

/**
 * Give each certificate left without `key` the key stored for its id, replacing the element of
 * `certificates` (never the caller's object). Returns the indexes given a stored key, and an issue
 * for each certificate that stays without one while a key is required.
 */
function fillStoredKeys(certificates: unknown[], stored: StoredKeys | undefined): { filled: Set<number>; issues: RawIssue[] } {
  const filled = new Set<number>();
  const issues: RawIssue[] = [];
  if (stored === 'control-plane') return { filled, issues };
  certificates.forEach((cert, i) => {
    if (typeof cert !== 'object' || cert === null || (cert as { key?: unknown }).key !== undefined) return;
    const id = (cert as { id?: unknown }).id;
    const key = typeof id === 'string' ? stored?.get(id) : undefined;
    if (key !== undefined) {
      certificates[i] = { ...cert, key };
      filled.add(i);
    } else {
      issues.push({ path: ['certificates', i, 'key'], message: stored ? `required: the control plane stores no key for certificate "${String(id)}"` : 'required' });
    }
  });
  return { filled, issues };
}

/**
 * Checks of a structurally valid document that the schema cannot express: references, SNIs, key
 * pairs. `storedKeyAt`: the certificates (by index) whose key is the stored one, not the document's.
 */
export function semanticIssues(
  doc: z.infer<typeof documentSchema>,
  describe: Describe = defaultDescribe,
  storedKeyAt: ReadonlySet<number> = new Set(),
): RawIssue[] {
  const issues = referenceIssues(looseLists(doc), describe);
  const sniOwner = new Map<string, string>();
  doc.certificates?.forEach((cert, i) => {
    // Without a key here, the control plane checks the pair once it has filled in the stored key.
    const problem = cert.key === undefined ? null : certificateProblem(cert.cert, cert.key);
    if (problem === 'mismatch' && storedKeyAt.has(i)) {
      issues.push({ path: ['certificates', i, 'key'], message: `the key stored for certificate "${cert.id}" does not belong to this cert; give the cert's key too` });
    } else if (problem) {
      issues.push({ path: ['certificates', i], message: problem === 'mismatch' ? 'key does not belong to cert' : problem });
    }
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

function certificateProblem(certPem: string, keyPem: string): string | 'mismatch' | null {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch {
    return 'cert is not a PEM certificate';
  }
  try {
    return cert.checkPrivateKey(createPrivateKey(keyPem)) ? null : 'mismatch';
  } catch {
    return 'key is not a PEM private key';
  }
}

export type DocumentParse = ReturnType<typeof documentSchema.safeParse>;

/** Schema check of one document (kept by callers that validate the same documents again). */
export function parseDocument(data: unknown): DocumentParse {
  return documentSchema.safeParse(data ?? {});
}

/** One document among those merged into a desired state. */
export interface DocumentSource {
  data: unknown;
  /** parseDocument(data), when the caller has it already. */
  parsed?: DocumentParse;
  /** Where an issue of this document is, e.g. its file and line. */
  place(issue: RawIssue): ConfigIssue;
  /** Names the document in messages that point at another object, e.g. "in users.yaml". */
  name?: string;
}

/**
 * Validate documents as ONE desired state: their objects are merged per kind, and a problem
 * found in the merged whole is reported where its object came from. A document with schema
 * errors still contributes its objects, read loosely, so references are checked across all of
 * them and every problem is listed in one pass.
 */
export function validateMerged(sources: readonly DocumentSource[], opts: ValidateOptions = {}): ValidationResult {
  const issues: ConfigIssue[] = [];
  const merged = perKind<unknown[]>(() => []);
  const origins = perKind<{ source: DocumentSource; index: number }[]>(() => []);
  let wellFormed = true;
  for (const source of sources) {
    const result = source.parsed ?? parseDocument(source.data);
    if (!result.success) {
      wellFormed = false;
      issues.push(...schemaIssues(result.error).map((r) => source.place(r)));
    }
    const lists = result.success ? result.data : looseLists(source.data);
    for (const kind of KINDS) {
      (lists[kind] ?? []).forEach((obj: unknown, index: number) => {
        merged[kind].push(obj);
        origins[kind].push({ source, index });
      });
    }
  }

  const doc = merged as z.infer<typeof documentSchema>;
  const describe: Describe = (kind, i) => {
    const o = origins[kind][i]!;
    return `${kind}[${o.index}]${o.source.name ? ` in ${o.source.name}` : ''}`;
  };
  const taken = new Set(issues.map((i) => `${i.file}\0${i.path}`));
  const keys = fillStoredKeys(merged.certificates, opts.storedKeys);
  for (const r of [...keys.issues, ...(wellFormed ? semanticIssues(doc, describe, keys.filled) : referenceIssues(merged, describe))]) {
    const [kind, i, ...rest] = r.path as [Kind, number, ...PathSegment[]];
    const o = origins[kind][i]!;
    const issue = o.source.place({ path: [kind, o.index, ...rest], message: r.message });
    if (!taken.has(`${issue.file}\0${issue.path}`)) issues.push(issue);
  }
  return issues.length > 0 ? { ok: false, issues } : { ok: true, config: normalize(doc) };
}

/** Validate a single parsed document (no file context). */
export function validateDocument(input: unknown, opts: ValidateOptions = {}): ValidationResult {
  return validateMerged([{ data: input, place: (r) => ({ path: formatPath(r.path), message: r.message }) }], opts);
}
