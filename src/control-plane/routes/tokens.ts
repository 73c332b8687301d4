// API tokens, for admins: create one (its secret is in that answer and nowhere else), list them
// without secrets, delete one (it stops working at once).
import { randomBytes } from 'node:crypto';
import { BOOTSTRAP_NAME } from '../auth.js';
import type { ApiContext, Handlers } from '../context.js';
import { HttpError } from '../http.js';
import { TokenExistsError } from '../token-store.js';

export function tokenHandlers(ctx: ApiContext): Pick<Handlers, 'createToken' | 'listTokens' | 'deleteToken'> {
  const { tokens } = ctx;
  return {
    createToken: async ({ body, principal }) => {
      const name = body.name ?? `${body.for ?? body.role}-${randomBytes(3).toString('hex')}`;
      if (name === BOOTSTRAP_NAME) throw new HttpError(409, `"${BOOTSTRAP_NAME}" is the token of --admin-token-file; choose another name`);
      try {
        const { info, token } = await tokens.create(name, body.role, principal.name, { purpose: body.for, ttlSeconds: body.ttlSeconds });
        return { body: { ...info, token } };
      } catch (err) {
        if (err instanceof TokenExistsError) throw new HttpError(409, err.message);
        throw err;
      }
    },
    listTokens: async () => ({ body: { tokens: await tokens.list() } }),
    deleteToken: async ({ params }) => {
      if (!(await tokens.delete(params.name!))) throw new HttpError(404, `no token named "${params.name}"`);
      return { body: { deleted: params.name! } };
    },
  };
}
