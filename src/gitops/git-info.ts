// What git says about a folder: the commit checked out there, and which config files in it
// differ from that commit.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { CONFIG_FILE } from '../config/load.js';

export type Checkout =
  | { workTree: false; reason: string }
  | {
      workTree: true;
      /** The repository's git dir: commits, checkouts and pulls all rewrite files at its top. */
      gitDir: string;
      /** null before the first commit. */
      commit: string | null;
      subject: string | null;
      /** Config files (relative to the repository) that are changed, added, deleted or untracked. */
      uncommitted: string[];
    };

type GitFailure = Error & { code?: string | number; stderr?: string };

const run = promisify(execFile);

async function git(dir: string, args: string[]): Promise<string> {
  // --no-optional-locks: `git status` must not refresh the index, or the watched git dir would
  // change under every sync and wake the agent again.
  const { stdout } = await run('git', ['--no-optional-locks', '-C', dir, ...args], { maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

function failure(dir: string, err: GitFailure): Error {
  const said = (err.stderr ?? '').trim().split('\n')[0];
  return new Error(`git in ${dir}: ${said || err.message}`);
}

export async function readCheckout(dir: string): Promise<Checkout> {
  let lines: string[];
  try {
    lines = (await git(dir, ['rev-parse', '--is-inside-work-tree', '--absolute-git-dir'])).trim().split('\n');
  } catch (err) {
    const e = err as GitFailure;
    if (e.code === 'ENOENT') return { workTree: false, reason: 'git is not installed' };
    if (/not a git repository/i.test(e.stderr ?? '')) return { workTree: false, reason: 'not a git work tree' };
    throw failure(dir, e);
  }
  if (lines[0] !== 'true') return { workTree: false, reason: 'not a git work tree' };
  try {
    // --verify -q: no commit yet is an empty answer with exit 1, not an error to report.
    const commit = (await git(dir, ['rev-parse', '--verify', '-q', 'HEAD^{commit}']).catch(() => '')).trim() || null;
    const subject = commit ? (await git(dir, ['show', '-s', '--format=%s', commit])).trim() : null;
    const status = await git(dir, ['status', '--porcelain', '-z', '--untracked-files=all', '--', '.']);
    return { workTree: true, gitDir: lines[1]!, commit, subject, uncommitted: uncommittedConfigFiles(status) };
  } catch (err) {
    throw failure(dir, err as GitFailure);
  }
}

/** The config files in `git status --porcelain -z` output. */
function uncommittedConfigFiles(status: string): string[] {
  const entries = status.split('\0');
  const files: string[] = [];
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!;
    if (entry.length < 4) continue;
    const path = entry.slice(3);
    if (CONFIG_FILE.test(path)) files.push(path);
    // A rename or copy is followed by the path it came from: that file is gone from the folder too.
    if (/^[RC]|^.[RC]/.test(entry)) {
      const from = entries[++i];
      if (from && CONFIG_FILE.test(from)) files.push(from);
    }
  }
  return files;
}
