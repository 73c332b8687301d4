// Result tables of the benchmarks: the first column left-aligned, the others right-aligned.

export function printTable(rows: string[][]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  for (const r of rows) console.log(('  ' + r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ')).trimEnd());
}

export const int = (n: number) => Math.round(n).toLocaleString('en-US');
export const ms = (n: number) => n.toFixed(2);
export const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}x`;
export const cores = (n: number | null) => (n === null ? '-' : n.toFixed(2));
