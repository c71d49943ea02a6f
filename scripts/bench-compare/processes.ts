// Memory and CPU of a server made of several processes (PostgreSQL: a postmaster and a
// backend per connection), read from /proc. Memory is the sum of PSS, not RSS: every
// backend maps the same shared buffers, which RSS would count once per process.

import { readFileSync } from "node:fs";
import { cpuSeconds } from "../bench-lib.ts";

/** Direct children of a process (its main thread's; a postmaster has no other threads). */
export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return []; // the process ended
  }
}

/** Proportional set size of a process, bytes (shared pages divided among their sharers); 0 once it has ended. */
export function pssBytes(pid: number): number {
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

/** CPU seconds of ended, reaped children (cutime + cstime), which the parent's stat carries. */
function reapedChildrenCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[13]) + Number(fields[14])) / 100;
  } catch {
    return 0; // the process ended
  }
}

/** CPU seconds of a process, its live direct children and its reaped ones. */
export function treeCpuSeconds(root: number): number {
  return cpuSeconds(root) + reapedChildrenCpuSeconds(root) + childPids(root).reduce((sum, pid) => sum + cpuSeconds(pid), 0);
}
