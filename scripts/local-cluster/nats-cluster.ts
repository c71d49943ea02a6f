// The NATS side of a local cluster: one config file per server (built with the
// single-node config of src/nats/server-process.ts plus a cluster block), one
// nats-server process per server, and the wait for JetStream's meta group to elect a
// leader, which streams with replicas need before they can be created.
//
// startNatsServer() of server-process.ts is not used for the processes: its wrapper
// stops the server when its parent exits, while `cluster up` must leave the servers
// running, and a cluster needs its ports known before any server starts (routes).

import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { natsConfigText, type NatsServerVersion } from "../../src/nats/server-process.ts";
import { LOOPBACK_HOST, type ServerPorts } from "./ports.ts";
import { ClusterError, fetchJson, logTail, processAlive, spawnLogged, waitUntil, type LoggedChild } from "./processes.ts";

/** The NATS cluster's name (every server's cluster block). */
const NATS_CLUSTER_NAME = "sluice";
/** How long a monitoring request may take before the server counts as not answering, ms. */
const MONITOR_REQUEST_TIMEOUT_MS = 2_000;
/** Servers start in well under a second; an election takes a few seconds at most, ms. */
const META_LEADER_TIMEOUT_MS = 30_000;
/**
 * A server restarted after kill -9 first recovers its store and then catches its meta
 * log up from the leader, under whatever load the cluster carries; on a loaded 2-core
 * machine that has taken longer than a fresh start's election, ms.
 */
export const RESTARTED_META_LEADER_TIMEOUT_MS = 90_000;

/** Where one server's files are and what it listens on. */
export interface NatsServerSpec {
  /** nats-1 .. nats-N: the server_name, and the JetStream peer name. */
  name: string;
  /** baseDir/nats-N: config and JetStream store. */
  directory: string;
  configPath: string;
  logPath: string;
  ports: ServerPorts;
  url: string;
  routeUrl: string;
  monitorUrl: string;
}

export function natsServerSpec(baseDir: string, index: number, ports: ServerPorts): NatsServerSpec {
  const name = `nats-${index + 1}`;
  const directory = join(baseDir, name);
  return {
    name,
    directory,
    configPath: join(directory, "nats.conf"),
    logPath: join(baseDir, `${name}.log`),
    ports,
    url: `nats://${LOOPBACK_HOST}:${ports.nats}`,
    routeUrl: `nats-route://${LOOPBACK_HOST}:${ports.route}`,
    monitorUrl: `http://${LOOPBACK_HOST}:${ports.monitor}`,
  };
}

/**
 * Cluster block routing to every other server. A single server gets none: alone it
 * runs JetStream standalone, where a cluster block would wait for peers.
 */
function clusterBlock(spec: NatsServerSpec, all: readonly NatsServerSpec[]): string {
  if (all.length < 2) return "";
  const routes = all.filter((other) => other.name !== spec.name).map((other) => `    ${JSON.stringify(other.routeUrl)}`);
  return [`cluster {`, `  name: ${JSON.stringify(NATS_CLUSTER_NAME)}`, `  listen: "${LOOPBACK_HOST}:${spec.ports.route}"`, `  routes: [`, ...routes, `  ]`, `}`].join("\n");
}

/** The whole config file; sync_interval: always is added by natsConfigText where the version has it (2.10+). */
function natsClusterConfigText(spec: NatsServerSpec, all: readonly NatsServerSpec[], version: NatsServerVersion): string {
  return natsConfigText({ directory: spec.directory, port: spec.ports.nats, monitorPort: spec.ports.monitor, host: LOOPBACK_HOST, serverName: spec.name, extraConfig: clusterBlock(spec, all) }, version);
}

export function writeNatsConfigs(specs: readonly NatsServerSpec[], version: NatsServerVersion): void {
  for (const spec of specs) {
    mkdirSync(spec.directory, { recursive: true });
    writeFileSync(spec.configPath, natsClusterConfigText(spec, specs, version));
  }
}

export function spawnNatsServer(spec: NatsServerSpec, detached: boolean, env?: Record<string, string | undefined>): LoggedChild {
  // Logs go to stderr, which spawnLogged sends to nats-N.log.
  return spawnLogged({ argv: ["nats-server", "-c", spec.configPath], logPath: spec.logPath, detached, env });
}

/** What /jsz says about the meta group, as far as we read it. */
interface JszMeta {
  config?: unknown;
  meta_cluster?: { leader?: string; cluster_size?: number; replicas?: { name: string; current?: boolean }[] };
}

/** What one look at a server's /jsz found: the leader it sees, or why none counts. */
interface MetaLook {
  leader: string | null;
  /** For a timeout's message: what the server answered. */
  seen: string;
}

async function lookAtMeta(spec: Pick<NatsServerSpec, "name" | "monitorUrl">, serverCount: number): Promise<MetaLook> {
  const answer = await fetchJson(`${spec.monitorUrl}/jsz`, MONITOR_REQUEST_TIMEOUT_MS);
  if (!answer) return { leader: null, seen: `no answer from ${spec.monitorUrl}/jsz within ${MONITOR_REQUEST_TIMEOUT_MS} ms` };
  if (answer.status !== 200 || typeof answer.body !== "object" || answer.body === null) return { leader: null, seen: `/jsz answered ${answer.status}` };
  const jsz = answer.body as JszMeta;
  if (serverCount === 1) return jsz.config ? { leader: spec.name, seen: "JetStream on" } : { leader: null, seen: "JetStream not on yet" };
  const meta = jsz.meta_cluster;
  const seen = `meta leader ${meta?.leader || "none"}, cluster_size ${meta?.cluster_size ?? "unknown"} of ${serverCount}, replicas ${JSON.stringify(meta?.replicas ?? [])}`;
  if (!meta?.leader) return { leader: null, seen };
  // cluster_size counts the peers the meta group knows; before every server joined, R3 streams cannot be placed.
  if ((meta.cluster_size ?? 0) < serverCount) return { leader: null, seen };
  return { leader: meta.leader, seen };
}

/**
 * Whether a server sees a JetStream meta leader with every server in the group (or,
 * for a single server, that JetStream is on). A server that restarts sees the leader
 * again once it rejoined.
 */
export async function metaLeaderSeen(spec: Pick<NatsServerSpec, "name" | "monitorUrl">, serverCount: number): Promise<string | null> {
  return (await lookAtMeta(spec, serverCount)).leader;
}

/**
 * Waits until each of `specs` sees the meta leader, failing fast when one of their
 * processes exits (with its log) and on abort. A timeout says what each server last
 * answered, with its log's tail: the test directories holding the logs are removed.
 */
export async function waitForMetaLeader(specs: readonly NatsServerSpec[], pids: readonly number[], serverCount: number, abort?: AbortSignal, timeoutMs = META_LEADER_TIMEOUT_MS): Promise<string> {
  let leader: string | null = null;
  let dead: NatsServerSpec | undefined;
  let looks: MetaLook[] = [];
  const settled = await waitUntil(
    async () => {
      dead = specs.find((_, index) => !processAlive(pids[index]));
      if (dead) return true;
      looks = await Promise.all(specs.map((spec) => lookAtMeta(spec, serverCount)));
      leader = looks.every((look) => look.leader !== null) ? looks[0].leader : null;
      return leader !== null;
    },
    timeoutMs,
    abort,
  );
  if (abort?.aborted) throw new ClusterError("aborted", "startup aborted while waiting for the JetStream meta leader");
  if (dead) throw new ClusterError("start_failed", `${dead.name} exited during startup (config ${dead.configPath}); its log:\n${logTail(dead.logPath)}`);
  if (!settled || leader === null) {
    const accounts = specs.map((spec, index) => `${spec.name}: ${looks[index]?.seen ?? "never asked"}; its log (${spec.logPath}) ends:\n${logTail(spec.logPath)}`);
    throw new ClusterError("start_timeout", `no JetStream meta leader seen by ${specs.map((spec) => spec.name).join(", ")} within ${timeoutMs} ms\n${accounts.join("\n")}`);
  }
  return leader;
}
