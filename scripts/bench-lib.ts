// Helpers shared by the benchmarks in scripts/: latency histograms, process figures
// from /proc, a Sluice node as a child process (with its own nats-server child), other
// servers as children with their output in a log file (ClickHouse, PostgreSQL), WAL
// publishing that honours the node's flow signal and a full WAL, and cleanup of every
// child on exit, signals and errors. bench-ingest.ts, bench-query.ts and bench-compare
// import from here; bench-ingest.ts runs on import, so nothing imports it. Nothing here
// runs on import.

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

/** Latency percentiles and maximum, ms, and how many values they are of. */
export interface Percentiles {
  p50: number;
  p99: number;
  p999: number;
  max: number;
  count: number;
}

/** Percentiles of a histogram of microseconds, in milliseconds. */
export function percentiles(h: Histogram): Percentiles {
  const ms = (us: number) => Math.round(us / 10) / 100;
  return { p50: ms(h.getValueAtPercentile(50)), p99: ms(h.getValueAtPercentile(99)), p999: ms(h.getValueAtPercentile(99.9)), max: ms(h.maxValue), count: h.totalCount };
}

/** Records milliseconds (from performance.now() differences) into a histogram of microseconds. */
export function recordMs(h: Histogram, ms: number): void {
  h.recordValue(Math.max(1, Math.round(ms * 1000)));
}

// ---- processes ----

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

/** Stops a child once (later calls share the first stop): `signal`, SIGKILL if it has not exited within `killAfterMs`, then `after`. */
function stopOnce(child: Subprocess, defaultSignal: NodeJS.Signals, killAfterMs: number, after: () => void): (signal?: NodeJS.Signals) => Promise<void> {
  let stopped: Promise<void> | undefined;
  return (signal = defaultSignal) =>
    (stopped ??= (async () => {
      child.kill(signal);
      const timer = setTimeout(() => child.kill("SIGKILL"), killAfterMs);
      await child.exited;
      clearTimeout(timer);
      after();
    })());
}

// ---- other servers (ClickHouse, PostgreSQL) ----

/** Pause between two readiness checks of a starting server. */
const SERVER_READY_POLL_MS = 100;

/** A server started by startServerChild. */
export interface ServerChild {
  pid: number;
  /** Its stop signal (or `signal`: SIGKILL when its data is deleted next anyway), SIGKILL after its stop timeout; runs once, and on cleanup. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export interface ServerChildOptions {
  /** Names the server in errors. */
  name: string;
  command: readonly string[];
  cwd?: string;
  /** File its stdout and stderr are appended to. */
  logPath: string;
  /** Where to look when it does not start (default: logPath; a server may keep its own log). */
  seeLog?: string;
  children: Children;
  /** Resolves once the server serves; throws, saying why, while it does not yet. */
  ready: () => Promise<void>;
  readyTimeoutMs: number;
  /** Its graceful stop (SIGTERM, or PostgreSQL's fast shutdown SIGINT). */
  stopSignal: NodeJS.Signals;
  /** Longest wait for the graceful stop before SIGKILL. */
  stopTimeoutMs: number;
}

/** Starts a server child with its output appended to a log file, registers its stop with `children`, and waits until `ready` passes. */
export async function startServerChild(options: ServerChildOptions): Promise<ServerChild> {
  const log = createWriteStream(options.logPath, { flags: "a" });
  const child = options.children.add(Bun.spawn([...options.command], { cwd: options.cwd, stdout: "pipe", stderr: "pipe" }));
  for (const stream of [child.stdout, child.stderr] as ReadableStream<Uint8Array>[]) {
    void (async () => {
      for await (const chunk of stream) log.write(chunk);
    })().catch((error) => console.error(`${options.name} log: ${error}`));
  }
  const stop = stopOnce(child, options.stopSignal, options.stopTimeoutMs, () => log.end());
  options.children.onCleanup(() => stop());
  const seeLog = options.seeLog ?? options.logPath;
  const deadline = Date.now() + options.readyTimeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${options.name} exited with code ${child.exitCode}; see ${seeLog}`);
    try {
      await options.ready();
      return { pid: child.pid, stop };
    } catch (error) {
      // Not serving yet (nothing listening, or still starting up).
      if (Date.now() > deadline) throw new Error(`${options.name} did not answer within ${options.readyTimeoutMs / 1000} s: ${error}; see ${seeLog}`);
      await Bun.sleep(SERVER_READY_POLL_MS);
    }
  }
}

/** The statements of a schema file (separated by a line holding only ";"), comment lines removed. */
export function sqlFileStatements(path: string): string[] {
  return readFileSync(path, "utf8")
    .split(/\n;\n/)
    .map((statement) => statement.split("\n").filter((line) => !line.trimStart().startsWith("--")).join("\n").trim())
    .filter((statement) => statement !== "");
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
  const stop = stopOnce(child, "SIGTERM", 90_000, () => log?.end());
  options.children.onCleanup(() => stop());
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

/** `GET` a JSON API path of a node (as `apiKey`'s tenant, when given); throws on a non-2xx answer with its body. */
export async function getJson(baseUrl: string, path: string, apiKey?: string): Promise<Record<string, any>> {
  const headers = apiKey === undefined ? undefined : { authorization: `Bearer ${apiKey}` };
  const response = await fetch(`${baseUrl}${path}`, { headers, signal: AbortSignal.timeout(GET_JSON_TIMEOUT_MS) });
  const text = await response.text();
  if (!response.ok) throw new Error(`GET ${path}: ${response.status} ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

/** Sum of the counts of an aggregate answer's `buckets` (the API answers them always). */
export function bucketTotal(buckets: readonly { count: number }[]): number {
  return buckets.reduce((sum, bucket) => sum + bucket.count, 0);
}
