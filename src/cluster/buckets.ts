// The JetStream buckets a node coordinates through. All are replicated like the WAL
// (walReplicas), and KV reads go to each stream's leader (allow_direct off): NATS
// does not promise that a follower has seen a write that was just acked, and a lease
// or manifest read must see the latest.

import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { StorageType } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { Objm, type ObjectStore } from "@nats-io/obj";

export const LEASES_BUCKET = "SLUICE_LEASES";
export const NODES_BUCKET = "SLUICE_NODES";
export const MANIFESTS_BUCKET = "SLUICE_MANIFESTS";
export const SEGMENTS_BUCKET = "SLUICE_SEGMENTS";
/** A KV request waits this long for the server (a leader election takes a few seconds). */
export const KV_TIMEOUT_MS = 5_000;

export interface ClusterBuckets {
  leases: KV;
  nodes: KV;
  /** Every key of the nodes bucket (members and drain marks), deleted ones included. */
  nodeKeys(): Promise<string[]>;
  /** Only with the object-store segment store. */
  manifests?: KV;
  segments?: ObjectStore;
}

export async function openClusterBuckets(js: JetStreamClient, options: { replicas: number; replicatedSegments: boolean }): Promise<ClusterBuckets> {
  const kvm = new Kvm(js);
  const kv = (name: string) => kvm.create(name, { replicas: options.replicas, history: 1, storage: StorageType.File, allow_direct: false, timeout: KV_TIMEOUT_MS });
  const [leases, nodes] = await Promise.all([kv(LEASES_BUCKET), kv(NODES_BUCKET)]);
  const jsm = await js.jetstreamManager(false);
  const nodeKeys = () => bucketKeys(jsm, NODES_BUCKET);
  if (!options.replicatedSegments) return { leases, nodes, nodeKeys };
  const manifests = await kv(MANIFESTS_BUCKET);
  const segments = await new Objm(js).create(SEGMENTS_BUCKET, { replicas: options.replicas, storage: StorageType.File });
  return { leases, nodes, nodeKeys, manifests, segments };
}

/**
 * The keys of a KV bucket, read as the subjects its stream holds: one request to the
 * stream leader. kv.keys() creates a consumer per call, and in a cluster each one is a
 * replicated assignment through the meta leader: every node doing that every tick
 * loaded the meta layer enough to refuse consumer creates ("temporarily unavailable").
 */
export async function bucketKeys(jsm: JetStreamManager, bucket: string): Promise<string[]> {
  const prefix = `$KV.${bucket}.`;
  const info = await jsm.streams.info(`KV_${bucket}`, { subjects_filter: `${prefix}>` });
  return Object.keys(info.state.subjects ?? {}).map((subject) => subject.slice(prefix.length));
}
