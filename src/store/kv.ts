// Small helpers over etcd3's raw RPC types: the writer and the watcher use transactions and
// range reads directly, to see revisions and to compare on key ranges.
import type { ICompare, IKeyValue, IRequestOp } from 'etcd3';

export const buf = (s: string): Buffer => Buffer.from(s, 'utf8');

/** The end of the key range holding every key that starts with `prefix`. */
export function prefixEnd(prefix: string): Buffer {
  const b = Buffer.from(prefix, 'utf8');
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i]! < 0xff) {
      const end = b.subarray(0, i + 1);
      end[i]! += 1;
      return end;
    }
  }
  return Buffer.from([0]);
}

export const rangeOp = (key: string, opts: { prefix?: boolean } = {}): IRequestOp => ({
  request_range: opts.prefix ? { key: buf(key), range_end: prefixEnd(key) } : { key: buf(key) },
});
export const putOp = (key: string, value: string, lease?: string): IRequestOp => ({
  request_put: lease ? { key: buf(key), value: buf(value), lease } : { key: buf(key), value: buf(value) },
});
export const deleteOp = (key: string): IRequestOp => ({ request_delete_range: { key: buf(key) } });

/** mod revision of `key` == rev; rev 0 means "the key does not exist". */
export function modIs(key: string, rev: number): ICompare {
  return rev === 0
    ? { key: buf(key), target: 'Create', result: 'Equal', create_revision: 0 }
    : { key: buf(key), target: 'Mod', result: 'Equal', mod_revision: rev };
}
export const createIs = (key: string, rev: number): ICompare => ({
  key: buf(key),
  target: 'Create',
  result: 'Equal',
  create_revision: rev,
});
/** `key` holds `value` (null: `key` does not exist). */
export const valueIs = (key: string, value: string | null): ICompare =>
  value === null ? createIs(key, 0) : { key: buf(key), target: 'Value', result: 'Equal', value: buf(value) };

/** Every key under `prefix` was last modified before `rev` (true for an empty range). */
export const prefixModBelow = (prefix: string, rev: number): ICompare => ({
  key: buf(prefix),
  range_end: prefixEnd(prefix),
  target: 'Mod',
  result: 'Less',
  mod_revision: rev,
});

/** Bytes an operation adds to a txn request (key, value and a generous framing allowance). */
export function opBytes(op: IRequestOp): number {
  const p = op.request_put ?? op.request_delete_range ?? op.request_range;
  const key = p?.key?.length ?? 0;
  const value = op.request_put?.value?.length ?? 0;
  return key + value + 32;
}

export const kvKey = (kv: IKeyValue): string => kv.key.toString('utf8');
export const kvValue = (kv: IKeyValue): string => kv.value.toString('utf8');

export function isCompactedError(err: unknown): boolean {
  return err instanceof Error && /required revision has been compacted/.test(err.message);
}
