// API tokens, for admins: create one (its secret is in that answer and nowhere else), list them
// without secrets, delete one (it stops working at once).
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { ID_PATTERN } from '../../config/schema.js';
import { BOOTSTRAP_NAME, ROLES } from '../auth.js';
import type { ApiContext, Route } from '../context.js';
import { HttpError, parseBody, readJson, sendJson } from '../http.js';
import { TokenExistsError } from '../token-store.js';

export const tokenRequestSchema = z.strictObject({
  name: z.string().regex(ID_PATTERN, 'must match [a-z0-9][a-z0-9._-]{0,62}').optional().meta({ description: 'recorded as the author of its writes; default <role>-<random>' }),
  role: z.enum(ROLES).meta({ description: 'viewer: read; editor: also write config; admin: also manage tokens' }),
});

export function tokenRoutes(ctx: ApiContext): Route[] {
  const { authenticate, tokens } = ctx;
  return [
    ['POST', '/tokens', async (req, res) => {
      const principal = await authenticate(req, 'admin');
      const request = parseBody(tokenRequestSchema, await readJson(req), 'invalid token request');
      const { role } = request;
      const name = request.name ?? `${role}-${randomBytes(3).toString('hex')}`;
      if (name === BOOTSTRAP_NAME) throw new HttpError(409, `"${BOOTSTRAP_NAME}" is the token of --admin-token-file; choose another name`);
      try {
        const { info, token } = await tokens.create(name, role, principal.name);
        sendJson(res, 201, { ...info, token });
      } catch (err) {
        if (err instanceof TokenExistsError) throw new HttpError(409, err.message);
        throw err;
      }
    }],
    ['GET', '/tokens', async (req, res) => {
      await authenticate(req, 'admin');
      sendJson(res, 200, { tokens: await tokens.list() });
    }],
    ['DELETE', '/tokens/:name', async (req, res, params) => {
      await authenticate(req, 'admin');
      if (!(await tokens.delete(params.name!))) throw new HttpError(404, `no token named "${params.name}"`);
      sendJson(res, 200, { deleted: params.name });
    }],
  ];
}
