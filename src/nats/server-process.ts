// Runs a nats-server child with JetStream in the data directory, for a single node
// and for tests. The child is wrapped by a tiny shell that watches our stdin pipe:
// when this process dies in any way (kill -9 included) the pipe closes and the
// wrapper stops nats-server with SIGTERM, so no orphan outlives us.

import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** How long nats-server may take to write its ports file after start. */
export const NATS_START_TIMEOUT_MS = 20_000;
/** How long a graceful nats-server stop may take before SIGKILL. */
export const NATS_STOP_TIMEOUT_MS = 15_000;
/** Largest message the spawned server accepts: a WAL batch limit plus headers. */
export const NATS_MAX_PAYLOAD_BYTES = 8 * 1024 * 1024;
/**
 * Unread bytes before the server cuts a client off as a slow consumer: a node reads all
 * its shards on one connection, so it gets room beyond the 64 MiB default.
 */
const NATS_MAX_PENDING_BYTES = 256 * 1024 * 1024;

export interface NatsServerOptions {
  /** Directory for the JetStream store, the config and the ports file. */
  directory: string;
  /** Client port; 0 picks a free one. */
  port: number;
  /** Monitoring (HTTP) port; 0 picks a free one, -1 disables it. */
  monitorPort?: number;
  host?: string;
  /** Extra config text appended verbatim (cluster blocks, for tests and scripts). */
  extraConfig?: string;
  serverName?: string;
  log?: (line: string) => void;
}

export interface NatsServerVersion {
  text: string;
  major: number;
  minor: number;
  patch: number;
}

export class NatsServerError extends Error {
  constructor(
    readonly code: "not_installed" | "start_failed" | "start_timeout",
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export const NATS_INSTALL_HINT = "install it with `apt-get install nats-server` (Debian/Ubuntu), or point Sluice at a running server with SLUICE_NATS_URL";

export function natsServerVersion(): NatsServerVersion {
  let output: string;
  try {
    const result = Bun.spawnSync(["nats-server", "--version"], { stdout: "pipe", stderr: "pipe" });
    output = result.stdout.toString() + result.stderr.toString();
  } catch (error) {
    throw new NatsServerError("not_installed", `nats-server is not installed: ${NATS_INSTALL_HINT}`, { cause: error });
  }
  return parseNatsVersion(output);
}

/** Parses "nats-server: v2.9.10" or a server INFO version "2.10.23". */
export function parseNatsVersion(text: string): NatsServerVersion {
  const match = /v?(\d+)\.(\d+)\.(\d+)/.exec(text);
  if (!match) return { text: text.trim(), major: 0, minor: 0, patch: 0 };
  return { text: `${match[1]}.${match[2]}.${match[3]}`, major: Number(match[1]), minor: Number(match[2]), patch: Number(match[3]) };
}

export function versionAtLeast(version: NatsServerVersion, major: number, minor: number, patch: number): boolean {
  if (version.major !== major) return version.major > major;
  if (version.minor !== minor) return version.minor > minor;
  return version.patch >= patch;
}

/** Builds the server config. sync_interval exists from 2.10 on; 2.9 rejects it. */
export function natsConfigText(options: NatsServerOptions, version: NatsServerVersion): string {
  const host = options.host ?? "127.0.0.1";
  const storeDir = join(options.directory, "jetstream");
  const lines = [
    `server_name: ${JSON.stringify(options.serverName ?? "sluice-local")}`,
    `listen: "${host}:${options.port === 0 ? -1 : options.port}"`,
    `max_payload: ${NATS_MAX_PAYLOAD_BYTES}`,
    `max_pending: ${NATS_MAX_PENDING_BYTES}`,
    `write_deadline: "10s"`,
  ];
  const monitorPort = options.monitorPort ?? 0;
  if (monitorPort >= 0) lines.push(`http: "${host}:${monitorPort === 0 ? -1 : monitorPort}"`);
  const jetstream = [`store_dir: ${JSON.stringify(storeDir)}`, `max_memory_store: 268435456`];
  if (versionAtLeast(version, 2, 10, 0)) jetstream.push(`sync_interval: always`);
  lines.push(`jetstream {\n  ${jetstream.join("\n  ")}\n}`);
  if (options.extraConfig) lines.push(options.extraConfig);
  return lines.join("\n") + "\n";
}

export interface RunningNatsServer {
  url: string;
  monitorUrl?: string;
  pid: number;
  version: NatsServerVersion;
  /** Graceful stop: SIGTERM through the wrapper, SIGKILL after NATS_STOP_TIMEOUT_MS. */
  stop(): Promise<void>;
  /** SIGKILL to nats-server itself (fault tests). */
  kill(): Promise<void>;
  exited: Promise<number>;
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    // ESRCH: no such process.
    return false;
  }
}

/**
 * The name nats-server gives its ports file in --ports_file_dir: `nats-server_<pid>.ports`.
 * The pid has no leading zero, so portsFileName(pid) names exactly the file matched.
 */
const PORTS_FILE_NAME = /^nats-server_([1-9]\d*)\.ports$/;

/** Pid of the nats-server whose ports file is in `directory` (the first one listed); 0 when there is none or no directory. */
export function portsFilePid(directory: string): number {
  if (!existsSync(directory)) return 0;
  for (const name of readdirSync(directory)) {
    const match = PORTS_FILE_NAME.exec(name);
    if (match) return Number(match[1]);
  }
  return 0;
}

const portsFileName = (pid: number) => `nats-server_${pid}.ports`;

async function waitFor(condition: () => boolean, timeoutMs: number, stepMs = 25): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (condition()) return true;
    await Bun.sleep(stepMs);
  }
  return condition();
}

/** A nats-server left by a node that died must be gone before another opens the same store. */
async function reapStaleServers(directory: string, log: (line: string) => void): Promise<void> {
  // Each file handled is removed, so the next call finds the next one.
  for (let pid = portsFilePid(directory); pid > 0; pid = portsFilePid(directory)) {
    if (pidAlive(pid)) {
      log(`waiting for nats-server ${pid} left by a previous run to exit`);
      if (!(await waitFor(() => !pidAlive(pid), NATS_STOP_TIMEOUT_MS))) {
        log(`nats-server ${pid} did not exit; killing it`);
        process.kill(pid, "SIGKILL");
        await waitFor(() => !pidAlive(pid), 5_000);
      }
    }
    rmSync(join(directory, portsFileName(pid)), { force: true });
  }
}

const WRAPPER_SCRIPT = [
  "exec 3<&0",
  // GNU nice runs the command anyway (with a warning) when it may not lower niceness.
  'nice -n -5 nats-server "$@" </dev/null 2>/dev/null &',
  "pid=$!",
  // The watcher returns when the parent's end of our stdin closes: exit, crash or kill -9.
  "cat <&3 >/dev/null &",
  "watcher=$!",
  'wait -n "$pid" "$watcher"',
  'kill -TERM "$pid" "$watcher" 2>/dev/null',
  'wait "$pid"',
].join("\n");

export async function startNatsServer(options: NatsServerOptions): Promise<RunningNatsServer> {
  const log = options.log ?? ((line) => console.error(line));
  const version = natsServerVersion();
  mkdirSync(options.directory, { recursive: true });
  await reapStaleServers(options.directory, log);
  const configPath = join(options.directory, "nats.conf");
  writeFileSync(configPath, natsConfigText(options, version));
  const logPath = join(options.directory, "nats-server.log");
  // setsid: a terminal's Ctrl-C goes to our process group; nats-server must stay up
  // until the node has sealed and acked, and then stop when the node tells it to.
  // nice: the WAL ack is the latency-critical path; on a small machine shared with
  // DuckDB and the node's event loop, nats-server gets the CPU first (negative values
  // need root; otherwise it runs at normal priority).
  const wrapper = Bun.spawn(["setsid", "bash", "-c", WRAPPER_SCRIPT, "nats-wrapper", "-c", configPath, "--ports_file_dir", options.directory, "-l", logPath], {
    // The node's environment as it is now (GOMEMLIMIT, say: see the README), not as the process started.
    env: { ...process.env },
    stdin: "pipe",
    stdout: "ignore",
    stderr: "pipe",
  });
  const exited = wrapper.exited;
  let pid = 0;
  const started = await waitFor(() => {
    pid = portsFilePid(options.directory);
    return pid > 0 || wrapper.exitCode !== null;
  }, NATS_START_TIMEOUT_MS);
  if (pid === 0) {
    wrapper.stdin.end();
    const logTail = existsSync(logPath) ? readFileSync(logPath, "utf8").split("\n").slice(-10).join("\n") : "";
    throw new NatsServerError(started ? "start_failed" : "start_timeout", `nats-server did not start (config ${configPath}):\n${logTail}`);
  }
  const portsFile = portsFileName(pid);
  // The ports file can be created before it is written; wait until it parses.
  let ports: { nats?: string[]; monitoring?: string[] } = {};
  await waitFor(() => {
    try {
      ports = JSON.parse(readFileSync(join(options.directory, portsFile), "utf8"));
      return Array.isArray(ports.nats) && ports.nats.length > 0;
    } catch {
      // Not fully written yet.
      return false;
    }
  }, NATS_START_TIMEOUT_MS);
  const url = ports.nats![0];
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      try {
        wrapper.stdin.end();
      } catch {
        // Already closed: the wrapper is on its way out.
      }
      const timer = setTimeout(() => {
        if (pidAlive(pid)) process.kill(pid, "SIGKILL");
      }, NATS_STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
      await waitFor(() => !pidAlive(pid), NATS_STOP_TIMEOUT_MS);
    })());
  return {
    url,
    monitorUrl: ports.monitoring?.[0],
    pid,
    version,
    stop,
    exited,
    kill: async () => {
      if (pidAlive(pid)) process.kill(pid, "SIGKILL");
      await exited;
    },
  };
}
