// A set for objects that come and go on the hot path (a proxy's responses under way, its open
// sockets): an array of slots reused through a free list, each member holding its slot's index.
//
// Not a Set: a Set that gains and loses an entry per request is rehashed into a new table again
// and again, and V8 links each table it leaves to its successor (so that iterators can follow).
// Once a full GC has moved one of those tables to the old generation, that dead table keeps the
// chain of every later table alive, with the responses in them, until the next full GC: each
// scavenge then promoted the objects of every request in flight (1.4 MB a scavenge instead of
// 0.1, measured with --trace-gc-nvp; README, Benchmarks). Slots are overwritten, never linked.

export class SlotSet<T extends object> {
  private readonly items: (T | null)[] = [];
  private readonly free: number[] = [];
  /** Where a member keeps its slot; one key per set, so an object may be in several. */
  private readonly slot = Symbol('slot');
  private count = 0;

  get size(): number {
    return this.count;
  }

  add(item: T): void {
    const held = item as Record<symbol, number | undefined>;
    const at = held[this.slot];
    if (at !== undefined && this.items[at] === item) return;
    const i = this.free.pop() ?? this.items.length;
    this.items[i] = item;
    held[this.slot] = i;
    this.count++;
  }

  /** Remove `item`; nothing when it is not a member. */
  delete(item: T): void {
    const held = item as Record<symbol, number | undefined>;
    const at = held[this.slot];
    if (at === undefined || this.items[at] !== item) return;
    this.items[at] = null;
    held[this.slot] = undefined;
    this.free.push(at);
    this.count--;
  }

  has(item: T): boolean {
    const at = (item as Record<symbol, number | undefined>)[this.slot];
    return at !== undefined && this.items[at] === item;
  }

  /** The members now; `fn` may remove any of them (a removed one not yet visited is skipped). */
  forEach(fn: (item: T) => void): void {
    const items = this.items;
    for (let i = 0; i < items.length; i++) {
      const item = items[i];
      if (item !== null && item !== undefined) fn(item);
    }
  }
}
