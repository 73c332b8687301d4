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
/**
 * The URL of a service the proxy asks (an auth service, a key set): http(s), without credentials
 * (they would show wherever the config does) or #fragment. `example` goes into the error.
 */
export function serviceUrl(example: string) {
  return z.string().superRefine((u, ctx) => {
    let url: URL;
    try {
      url = new URL(u);
    } catch {
      return ctx.addIssue({ code: 'custom', message: `must be a URL such as ${example}` });
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') ctx.addIssue({ code: 'custom', message: 'scheme must be http or https' });
    if (url.username || url.password) ctx.addIssue({ code: 'custom', message: 'must not carry credentials' });
    if (url.hash) ctx.addIssue({ code: 'custom', message: 'must not have a #fragment' });
  });
}
