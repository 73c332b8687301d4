// Result tables of the benchmarks: the first column left-aligned, the others right-aligned.

export function printTable(rows: string[][]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  for (const r of rows) console.log(('  ' + r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ')).trimEnd());
}

export const int = (n: number) => Math.round(n).toLocaleString('en-US');
export const ms = (n: number) => n.toFixed(2);
export const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}x`;
export const cores = (n: number | null) => (n === null ? '-' : n.toFixed(2));

/** A measured target, or why it was not measured. */
export interface TableTarget<R> {
  name: string;
  at: object | { skipped: string };
  result?: R;
}

/** One row per target under `header`: `cells` of its result, or why it has none. */
export function printTargets<R>(header: string[], targets: readonly TableTarget<R>[], cells: (r: R) => string[]): void {
  const rows = [header];
  for (const t of targets) {
    if (t.result === undefined) rows.push([t.name, 'skipped' in t.at ? t.at.skipped : '-', ...header.slice(2).map(() => '')]);
    else rows.push([t.name, ...cells(t.result)]);
  }
  printTable(rows);
}

/** Throughput per core of the proxy's CPU, or "-" when that was not read. */
export const perCore = (rate: number, proxyCores: number | null) => (proxyCores ? int(rate / proxyCores) : '-');
