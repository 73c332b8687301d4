// Small line charts of the live traffic, as plain SVG elements (no library, no inline style: the
// page's Content-Security-Policy allows neither). Colours come from style.css by class.

const SVG = 'http://www.w3.org/2000/svg';

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
  el.append(...children);
  return el;
}

/** What each series is, how its values read, and its smallest top of scale (a flat 0 stays low). */
export const METRICS = {
  rps: { label: 'requests/s', field: 'requestsPerSecond', floor: 1, format: (v) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)) + '/s' },
  errors: { label: 'error rate (5xx)', field: 'errorRate', floor: 0.05, format: (v) => `${(v * 100).toFixed(v > 0 && v < 0.1 ? 1 : 0)} %` },
  p99: { label: 'p99 latency', field: 'p99Ms', floor: 5, format: (v) => (v >= 1000 ? `${(v / 1000).toFixed(1)} s` : `${v >= 10 ? v.toFixed(0) : v.toFixed(1)} ms`) },
};

/** The newest value that is not null (a bucket without requests has no rate or p99). */
export function latest(values) {
  for (let i = values.length - 1; i >= 0; i--) if (values[i] !== null) return values[i];
  return null;
}

/**
 * A line chart of `values` (oldest first, null: no data), `width` × `height` pixels, with the
 * newest value beside it. Its accessible name says what it shows over which window.
 */
export function chart(kind, values, { width = 96, height = 24, window = '5 minutes', about = '' } = {}) {
  const m = METRICS[kind];
  const known = values.filter((v) => v !== null);
  const top = Math.max(m.floor, ...known);
  const x = (i) => (values.length <= 1 ? width : (i / (values.length - 1)) * width);
  const y = (v) => height - 1 - (v / top) * (height - 2);
  // One line per run of buckets with data: a bucket without requests is a gap, not a zero.
  const runs = [];
  let run = null;
  values.forEach((v, i) => {
    if (v === null) return void (run = null);
    if (!run) runs.push((run = []));
    run.push(`${x(i).toFixed(1)},${y(v).toFixed(1)}`);
  });
  const now = latest(values);
  const peak = known.length ? Math.max(...known) : null;
  const name = `${m.label}${about ? ` ${about}` : ''} over the last ${window}: ` +
    (now === null ? 'no requests' : `now ${m.format(now)}, peak ${m.format(peak)}`);
  const figure = svg('svg', { class: `chart ${kind}`, width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': name },
    svg('title', {}, name),
    svg('line', { class: 'baseline', x1: 0, y1: height - 0.5, x2: width, y2: height - 0.5 }),
    ...runs.map((points) => (points.length === 1
      ? svg('circle', { class: 'dot', cx: points[0].split(',')[0], cy: points[0].split(',')[1], r: 1.5 })
      : svg('polyline', { class: 'line', points: points.join(' ') }))));
  const value = document.createElement('span');
  value.className = 'chart-value';
  value.textContent = now === null ? '—' : m.format(now);
  const cell = document.createElement('span');
  cell.className = 'metric';
  cell.dataset.metric = kind;
  cell.append(figure, value);
  return cell;
}
