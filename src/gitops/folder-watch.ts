// fs events under a folder and at the top of a git dir, as one "something changed" callback.
// Node 20's recursive fs.watch opens one watcher per file on Linux, .git/objects included, so this
// watches each directory of the folder by itself (never .git), and the git dir only at its top,
// where every commit, checkout, reset and pull rewrites index, HEAD or ORIG_HEAD.
import { watch, type FSWatcher } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';

export class FolderWatch {
  private readonly watchers = new Map<string, FSWatcher>();
  private closed = false;

  constructor(
    private readonly dir: string,
    private readonly gitDir: string | null,
    private readonly onChange: (path: string) => void,
  ) {}

  /** Watch the directories there are now; call it after a change (a folder may have come or gone). */
  async refresh(): Promise<void> {
    const wanted = new Set(await directoriesUnder(this.dir));
    if (this.gitDir) wanted.add(this.gitDir);
    if (this.closed) return;
    for (const [dir, watcher] of this.watchers) {
      if (wanted.has(dir)) continue;
      watcher.close();
      this.watchers.delete(dir);
    }
    for (const dir of wanted) if (!this.watchers.has(dir)) this.add(dir);
  }

  close(): void {
    this.closed = true;
    for (const watcher of this.watchers.values()) watcher.close();
    this.watchers.clear();
  }

  private add(dir: string): void {
    let watcher: FSWatcher;
    try {
      watcher = watch(dir, (_event, name) => this.onChange(name ? join(dir, name) : dir));
    } catch {
      return; // gone since it was listed; the change that removed it calls for a refresh anyway
    }
    watcher.on('error', () => {
      watcher.close();
      this.watchers.delete(dir);
      this.onChange(dir);
    });
    this.watchers.set(dir, watcher);
  }
}

async function directoriesUnder(root: string): Promise<string[]> {
  const found = [root];
  for (let i = 0; i < found.length; i++) {
    const entries = await readdir(found[i]!, { withFileTypes: true }).catch(() => []);
    for (const e of entries) if (e.isDirectory() && e.name !== '.git') found.push(join(found[i]!, e.name));
  }
  return found;
}
