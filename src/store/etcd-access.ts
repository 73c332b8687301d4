// How a Signalbox process reaches a production etcd: client TLS (CA, client certificate) and an
// etcd user. Every command that talks to etcd builds this from the same flags and environment
// variables; the password never appears in an error, a log line or a serialized options object.
import { readFileSync } from 'node:fs';
import { errorMessage } from '../util/errors.js';

export interface EtcdTls {
  /** CAs that sign etcd's server certificate: PEM text or a file path. Default: Node's bundled CAs. */
  ca?: string | Buffer;
  /** Client certificate for etcd's `--client-cert-auth`: PEM text or a file path. Needs `key`. */
  cert?: string | Buffer;
  /** The client certificate's private key: PEM text or a file path. */
  key?: string | Buffer;
}

export interface EtcdAuth {
  user: string;
  /** Not enumerable when built by etcdAuth(): JSON and log serializers skip it. */
  password: string;
}

/** What createEtcdClient needs beyond the endpoints to reach a secured etcd. */
export interface EtcdAccess {
  tls?: EtcdTls;
  auth?: EtcdAuth;
}

/** The flag values as commander hands them over (`--etcd-cacert` → etcdCacert). */
export interface EtcdAccessFlags {
  etcdCacert?: string;
  etcdCert?: string;
  etcdKey?: string;
  etcdUser?: string;
  etcdPassword?: string;
}

type Setting = keyof EtcdAccessFlags;

const FLAG: Record<Setting, string> = {
  etcdCacert: '--etcd-cacert',
  etcdCert: '--etcd-cert',
  etcdKey: '--etcd-key',
  etcdUser: '--etcd-user',
  etcdPassword: '--etcd-password',
};

/** Environment variables standing in for the flags (a flag wins over its variable). */
export const ETCD_ACCESS_ENV: Record<Setting, string> = {
  etcdCacert: 'SIGNALBOX_ETCD_CACERT',
  etcdCert: 'SIGNALBOX_ETCD_CERT',
  etcdKey: 'SIGNALBOX_ETCD_KEY',
  etcdUser: 'SIGNALBOX_ETCD_USER',
  etcdPassword: 'SIGNALBOX_ETCD_PASSWORD',
};

/** A user and password whose password JSON.stringify, pino and util.inspect leave out. */
export function etcdAuth(user: string, password: string): EtcdAuth {
  return Object.defineProperty<EtcdAuth>({ user, password: '' }, 'password', { value: password, enumerable: false });
}

/**
 * The etcd access options from flag values and environment variables. Certificate files are
 * read here, so a wrong path fails at start with the flag (or variable) that named it. Throws
 * on a file that is missing, unreadable or not PEM, a certificate without its key (or the
 * reverse), and a user without a password (or the reverse).
 */
export function etcdAccessFromFlags(
  flags: EtcdAccessFlags,
  env: Readonly<Record<string, string | undefined>> = process.env,
  readFile: (path: string) => Buffer = (path) => readFileSync(path),
): EtcdAccess {
  const given = (s: Setting): { value: string; source: string } | null => {
    const flag = flags[s];
    if (flag !== undefined && flag !== '') return { value: flag, source: FLAG[s] };
    const fromEnv = env[ETCD_ACCESS_ENV[s]];
    return fromEnv !== undefined && fromEnv !== '' ? { value: fromEnv, source: ETCD_ACCESS_ENV[s] } : null;
  };
  const pemFile = (s: Setting) => {
    const g = given(s);
    return g ? readPem(g.value, g.source, readFile) : undefined;
  };
  const [cert, key] = [given('etcdCert'), given('etcdKey')];
  if (cert && !key) throw new Error(`${cert.source} needs the client certificate's private key: --etcd-key or ${ETCD_ACCESS_ENV.etcdKey}`);
  if (key && !cert) throw new Error(`${key.source} needs the client certificate it belongs to: --etcd-cert or ${ETCD_ACCESS_ENV.etcdCert}`);
  const [user, password] = [given('etcdUser'), given('etcdPassword')];
  if (user && !password) throw new Error(`${user.source} needs a password: ${ETCD_ACCESS_ENV.etcdPassword} (or --etcd-password)`);
  if (password && !user) throw new Error(`${password.source} is set but no etcd user is: --etcd-user or ${ETCD_ACCESS_ENV.etcdUser}`);

  const access: EtcdAccess = {};
  const tls: EtcdTls = { ca: pemFile('etcdCacert'), cert: pemFile('etcdCert'), key: pemFile('etcdKey') };
  if (tls.ca || tls.cert) access.tls = tls;
  if (user && password) access.auth = etcdAuth(user.value, password.value);
  return access;
}

/**
 * EtcdAccess as a worker thread receives it. Structured cloning skips the password etcdAuth()
 * hides from serializers, so across a thread boundary it travels as a plain field.
 */
export interface EtcdAccessData {
  tls?: EtcdTls;
  auth?: { user: string; password: string };
}

export function accessData(access: EtcdAccess): EtcdAccessData {
  return { tls: access.tls, auth: access.auth && { user: access.auth.user, password: access.auth.password } };
}

export function accessFromData(data: EtcdAccessData): EtcdAccess {
  return { tls: data.tls, auth: data.auth && etcdAuth(data.auth.user, data.auth.password) };
}

/** PEM content given inline or as a file path; `what` names its source in errors. */
export function readPem(value: string | Uint8Array, what: string, readFile: (path: string) => Buffer = (path) => readFileSync(path)): Buffer {
  // A Buffer that crossed into a worker thread arrives as a plain Uint8Array.
  if (typeof value !== 'string') return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (value.trimStart().startsWith('-----BEGIN ')) return Buffer.from(value);
  let content: Buffer;
  try {
    content = readFile(value);
  } catch (err) {
    throw new Error(`${what}: cannot read ${value}: ${errorMessage(err)}`);
  }
  if (!content.includes('-----BEGIN ')) throw new Error(`${what}: ${value} is not a PEM file (no "-----BEGIN" line)`);
  return content;
}

/** "http://a:2379,http://b:2379" or a list of such strings → one URL per endpoint (`scheme` when none is given). */
export function parseEndpoints(endpoints: string | readonly string[], scheme: 'http' | 'https' = 'http'): string[] {
  const list = (typeof endpoints === 'string' ? [endpoints] : [...endpoints])
    .flatMap((e) => e.split(','))
    .map((e) => e.trim())
    .filter((e) => e.length > 0)
    .map((e) => (/^[a-z]+:\/\//i.test(e) ? e : `${scheme}://${e}`));
  if (list.length === 0) throw new Error('no etcd endpoint given');
  return list;
}
