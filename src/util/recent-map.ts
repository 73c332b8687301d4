// A map that holds at most `max` entries and forgets those unused for longest, in two
// generations: a new entry goes into the young one; when it is full the old one is dropped whole
// and the young one becomes old; an entry found in the old one moves back to the young one. So
// each read is one or two Map reads, no flood of new keys grows it past `max`, and only an entry
// idle through max / 2 arrivals of new keys is forgotten.
export class RecentMap<V> {
  private young = new Map<string, V>();
  private old = new Map<string, V>();
  private readonly generation: number;

  constructor(max: number) {
    this.generation = Math.max(1, Math.floor(max / 2));
  }

  get size(): number {
    return this.young.size + this.old.size;
  }

  /** The value for `key` (now among the most recently used), or undefined. */
  get(key: string): V | undefined {
    const value = this.young.get(key);
    if (value !== undefined) return value;
    const aged = this.old.get(key);
    if (aged === undefined) return undefined;
    this.old.delete(key);
    this.set(key, aged);
    return aged;
  }

  set(key: string, value: V): void {
    this.young.set(key, value);
    if (this.young.size >= this.generation) {
      this.old = this.young;
      this.young = new Map();
    }
  }
}
