// Real etcd processes for tests, on free loopback ports, ended by PID when the test file ends:
// plain, with client TLS (certificates made with openssl), with users and roles; and a TCP relay
// that can cut or freeze the connection to one.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Etcd3 } from 'etcd3';
import { ManagedEtcd, type ManagedEtcdOptions } from '../../src/dev/managed-etcd.js';
import { atFileEnd } from './cleanup.js';

export async function startTestEtcd(opts: Pick<ManagedEtcdOptions, 'args' | 'tls'> = {}): Promise<ManagedEtcd> {
  const dir = await mkdtemp(join(tmpdir(), 'signalbox-etcd-'));
  const etcd = new ManagedEtcd({ dataDir: dir, ...opts });
  atFileEnd(async () => {
    await etcd.stop();
    await rm(dir, { recursive: true, force: true });
  });
  await etcd.start();
  return etcd;
}

/** PEM files of a throwaway CA, a server certificate for 127.0.0.1, a client certificate, and an RSA pair for JWTs. */
export interface TestCerts {
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A second CA, which signed nothing etcd trusts. */
  otherCa: string;
  jwtPrivateKey: string;
  jwtPublicKey: string;
}

const run = promisify(execFile);

/** Certificates made with openssl in a temp dir (removed when the test file ends). */
export async function makeTestCerts(): Promise<TestCerts> {
  const dir = await mkdtemp(join(tmpdir(), 'signalbox-certs-'));
  atFileEnd(() => rm(dir, { recursive: true, force: true }));
  const f = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => run('openssl', args, { cwd: dir });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const ca = async (name: string) => openssl('req', '-x509', ...ec, '-keyout', f(`${name}.key`), '-out', f(`${name}.pem`), '-days', '1', '-subj', `/CN=${name}`);
  const signed = async (name: string, cn: string, ext: string) => {
    await writeFile(f(`${name}.ext`), ext);
    await openssl('req', ...ec, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=${cn}`);
    await openssl('x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '1', '-out', f(`${name}.pem`), '-extfile', f(`${name}.ext`));
  };
  await ca('ca');
  await ca('other-ca');
  await signed('server', '127.0.0.1', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  await signed('client', 'signalbox', 'extendedKeyUsage=clientAuth\n');
  await openssl('genrsa', '-out', f('jwt.key'), '2048');
  await openssl('rsa', '-in', f('jwt.key'), '-pubout', '-out', f('jwt.pub'));
  return {
    ca: f('ca.pem'),
    serverCert: f('server.pem'),
    serverKey: f('server.key'),
    clientCert: f('client.pem'),
    clientKey: f('client.key'),
    otherCa: f('other-ca.pem'),
    jwtPrivateKey: f('jwt.key'),
    jwtPublicKey: f('jwt.pub'),
  };
}

export const ROOT_PASSWORD = 'root-secret-0';

/**
 * Turn on etcd's authentication: a root user (ROOT_PASSWORD), and `user` with a role that may
 * read and write keys under `prefix` and nothing else. `admin` must be an unauthenticated client.
 */
export async function enableAuth(admin: Etcd3, user: { name: string; password: string; prefix: string }): Promise<void> {
  await admin.role('root').create();
  await admin.user('root').create(ROOT_PASSWORD);
  await admin.user('root').addRole('root');
  const role = await admin.role(`${user.name}-role`).create();
  await role.grant({ permission: 'Readwrite', range: admin.range({ prefix: user.prefix }) });
  await admin.user(user.name).create(user.password);
  await admin.user(user.name).addRole(role);
  await admin.auth.authEnable();
}

/**
 * A TCP relay to etcd that can be cut (every connection reset, new ones refused), frozen (bytes
 * silently dropped, connections left open: a dead peer that TCP does not report) and restored.
 */
export class EtcdRelay {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private mode: 'up' | 'cut' | 'frozen' = 'up';
  port = 0;

  constructor(private readonly targetPort: number) {
    this.server = createServer((client) => {
      if (this.mode === 'cut') return client.destroy();
      this.track(client);
      if (this.mode === 'frozen') return; // accepted, never answered
      const upstream = this.track(connect(this.targetPort, '127.0.0.1'));
      client.on('data', (d) => this.mode === 'up' && upstream.write(d));
      upstream.on('data', (d) => this.mode === 'up' && client.write(d));
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
  }

  private track(s: Socket): Socket {
    this.sockets.add(s);
    s.on('close', () => this.sockets.delete(s));
    s.on('error', () => undefined);
    return s;
  }

  /** Listen on a free loopback port; closed when the test file ends. */
  listen(): Promise<void> {
    atFileEnd(() => this.close());
    return new Promise((resolve) =>
      this.server.listen(0, '127.0.0.1', () => {
        this.port = (this.server.address() as { port: number }).port;
        resolve();
      }),
    );
  }

  cut(): void {
    this.mode = 'cut';
    for (const s of this.sockets) s.resetAndDestroy();
  }

  freeze(): void {
    this.mode = 'frozen';
  }

  restore(): void {
    if (this.mode === 'frozen') for (const s of this.sockets) s.resetAndDestroy();
    this.mode = 'up';
  }

  close(): Promise<void> {
    if (!this.server.listening) return Promise.resolve();
    this.cut();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
