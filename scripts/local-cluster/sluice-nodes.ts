// The Sluice side of a local cluster: each node's directory, flags and log, and the
// wait until its HTTP API says it is ready (GET /readyz, see src/http/routes.ts).

import { join, resolve } from "node:path";
import { LOOPBACK_HOST, type ServerPorts } from "./ports.ts";
import { ClusterError, fetchJson, logTail, processAlive, spawnLogged, waitUntil, type LoggedChild } from "./processes.ts";
import type { NatsServerSpec } from "./nats-cluster.ts";

/** Repository root: the nodes run its src/main.ts. */
const REPO_ROOT = resolve(import.meta.dir, "../..");
/** A node's entry point; also how its process is recognized in /proc. */
export const NODE_ENTRY = join(REPO_ROOT, "src", "main.ts");
/** The node's readiness route: 200 once NATS is connected and every actor runs. */
const READY_PATH = "/readyz";
/** JetStream replicas of the WAL: three where there are three servers to hold them. */
const WAL_REPLICAS_MAX = 3;
/** A node waits up to 30 s for JetStream (servers electing leaders), opens DuckDB, then takes its shards (up to 15 s), ms. */
const NODE_READY_TIMEOUT_MS = 90_000;
/** One readiness probe, ms. */
const READY_REQUEST_TIMEOUT_MS = 2_000;

export interface SluiceNodeSpec {
  /** node-1 .. node-N: the --node-id. */
  id: string;
  /** baseDir/node-N: its --data-dir. */
  dataDir: string;
  logPath: string;
  httpUrl: string;
  /** Its own server's URL (the first of natsUrls). */
  natsUrl: string;
  /** Its own server first, then the others: the --nats-url list. */
  natsUrls: string[];
  argv: string[];
}

export interface SluiceNodeFlags {
  shards?: number;
  /** Appended to every node's flags (a later flag wins in main.ts). */
  extraNodeFlags?: readonly string[];
  /** Bun binary; default the one running us. */
  bunPath?: string;
}

export function sluiceNodeSpec(baseDir: string, index: number, ports: ServerPorts, servers: readonly NatsServerSpec[], flags: SluiceNodeFlags): SluiceNodeSpec {
  const id = `node-${index + 1}`;
  const dataDir = join(baseDir, id);
  const own = servers[index % servers.length];
  // Its own server first: the client connects there first and reconnects to the others.
  const natsUrls = [own.url, ...servers.filter((server) => server !== own).map((server) => server.url)];
  const httpUrl = `http://${LOOPBACK_HOST}:${ports.http}`;
  const argv = [
    flags.bunPath ?? process.execPath,
    NODE_ENTRY,
    "--node-id", id,
    "--nats-url", natsUrls.join(","),
    "--wal-replicas", String(Math.min(WAL_REPLICAS_MAX, servers.length)),
    "--segment-store", "objectstore",
    "--http-host", LOOPBACK_HOST,
    "--http-port", String(ports.http),
    "--data-dir", dataDir,
    ...(flags.shards === undefined ? [] : ["--shards", String(flags.shards)]),
    ...(flags.extraNodeFlags ?? []),
  ];
  return { id, dataDir, logPath: join(baseDir, `${id}.log`), httpUrl, natsUrl: own.url, natsUrls, argv };
}

export function spawnSluiceNode(spec: SluiceNodeSpec, detached: boolean, env?: Record<string, string | undefined>): LoggedChild {
  return spawnLogged({ argv: spec.argv, logPath: spec.logPath, detached, env, cwd: REPO_ROOT });
}

/** Whether the node answers its readiness route with 200. */
export async function nodeReady(httpUrl: string): Promise<boolean> {
  const answer = await fetchJson(`${httpUrl}${READY_PATH}`, READY_REQUEST_TIMEOUT_MS);
  return answer?.status === 200;
}

/** Waits until the node is ready; fails fast with its log when it exits first, and on abort. */
export async function waitForNodeReady(spec: SluiceNodeSpec, pid: number, abort?: AbortSignal): Promise<void> {
  let exited = false;
  const ready = await waitUntil(
    async () => {
      exited = !processAlive(pid);
      return exited || (await nodeReady(spec.httpUrl));
    },
    NODE_READY_TIMEOUT_MS,
    abort,
  );
  if (abort?.aborted) throw new ClusterError("aborted", `startup aborted while waiting for ${spec.id}`);
  if (exited) throw new ClusterError("start_failed", `${spec.id} exited during startup; its log (${spec.logPath}):\n${logTail(spec.logPath)}`);
  if (!ready) throw new ClusterError("start_timeout", `${spec.id} was not ready at ${spec.httpUrl}${READY_PATH} within ${NODE_READY_TIMEOUT_MS} ms; its log (${spec.logPath}):\n${logTail(spec.logPath)}`);
}
