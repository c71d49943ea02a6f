// The cluster view on the wire: what GET /api/v1/cluster answers and logctl prints.
// Field names are snake_case like every other JSON Sluice serves.

export interface ClusterNodeStatus {
  id: string;
  http_url: string;
  nats_url: string;
  pid: number;
  /** RFC 3339. */
  started_at: string;
  /** Heartbeats seen within the liveness window. */
  alive: boolean;
  /** Told to hand its shards away (logctl drain); takes no new ones. */
  draining: boolean;
  /** Shards whose lease it holds now. */
  shards: number;
  segment_store: "local" | "objectstore";
  /** ms since this node last saw the node's heartbeat change. */
  last_seen_ms: number;
}

export interface ShardWalStatus {
  /** Messages JetStream has not delivered to the shard's consumer yet. */
  pending: number;
  /** Delivered, not acked yet (held in a memtable until their seal). */
  ack_pending: number;
  /** Highest stream sequence acked with everything below it. */
  ack_floor: number;
}

export interface ShardStatus {
  shard: number;
  /** Lease holder, null while no node holds it. */
  owner: string | null;
  /** Fencing token: goes up by one every time the shard changes hands. */
  epoch: number;
  /** Where the balanced plan wants it; differs from owner while it moves. */
  target: string | null;
  state: "owned" | "moving" | "unowned";
  /** null when the consumer cannot be read (NATS down, consumer not made yet). */
  wal: ShardWalStatus | null;
  /** Published segments of the shard (from the replicated manifest; null in local mode for shards of other nodes). */
  segments: number | null;
  last_seq: number | null;
}

export interface StreamReplicaStatus {
  name: string;
  current: boolean;
  /** Operations the replica is behind the leader. */
  lag: number;
  /** ms since the leader heard from it. */
  active_ms: number;
}

export interface StreamReplicationStatus {
  stream: string;
  replicas: number;
  leader: string | null;
  peers: StreamReplicaStatus[];
}

export interface ShardMove {
  shard: number;
  from: string | null;
  to: string;
}

export interface ClusterStatus {
  /** The node that answered. */
  node: string;
  nodes: ClusterNodeStatus[];
  shards: ShardStatus[];
  /** JetStream replication of the WAL and of the segment store (null in local mode, or when the stream did not answer within a second). */
  replication: { wal: StreamReplicationStatus | null; segments: StreamReplicationStatus | null };
  /** Moves the balanced plan still wants (empty when settled). */
  moves: ShardMove[];
}

/** POST /api/v1/cluster/drain and /undrain answer. */
export interface DrainReply {
  node: string;
  draining: boolean;
  /** Shards the node still owns. */
  shards: number;
}

/** POST /api/v1/cluster/rebalance answer. */
export interface RebalanceReply {
  moves: ShardMove[];
}
