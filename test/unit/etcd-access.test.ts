// etcd TLS and user options from flags and environment variables: what is taken from where, and
// the error for each way they can be wrong. The password never shows.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { createEtcdClient } from '../../src/store/client.js';
import { etcdAccessFromFlags, parseEndpoints, readPem } from '../../src/store/etcd-access.js';

const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
let dir = '';
const file = (name: string) => join(dir, name);

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'signalbox-access-'));
  for (const name of ['ca.pem', 'cert.pem', 'key.pem', 'env-ca.pem']) await writeFile(file(name), PEM);
  await writeFile(file('not-pem.txt'), 'hello');
});
after(() => rm(dir, { recursive: true, force: true }));

describe('etcdAccessFromFlags', () => {
  it('nothing given: no TLS, no user', () => {
    assert.deepEqual(etcdAccessFromFlags({}, {}), {});
  });

  it('reads the certificate files named by flags; a flag wins over its environment variable', () => {
    const access = etcdAccessFromFlags(
      { etcdCacert: file('ca.pem'), etcdCert: file('cert.pem'), etcdKey: file('key.pem') },
      { SIGNALBOX_ETCD_CACERT: file('missing.pem') },
    );
    assert.equal(access.tls?.ca?.toString(), PEM);
    assert.equal(access.tls?.cert?.toString(), PEM);
    assert.equal(access.tls?.key?.toString(), PEM);
    assert.equal(access.auth, undefined);
  });

  it('takes every setting from SIGNALBOX_ETCD_* when no flag is given (an empty value counts as unset)', () => {
    const access = etcdAccessFromFlags(
      { etcdUser: '' },
      { SIGNALBOX_ETCD_CACERT: file('env-ca.pem'), SIGNALBOX_ETCD_USER: 'sb', SIGNALBOX_ETCD_PASSWORD: 'pw-from-env', SIGNALBOX_ETCD_CERT: '' },
    );
    assert.equal(access.tls?.ca?.toString(), PEM);
    assert.equal(access.tls?.cert, undefined);
    assert.equal(access.auth?.user, 'sb');
    assert.equal(access.auth?.password, 'pw-from-env');
  });

  it('a missing, unreadable or non-PEM file is an error naming the flag or variable and the path', () => {
    assert.throws(() => etcdAccessFromFlags({ etcdCacert: file('missing.pem') }, {}), new RegExp(`^Error: --etcd-cacert: cannot read ${file('missing.pem')}: ENOENT`));
    assert.throws(() => etcdAccessFromFlags({}, { SIGNALBOX_ETCD_CACERT: dir }), new RegExp(`^Error: SIGNALBOX_ETCD_CACERT: cannot read ${dir}: EISDIR`));
    assert.throws(() => etcdAccessFromFlags({ etcdCacert: file('not-pem.txt') }, {}), /--etcd-cacert: .*not-pem\.txt is not a PEM file/);
  });

  it('a certificate needs its key and a key its certificate', () => {
    assert.throws(() => etcdAccessFromFlags({ etcdCert: file('cert.pem') }, {}), /^Error: --etcd-cert needs the client certificate's private key: --etcd-key or SIGNALBOX_ETCD_KEY$/);
    assert.throws(() => etcdAccessFromFlags({}, { SIGNALBOX_ETCD_KEY: file('key.pem') }), /^Error: SIGNALBOX_ETCD_KEY needs the client certificate it belongs to/);
  });

  it('a user needs a password and a password a user; neither error shows the password', () => {
    assert.throws(() => etcdAccessFromFlags({ etcdUser: 'sb' }, {}), /^Error: --etcd-user needs a password: SIGNALBOX_ETCD_PASSWORD \(or --etcd-password\)$/);
    assert.throws(
      () => etcdAccessFromFlags({ etcdPassword: 'hunter2-secret' }, {}),
      (err: Error) => /^--etcd-password is set but no etcd user is/.test(err.message) && !err.message.includes('hunter2-secret'),
    );
  });

  it('the password is usable but left out of JSON, logs and inspection', () => {
    const access = etcdAccessFromFlags({ etcdUser: 'sb', etcdPassword: 'hunter2-secret' }, {});
    assert.equal(access.auth?.password, 'hunter2-secret');
    assert.ok(!JSON.stringify(access).includes('hunter2'));
    assert.ok(!inspect(access, { depth: 5 }).includes('hunter2'));
  });
});

describe('TLS endpoints', () => {
  it('PEM text is taken as it is; a path is read', () => {
    assert.equal(readPem(PEM, 'x').toString(), PEM);
    assert.equal(readPem(file('ca.pem'), 'x').toString(), PEM);
  });

  it('endpoints without a scheme are https:// when TLS is configured; a plain http:// one is refused', () => {
    assert.deepEqual(parseEndpoints('a:2379,https://b:2379', 'https'), ['https://a:2379', 'https://b:2379']);
    assert.throws(
      () => createEtcdClient('https://a:2379,http://b:2379', { tls: { ca: PEM } }),
      /^Error: etcd TLS options are given, but http:\/\/b:2379 is not an https:\/\/ endpoint$/,
    );
    assert.throws(() => createEtcdClient('https://a:2379', { tls: { cert: PEM } }), /a client certificate needs its key/);
  });
});
