// The OpenAPI document as a code generator reads it: every reference resolves, every operation
// says what it does and what it answers, and every path parameter is declared.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { openApiDocument } from '../../src/api/openapi.js';

interface Operation {
  summary?: string;
  parameters?: { name: string; in: string }[];
  responses: Record<string, unknown>;
}

const doc = openApiDocument() as unknown as {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, unknown> };
};

function refs(value: unknown, found: string[] = []): string[] {
  if (Array.isArray(value)) value.forEach((v) => refs(v, found));
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === '$ref' && typeof v === 'string') found.push(v);
      else refs(v, found);
    }
  }
  return found;
}

it('every $ref points at a schema under components.schemas', () => {
  const all = refs(doc);
  assert.ok(all.length > 20, 'the document refers to its named schemas');
  for (const ref of all) {
    const name = ref.replace('#/components/schemas/', '');
    assert.ok(ref.startsWith('#/components/schemas/') && name in doc.components.schemas, `unresolved ${ref}`);
  }
});

it('every operation has a summary, a 2xx answer, and declares each {parameter} of its path', () => {
  for (const [path, item] of Object.entries(doc.paths)) {
    const inPath = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
    for (const [method, op] of Object.entries(item)) {
      const what = `${method.toUpperCase()} ${path}`;
      assert.ok(op.summary, `${what}: summary`);
      assert.ok(Object.keys(op.responses).some((s) => /^2\d\d$/.test(s)), `${what}: a 2xx response`);
      const declared = (op.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name).sort();
      assert.deepEqual(declared, inPath, `${what}: path parameters`);
    }
  }
});
