// How commands print what they read: the -o option, and aligned tables for people (YAML and JSON
// documents are document.ts's, which loads the YAML library only for the commands that print one).
import { Option } from '@commander-js/extra-typings';
import { escapeControl } from '../api/audit-text.js';

export const FORMATS = ['yaml', 'json', 'table'] as const;
export type Format = (typeof FORMATS)[number];

/** `-o, --output`: commander refuses any value not in `formats` as a usage error (exit 2). */
export function outputOption<const F extends readonly Format[]>(formats: F, description = `output format: ${formats.join(', ')}`) {
  return new Option('-o, --output <format>', description).choices(formats);
}

/** `body` on stdout as a document; the YAML library is loaded now, by the commands that print one. */
export async function printDocument(format: Exclude<Format, 'table'>, body: unknown): Promise<void> {
  const { formatDocument } = await import('./document.js');
  process.stdout.write(formatDocument(format, body));
}

/** What a table shows of one item: a header, and each item's cells in the same order. */
export interface Columns<T> {
  header: readonly string[];
  row(item: T): string[];
}

/**
 * Columns padded to their widest cell, two spaces apart; the last is left ragged, as it may be
 * long. Cells are text people wrote (messages, names): control characters are shown escaped, so
 * none can fake a row or recolor the terminal.
 */
export function printTable<T>(columns: Columns<T>, items: readonly T[]): void {
  const rows = [[...columns.header], ...items.map((item) => columns.row(item).map(escapeControl))];
  const widths = columns.header.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) {
    process.stdout.write(`${r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')}\n`);
  }
}
