// Long work on the event loop in bounded slices. The work is a generator that yields between
// units (a route compiled, an entry decoded); runSliced runs it for about SLICE_MS, then lets the
// loop serve I/O (setImmediate) before the next slice. Work that fits in one slice (a one-route
// change) finishes within the call, without a turn of the loop; runWhole runs the same work in
// one pass, for callers with nothing to serve meanwhile.
import { performance } from 'node:perf_hooks';
import { setImmediate as nextTurn } from 'node:timers/promises';

/** Work that pauses at each `yield` until its runner goes on. */
export type Sliced<T> = Generator<void, T, void>;

/** About how long one slice runs before the loop gets a turn, in ms. */
export const SLICE_MS = 4;

/** Thrown by runSliced when `abandoned` said so between slices; nothing of the work was kept. */
export class Abandoned extends Error {
  constructor() {
    super('abandoned');
  }
}

/**
 * Run `work` in slices of about `sliceMs`, the loop serving I/O between them. `abandoned` is
 * asked before each further slice: when it says so, the work stops there (Abandoned).
 */
export async function runSliced<T>(work: Sliced<T>, abandoned: () => boolean = () => false, sliceMs = SLICE_MS): Promise<T> {
  for (;;) {
    const end = performance.now() + sliceMs;
    for (;;) {
      const step = work.next();
      if (step.done === true) return step.value;
      if (performance.now() >= end) break;
    }
    await nextTurn();
    if (abandoned()) {
      work.return(undefined as T);
      throw new Abandoned();
    }
  }
}

/** Run `work` to its end in one pass. */
export function runWhole<T>(work: Sliced<T>): T {
  for (;;) {
    const step = work.next();
    if (step.done === true) return step.value;
  }
}
