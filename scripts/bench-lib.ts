// Helpers shared by the benchmarks in scripts/: latency histograms, process figures
// from /proc, a Sluice node as a child process (with its own nats-server child), WAL
// publishing that honours the node's flow signal and a full WAL, and cleanup of every
// child on exit, signals and errors. bench-ingest.ts and bench-query.ts import from
// here; bench-ingest.ts runs on import, so nothing imports it. Nothing here runs on
// import.

import { createWriteStream, existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import hdr from "hdr-histogram-js";
import type { JetStreamClient } from "@nats-io/jetstream";
import type { Subprocess } from "bun";
import type { FlowGate } from "../src/sdk/flow-gate.ts";
import { portsFilePid } from "../src/nats/server-process.ts";

export const ROOT = resolve(import.meta.dir, "..");

// ---- latency ----

/** A histogram of microseconds, 1 µs to 1 h at 3 significant digits. */
export const histogram = () => hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 });
export type Histogram = ReturnType<typeof histogram>;

/** Percentiles of a histogram of microseconds, in milliseconds. */
export function percentiles(h: Histogram): { p50: number; p99: number; p999: number; max: number; count: number } {
  const ms = (us: number) => Math.round(us / 10) / 100;
  return { p50: ms(h.getValueAtPercentile(50)), p99: ms(h.getValueAtPercentile(99)), p999: ms(h.getValueAtPercentile(99.9)), max: ms(h.maxValue), count: h.totalCount };
}

/** Records milliseconds (from performance.now() differences) into a histogram of microseconds. */
export function recordMs(h: Histogram, ms: number): void {
  h.recordValue(Math.max(1, Math.round(ms * 1000)));
}

// ---- processes ----

/** The name and user + system CPU seconds in a /proc stat line (clock ticks of 1/100 s; the name may hold spaces and parentheses). */
function parseStat(stat: string): { name: string; cpuSeconds: number } {
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { name: stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")), cpuSeconds: (Number(fields[11]) + Number(fields[12])) / 100 };
}

/** User + system CPU seconds a process has used so far; 0 once it has ended. */
export function cpuSeconds(pid: number): number {
  try {
    return parseStat(readFileSync(`/proc/${pid}/stat`, "utf8")).cpuSeconds;
  } catch {
    return 0; // the process ended
  }
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
  /** User + system CPU seconds per name, in the order the names were given. */
  processes: Record<string, number>;
  bench: NodeJS.CpuUsage;
  machineSeconds: number;
}

/** Reads the CPU seconds of the named processes (pid 0 or an ended process: 0), of this process and of the machine. */
export function cpuSnapshot(pids: Record<string, number>): CpuSnapshot {
  const processes = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuSeconds(pid)]));
  return { pids, processes, bench: process.cpuUsage(), machineSeconds: machineBusySeconds() };
}

/**
 * CPU seconds used since `before`, unrounded (callers round): per named process, this
 * process (`bench`: the benchmark and its worker threads), the whole machine, and
 * other processes (the machine minus the rest: other people's work).
 */
export function cpuDelta(before: CpuSnapshot): { processes: Record<string, number>; bench: number; machine: number; other: number } {
  const benchUsage = process.cpuUsage(before.bench);
  const bench = (benchUsage.user + benchUsage.system) / 1e6;
  const processes = Object.fromEntries(Object.entries(before.processes).map(([name, seconds]) => [name, cpuSeconds(before.pids[name]) - seconds]));
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

/** Peak RSS per named process, sampled every 250 ms while running; pids may be added later. */
export class RssSampler {
  private readonly peaks: Record<string, number> = {};
  private readonly pids = new Map<string, number>();
  private readonly timer = setInterval(() => this.sample(), 250);

  watch(name: string, pid: number): void {
    if (pid > 0) this.pids.set(name, pid);
  }

  private sample(): void {
    for (const [name, pid] of this.pids) this.peaks[name] = Math.max(this.peaks[name] ?? 0, rssBytes(pid));
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

/**
 * Every child the benchmark started, ended on normal exit, SIGINT, SIGTERM, an
 * uncaught error or an unhandled rejection. `stop` handlers run first (graceful),
 * in reverse order of registration; then anything still running is killed.
 */
export class Children {
  private readonly processes = new Set<Subprocess>();
  private readonly stops: (() => Promise<void>)[] = [];
  private cleaning?: Promise<void>;

  constructor(log: (line: string) => void) {
    const fail = (reason: unknown) => {
      log(`bench failed: ${reason instanceof Error ? (reason.stack ?? reason.message) : String(reason)}`);
      void this.cleanup().then(() => process.exit(1));
    };
    process.on("SIGINT", () => void this.cleanup().then(() => process.exit(130)));
    process.on("SIGTERM", () => void this.cleanup().then(() => process.exit(143)));
    process.on("uncaughtException", fail);
    process.on("unhandledRejection", fail);
    process.on("exit", () => {
      for (const child of this.processes) child.kill("SIGKILL");
    });
  }

  /** A plain child process, killed with SIGTERM on cleanup while it runs. */
  add(child: Subprocess): Subprocess {
    this.processes.add(child);
    void child.exited.then(() => this.processes.delete(child));
    return child;
  }

  /** A graceful stop for something that owns children (a node, a server). */
  onCleanup(stop: () => Promise<void>): void {
    this.stops.push(stop);
  }

  cleanup(): Promise<void> {
    this.cleaning ??= (async () => {
      for (const stop of this.stops.splice(0).reverse()) {
        try {
          await stop();
        } catch (error) {
          console.error(`cleanup step failed: ${error}`);
        }
      }
      for (const child of this.processes) child.kill("SIGTERM");
      await Promise.all([...this.processes].map((child) => child.exited));
    })();
    return this.cleaning;
  }
}

/** A free TCP port on loopback (bound and released; fine for a child started right after). */
export function freePort(): number {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return port;
}

// ---- a Sluice node ----

export interface SluiceNode {
  httpUrl: string;
  natsUrl: string;
  pid: number;
  /** The node's nats-server child (0 when not found). */
  natsPid: number;
  /** Graceful stop: SIGTERM (the node seals, acks and stops its nats-server), SIGKILL after 90 s. */
  stop(): Promise<void>;
}

export interface SluiceNodeOptions {
  dataDir: string;
  shards: number;
  /** File the node's stdout and stderr are appended to; absent: its stderr is this process's, its stdout (read for the ready line) is dropped. */
  logPath?: string;
  children: Children;
  /** A command the node runs under, e.g. ["nice", "-n", "10"]. */
  wrap?: readonly string[];
  /** Options of Bun itself, before the script (e.g. the CPU profiler's). */
  runtimeArgs?: readonly string[];
  /** More options of src/main.ts, after the data dir, ports and shards. */
  extraArgs?: readonly string[];
  /** Longest wait for the ready line, ms (default 120 s). */
  readyTimeoutMs?: number;
}

/** Starts `bun src/main.ts` on free ports and waits for its ready line. */
export async function startSluiceNode(options: SluiceNodeOptions): Promise<SluiceNode> {
  const log = options.logPath === undefined ? undefined : createWriteStream(options.logPath, { flags: "a" });
  const readyTimeoutMs = options.readyTimeoutMs ?? 120_000;
  const seeLog = options.logPath === undefined ? "see its stderr above" : `see ${options.logPath}`;
  const command = [
    ...(options.wrap ?? []),
    process.execPath,
    ...(options.runtimeArgs ?? []),
    join(ROOT, "src/main.ts"),
    "--data-dir",
    options.dataDir,
    "--http-port",
    "0",
    "--nats-port",
    "0",
    "--shards",
    String(options.shards),
    ...(options.extraArgs ?? []),
  ];
  const child = options.children.add(Bun.spawn(command, { stdout: "pipe", stderr: log ? "pipe" : "inherit" }));
  // Piped streams are read to the end, so a chatty node never blocks on a full pipe.
  const pump = async (stream: ReadableStream<Uint8Array>, onText?: (text: string) => void) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      log?.write(chunk);
      onText?.(decoder.decode(chunk, { stream: true }));
    }
  };
  let stdout = "";
  const ready = new Promise<{ http_url: string; nats_url: string; pid: number }>((resolveReady, reject) => {
    const onText = (text: string) => {
      stdout += text;
      const line = stdout.split("\n").find((candidate) => candidate.startsWith('{"event":"ready"'));
      if (line) resolveReady(JSON.parse(line));
    };
    pump(child.stdout as ReadableStream<Uint8Array>, onText).catch(reject);
    if (log) pump(child.stderr as ReadableStream<Uint8Array>).catch(reject);
    void child.exited.then((code) => reject(new Error(`the node exited with code ${code} before it was ready; ${seeLog}`)));
    setTimeout(() => reject(new Error(`the node was not ready within ${readyTimeoutMs / 1000} s; ${seeLog}`)), readyTimeoutMs).unref();
  });
  const info = await ready;
  const natsPid = portsFilePid(join(options.dataDir, "nats"));
  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 90_000);
      await child.exited;
      clearTimeout(timer);
      log?.end();
    })());
  options.children.onCleanup(stop);
  return { httpUrl: info.http_url, natsUrl: info.nats_url, pid: info.pid, natsPid, stop };
}

// ---- publishing ----

/** Pause before a lane resends a batch the full WAL refused. */
const WAL_FULL_RETRY_MS = 10;

export interface PublishCounters {
  ackedEvents: number;
  refusedPublishes: number;
  failedPublishes: number;
}

/**
 * Publishes one WAL batch the way a well-behaved producer does: waits while the node
 * asks producers to pause (before every attempt, when given a gate), and resends after
 * a short pause when the full WAL refuses it. Gives up (counting a failure) on any
 * other error, or on a refusal at or past `opts.retryUntil` (Date.now(); default: never).
 * `opts.onAck` gets the ack's latency, ms, from the send of the attempt that was acked.
 */
export async function publishBatch(js: JetStreamClient, gate: FlowGate | undefined, subject: string, payload: Uint8Array, events: number, counters: PublishCounters, opts: { onAck?: (ms: number) => void; retryUntil?: number } = {}): Promise<void> {
  for (;;) {
    if (gate && !gate.isOpen) await gate.wait();
    const sentAt = performance.now();
    try {
      await js.publish(subject, payload, { timeout: 30_000 });
      opts.onAck?.(performance.now() - sentAt);
      counters.ackedEvents += events;
      return;
    } catch (error) {
      if (!/maximum bytes|resources|limit/i.test(String(error)) || (opts.retryUntil !== undefined && Date.now() >= opts.retryUntil)) {
        counters.failedPublishes++;
        console.error(`publish failed: ${error}`);
        return;
      }
      counters.refusedPublishes++;
      await Bun.sleep(WAL_FULL_RETRY_MS);
    }
  }
}

/** Longest wait for a node's answer to getJson (a count or health request), ms. */
const GET_JSON_TIMEOUT_MS = 60_000;

/** `GET` a JSON API path of a node; throws on a non-2xx answer with its body. */
export async function getJson(baseUrl: string, path: string): Promise<Record<string, any>> {
  const response = await fetch(`${baseUrl}${path}`, { signal: AbortSignal.timeout(GET_JSON_TIMEOUT_MS) });
  const text = await response.text();
  if (!response.ok) throw new Error(`GET ${path}: ${response.status} ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

/** Sum of the counts of an aggregate answer's `buckets` (the API answers them always). */
export function bucketTotal(buckets: readonly { count: number }[]): number {
  return buckets.reduce((sum, bucket) => sum + bucket.count, 0);
}
