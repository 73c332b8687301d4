// Certificates' private keys and jwt policies' secrets never leave the control plane: every
// answer shows a key as its sha256 (and the cert's expiry) instead, and a write that leaves a
// key out keeps the stored one (the shown fields are read-only in the schema, so what a read
// shows can be written back as it is).
import { X509Certificate, createHash, createPrivateKey } from 'node:crypto';
import type { ObjectChange } from '../config/diff.js';
import { toDocument, type Certificate, type Config, type ConfigObject, type Consumer, type Kind, type Policy } from '../config/schema.js';

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

/** Of the key's PKCS#8 DER, so PEM wrapping does not count: `openssl pkey -in key.pem -outform DER | sha256sum`. */
function keySha256(pem: string): string {
  try {
    return sha256(createPrivateKey(pem).export({ type: 'pkcs8', format: 'der' }));
  } catch {
    // Only a key written straight into etcd fails to parse; its text still identifies it.
    return sha256(pem);
  }
}

function notAfter(pem: string): string | undefined {
  try {
    return new Date(new X509Certificate(pem).validTo).toISOString();
  } catch {
    return undefined;
  }
}

export function redactCertificate(cert: Certificate): Certificate {
  const { key, ...shown } = cert;
  return { ...shown, ...(key === undefined ? {} : { keySha256: keySha256(key) }), notAfter: notAfter(cert.cert) };
}

export function redactPolicy(policy: Policy): Policy {
  if (policy.type !== 'jwt' || policy.secret === undefined) return policy;
  const { secret, ...shown } = policy;
  return { ...shown, secretSha256: sha256(secret) };
}

export function redactObject(kind: Kind, obj: ConfigObject): ConfigObject {
  if (kind === 'certificates') return redactCertificate(obj as Certificate);
  return kind === 'policies' ? redactPolicy(obj as Policy) : obj;
}

/** A config as the API shows it: a document (settings as top-level fields), keys and secrets redacted. */
export function redactConfig(config: Config): ReturnType<typeof toDocument> {
  return toDocument({ ...config, policies: config.policies.map(redactPolicy), certificates: config.certificates.map(redactCertificate) });
}

export function redactChange(change: ObjectChange): ObjectChange {
  const out = { ...change };
  if (out.before) out.before = redactObject(change.kind, out.before);
  if (out.after) out.after = redactObject(change.kind, out.after);
  return out;
}

/** What a document's certificate without key is given (validate.ts): the stored key of its id. */
export function storedKeys(certificates: readonly Certificate[]): Map<string, string> {
  return new Map(certificates.flatMap((c) => (c.key === undefined ? [] : [[c.id, c.key] as const])));
}

/**
 * What a document's consumer with a plain password is checked against (validate.ts): the hash
 * stored for its id, so the same password applied again keeps it. Consumers' other secrets need
 * no redaction: the config only ever holds their hashes (src/config/secrets.ts).
 */
export function storedPasswords(consumers: readonly Consumer[]): (id: string) => string | undefined {
  const byId = new Map(consumers.flatMap((c) => (c.basic === undefined ? [] : [[c.id, c.basic.password] as const])));
  return (id) => byId.get(id);
}

/** What a document's jwt policy without key source is given (validate.ts): the stored secret of its id. */
export function storedSecrets(policies: readonly Policy[]): Map<string, string> {
  return new Map(policies.flatMap((p) => (p.type === 'jwt' && p.secret !== undefined ? [[p.id, p.secret] as const] : [])));
}
