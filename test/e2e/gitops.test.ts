// `signalbox gitops` against a real control plane, a real etcd and a real git repository made here:
// commits applied with their id, a bad commit refused and reported, drift reported and overwritten
// only when forced, a webhook-triggered sync, and the API the agent reports to.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { GitopsStatus } from '../../src/api/schemas.js';
import { startTestEtcd } from '../helpers/etcd.js';
import { runCli, spawnSignalbox, startControlPlaneProcess, waitFor, waitForProcess, type Spawned, type Stack } from '../helpers/processes.js';

const run = promisify(execFile);

interface Version {
  version: number;
  author: string;
  source: string;
  message: string;
}

const UPSTREAMS = 'upstreams:\n  - id: users\n    targets:\n      - url: http://127.0.0.1:9101\n';
const routesYaml = (...routes: [id: string, upstream: string][]) =>
  `routes:\n${routes.map(([id, upstream]) => `  - id: ${id}\n    match: { paths: ["/${id}"] }\n    upstream: ${upstream}\n`).join('')}`;

/** A git repository whose config lives in a subfolder, as it often does. */
class Repo {
  readonly dir: string;
  constructor(readonly root: string) {
    this.dir = join(root, 'config');
  }

  static async create(): Promise<Repo> {
    const repo = new Repo(await mkdtemp(join(tmpdir(), 'signalbox-gitops-')));
    await mkdir(repo.dir);
    await repo.git('init', '-q');
    await writeFile(join(repo.root, 'README.md'), 'not config\n');
    return repo;
  }

  async git(...args: string[]): Promise<string> {
    return (await run('git', ['-C', this.root, '-c', 'user.name=t', '-c', 'user.email=t@t', ...args])).stdout.trim();
  }

  write(name: string, text: string): Promise<void> {
    return writeFile(join(this.dir, name), text);
  }

  async commit(subject: string): Promise<string> {
    await this.git('add', '-A');
    await this.git('commit', '-q', '-m', subject);
    return this.git('rev-parse', 'HEAD');
  }
}

describe('signalbox gitops', () => {
  let stack: Stack;
  /** The agent's environment: a token created for gitops, as the README has it. */
  let agentEnv: NodeJS.ProcessEnv;
  let repo: Repo;
  let agent: Spawned | null = null;
  const call = async (method: string, path: string, body?: unknown, token = stack.token) => {
    const res = await fetch(`${stack.api}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const status = async () => (await call('GET', '/gitops')).body.status as GitopsStatus | null;
  const versions = async () => (await call('GET', '/versions')).body.versions as Version[];
  const routeIds = async () => ((await call('GET', '/config')).body.routes as { id: string }[]).map((r) => r.id).sort();
  const startAgent = async (args: string[] = []) => {
    await agent?.stop();
    const since = new Date().toISOString();
    agent = spawnSignalbox(['gitops', '--dir', repo.dir, '--debounce-ms', '100', ...args], agentEnv);
    // A report of this agent, not of the one before it.
    await waitForProcess(agent, 'a report of the new agent', async () => ((await status())?.reportedAt ?? '') > since);
  };
  const until = (what: string, check: (s: GitopsStatus) => boolean) =>
    waitFor(`gitops status: ${what}`, async () => {
      const s = await status();
      return s && check(s) ? s : undefined;
    });

  before(async () => {
    const etcd = await startTestEtcd();
    stack = await startControlPlaneProcess(etcd.endpoint);
    repo = await Repo.create();
    const created = await runCli(['token', 'create', '--role', 'editor', '--for', 'gitops', '--name', 'gitops'], stack.env);
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stderr, /token "gitops" \(role editor for gitops\) created/);
    agentEnv = { ...stack.env, SIGNALBOX_TOKEN: created.stdout.trim() };
  });

  it('an agent whose token was not created for gitops is refused at its first request, saying why; nothing is written', async () => {
    const editor = await runCli(['token', 'create', '--role', 'editor', '--name', 'not-for-gitops'], stack.env);
    await repo.write('upstreams.yaml', UPSTREAMS);
    await repo.commit('Upstreams');
    const r = await runCli(['gitops', '--once', '--dir', repo.dir], { ...stack.env, SIGNALBOX_TOKEN: editor.stdout.trim() });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /403 X-Signalbox-Source: gitops is only accepted from a token created for the GitOps agent \(signalbox token create --role editor --for gitops\)/);
    assert.deepEqual(await versions(), []);
    assert.equal(await status(), null, 'its report was refused too');
  });

  it('GET /gitops needs a token and is empty before an agent reported; a report needs editor and a valid body', async () => {
    assert.equal((await fetch(`${stack.api}/api/v1/gitops`)).status, 401);
    assert.deepEqual((await call('GET', '/gitops')).body, { status: null, syncRequest: null });
    const viewer = (await call('POST', '/tokens', { role: 'viewer', name: 'reader' })).body.token as string;
    assert.equal((await call('PUT', '/gitops/status', {}, viewer)).status, 403);
    assert.equal((await call('POST', '/gitops/sync', undefined, viewer)).status, 403);
    const bad = await call('PUT', '/gitops/status', { dir: '/x', state: 'happy' });
    assert.equal(bad.status, 400);
    assert.ok((bad.body.details as { path: string }[]).some((d) => d.path === 'state'), JSON.stringify(bad.body));
    const spec = (await call('GET', '/openapi.json')).body as { paths: Record<string, unknown> };
    for (const p of ['/gitops', '/gitops/status', '/gitops/sync', '/gitops/wait']) assert.ok(p in spec.paths, p);
  });

  it('a good commit is applied with its id and subject; a bad one is reported and not applied; the fix is applied', async () => {
    await repo.write('upstreams.yaml', UPSTREAMS);
    await repo.write('routes.yaml', routesYaml(['users', 'users']));
    const good = await repo.commit('Add the users route');
    await startAgent();
    await until('first commit synced', (s) => s.state === 'synced' && s.commit === good);
    const [v1] = await versions();
    assert.equal(v1!.version, 1);
    assert.equal(v1!.source, 'gitops');
    assert.equal(v1!.message, `gitops: ${good.slice(0, 12)} Add the users route`);
    assert.deepEqual(await routeIds(), ['users']);

    // Saved but not committed: the live config follows commits only.
    await repo.write('routes.yaml', routesYaml(['users', 'users'], ['orders', 'nope']));
    const pending = await until('uncommitted change seen', (s) => s.state === 'uncommitted');
    assert.deepEqual(pending.uncommitted, ['config/routes.yaml']);
    const bad = await repo.commit('Route orders to an upstream that does not exist');
    const invalid = await until('bad commit refused', (s) => s.state === 'invalid' && s.commit === bad);
    assert.equal(invalid.subject, 'Route orders to an upstream that does not exist');
    assert.deepEqual(
      invalid.error!.details.find((d) => d.path === 'routes[1].upstream'),
      { file: 'routes.yaml', line: 7, path: 'routes[1].upstream', message: 'unknown upstream "nope"' },
      JSON.stringify(invalid.error),
    );
    assert.equal(invalid.lastAppliedVersion, 1);
    assert.deepEqual((await versions()).map((v) => v.version), [1]);
    assert.deepEqual(await routeIds(), ['users']);

    await repo.write('routes.yaml', routesYaml(['users', 'users'], ['orders', 'users']));
    const fix = await repo.commit('Route orders to users');
    await until('fix synced', (s) => s.state === 'synced' && s.commit === fix && s.error === null);
    const [v2] = await versions();
    assert.equal(v2!.version, 2);
    assert.equal(v2!.message, `gitops: ${fix.slice(0, 12)} Route orders to users`);
    assert.deepEqual(await routeIds(), ['orders', 'users']);
  });

  it('a change made outside git is reported as drift and kept; a forced sync request overwrites it', async () => {
    const hand = await call('PUT', '/routes/by-hand', { id: 'by-hand', match: { paths: ['/hand'] }, upstream: 'users' });
    assert.equal(hand.status, 200, JSON.stringify(hand.body));
    const drift = await until('drift reported', (s) => s.state === 'drift');
    assert.deepEqual(drift.drift, { version: 3, author: 'admin', source: 'api', at: drift.drift!.at, changes: [{ kind: 'routes', id: 'by-hand', op: 'remove' }] });

    // A plain sync request (what a webhook sends) leaves the drift alone too.
    const plain = await call('POST', '/gitops/sync', { ref: 'refs/heads/main', pusher: 'someone' });
    assert.equal(plain.status, 202, JSON.stringify(plain.body));
    await until('plain sync done', (s) => s.lastSyncAt > drift.lastSyncAt && s.state === 'drift');
    assert.deepEqual(await routeIds(), ['by-hand', 'orders', 'users']);

    const forced = await call('POST', '/gitops/sync?force=true');
    assert.equal(forced.body.force, true);
    await until('forced sync done', (s) => s.state === 'synced' && s.liveVersion === 4);
    assert.deepEqual(await routeIds(), ['orders', 'users']);
    assert.match((await versions())[0]!.message, /^gitops: [0-9a-f]{12} Route orders to users \(overwrote version 3 by admin via api\)$/);
  });

  it('with --force, a change made outside git is overwritten as soon as it is seen', async () => {
    await startAgent(['--force']);
    await until('forcing agent synced', (s) => s.force && s.state === 'synced');
    const hand = await call('PUT', '/routes/by-hand', { id: 'by-hand', match: { paths: ['/hand'] }, upstream: 'users' });
    assert.equal(hand.status, 200);
    await until('hand change undone', (s) => s.state === 'synced' && s.liveVersion === 6);
    assert.deepEqual(await routeIds(), ['orders', 'users']);
    assert.equal((await versions())[0]!.source, 'gitops');
  });

  it('--no-watch: a new commit is applied when POST /gitops/sync asks for it', async () => {
    await startAgent(['--no-watch']);
    await until('agent synced', (s) => !s.force && s.state === 'synced');
    await repo.write('routes.yaml', routesYaml(['users', 'users']));
    const commit = await repo.commit('Drop the orders route');
    const hook = await call('POST', '/gitops/sync');
    assert.equal(hook.status, 202);
    await until('webhook sync applied the commit', (s) => s.state === 'synced' && s.commit === commit && s.liveVersion === 7);
    assert.deepEqual(await routeIds(), ['users']);
  });

  it('--once: exit 0 when synced, 1 naming the problem otherwise; a folder outside git is applied without a commit id', async () => {
    await agent?.stop();
    const once = (dir: string) => runCli(['gitops', '--once', '--dir', dir], agentEnv);
    const inSync = await once(repo.dir);
    assert.equal(inSync.code, 0, inSync.stderr);
    assert.match(inSync.stdout, /^synced: version 7 is live/);

    const plain = await mkdtemp(join(tmpdir(), 'signalbox-plain-'));
    await writeFile(join(plain, 'all.yaml'), `${UPSTREAMS}${routesYaml(['plain', 'nope'])}`);
    const invalid = await once(plain);
    assert.equal(invalid.code, 1);
    assert.match(invalid.stderr, /invalid: .*\n {2}all\.yaml:8: routes\[0\]\.upstream: unknown upstream "nope"/);

    await writeFile(join(plain, 'all.yaml'), `${UPSTREAMS}${routesYaml(['plain', 'users'])}`);
    const applied = await once(plain);
    assert.equal(applied.code, 0, applied.stderr);
    assert.equal((await versions())[0]!.message, `gitops: ${plain} (not a git work tree)`);

    await call('DELETE', '/routes/plain');
    const drift = await once(plain);
    assert.equal(drift.code, 1);
    assert.match(drift.stderr, /drift: version 9 was written outside git by admin \(source api\).*\n {2}\+ routes\/plain/);
  });

  it('the next agent on a folder resumes from the version the last one accepted: a hand change taken into git is not drift', async () => {
    const once = () => runCli(['gitops', '--once', '--dir', repo.dir], agentEnv);
    // Version 9 was written by hand (no routes); committing the same state makes it the folder's.
    await repo.write('routes.yaml', 'routes: []\n');
    await repo.commit('Take the hand change into git');
    const accepted = await once();
    assert.equal(accepted.code, 0, accepted.stderr);
    assert.match(accepted.stdout, /^synced: version 9 is live/);

    await repo.write('routes.yaml', routesYaml(['users', 'users']));
    const next = await repo.commit('Bring users back');
    const applied = await once();
    assert.equal(applied.code, 0, applied.stderr);
    const [v10] = await versions();
    assert.equal(v10!.version, 10);
    assert.equal(v10!.message, `gitops: ${next.slice(0, 12)} Bring users back`);
  });

  it('a commit subject with control characters is recorded escaped: a commit cannot forge the history', async () => {
    await repo.write('routes.yaml', routesYaml(['users', 'users'], ['red', 'users']));
    const commit = await repo.commit('Add red \u001b[31mALERT\u001b[0m');
    const r = await runCli(['gitops', '--once', '--dir', repo.dir], agentEnv);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await versions())[0]!.message, `gitops: ${commit.slice(0, 12)} Add red \\u{1b}[31mALERT\\u{1b}[0m`);
  });
});

