// forward-auth: ask an auth service whether a request may pass (src/proxy/policies/forward-auth.ts).
import { z } from 'zod';
import { HEADER_NAME, id } from '../fields.js';

export const DEFAULT_FORWARD_AUTH_TIMEOUT_MS = 5000;

const headerList = z.array(z.string().regex(HEADER_NAME, 'must be a header name')).max(64);

export const forwardAuthPolicy = z.strictObject({
  id,
  type: z.literal('forward-auth'),
  url: z.string().superRefine((u, ctx) => {
    let url: URL;
    try {
      url = new URL(u);
    } catch {
      return ctx.addIssue({ code: 'custom', message: 'must be a URL such as http://auth.internal:9000/verify' });
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') ctx.addIssue({ code: 'custom', message: 'scheme must be http or https' });
    if (url.username || url.password) ctx.addIssue({ code: 'custom', message: 'must not carry credentials' });
    if (url.hash) ctx.addIssue({ code: 'custom', message: 'must not have a #fragment' });
  }),
  timeoutMs: z.number().int().min(1).max(60_000).optional(),
  /** Client request headers copied to the auth request (e.g. authorization, cookie). */
  requestHeaders: headerList.optional(),
  /** Auth response headers copied onto the upstream request when the service says yes. */
  responseHeaders: headerList.optional(),
});

export type ForwardAuthPolicy = z.infer<typeof forwardAuthPolicy>;
