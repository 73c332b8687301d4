// Which routes refer to an upstream or a policy: what deleting that object would break.
import type { Config, Kind } from './schema.js';

export interface Referrer {
  route: string;
  /** Where in the config, e.g. `routes[3].upstream`. */
  path: string;
}

export function referrers(config: Config, kind: Kind, id: string): Referrer[] {
  const out: Referrer[] = [];
  config.routes.forEach((route, i) => {
    if (kind === 'upstreams') {
      if (route.upstream === id) out.push({ route: route.id, path: `routes[${i}].upstream` });
      route.split?.forEach((arm, j) => {
        if (arm.upstream === id) out.push({ route: route.id, path: `routes[${i}].split[${j}].upstream` });
      });
    }
    if (kind === 'policies') {
      route.policies?.forEach((p, j) => {
        if (p === id) out.push({ route: route.id, path: `routes[${i}].policies[${j}]` });
      });
    }
  });
  return out;
}
