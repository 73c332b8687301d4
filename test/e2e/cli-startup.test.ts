// The short commands start without the modules only the long-running ones need (etcd's client,
// the proxy's HTTP client, metrics, logging), and without those they do not use themselves (zod
// and the config schemas, YAML, the fetch of Node's bundled undici): each costs 20-130 ms of
// start-up before the command does anything (bench/cli-startup.ts measures the whole). A
// module-resolution hook lists every package a real CLI process loads, and Node's own module list
// at exit the built-in ones.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { DEMO_FILE } from '../../src/dev/dev.js';
import { CLI } from '../helpers/launch.js';

const HEAVY = ['etcd3', 'undici', 'prom-client', 'pino', 'cockatiel', '@grpc'];
let dir = '';
let register = '';

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'signalbox-cli-startup-'));
  const hooks = join(dir, 'hooks.mjs');
  await writeFile(
    hooks,
    `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  appendFileSync(process.env.SIGNALBOX_TEST_LOADED, resolved.url + '\\n');
  return resolved;
}
`,
  );
  register = join(dir, 'register.mjs');
  await writeFile(
    register,
    `import { appendFileSync } from 'node:fs';
import { register } from 'node:module';
register(${JSON.stringify(pathToFileURL(hooks).href)});
process.on('exit', () => appendFileSync(process.env.SIGNALBOX_TEST_LOADED, process.moduleLoadList.map((m) => 'node:' + m + '\\n').join('')));
`,
  );
});

after(() => rm(dir, { recursive: true, force: true }));

/** The packages a CLI run with these arguments loaded, and `node:fetch` when Node's fetch was. */
async function packagesLoaded(name: string, args: string[]): Promise<Set<string>> {
  const list = join(dir, `${name}.txt`);
  await writeFile(list, '');
  const proc = spawn(process.execPath, ['--import', register, CLI, ...args], {
    env: { ...process.env, SIGNALBOX_TEST_LOADED: list, SIGNALBOX_SERVER: 'http://127.0.0.1:9', SIGNALBOX_TOKEN: 't' },
    stdio: 'ignore',
  });
  await once(proc, 'exit');
  const packages = new Set<string>();
  for (const url of (await readFile(list, 'utf8')).split('\n')) {
    const m = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
    if (m) packages.add(m[1]!);
    if (url.startsWith('node:') && url.includes('internal/deps/undici')) packages.add('node:fetch');
  }
  return packages;
}

for (const [name, args] of [
  ['validate', ['validate', DEMO_FILE]],
  ['get', ['get', 'routes']],
  ['status', ['status']],
  ['diff', ['diff', '-f', DEMO_FILE]],
  ['help', ['--help']],
] as const) {
  test(`signalbox ${name} loads none of the long-running commands' modules`, async () => {
    const loaded = await packagesLoaded(name, [...args]);
    assert.ok(loaded.has('@commander-js/extra-typings') || loaded.has('commander'), `the hook saw the CLI's own modules: ${[...loaded].join(', ')}`);
    const heavy = HEAVY.filter((p) => [...loaded].some((l) => l === p || l.startsWith(`${p}/`)));
    assert.deepEqual(heavy, [], `loaded: ${[...loaded].join(', ')}`);
  });
}

// What each of them does not use: get and status read the API by route (no schemas), status and
// --help print no YAML, and the API client asks with node:http.
for (const [name, args, unused] of [
  ['get', ['get', 'routes'], ['zod', 'node:fetch']],
  ['status', ['status'], ['zod', 'yaml', 'node:fetch']],
  ['diff', ['diff', '-f', DEMO_FILE], ['node:fetch']],
  ['help', ['--help'], ['zod', 'yaml']],
] as const) {
  test(`signalbox ${name} loads none of ${unused.join(', ')}`, async () => {
    const loaded = await packagesLoaded(`${name}-unused`, [...args]);
    assert.ok(loaded.has('@commander-js/extra-typings') || loaded.has('commander'), `the hook saw the CLI's own modules: ${[...loaded].join(', ')}`);
    assert.deepEqual(
      unused.filter((p) => loaded.has(p)),
      [],
      `loaded: ${[...loaded].join(', ')}`,
    );
  });
}

test('signalbox proxy --help still shows its defaults without loading the proxy', async () => {
  const loaded = await packagesLoaded('proxy-help', ['proxy', '--help']);
  assert.ok(!loaded.has('etcd3') && !loaded.has('undici'), `loaded: ${[...loaded].join(', ')}`);
});
