// How commands print what they read: YAML or JSON for scripts and files, aligned tables for people.
import { Option } from 'commander';
import { stringify } from 'yaml';

export const FORMATS = ['yaml', 'json', 'table'] as const;
export type Format = (typeof FORMATS)[number];

/** `-o, --output`; commander refuses any other value as a usage error (exit 2). */
export function outputOption(formats: readonly Format[], fallback?: Format, description = 'output format'): Option {
  const option = new Option('-o, --output <format>', description).choices(formats);
  return fallback ? option.default(fallback) : option;
}

export function formatDocument(format: Exclude<Format, 'table'>, body: unknown): string {
  return format === 'json' ? `${JSON.stringify(body, null, 2)}\n` : stringify(body);
}

export function printDocument(format: Exclude<Format, 'table'>, body: unknown): void {
  process.stdout.write(formatDocument(format, body));
}

/** What a table shows of one item: a header, and each item's cells in the same order. */
export interface Columns<T> {
  header: readonly string[];
  row(item: T): string[];
}

/** Columns padded to their widest cell, two spaces apart; the last is left ragged, as it may be long. */
export function printTable<T>(columns: Columns<T>, items: readonly T[]): void {
  const rows = [[...columns.header], ...items.map((item) => columns.row(item))];
  const widths = columns.header.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) {
    process.stdout.write(`${r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')}\n`);
  }
}
