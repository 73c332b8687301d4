// The fleet: every proxy's own status, and whether it serves what etcd holds.
import type { ProxyStatus } from '../../api/schemas.js';
import { formatIssue } from '../../config/validate.js';
import { ProxyRegistry } from '../../store/proxy-registry.js';
import type { ApiContext, Handlers } from '../context.js';

export function proxyHandlers(ctx: ApiContext): Pick<Handlers, 'listProxies'> {
  return {
    listProxies: async () => {
      const [proxies, { view }] = await Promise.all([ProxyRegistry.list(ctx.client, ctx.keys), ctx.writer.snapshot()]);
      const liveVersion = view.state.version?.version ?? 0;
      // By hash too: a proxy that refused a key written straight into etcd serves the same
      // version number but not what etcd holds. And none is in sync with a config in etcd that
      // does not validate.
      const liveHash = view.objects.hash();
      const { valid } = view;
      return {
        body: {
          liveVersion,
          liveHash,
          liveErrors: view.issues().map(formatIssue),
          proxies: proxies.map(({ id, status }) => {
            const s = (typeof status === 'object' && status !== null ? status : {}) as Omit<ProxyStatus, 'id' | 'inSync'>;
            return { ...s, id, inSync: valid && s.version === liveVersion && s.hash === liveHash };
          }),
        },
      };
    },
  };
}
