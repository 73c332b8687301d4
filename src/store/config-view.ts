// A config as the objects etcd stores, per kind in id order: each with its key, its stored value
// and its decoded object, and what is derived from the whole (the Config, its hash, its size)
// computed once, when asked. A view never changes; a change makes a new view that shares every
// object it does not touch, and what was derived from each (its canonical form, for the hash).
// So hashing a config that differs from the live one in one route stringifies one route.
import { configHashOf, jsonEqual, stableStringify } from '../config/canonical.js';
import { indexById, type ValidConfig } from '../config/validate-change.js';
import { KINDS, perKind, type Config, type ConfigObject, type Kind } from '../config/schema.js';
import { encodeObject, type VersionCounts } from './decode.js';
import type { Keys } from './keys.js';
import { runWhole, type Sliced } from '../util/slices.js';

export interface StoredObject {
  readonly key: string;
  readonly kind: Kind;
  readonly id: string;
  /** The value etcd holds (JSON). */
  readonly value: string;
  /** The object, valid on its own and normalized. */
  readonly object: ConfigObject;
  /** stableStringify(object), once a hash needed it (the fields below are there from the start: one object shape). */
  canonical: string | undefined;
  /** A run of objects for the hash ends after this one (its id hashes to 0 modulo RUN). */
  readonly endsRun: boolean;
  /** The canonical forms of the run of objects this one starts, joined, once a hash needed them. */
  run: Run | undefined;
}

/** A run of objects in id order and their canonical forms joined with ','. */
interface Run {
  objects: readonly StoredObject[];
  joined: string;
}

/**
 * A run of objects ends after one whose id hashes to 0 modulo this: runs of about this many, with
 * bounds set by content, so a change to a list re-joins the run it falls in and no other.
 */
const RUN = 64;

function endsRun(id: string): boolean {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  return (h >>> 0) % RUN === 0;
}

/** list[from, to) as a run: the one memoized on its first object when that is still the same run. */
function runOf(list: readonly StoredObject[], from: number, to: number): string {
  const first = list[from]!;
  const known = first.run;
  if (known && known.objects.length === to - from && known.objects.every((o, i) => o === list[from + i])) return known.joined;
  const objects = list.slice(from, to);
  const joined = objects.map((o) => (o.canonical ??= stableStringify(o.object))).join(',');
  first.run = { objects, joined };
  return joined;
}

type Lists = Readonly<Record<Kind, readonly StoredObject[]>>;

const byId = (a: StoredObject, b: StoredObject) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** Past this many changes to one kind, its list is rebuilt and sorted rather than edited in place. */
const REBUILD_ABOVE = 32;

/**
 * An object as etcd stores it (`value`: its JSON, as the writer writes it unless given; `key`:
 * the entry's own key when there is one, so a view does not hold a second copy of every key).
 */
export function storedObject(keys: Keys, kind: Kind, object: ConfigObject, value = encodeObject(object), key = keys.object(kind, object.id)): StoredObject {
  return { key, kind, id: object.id, value, object, canonical: undefined, endsRun: endsRun(object.id), run: undefined };
}

export class ConfigView implements ValidConfig {
  private static readonly EMPTY = new ConfigView(perKind(() => []), 0);
  private objectsMemo: Partial<Record<Kind, readonly ConfigObject[]>> = {};
  private configMemo: Config | null = null;
  private hashMemo: string | null = null;

  private constructor(
    private readonly lists: Lists,
    /** The bytes of every stored value, when known (-1: not yet counted). */
    private bytesMemo = -1,
  ) {}

  static empty(): ConfigView {
    return ConfigView.EMPTY;
  }

  /** Objects in any order. */
  static from(objects: Iterable<StoredObject>): ConfigView {
    const lists = perKind<StoredObject[]>(() => []);
    for (const o of objects) lists[o.kind].push(o);
    for (const kind of KINDS) lists[kind].sort(byId);
    return new ConfigView(lists);
  }

  /**
   * A normalized config as a view; an object `like` stores with the same value is taken from it
   * (with what was derived from it).
   */
  static of(keys: Keys, config: Config, like: ConfigView = ConfigView.EMPTY): ConfigView {
    return new ConfigView(
      perKind((kind) =>
        (config[kind] as ConfigObject[]).map((object) => {
          const known = like.stored(kind, object.id);
          if (known?.object === object) return known;
          const value = encodeObject(object);
          return known?.value === value ? known : storedObject(keys, kind, object, value);
        }),
      ),
    );
  }

  list(kind: Kind): readonly StoredObject[] {
    return this.lists[kind];
  }

  stored(kind: Kind, id: string): StoredObject | undefined {
    const list = this.lists[kind];
    const at = indexById(list, id);
    return at >= 0 ? list[at] : undefined;
  }

  find(kind: Kind, id: string): ConfigObject | undefined {
    return this.stored(kind, id)?.object;
  }

  count(kind: Kind): number {
    return this.lists[kind].length;
  }

  /** The objects of a kind in id order (made once per view and kind, when asked). */
  objects(kind: Kind): readonly ConfigObject[] {
    return (this.objectsMemo[kind] ??= this.lists[kind].map((o) => o.object));
  }

  /** This view's object equal to `object` (same kind and id, equal as JSON), if it has one. */
  same(kind: Kind, object: unknown): ConfigObject | undefined {
    const id = (object as { id?: unknown } | null | undefined)?.id;
    const found = typeof id === 'string' ? this.find(kind, id) : undefined;
    return found && jsonEqual(found, object) ? found : undefined;
  }

  counts(): VersionCounts {
    return perKind((kind) => this.lists[kind].length);
  }

  /** The config (objects in id order, as normalize() gives them). */
  config(): Config {
    return (this.configMemo ??= perKind((kind) => this.objects(kind)) as unknown as Config);
  }

  /** configHash(config()), stringifying only objects no view stringified before. */
  hash(): string {
    return (this.hashMemo ??= configHashOf((kind) => this.runs(kind)));
  }

  /** hash() as work that pauses after each object it stringifies (util/slices.ts). */
  *hashSliced(): Sliced<string> {
    if (this.hashMemo === null) {
      for (const kind of KINDS) {
        for (const o of this.lists[kind]) {
          if (o.canonical !== undefined) continue;
          o.canonical = stableStringify(o.object);
          yield;
        }
      }
    }
    return this.hash();
  }

  /** A kind's canonical forms joined in runs: joining the runs with ',' joins the forms. */
  private runs(kind: Kind): string[] {
    const list = this.lists[kind];
    const out: string[] = [];
    let from = 0;
    for (let i = 0; i < list.length; i++) {
      if (i === list.length - 1 || list[i]!.endsRun) {
        out.push(runOf(list, from, i + 1));
        from = i + 1;
      }
    }
    return out;
  }

  /** The bytes of every stored value: about what the whole config weighs as JSON. */
  bytes(): number {
    if (this.bytesMemo < 0) {
      let n = 0;
      for (const kind of KINDS) for (const o of this.lists[kind]) n += o.value.length;
      this.bytesMemo = n;
    }
    return this.bytesMemo;
  }

  /** This view with each object set (a StoredObject) or removed (by kind and id). */
  withChanges(changes: Iterable<StoredObject | { kind: Kind; id: string; removed: true }>): ConfigView {
    return runWhole(this.withChangesSliced(changes));
  }

  /** withChanges as work that pauses after each object (util/slices.ts). */
  *withChangesSliced(changes: Iterable<StoredObject | { kind: Kind; id: string; removed: true }>): Sliced<ConfigView> {
    const byKind = new Map<Kind, Map<string, StoredObject | null>>();
    for (const c of changes) {
      let m = byKind.get(c.kind);
      if (!m) byKind.set(c.kind, (m = new Map()));
      m.set(c.id, 'removed' in c ? null : c);
    }
    if (byKind.size === 0) return this;
    yield;
    const lists = { ...this.lists };
    // Counted once for a line of views, then carried from each to the next.
    let bytes = this.bytes();
    for (const [kind, set] of byKind) {
      for (const [id, o] of set) {
        bytes += (o?.value.length ?? 0) - (this.stored(kind, id)?.value.length ?? 0);
        yield;
      }
      lists[kind] = edited(this.lists[kind], set);
      yield;
    }
    return new ConfigView(lists, bytes);
  }
}

/** `list` (in id order) with objects set or removed (null), still in id order. */
function edited(list: readonly StoredObject[], set: ReadonlyMap<string, StoredObject | null>): StoredObject[] {
  if (set.size > REBUILD_ABOVE) {
    const out = list.filter((o) => !set.has(o.id));
    for (const o of set.values()) if (o) out.push(o);
    return out.sort(byId);
  }
  const out = list.slice();
  for (const [id, o] of set) {
    const at = indexById(out, id);
    if (at >= 0) {
      if (o) out[at] = o;
      else out.splice(at, 1);
    } else if (o) {
      out.splice(-at - 1, 0, o);
    }
  }
  return out;
}
