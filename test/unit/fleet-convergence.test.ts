// The fleet view's convergence and lag, from registry entries as proxies write them (and as
// anyone with etcd access might: garbage is ignored, never a failure).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isLagging, versionConvergence, type FleetMember } from '../../src/control-plane/fleet-convergence.js';

const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
const apply = (version: number, appliedS: number, propagationMs: number | null) => ({ version, committedAt: at(version * 10), appliedAt: at(appliedS), propagationMs });

describe('fleet convergence', () => {
  it('per version: how many applied it, the slowest while running and which proxy, how many are still behind', () => {
    const proxies: FleetMember[] = [
      { id: 'a', version: 3, recentApplies: [apply(3, 31, 40), apply(2, 21, 15)] },
      { id: 'b', version: 3, recentApplies: [apply(3, 32, 120), apply(2, 22, 300)] },
      // Started after version 2 was committed: it applied it, but its time is no propagation.
      { id: 'c', version: 2, recentApplies: [apply(2, 25, null)] },
    ];
    assert.deepEqual(versionConvergence(proxies, { version: 3, at: at(30) }), [
      { version: 3, committedAt: at(30), applied: 2, pending: 1, maxPropagationMs: 120, lastProxy: 'b', lastAppliedAt: at(32) },
      { version: 2, committedAt: at(20), applied: 3, pending: 0, maxPropagationMs: 300, lastProxy: 'b', lastAppliedAt: at(22) },
    ]);
  });

  it('shows the live version before any proxy applied it; a draining proxy is not pending', () => {
    const proxies: FleetMember[] = [
      { id: 'a', version: 1, recentApplies: [apply(1, 11, 5)] },
      { id: 'old', version: 1, draining: true, recentApplies: [apply(1, 12, 9)] },
    ];
    const [live, one] = versionConvergence(proxies, { version: 2, at: at(20) });
    assert.deepEqual(live, { version: 2, committedAt: at(20), applied: 0, pending: 1, maxPropagationMs: null, lastProxy: null, lastAppliedAt: null });
    assert.equal(one!.maxPropagationMs, 9);
  });

  it('ignores what is not an apply in an entry written by hand', () => {
    const proxies: FleetMember[] = [
      { id: 'x', version: 'seven', recentApplies: 'lots' },
      { id: 'y', version: 1, recentApplies: [null, 5, { version: 1.5, appliedAt: at(1), committedAt: null, propagationMs: 1 }, { version: 1, appliedAt: at(2), committedAt: 7, propagationMs: 1 }, { version: 1, appliedAt: at(3), committedAt: null, propagationMs: Infinity }, apply(1, 4, 2)] },
    ];
    assert.deepEqual(versionConvergence(proxies, null), [
      { version: 1, committedAt: at(10), applied: 1, pending: 1, maxPropagationMs: 2, lastProxy: 'y', lastAppliedAt: at(4) },
    ]);
  });

  it('keeps the 10 newest versions', () => {
    const recentApplies = Array.from({ length: 14 }, (_, i) => apply(14 - i, 100 - i, 1));
    assert.deepEqual(versionConvergence([{ id: 'a', version: 14, recentApplies }], null).map((v) => v.version), [14, 13, 12, 11, 10, 9, 8, 7, 6, 5]);
  });

  it('lagging: not on the live version longer than the threshold after its commit', () => {
    const live = { version: 5, at: at(0) };
    const now = Date.parse(at(0)) + 10_000;
    assert.equal(isLagging({ id: 'p', version: 4 }, live, now, 30_000), false, 'within the threshold');
    assert.equal(isLagging({ id: 'p', version: 4 }, live, now, 5_000), true);
    assert.equal(isLagging({ id: 'p', version: null }, live, now, 5_000), true, 'serving nothing');
    assert.equal(isLagging({ id: 'p', version: 5 }, live, now, 0), false, 'on the live version');
    assert.equal(isLagging({ id: 'p', version: 4, draining: true }, live, now, 0), false, 'draining on purpose');
    assert.equal(isLagging({ id: 'p', version: 4 }, { version: 5, at: '' }, now, 30_000), true, 'a version key without a time counts as old');
    assert.equal(isLagging({ id: 'p', version: 4 }, null, now, 0), false, 'no version yet');
  });
});
