// Helpers of the cluster tests: the cluster view, waiting for a shard layout, and the
// exact set of events a node can find.

import { describeShortfall, exportedSeqnos } from "../../scripts/local-cluster/seqnos.ts";
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { openClusterBuckets, type ClusterBuckets } from "../../src/cluster/buckets.ts";
import { afterAll, beforeAll } from "bun:test";
import { cleanupTestResources, getJson, startTestNats } from "./processes.ts";
import { waitFor } from "./wait.ts";

export { exportedSeqnos, lossAndDuplicates } from "../../scripts/local-cluster/seqnos.ts";

export async function clusterStatus(httpUrl: string): Promise<any> {
  const { status, body } = await getJson(`${httpUrl}/api/v1/cluster`);
  if (status !== 200) throw new Error(`cluster status ${status}: ${JSON.stringify(body)}`);
  return body;
}

/** Shards owned per node id in a cluster view. */
export function ownedCounts(status: any): Record<string, number> {
  const owned: Record<string, number> = {};
  for (const shard of status.shards) if (shard.owner) owned[shard.owner] = (owned[shard.owner] ?? 0) + 1;
  return owned;
}

function sameCounts(a: Record<string, number>, b: Record<string, number>): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].every((key) => a[key] === b[key]);
}

/**
 * Waits until every shard is owned exactly as `expected` (node id -> shard count) and no
 * move is pending. The probe throws the layout it saw, so a timeout says how far off it was.
 */
export async function waitForOwners(httpUrl: string, expected: Record<string, number>, timeoutMs = 20_000): Promise<any> {
  return waitFor(
    async () => {
      const status = await clusterStatus(httpUrl);
      if (sameCounts(ownedCounts(status), expected) && status.moves.length === 0) return status;
      throw new Error(`owners ${JSON.stringify(status.shards.map((shard: any) => shard.owner))}, moves ${JSON.stringify(status.moves)}, nodes ${JSON.stringify(status.nodes.map((node: any) => `${node.id}:${node.alive ? "alive" : "dead"}${node.draining ? ",draining" : ""}`))}`);
    },
    { timeoutMs, what: `shards owned as ${JSON.stringify(expected)} (from ${httpUrl})` },
  );
}

/** NDJSON events whose metadata.seqno runs from `from` to `from + count - 1`. */
export function seqnoEvents(from: number, count: number): string {
  return Array.from({ length: count }, (_, i) => JSON.stringify({ service: `svc-${(from + i) % 5}`, level: "INFO", message: `event number ${from + i}`, seqno: from + i })).join("\n");
}

export async function postEvents(httpUrl: string, ndjson: string): Promise<void> {
  const { status, body } = await getJson(`${httpUrl}/api/v1/logs`, { method: "POST", headers: { "content-type": "application/x-ndjson" }, body: ndjson });
  if (status >= 300) throw new Error(`ingest ${status}: ${JSON.stringify(body)}`);
}

/**
 * Waits until a node finds at least `expected` seqnos, and returns them all (duplicates
 * included). The probe throws what the last export said, so a timeout tells loss (which
 * seqnos) from an export that stayed partial.
 */
export async function waitForSeqnos(httpUrl: string, expected: number, timeoutMs: number): Promise<number[]> {
  return waitFor(
    async () => {
      const found = await exportedSeqnos(httpUrl);
      if (found.length >= expected) return found;
      throw new Error(describeShortfall(found, expected));
    },
    { what: `${expected} events from ${httpUrl}`, timeoutMs },
  );
}

/** A nats-server with the cluster buckets (replicated segment store included), for tests of the manifest and segment store. */
export interface BucketsServer {
  buckets: ClusterBuckets;
  jsm: JetStreamManager;
  stop(): Promise<void>;
}

/**
 * One BucketsServer for the calling test file: started before its tests, stopped (and
 * the test resources cleaned up) after them. Call at module level; read it in tests.
 */
export function bucketsServerForFile(): () => BucketsServer {
  let server: BucketsServer | undefined;
  beforeAll(async () => {
    server = await startBucketsServer();
  });
  afterAll(async () => {
    await server?.stop();
    cleanupTestResources();
  });
  return () => server!;
}

export async function startBucketsServer(): Promise<BucketsServer> {
  const nats = await startTestNats();
  const nc = await connect({ servers: nats.url });
  const buckets = await openClusterBuckets(jetstream(nc), { replicas: 1, replicatedSegments: true });
  const jsm = await jetstreamManager(nc);
  return {
    buckets,
    jsm,
    stop: async () => {
      await nc.close();
      await nats.stop();
    },
  };
}
