// One proxy's /metrics from its workers' (--workers N): every worker renders its own Prometheus
// text; the primary adds them up here, so a scrape sees one proxy. prom-client's
// AggregatorRegistry cannot do it: the per-request series are rendered as text (metrics.ts), not
// kept in a prom-client registry.
//
// Counters, histograms and summaries add up. Gauges add up too (memory, handles, requests in
// flight), except those where a sum means nothing: the config version served by every worker is
// the smallest one, a target is in rotation only where every worker has it in rotation, the
// event-loop lag is the worst worker's, and the start time is the oldest worker's.
const GAUGE_MIN = new Set(['signalbox_config_version', 'signalbox_upstream_target_healthy', 'process_start_time_seconds']);
const GAUGE_MAX = /^(nodejs_eventloop_lag_|nodejs_version_info$)/;

type Combine = (a: number, b: number) => number;
const sum: Combine = (a, b) => a + b;

function combineFor(name: string, type: string): Combine {
  if (type !== 'gauge') return sum;
  if (GAUGE_MIN.has(name)) return Math.min;
  if (GAUGE_MAX.test(name)) return Math.max;
  return sum;
}

interface Family {
  head: string[];
  combine: Combine;
  /** Series (name and labels) → value, in the order first seen. */
  samples: Map<string, number>;
}

/** Prometheus text expositions added up into one, families and series in the order first seen. */
export function mergeMetricsText(texts: readonly string[]): string {
  const families = new Map<string, Family>();
  const familyOf = (name: string): Family => {
    let family = families.get(name);
    if (family === undefined) {
      family = { head: [], combine: sum, samples: new Map() };
      families.set(name, family);
    }
    return family;
  };
  for (const text of texts) {
    let current: Family | null = null;
    for (const line of text.split('\n')) {
      if (line === '') continue;
      const head = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (head !== null) {
        const [, kind, name, rest] = head as unknown as [string, string, string, string];
        current = familyOf(name);
        if (!current.head.includes(line)) current.head.push(line);
        if (kind === 'TYPE') current.combine = combineFor(name, rest);
        continue;
      }
      if (line.startsWith('#')) continue;
      // A sample: the series, a space, the value (no timestamps in what the workers render).
      const at = line.lastIndexOf(' ');
      if (at < 0) continue;
      const series = line.slice(0, at);
      const value = Number(line.slice(at + 1));
      const family = current ?? familyOf(series.replace(/\{.*$/, ''));
      const seen = family.samples.get(series);
      family.samples.set(series, seen === undefined ? value : family.combine(seen, value));
    }
  }
  const out: string[] = [];
  for (const family of families.values()) {
    out.push(...family.head);
    for (const [series, value] of family.samples) out.push(`${series} ${value}`);
    out.push('');
  }
  return out.join('\n');
}
