// Every path Sluice writes under its data directory is built here (VictoriaLogs'
// filenames.go): nothing else joins storage paths by hand.

import { join, resolve } from "node:path";

export interface DataPaths {
  root: string;
  nats: string;
  tmp: string;
  shards: string;
}

export function dataPaths(dataDir: string): DataPaths {
  const root = resolve(dataDir);
  return { root, nats: join(root, "nats"), tmp: join(root, "tmp"), shards: join(root, "shards") };
}

export function shardName(shard: number): string {
  return `shard-${String(shard).padStart(3, "0")}`;
}

export function shardDir(paths: DataPaths, shard: number): string {
  return join(paths.shards, shardName(shard));
}

export function segmentsDir(paths: DataPaths, shard: number): string {
  return join(shardDir(paths, shard), "segments");
}

export function manifestPath(paths: DataPaths, shard: number): string {
  return join(shardDir(paths, shard), "manifest.json");
}

/** Segment ids are zero-padded counters so names sort in creation order. */
export function segmentFileName(segmentNumber: number): string {
  return `seg-${String(segmentNumber).padStart(10, "0")}.parquet`;
}

export const SEGMENT_FILE_PATTERN = /^seg-\d{10}\.parquet$/;

/** The number in a segment file name (inverse of segmentFileName). */
export function segmentNumberOf(fileName: string): number {
  if (!SEGMENT_FILE_PATTERN.test(fileName)) throw new Error(`invalid segment file name ${JSON.stringify(fileName)}`);
  return Number(fileName.slice(4, 14));
}

export function segmentPath(paths: DataPaths, shard: number, fileName: string): string {
  if (!SEGMENT_FILE_PATTERN.test(fileName)) throw new Error(`invalid segment file name ${JSON.stringify(fileName)}`);
  return join(segmentsDir(paths, shard), fileName);
}

/** A segment's skip index (skip-index.ts) sits beside it, named after it. */
export function skipIndexPath(paths: DataPaths, shard: number, segmentFileName: string): string {
  return `${segmentPath(paths, shard, segmentFileName)}.skip`;
}

/** Where a skip index is written before it is renamed into place (removed at open like other temp files). */
export function skipIndexTempPath(paths: DataPaths, shard: number, segmentFileName: string): string {
  return `${skipIndexPath(paths, shard, segmentFileName)}.tmp`;
}

export const SKIP_INDEX_FILE_PATTERN = /^seg-\d{10}\.parquet\.skip$/;

/** The segment a skip index file belongs to (inverse of skipIndexPath's file name). */
export function segmentOfSkipIndex(fileName: string): string {
  if (!SKIP_INDEX_FILE_PATTERN.test(fileName)) throw new Error(`invalid skip index file name ${JSON.stringify(fileName)}`);
  return fileName.slice(0, -".skip".length);
}

/**
 * A memtable part (one flush's rows, memtable-parts.ts). Named for the process that
 * wrote it (`owner`, a random token: a pid repeats, as PID 1 in every container start),
 * so a store opening removes what a crashed process left without touching its own.
 */
export function memtablePartPath(paths: DataPaths, shard: number, owner: string, part: number): string {
  if (!/^[0-9a-f]{16}$/.test(owner)) throw new Error(`invalid memtable part owner ${JSON.stringify(owner)}`);
  return join(paths.tmp, `${shardName(shard)}.mem-${owner}-${part}.parquet`);
}

/** The owner token of a memtable part file of `shard` (or "" for the NDJSON flush file of earlier versions); undefined for any other file. */
export function memtablePartOwner(shard: number, fileName: string): string | undefined {
  if (fileName === `${shardName(shard)}.flush.ndjson`) return "";
  const match = new RegExp(`^${shardName(shard)}\\.mem-([0-9a-f]+)-\\d+\\.parquet$`).exec(fileName);
  return match ? match[1] : undefined;
}

export function sealTempPath(paths: DataPaths, shard: number, fileName: string): string {
  return join(segmentsDir(paths, shard), `${fileName}.tmp`);
}

/**
 * Paths are inlined into DuckDB SQL only after this check: absolute, inside the data
 * directory, and free of quotes and control characters.
 */
export function sqlPathLiteral(paths: DataPaths, path: string): string {
  if (!path.startsWith(paths.root + "/") || /['"\\\u0000-\u001f]/.test(path)) {
    throw new Error(`refusing to pass path ${JSON.stringify(path)} to DuckDB`);
  }
  return `'${path}'`;
}
