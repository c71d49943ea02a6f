// The cluster admin commands: `logctl cluster status`, `shards`, `drain`, `undrain`
// and `rebalance`. The tables are pure functions of the wire types in
// src/cluster/status-types.ts, so every cell is tested without a node; the commands
// only fetch, print and choose the exit status.

import type { ClientError, SluiceClient } from "./client.ts";
import { formatClientError, formatCount, formatTable, plural, type TableColumn } from "./format.ts";
import type { CliIo } from "./io.ts";
import { DRAIN_POLL_INTERVAL_MS } from "./limits.ts";
import type { CliCommand } from "./options.ts";
import type { ClusterNodeStatus, ClusterStatus, DrainReply, ShardMove, ShardStatus, StreamReplicationStatus } from "../cluster/status-types.ts";

export type DrainCommand = Extract<CliCommand, { command: "drain" }>;
export type UndrainCommand = Extract<CliCommand, { command: "undrain" }>;

/** Tables under a section title are indented by this, so the titles stand out. */
const INDENT = "  ";

/** A value the node could not give (null on the wire) is `-`; counts get thousands separators, sequence numbers and ids do not, so they can be copied. */
const dash = (value: string | null | undefined) => value ?? "-";
const countOrDash = (value: number | null | undefined) => (value === null || value === undefined ? "-" : formatCount(value));
const numberOrDash = (value: number | null | undefined) => (value === null || value === undefined ? "-" : String(value));

/** `120 ms ago`, `4.2 s ago`, `3 min ago`, `1.5 h ago`: how long ago a node was heard from. */
export function formatAge(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms ago`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s ago`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} min ago`;
  return `${(ms / 3_600_000).toFixed(1)} h ago`;
}

const indented = (lines: string[]) => lines.map((line) => `${INDENT}${line}`);
const byShard = (shards: readonly ShardStatus[]) => [...shards].sort((left, right) => left.shard - right.shard);
/** A shard no node holds: without an owner, or reported unowned. */
const unowned = (shard: ShardStatus) => shard.owner === null || shard.state === "unowned";

/** What makes `cluster status` exit 1: nodes that are down and shards no node holds. Empty when neither. */
export function clusterProblems(status: ClusterStatus): string[] {
  const problems = status.nodes.filter((node) => !node.alive).map((node) => `node ${node.id} is down`);
  const orphans = byShard(status.shards).filter(unowned);
  if (orphans.length === 1) problems.push(`shard ${orphans[0].shard} has no owner`);
  if (orphans.length > 1) problems.push(`shards ${orphans.map((shard) => shard.shard).join(", ")} have no owner`);
  return problems;
}

/** `node-1 answered: 3 nodes (1 down, 1 draining); 8 shards (1 moving, 1 unowned); 1 pending move`. */
export function formatClusterSummary(status: ClusterStatus): string {
  const details = (parts: [number, string][]) => {
    const shown = parts.filter(([value]) => value > 0).map(([value, label]) => `${value} ${label}`);
    return shown.length > 0 ? ` (${shown.join(", ")})` : "";
  };
  const nodes = details([
    [status.nodes.filter((node) => !node.alive).length, "down"],
    [status.nodes.filter((node) => node.draining).length, "draining"],
  ]);
  const shards = details([
    [status.shards.filter((shard) => shard.state === "moving").length, "moving"],
    [status.shards.filter(unowned).length, "unowned"],
  ]);
  return `${status.node} answered: ${plural(status.nodes.length, "node")}${nodes}; ${plural(status.shards.length, "shard")}${shards}; ${plural(status.moves.length, "pending move")}`;
}

const NODE_COLUMNS: TableColumn[] = [
  { header: "NODE" },
  { header: "STATE" },
  { header: "DRAINING" },
  { header: "SHARDS", alignRight: true },
  { header: "HTTP URL" },
  { header: "PID", alignRight: true },
  { header: "LAST SEEN" },
];

export function formatNodesTable(nodes: readonly ClusterNodeStatus[]): string[] {
  const rows = nodes.map((node) => [node.id, node.alive ? "alive" : "down", node.draining ? "yes" : "no", formatCount(node.shards), node.http_url, String(node.pid), formatAge(node.last_seen_ms)]);
  return formatTable(NODE_COLUMNS, rows);
}

const wal = (shard: ShardStatus) => (shard.wal === null ? "-" : `${formatCount(shard.wal.pending)} / ${formatCount(shard.wal.ack_pending)}`);

const SHARD_SUMMARY_COLUMNS: TableColumn[] = [
  { header: "SHARD", alignRight: true },
  { header: "OWNER" },
  { header: "EPOCH", alignRight: true },
  { header: "STATE" },
  { header: "WAL PENDING / ACK PENDING", alignRight: true },
  { header: "SEGMENTS", alignRight: true },
  { header: "LAST SEQ", alignRight: true },
];

/** The shards part of `cluster status`: where each shard is and how far behind it is. */
export function formatShardSummaryTable(shards: readonly ShardStatus[]): string[] {
  const rows = byShard(shards).map((shard) => [String(shard.shard), dash(shard.owner), String(shard.epoch), shard.state, wal(shard), countOrDash(shard.segments), numberOrDash(shard.last_seq)]);
  return formatTable(SHARD_SUMMARY_COLUMNS, rows);
}

const SHARD_COLUMNS: TableColumn[] = [
  { header: "SHARD", alignRight: true },
  { header: "OWNER" },
  { header: "EPOCH", alignRight: true },
  { header: "STATE" },
  { header: "TARGET" },
  { header: "WAL PENDING", alignRight: true },
  { header: "ACK PENDING", alignRight: true },
  { header: "ACK FLOOR", alignRight: true },
  { header: "SEGMENTS", alignRight: true },
  { header: "LAST SEQ", alignRight: true },
];

/** `logctl shards`: every field of every shard. */
export function formatShardsTable(shards: readonly ShardStatus[]): string[] {
  const rows = byShard(shards).map((shard) => [
    String(shard.shard),
    dash(shard.owner),
    String(shard.epoch),
    shard.state,
    dash(shard.target),
    countOrDash(shard.wal?.pending),
    countOrDash(shard.wal?.ack_pending),
    numberOrDash(shard.wal?.ack_floor),
    countOrDash(shard.segments),
    numberOrDash(shard.last_seq),
  ]);
  return formatTable(SHARD_COLUMNS, rows);
}

const REPLICATION_COLUMNS: TableColumn[] = [
  { header: "STREAM" },
  { header: "REPLICAS", alignRight: true },
  { header: "LEADER" },
  { header: "PEER" },
  { header: "CURRENT" },
  { header: "LAG", alignRight: true },
  { header: "LAST ACTIVE" },
];

/** One row per peer of the WAL and segment streams (one row with peer `-` for a stream without peers); a stream not replicated is a line of its own. */
export function formatReplication(replication: ClusterStatus["replication"]): string[] {
  const streams: [string, StreamReplicationStatus | null][] = [
    ["wal", replication.wal],
    ["segments", replication.segments],
  ];
  if (streams.every(([, stream]) => stream === null)) return ["not replicated (local mode), or the streams did not answer"];
  const rows: string[][] = [];
  for (const [label, stream] of streams) {
    if (stream === null) continue;
    const name = `${label} (${stream.stream})`;
    const head = [name, String(stream.replicas), stream.leader ?? "none"];
    if (stream.peers.length === 0) rows.push([...head, "-", "-", "-", "-"]);
    for (const peer of stream.peers) rows.push([...head, peer.name, peer.current ? "yes" : "no", formatCount(peer.lag), formatAge(peer.active_ms)]);
  }
  const missing = streams.filter(([, stream]) => stream === null).map(([label]) => `${label}: not replicated`);
  return [...formatTable(REPLICATION_COLUMNS, rows), ...missing];
}

/** The moves as a table, or `none`. */
export function formatMovesTable(moves: readonly ShardMove[]): string[] {
  if (moves.length === 0) return ["none"];
  const rows = [...moves].sort((left, right) => left.shard - right.shard).map((move) => [String(move.shard), dash(move.from), move.to]);
  return formatTable([{ header: "SHARD", alignRight: true }, { header: "FROM" }, { header: "TO" }], rows);
}

/** The whole of `cluster status`: a summary line, then nodes, shards, replication and pending moves. */
export function formatClusterStatus(status: ClusterStatus): string[] {
  return [
    formatClusterSummary(status),
    "",
    "nodes:",
    ...indented(formatNodesTable(status.nodes)),
    "",
    "shards:",
    ...indented(formatShardSummaryTable(status.shards)),
    "",
    "replication:",
    ...indented(formatReplication(status.replication)),
    "",
    "pending moves:",
    ...indented(formatMovesTable(status.moves)),
  ];
}

/** One line on a drain or undrain answer (or on the state `drain --wait` ended in). */
export function formatDrainReply(reply: DrainReply): string {
  if (!reply.draining) return `${reply.node} is not draining: it owns ${plural(reply.shards, "shard")} and can take more`;
  if (reply.shards === 0) return `${reply.node} is drained: it can be stopped`;
  return `${reply.node} is draining: it still owns ${plural(reply.shards, "shard")}`;
}

/** `rebalance` output: the moves the node started, or that there were none. */
export function formatRebalance(moves: readonly ShardMove[]): string[] {
  if (moves.length === 0) return ["balanced: no moves"];
  return [`rebalance: ${plural(moves.length, "move")}`, ...indented(formatMovesTable(moves))];
}

/** The node's own state as the cluster view shows it; a node no longer listed counts the shards still leased to it. */
export function drainStateOf(status: ClusterStatus, node: string): DrainReply {
  const entry = status.nodes.find((each) => each.id === node);
  const shards = entry?.shards ?? status.shards.filter((shard) => shard.owner === node).length;
  return { node, draining: entry?.draining ?? true, shards };
}

const jsonText = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

function fail(io: CliIo, error: ClientError | string): number {
  io.stderr(`logctl: ${typeof error === "string" ? error : formatClientError(error)}\n`);
  return 1;
}

/** Exit status 1 when the node did not answer, or answered that a node is down or a shard has no owner; the reasons go to stderr. */
export async function runClusterStatus(json: boolean, io: CliIo, client: SluiceClient): Promise<number> {
  const result = await client.cluster();
  if (!result.ok) return fail(io, result.error);
  await io.stdout(json ? jsonText(result.value) : `${formatClusterStatus(result.value).join("\n")}\n`);
  const problems = clusterProblems(result.value);
  return problems.length === 0 ? 0 : fail(io, `not healthy: ${problems.join("; ")}`);
}

export async function runShards(json: boolean, io: CliIo, client: SluiceClient): Promise<number> {
  const result = await client.cluster();
  if (!result.ok) return fail(io, result.error);
  await io.stdout(json ? jsonText(result.value.shards) : `${formatShardsTable(result.value.shards).join("\n")}\n`);
  return 0;
}

export async function runUndrain(command: UndrainCommand, io: CliIo, client: SluiceClient): Promise<number> {
  const result = await client.undrain(command.node);
  if (!result.ok) return fail(io, result.error);
  await io.stdout(command.json ? jsonText(result.value) : `${formatDrainReply(result.value)}\n`);
  return 0;
}

export async function runRebalance(json: boolean, io: CliIo, client: SluiceClient): Promise<number> {
  const result = await client.rebalance();
  if (!result.ok) return fail(io, result.error);
  await io.stdout(json ? jsonText(result.value) : `${formatRebalance(result.value.moves).join("\n")}\n`);
  return 0;
}

/**
 * Drains a node; with --wait, polls the cluster view until it owns no shards. --json
 * prints one document: the drain answer, or with --wait the node's state at the end.
 * Exit status 1 when a request fails, the node is undrained meanwhile, or --timeout passes.
 */
export async function runDrain(command: DrainCommand, io: CliIo, client: SluiceClient): Promise<number> {
  const result = await client.drain(command.node);
  if (!result.ok) return fail(io, result.error);
  if (!command.wait || !command.json) await io.stdout(command.json ? jsonText(result.value) : `${formatDrainReply(result.value)}\n`);
  if (!command.wait) return 0;
  const waited = await waitUntilDrained(command, io, client, result.value);
  if (typeof waited === "string") return fail(io, waited);
  // Without --json the answer already said "drained" when it owned nothing to begin with.
  if (command.json) await io.stdout(jsonText(waited));
  else if (result.value.shards > 0) await io.stdout(`${formatDrainReply(waited)}\n`);
  return 0;
}

/** Polls every DRAIN_POLL_INTERVAL_MS until the node owns no shards; the final state, or why it stopped. */
async function waitUntilDrained(command: DrainCommand, io: CliIo, client: SluiceClient, first: DrainReply): Promise<DrainReply | string> {
  const deadlineMs = io.nowMs() + command.timeoutMs;
  const timedOut = (shards: number) =>
    `${command.node} still owns ${plural(shards, "shard")} after ${command.timeoutMs / 1000} s (--timeout); it keeps draining: wait again with logctl drain ${command.node} --wait, or look at logctl cluster status`;
  let state = first;
  let reported: number | undefined;
  while (state.shards > 0) {
    const remainingMs = deadlineMs - io.nowMs();
    if (remainingMs <= 0) return timedOut(state.shards);
    await io.sleep(Math.min(DRAIN_POLL_INTERVAL_MS, remainingMs));
    // The poll itself is bounded by what is left of --timeout, so a hung node cannot stretch the wait.
    const result = await client.cluster(AbortSignal.timeout(Math.max(1, deadlineMs - io.nowMs())));
    if (!result.ok) return result.error.kind === "aborted" ? timedOut(state.shards) : formatClientError(result.error);
    const next = drainStateOf(result.value, command.node);
    if (!next.draining) return `${command.node} is no longer draining (undrained while logctl waited); it owns ${plural(next.shards, "shard")}`;
    if (next.shards > 0 && next.shards !== reported) io.stderr(`${command.node}: ${plural(next.shards, "shard")} left\n`);
    reported = next.shards;
    state = next;
  }
  return state;
}
