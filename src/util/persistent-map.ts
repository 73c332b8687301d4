// An immutable map from strings whose versions share structure: a hash trie (32 children per
// branch, small sorted leaves), where a change copies only the path from the root to the entries
// it touches. The proxy keeps old committed states (the last good config, the disk cache writer),
// so a state must never change once emitted; with a plain Map that guarantee meant copying every
// entry for every revision, whatever the revision changed.
//
// Iteration order is by key hash, then key: the same for equal contents however they were built,
// so two proxies holding the same state iterate it alike.
import { hashString } from './hash.js';

/** Hash bits taken per trie level. */
const BITS = 5;
const WIDTH = 1 << BITS;
const MASK = WIDTH - 1;
/** A leaf above this size becomes a branch (unless the hash bits are used up). */
const LEAF_MAX = 16;
/** Levels with hash bits left: 6 × 5 of the 32 (the last 2 only order leaves). */
const MAX_DEPTH = 6;

interface Entry<V> {
  readonly hash: number;
  readonly key: string;
  readonly value: V;
}

/**
 * `owner` is the edit that created the node: within that edit the node is not shared yet and is
 * changed in place; every other edit copies it. An edit ends when its map is returned, after
 * which nothing holds its owner token, so returned maps never change.
 */
interface Leaf<V> {
  owner: object | null;
  entries: Entry<V>[];
}

interface Branch<V> {
  owner: object | null;
  children: (TrieNode<V> | undefined)[];
}

type TrieNode<V> = Leaf<V> | Branch<V>;

const isBranch = <V>(node: TrieNode<V>): node is Branch<V> => 'children' in node;

/** The child a hash goes to at `depth` (top bits first, so trie order is hash order). */
const slot = (hash: number, depth: number) => (hash >>> (32 - BITS * (depth + 1))) & MASK;

function compare(hash: number, key: string, e: Entry<unknown>): number {
  if (hash !== e.hash) return hash < e.hash ? -1 : 1;
  return key < e.key ? -1 : key > e.key ? 1 : 0;
}

/** Index of the entry with `key`, or -(insertion point) - 1. */
function search<V>(entries: readonly Entry<V>[], hash: number, key: string): number {
  let lo = 0;
  let hi = entries.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const c = compare(hash, key, entries[mid]!);
    if (c === 0) return mid;
    if (c < 0) hi = mid - 1;
    else lo = mid + 1;
  }
  return -lo - 1;
}

/** A node holding `entries` (sorted, all in this node's part of the hash space): a leaf that outgrew its size splits. */
function build<V>(entries: Entry<V>[], depth: number, owner: object | null): TrieNode<V> {
  if (entries.length <= LEAF_MAX || depth >= MAX_DEPTH) return { owner, entries };
  const children: (TrieNode<V> | undefined)[] = new Array(WIDTH);
  // Sorted by hash, so each child's entries are one run.
  let start = 0;
  while (start < entries.length) {
    const s = slot(entries[start]!.hash, depth);
    let end = start + 1;
    while (end < entries.length && slot(entries[end]!.hash, depth) === s) end++;
    children[s] = build(entries.slice(start, end), depth + 1, owner);
    start = end;
  }
  return { owner, children };
}

/** One edit: its owner token, and what it did so far. */
interface Edit {
  readonly owner: object;
  sizeDelta: number;
}

/** `node` with `key` set to `value` (unchanged node when it already holds that value). */
function put<V>(node: TrieNode<V> | undefined, depth: number, hash: number, key: string, value: V, edit: Edit): TrieNode<V> {
  if (node === undefined) {
    edit.sizeDelta++;
    return { owner: edit.owner, entries: [{ hash, key, value }] };
  }
  if (isBranch(node)) {
    const i = slot(hash, depth);
    const child = node.children[i];
    const next = put(child, depth + 1, hash, key, value, edit);
    return next === child ? node : withChild(node, i, next, edit);
  }
  const at = search(node.entries, hash, key);
  if (at >= 0 && node.entries[at]!.value === value) return node;
  const entry = { hash, key, value };
  const entries = node.owner === edit.owner ? node.entries : node.entries.slice();
  if (at >= 0) entries[at] = entry;
  else {
    entries.splice(-at - 1, 0, entry);
    edit.sizeDelta++;
    if (entries.length > LEAF_MAX && depth < MAX_DEPTH) return build(entries, depth, edit.owner);
  }
  return node.owner === edit.owner ? node : { owner: edit.owner, entries };
}

/** `node` without `key`; undefined once nothing is left under it. */
function remove<V>(node: TrieNode<V> | undefined, depth: number, hash: number, key: string, edit: Edit): TrieNode<V> | undefined {
  if (node === undefined) return undefined;
  if (isBranch(node)) {
    const i = slot(hash, depth);
    const child = node.children[i];
    const next = remove(child, depth + 1, hash, key, edit);
    if (next === child) return node;
    if (next === undefined && node.children.every((c, j) => j === i || c === undefined)) return undefined;
    return withChild(node, i, next, edit);
  }
  const at = search(node.entries, hash, key);
  if (at < 0) return node;
  edit.sizeDelta--;
  if (node.entries.length === 1) return undefined;
  if (node.owner === edit.owner) {
    node.entries.splice(at, 1);
    return node;
  }
  const entries = node.entries.slice();
  entries.splice(at, 1);
  return { owner: edit.owner, entries };
}

function withChild<V>(node: Branch<V>, i: number, child: TrieNode<V> | undefined, edit: Edit): Branch<V> {
  if (node.owner === edit.owner) {
    node.children[i] = child;
    return node;
  }
  const children = node.children.slice();
  children[i] = child;
  return { owner: edit.owner, children };
}

/** Every entry under `node`, in order. */
function collect<V>(node: TrieNode<V> | undefined, out: Entry<V>[]): Entry<V>[] {
  if (node === undefined) return out;
  if (!isBranch(node)) {
    for (const e of node.entries) out.push(e);
    return out;
  }
  for (const child of node.children) collect(child, out);
  return out;
}

/** Adds to `out` what turns the entries under `a` into those under `b`; shared nodes are skipped unread. */
function diffNodes<V>(a: TrieNode<V> | undefined, b: TrieNode<V> | undefined, out: Map<string, V | null>): void {
  if (a === b) return;
  if (a !== undefined && b !== undefined && isBranch(a) && isBranch(b)) {
    for (let i = 0; i < WIDTH; i++) diffNodes(a.children[i], b.children[i], out);
    return;
  }
  // A leaf on one side (or nothing): both sides' entries come out in the same order, so one merge.
  const xs = collect(a, []);
  const ys = collect(b, []);
  let i = 0;
  let j = 0;
  while (i < xs.length || j < ys.length) {
    const x = xs[i];
    const y = ys[j];
    const c = x === undefined ? 1 : y === undefined ? -1 : compare(x.hash, x.key, y);
    if (c < 0) {
      out.set(x!.key, null);
      i++;
    } else if (c > 0) {
      out.set(y!.key, y!.value);
      j++;
    } else {
      if (x!.value !== y!.value) out.set(y!.key, y!.value);
      i++;
      j++;
    }
  }
}

/** Values are compared with ===; null is not a value (it means "delete" in a change). */
export class PersistentMap<V extends NonNullable<unknown>> implements ReadonlyMap<string, V> {
  private static readonly EMPTY = new PersistentMap<never>(undefined, 0);

  private constructor(
    private readonly root: TrieNode<V> | undefined,
    readonly size: number,
  ) {}

  static empty<V extends NonNullable<unknown>>(): PersistentMap<V> {
    return PersistentMap.EMPTY;
  }

  /** A map of `entries` (a later duplicate key wins). */
  static from<V extends NonNullable<unknown>>(entries: Iterable<readonly [string, V]>): PersistentMap<V> {
    // One edit owns every node it makes, so this fills the trie in place.
    return PersistentMap.empty<V>().withChanges(entries);
  }

  get(key: string): V | undefined {
    const hash = hashString(key);
    let node = this.root;
    for (let depth = 0; node !== undefined && isBranch(node); depth++) node = node.children[slot(hash, depth)];
    if (node === undefined) return undefined;
    const at = search(node.entries, hash, key);
    return at >= 0 ? node.entries[at]!.value : undefined;
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  /**
   * A map with `changes` applied in order (a value sets the key, null deletes it), sharing every
   * node they do not touch with this one. This map itself when they change nothing.
   */
  withChanges(changes: Iterable<readonly [string, V | null]>): PersistentMap<V> {
    const edit: Edit = { owner: {}, sizeDelta: 0 };
    let root = this.root;
    for (const [key, value] of changes) {
      const hash = hashString(key);
      root = value === null ? remove(root, 0, hash, key, edit) : put(root, 0, hash, key, value, edit);
    }
    return root === this.root ? this : new PersistentMap(root, this.size + edit.sizeDelta);
  }

  /**
   * What turns `older` into this map: key → value here, or null for a key only `older` has. When
   * `older` is a PersistentMap this one was made from (through withChanges), the nodes they share
   * are skipped, so the cost follows the change, not the size.
   */
  changesSince(older: ReadonlyMap<string, V>): Map<string, V | null> {
    if (!(older instanceof PersistentMap)) return mapChanges(older, this);
    const out = new Map<string, V | null>();
    diffNodes((older as PersistentMap<V>).root, this.root, out);
    return out;
  }

  /** The trie's nodes: what two versions share is the nodes both list (for tests and benches). */
  nodes(): object[] {
    const out: object[] = [];
    const visit = (node: TrieNode<V> | undefined) => {
      if (node === undefined) return;
      out.push(node);
      if (isBranch(node)) node.children.forEach(visit);
    };
    visit(this.root);
    return out;
  }

  *entries(): MapIterator<[string, V]> {
    if (this.root === undefined) return;
    // Depth-first, children in slot order; an explicit stack instead of nested generators.
    const stack: TrieNode<V>[] = [this.root];
    while (stack.length > 0) {
      const node = stack.pop()!;
      if (isBranch(node)) {
        for (let i = WIDTH - 1; i >= 0; i--) {
          const child = node.children[i];
          if (child !== undefined) stack.push(child);
        }
      } else {
        for (const e of node.entries) yield [e.key, e.value];
      }
    }
  }

  *keys(): MapIterator<string> {
    for (const [key] of this.entries()) yield key;
  }

  *values(): MapIterator<V> {
    for (const [, value] of this.entries()) yield value;
  }

  [Symbol.iterator](): MapIterator<[string, V]> {
    return this.entries();
  }

  forEach(fn: (value: V, key: string, map: ReadonlyMap<string, V>) => void, thisArg?: unknown): void {
    for (const [key, value] of this.entries()) fn.call(thisArg, value, key, this);
  }

  get [Symbol.toStringTag](): string {
    return 'PersistentMap';
  }
}

/** What turns `older` into `newer` (any maps): key → value in `newer`, or null for a key only `older` has. */
export function mapChanges<V>(older: ReadonlyMap<string, V>, newer: ReadonlyMap<string, V>): Map<string, V | null> {
  const out = new Map<string, V | null>();
  for (const [key, value] of newer) if (older.get(key) !== value) out.set(key, value);
  for (const key of older.keys()) if (!newer.has(key)) out.set(key, null);
  return out;
}
