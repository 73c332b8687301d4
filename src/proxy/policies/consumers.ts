// Who a request can be: the consumers of the config being served, compiled for the auth
// policies' lookups. A runtime has one; a request's policies see it through PolicyContext.
export interface ConsumerIndex {
  /** Whether a consumer with this id exists. */
  has(id: string): boolean;
}

export const NO_CONSUMERS: ConsumerIndex = { has: () => false };
