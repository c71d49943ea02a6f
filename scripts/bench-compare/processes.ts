// Memory and CPU of a server made of several processes (PostgreSQL: a postmaster and a
// backend per connection), read from /proc. Memory is the sum of PSS, not RSS: every
// backend maps the same shared buffers, which RSS would count once per process.

import { readFileSync } from "node:fs";
import { cpuSeconds, readStat } from "../bench-lib.ts";

/** Direct children of a process (its main thread's; a postmaster has no other threads). */
function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return []; // the process ended
  }
}

/** Proportional set size of a process, bytes (shared pages divided among their sharers); 0 once it has ended. */
function pssBytes(pid: number): number {
  try {
    const match = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0; // the process ended
  }
}

/** PSS of a process and its direct children, bytes. */
export function treePssBytes(root: number): number {
  return [root, ...childPids(root)].reduce((sum, pid) => sum + pssBytes(pid), 0);
}

/** CPU seconds of a process, of its ended children it has reaped, and of its live direct children. */
export function treeCpuSeconds(root: number): number {
  const stat = readStat(root);
  const own = stat ? stat.cpuSeconds + stat.reapedChildrenCpuSeconds : 0;
  return own + childPids(root).reduce((sum, pid) => sum + cpuSeconds(pid), 0);
}
