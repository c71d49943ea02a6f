// A shard's manifest published through JetStream, so a shard can change hands with
// nothing lost: every segment file (and its skip index) goes into the object store
// bucket first, then the manifest goes into the manifests KV bucket by
// compare-and-swap on the revision this holder wrote last. Only after that does the
// partition ack the WAL past the segment's rows.
//
// Why JetStream's object store: it is replicated by the same cluster that replicates
// the WAL (R3 in a 3-node cluster), needs no extra service, and its put is acked only
// once the replicas have it, which is exactly "replicated before the WAL is acked".
// Object storage (S3) stays the cold tier; copying every fresh seal there would put
// a WAN round trip on the ingest path.
//
// Fencing: the KV value carries the holder's lease epoch. A new holder's first act is
// a CAS that writes its higher epoch, so a former holder's next CAS fails (its
// revision is gone) and it can publish nothing more; and a holder refuses to load a
// manifest whose epoch is above its own.

import { mkdirSync, statSync } from "node:fs";
import type { KV } from "@nats-io/kv";
import type { ObjectStore } from "@nats-io/obj";
import type { JetStreamManager } from "@nats-io/jetstream";
import { downloadObject, uploadFile, type SegmentStoreAccess } from "./segment-objects.ts";
import { emptyManifest, fsyncPath, readManifest, validateManifest, writeManifest, type ShardManifest } from "../storage/manifest.ts";
import type { ManifestChange, ManifestStore } from "../storage/manifest-store.ts";
import { casWrite, isCasConflict } from "./kv-cas.ts";
import { untilJetStreamAnswers } from "../nats/jetstream-wait.ts";
import { manifestPath, segmentPath, segmentsDir, shardName, skipIndexPath, type DataPaths } from "../storage/paths.ts";

export class FencedError extends Error {
  readonly code = "fenced";
}

interface StoredManifest {
  epoch: number;
  node: string;
  manifest: ShardManifest;
  /**
   * The epoch each listed segment was uploaded under: objects are named by it, so a
   * fenced former holder that reused a segment number can never overwrite the object
   * the new holder published under that number.
   */
  objects: Record<string, number>;
}

export function manifestKey(shard: number): string {
  return `shard.${shard}`;
}

/** The WAL floor of a shard's published manifest (0: none published, or none in it). */
export async function publishedWalFloor(manifests: KV, shard: number): Promise<number> {
  const entry = await manifests.get(manifestKey(shard));
  if (!entry || entry.operation !== "PUT") return 0;
  return validateManifest(entry.json<StoredManifest>().manifest, shard).walFloor ?? 0;
}

/** The object name of a shard's file, uploaded under `epoch`, in the segments bucket. */
export function segmentObjectName(shard: number, epoch: number, file: string): string {
  return `${shardName(shard)}/e${epoch}/${file}`;
}

export interface ShardSyncPlan {
  /** Listed remotely and not known good locally: fetch. */
  download: string[];
}

/**
 * What a new holder must fetch: segments of the published manifest that the local one
 * does not list, or whose local file is missing or of another size. Segment names are
 * never reused within a published history, so a file both manifests list is the same
 * file; a local file only the published one lists may be a former holder's unpublished
 * write under a reused name, and is replaced. Local files the published manifest does
 * not list are orphans that the store removes at open.
 */
export function planShardSync(local: ShardManifest, remote: ShardManifest, localSize: (file: string) => number | undefined): ShardSyncPlan {
  const known = new Set(local.segments.map((segment) => segment.file));
  return { download: remote.segments.filter((segment) => !known.has(segment.file) || localSize(segment.file) !== segment.bytes).map((segment) => segment.file) };
}

export interface ReplicatedManifestOptions {
  shard: number;
  paths: DataPaths;
  manifests: KV;
  segments: ObjectStore;
  /** Reads the segment store's chunks (downloadObject). */
  jsm: JetStreamManager;
  node: string;
  epoch: number;
  log: (line: string) => void;
}

export class ReplicatedManifestStore implements ManifestStore {
  /** The KV revision this holder wrote last: the only one its next publish may replace. */
  private revision = 0;
  private objects: Record<string, number> = {};

  private readonly segmentStore: SegmentStoreAccess;

  constructor(private readonly options: ReplicatedManifestOptions) {
    this.segmentStore = { store: options.segments, jsm: options.jsm };
  }

  async load(): Promise<ShardManifest> {
    const { shard, paths, manifests, epoch, node } = this.options;
    const entry = await this.patiently("manifest read", () => manifests.get(manifestKey(shard)));
    let remote = emptyManifest(shard);
    let revision = 0;
    if (entry && entry.operation === "PUT") {
      const stored = entry.json<StoredManifest>();
      if (stored.epoch > epoch) throw new FencedError(`shard ${shard}: manifest epoch ${stored.epoch} is above this holder's ${epoch}`);
      remote = validateManifest(stored.manifest, shard);
      revision = entry.revision;
      this.objects = { ...stored.objects };
    }
    const localPath = manifestPath(paths, shard);
    let local = emptyManifest(shard);
    try {
      local = readManifest(localPath, shard);
    } catch (error) {
      // A corrupt local copy costs a full download, not the shard.
      this.options.log(`shard ${shard}: local manifest unreadable, fetching every segment: ${String(error)}`);
    }
    mkdirSync(segmentsDir(paths, shard), { recursive: true });
    const plan = planShardSync(local, remote, (file) => sizeOf(segmentPath(paths, shard, file)));
    if (plan.download.length > 0) this.options.log(`shard ${shard}: fetching ${plan.download.length} segment(s) from the segment store`);
    for (const meta of remote.segments.filter((segment) => plan.download.includes(segment.file))) await this.download(meta.file, meta.bytes);
    // Take the shard over: this CAS is what fences the former holder out.
    const value: StoredManifest = { epoch, node, manifest: remote, objects: this.objects };
    this.revision = await this.swap(value, revision);
    await writeManifest(localPath, remote);
    return remote;
  }

  async publish(next: ShardManifest, change: ManifestChange): Promise<void> {
    const { shard, paths, epoch, node } = this.options;
    const uploaded: string[] = [];
    const objects = { ...this.objects };
    try {
      for (const file of change.added) {
        await this.patiently(`upload of ${file}`, () => uploadFile(this.options.segments, segmentObjectName(shard, epoch, file), segmentPath(paths, shard, file)));
        uploaded.push(file);
        const index = skipIndexPath(paths, shard, file);
        if (sizeOf(index) !== undefined) await this.patiently(`upload of ${file}.skip`, () => uploadFile(this.options.segments, segmentObjectName(shard, epoch, `${file}.skip`), index));
        objects[file] = epoch;
      }
      for (const file of change.removed) delete objects[file];
      this.revision = await this.swap({ epoch, node, manifest: next, objects }, this.revision);
    } catch (error) {
      // Fenced (or failed): what this publish uploaded is listed nowhere; remove it rather than leak it.
      if (error instanceof FencedError) await this.deleteObjects(uploaded, epoch);
      throw error;
    }
    const removed = change.removed.map((file) => ({ file, epoch: this.objects[file] }));
    this.objects = objects;
    await writeManifest(manifestPath(paths, shard), next);
    // Best effort: a leftover object costs space, never correctness (the manifest no longer lists it).
    for (const { file, epoch: uploadedUnder } of removed) if (uploadedUnder !== undefined) await this.deleteObjects([file], uploadedUnder);
  }

  private async deleteObjects(files: readonly string[], epoch: number): Promise<void> {
    for (const file of files) {
      for (const name of [file, `${file}.skip`]) await this.options.segments.delete(segmentObjectName(this.options.shard, epoch, name)).catch(() => undefined);
    }
  }

  private async swap(value: StoredManifest, revision: number): Promise<number> {
    const bytes = new TextEncoder().encode(JSON.stringify(value));
    return this.patiently("manifest update", async () => {
      try {
        return (await casWrite(this.options.manifests, manifestKey(this.options.shard), bytes, revision)).revision;
      } catch (error) {
        if (!isCasConflict(error)) throw error;
        throw new FencedError(`shard ${this.options.shard}: the manifest changed under epoch ${this.options.epoch} (another node took the shard over)`, { cause: error });
      }
    });
  }

  /** Retries what fails as JetStream does while it elects a leader (a seal waits that out rather than fail its partition), bounded. */
  private patiently<T>(what: string, attempt: () => Promise<T>): Promise<T> {
    return untilJetStreamAnswers(`shard ${this.options.shard} ${what}`, attempt, this.options.log);
  }

  private async download(file: string, bytes: number): Promise<void> {
    const { shard, paths } = this.options;
    const epoch = this.objects[file];
    if (epoch === undefined) throw new Error(`shard ${shard}: the manifest lists ${file} but not the epoch it was uploaded under`);
    const target = segmentPath(paths, shard, file);
    await this.patiently(`download of ${file}`, () => downloadObject(this.segmentStore, segmentObjectName(shard, epoch, file), target, true));
    if (sizeOf(target) !== bytes) throw new Error(`shard ${shard}: fetched ${file} is ${sizeOf(target)} bytes, the manifest says ${bytes}`);
    // The index is optional: without it the store rebuilds one in the background.
    await this.patiently(`download of ${file}.skip`, () => downloadObject(this.segmentStore, segmentObjectName(shard, epoch, `${file}.skip`), skipIndexPath(paths, shard, file), false));
    await fsyncPath(segmentsDir(paths, shard));
  }
}

function sizeOf(path: string): number | undefined {
  try {
    return statSync(path).size;
  } catch {
    return undefined;
  }
}
