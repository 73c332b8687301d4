// A committed state, decoded: its objects as a ConfigView, the entries that are no valid object,
// and whether the whole validates. Made from the view of the state before and the state's delta,
// it decodes only the entries that changed and checks validity only where they can affect it
// (validate-change.ts), so keeping the control plane's copy of the live config current costs what
// a revision changes. Pure: LiveConfig feeds it the watcher's states.
import { validAfterSliced, validWholeSliced, type ChangedObject } from '../config/validate-change.js';
import { IssueList, type ConfigIssue } from '../config/validate.js';
import { ConfigView, storedObject, type StoredObject } from './config-view.js';
import { decodeEntries, decodeObject } from './decode.js';
import type { Keys } from './keys.js';
import type { CommittedState } from './revision-folder.js';
import { runWhole, type Sliced } from '../util/slices.js';

/** Route entries whose problems are looked for at once (decoded from JSON: ~40 µs each). */
const ISSUE_BATCH = 64;

export class LiveView {
  private issuesMemo: ConfigIssue[] | null = null;

  private constructor(
    private readonly keys: Keys,
    readonly state: CommittedState,
    /** The entries that are valid objects on their own (the rest: `broken`). */
    readonly objects: ConfigView,
    /** Keys of entries that are no valid object on their own (not JSON, a stray key, a schema error). */
    readonly broken: ReadonlySet<string>,
    /** The whole state validates: what a proxy applies. */
    readonly valid: boolean,
  ) {}

  /** The view of `state`: from `before` (the view of the state just before it) and the delta, or whole. */
  static of(keys: Keys, state: CommittedState, before: LiveView | null = null): LiveView {
    return runWhole(LiveView.build(keys, state, before));
  }

  /** LiveView.of as work that pauses after each entry it decodes (util/slices.ts). */
  static *build(keys: Keys, state: CommittedState, before: LiveView | null = null): Sliced<LiveView> {
    const delta = state.delta;
    if (!before || !delta || delta.base !== before.state.revision) return yield* LiveView.whole(keys, state);
    const broken = new Set(before.broken);
    const set: (StoredObject | { kind: StoredObject['kind']; id: string; removed: true })[] = [];
    const changed: ChangedObject[] = [];
    for (const [key, value] of delta.changed) {
      broken.delete(key);
      const where = keys.parseObject(key);
      const decoded = value === null ? null : decodeObject(keys, key, value);
      if (value !== null && !decoded) broken.add(key);
      if (!where) continue;
      if (decoded) set.push(storedObject(keys, decoded.kind, decoded.object, value!, key));
      else set.push({ kind: where.kind, id: where.id, removed: true });
      changed.push({ kind: where.kind, id: where.id, present: decoded !== null });
      yield;
    }
    const objects = yield* before.objects.withChangesSliced(set);
    const valid = broken.size === 0 && (yield* (before.valid ? validAfterSliced(objects, changed) : validWholeSliced(objects)));
    return new LiveView(keys, state, objects, broken, valid);
  }

  private static *whole(keys: Keys, state: CommittedState): Sliced<LiveView> {
    const broken = new Set<string>();
    const stored: StoredObject[] = [];
    for (const [key, value] of state.entries) {
      const decoded = decodeObject(keys, key, value);
      if (decoded) stored.push(storedObject(keys, decoded.kind, decoded.object, value, key));
      else broken.add(key);
      yield;
    }
    const objects = ConfigView.from(stored);
    yield;
    const valid = broken.size === 0 && (yield* validWholeSliced(objects));
    return new LiveView(keys, state, objects, broken, valid);
  }

  /** Why the state does not validate, as a proxy would say it (each problem at its key); empty when it does. */
  issues(): ConfigIssue[] {
    return runWhole(this.issuesSliced());
  }

  /**
   * issues() as work that pauses after each entry and each batch of routes (util/slices.ts):
   * every entry of the other kinds with the routes a batch at a time, in the state's order, which
   * finds what the whole does (no route's validity depends on another route: validate-change.ts);
   * a problem found again in a later batch is listed once. With up to ISSUE_BATCH routes, the
   * issues of the whole in its order; beyond, batch by batch.
   */
  *issuesSliced(): Sliced<ConfigIssue[]> {
    if (this.issuesMemo !== null) return this.issuesMemo;
    if (this.valid) return (this.issuesMemo = []);
    const entries = [...this.state.entries];
    const others: number[] = [];
    const routes: number[] = [];
    for (let i = 0; i < entries.length; i++) {
      (this.keys.parseObject(entries[i]![0])?.kind === 'routes' ? routes : others).push(i);
      yield;
    }
    const found = new IssueList();
    let from = 0;
    do {
      const batch = mergeSorted(others, routes.slice(from, from + ISSUE_BATCH)).map((i) => entries[i]!);
      const result = decodeEntries(this.keys, batch);
      for (const issue of result.ok ? [] : result.issues) {
        const place = `${issue.file ?? ''}\0${issue.path}\0${issue.message}`;
        if (!found.has(place)) found.add(place, () => issue);
      }
      from += ISSUE_BATCH;
      yield;
    } while (from < routes.length);
    return (this.issuesMemo = found.list());
  }
}

/** Two ascending lists of numbers as one. */
function mergeSorted(a: readonly number[], b: readonly number[]): number[] {
  const out: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) out.push(j >= b.length || (i < a.length && a[i]! < b[j]!) ? a[i++]! : b[j++]!);
  return out;
}
