// The cluster view served at GET /api/v1/cluster: members, leases, the plan, WAL
// consumer lag per shard and JetStream replication of the WAL and segment store.

import type { JetStreamManager } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { shardConsumerName, WAL_STREAM } from "../protocol/subjects.ts";
import type { ShardManifest } from "../storage/manifest.ts";
import { SEGMENTS_BUCKET } from "./buckets.ts";
import { manifestKey } from "./replicated-manifest.ts";
import type { ShardCoordinator } from "./shard-coordinator.ts";
import type { ClusterStatus, DrainReply, RebalanceReply, ShardStatus, ShardWalStatus, StreamReplicationStatus } from "./status-types.ts";

/**
 * Each JetStream read of the status waits at most this long: a consumer being recreated
 * or a stream electing a leader answers nothing until the request's own 5 s timeout,
 * and the view must not be that late. What did not answer in time is null.
 */
export const STATUS_JETSTREAM_WAIT_MS = 1_000;

export class UnknownNodeError extends Error {
  readonly code = "unknown_node";
}

/** What the HTTP routes need from the cluster side of a node. */
export interface ClusterApi {
  status(): Promise<ClusterStatus>;
  drain(node: string, draining: boolean): Promise<DrainReply>;
  rebalance(): Promise<RebalanceReply>;
}

export function createClusterApi(input: { coordinator: ShardCoordinator; jsm: JetStreamManager; manifests?: KV; shards: number; nodeId: string; segmentsReplicated: boolean }): ClusterApi {
  const { coordinator } = input;
  const status = async (): Promise<ClusterStatus> => {
    const [wal, manifests, walReplication, segmentReplication] = await Promise.all([
      walStatus(input.jsm, input.shards),
      manifestStatus(input.manifests, input.shards),
      replication(input.jsm, WAL_STREAM),
      input.segmentsReplicated ? replication(input.jsm, `OBJ_${SEGMENTS_BUCKET}`) : Promise.resolve(null),
    ]);
    // The coordinator's view after the reads above, so owners and moves are as fresh as they can be.
    const view = coordinator.lastView();
    const held = new Map<string, number>();
    for (const owner of view.owners) if (owner !== null) held.set(owner, (held.get(owner) ?? 0) + 1);
    const nodes = [...view.members.values()]
      .map(({ record, alive, draining, lastSeenMs }) => ({
        id: record.id,
        http_url: record.http_url,
        nats_url: record.nats_url,
        pid: record.pid,
        started_at: record.started_at,
        alive,
        draining,
        shards: held.get(record.id) ?? 0,
        segment_store: record.segment_store,
        last_seen_ms: Math.round(lastSeenMs),
      }))
      .sort((a, b) => (a.id < b.id ? -1 : 1));
    const shards: ShardStatus[] = Array.from({ length: input.shards }, (_, shard) => {
      const owner = view.owners[shard] ?? null;
      const target = view.targets[shard] ?? null;
      return {
        shard,
        owner,
        epoch: view.leases[shard]?.epoch ?? 0,
        target,
        state: owner === null ? "unowned" : target !== null && target !== owner ? "moving" : "owned",
        wal: wal[shard],
        segments: manifests[shard]?.segments.length ?? null,
        last_seq: manifests[shard]?.lastSeq ?? null,
      };
    });
    return { node: input.nodeId, nodes, shards, replication: { wal: walReplication, segments: segmentReplication }, moves: coordinator.pendingMoves() };
  };
  return {
    status,
    async drain(node, draining) {
      const view = coordinator.lastView();
      if (!view.members.has(node)) throw new UnknownNodeError(`no node ${JSON.stringify(node)} in the cluster; known: ${[...view.members.keys()].sort().join(", ") || "none"}`);
      await coordinator.setDraining(node, draining);
      return { node, draining, shards: view.owners.filter((owner) => owner === node).length };
    },
    async rebalance() {
      // Moves are made continuously; this reports them (the node's next tick starts its part).
      return { moves: coordinator.pendingMoves() };
    },
  };
}

async function walStatus(jsm: JetStreamManager, shards: number): Promise<(ShardWalStatus | null)[]> {
  return Promise.all(
    Array.from({ length: shards }, async (_, shard) => {
      const info = await briefly(jsm.consumers.info(WAL_STREAM, shardConsumerName(shard)));
      return info ? { pending: info.num_pending, ack_pending: info.num_ack_pending, ack_floor: info.ack_floor.stream_seq } : null;
    }),
  );
}

async function manifestStatus(manifests: KV | undefined, shards: number): Promise<(ShardManifest | null)[]> {
  if (!manifests) return Array.from({ length: shards }, () => null);
  return Promise.all(
    Array.from({ length: shards }, async (_, shard) => {
      const entry = await briefly(manifests.get(manifestKey(shard)));
      return entry && entry.operation === "PUT" ? entry.json<{ manifest: ShardManifest }>().manifest : null;
    }),
  );
}

async function replication(jsm: JetStreamManager, stream: string): Promise<StreamReplicationStatus | null> {
  const info = await briefly(jsm.streams.info(stream));
  if (!info) return null;
  return {
    stream,
    replicas: info.config.num_replicas,
    leader: info.cluster?.leader ?? null,
    peers: (info.cluster?.replicas ?? []).map((peer) => ({ name: peer.name, current: peer.current, lag: peer.lag ?? 0, active_ms: Math.round((peer.active ?? 0) / 1e6) })),
  };
}

/** The answer, or null when it failed or took longer than STATUS_JETSTREAM_WAIT_MS. */
async function briefly<T>(request: Promise<T>): Promise<T | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), STATUS_JETSTREAM_WAIT_MS)));
  try {
    return await Promise.race([request.catch(() => null), late]);
  } finally {
    clearTimeout(timer);
  }
}
