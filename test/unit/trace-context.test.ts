import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAccessLogMode } from '../../src/proxy/access-log.js';
import { childContext } from '../../src/proxy/trace-context.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';

describe('childContext (W3C traceparent)', () => {
  it('continues a valid trace with a new span of its own, keeping the sampled flag only', () => {
    for (const [flags, kept] of [['01', '01'], ['00', '00'], ['03', '01'], ['fe', '00']]) {
      const c = childContext(`00-${TRACE}-00f067aa0ba902b7-${flags}`);
      assert.equal(c.traceId, TRACE);
      assert.equal(c.parentId, '00f067aa0ba902b7');
      assert.notEqual(c.spanId, '00f067aa0ba902b7');
      assert.equal(c.header, `00-${TRACE}-${c.spanId}-${kept}`);
      assert.equal(c.keepsState, true);
    }
  });

  it('takes a future version with more fields, and answers it as version 00', () => {
    const c = childContext(`01-${TRACE}-00f067aa0ba902b7-01-extra`);
    assert.equal(c.header, `00-${TRACE}-${c.spanId}-01`);
  });

  it('starts a new, unsampled trace (dropping tracestate) for anything malformed', () => {
    const bad = [
      undefined,
      ['a', 'b'],
      '',
      `ff-${TRACE}-00f067aa0ba902b7-01`,
      `00-${TRACE}-00f067aa0ba902b7-01-extra`,
      `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`,
      `00-${TRACE}-${'0'.repeat(16)}-01`,
      `00-${TRACE.toUpperCase()}-00f067aa0ba902b7-01`,
      `00-${TRACE}-00f067aa0ba902b7`,
    ];
    for (const sent of bad) {
      const c = childContext(sent);
      assert.equal(c.parentId, null, String(sent));
      assert.notEqual(c.traceId, TRACE);
      assert.match(c.header, /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
      assert.equal(c.keepsState, false);
    }
  });

  it('samples a new trace with the share asked for; a client\'s valid traceparent decides for itself', () => {
    assert.equal(childContext(undefined, 1).sampled, true);
    assert.match(childContext(undefined, 1).header, /-01$/);
    assert.equal(childContext(undefined, 0).sampled, false);
    const sampled = Array.from({ length: 2000 }, () => childContext('bad', 0.5).sampled).filter(Boolean).length;
    assert.ok(sampled > 800 && sampled < 1200, `about half: ${sampled}`);
    assert.equal(childContext(`00-${TRACE}-00f067aa0ba902b7-00`, 1).sampled, false);
    assert.equal(childContext(`00-${TRACE}-00f067aa0ba902b7-01`, 0).sampled, true);
  });

  it('makes a different span id each time', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => childContext(undefined).spanId));
    assert.equal(ids.size, 1000);
  });
});

describe('parseAccessLogMode', () => {
  it('reads the modes and shares', () => {
    assert.deepEqual(parseAccessLogMode('off'), { kind: 'off' });
    assert.deepEqual(parseAccessLogMode('errors'), { kind: 'errors' });
    assert.deepEqual(parseAccessLogMode('all'), { kind: 'all' });
    assert.deepEqual(parseAccessLogMode('0.25'), { kind: 'sampled', rate: 0.25 });
    assert.deepEqual(parseAccessLogMode('.5'), { kind: 'sampled', rate: 0.5 });
    assert.deepEqual(parseAccessLogMode('0'), { kind: 'off' });
    assert.deepEqual(parseAccessLogMode('1'), { kind: 'all' });
  });

  it('refuses anything else', () => {
    for (const text of ['', 'some', '1.5', '-0.1', '0x1', '1e-1', 'NaN', ' 0.5']) assert.throws(() => parseAccessLogMode(text), /must be off, errors, all or a share from 0 to 1/, text);
  });
});
