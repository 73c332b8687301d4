// YAML or JSON of what a command read, for scripts and files.
import { Document, visit } from 'yaml';
import { CONTROL_CHARACTER, escapeControlInQuoted } from '../api/audit-text.js';
import type { Format } from './output.js';

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
