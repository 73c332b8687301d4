// CPU time and memory of benchmark processes, read from /proc: how the shared cores were split
// between the proxy, the control plane and etcd. Where there is no /proc the numbers are null.
import { readFileSync } from 'node:fs';

/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid: number): number | null {
  try {
    // Fields after "(comm) ": state is the first, utime and stime the 12th and 13th, in the
    // USER_HZ ticks /proc always counts in (100 per second).
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

/** Starts counting now; the returned function gives the CPU seconds each process used since. */
export function cpuMeter<K extends string>(pids: Record<K, number | undefined>): () => Record<K, number | null> {
  const start = (Object.entries(pids) as [K, number | undefined][]).map(([name, pid]) => ({ name, pid, t0: pid === undefined ? null : cpuSeconds(pid) }));
  return () => {
    const used = {} as Record<K, number | null>;
    for (const { name, pid, t0 } of start) {
      const t1 = pid === undefined ? null : cpuSeconds(pid);
      used[name] = t0 === null || t1 === null ? null : t1 - t0;
    }
    return used;
  };
}

/** CPU seconds a group of processes (a proxy and its workers) used since now; null when unreadable. */
export function groupCpuMeter(pids: readonly number[]): () => number | null {
  const meter = cpuMeter(Object.fromEntries(pids.map((pid) => [String(pid), pid])));
  return () => {
    const used = Object.values(meter());
    return used.some((t) => t === null) ? null : used.reduce<number>((a, t) => a + t!, 0);
  };
}

/** A process's resident memory in MB, from /proc; null where there is none. */
export function rssMb(pid: number): number | null {
  try {
    const kb = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? null : Math.round(Number(kb) / 1024);
  } catch {
    return null;
  }
}
