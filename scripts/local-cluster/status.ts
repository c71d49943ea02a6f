// `cluster status`: each process of the state file checked now (alive, ready), the
// JetStream meta leader each server sees, and, where a node answers GET
// /api/v1/cluster, the shards each node owns. Collecting is separate from printing so
// --json and the table show the same facts.

import { SluiceClient } from "../../src/cli/client.ts";
import { formatTable, type TableColumn } from "../../src/cli/format.ts";
import type { ClusterStatus } from "../../src/cluster/status-types.ts";
import { metaLeaderSeen } from "./nats-cluster.ts";
import { nodeReady } from "./sluice-nodes.ts";
import { natsAlive, nodeAlive, type ClusterState } from "./state-file.ts";

/** One cluster view request, ms: a status command should answer in a few seconds even when a node hangs. */
const CLUSTER_VIEW_TIMEOUT_MS = 3_000;

export interface NodeStatusRow {
  id: string;
  http_url: string;
  nats_url: string;
  pid: number;
  alive: boolean;
  ready: boolean;
  /** Shards whose lease it holds; null when no node answered the cluster view. */
  shards: number[] | null;
  data_dir: string;
  log: string;
}

export interface NatsStatusRow {
  name: string;
  url: string;
  pid: number;
  alive: boolean;
  monitor_url: string;
  /** The meta leader this server sees; null when it sees none or does not answer. */
  meta_leader: string | null;
  log: string;
}

export interface ClusterStatusReport {
  dir: string;
  started_at: string;
  nodes: NodeStatusRow[];
  nats: NatsStatusRow[];
  /** GET /api/v1/cluster of the first ready node that answers it; null when none does. */
  cluster: ClusterStatus | null;
}

/** logctl's client asks, and checks the answer's shape, so a node of another version is skipped rather than misread. */
async function clusterView(httpUrls: string[]): Promise<ClusterStatus | null> {
  for (const url of httpUrls) {
    const answer = await new SluiceClient({ url }, CLUSTER_VIEW_TIMEOUT_MS).cluster();
    if (answer.ok) return answer.value;
  }
  return null;
}

export async function collectStatus(state: ClusterState): Promise<ClusterStatusReport> {
  const nodeRows = await Promise.all(
    state.nodes.map(async (node) => {
      const alive = nodeAlive(node);
      return { id: node.id, http_url: node.http_url, nats_url: node.nats_url, pid: node.pid, alive, ready: alive && (await nodeReady(node.http_url)), shards: null as number[] | null, data_dir: node.data_dir, log: node.log };
    }),
  );
  const natsRows = await Promise.all(
    state.nats.map(async (server) => {
      const alive = natsAlive(server);
      const meta_leader = alive ? await metaLeaderSeen({ name: server.name, monitorUrl: server.monitor_url }, state.nats.length) : null;
      return { name: server.name, url: server.url, pid: server.pid, alive, monitor_url: server.monitor_url, meta_leader, log: server.log };
    }),
  );
  const cluster = await clusterView(nodeRows.filter((row) => row.ready).map((row) => row.http_url));
  if (cluster) {
    for (const row of nodeRows) row.shards = cluster.shards.filter((shard) => shard.owner === row.id).map((shard) => shard.shard);
  }
  return { dir: state.dir, started_at: state.started_at, nodes: nodeRows, nats: natsRows, cluster };
}

/** 0,1,2,5,7,8 -> "0-2,5,7-8". */
function shardRanges(shards: readonly number[]): string {
  if (shards.length === 0) return "none";
  const sorted = [...shards].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let start = 0; start < sorted.length; ) {
    let end = start;
    while (end + 1 < sorted.length && sorted[end + 1] === sorted[end] + 1) end++;
    parts.push(start === end ? String(sorted[start]) : `${sorted[start]}-${sorted[end]}`);
    start = end + 1;
  }
  return parts.join(",");
}

const columns = (...headers: string[]): TableColumn[] => headers.map((header) => ({ header }));
const NODE_COLUMNS = columns("NODE", "PID", "PROCESS", "READY", "HTTP", "NATS", "SHARDS");
const SERVER_COLUMNS = columns("SERVER", "PID", "PROCESS", "CLIENT", "MONITOR", "META LEADER");

export function formatStatus(report: ClusterStatusReport): string {
  const nodes = formatTable(
    NODE_COLUMNS,
    report.nodes.map((row) => [row.id, String(row.pid), row.alive ? "alive" : "dead", row.ready ? "ready" : "no", row.http_url, row.nats_url, row.shards ? shardRanges(row.shards) : "?"]),
  ).join("\n");
  const servers = formatTable(
    SERVER_COLUMNS,
    report.nats.map((row) => [row.name, String(row.pid), row.alive ? "alive" : "dead", row.url, row.monitor_url, row.meta_leader ?? "-"]),
  ).join("\n");
  const view = report.cluster
    ? `cluster view from ${report.cluster.node}: ${report.cluster.moves.length} shard move(s) pending`
    : `shard ownership unknown: no ready node answers GET /api/v1/cluster`;
  return `cluster in ${report.dir} (started ${report.started_at})\n\n${nodes}\n\n${servers}\n\n${view}\n`;
}
