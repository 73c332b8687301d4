// The fleet: every proxy's own status, whether it serves what etcd holds, whether it lags, and
// how long recent versions took to reach it.
import { DEFAULT_TOP_ROUTES, type ProxyStatus } from '../../api/schemas.js';
import { formatIssue } from '../../config/validate.js';
import { ProxyRegistry } from '../../store/proxy-registry.js';
import type { ApiContext, Handlers } from '../context.js';
import { DEFAULT_LAG_THRESHOLD_MS, isLagging, versionConvergence } from '../fleet-convergence.js';
import { FleetTraffic } from '../fleet-traffic.js';

/** Where each registered proxy says its admin port is. */
async function adminPorts(ctx: ApiContext) {
  return (await ProxyRegistry.list(ctx.client, ctx.keys)).map(({ id, status }) => {
    const admin = (status as { listen?: { admin?: unknown } } | null)?.listen?.admin;
    return { id, admin: typeof admin === 'string' ? admin : undefined };
  });
}

export function proxyHandlers(ctx: ApiContext): Pick<Handlers, 'listProxies' | 'getTraffic'> {
  const traffic = new FleetTraffic(() => adminPorts(ctx));
  return {
    getTraffic: async ({ query }) => ({ body: await traffic.get(query.top ?? DEFAULT_TOP_ROUTES) }),
    listProxies: async ({ query }) => {
      const [proxies, { view }] = await Promise.all([ProxyRegistry.list(ctx.client, ctx.keys), ctx.writer.snapshot()]);
      const live = view.state.version;
      const liveVersion = live?.version ?? 0;
      // By hash too: a proxy that refused a key written straight into etcd serves the same
      // version number but not what etcd holds. And none is in sync with a config in etcd that
      // does not validate.
      const liveHash = view.objects.hash();
      const { valid } = view;
      const lagThresholdMs = query.lagThresholdMs ?? DEFAULT_LAG_THRESHOLD_MS;
      const now = Date.now();
      const members = proxies.map(({ id, status }) => {
        const s = (typeof status === 'object' && status !== null ? status : {}) as Omit<ProxyStatus, 'id' | 'inSync' | 'lagging'>;
        const member = { ...s, id };
        return { ...member, inSync: valid && s.version === liveVersion && s.hash === liveHash, lagging: isLagging(member, live, now, lagThresholdMs) };
      });
      return {
        body: {
          liveVersion,
          liveHash,
          liveErrors: view.issues().map(formatIssue),
          liveCommittedAt: live?.at || null,
          lagThresholdMs,
          lagging: members.filter((p) => p.lagging).length,
          convergence: versionConvergence(members, live),
          proxies: members,
        },
      };
    },
  };
}
