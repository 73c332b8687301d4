// The kinds of object a config holds, apart from their zod schemas (schema.ts): what the CLI's
// command definitions and the store's key layout need, loaded without zod.

/**
 * What etcd stores, one object per key. `settings` holds the document's top-level fields
 * (`globalPolicies`) as one object, id "global": so one version key commits them with the rest,
 * and history, diffs, the hash and rollback carry them like any object. Documents and the API
 * show them as top-level fields (toDocument, validate.ts), never as a list.
 */
export const KINDS = ['upstreams', 'routes', 'policies', 'certificates', 'consumers', 'settings'] as const;
export type Kind = (typeof KINDS)[number];
/** The kinds a document lists and the API serves object by object. */
export const OBJECT_KINDS = ['upstreams', 'routes', 'policies', 'certificates', 'consumers'] as const satisfies readonly Kind[];
export type ObjectKind = (typeof OBJECT_KINDS)[number];
/** The id of the one settings object. */
export const SETTINGS_ID = 'global';

/** A record with one value per kind, so no list of the kinds is ever written out by hand. */
export function perKind<T>(value: (kind: Kind) => T): Record<Kind, T> {
  return Object.fromEntries(KINDS.map((kind) => [kind, value(kind)])) as Record<Kind, T>;
}
