// The policy chain: order, a policy that answers stops it, one that waits makes only the rest
// wait; header changes on both sides; the body limit.
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, it } from 'node:test';
import {
  CONTINUE,
  HANDLED,
  NO_CONSUMERS,
  PolicyContext,
  editHeaderList,
  editHeaderObject,
  runPolicies,
  type PolicyInstance,
  type PolicyOutcome,
} from '../../src/proxy/policies/index.js';
import { prepareOwnAnswer } from '../../src/proxy/own-answer.js';

function fakeRes(sent = false) {
  const headers: Record<string, string | string[]> = {};
  const res = {
    headersSent: sent,
    setHeader: (n: string, v: string | string[]) => void (headers[n] = v),
    getHeader: (n: string) => headers[n],
    removeHeader: (n: string) => void delete headers[n],
  };
  return { res: res as unknown as ServerResponse, headers };
}

const req = {} as IncomingMessage;
const ctxOf = (res = fakeRes().res) => new PolicyContext('r', 0, '192.0.2.1', 'req-1', NO_CONSUMERS, res);

function policy(id: string, seen: string[], outcome: () => PolicyOutcome): PolicyInstance {
  return { id, type: 'test', handle: () => (seen.push(id), outcome()) };
}

describe('policy chain', () => {
  it('runs in order; the first that answers stops it', () => {
    const seen: string[] = [];
    const chain = [policy('a', seen, () => CONTINUE), policy('b', seen, () => HANDLED), policy('c', seen, () => CONTINUE)];
    assert.equal(runPolicies(chain, req, fakeRes().res, ctxOf()), false);
    assert.deepEqual(seen, ['a', 'b']);
  });

  it('stays synchronous while no policy waits', () => {
    const seen: string[] = [];
    assert.equal(runPolicies([policy('a', seen, () => CONTINUE), policy('b', seen, () => CONTINUE)], req, fakeRes().res, ctxOf()), true);
  });

  it('a policy that waits makes the rest wait for its decision, in order', async () => {
    const seen: string[] = [];
    let release!: (r: 0 | 1) => void;
    const chain = [
      policy('a', seen, () => CONTINUE),
      policy('b', seen, () => new Promise((r) => (release = r))),
      policy('c', seen, () => CONTINUE),
      policy('d', seen, () => Promise.resolve(HANDLED)),
      policy('e', seen, () => CONTINUE),
    ];
    const outcome = runPolicies(chain, req, fakeRes().res, ctxOf());
    assert.ok(outcome instanceof Promise);
    assert.deepEqual(seen, ['a', 'b'], 'c waits for b');
    release(CONTINUE);
    assert.equal(await outcome, false);
    assert.deepEqual(seen, ['a', 'b', 'c', 'd'], 'd answered: e never ran');
  });
});

describe('policy context: header changes and the body limit', () => {
  it('upstream changes apply in order to the request headers', () => {
    const ctx = ctxOf();
    ctx.editUpstream('remove', 'X-Api-Key');
    ctx.editUpstream('set', 'X-Consumer-Id', 'alice');
    ctx.editUpstream('add', 'x-tag', 'one');
    ctx.editUpstream('add', 'x-tag', 'two');
    const out = editHeaderList(['Host', 'h', 'X-API-Key', 'secret', 'x-consumer-id', 'forged', 'accept', '*/*'], ctx.upstreamEdits!);
    assert.deepEqual(out, ['Host', 'h', 'accept', '*/*', 'x-consumer-id', 'alice', 'x-tag', 'one', 'x-tag', 'two']);
  });

  it('a name edited several times: a set or remove wins over what came before it, adds go after, each name once where first edited', () => {
    const ctx = ctxOf();
    ctx.editUpstream('add', 'x-a', '1');
    ctx.editUpstream('set', 'x-b', 'b');
    ctx.editUpstream('set', 'x-a', '2');
    ctx.editUpstream('add', 'x-a', '3');
    ctx.editUpstream('add', 'x-c', 'kept-with-sent');
    ctx.editUpstream('set', 'x-d', 'gone');
    ctx.editUpstream('remove', 'x-d');
    ctx.editUpstream('add', 'x-d', 'after-remove');
    const out = editHeaderList(['X-A', 'sent', 'X-C', 'sent', 'x-d', 'sent', 'X-Bb', 'other'], ctx.upstreamEdits!);
    assert.deepEqual(out, ['X-C', 'sent', 'X-Bb', 'other', 'x-a', '2', 'x-a', '3', 'x-b', 'b', 'x-c', 'kept-with-sent', 'x-d', 'after-remove']);
  });

  it("response changes go on the proxy's own answers (once), and win over the upstream's headers", () => {
    const { res, headers } = fakeRes();
    const ctx = ctxOf(res);
    ctx.editResponse('set', 'Access-Control-Allow-Origin', 'https://app.example.com');
    ctx.editResponse('add', 'vary', 'Origin');
    ctx.editResponse('remove', 'server');
    assert.deepEqual(headers, {}, 'nothing is set on the response before it is answered');
    headers.server = 'set-before';
    prepareOwnAnswer(res);
    prepareOwnAnswer(res);
    assert.deepEqual(headers, { 'access-control-allow-origin': 'https://app.example.com', vary: 'Origin' });
    const upstream: Record<string, string | string[]> = { 'access-control-allow-origin': '*', vary: 'Accept', server: 'app/1.0', 'content-type': 'text/plain' };
    editHeaderObject(upstream, ctx.responseEdits!);
    assert.deepEqual(upstream, { 'access-control-allow-origin': 'https://app.example.com', vary: ['Accept', 'Origin'], 'content-type': 'text/plain' });
  });

  it('the smallest body limit wins', () => {
    const ctx = ctxOf();
    assert.equal(ctx.maxBodyBytes, Infinity);
    ctx.limitBody(1000);
    ctx.limitBody(5000);
    assert.equal(ctx.maxBodyBytes, 1000);
  });
});
