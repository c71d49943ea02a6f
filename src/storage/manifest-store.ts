// Where a shard's manifest is published. A single node keeps it in a local file; a
// cluster publishes it through JetStream (cluster/replicated-manifest.ts), so the
// segments it lists survive the node. The store calls load once at open and publish
// for every seal and compaction, in order, and acks the WAL only after publish.

import { manifestPath, type DataPaths } from "./paths.ts";
import { readManifest, writeManifest, type ShardManifest } from "./manifest.ts";

export interface ManifestChange {
  /** Segment files new in the manifest (written and fsynced in the segments directory). */
  added: readonly string[];
  /** Segment files the manifest no longer lists. */
  removed: readonly string[];
}

export interface ManifestStore {
  /** The published manifest, with every segment it lists present on local disk. */
  load(): Promise<ShardManifest>;
  /** Publishes `next` durably; once it resolves, `next` survives a crash (of this node, for a replicated store). */
  publish(next: ShardManifest, change: ManifestChange): Promise<void>;
}

export class LocalManifestStore implements ManifestStore {
  constructor(
    private readonly paths: DataPaths,
    private readonly shard: number,
  ) {}

  async load(): Promise<ShardManifest> {
    return readManifest(manifestPath(this.paths, this.shard), this.shard);
  }

  publish(next: ShardManifest): Promise<void> {
    return writeManifest(manifestPath(this.paths, this.shard), next);
  }
}
