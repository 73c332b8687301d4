// Structural (schema) and semantic (references, uniqueness, certificates) validation.
// Every problem is collected, not just the first, so a user fixes a document in one pass; but only
// the first MAX_ISSUES are listed, and a hostile document cannot make the list (or the work of
// finding it) grow without bound.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { z } from 'zod';
import { JWT_KEY_SOURCES, jwtPolicy } from './policies/index.js';
import { KINDS, SETTINGS_ID, listsSchema, objectSchemas, perKind, type Certificate, type Config, type ConfigObject, type Consumer, type Kind, type Policy } from './schema.js';
import { PASSWORD_HASH_PREFIX, fingerprint, keyDigest, passwordHashOf } from './secrets.js';

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
 * by id; the CLI, which never sees keys, passes 'control-plane' to leave that check to it (and
 * consumers' plain passwords too: only the control plane, which holds the stored hashes, can tell
 * a password that did not change). Without it a key is required: etcd and proxies only ever hold
 * complete certificates.
 */
export type StoredKeys = ReadonlyMap<string, string> | 'control-plane';

export interface ValidateOptions {
  storedKeys?: StoredKeys;
  /**
   * The jwt policies' secrets the control plane stores, by policy id: a jwt policy left without
   * any key source gets its stored secret, as a certificate gets its stored key. With storedKeys
   * 'control-plane', that check is left to the control plane too.
   */
  storedSecrets?: ReadonlyMap<string, string>;
  /**
   * The valid object of this kind equal to `object`, when one is known (the live config's): its
   * schema check is skipped and it stands in for `object`. undefined: check `object`.
   */
  known?: (kind: Kind, object: unknown) => ConfigObject | undefined;
  /**
   * The password hash stored for a consumer id (the control plane's live config): a plain
   * password that matches it keeps it, so applying the same document again changes nothing.
   */
  storedPassword?: (consumerId: string) => string | undefined;
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

/** The most problems a validation lists; what it found beyond them is counted in a last line. */
export const MAX_ISSUES = 100;
/** Past the listed ones, problems are counted up to this many, then checking stops. */
const MAX_COUNTED = 10_000;

/**
 * Problems as they are found: the first MAX_ISSUES are kept, the next ones only counted, and once
 * MAX_COUNTED more are counted, `done` tells the checks to stop.
 */
export class IssueList {
  private readonly kept: ConfigIssue[] = [];
  private more = 0;
  /** Where each issue added is (its document and path), so one place is not reported twice. */
  private readonly places = new Set<string>();

  get done(): boolean {
    return this.more >= MAX_COUNTED;
  }

  get empty(): boolean {
    return this.kept.length === 0;
  }

  has(place: string): boolean {
    return this.places.has(place);
  }

  /** An issue at `place`; `make` (which may look up its line) runs only for one that is kept. */
  add(place: string, make: () => ConfigIssue): void {
    if (this.done) return;
    this.places.add(place);
    if (this.kept.length < MAX_ISSUES) this.kept.push(make());
    else this.more++;
  }

  /** The issues kept, and a last one saying how many more there are. */
  list(): ConfigIssue[] {
    if (this.more === 0) return this.kept;
    const more = this.done ? `at least ${this.more} more problems (checking stopped there)` : `${this.more} more problem${this.more === 1 ? '' : 's'}`;
    return [...this.kept, { path: '(document)', message: `and ${more}; fix these first` }];
  }
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

/** A consumer with its secrets in their stored forms (secrets.ts). */
function withHashedSecrets(consumer: Consumer, opts: Pick<ValidateOptions, 'storedKeys' | 'storedPassword'>): Consumer {
  const out: Consumer = { ...consumer };
  if (consumer.keys !== undefined) out.keys = consumer.keys.map(keyDigest);
  if (consumer.basic !== undefined && opts.storedKeys !== 'control-plane') out.basic = { username: consumer.basic.username, password: passwordHashOf(consumer.basic.password, opts.storedPassword?.(consumer.id)) };
  return out;
}

/** A jwt policy's secretSha256 is shown by the control plane and ignored on input, like keySha256. */
function withoutSecretSha256(policy: Policy): Policy {
  if (policy.type !== 'jwt' || policy.secretSha256 === undefined) return policy;
  const copy = { ...policy };
  delete copy.secretSha256;
  return copy;
}

export function normalize(doc: z.infer<typeof listsSchema>, opts: Pick<ValidateOptions, 'storedKeys' | 'storedPassword'> = {}): Config {
  const byId = <T extends { id: string }>(xs: T[] | undefined): T[] =>
    [...(xs ?? [])].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return {
    upstreams: byId(doc.upstreams),
    routes: byId(doc.routes),
    policies: byId(doc.policies).map(withoutSecretSha256),
    certificates: byId(doc.certificates).map(withoutReadOnly),
    consumers: byId(doc.consumers).map((c) => withHashedSecrets(c, opts)),
    settings: byId(doc.settings),
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
const defaultDescribe: Describe = (kind, i) => (kind === 'settings' ? 'globalPolicies' : `${kind}[${i}]`);

/**
 * A path as the user wrote it: the settings object is the document's top-level fields, so
 * `settings[0].globalPolicies[1]` is `globalPolicies[1]`.
 */
function documentPath(path: readonly PathSegment[]): PathSegment[] {
  if (path[0] !== 'settings' || path.length < 2) return [...path];
  return path.length > 2 && path[2] !== 'id' ? path.slice(2) : ['globalPolicies'];
}

/**
 * A document with its top-level fields as the settings object they are stored as. A `settings`
 * list (the stored form: history snapshots and the live config hold it) is taken as it is;
 * giving both forms is refused.
 */
function liftDocument(data: unknown, onIssue: (issue: RawIssue) => void): unknown {
  if (typeof data !== 'object' || data === null || Array.isArray(data) || !Object.hasOwn(data, 'globalPolicies')) return data;
  const { globalPolicies, ...lists } = data as Record<string, unknown>;
  if (lists.settings !== undefined) {
    onIssue({ path: ['settings'], message: 'give globalPolicies or settings (their stored form), not both' });
    return lists;
  }
  // Settings at their defaults are no object: a config without global policies stores, hashes
  // and diffs as it did before they existed.
  const none = globalPolicies === undefined || (Array.isArray(globalPolicies) && globalPolicies.length === 0);
  return none ? lists : { ...lists, settings: [{ id: SETTINGS_ID, globalPolicies }] };
}

/**
 * Duplicate ids and references to unknown upstreams and policies. Reads objects loosely, so it
 * also runs on a document with schema errors: a user sees every problem in one pass. Paths
 * index into the lists as given (before sorting), so they point at what the user wrote.
 */
export function* referenceIssues(lists: LooseLists, describe: Describe = defaultDescribe): Generator<RawIssue> {
  const field = (obj: unknown, name: string): unknown => (typeof obj === 'object' && obj !== null ? (obj as Record<string, unknown>)[name] : undefined);
  const ids = {} as Record<Kind, Map<string, number>>;
  for (const kind of KINDS) {
    const seen = new Map<string, number>();
    const list = lists[kind];
    for (let i = 0; i < list.length; i++) {
      const id = field(list[i], 'id');
      if (typeof id !== 'string') continue;
      const first = seen.get(id);
      if (first !== undefined) yield { path: [kind, i, 'id'], message: kind === 'settings' ? `given twice (also ${describe(kind, first)})` : `duplicate id "${id}" (also ${describe(kind, first)})` };
      else seen.set(id, i);
    }
    ids[kind] = seen;
  }
  for (let i = 0; i < lists.upstreams.length; i++) {
    const cert = field(field(lists.upstreams[i], 'tls'), 'clientCertificate');
    if (typeof cert === 'string' && !ids.certificates.has(cert)) yield { path: ['upstreams', i, 'tls', 'clientCertificate'], message: `unknown certificate "${cert}"` };
  }
  for (let i = 0; i < lists.settings.length; i++) {
    const global = field(lists.settings[i], 'globalPolicies');
    if (!Array.isArray(global)) continue;
    for (let j = 0; j < global.length; j++) {
      const p: unknown = global[j];
      if (typeof p === 'string' && !ids.policies.has(p)) yield { path: ['settings', i, 'globalPolicies', j], message: `unknown policy "${p}"` };
    }
  }
  for (let i = 0; i < lists.routes.length; i++) {
    const route = lists.routes[i];
    const upstream = field(route, 'upstream');
    if (typeof upstream === 'string' && !ids.upstreams.has(upstream)) yield { path: ['routes', i, 'upstream'], message: `unknown upstream "${upstream}"` };
    const split = field(route, 'split');
    if (Array.isArray(split)) {
      for (let j = 0; j < split.length; j++) {
        const arm = field(split[j], 'upstream');
        if (typeof arm === 'string' && !ids.upstreams.has(arm)) yield { path: ['routes', i, 'split', j, 'upstream'], message: `unknown upstream "${arm}"` };
      }
    }
    const policies = field(route, 'policies');
    if (!Array.isArray(policies)) continue;
    for (let j = 0; j < policies.length; j++) {
      const p: unknown = policies[j];
      if (typeof p === 'string' && !ids.policies.has(p)) yield { path: ['routes', i, 'policies', j], message: `unknown policy "${p}"` };
    }
  }
}

/**
 * Give each certificate left without `key` the key stored for its id, replacing the element of
 * `certificates` (never the caller's object). Returns the indexes given a stored key, and an issue
 * for each certificate that stays without one while a key is required.
 */
function fillStoredKeys(certificates: unknown[], stored: StoredKeys | undefined, onIssue: (issue: RawIssue) => void): Set<number> {
  const filled = new Set<number>();
  if (stored === 'control-plane') return filled;
  for (let i = 0; i < certificates.length; i++) {
    const cert = certificates[i];
    if (typeof cert !== 'object' || cert === null || (cert as { key?: unknown }).key !== undefined) continue;
    const id = (cert as { id?: unknown }).id;
    const key = typeof id === 'string' ? stored?.get(id) : undefined;
    if (key !== undefined) {
      certificates[i] = { ...cert, key };
      filled.add(i);
    } else {
      onIssue({ path: ['certificates', i, 'key'], message: stored ? `required: the control plane stores no key for certificate "${String(id)}"` : 'required' });
    }
  }
  return filled;
}

/**
 * Give each jwt policy left without a key source the secret stored for its id (replacing the
 * element, never the caller's object), and check it again with that secret (its algorithms must
 * suit it). An issue for each that stays without a key while one is required.
 */
function fillStoredSecrets(policies: unknown[], opts: ValidateOptions, onIssue: (issue: RawIssue) => void): void {
  if (opts.storedKeys === 'control-plane') return;
  for (let i = 0; i < policies.length; i++) {
    const policy = policies[i] as Record<string, unknown> | null;
    if (typeof policy !== 'object' || policy === null || policy.type !== 'jwt' || JWT_KEY_SOURCES.some((f) => policy[f] !== undefined)) continue;
    const secret = typeof policy.id === 'string' ? opts.storedSecrets?.get(policy.id) : undefined;
    if (secret === undefined) {
      const stored = opts.storedSecrets ? `; the control plane stores no secret for policy "${String(policy.id)}"` : '';
      onIssue({ path: ['policies', i], message: `required: one of ${JWT_KEY_SOURCES.join(', ')}${stored}` });
      continue;
    }
    policies[i] = { ...policy, secret };
    const again = jwtPolicy.safeParse(policies[i]);
    if (!again.success) for (const r of schemaIssues(again.error)) onIssue({ path: ['policies', i, ...r.path], message: `${r.message} (with the secret stored for "${String(policy.id)}")` });
  }
}

/**
 * Checks of a structurally valid document that the schema cannot express: references, SNIs, key
 * pairs. `storedKeyAt`: the certificates (by index) whose key is the stored one, not the document's.
 */
export function* semanticIssues(
  doc: z.infer<typeof listsSchema>,
  describe: Describe = defaultDescribe,
  storedKeyAt: ReadonlySet<number> = new Set(),
): Generator<RawIssue> {
  yield* referenceIssues(looseLists(doc), describe);
  const upstreams = doc.upstreams ?? [];
  for (let i = 0; i < upstreams.length; i++) {
    const ca = upstreams[i]!.tls?.ca;
    if (ca !== undefined && !isPemCertificates(ca)) yield { path: ['upstreams', i, 'tls', 'ca'], message: 'is not PEM: one or more "-----BEGIN CERTIFICATE-----" blocks' };
  }
  const sniOwner = new Map<string, string>();
  const certificates = doc.certificates ?? [];
  for (let i = 0; i < certificates.length; i++) {
    const cert = certificates[i]!;
    // Without a key here, the control plane checks the pair once it has filled in the stored key.
    const problem = cert.key === undefined ? null : certificateProblem(cert.cert, cert.key);
    if (problem === 'mismatch' && storedKeyAt.has(i)) {
      yield { path: ['certificates', i, 'key'], message: `the key stored for certificate "${cert.id}" does not belong to this cert; give the cert's key too` };
    } else if (problem) {
      yield { path: ['certificates', i], message: problem === 'mismatch' ? 'key does not belong to cert' : problem };
    }
    for (let j = 0; j < cert.snis.length; j++) {
      const sni = cert.snis[j]!;
      const owner = sniOwner.get(sni);
      if (owner !== undefined) yield { path: ['certificates', i, 'snis', j], message: `SNI "${sni}" is already served by certificate "${owner}"` };
      else sniOwner.set(sni, cert.id);
    }
  }
  yield* consumerIssues(doc.consumers ?? []);
}

/**
 * Plain passwords one document may hold: each costs an scrypt hash (about 50 ms of CPU) when it
 * is written, so a document of thousands would hold the control plane for minutes.
 */
export const MAX_PLAIN_PASSWORDS = 64;

/** Keys and basic usernames belong to one consumer each; a key is compared in its stored form. */
function* consumerIssues(consumers: readonly Consumer[]): Generator<RawIssue> {
  const keyOwner = new Map<string, string>();
  const userOwner = new Map<string, string>();
  let plainPasswords = 0;
  for (let i = 0; i < consumers.length; i++) {
    const c = consumers[i]!;
    const keys = c.keys ?? [];
    for (let j = 0; j < keys.length; j++) {
      const digest = keyDigest(keys[j]!);
      const owner = keyOwner.get(digest);
      // The fingerprint names the key without giving it (or its digest) away.
      if (owner !== undefined) yield { path: ['consumers', i, 'keys', j], message: `key ${fingerprint(digest)} already belongs to consumer "${owner}"` };
      else keyOwner.set(digest, c.id);
    }
    if (c.basic !== undefined) {
      const owner = userOwner.get(c.basic.username);
      if (owner !== undefined) yield { path: ['consumers', i, 'basic', 'username'], message: `username "${c.basic.username}" already belongs to consumer "${owner}"` };
      else userOwner.set(c.basic.username, c.id);
      if (!c.basic.password.startsWith(PASSWORD_HASH_PREFIX) && ++plainPasswords === MAX_PLAIN_PASSWORDS + 1) {
        yield { path: ['consumers', i, 'basic', 'password'], message: `more than ${MAX_PLAIN_PASSWORDS} plain passwords in one document (each is hashed with scrypt); give the others as their stored hashes, or write them in more than one change` };
      }
    }
  }
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g;

/**
 * Results remembered by a text key, at most `max` (all forgotten at once when full): a proxy
 * validates every revision whole, and parsing a certificate takes about a millisecond.
 */
class Remembered<V> {
  private readonly known = new Map<string, V>();
  constructor(private readonly max: number) {}

  get(key: string, compute: () => V): V {
    const hit = this.known.get(key);
    if (hit !== undefined || this.known.has(key)) return hit as V;
    const value = compute();
    if (this.known.size >= this.max) this.known.clear();
    this.known.set(key, value);
    return value;
  }
}

const checkedCas = new Remembered<boolean>(1_000);
const checkedPairs = new Remembered<string | 'mismatch' | null>(1_000);

/** One or more PEM certificates and nothing else but white space. */
function isPemCertificates(text: string): boolean {
  return checkedCas.get(text, () => parsesAsCertificates(text));
}

function parsesAsCertificates(text: string): boolean {
  const blocks = text.match(PEM_CERTIFICATE);
  if (blocks === null || text.replace(PEM_CERTIFICATE, '').trim() !== '') return false;
  try {
    for (const block of blocks) new X509Certificate(block);
  } catch {
    return false;
  }
  return true;
}

/**
 * What is wrong with a cert and key pair, checked as a proxy will use it: parsed, matched, and
 * loaded into a TLS context (OpenSSL refuses some pairs that parse and match, e.g. a 512-bit RSA
 * key: "ee key too small").
 */
function certificateProblem(certPem: string, keyPem: string): string | 'mismatch' | null {
  return checkedPairs.get(`${certPem}\0${keyPem}`, () => checkPair(certPem, keyPem));
}

function checkPair(certPem: string, keyPem: string): string | 'mismatch' | null {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch {
    return 'cert is not a PEM certificate';
  }
  try {
    if (!cert.checkPrivateKey(createPrivateKey(keyPem))) return 'mismatch';
  } catch {
    return 'key is not a PEM private key';
  }
  try {
    createSecureContext({ cert: certPem, key: keyPem });
  } catch (err) {
    return `TLS refuses this cert and key: ${(err as Error).message}`;
  }
  return null;
}

export type DocumentParse = ReturnType<typeof listsSchema.safeParse>;

/** Schema check of the lists of one document (settings as a list, as the store keeps them). */
export function parseDocument(data: unknown): DocumentParse {
  return listsSchema.safeParse(data ?? {});
}

/** The top of a document: which kinds, each a list, of objects checked one by one (checkObjects). */
const documentTop = z.strictObject(Object.fromEntries(KINDS.map((kind) => [kind, z.array(z.unknown()).optional()])) as Record<Kind, z.ZodOptional<z.ZodArray<z.ZodUnknown>>>);

/**
 * The schema check of `data`, object by object, each problem handed to `onIssue` as it is found,
 * until `stop()`: so the work and the problems kept stay bounded however many objects there are.
 * The lists are the checked objects where all are valid, otherwise the objects as written.
 */
function checkObjects(input: unknown, onIssue: (issue: RawIssue) => void, stop: () => boolean, known: ValidateOptions['known']): { ok: boolean; lists: Record<Kind, unknown[]> } {
  let lifted = true;
  const data = liftDocument(input, (issue) => {
    lifted = false;
    onIssue(issue);
  });
  const top = documentTop.safeParse(data ?? {});
  const written = top.success ? top.data : looseLists(data);
  const lists = perKind<unknown[]>(() => []);
  let ok = top.success && lifted;
  for (const kind of KINDS) {
    const objects = written[kind] ?? [];
    for (let i = 0; i < objects.length; i++) {
      if (stop()) return { ok: false, lists: looseLists(data) as Record<Kind, unknown[]> };
      const same = known?.(kind, objects[i]);
      if (same) {
        lists[kind].push(same);
        continue;
      }
      const parsed = objectSchemas[kind].safeParse(objects[i]);
      lists[kind].push(parsed.success ? parsed.data : objects[i]);
      if (parsed.success) continue;
      ok = false;
      for (const issue of schemaIssues(parsed.error)) onIssue({ path: [kind, i, ...issue.path], message: issue.message });
    }
  }
  // Unknown fields and lists that are not lists, after the objects, as a whole-document check says them.
  if (!top.success) for (const issue of schemaIssues(top.error)) onIssue(issue);
  return { ok, lists };
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
  const issues = new IssueList();
  const stop = () => issues.done;
  const merged = perKind<unknown[]>(() => []);
  const origins = perKind<{ source: DocumentSource; index: number }[]>(() => []);
  let wellFormed = true;
  const placeOf = (source: DocumentSource, r: RawIssue) => `${source.name ?? ''}\0${formatPath(r.path)}`;
  const placeIn = (source: DocumentSource, r: RawIssue) => source.place({ path: documentPath(r.path), message: r.message });
  for (const source of sources) {
    const onIssue = (r: RawIssue) => issues.add(placeOf(source, r), () => placeIn(source, r));
    let lists: Record<Kind, readonly unknown[]>;
    if (source.parsed) {
      if (!source.parsed.success) for (const r of schemaIssues(source.parsed.error)) onIssue(r);
      lists = source.parsed.success ? { ...perKind<unknown[]>(() => []), ...source.parsed.data } : looseLists(source.data);
      wellFormed &&= source.parsed.success;
    } else {
      const checked = checkObjects(source.data, onIssue, stop, opts.known);
      lists = checked.lists;
      wellFormed &&= checked.ok;
    }
    for (const kind of KINDS) {
      const list = lists[kind];
      for (let index = 0; index < list.length; index++) {
        merged[kind].push(list[index]);
        origins[kind].push({ source, index });
      }
    }
  }

  const doc = merged as z.infer<typeof listsSchema>;
  const describe: Describe = (kind, i) => {
    const o = origins[kind][i]!;
    return `${defaultDescribe(kind, o.index)}${o.source.name ? ` in ${o.source.name}` : ''}`;
  };
  // A problem found in the merged lists, placed in the document its object came from; not
  // reported again where the schema check found one already.
  const addNew = (r: RawIssue) => {
    const [kind, i, ...rest] = r.path as [Kind, number, ...PathSegment[]];
    const o = origins[kind][i]!;
    const raw = { path: [kind, o.index, ...rest], message: r.message };
    const place = placeOf(o.source, raw);
    if (!issues.has(place)) issues.add(place, () => placeIn(o.source, raw));
  };
  const filled = fillStoredKeys(merged.certificates, opts.storedKeys, addNew);
  fillStoredSecrets(merged.policies, opts, addNew);
  for (const r of wellFormed ? semanticIssues(doc, describe, filled) : referenceIssues(merged, describe)) {
    if (issues.done) break;
    addNew(r);
  }
  return issues.empty ? { ok: true, config: normalize(doc, opts) } : { ok: false, issues: issues.list() };
}

/** Validate a single parsed document (no file context). */
export function validateDocument(input: unknown, opts: ValidateOptions = {}): ValidationResult {
  return validateMerged([{ data: input, place: (r) => ({ path: formatPath(r.path), message: r.message }) }], opts);
}
