// ip-filter: allow / deny by the client's address (src/proxy/policies/ip-filter.ts).
import { z } from 'zod';
import { parseCidr } from '../../util/ip-ranges.js';
import { id } from '../fields.js';

const cidr = z.string().superRefine((text, ctx) => {
  const r = parseCidr(text);
  if (typeof r === 'string') ctx.addIssue({ code: 'custom', message: r });
});

export const ipFilterPolicy = z
  .strictObject({
    id,
    type: z.literal('ip-filter'),
    /** When not empty, only these addresses pass. */
    allow: z.array(cidr).max(100_000).optional(),
    /** Refused even when allowed. */
    deny: z.array(cidr).max(100_000).optional(),
  })
  .superRefine((p, ctx) => {
    if ((p.allow?.length ?? 0) + (p.deny?.length ?? 0) === 0) {
      ctx.addIssue({ code: 'custom', path: ['allow'], message: 'an ip-filter needs at least one address or CIDR in allow or deny' });
    }
  });

export type IpFilterPolicy = z.infer<typeof ipFilterPolicy>;
