// Where each endpoint of the control plane's API is: its method and its path under API_BASE, and
// nothing else. The declarations in endpoints.ts take these as they are and add the role, the
// schemas and the documentation; they are apart so that the CLI reaches an endpoint without
// loading zod and the config schemas (about 100 ms of every command's start). The client types a
// call by the declaration at the same method and path (EndpointAt).
import { OBJECT_KINDS, type ObjectKind } from '../config/kinds.js';

export const API_BASE = '/api/v1';

export type Method = 'GET' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';

export interface Route {
  readonly method: Method;
  /** Under API_BASE, find-my-way syntax: `/versions/:n`. */
  readonly path: string;
}

export const routes = {
  openapi: { method: 'GET', path: '/openapi.json' },

  getConfig: { method: 'GET', path: '/config' },
  putConfig: { method: 'PUT', path: '/config' },
  validateConfig: { method: 'POST', path: '/config/validate' },

  listVersions: { method: 'GET', path: '/versions' },
  getVersion: { method: 'GET', path: '/versions/:n' },
  diffVersions: { method: 'GET', path: '/versions/:a/diff/:b' },
  rollback: { method: 'POST', path: '/rollback' },

  listProxies: { method: 'GET', path: '/proxies' },
  getTraffic: { method: 'GET', path: '/traffic' },

  createToken: { method: 'POST', path: '/tokens' },
  listTokens: { method: 'GET', path: '/tokens' },
  deleteToken: { method: 'DELETE', path: '/tokens/:name' },

  getGitops: { method: 'GET', path: '/gitops' },
  reportGitops: { method: 'PUT', path: '/gitops/status' },
  requestSync: { method: 'POST', path: '/gitops/sync' },
  waitGitops: { method: 'GET', path: '/gitops/wait' },
} as const satisfies Record<string, Route>;

/** The five endpoints of one kind of object: list, get, put, patch, delete. */
export function objectRoutes<K extends ObjectKind>(kind: K) {
  const list = `/${kind}` as const;
  const one = `/${kind}/:id` as const;
  return {
    list: { method: 'GET', path: list },
    get: { method: 'GET', path: one },
    put: { method: 'PUT', path: one },
    patch: { method: 'PATCH', path: one },
    delete: { method: 'DELETE', path: one },
  } as const satisfies Record<string, Route>;
}

export type ObjectRoutes = ReturnType<typeof objectRoutes<ObjectKind>>;

export const objectRoutesByKind = Object.fromEntries(OBJECT_KINDS.map((kind) => [kind, objectRoutes(kind)])) as Record<ObjectKind, ObjectRoutes>;
