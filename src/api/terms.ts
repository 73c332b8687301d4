// The API's fixed words and limits, apart from its zod schemas (schemas.ts) so that the CLI's
// command definitions load without zod.

/** Ordered: viewer reads, editor also writes the config, admin also manages tokens. */
export const ROLES = ['viewer', 'editor', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** Where a version came from (`X-Signalbox-Source`); `gitops` only from a token made for the GitOps agent, or an admin's. */
export const SOURCES = ['api', 'cli', 'gitops', 'dashboard'] as const;
export type Source = (typeof SOURCES)[number];

/** What a token may be made for, beyond its role: `gitops`, the agent's editor token that may write as source gitops. */
export const TOKEN_PURPOSES = ['gitops'] as const;

/** Ten years: a token that should never expire is made without a TTL. */
export const MAX_TOKEN_TTL_SECONDS = 10 * 365 * 24 * 3600;
