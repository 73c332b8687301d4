// The CLI as a CI pipeline uses it, against a real control plane process and a real etcd: exit
// codes, what stdout and stderr say, and what ends up in the history.
import assert from 'node:assert/strict';
import { createHash, createPrivateKey } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { startTestEtcd } from '../helpers/etcd.js';
import { runCli, startControlPlaneProcess, writeDoc, type Stack } from '../helpers/processes.js';
import { CERT_A, KEY_A } from '../unit/tls-fixtures.js';

const UPSTREAMS = [{ id: 'users', targets: [{ url: 'http://127.0.0.1:9101', weight: 2 }, { url: 'http://127.0.0.1:9102' }] }];
const ROUTES = [
  { id: 'users-api', match: { hosts: ['api.example.com'], paths: ['/users', '/users/:id'], methods: ['GET', 'POST'] }, upstream: 'users', policies: ['rl'] },
  { id: 'health', match: { paths: ['/health'] }, upstream: 'users' },
];
const POLICIES = [{ id: 'rl', type: 'rate-limit', requestsPerSecond: 100, burst: 200 }];
const BASE = { upstreams: UPSTREAMS, routes: ROUTES, policies: POLICIES };

interface Version {
  version: number;
  author: string;
  source: string;
  message: string;
}

/** A `-o table` answer as one object per row, keyed by the header (cells are two or more spaces apart). */
function table(stdout: string): Record<string, string>[] {
  const [header, ...rows] = stdout.trimEnd().split('\n').map((line) => line.split(/ {2,}/));
  return rows.map((cells) => Object.fromEntries(header!.map((h, i) => [h, cells[i] ?? ''])));
}

describe('signalbox CLI against a running control plane', () => {
  let stack: Stack;
  const cli = (args: string[], env: NodeJS.ProcessEnv = stack.env) => runCli(args, env);
  const as = (token: string) => ({ ...stack.env, SIGNALBOX_TOKEN: token });
  const doc = (name: string, body: unknown) => writeDoc(stack.dir, name, body);
  const history = async (): Promise<Version[]> => {
    const r = await cli(['history', '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as { versions: Version[] }).versions;
  };
  const liveVersion = async () => (await history())[0]?.version ?? 0;

  before(async () => {
    const etcd = await startTestEtcd();
    stack = await startControlPlaneProcess(etcd.endpoint);
  });

  it('a folder whose files define the same id: validate and apply name both files, exit 1, send nothing', async () => {
    const dir = join(stack.dir, 'split');
    await mkdir(dir);
    await writeFile(join(dir, 'a.yaml'), 'upstreams:\n  - id: users\n    targets: [{ url: "http://127.0.0.1:9101" }]\nroutes:\n  - id: users-api\n    match: { paths: ["/users"] }\n    upstream: users\n');
    await writeFile(join(dir, 'b.json'), JSON.stringify({ routes: [{ id: 'users-api', match: { paths: ['/u'] }, upstream: 'users' }] }, null, 2));

    const v = await cli(['validate', dir]);
    assert.equal(v.code, 1);
    assert.match(v.stderr, /b\.json:\d+: routes\[0\]\.id: duplicate id "users-api" \(also routes\[0\] in \S*a\.yaml\)/);
    const a = await cli(['apply', '-f', dir]);
    assert.equal(a.code, 1);
    assert.match(a.stderr, /b\.json.*duplicate id "users-api".*a\.yaml/);
    assert.match(a.stderr, /nothing sent/);
    assert.deepEqual(await history(), []);

    await writeFile(join(dir, 'b.json'), JSON.stringify({ routes: [{ id: 'users-short', match: { paths: ['/u'] }, upstream: 'users' }] }));
    const fixed = await cli(['validate', dir]);
    assert.equal(fixed.code, 0, fixed.stderr);
    assert.match(fixed.stdout, /valid: 2 routes, 1 upstreams/);
  });

  it('diff --exit-code: 1 with changes, 0 without, 2 when it cannot diff; apply --dry-run writes nothing', async () => {
    const file = await doc('base.json', BASE);
    const changed = await cli(['diff', '--exit-code', '-f', file]);
    assert.equal(changed.code, 1, changed.stderr);
    assert.deepEqual(changed.stdout.trim().split('\n').sort(), ['+ policies/rl', '+ routes/health', '+ routes/users-api', '+ upstreams/users']);
    assert.ok(!changed.stdout.includes('\x1b['), 'no colors when stdout is not a terminal');
    assert.equal((await cli(['diff', '-f', file])).code, 0, 'without --exit-code, changes are not a failure');

    const dry = await cli(['apply', '--dry-run', '-f', file]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /dry run: 4 change\(s\) against version 0; nothing written/);
    assert.deepEqual(await history(), []);

    const applied = await cli(['apply', '-f', file, '--message', 'first']);
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, /applied: version 1/);
    const same = await cli(['diff', '--exit-code', '-f', file]);
    assert.equal(same.code, 0, same.stderr);
    assert.match(same.stdout, /no changes against version 1/);

    const unreachable = await cli(['diff', '--exit-code', '-f', file], { ...stack.env, SIGNALBOX_SERVER: 'http://127.0.0.1:1' });
    assert.equal(unreachable.code, 2);
    assert.match(unreachable.stderr, /cannot reach the control plane/);
    // A --server without its scheme, a common slip, is named as such (as it was with fetch).
    const noScheme = await cli(['get', 'routes', '--server', 'localhost:9000']);
    assert.equal(noScheme.code, 1);
    assert.equal(noScheme.stderr, 'signalbox: cannot reach the control plane at localhost:9000: unknown scheme\n');
  });

  it('apply --expect-version: the live version passes; a stale one is refused with the 409 and writes nothing', async () => {
    const live = await liveVersion();
    const next = await doc('next.json', { ...BASE, routes: [...ROUTES, { id: 'orders', match: { paths: ['/orders'] }, upstream: 'users' }] });
    const ok = await cli(['apply', '-f', next, '--expect-version', String(live), '-m', 'add orders']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /\+ routes\/orders\napplied: version \d+/);

    const stale = await cli(['apply', '-f', await doc('stale.json', BASE), '--expect-version', String(live)]);
    assert.equal(stale.code, 1);
    assert.match(stale.stderr, new RegExp(`409 config changed meanwhile: expected version ${live}, live version is ${live + 1}`));
    assert.equal(await liveVersion(), live + 1);

    assert.equal((await cli(['apply', '-f', next, '--expect-version', 'soon'])).code, 2);
  });

  it('history: newest first with source, author and message; --limit; --diff A B per object', async () => {
    const live = await liveVersion();
    const all = await cli(['history']);
    assert.equal(all.code, 0, all.stderr);
    const rows = table(all.stdout);
    assert.deepEqual(rows.map((r) => Number(r.VERSION)), Array.from({ length: live }, (_, i) => live - i));
    assert.deepEqual(
      { source: rows[0]!.SOURCE, author: rows[0]!.AUTHOR, message: rows[0]!.MESSAGE, routes: rows[0]!.ROUTES, upstreams: rows[0]!.UPSTREAMS },
      { source: 'cli', author: 'admin', message: 'add orders', routes: '3', upstreams: '1' },
    );
    assert.match(rows[0]!.TIME!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

    const newest = await cli(['history', '--limit', '1']);
    assert.deepEqual(table(newest.stdout).map((r) => Number(r.VERSION)), [live]);

    const diff = await cli(['history', '--diff', String(live - 1), String(live)]);
    assert.equal(diff.code, 0, diff.stderr);
    assert.equal(diff.stdout, `+ routes/orders\n1 change(s) from version ${live - 1} to version ${live}\n`);
    const back = await cli(['history', '--diff', String(live), String(live - 1), '-o', 'json']);
    assert.deepEqual((JSON.parse(back.stdout) as { changes: { op: string; id: string }[] }).changes.map((c) => `${c.op} ${c.id}`), ['remove orders']);

    const missing = await cli(['history', '--diff', '1', '999']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /404 version 999 not found/);
    assert.equal((await cli(['history', '--diff', '1'])).code, 2);
    assert.equal((await cli(['history', '--limit', '0'])).code, 2);
  });

  it('get -o table: one readable row per route, upstream and policy; get KIND ID: one object', async () => {
    const routes = await cli(['get', 'routes', '-o', 'table']);
    assert.equal(routes.code, 0, routes.stderr);
    assert.deepEqual(table(routes.stdout).find((r) => r.ID === 'users-api'), {
      ID: 'users-api', HOSTS: 'api.example.com', PATHS: '/users,/users/:id', METHODS: 'GET,POST', ACTION: 'users', POLICIES: 'rl',
    });
    assert.deepEqual(table(routes.stdout).find((r) => r.ID === 'health'), { ID: 'health', HOSTS: 'any', PATHS: '/health', METHODS: 'any', ACTION: 'users', POLICIES: '-' });
    const upstreams = await cli(['get', 'upstreams', '-o', 'table']);
    assert.deepEqual(table(upstreams.stdout), [{ ID: 'users', TARGETS: 'http://127.0.0.1:9101 (weight 2),http://127.0.0.1:9102' }]);
    const policies = await cli(['get', 'policies', '-o', 'table']);
    assert.deepEqual(table(policies.stdout), [{ ID: 'rl', TYPE: 'rate-limit', SETTINGS: 'requestsPerSecond=100 burst=200' }]);

    const one = await cli(['get', 'routes', 'health', '-o', 'json']);
    assert.equal(one.code, 0, one.stderr);
    assert.deepEqual(JSON.parse(one.stdout), ROUTES[1]);
    const missing = await cli(['get', 'routes', 'nope']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /404 routes\/nope not found/);

    for (const usage of [['get', 'routes', '-o', 'xml'], ['get', 'config', '-o', 'table'], ['get', 'versions', '3'], ['get', 'widgets']]) {
      const r = await cli(usage);
      assert.equal(r.code, 2, `${usage.join(' ')}: ${r.stderr}`);
    }
  });

  it('token create prints the token alone; its writes carry its name; a viewer gets 403; list shows no secret; delete gives 401', async () => {
    const created = await cli(['token', 'create', '--role', 'editor', '--name', 'ci-bot']);
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /^\S+\n$/);
    assert.match(created.stderr, /token "ci-bot" \(role editor\) created.*shown only this once/);
    const editor = created.stdout.trim();

    const applied = await cli(['apply', '-f', await doc('by-bot.json', BASE), '-m', 'from the pipeline'], as(editor));
    assert.equal(applied.code, 0, applied.stderr);
    assert.deepEqual(
      (({ author, source, message }) => ({ author, source, message }))((await history())[0]!),
      { author: 'ci-bot', source: 'cli', message: 'from the pipeline' },
    );
    const notAdmin = await cli(['token', 'create', '--role', 'viewer'], as(editor));
    assert.equal(notAdmin.code, 1);
    assert.match(notAdmin.stderr, /403 token "ci-bot" has role editor; this needs admin/);

    const viewerCreated = await cli(['token', 'create', '--role', 'viewer']);
    assert.equal(viewerCreated.code, 0, viewerCreated.stderr);
    const viewer = viewerCreated.stdout.trim();
    assert.equal((await cli(['get', 'routes'], as(viewer))).code, 0);
    const refused = await cli(['apply', '-f', await doc('by-viewer.json', { upstreams: UPSTREAMS }), '-m', 'nope'], as(viewer));
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /403 .*role viewer; this needs editor/);

    const list = await cli(['token', 'list']);
    assert.equal(list.code, 0, list.stderr);
    const listed = table(list.stdout);
    const bot = listed.find((t) => t.NAME === 'ci-bot');
    const aTime = (t: string | undefined) => t?.replace(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'a time');
    assert.deepEqual(
      { ...bot, CREATED: aTime(bot?.CREATED), 'LAST-USED': aTime(bot?.['LAST-USED']) },
      { NAME: 'ci-bot', ROLE: 'editor', CREATED: 'a time', 'CREATED-BY': 'admin', EXPIRES: 'never', 'LAST-USED': 'a time' },
    );
    assert.ok(listed.some((t) => t.ROLE === 'viewer' && /^viewer-/.test(t.NAME!)), list.stdout);
    const json = await cli(['token', 'list', '-o', 'json']);
    for (const secret of [editor, viewer]) assert.ok(!list.stdout.includes(secret) && !json.stdout.includes(secret), 'no secret in the list');
    for (const t of (JSON.parse(json.stdout) as { tokens: object[] }).tokens) {
      assert.deepEqual(Object.keys(t).filter((k) => k !== 'lastUsedAt').sort(), ['createdAt', 'createdBy', 'name', 'role']);
    }

    const taken = await cli(['token', 'create', '--role', 'viewer', '--name', 'ci-bot']);
    assert.equal(taken.code, 1);
    assert.match(taken.stderr, /409 a token named "ci-bot" exists already/);

    const deleted = await cli(['token', 'delete', 'ci-bot']);
    assert.equal(deleted.code, 0, deleted.stderr);
    const gone = await cli(['get', 'routes'], as(editor));
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /401 invalid token/);
    assert.match((await cli(['token', 'delete', 'ci-bot'])).stderr, /404 no token named "ci-bot"/);

    assert.equal((await cli(['token', 'create', '--role', 'root'])).code, 2);
    assert.equal((await cli(['token', 'create'])).code, 2);

    const monthly = await cli(['token', 'create', '--role', 'viewer', '--name', 'monthly', '--ttl', '30d']);
    assert.equal(monthly.code, 0, monthly.stderr);
    const expires = table((await cli(['token', 'list'])).stdout).find((t) => t.NAME === 'monthly')!.EXPIRES!;
    const days = (Date.parse(expires) - Date.now()) / 86_400_000;
    assert.ok(days > 29.9 && days <= 30, `expires in 30 days: ${expires}`);
    for (const ttl of ['30', '0d', '1w', '4000d']) {
      const bad = await cli(['token', 'create', '--role', 'viewer', '--ttl', ttl]);
      assert.equal(bad.code, 2, ttl);
      assert.match(bad.stderr, /--ttl must be a number and a unit, s, m, h or d/);
    }
  });

  it('token create --for gitops: an editor token for the GitOps agent, listed as such; --for with another role is refused', async () => {
    const created = await cli(['token', 'create', '--role', 'editor', '--for', 'gitops']);
    assert.equal(created.code, 0, created.stderr);
    const name = /token "(gitops-[0-9a-f]{6})" \(role editor for gitops\) created/.exec(created.stderr)?.[1];
    assert.ok(name, created.stderr);
    const row = table((await cli(['token', 'list'])).stdout).find((t) => t.NAME === name);
    assert.equal(row?.ROLE, 'editor (for gitops)');
    const refused = await cli(['token', 'create', '--role', 'admin', '--for', 'gitops']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /400 invalid token request\n {2}role: a token for gitops has role editor/);
    assert.equal((await cli(['token', 'create', '--role', 'editor', '--for', 'ci'])).code, 2);
    assert.equal((await cli(['token', 'delete', name!])).code, 0);
  });

  it('export then apply: unchanged, no new version; a certificate key is never printed', async () => {
    const withCert = { ...BASE, certificates: [{ id: 'site-a', snis: ['a.example.test'], cert: CERT_A, key: KEY_A }] };
    const applied = await cli(['apply', '-f', await doc('with-cert.json', withCert)]);
    assert.equal(applied.code, 0, applied.stderr);
    const live = await liveVersion();
    const keySha256 = createHash('sha256').update(createPrivateKey(KEY_A).export({ type: 'pkcs8', format: 'der' })).digest('hex');

    const yamlFile = join(stack.dir, 'exported.yaml');
    const exported = await cli(['export', '--file', yamlFile]);
    assert.equal(exported.code, 0, exported.stderr);
    assert.equal(exported.stdout, '');
    const json = await cli(['export', '-o', 'json']);
    assert.equal(json.code, 0, json.stderr);
    const reads = [await readFile(yamlFile, 'utf8'), json.stdout];
    for (const args of [['get', 'config'], ['get', 'certificates', '-o', 'json'], ['get', 'certificates', 'site-a'], ['get', 'certificates', '-o', 'table']]) {
      reads.push((await cli(args)).stdout);
    }
    for (const text of reads) {
      assert.doesNotMatch(text, /PRIVATE KEY/);
      assert.ok(!text.includes(KEY_A.split('\n')[1]!), 'no part of the key');
    }
    assert.match(reads[0]!, new RegExp(`keySha256: ${keySha256}`));
    assert.deepEqual(table(reads[5]!), [{ ID: 'site-a', SNIS: 'a.example.test', 'NOT-AFTER': '2126-10-31T18:16:11Z', 'KEY-SHA256': `${keySha256.slice(0, 16)}…` }]);

    const jsonFile = join(stack.dir, 'exported.json');
    await writeFile(jsonFile, json.stdout);
    for (const file of [yamlFile, jsonFile]) {
      const diff = await cli(['diff', '--exit-code', '-f', file]);
      assert.equal(diff.code, 0, diff.stdout + diff.stderr);
      const again = await cli(['apply', '-f', file]);
      assert.equal(again.code, 0, again.stderr);
      assert.equal(again.stdout, `unchanged: version ${live}\n`);
    }
    assert.equal(await liveVersion(), live);
  });

  it('a certificate without key that the control plane does not hold: diff and dry run say so, nothing is written', async () => {
    const live = await liveVersion();
    const file = await doc('keyless.json', { ...BASE, certificates: [{ id: 'site-new', snis: ['a.example.test'], cert: CERT_A }] });
    assert.equal((await cli(['validate', file])).code, 0, 'offline, the key is left to the control plane');
    for (const args of [['diff', '-f', file], ['apply', '--dry-run', '-f', file], ['apply', '-f', file]]) {
      const r = await cli(args);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout}`);
      assert.match(r.stderr, /certificates\[0\]\.key.*stores no key for certificate "site-new"/);
    }
    assert.equal((await cli(['diff', '--exit-code', '-f', file])).code, 2);
    assert.equal(await liveVersion(), live);
  });

  it('every -o takes only its listed formats: anything else is a usage error (exit 2) naming them', async () => {
    for (const args of [['status', '-o', 'xml'], ['history', '-o', 'csv'], ['token', 'list', '-o', 'yml'], ['export', '-o', 'table'], ['get', 'routes', '-o', 'wide']]) {
      const r = await cli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, /argument '\w+' is invalid\. Allowed choices are /, args.join(' '));
      assert.equal(r.stdout, '', 'nothing printed as if it had worked');
    }
    const json = await cli(['status', '-o', 'json']);
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(Object.keys(JSON.parse(json.stdout) as object).sort(), ['convergence', 'lagThresholdMs', 'lagging', 'liveCommittedAt', 'liveErrors', 'liveHash', 'liveVersion', 'proxies']);
  });

  it('rollback VERSION writes a new version equal to that one', async () => {
    const live = await liveVersion();
    const r = await cli(['rollback', '1']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`rolled back to version 1 as version ${live + 1}\n$`));
    const same = await cli(['diff', '--exit-code', '-f', await doc('base-again.json', BASE)]);
    assert.equal(same.code, 0, same.stdout + same.stderr);
    assert.equal((await history())[0]!.message, 'rollback to version 1');
    assert.equal((await cli(['rollback', 'latest'])).code, 2);
  });
});

it('control-plane on a port already in use: one line naming it, exit 1, no stack trace', async () => {
  const taken = createServer().listen(0, '127.0.0.1');
  await once(taken, 'listening');
  const { port } = taken.address() as AddressInfo;
  try {
    const r = await runCli(['control-plane', '--etcd', 'http://127.0.0.1:1', '--listen', `127.0.0.1:${port}`, '--insecure']);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderr, `signalbox: control-plane: listen EADDRINUSE: address already in use 127.0.0.1:${port}\n`);
  } finally {
    taken.close();
  }
});
