// The files of one shard's segments: writing one (COPY to a temp file, its skip index
// beside it, fsync, rename, then read back and checked), reading several as one
// read_parquet, holding them while snapshots read them, deleting retired ones once no
// reader holds them, and removing the orphans a crash leaves behind. ShardStore owns
// the manifest and decides what is published; this class only handles the files.

import type { DuckDBConnection } from "@duckdb/node-api";
import { readdirSync, rmSync, statSync } from "node:fs";
import { rename } from "node:fs/promises";
import { assert } from "../actors/actor.ts";
import { execute, queryRows } from "./duckdb.ts";
import { SEGMENT_ROW_GROUP_ROWS } from "./limits.ts";
import { fsyncPath, type SegmentMeta } from "./manifest.ts";
import { sealTempPath, segmentOfSkipIndex, segmentPath, segmentsDir, SEGMENT_FILE_PATTERN, SKIP_INDEX_FILE_PATTERN, skipIndexPath, sqlPathLiteral, type DataPaths } from "./paths.ts";
import type { SkipIndex } from "./skip-index.ts";

/** One segment to write. */
export interface SegmentWrite {
  /** The rows, as a SELECT of the stored columns. */
  selectSql: string;
  fileName: string;
  /** Compaction level: 0 for a seal, one above its inputs' for a compaction. */
  level: number;
  /** Builds and writes the skip index of the Parquet file at `parquetPath` (the temp file); the directory fsync that follows makes it durable. */
  buildSkipIndex: (parquetPath: string) => Promise<SkipIndex | undefined>;
}

/**
 * How a segment of `level` is compressed. LZ4 for a seal (level 0), which sits on the
 * ingest path: zstd at level 1 took as long for a seal-sized COPY alone and wrote half
 * the bytes, but with it bench:compare's SDK run held 113k events/s against 130k (the
 * reads a seal and its queries make of the file cost more); LZ4 was ~25% faster than
 * snappy. zstd at level 1 for a compaction: on 500k Loghub-message rows it wrote ~30%
 * faster than DuckDB's default level (3) and no larger (29.4 against 29.8 bytes a row).
 */
function compressionOf(level: number): string {
  return level === 0 ? "lz4_raw" : "zstd, COMPRESSION_LEVEL 1";
}

export class SegmentFiles {
  /** Snapshots (and background index builds) reading each segment now. */
  private readers = new Map<string, number>();
  /** Segments out of the manifest, deleted once no reader holds them. */
  private retiredFiles = new Set<string>();

  constructor(
    private readonly paths: DataPaths,
    private readonly shard: number,
    private readonly now: () => number,
  ) {}

  /** Segments retired but still on disk (compaction must not plan them again). */
  get retired(): ReadonlySet<string> {
    return this.retiredFiles;
  }

  path(file: string): string {
    return segmentPath(this.paths, this.shard, file);
  }

  /** A read_parquet call over `segments` (at least one). */
  readSql(segments: readonly SegmentMeta[]): string {
    const list = segments.map((segment) => sqlPathLiteral(this.paths, this.path(segment.file))).join(", ");
    return `read_parquet([${list}])`;
  }

  /**
   * COPY to a temp file, build and write its skip index, fsync, rename, fsync the
   * directory (which makes both renames durable), then read it back and check it.
   */
  async write(connection: DuckDBConnection, segment: SegmentWrite): Promise<{ meta: SegmentMeta; skipIndex: SkipIndex | undefined }> {
    const paths = this.paths;
    const tmp = sealTempPath(paths, this.shard, segment.fileName);
    const final = this.path(segment.fileName);
    await execute(connection, `COPY (${segment.selectSql}) TO ${sqlPathLiteral(paths, tmp)} (FORMAT parquet, COMPRESSION ${compressionOf(segment.level)}, ROW_GROUP_SIZE ${SEGMENT_ROW_GROUP_ROWS})`);
    // Keys come from the file just written, not the memtable: Parquet's dictionaries
    // let DuckDB split repeated messages once (on bench rows, 30 ms of CPU against 70
    // for the memtable parts), and seal, compaction and rebuild share one path.
    const skipIndex = await segment.buildSkipIndex(tmp);
    // fsync off the main thread: a synchronous one stalls every shard's event loop.
    await fsyncPath(tmp);
    await rename(tmp, final);
    await fsyncPath(segmentsDir(paths, this.shard));
    const [row] = await queryRows(
      connection,
      `SELECT count(*) AS rows, min(ts) AS min_ts, max(ts) AS max_ts, min(seq) AS min_seq, max(seq) AS max_seq, list(DISTINCT tenant) AS tenants FROM read_parquet(${sqlPathLiteral(paths, final)})`,
    );
    const meta: SegmentMeta = {
      file: segment.fileName,
      rows: Number(row.rows),
      bytes: statSync(final).size,
      minTs: Number(row.min_ts),
      maxTs: Number(row.max_ts),
      minSeq: Number(row.min_seq),
      maxSeq: Number(row.max_seq),
      tenants: (row.tenants as string[]).slice().sort(),
      createdAtMs: this.now(),
      level: segment.level,
    };
    return { meta, skipIndex };
  }

  acquire(file: string): void {
    this.readers.set(file, (this.readers.get(file) ?? 0) + 1);
  }

  release(file: string): void {
    const readers = (this.readers.get(file) ?? 1) - 1;
    if (readers > 0) this.readers.set(file, readers);
    else {
      this.readers.delete(file);
      this.deleteRetired(file);
    }
  }

  /** Marks a segment out of the manifest: deleted now, or when its last reader releases it. */
  retire(file: string): void {
    this.retiredFiles.add(file);
    if (!this.readers.has(file)) this.deleteRetired(file);
  }

  private deleteRetired(file: string): void {
    if (!this.retiredFiles.has(file)) return;
    this.retiredFiles.delete(file);
    // The index first: a crash between the two leaves an orphan segment, which the next open removes.
    rmSync(skipIndexPath(this.paths, this.shard, file), { force: true });
    rmSync(this.path(file), { force: true });
  }

  /**
   * Removes segment and skip index files not in the manifest (`segments`): they come
   * from a crash between write and publish (or between retire and delete). Then checks
   * that every listed segment is on disk at its listed size.
   */
  removeOrphans(segments: readonly SegmentMeta[]): void {
    const dir = segmentsDir(this.paths, this.shard);
    const listed = new Set(segments.map((segment) => segment.file));
    for (const name of readdirSync(dir)) {
      if (listed.has(name)) continue;
      const orphanIndex = SKIP_INDEX_FILE_PATTERN.test(name) && !listed.has(segmentOfSkipIndex(name));
      if (SEGMENT_FILE_PATTERN.test(name) || name.endsWith(".tmp") || orphanIndex) rmSync(`${dir}/${name}`, { force: true });
    }
    for (const segment of segments) {
      const path = this.path(segment.file);
      let size = -1;
      try {
        size = statSync(path).size;
      } catch (error) {
        throw new Error(`shard ${this.shard}: segment ${path} is listed in the manifest but missing`, { cause: error });
      }
      assert(size === segment.bytes, `shard ${this.shard}: segment ${path} is ${size} bytes, the manifest says ${segment.bytes}`);
    }
  }
}
