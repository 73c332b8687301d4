// Reading documents from YAML/JSON text, files and folders, with every issue placed at its file
// and line.
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseText } from './text.js';
import {
  formatPath,
  validateMerged,
  type ConfigIssue,
  type DocumentParse,
  type PathSegment,
  type RawIssue,
  type ValidateOptions,
  type ValidationResult,
} from './validate.js';

/** The files a folder contributes to a document. */
export const CONFIG_FILE = /\.(ya?ml|json)$/i;

/** Every *.yaml, *.yml and *.json file named or found below a named folder, in a stable order. */
export async function expandPaths(paths: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of paths) {
    const s = await stat(p).catch(() => null);
    if (!s) throw new Error(`${p}: no such file or directory`);
    if (!s.isDirectory()) {
      out.push(p);
      continue;
    }
    const entries = await readdir(p, { recursive: true, withFileTypes: true });
    const found = entries
      .filter((e) => e.isFile() && CONFIG_FILE.test(e.name))
      .map((e) => join(e.parentPath ?? e.path, e.name))
      .sort();
    out.push(...found);
  }
  return out;
}


export interface ParsedSource {
  /** Where the data came from: a file path, or an etcd key. */
  file: string;
  data: unknown;
  locate?: (path: readonly PathSegment[]) => number | undefined;
  /** parseDocument(data), when the caller has it already. */
  parsed?: DocumentParse;
}

/** Parse YAML/JSON texts; a syntax problem in one does not hide the others'. */
export function parseSources(sources: readonly { file: string; text: string }[]): { parsed: ParsedSource[]; issues: ConfigIssue[] } {
  const parsed: ParsedSource[] = [];
  const issues: ConfigIssue[] = [];
  for (const { file, text } of sources) {
    const r = parseText(text, file);
    issues.push(...r.issues);
    if (r.parsed) parsed.push({ file, ...r.parsed });
  }
  return { parsed, issues };
}

/** Validate parsed sources as ONE desired state, each problem placed at its source and line. */
export function validateParsed(sources: readonly ParsedSource[], opts: ValidateOptions = {}): ValidationResult {
  return validateMerged(sources.map(({ file, data, locate, parsed }) => ({ data, parsed, name: file, place: (r: RawIssue) => place(r, file, locate) })), opts);
}

export function validateSources(sources: readonly { file: string; text: string }[], opts: ValidateOptions = {}): ValidationResult {
  const { parsed, issues } = parseSources(sources);
  if (issues.length > 0) return { ok: false, issues };
  return validateParsed(parsed, opts);
}

function place(r: RawIssue, file: string, locate: ParsedSource['locate']): ConfigIssue {
  return { file, line: locate?.(r.path), path: formatPath(r.path), message: r.message };
}

/** `signalbox validate` / `apply -f`: files and folders, merged. */
export async function loadConfigFiles(paths: readonly string[], opts: ValidateOptions = {}): Promise<ValidationResult> {
  let files: string[];
  try {
    files = await expandPaths(paths);
  } catch (err) {
    return { ok: false, issues: [{ path: '(document)', message: (err as Error).message }] };
  }
  if (files.length === 0) {
    return { ok: false, issues: [{ path: '(document)', message: `no *.yaml, *.yml or *.json file in ${paths.join(', ')}` }] };
  }
  const sources = await Promise.all(files.map(async (file) => ({ file, text: await readFile(file, 'utf8') })));
  return validateSources(sources, opts);
}
