// etcd values ↔ config. Whatever sits in etcd (someone may `etcdctl put` anything) comes out as
// issues naming the key, never as an exception.
import { gunzipSync, gzipSync } from 'node:zlib';
import { z } from 'zod';
import { validateParsed, type ParsedSource } from '../config/load.js';
import { KINDS, objectSchemas, perKind, type Config, type ConfigObject, type Kind } from '../config/schema.js';
import { normalize, parseDocument, type ConfigIssue, type ValidationResult } from '../config/validate.js';
import type { Keys } from './keys.js';

/** Objects of each kind in a version. */
export type VersionCounts = Record<Kind, number>;

/**
 * The value of the version key (and of `history-info/<n>`). Lenient on purpose: a version key
 * someone wrote by hand needs only a positive integer `version`; any other field that is missing
 * or of the wrong type reads as empty (strings) or 0 (counts).
 */
const versionInfoSchema = z.object({
  version: z.number().int().min(1),
  hash: z.string().catch(''),
  author: z.string().catch(''),
  message: z.string().catch(''),
  source: z.string().catch(''),
  at: z.string().catch(''),
  counts: z.object(perKind(() => z.number().catch(0))).catch(() => perKind(() => 0)),
});

export type VersionInfo = z.infer<typeof versionInfoSchema>;

export function countsOf(config: Config): VersionCounts {
  return perKind((kind) => config[kind].length);
}

/** A VersionInfo from a raw value; null when it is not one (no positive integer `version`). */
export function parseVersionInfo(raw: string | null | undefined): VersionInfo | null {
  if (raw == null) return null;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return null;
  }
  const parsed = versionInfoSchema.safeParse(value);
  return parsed.success ? parsed.data : null;
}

/**
 * Where a version's history entry belongs (history.ts): the snapshot its chain of diffs starts at
 * (the version itself for a snapshot), and the bytes of the diffs after that snapshot up to it.
 */
export interface HistoryChain {
  snapshot: number;
  bytes: number;
}

const historyChainSchema = z.object({ snapshot: z.number().int().min(1), bytes: z.number().int().min(0) });

/** What the version key holds beside its VersionInfo: which write made it, on what, and its history chain. */
export interface VersionKeyExtras {
  /** Tells a writer's own commit from any other (a version key written by hand has none). */
  writeId: string | null;
  /** null: unknown (an older writer, or a version key written by hand); the next entry is a snapshot. */
  chain: HistoryChain | null;
  /**
   * The revision the write was planned at, when it was guarded key by key (write-plan.ts): a
   * change under the prefix after it and before the version key's own revision is not in the
   * version. null: the commit was guarded by the whole prefix.
   */
  base: number | null;
}

/** The extras of a version key's (or history-info's) raw value; nulls where they are missing or malformed. */
export function parseVersionExtras(raw: string | null | undefined): VersionKeyExtras {
  let value: unknown;
  try {
    value = raw == null ? null : JSON.parse(raw);
  } catch {
    value = null;
  }
  const v = (typeof value === 'object' && value !== null ? value : {}) as { writeId?: unknown; chain?: unknown; base?: unknown };
  const chain = historyChainSchema.safeParse(v.chain);
  return {
    writeId: typeof v.writeId === 'string' ? v.writeId : null,
    chain: chain.success ? chain.data : null,
    base: Number.isSafeInteger(v.base) ? (v.base as number) : null,
  };
}

/** The value the writer stores for an object. */
export function encodeObject(obj: ConfigObject): string {
  return JSON.stringify(obj);
}

/** Object key → value for every object of a config. */
export function configEntries(keys: Keys, config: Config): Map<string, string> {
  const out = new Map<string, string>();
  for (const kind of KINDS) for (const obj of config[kind]) out.set(keys.object(kind, obj.id), encodeObject(obj));
  return out;
}

type Checked = { ok: true; kind: Kind; id: string; obj: unknown } | { ok: false; issue: ConfigIssue };

function checkEntry(keys: Keys, key: string, value: string): Checked {
  const where = keys.parseObject(key);
  if (!where) {
    return { ok: false, issue: { file: key, path: '(document)', message: `not a config object key (expected ${keys.config}<kind>/<id>)` } };
  }
  let obj: unknown;
  try {
    obj = JSON.parse(value);
  } catch (err) {
    return { ok: false, issue: { file: key, path: '(document)', message: `value is not JSON: ${(err as Error).message}` } };
  }
  const id = obj && typeof obj === 'object' && !Array.isArray(obj) ? (obj as { id?: unknown }).id : undefined;
  if (typeof id === 'string' && id !== where.id) {
    return {
      ok: false,
      issue: { file: key, path: `${where.kind}[0].id`, message: `id "${id}" does not match the id "${where.id}" in the key` },
    };
  }
  return { ok: true, kind: where.kind, id: where.id, obj };
}

type Decoded = { ok: true; source: ParsedSource } | { ok: false; issue: ConfigIssue };

/**
 * One entry as an object valid on its own (JSON, its key's kind and id, the kind's schema), in
 * its normalized form; null when it is not one (decodeEntries says why).
 */
export function decodeObject(keys: Keys, key: string, value: string): { kind: Kind; id: string; object: ConfigObject } | null {
  const c = checkEntry(keys, key, value);
  if (!c.ok) return null;
  const parsed = objectSchemas[c.kind].safeParse(c.obj);
  if (!parsed.success) return null;
  const object = normalize({ [c.kind]: [parsed.data] } as Parameters<typeof normalize>[0])[c.kind][0]!;
  return { kind: c.kind, id: c.id, object };
}

function decodeEntry(keys: Keys, key: string, value: string): Decoded {
  const c = checkEntry(keys, key, value);
  if (!c.ok) return c;
  const data = { [c.kind]: [c.obj] };
  return { ok: true, source: { file: key, data, parsed: parseDocument(data) } };
}

/**
 * The config held by etcd entries (object key → raw value; the version key is skipped), validated
 * as one document. Each key is one source, so every issue names the key it comes from.
 */
export function decodeEntries(keys: Keys, entries: Iterable<readonly [key: string, value: string]>): ValidationResult {
  const issues: ConfigIssue[] = [];
  const sources: ParsedSource[] = [];
  for (const [key, value] of entries) {
    if (key === keys.version) continue;
    const d = decodeEntry(keys, key, value);
    if (!d.ok) issues.push(d.issue);
    else sources.push(d.source);
  }
  const result = validateParsed(sources);
  if (issues.length === 0) return result;
  return { ok: false, issues: [...issues, ...(result.ok ? [] : result.issues)] };
}

/** History values larger than this many bytes are stored gzip+base64 wrapped. */
export const HISTORY_GZIP_ABOVE = 256 * 1024;

export interface GzipWrapped {
  encoding: 'gzip+base64';
  data: string;
}

/** A whole config as a history value: plain JSON, or gzip+base64 wrapped when it is large. */
export function encodeHistory(config: Config, gzipAbove: number = HISTORY_GZIP_ABOVE): string {
  return wrapHistory(JSON.stringify(config), gzipAbove);
}

/** A history document's JSON as it is stored: as it is, or gzip+base64 wrapped when it is large. */
export function wrapHistory(json: string, gzipAbove: number = HISTORY_GZIP_ABOVE): string {
  if (Buffer.byteLength(json) <= gzipAbove) return json;
  const wrapped: GzipWrapped = { encoding: 'gzip+base64', data: gzipSync(json).toString('base64') };
  return JSON.stringify(wrapped);
}

/** The JSON document inside a history value (unwrapping gzip); throws on a corrupt value. */
export function decodeHistory(raw: string): unknown {
  const v = JSON.parse(raw) as unknown;
  if (v && typeof v === 'object' && (v as GzipWrapped).encoding === 'gzip+base64') {
    const data = (v as GzipWrapped).data;
    if (typeof data !== 'string') throw new Error('gzip+base64 history value without data');
    return JSON.parse(gunzipSync(Buffer.from(data, 'base64')).toString('utf8')) as unknown;
  }
  return v;
}
