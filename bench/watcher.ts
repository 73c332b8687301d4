// What one committed revision costs the watcher: one-route changes (the route key and the version
// key in one revision, as the control plane writes them) folded into a state of N entries.
//   npm run bench:watcher -- [--entries 10000] [--revisions 1000]
//
// Beside RevisionFolder.fold, the same run times what the folder did per revision before its
// entries shared structure: a copy of the whole entry map (new Map(previous), then the change).
// Per revision: time (p50, p99), bytes allocated (heap growth over batches of BATCH revisions
// with no collection in between; a batch a collection ran in is dropped and counted), and bytes
// a kept state retains (the proxy keeps old states: its last good config, the disk cache writer).
// Runs under --expose-gc with a 64 MB young generation (see the npm script) so batches fit.
import { performance, PerformanceObserver } from 'node:perf_hooks';
import { setImmediate as tick } from 'node:timers/promises';
import { benchArgs } from './args.js';
import type { CommittedRead, CurrentEntry } from '../src/store/committed.js';
import { parseVersionInfo } from '../src/store/decode.js';
import { Keys } from '../src/store/keys.js';
import { RevisionFolder, type WatchEvent } from '../src/store/revision-folder.js';
import { quantile } from './stats.js';

const values = benchArgs({ options: { entries: { type: 'string', default: '10000' }, revisions: { type: 'string', default: '1000' } } });
const N = Number(values.entries);
const REVISIONS = Number(values.revisions);
const WARMUP = 200;
const BATCH = 20;
const KEPT = 50;

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc (npm run bench:watcher does)');

const keys = new Keys('/bench');
const routeKey = (i: number) => keys.object('routes', `route-${String(i).padStart(6, '0')}`);
const routeValue = (i: number, upstream: number) =>
  JSON.stringify({ id: `route-${String(i).padStart(6, '0')}`, match: { paths: [`/svc${i}/items`, `/svc${i}/items/:id`], methods: ['GET', 'POST'] }, upstream: `u${upstream}` });
const versionValue = (n: number) =>
  JSON.stringify({ version: n, hash: `h${n}`, author: 'bench', message: '', source: 'api', at: '2030-01-01T00:00:00.000Z', counts: { upstreams: 2, routes: N, policies: 0, certificates: 0 } });

function snapshot(): CommittedRead {
  const entries = new Map<string, string>();
  for (let i = 0; i < N; i++) entries.set(routeKey(i), routeValue(i, 0));
  const current = new Map<string, CurrentEntry>([...entries].map(([k, value]) => [k, { value, modRevision: 1 }]));
  const raw = versionValue(1);
  return { version: parseVersionInfo(raw), versionRaw: raw, revision: 1, entries, headRevision: 1, current, unfinished: 0, stateRevision: 1, source: 'head' };
}

/** Revision r moves one route (a different one each time) to the other upstream. */
const revision = (r: number): WatchEvent[] => [
  { revision: r, key: routeKey((r * 7919) % N), value: routeValue((r * 7919) % N, r % 2) },
  { revision: r, key: keys.version, value: versionValue(r) },
];

/** One way of making the next state from the previous one; returns the state (to keep it alive). */
type Step = (r: number) => unknown;

function folderStep(): Step {
  const folder = new RevisionFolder(keys);
  folder.restart(snapshot(), false);
  return (r) => folder.fold(revision(r), r).state;
}

/** The folder's commit before this change: the whole entry map copied, then the buffered change applied. */
function copyStep(): Step {
  let entries = new Map(snapshot().entries);
  return (r) => {
    const next = new Map(entries);
    for (const ev of revision(r)) if (ev.key !== keys.version) next.set(ev.key, ev.value!);
    entries = next;
    return next;
  };
}

const gcTimes: number[] = [];
new PerformanceObserver((list) => gcTimes.push(...list.getEntries().map((e) => e.startTime))).observe({ entryTypes: ['gc'] });


async function measure(step: Step, first: number) {
  let r = first;
  for (let i = 0; i < WARMUP; i++) step(r++);
  const times: number[] = [];
  for (let i = 0; i < REVISIONS; i++) {
    const t = performance.now();
    step(r++);
    times.push((performance.now() - t) * 1000);
  }
  const allocated: number[] = [];
  let dropped = 0;
  for (let b = 0; b < REVISIONS / BATCH; b++) {
    gc!();
    await tick(); // lets the observer report the forced collection before the batch starts
    const t0 = performance.now();
    const h0 = process.memoryUsage().heapUsed;
    for (let i = 0; i < BATCH; i++) step(r++);
    const h1 = process.memoryUsage().heapUsed;
    const t1 = performance.now();
    await tick();
    if (gcTimes.some((t) => t >= t0 && t <= t1)) dropped++;
    else allocated.push((h1 - h0) / BATCH);
  }
  gc!();
  const h0 = process.memoryUsage().heapUsed;
  const kept: unknown[] = [];
  for (let i = 0; i < KEPT; i++) kept.push(step(r++));
  gc!();
  const retained = (process.memoryUsage().heapUsed - h0) / KEPT;
  kept.length = 0;
  return { p50: quantile(times, 0.5), p99: quantile(times, 0.99), allocated: allocated.length ? quantile(allocated, 0.5) : NaN, dropped, retained, next: r };
}

/** RevisionFolder.restart from a snapshot, median of 5: the first state, or a resync (a state before it). */
function restartMs(resync: boolean): number {
  const read = snapshot();
  const runs: number[] = [];
  for (let i = 0; i < 5; i++) {
    const folder = new RevisionFolder(keys);
    if (resync) folder.restart(read, false);
    const t = performance.now();
    folder.restart(read, resync);
    runs.push(performance.now() - t);
  }
  return quantile(runs, 0.5);
}

const rows: [string, Awaited<ReturnType<typeof measure>>][] = [];
const folder = await measure(folderStep(), 2);
rows.push(['RevisionFolder.fold (this build)', folder]);
rows.push(['whole-map copy (the fold before)', await measure(copyStep(), folder.next)]);

const kb = (bytes: number) => (Number.isNaN(bytes) ? 'n/a' : `${(bytes / 1024).toFixed(1)} KB`);
console.log(`one-route revisions folded into a ${N.toLocaleString('en')}-entry state: ${REVISIONS} timed after ${WARMUP} warm-up (Node ${process.version})`);
console.log(`${''.padEnd(34)}${'p50'.padStart(10)}${'p99'.padStart(10)}${'allocated/rev'.padStart(16)}${'retained/kept state'.padStart(22)}`);
for (const [name, m] of rows) {
  const us = (x: number) => `${x.toFixed(1)} µs`;
  console.log(`${name.padEnd(34)}${us(m.p50).padStart(10)}${us(m.p99).padStart(10)}${kb(m.allocated).padStart(16)}${kb(m.retained).padStart(22)}`);
  if (m.dropped > 0) console.log(`  (${m.dropped} of ${REVISIONS / BATCH} allocation batches had a collection and were dropped)`);
}
console.log(`RevisionFolder.restart from a ${N.toLocaleString('en')}-entry snapshot: first state ${restartMs(false).toFixed(1)} ms, resync ${restartMs(true).toFixed(1)} ms`);
