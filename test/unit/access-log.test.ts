import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { MAX_LINE_BYTES } from '../../src/proxy/access-line.js';
import { AccessLog, type AccessEntry } from '../../src/proxy/access-log.js';

const entry = (i: number, consumer: string | undefined, path: string): AccessEntry => ({
  time: '2026-11-28T02:00:00.123Z',
  requestId: `req-${i}`,
  traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
  spanId: 'b7ad6b7169203331',
  clientIp: '127.0.0.1',
  method: 'GET',
  host: undefined,
  path,
  protocol: '1.1',
  status: 200,
  bytesIn: undefined,
  bytesOut: i,
  durationMs: 1.5,
  upstreamMs: undefined,
  route: 'r',
  upstream: undefined,
  target: undefined,
  consumer,
  retries: 0,
  version: 1,
});

describe('AccessLog to a file', () => {
  it('writes every line whole across chunks, lines of multi-byte characters and lines cut to MAX_LINE_BYTES included', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'signalbox-access-log-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'access.log');
    const log = new AccessLog({ kind: 'all' }, file);
    // A JWT claim names the consumer: any characters, of 1 to 4 UTF-8 bytes each, in lines of
    // every length, so chunks end at every kind of boundary; paths of 70,000 characters are cut.
    const claims = ['alice', 'jos\u00e9', '\u6771\u4eac', '\u{1f680}', 'a"b\\c\nd'];
    const entries = Array.from({ length: 3000 }, (_, i) => entry(i, i % 7 === 0 ? undefined : claims[i % claims.length]!.repeat(1 + (i % 97)), i % 500 === 1 ? `/${'p'.repeat(70_000)}` : `/p/${i}`));
    for (const e of entries) log.write(e);
    log.close();
    let lines: string[] = [];
    for (const until = Date.now() + 5000; lines.length < entries.length && Date.now() < until; await sleep(20)) {
      lines = (await readFile(file, 'utf8').catch(() => '')).split('\n').filter((l) => l !== '');
    }
    assert.equal(lines.length, entries.length);
    lines.forEach((l, i) => {
      const sent = entries[i]!;
      if (sent.path.length < MAX_LINE_BYTES) assert.deepEqual(JSON.parse(l), JSON.parse(JSON.stringify(sent)), `line ${i + 1}`);
      else {
        const back = JSON.parse(l) as AccessEntry;
        assert.equal(back.truncated, true, `line ${i + 1}`);
        assert.ok(sent.path.startsWith(back.path) && Buffer.byteLength(l) < MAX_LINE_BYTES, `line ${i + 1}`);
        assert.equal(back.bytesOut, sent.bytesOut);
      }
    });
  });
});
