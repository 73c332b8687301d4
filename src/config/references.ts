// Which objects refer to an upstream, a policy or a certificate: what deleting it would break.
import { SETTINGS_ID, globalPolicyIds, type Config, type Kind } from './schema.js';

export interface Referrer {
  /** The kind of the referring object: a route (upstream, policies), an upstream (tls.clientCertificate) or the settings (globalPolicies). */
  kind: 'routes' | 'upstreams' | 'settings';
  id: string;
  /** Where in the config, e.g. `routes[3].upstream`. */
  path: string;
}

export function referrers(config: Config, kind: Kind, id: string): Referrer[] {
  const out: Referrer[] = [];
  if (kind === 'policies') {
    globalPolicyIds(config).forEach((p, j) => {
      if (p === id) out.push({ kind: 'settings', id: SETTINGS_ID, path: `globalPolicies[${j}]` });
    });
  }
  if (kind === 'certificates') {
    config.upstreams.forEach((u, i) => {
      if (u.tls?.clientCertificate === id) out.push({ kind: 'upstreams', id: u.id, path: `upstreams[${i}].tls.clientCertificate` });
    });
  }
  config.routes.forEach((route, i) => {
    if (kind === 'upstreams') {
      if (route.upstream === id) out.push({ kind: 'routes', id: route.id, path: `routes[${i}].upstream` });
      route.split?.forEach((arm, j) => {
        if (arm.upstream === id) out.push({ kind: 'routes', id: route.id, path: `routes[${i}].split[${j}].upstream` });
      });
    }
    if (kind === 'policies') {
      route.policies?.forEach((p, j) => {
        if (p === id) out.push({ kind: 'routes', id: route.id, path: `routes[${i}].policies[${j}]` });
      });
    }
  });
  return out;
}
