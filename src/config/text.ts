// Config text (YAML or JSON) to data, with the line of any path for messages. JSON takes a fast
// path (JSON.parse, many times faster than a YAML parser on large documents); everything else, and
// JSON that needs a line number, goes through the YAML parser (YAML 1.2 is a superset of JSON).
// Text no config resembles is refused before any parser sees it: nesting deep enough to exhaust the
// parser's stack (which, twice in one process, V8 does not survive), more entries than any config
// etcd can record (the YAML parser takes ~600 bytes of memory for each), and alias bombs.
import { LineCounter, isNode, parseDocument, type Document } from 'yaml';
import type { ConfigIssue, PathSegment } from './validate.js';

/**
 * Deepest nesting taken, estimated from the text (brackets, and indentation with the `-`, `?`, `:`
 * that start a line). A config nests about ten levels; the YAML parser's stack ends above 1,000.
 */
export const MAX_NESTING = 100;
/**
 * Most entries taken (each ',' '-' ':' counts). 50,000 routes with hosts, three paths, methods and
 * a policy, more than etcd can record, have 1.1 million as YAML and 1.4 million as JSON; 16 MiB of
 * `- {}` lines has 3.4 million, which the YAML parser took 30 s and over 2 GB to give up on.
 */
export const MAX_ENTRIES = 2_000_000;
/** Up to this size, issues in a JSON text get line numbers (the YAML parser finds them: slowly). */
const LOCATE_JSON_MAX = 1024 * 1024;
/** Aliases a document may expand (YAML's default); more is a "billion laughs". */
const MAX_ALIASES = 100;

export interface ParsedText {
  data: unknown;
  /** 1-based line of the node at `path`, or of its nearest existing ancestor. */
  locate(path: readonly PathSegment[]): number | undefined;
}

export function parseText(text: string, file: string): { parsed?: ParsedText; issues: ConfigIssue[] } {
  const shape = unlikeAnyConfig(text);
  if (shape) return { issues: [{ file, ...shape, path: '(document)' }] };
  const json = parseJson(text);
  if (json !== undefined) return { parsed: { data: json, locate: jsonLocator(text) }, issues: [] };

  const lines = new LineCounter();
  let doc: Document;
  let data: unknown;
  try {
    doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
    if (doc.errors.length > 0) {
      return {
        issues: doc.errors.map((e) => ({
          file,
          line: e.linePos?.[0]?.line,
          path: '(document)',
          message: e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, ''),
        })),
      };
    }
    data = doc.toJS({ maxAliasCount: MAX_ALIASES }) ?? {};
  } catch (err) {
    // An alias bomb (ReferenceError), or whatever else the parser gives up on.
    return { issues: [{ file, path: '(document)', message: (err as Error).message }] };
  }
  return { parsed: { data, locate: locator(doc, lines) }, issues: [] };
}

/**
 * Why the text is no config (nesting past MAX_NESTING, entries past MAX_ENTRIES), or null. Counts
 * loosely: it over-estimates both, never under.
 */
function unlikeAnyConfig(text: string): { line?: number; message: string } | null {
  let flow = 0;
  let entries = 0;
  let line = 1;
  let lineStart = true;
  let lead = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x0a) {
      line++;
      lineStart = true;
      lead = 0;
      continue;
    }
    // ',' '-' ':': what separates or starts an entry
    if (c === 0x2c || c === 0x2d || c === 0x3a) entries++;
    if (lineStart) {
      // space, tab, '-', '?', ':': what block nesting is written with
      if (c === 0x20 || c === 0x09 || c === 0x2d || c === 0x3f || c === 0x3a) {
        if (++lead > MAX_NESTING) return { line, message: `nests deeper than ${MAX_NESTING} levels; no config does` };
        continue;
      }
      lineStart = false;
    }
    if (c === 0x5b || c === 0x7b) {
      if (++flow > MAX_NESTING) return { line, message: `nests deeper than ${MAX_NESTING} levels; no config does` };
    } else if ((c === 0x5d || c === 0x7d) && flow > 0) {
      flow--;
    }
  }
  if (entries > MAX_ENTRIES) return { message: `has more than ${MAX_ENTRIES} entries; no config etcd can record does` };
  return null;
}

/** A JSON object text as data; undefined for anything else (left to the YAML parser to place). */
function parseJson(text: string): unknown {
  if (!/^\s*\{/.test(text)) return undefined;
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return undefined;
  }
  // JSON.parse keeps the last of two equal keys without a word; the YAML parser names the line.
  return duplicateKey(text) ? undefined : data;
}

/** Whether an object of the valid JSON `text` has a key twice. */
function duplicateKey(text: string): boolean {
  const open: (Set<string> | null)[] = [];
  let keyNext = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      let j = i + 1;
      let escaped = false;
      while (text.charCodeAt(j) !== 0x22) {
        if (text.charCodeAt(j) === 0x5c) {
          escaped = true;
          j++;
        }
        j++;
      }
      const keys = open[open.length - 1];
      if (keyNext && keys) {
        const key = escaped ? (JSON.parse(text.slice(i, j + 1)) as string) : text.slice(i + 1, j);
        if (keys.has(key)) return true;
        keys.add(key);
        keyNext = false;
      }
      i = j;
    } else if (c === 0x7b) {
      open.push(new Set());
      keyNext = true;
    } else if (c === 0x5b) {
      open.push(null);
    } else if (c === 0x7d || c === 0x5d) {
      open.pop();
    } else if (c === 0x2c) {
      keyNext = open[open.length - 1] !== null;
    }
  }
  return false;
}

function locator(doc: Document, lines: LineCounter): ParsedText['locate'] {
  return (path) => {
    for (let n = path.length; n >= 0; n--) {
      const node = doc.getIn(path.slice(0, n), true);
      if (isNode(node) && node.range) return lines.linePos(node.range[0]).line;
    }
    return undefined;
  };
}

/** Where a path of a JSON text is: line 1 of a one-line text; else found by the YAML parser, up to a size. */
function jsonLocator(text: string): ParsedText['locate'] {
  if (!text.trimEnd().includes('\n')) return () => 1;
  return text.length <= LOCATE_JSON_MAX ? lazyLocator(text) : () => undefined;
}

/** Lines found by the YAML parser, run only when a line is asked for (a valid document needs none). */
function lazyLocator(text: string): ParsedText['locate'] {
  let locate: ParsedText['locate'] | null = null;
  return (path) => {
    if (!locate) {
      const lines = new LineCounter();
      locate = locator(parseDocument(text, { lineCounter: lines }), lines);
    }
    return locate(path);
  };
}
