// A sync's outcome in words: the agent's log lines and what `signalbox gitops --once` prints.
import { changeLine } from '../config/diff.js';
import { formatIssue } from '../config/validate.js';
import type { GitopsReport } from '../api/schemas.js';

/** One line, then one indented line per problem or change. */
export function summarize(report: GitopsReport): string {
  const commit = report.commit ? `${report.commit.slice(0, 12)} ${report.subject}` : 'no commit';
  const details = (lines: string[]) => lines.map((l) => `\n  ${l}`).join('');
  switch (report.state) {
    case 'synced':
      return `synced: version ${report.liveVersion} is live, equal to ${report.commit ? commit : report.dir}`;
    case 'uncommitted':
      return `uncommitted: config files differ from ${commit}; nothing applied until they are committed${details(report.uncommitted)}`;
    case 'invalid':
    case 'error':
      return `${report.state}: ${report.error?.message ?? 'unknown error'}${details((report.error?.details ?? []).map(formatIssue))}`;
    case 'drift': {
      const d = report.drift!;
      return (
        `drift: version ${d.version} was written outside git by ${d.author} (source ${d.source}); not overwritten ` +
        `(run with --force, or POST /api/v1/gitops/sync?force=true). Applying ${commit} would change:` +
        details(d.changes.map(changeLine))
      );
    }
  }
}
