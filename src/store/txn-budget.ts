// How much one etcd transaction may carry, computed once per writer from etcd's limits, and
// operations packed into transactions that respect it.
import type { IRequestOp } from 'etcd3';
import { opBytes } from './kv.js';

export interface WriteLimits {
  maxOpsPerTxn: number;
  maxBytesPerTxn: number;
}

/** Stock etcd: at most 128 operations and 1.5 MiB per request; we stay at 1 MiB. */
export const DEFAULT_WRITE_LIMITS: WriteLimits = { maxOpsPerTxn: 128, maxBytesPerTxn: 1024 * 1024 };

/** Room left in every txn for its compares and framing. */
const TXN_OVERHEAD_BYTES = 4 * 1024;

/** What the operations of one transaction may add up to. */
export interface TxnBudget {
  maxOps: number;
  maxBytes: number;
}

export function txnBudget(limits: WriteLimits): TxnBudget {
  return { maxOps: limits.maxOpsPerTxn, maxBytes: limits.maxBytesPerTxn - TXN_OVERHEAD_BYTES };
}

export function sumBytes(ops: readonly IRequestOp[]): number {
  let n = 0;
  for (const op of ops) n += opBytes(op);
  return n;
}

export function fitsOneTxn(ops: readonly IRequestOp[], budget: TxnBudget): boolean {
  return ops.length <= budget.maxOps && sumBytes(ops) <= budget.maxBytes;
}

/** Split operations, in order, into transactions within the budget. */
export function packBatches(ops: readonly IRequestOp[], budget: TxnBudget): IRequestOp[][] {
  const batches: IRequestOp[][] = [];
  let batch: IRequestOp[] = [];
  let bytes = 0;
  for (const op of ops) {
    const b = opBytes(op);
    if (batch.length > 0 && (batch.length >= budget.maxOps || bytes + b > budget.maxBytes)) {
      batches.push(batch);
      batch = [];
      bytes = 0;
    }
    batch.push(op);
    bytes += b;
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}
