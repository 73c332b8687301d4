// The OpenAPI description is generated, but its list of paths is written by hand beside the
// router's: this keeps the two equal, so every endpoint is described and nothing described is gone.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { KINDS } from '../../src/config/schema.js';
import { apiRoutes } from '../../src/control-plane/api.js';
import type { ApiContext } from '../../src/control-plane/context.js';
import { openApiDocument } from '../../src/control-plane/openapi.js';

const HTTP_METHODS = new Set(['get', 'put', 'post', 'patch', 'delete']);

it('openapi.json describes exactly the endpoints the API serves', () => {
  // Building the route table only keeps references to the context; no handler runs.
  const served = apiRoutes({} as ApiContext)
    .flatMap(([method, path]) => (path.includes(':kind') ? KINDS.map((k) => [method, path.replace(':kind', k)]) : [[method, path]]))
    .map(([method, path]) => `${method!.toLowerCase()} ${path!.replace(/:(\w+)/g, '{$1}')}`)
    .sort();
  const paths = (openApiDocument() as { paths: Record<string, Record<string, unknown>> }).paths;
  const described = Object.entries(paths)
    .flatMap(([path, item]) => Object.keys(item).filter((m) => HTTP_METHODS.has(m)).map((m) => `${m} ${path}`))
    .sort();
  assert.deepEqual(described, served);
});
