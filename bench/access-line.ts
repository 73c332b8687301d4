// Cost of one access-log line: accessLine against JSON.stringify of the same entry, made and
// made then encoded into a chunk as AccessLog does.
//   npm run bench:access-line
// Median ns per line of 5 rounds of 300 ms, over 1,000 entries shaped like the forwarding bench's
// (a 2,000-route config, durations of a few ms) and 1,000 with a Host, a body and a consumer.
import type { AccessEntry } from '../src/proxy/access-log.js';
import { accessLine } from '../src/proxy/access-line.js';
import { medianNsPerCall } from './stats.js';

function entries(full: boolean): AccessEntry[] {
  return Array.from({ length: 1000 }, (_, i) => ({
    time: new Date(1_795_000_000_000 + i).toISOString(),
    requestId: crypto.randomUUID(),
    traceId: (i * 7919).toString(16).padStart(32, '0'),
    spanId: (i * 104_729).toString(16).padStart(16, '0'),
    clientIp: '127.0.0.1',
    method: 'GET',
    host: full ? `api${i % 10}.example.com` : undefined,
    path: `/svc${i}/items/42`,
    protocol: '1.1',
    status: 200,
    bytesIn: full ? 100 + i : undefined,
    bytesOut: 2 + (i % 500),
    durationMs: Math.round(Math.random() * 5_000) / 1000,
    upstreamMs: Math.round(Math.random() * 4_000) / 1000,
    route: `svc${i}`,
    upstream: `up${i}`,
    target: `http://127.0.0.1:${8000 + (i % 100)}`,
    consumer: full ? `consumer-${i % 50}` : undefined,
    retries: 0,
    version: 7,
  }));
}

// Encoded as AccessLog does: into a 64 KiB chunk, a new chunk when the line may not fit.
const chunk = Buffer.allocUnsafeSlow(64 * 1024);
let used = 0;
function encoded(line: string): number {
  if (used + line.length * 3 > chunk.length) used = 0;
  used += chunk.write(line, used);
  return used;
}

const ways: [string, (e: AccessEntry) => number][] = [
  ['accessLine', (e) => accessLine(e).length],
  ['accessLine, encoded', (e) => encoded(accessLine(e))],
  ['JSON.stringify', (e) => (JSON.stringify(e) + '\n').length],
  ['JSON.stringify, encoded', (e) => encoded(JSON.stringify(e) + '\n')],
];

console.log('ns per access-log line (median of 5 rounds of 300 ms)');
console.log(['way'.padEnd(30), 'bare'.padStart(8), 'full'.padStart(8)].join(''));
const shapes = [entries(false), entries(true)];
for (const [name, line] of ways) {
  const row = shapes.map((es) => medianNsPerCall((i) => line(es[i % es.length]!)).toFixed(0).padStart(8));
  console.log([name.padEnd(30), ...row].join(''));
}
