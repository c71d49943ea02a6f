// The state file of a detached local cluster (`cluster up`): what `down` and `status`
// need to find its processes again from another process. Versioned JSON, written
// through a temporary file and a rename so a reader never sees half of it.

import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { LocalCluster } from "./local-cluster.ts";
import { NODE_ENTRY } from "./sluice-nodes.ts";
import { processMatches } from "./processes.ts";

/** Bumped when a field changes meaning; older files are refused rather than misread. */
const CLUSTER_STATE_VERSION = 1;
/** Name of the state file in the cluster directory. */
const CLUSTER_STATE_FILE = "cluster.json";

export interface NodeState {
  id: string;
  pid: number;
  http_url: string;
  /** Its own server. */
  nats_url: string;
  nats_urls: string[];
  data_dir: string;
  log: string;
}

export interface NatsState {
  name: string;
  pid: number;
  url: string;
  route_url: string;
  monitor_url: string;
  directory: string;
  config: string;
  log: string;
}

export interface ClusterState {
  version: number;
  /** RFC 3339. */
  started_at: string;
  dir: string;
  nodes: NodeState[];
  nats: NatsState[];
}

export function statePath(dir: string): string {
  return join(dir, CLUSTER_STATE_FILE);
}

export function stateOf(cluster: LocalCluster, startedAt: Date): ClusterState {
  return {
    version: CLUSTER_STATE_VERSION,
    started_at: startedAt.toISOString(),
    dir: cluster.baseDir,
    nodes: cluster.nodes.map((node) => ({ id: node.id, pid: node.pid, http_url: node.httpUrl, nats_url: node.natsUrl, nats_urls: [...node.natsUrls], data_dir: node.dataDir, log: node.logPath })),
    nats: cluster.nats.map((server) => ({ name: server.name, pid: server.pid, url: server.url, route_url: server.routeUrl, monitor_url: server.monitorUrl, directory: server.directory, config: server.configPath, log: server.logPath })),
  };
}

export function writeState(dir: string, state: ClusterState): void {
  const path = statePath(dir);
  writeFileSync(`${path}.tmp`, JSON.stringify(state, null, 2) + "\n");
  renameSync(`${path}.tmp`, path);
}

class StateFileError extends Error {
  readonly code = "bad_state_file";
}

/** The state in `dir`, or null when there is none. */
export function readState(dir: string): ClusterState | null {
  const path = statePath(dir);
  if (!existsSync(path)) return null;
  let state: ClusterState;
  try {
    state = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new StateFileError(`${path} is not valid JSON; remove it if no cluster runs from it`, { cause: error });
  }
  if (state.version !== CLUSTER_STATE_VERSION || !Array.isArray(state.nodes) || !Array.isArray(state.nats)) {
    throw new StateFileError(`${path} has version ${JSON.stringify(state.version)}, this script reads ${CLUSTER_STATE_VERSION}; stop its processes by hand and remove it`);
  }
  return state;
}

export function removeState(dir: string): void {
  rmSync(statePath(dir), { force: true });
}

/** A node's process is this node only if its command line names our entry point and its data directory. */
export function nodeAlive(node: NodeState): boolean {
  return processMatches(node.pid, [NODE_ENTRY, node.data_dir]);
}

/** ... and a server's, nats-server with its config file. */
export function natsAlive(server: NatsState): boolean {
  return processMatches(server.pid, ["nats-server", server.config]);
}
