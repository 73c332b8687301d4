// How commands print what they read: YAML or JSON for scripts and files, aligned tables for people.
import { Option } from '@commander-js/extra-typings';
import { Document, visit } from 'yaml';
import { CONTROL_CHARACTER, escapeControl, escapeControlInQuoted } from '../api/audit-text.js';

export const FORMATS = ['yaml', 'json', 'table'] as const;
export type Format = (typeof FORMATS)[number];

/** `-o, --output`: commander refuses any value not in `formats` as a usage error (exit 2). */
export function outputOption<const F extends readonly Format[]>(formats: F, description = `output format: ${formats.join(', ')}`) {
  return new Option('-o, --output <format>', description).choices(formats);
}

/**
 * JSON or YAML of `body`, with control characters in its strings escaped (as the format escapes
 * them: the value stays the same), so a message cannot write to the terminal it is printed on.
 */
export function formatDocument(format: Exclude<Format, 'table'>, body: unknown): string {
  if (format === 'json') return escapeControlInQuoted(`${JSON.stringify(body, null, 2)}\n`);
  const doc = new Document(body);
  // Double quotes are the YAML style that can escape a character.
  visit(doc, {
    Scalar(_, node) {
      if (typeof node.value === 'string' && CONTROL_CHARACTER.test(node.value)) node.type = 'QUOTE_DOUBLE';
    },
  });
  return escapeControlInQuoted(doc.toString());
}

export function printDocument(format: Exclude<Format, 'table'>, body: unknown): void {
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
