import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ID_PATTERN } from '../../src/config/fields.js';
import { isoNow, type AccessEntry } from '../../src/proxy/access-log.js';
import { MAX_LINE_BYTES, NEEDS_ESCAPE, accessLine, millis } from '../../src/proxy/access-line.js';
import { childContext } from '../../src/proxy/trace-context.js';

const full: AccessEntry = {
  time: '2026-11-28T02:00:00.123Z',
  requestId: 'req-1',
  traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
  spanId: 'b7ad6b7169203331',
  clientIp: '203.0.113.5',
  method: 'POST',
  host: 'api.example.com',
  path: '/api/users',
  protocol: '1.1',
  status: 201,
  bytesIn: 12,
  bytesOut: 512,
  durationMs: 2.41,
  upstreamMs: 1.875,
  route: 'users-api',
  upstream: 'users',
  target: 'http://10.0.0.5:9101',
  consumer: 'alice',
  retries: 1,
  version: 42,
};

const bare: AccessEntry = { ...full, host: undefined, bytesIn: undefined, upstreamMs: undefined, route: undefined, upstream: undefined, target: undefined, consumer: undefined, retries: 0 };

// What a client controls reaches the line: the path, the host, the request id, the method.
const HOSTILE = ['"}{"injected":true', 'back\\slash', 'new\nline\r\ttab', '\u0000\u001f\u007f', 'caf\u00e9 \u00c3\u00a9', '\u{1f680}', '\ud800 lone high', 'lone low \udc00', '\u2028\u2029', ''];

describe('accessLine', () => {
  it('is JSON.stringify(entry) plus a newline, every field present or the optional ones absent', () => {
    assert.equal(accessLine(full), JSON.stringify(full) + '\n');
    assert.equal(accessLine(bare), JSON.stringify(bare) + '\n');
  });

  it('escapes what a client sends exactly as JSON.stringify does, so a line stays one JSON object', () => {
    for (const h of HOSTILE) {
      const e: AccessEntry = { ...full, path: `/p/${h}`, host: h, requestId: h, method: h, consumer: h, target: `http://${h}:80` };
      const line = accessLine(e);
      assert.equal(line, JSON.stringify(e) + '\n', JSON.stringify(h));
      assert.equal(line.indexOf('\n'), line.length - 1, 'one line');
      assert.equal(JSON.parse(line).path, `/p/${h}`);
    }
  });

  it('keeps a line within MAX_LINE_BYTES (what a pipe writes whole) by cutting the longest unbounded fields, and says so', () => {
    const long = (unit: string, bytes: number) => unit.repeat(Math.ceil(bytes / Buffer.byteLength(JSON.stringify(unit).slice(1, -1))));
    const cases: Partial<AccessEntry>[] = [
      { path: `/${long('p', 16_000)}` },
      { path: `/${long('\u00e9', 9_000)}` }, // 2 bytes each
      { path: `/${long('\u6771', 9_000)}` }, // 3 bytes each
      { path: `/${long('\u{1f680}', 9_000)}` }, // a surrogate pair, 4 bytes: never split
      { path: `/${long('\u0001', 9_000)}` }, // escaped as \u0001, 6 bytes
      { host: long('h', 5_000), path: `/${long('p', 3_000)}` },
      { method: long('M', 10_000) }, // HTTP/2's :method
      { consumer: long('\u{1f680}', 6_000), target: `http://${long('t', 6_000)}:80` },
      { path: `/${long('p', 4_000)}`, host: long('"', 4_000), method: long('\\', 4_000), consumer: long('c', 4_000), target: long('t', 4_000) },
    ];
    for (const c of cases) {
      const e: AccessEntry = { ...full, ...c };
      const line = accessLine(e);
      const bytes = Buffer.byteLength(line);
      const what = Object.keys(c).join(', ');
      assert.ok(bytes <= MAX_LINE_BYTES, `${what}: ${bytes} bytes`);
      assert.ok(bytes > MAX_LINE_BYTES - 12, `${what}: cut to ${bytes} bytes, more than needed`);
      assert.equal(line.indexOf('\n'), line.length - 1, 'one line');
      const back = JSON.parse(line) as Record<string, unknown>;
      assert.equal(back.truncated, true);
      for (const [k, v] of Object.entries(e)) {
        if (!(k in c)) assert.deepEqual(back[k], v, k);
        else {
          assert.ok(typeof v === 'string' && v.startsWith(back[k] as string), `${k} is a prefix of what was sent`);
          assert.ok(!/[\ud800-\udbff]$/.test(back[k] as string), `${k}: no surrogate pair split`);
        }
      }
    }
  });

  it('a line within MAX_LINE_BYTES is written whole, without "truncated"', () => {
    const fixed = Buffer.byteLength(accessLine({ ...full, path: '' }));
    const e: AccessEntry = { ...full, path: 'p'.repeat(MAX_LINE_BYTES - fixed) };
    assert.equal(Buffer.byteLength(accessLine(e)), MAX_LINE_BYTES);
    assert.equal(accessLine(e), JSON.stringify(e) + '\n');
  });

  it('writes a number that is not finite as null, as JSON does', () => {
    const e: AccessEntry = { ...full, bytesIn: Number.NaN, durationMs: Number.POSITIVE_INFINITY, bytesOut: -0 };
    assert.equal(accessLine(e), JSON.stringify(e) + '\n');
  });
});

describe('millis', () => {
  it('writes a duration rounded to the microsecond as JSON.stringify does', () => {
    const edges = [0, -0, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 1.001, 1.01, 1.1, 2.385, 9.999, 10, 100.05, 999_999_999.999, 1e9, 1e12, -1, Number.NaN];
    const random = Array.from({ length: 20_000 }, (_, i) => Math.round(Math.random() * 10 ** (i % 10)) / 1000);
    for (const n of [...edges, ...random]) assert.equal(millis(n), JSON.stringify(n), String(n));
  });
});

describe('the fields written without an escape search', () => {
  it('an id (route, upstream) cannot hold a character JSON escapes', () => {
    for (let c = 0; c <= 0xffff; c++) {
      const ch = String.fromCharCode(c);
      if (ID_PATTERN.test(`a${ch}`)) assert.ok(!NEEDS_ESCAPE.test(ch), `U+${c.toString(16)}`);
    }
  });

  it('the time and the trace ids are made of plain characters', () => {
    const given = childContext('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01');
    const made = childContext(undefined);
    for (const s of [isoNow(), given.traceId, given.spanId, made.traceId, made.spanId]) assert.match(s, /^[0-9A-Za-z:.-]+$/);
  });
});
