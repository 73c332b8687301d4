// What a user of /api/v1/openapi.json relies on, against a real control plane: every operation it
// lists is served and answers with a status it documents, and the request schemas it shows (required
// fields, known fields, query ranges) are exactly the ones the control plane enforces.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { startTestEtcd } from '../helpers/etcd.js';
import { startControlPlaneProcess, type Stack } from '../helpers/processes.js';

interface JsonSchema {
  $ref?: string;
  type?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean;
  minimum?: number;
  maximum?: number;
}

interface Operation {
  parameters?: { name: string; in: string; schema: JsonSchema }[];
  requestBody?: { content: Record<string, { schema: JsonSchema }> };
  responses: Record<string, unknown>;
}

interface Document {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, JsonSchema> };
}

type Answer = { status: number; body: { error?: string; details?: { path: string; message: string }[]; valid?: boolean; errors?: { path: string; message: string }[] } };

describe('the OpenAPI document and the API agree', () => {
  let stack: Stack;
  let doc: Document;
  const operations = () =>
    Object.entries(doc.paths).flatMap(([path, item]) => Object.entries(item).map(([method, op]) => ({ method: method.toUpperCase(), path, op })));
  const resolve = (s: JsonSchema): JsonSchema => (s.$ref ? doc.components.schemas[s.$ref.replace('#/components/schemas/', '')]! : s);
  const jsonBody = (op: Operation) => (op.requestBody?.content['application/json'] ? resolve(op.requestBody.content['application/json'].schema) : null);
  // Path parameters: ids and names that exist nowhere, and version 1.
  const url = (path: string, query = '') => `${stack.api}/api/v1${path.replace(/\{(\w+)\}/g, (_, name: string) => (['n', 'a', 'b'].includes(name) ? '1' : 'doc-test'))}${query}`;
  const send = async (method: string, path: string, body?: unknown, query = ''): Promise<Answer> => {
    const res = await fetch(url(path, query), {
      method,
      headers: { authorization: `Bearer ${stack.token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Answer['body'] };
  };
  /** Every problem the answer names: an error's details, or a validation's errors. */
  const problems = (a: Answer) => a.body.details ?? a.body.errors ?? [];

  before(async () => {
    const etcd = await startTestEtcd();
    stack = await startControlPlaneProcess(etcd.endpoint);
    doc = (await (await fetch(`${stack.api}/api/v1/openapi.json`)).json()) as Document;
  });

  it('every documented operation is served and answers with a status it documents', async () => {
    const ops = operations();
    assert.ok(ops.length >= 35, `${ops.length} operations`);
    for (const { method, path, op } of ops) {
      const a = await send(method, path, op.requestBody ? {} : undefined);
      assert.ok(!(a.status === 404 && /^no endpoint/.test(a.body.error ?? '')), `${method} ${path} is not served`);
      assert.ok(String(a.status) in op.responses, `${method} ${path} answered ${a.status}, documented: ${Object.keys(op.responses).join(', ')} (${JSON.stringify(a.body)})`);
    }
  });

  it("a body without the fields the document requires is refused naming exactly those fields", async () => {
    let checked = 0;
    for (const { method, path, op } of operations()) {
      const schema = jsonBody(op);
      if (!schema?.required?.length) continue;
      const a = await send(method, path, {});
      assert.equal(a.status, 400, `${method} ${path}: ${JSON.stringify(a.body)}`);
      assert.deepEqual([...new Set(problems(a).map((d) => d.path))].sort(), [...schema.required].sort(), `${method} ${path}`);
      checked++;
    }
    assert.ok(checked >= 6, `${checked} bodies with required fields`);
  });

  it('a field the document does not list is refused as unknown; no field it lists is', async () => {
    let checked = 0;
    for (const { method, path, op } of operations()) {
      const schema = jsonBody(op);
      if (schema?.additionalProperties !== false || !schema.properties) continue;
      const unknown = await send(method, path, { notInTheDocument: 1 });
      assert.ok(
        problems(unknown).some((d) => d.path === 'notInTheDocument' && d.message === 'unknown field'),
        `${method} ${path}: ${JSON.stringify(unknown.body)}`,
      );
      for (const field of Object.keys(schema.properties)) {
        const known = await send(method, path, { [field]: null });
        assert.ok(!problems(known).some((d) => d.path === field && d.message === 'unknown field'), `${method} ${path}: ${field} is documented but refused as unknown`);
      }
      checked++;
    }
    assert.ok(checked >= 8, `${checked} strict bodies`);
  });

  it('query parameters are refused just outside the range the document gives, and taken at its ends', async () => {
    let checked = 0;
    for (const { method, path, op } of operations()) {
      for (const p of op.parameters ?? []) {
        if (p.in !== 'query' || p.schema.minimum === undefined || p.schema.maximum === undefined) continue;
        const { minimum, maximum } = p.schema;
        for (const outside of [minimum - 1, maximum + 1]) {
          const a = await send(method, path, undefined, `?${p.name}=${outside}`);
          assert.equal(a.status, 400, `${method} ${path}?${p.name}=${outside}`);
          assert.match(a.body.error ?? '', new RegExp(`query parameter ${p.name}\\b`));
        }
        // timeout=1: a wait for news that do not come ends within a second.
        const inside = await send(method, path, undefined, `?${p.name}=${minimum}&timeout=1`);
        assert.equal(inside.status, 200, `${method} ${path}?${p.name}=${minimum}: ${JSON.stringify(inside.body)}`);
        checked++;
      }
    }
    assert.ok(checked >= 3, `${checked} ranged query parameters`);
  });
});
