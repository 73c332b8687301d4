// What every group of API handlers is given (in the event loop's thread and in handler threads
// alike), and the handlers the endpoints need.
import type { Etcd3 } from 'etcd3';
import type { Logger } from 'pino';
import type { ObjectEndpoints, endpoints } from '../api/endpoints.js';
import type { Kind } from '../config/schema.js';
import type { ConfigWriter } from '../store/config-writer.js';
import type { Keys } from '../store/keys.js';
import type { Handler } from './router.js';
import type { TokenStore } from './token-store.js';

export interface ApiContext {
  client: Etcd3;
  keys: Keys;
  writer: ConfigWriter;
  tokens: TokenStore;
  logger: Logger;
}

type Endpoints = typeof endpoints;

/** A handler for every endpoint: a missing one does not compile. */
export type Handlers = { [K in keyof Endpoints]: Handler<Endpoints[K]> };

/** The handlers of one kind's object endpoints. */
export type ObjectHandlers = (kind: Kind) => { [K in keyof ObjectEndpoints]: Handler<ObjectEndpoints[K]> };
