// Text that ends up in the audit trail (a version's message) and is printed back to people: one
// line of plain text. Refused with control characters when stored; escaped when shown, for what
// was stored before or written into etcd by hand.

/**
 * C0 and C1 controls, DEL, line and paragraph separators, and the bidirectional marks, overrides
 * and isolates: what can fake a line of history, recolor a terminal or reorder text on screen.
 */
// eslint-disable-next-line no-control-regex
export const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
const CONTROL_CHARACTERS = new RegExp(CONTROL_CHARACTER.source, 'g');

/** `U+001B` */
export function codePoint(c: string): string {
  return `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** `\u001b`: how JSON and double-quoted YAML escape a character. */
export function unicodeEscape(c: string): string {
  return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

/**
 * JSON or YAML text with each control character still raw in it escaped: both escape the others
 * in double-quoted strings, and keep tab, CR and LF for their own layout.
 */
export function escapeControlInQuoted(text: string): string {
  return text.replace(CONTROL_CHARACTERS, (c) => (c === '\n' || c === '\r' || c === '\t' ? c : unicodeEscape(c)));
}

/** `text` with every control character shown as `\u{1b}`, so it prints as what it is. */
export function escapeControl(text: string): string {
  return text.replace(CONTROL_CHARACTERS, (c) => `\\u{${c.codePointAt(0)!.toString(16)}}`);
}
