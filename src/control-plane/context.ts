// What every group of API routes is given, and the shape of a route.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Etcd3 } from 'etcd3';
import type { Logger } from 'pino';
import type { ConfigWriter } from '../store/config-writer.js';
import type { Keys } from '../store/keys.js';
import type { Authenticate } from './auth.js';
import type { TokenStore } from './token-store.js';

export interface ApiContext {
  client: Etcd3;
  keys: Keys;
  writer: ConfigWriter;
  authenticate: Authenticate;
  tokens: TokenStore;
  logger: Logger;
}

export type Params = Record<string, string | undefined>;
export type Handler = (req: IncomingMessage, res: ServerResponse, params: Params) => Promise<void>;
export type Method = 'GET' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';

/** [method, path under /api/v1, handler] */
export type Route = [Method, string, Handler];
