// Field shapes the config's kinds and the policy types share.
import { z } from 'zod';

export const ID_PATTERN = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/** An object's id: unique per kind, referred to by id. */
export const id = z.string().regex(ID_PATTERN, 'must match [a-z0-9][a-z0-9._-]{0,62}');

/** An HTTP field name (RFC 9110 token). */
export const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

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
