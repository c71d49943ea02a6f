// Real processes for tests: a nats-server per suite and Sluice nodes as child
// processes, on free ports, in temporary directories, all stopped on teardown and on
// test-runner exit so a failing test leaks nothing.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pidAlive, portsFilePid, startNatsServer, type RunningNatsServer } from "../../src/nats/server-process.ts";

export const ROOT = resolve(import.meta.dir, "../..");
const live = new Set<{ kill(): void }>();
const directories = new Set<string>();
/** Kills every child still running and removes every temporary directory (the preload runs it after all tests). */
export function cleanupTestResources(): void {
  for (const child of live) child.kill();
  // Children were just killed; their data directories go with them.
  for (const path of directories) rmSync(path, { recursive: true, force: true });
  directories.clear();
}
process.on("exit", cleanupTestResources);

/** A temporary directory removed when the test process exits (or earlier with remove()). */
export function tempDir(prefix: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), `sluice-${prefix}-`));
  directories.add(path);
  return {
    path,
    remove: () => {
      rmSync(path, { recursive: true, force: true });
      directories.delete(path);
    },
  };
}

export interface TestNats extends RunningNatsServer {
  directory: string;
  port: number;
  /** Starts a new server on the same port and store (after stop or kill). */
  restart(): Promise<TestNats>;
}

export async function startTestNats(directory = tempDir("nats").path, port = 0): Promise<TestNats> {
  const server = await startNatsServer({ directory, port, monitorPort: -1, log: () => undefined });
  const handle = { kill: () => void server.kill() };
  live.add(handle);
  const actualPort = Number(new URL(server.url).port);
  return {
    ...server,
    directory,
    port: actualPort,
    stop: async () => {
      await server.stop();
      live.delete(handle);
    },
    kill: async () => {
      await server.kill();
      await server.stop();
      live.delete(handle);
    },
    restart: () => startTestNats(directory, actualPort),
  };
}

export interface TestNode {
  httpUrl: string;
  natsUrl: string;
  pid: number;
  dataDir: string;
  output: () => string;
  /** SIGTERM and wait for exit. */
  stop(): Promise<number>;
  /** SIGKILL and wait for exit. */
  kill9(): Promise<void>;
  exited: Promise<number>;
}

export interface TestNodeOptions {
  dataDir?: string;
  natsUrl?: string;
  shards?: number;
  extraArgs?: string[];
  env?: Record<string, string>;
}

/** Starts `bun src/main.ts` and resolves once it printed its ready line. */
export async function startTestNode(options: TestNodeOptions = {}): Promise<TestNode> {
  const dataDir = options.dataDir ?? tempDir("node").path;
  const args = [process.execPath, join(ROOT, "src/main.ts"), "--data-dir", dataDir, "--http-port", "0", "--nats-port", "0", "--shards", String(options.shards ?? 4), ...(options.natsUrl ? ["--nats-url", options.natsUrl] : []), ...(options.extraArgs ?? [])];
  const child = Bun.spawn(args, { stdout: "pipe", stderr: "pipe", env: { ...process.env, ...options.env } });
  const handle = { kill: () => child.kill("SIGKILL") };
  live.add(handle);
  let output = "";
  const decoder = new TextDecoder();
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) output += decoder.decode(chunk);
  };
  void pump(child.stderr);
  const ready = new Promise<{ http_url: string; nats_url: string; pid: number }>((resolveReady, reject) => {
    void (async () => {
      let buffer = "";
      for await (const chunk of child.stdout) {
        const text = decoder.decode(chunk);
        output += text;
        buffer += text;
        const line = buffer.split("\n").find((candidate) => candidate.startsWith('{"event":"ready"'));
        if (line) {
          resolveReady(JSON.parse(line));
          continue;
        }
      }
      reject(new Error(`node exited before it was ready:\n${output}`));
    })();
  });
  const timeout = setTimeout(() => child.kill("SIGKILL"), 60_000);
  const info = await ready.finally(() => clearTimeout(timeout));
  const exited = child.exited.then((code) => {
    live.delete(handle);
    return code;
  });
  return {
    httpUrl: info.http_url,
    natsUrl: info.nats_url,
    pid: info.pid,
    dataDir,
    output: () => output,
    exited,
    stop: async () => {
      child.kill("SIGTERM");
      return exited;
    },
    kill9: async () => {
      child.kill("SIGKILL");
      await exited;
    },
  };
}

export async function getJson(url: string, init?: RequestInit): Promise<{ status: number; body: any; headers: Headers }> {
  const response = await fetch(url, init);
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON: the test sees the text.
  }
  return { status: response.status, body, headers: response.headers };
}

/** Exact number of events of a tenant-visible filter, through the aggregate API. */
export async function countEvents(httpUrl: string, query = "", headers: Record<string, string> = {}): Promise<number> {
  const { status, body } = await getJson(`${httpUrl}/api/v1/logs/aggregate?group_by=level${query ? `&${query}` : ""}`, { headers });
  if (status !== 200) throw new Error(`aggregate answered ${status}: ${JSON.stringify(body)}`);
  if (body.partial) throw new Error(`aggregate was partial: ${JSON.stringify(body.missing_shards)}`);
  return Object.values(body.aggregations as Record<string, number>).reduce((sum, count) => sum + count, 0);
}

/** Whether a process exists (the same check the node uses for stale nats-servers). */
export const isAlive = pidAlive;

/** Pid of the nats-server child a node started in its data directory (from its ports file). */
export function natsPidOf(dataDir: string): number {
  return portsFilePid(join(dataDir, "nats"));
}
