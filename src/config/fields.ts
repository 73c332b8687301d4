// Field shapes the config's kinds and the policy types share.
import { z } from 'zod';

export const ID_PATTERN = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/** An object's id: unique per kind, referred to by id. */
export const id = z.string().regex(ID_PATTERN, 'must match [a-z0-9][a-z0-9._-]{0,62}');

/** An HTTP field name (RFC 9110 token). */
export const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Where an auth policy tells the upstream who the consumer is (a client's own is dropped). */
export const DEFAULT_CONSUMER_HEADER = 'x-consumer-id';
// Headers the proxy sets or consumes itself: a consumer's id there would replace what they mean.
const PROXY_HEADERS = new Set(['host', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer', 'transfer-encoding', 'content-length', 'expect', 'authorization', 'x-request-id', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host']);
export const consumerHeader = z
  .string()
  .regex(HEADER_NAME, 'must be a header name')
  .refine((name) => !PROXY_HEADERS.has(name.toLowerCase()), 'is a header the proxy sets or reads itself; name another (default x-consumer-id)')
  .meta({ description: `the request header that carries the consumer's id upstream (default ${DEFAULT_CONSUMER_HEADER}); one a client sends is always removed` });
