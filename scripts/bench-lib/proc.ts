// Process figures of the benchmarks, read from /proc: CPU seconds of a process, of its
// threads by name and of the whole machine; resident memory, sampled for its peak; and
// bytes on disk under a directory.

import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

/** What a /proc stat line says of a process: its name, and user + system CPU seconds of itself and of its ended, reaped children. */
interface ProcessStat {
  name: string;
  cpuSeconds: number;
  /** cutime + cstime: what the children it has waited for used. */
  reapedChildrenCpuSeconds: number;
}

/** Parses a /proc stat line (clock ticks of 1/100 s; the name may hold spaces and parentheses). */
function parseStat(stat: string): ProcessStat {
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { name: stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")), cpuSeconds: (Number(fields[11]) + Number(fields[12])) / 100, reapedChildrenCpuSeconds: (Number(fields[13]) + Number(fields[14])) / 100 };
}

/** A process's /proc stat; undefined once it has ended. */
export function readStat(pid: number): ProcessStat | undefined {
  try {
    return parseStat(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return undefined; // the process ended
  }
}

/** User + system CPU seconds a process has used so far; 0 once it has ended. */
export function cpuSeconds(pid: number): number {
  return readStat(pid)?.cpuSeconds ?? 0;
}

/** CPU seconds per thread name of a process (DuckDB workers, Bun's JS thread, GC helpers…): where a node's time goes. */
export function threadCpuSeconds(pid: number): Record<string, number> {
  const byName: Record<string, number> = {};
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      try {
        const stat = parseStat(readFileSync(`/proc/${pid}/task/${task}/stat`, "utf8"));
        const name = stat.name.replace(/[0-9]+$/, "#");
        byName[name] = (byName[name] ?? 0) + stat.cpuSeconds;
      } catch {
        // the thread ended between listing and reading
      }
    }
  } catch {
    // the process ended
  }
  return byName;
}

/** CPU seconds per thread name between two threadCpuSeconds readings, to 0.1 s: threads that used at least 0.1 s, busiest first. */
export function threadCpuDelta(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  return Object.fromEntries(
    Object.entries(after)
      .map(([name, seconds]) => [name, Math.round((seconds - (before[name] ?? 0)) * 10) / 10] as const)
      .filter(([, seconds]) => seconds >= 0.1)
      .sort((a, b) => b[1] - a[1]),
  );
}

/** CPU seconds the whole machine has been busy (all cores: user, nice, system, irq, softirq, steal; /proc/stat). */
function machineBusySeconds(): number {
  const fields = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = fields;
  return (user + nice + system + irq + softirq + (steal ?? 0)) / 100;
}

/** One side of a CPU measurement: CPU seconds of named processes, this process's usage, and the machine's busy seconds. */
interface CpuSnapshot {
  /** The processes measured, by name. */
  pids: Readonly<Record<string, number>>;
  /** How a process's CPU seconds are read (cpuSeconds, or one that adds its children). */
  read: (pid: number) => number;
  /** CPU seconds per name, in the order the names were given. */
  processes: Record<string, number>;
  bench: NodeJS.CpuUsage;
  machineSeconds: number;
}

/** Reads the CPU seconds of the named processes with `read` (pid 0 or an ended process: 0), of this process and of the machine. */
export function cpuSnapshot(pids: Readonly<Record<string, number>>, read: (pid: number) => number = cpuSeconds): CpuSnapshot {
  const processes = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, read(pid)]));
  return { pids, read, processes, bench: process.cpuUsage(), machineSeconds: machineBusySeconds() };
}

/**
 * CPU seconds used since `before`, unrounded (callers round): per named process, this
 * process (`bench`: the benchmark and its worker threads), the whole machine, and
 * other processes (the machine minus the rest: other people's work).
 */
export function cpuDelta(before: CpuSnapshot): { processes: Record<string, number>; bench: number; machine: number; other: number } {
  const benchUsage = process.cpuUsage(before.bench);
  const bench = (benchUsage.user + benchUsage.system) / 1e6;
  const processes = Object.fromEntries(Object.entries(before.processes).map(([name, seconds]) => [name, before.read(before.pids[name]) - seconds]));
  const machine = machineBusySeconds() - before.machineSeconds;
  const other = Object.values(processes).reduce((left, seconds) => left - seconds, machine) - bench;
  return { processes, bench, machine, other };
}

/** Resident set size of a process, bytes; 0 once it has ended. */
export function rssBytes(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0; // the process ended
  }
}

/** Bytes of every file under a directory (0 if it does not exist). */
export function directoryBytes(path: string): number {
  if (!existsSync(path)) return 0;
  let total = 0;
  for (const entry of readdirSync(path, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    try {
      total += statSync(join(entry.parentPath, entry.name)).size;
    } catch {
      // removed between listing and stat (a compaction, a merge)
    }
  }
  return total;
}

/** How often RssSampler reads memory. */
const MEMORY_SAMPLE_MS = 250;

export interface RssSamplerOptions {
  /** Bytes per name, read at each sample instead of the RSS of the watched pids (e.g. the PSS of a process tree). */
  read?: () => Record<string, number>;
  /** Sees every reading, bytes per name (e.g. to keep a series). */
  onSample?: (bytes: Readonly<Record<string, number>>) => void;
}

/** Peak RSS per named process (or per name of what `read` returns), sampled every MEMORY_SAMPLE_MS while running; pids may be added later. */
export class RssSampler {
  private readonly peaks: Record<string, number> = {};
  private readonly pids = new Map<string, number>();
  private readonly timer = setInterval(() => this.sample(), MEMORY_SAMPLE_MS);

  constructor(private readonly options: RssSamplerOptions = {}) {}

  watch(name: string, pid: number): void {
    if (pid > 0) this.pids.set(name, pid);
  }

  private sample(): void {
    const bytes = this.options.read?.() ?? Object.fromEntries([...this.pids].map(([name, pid]) => [name, rssBytes(pid)]));
    for (const [name, value] of Object.entries(bytes)) this.peaks[name] = Math.max(this.peaks[name] ?? 0, value);
    this.options.onSample?.(bytes);
  }

  /** The peaks so far in MB, and starts over (for the next phase). */
  takePeaksMb(): Record<string, number> {
    this.sample();
    const peaks = Object.fromEntries(Object.entries(this.peaks).map(([name, bytes]) => [name, Math.round(bytes / 2 ** 20)]));
    for (const name of Object.keys(this.peaks)) delete this.peaks[name];
    return peaks;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
