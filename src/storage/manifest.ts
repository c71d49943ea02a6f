// A shard's manifest: which sealed segments exist and up to which WAL sequence they
// hold every event. A segment is published by writing its manifest entry last; the
// manifest is replaced atomically (write, fsync, rename, fsync the directory).

import { existsSync, readFileSync } from "node:fs";
import { open, rename } from "node:fs/promises";
import { dirname } from "node:path";
import { SEGMENT_FILE_PATTERN, segmentNumberOf } from "./paths.ts";

export const MANIFEST_VERSION = 1;

export interface SegmentMeta {
  file: string;
  rows: number;
  bytes: number;
  /** Event-time range, microseconds. */
  minTs: number;
  maxTs: number;
  /** WAL stream sequences held. */
  minSeq: number;
  maxSeq: number;
  tenants: string[];
  createdAtMs: number;
  /** 0 when sealed from the memtable; one more than its inputs' highest after compaction. */
  level: number;
}

export interface ShardManifest {
  version: number;
  shard: number;
  /** Highest WAL sequence any segment of this shard holds (for status; replays are checked exactly). */
  lastSeq: number;
  /**
   * Every WAL message of this shard at or below this stream sequence is in a segment
   * (or was refused): where a new holder resumes and below what the WAL may be purged.
   * Written with each seal by the partition that handled the messages, it does not
   * depend on the JetStream consumer's ack floor, which nats-server 2.9 can move past
   * messages never delivered. Absent in manifests written before it: 0.
   */
  walFloor?: number;
  nextSegmentNumber: number;
  segments: SegmentMeta[];
}

export class ManifestError extends Error {
  readonly code = "manifest_corrupt";
}

export function emptyManifest(shard: number): ShardManifest {
  return { version: MANIFEST_VERSION, shard, lastSeq: 0, nextSegmentNumber: 1, segments: [] };
}

/**
 * The manifest's next segment number once `segment` is in it: above every number used.
 * A compaction's output may be published after a later-numbered seal (segment numbers
 * are reserved when work starts), so this is not just the old value plus one.
 */
function nextNumberAfter(manifest: ShardManifest, segment: SegmentMeta): number {
  return Math.max(manifest.nextSegmentNumber, segmentNumberOf(segment.file) + 1);
}

/** Publishes a sealed segment, and the WAL floor after it (never lowered): pure, returns the next manifest. */
export function withSealedSegment(manifest: ShardManifest, segment: SegmentMeta, sealedSeq: number, walFloor = 0): ShardManifest {
  if (sealedSeq < manifest.lastSeq) throw new ManifestError(`seal sequence ${sealedSeq} is below the manifest's ${manifest.lastSeq}`);
  return { ...manifest, lastSeq: sealedSeq, walFloor: Math.max(manifest.walFloor ?? 0, walFloor), nextSegmentNumber: nextNumberAfter(manifest, segment), segments: [...manifest.segments, segment] };
}

/** Replaces compacted inputs by their output: pure. */
export function withCompaction(manifest: ShardManifest, inputs: readonly string[], output: SegmentMeta): ShardManifest {
  const gone = new Set(inputs);
  const kept = manifest.segments.filter((segment) => !gone.has(segment.file));
  if (kept.length !== manifest.segments.length - gone.size) throw new ManifestError(`compaction inputs ${inputs.join(",")} are not all in the manifest`);
  return { ...manifest, nextSegmentNumber: nextNumberAfter(manifest, output), segments: [...kept, output].sort((a, b) => a.minSeq - b.minSeq) };
}

function isFiniteInteger(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value);
}

/** Checks a parsed manifest field by field; a corrupt manifest is rejected, not read. */
export function validateManifest(value: unknown, shard: number): ShardManifest {
  const fail = (what: string): never => {
    throw new ManifestError(`manifest of shard ${shard}: ${what}`);
  };
  if (typeof value !== "object" || value === null) fail("not an object");
  const manifest = value as ShardManifest;
  if (manifest.version !== MANIFEST_VERSION) fail(`unsupported version ${String(manifest.version)}`);
  if (manifest.shard !== shard) fail(`belongs to shard ${String(manifest.shard)}`);
  if (!isFiniteInteger(manifest.lastSeq) || manifest.lastSeq < 0) fail("bad lastSeq");
  if (manifest.walFloor !== undefined && (!isFiniteInteger(manifest.walFloor) || manifest.walFloor < 0)) fail("bad walFloor");
  if (!isFiniteInteger(manifest.nextSegmentNumber) || manifest.nextSegmentNumber < 1) fail("bad nextSegmentNumber");
  if (!Array.isArray(manifest.segments)) fail("segments is not a list");
  for (const segment of manifest.segments) {
    if (typeof segment !== "object" || segment === null) fail("a segment entry is not an object");
    if (typeof segment.file !== "string" || !SEGMENT_FILE_PATTERN.test(segment.file)) fail(`bad segment file ${JSON.stringify(segment.file)}`);
    for (const key of ["rows", "bytes", "minTs", "maxTs", "minSeq", "maxSeq", "level"] as const) {
      if (!isFiniteInteger(segment[key])) fail(`segment ${segment.file}: bad ${key}`);
    }
    if (segment.minSeq > segment.maxSeq || segment.maxSeq > manifest.lastSeq) fail(`segment ${segment.file}: sequences out of range`);
    if (!Array.isArray(segment.tenants)) fail(`segment ${segment.file}: bad tenants`);
  }
  return manifest;
}

export function readManifest(path: string, shard: number): ShardManifest {
  if (!existsSync(path)) return emptyManifest(shard);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new ManifestError(`manifest ${path} is not valid JSON`, { cause: error });
  }
  return validateManifest(parsed, shard);
}

/** fsync a file or directory without blocking the event loop. */
export async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Replaces `path` by `data` atomically: write `tmpPath`, fsync it, rename it over
 * `path`. The rename is durable only once the caller fsyncs the directory.
 */
export async function replaceFileSynced(path: string, tmpPath: string, data: string | Uint8Array): Promise<void> {
  const file = await open(tmpPath, "w");
  try {
    await file.writeFile(data);
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(tmpPath, path);
}

/** Replaces the manifest atomically: write a temp file, fsync, rename, fsync the directory. */
export async function writeManifest(path: string, manifest: ShardManifest): Promise<void> {
  validateManifest(manifest, manifest.shard);
  await replaceFileSynced(path, `${path}.tmp`, JSON.stringify(manifest));
  await fsyncPath(dirname(path));
}
