// The benchmarks' child processes: every child ended on exit, signals and errors
// (Children); servers with their output in a log file (ClickHouse, PostgreSQL); and a
// Sluice node (with its own nats-server child) on free ports.

import { createWriteStream, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { portsFilePid } from "../../src/nats/server-process.ts";

const ROOT = resolve(import.meta.dir, "../..");

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
