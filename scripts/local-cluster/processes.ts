// Child processes of a local cluster: spawned with their output in a log file, either
// tied to the caller or detached (their own session, so `cluster up` can exit while
// they run on), and stopped with SIGTERM, a bounded wait, then SIGKILL. Liveness
// comes from /proc where it exists, because a killed child whose parent is gone may
// stay a zombie (which kill(pid, 0) still reports as alive).

import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from "node:fs";
import { dirname } from "node:path";
import { pidAlive } from "../../src/nats/server-process.ts";

/** How often a wait re-checks its condition, ms: short enough for snappy tests, long enough to stay idle. */
const POLL_INTERVAL_MS = 50;
/** After SIGKILL a process is gone within milliseconds; past this something is badly wrong, ms. */
const KILL_EXIT_TIMEOUT_MS = 5_000;
/** Lines of a log shown when a process fails to start. */
const LOG_TAIL_LINES = 20;

export class ClusterError extends Error {
  constructor(
    readonly code: "port_taken" | "start_failed" | "start_timeout" | "stop_timeout" | "aborted" | "bad_options",
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface SpawnLoggedOptions {
  argv: string[];
  logPath: string;
  /** Whole environment of the child; undefined inherits ours. */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Own session and no tie to our event loop: the child outlives us. */
  detached: boolean;
}

export interface LoggedChild {
  pid: number;
  /** Resolves with the exit code (null after a signal) once the child is reaped; only while we are its parent. */
  exited: Promise<number | null>;
}

export function spawnLogged(options: SpawnLoggedOptions): LoggedChild {
  mkdirSync(dirname(options.logPath), { recursive: true });
  // Append: a restarted process keeps the story of its previous life in the same file.
  const fd = openSync(options.logPath, "a");
  try {
    const child = Bun.spawn(options.argv, {
      cwd: options.cwd,
      env: options.env,
      stdin: "ignore",
      stdout: fd,
      stderr: fd,
      detached: options.detached,
    });
    if (options.detached) child.unref();
    return { pid: child.pid, exited: child.exited.then(() => child.exitCode) };
  } finally {
    // The child holds its own copy of the descriptor.
    closeSync(fd);
  }
}

/** Alive and not a zombie. Without /proc (macOS) falls back to kill(pid, 0). */
export function processAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  if (!existsSync("/proc/self/stat")) return pidAlive(pid);
  try {
    // The state follows the parenthesized command name, which may itself hold spaces.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    // ENOENT: no such process.
    return false;
  }
}

/**
 * Whether `pid` is alive and its command line holds every marker: a pid from an old
 * state file may since belong to an unrelated process, which we must never signal.
 */
export function processMatches(pid: number, markers: readonly string[]): boolean {
  if (!processAlive(pid)) return false;
  if (!existsSync("/proc/self/cmdline")) return true;
  try {
    const commandLine = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
    return markers.every((marker) => commandLine.includes(marker));
  } catch {
    // It exited between the two reads.
    return false;
  }
}

export function sendSignal(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (error) {
    // ESRCH: it exited on its own in the meantime, which is what we wanted anyway.
    if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
  }
}

/** Polls `condition` until it holds; false when the deadline passes or `abort` fires first. */
export async function waitUntil(condition: () => boolean | Promise<boolean>, timeoutMs: number, abort?: AbortSignal): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (abort?.aborted) return false;
    if (await condition()) return true;
    await Bun.sleep(POLL_INTERVAL_MS);
  }
  return condition();
}

/** Whether the process is gone: reaped by us (exited resolved) or, for others' children, dead per /proc. */
async function waitGone(pid: number, timeoutMs: number, exited?: Promise<unknown>): Promise<boolean> {
  let reaped = exited === undefined;
  void exited?.then(() => (reaped = true));
  // Our own child must also be reaped: a zombie still holds the pid that a restart's lock check reads.
  return waitUntil(() => reaped && !processAlive(pid), timeoutMs);
}

/**
 * SIGCONT (a stopped process cannot act on SIGTERM), SIGTERM, up to `timeoutMs` for a
 * graceful exit, then SIGKILL. Rejects only if even SIGKILL does not end it.
 */
export async function stopProcess(pid: number, timeoutMs: number, exited?: Promise<unknown>): Promise<"exited" | "killed"> {
  if (!processAlive(pid)) {
    await waitGone(pid, KILL_EXIT_TIMEOUT_MS, exited);
    return "exited";
  }
  sendSignal(pid, "SIGCONT");
  return signalAndWait(pid, "SIGTERM", timeoutMs, exited);
}

/** Sends `signal` and waits for the exit; SIGKILL after `timeoutMs` if the signal did not end it. Rejects only if even SIGKILL does not. */
export async function signalAndWait(pid: number, signal: NodeJS.Signals, timeoutMs: number, exited?: Promise<unknown>): Promise<"exited" | "killed"> {
  sendSignal(pid, signal);
  if (await waitGone(pid, timeoutMs, exited)) return "exited";
  sendSignal(pid, "SIGKILL");
  if (await waitGone(pid, KILL_EXIT_TIMEOUT_MS, exited)) return "killed";
  throw new ClusterError("stop_timeout", `process ${pid} is still alive ${KILL_EXIT_TIMEOUT_MS} ms after ${signal} and SIGKILL`);
}

/** The last lines of a log, for error messages. */
export function logTail(path: string, lines = LOG_TAIL_LINES): string {
  try {
    return readFileSync(path, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

/** One GET with a timeout; null when nothing answers in time. */
export async function fetchJson(url: string, timeoutMs: number): Promise<{ status: number; body: unknown } | null> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    const text = await response.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // Not JSON: callers see the text.
    }
    return { status: response.status, body };
  } catch {
    // Connection refused, reset or timed out: the server is not (yet) answering.
    return null;
  }
}
