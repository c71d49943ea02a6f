// The skip indexes of one shard's published segments: the filters held in memory,
// their builds (beside a seal or compaction, or in the background for a segment that
// has none) and the segment filtering a snapshot does with them. ShardStore owns the
// manifest and the segment files; it tells this class when a segment is adopted or
// retired, and lends it a way to hold a segment and to run background work.

import type { DuckDBConnection } from "@duckdb/node-api";
import { describe, nextTurn } from "../actors/supervisor.ts";
import { queryRows } from "./duckdb.ts";
import { mayMatch, type SkipTree } from "../query/skip-keys.ts";
import { fsyncPath, type SegmentMeta } from "./manifest.ts";
import { segmentPath, segmentsDir, skipIndexPath, skipIndexTempPath, sqlPathLiteral, type DataPaths } from "./paths.ts";
import type { MemtableSkipKeys } from "./row-skip-keys.ts";
import { keyHashMemo, openSkipIndex, SKIP_INDEX_BITS_PER_KEY, SkipIndex, skipIndexFits, writeSkipIndex, type KeyHashes, type RowRange } from "./skip-index.ts";
import { buildSkipIndex, parquetRowGroups, rowRunSql } from "./skip-index-build.ts";

/** A segment a query reads: all of it (`ranges` null) or only the row ranges its skip index let through. */
export interface SegmentRead {
  segment: SegmentMeta;
  ranges: RowRange[] | null;
}

/** Rows a segment read yields: all of the segment, or its ranges. */
export function segmentReadRows(read: SegmentRead): number {
  return read.ranges === null ? read.segment.rows : read.ranges.reduce((sum, range) => sum + range.end - range.start, 0);
}

export interface SegmentSkipIndexesOptions {
  paths: DataPaths;
  shard: number;
  /** The connection background builds run on. */
  connection: DuckDBConnection;
  /** Whether `file` is in the shard's manifest now. */
  isPublished: (file: string) => boolean;
  /** Holds `file` like a snapshot holds it (a compaction retiring it meanwhile deletes it only after); returns the release. */
  holdSegment: (file: string) => () => void;
  /** Runs one background build as compaction-priority storage work; rejects once the store is closed. */
  runBackground: (work: () => Promise<void>) => Promise<void>;
  /** Operational notes (prefixed with the shard by the store). */
  log: (line: string) => void;
}

/** What ShardStore reports of its skip indexes (see StoreStats). */
export interface SkipIndexStats {
  skipIndexBytes: number;
  segmentsUnindexed: number;
  skipIndexesUnderSized: number;
  skipIndexMs: number;
  skipIndexesFromRowKeys: number;
  skipIndexesListed: number;
}

export class SegmentSkipIndexes {
  /** Skip index of each published segment that has one (mapped, not on the heap); a segment absent here is always read. */
  private filters = new Map<string, SkipIndex>();
  private buildMs = 0;
  private built = { fromRowKeys: 0, listed: 0 };
  /** Segments whose index is to be built in the background, and whether that loop runs. */
  private backlog: string[] = [];
  private builderRunning = false;
  private builder: Promise<void> = Promise.resolve();
  /** Segments whose keys would pass SKIP_INDEX_BYTES_MAX: not tried again while the store is open. */
  private unindexable = new Set<string>();
  private closed = false;

  constructor(private readonly options: SegmentSkipIndexesOptions) {}

  /**
   * Reads the skip index of every segment in the manifest; returns the segments whose
   * index is to be built: those without a usable one (missing, torn, corrupt or of
   * another version), which are read by every query until rebuilt, and those whose
   * index is under-sized (fewer bits a key than this version gives), which is used
   * until its rebuild replaces it. Logged once per open, not per segment.
   */
  async load(segments: readonly SegmentMeta[]): Promise<string[]> {
    const unindexed: string[] = [];
    const unreadable: string[] = [];
    const underSized: string[] = [];
    for (const segment of segments) {
      try {
        const index = await openSkipIndex(skipIndexPath(this.options.paths, this.options.shard, segment.file));
        this.filters.set(segment.file, index);
        // One too large for an index at today's bits is kept as it is, not rebuilt (and refused) at every open.
        if (index.underSized && skipIndexFits(index.blocks.map((block) => block.keyCount))) underSized.push(segment.file);
      } catch (error) {
        unindexed.push(segment.file);
        if ((error as NodeJS.ErrnoException).code !== "ENOENT") unreadable.push(`${segment.file}: ${describe(error)}`);
      }
    }
    if (unindexed.length > 0) {
      const detail = unreadable.length > 0 ? `, ${unreadable.length} unreadable (${unreadable.slice(0, 3).join("; ")})` : "";
      this.options.log(`${unindexed.length} of ${segments.length} segments have no usable skip index${detail}; queries read them until it is rebuilt in the background`);
    }
    if (underSized.length > 0) {
      this.options.log(`${underSized.length} of ${segments.length} segments have a skip index of fewer than ${SKIP_INDEX_BITS_PER_KEY} bits a key (an older version's), which lets more row groups through; each is used until its rebuild in the background replaces it`);
    }
    return [...unindexed, ...underSized];
  }

  /**
   * Lists a Parquet file's skip keys and writes its index beside the segment it
   * becomes (`fileName`); undefined when there is none, which is safe: the segment is
   * then read by every query, and a failed build is tried again in the background.
   * The caller fsyncs the directory (with the segment's own rename).
   */
  async buildForSegment(connection: DuckDBConnection, parquetPath: string, fileName: string): Promise<SkipIndex | undefined> {
    try {
      return await this.writeIndex(connection, parquetPath, fileName, { syncDirectory: false });
    } catch (error) {
      this.options.log(`building the skip index of segment ${fileName} failed; every query reads it until the index is rebuilt: ${describe(error)}`);
      return undefined;
    }
  }

  /**
   * The index of a seal's Parquet file (`parquetPath`, becoming segment `fileName`)
   * from the keys listed as its rows were written: the file is asked which (seq, idx
   * range) of each message each row group holds (DuckDB writes a seal's rows in an
   * order of its own), and each row group gets the keys of those rows. A file holding
   * rows the keys were not listed for gets its keys listed from the file instead, as
   * do keys past the index bounds (the exact listing may still fit).
   */
  async buildFromRowKeys(connection: DuckDBConnection, parquetPath: string, fileName: string, keys: MemtableSkipKeys): Promise<SkipIndex | undefined> {
    let problem: string;
    try {
      const built = await this.timed(async () => {
        const literal = sqlPathLiteral(this.options.paths, parquetPath);
        const rowGroups = await parquetRowGroups(connection, literal);
        const rows = await queryRows(
          connection,
          `SELECT block, seq, min(idx) AS lo, max(idx) AS hi, count(*) AS n FROM (SELECT ${rowRunSql(rowGroups)} AS block, seq, idx FROM read_parquet(${literal}, file_row_number = true)) GROUP BY block, seq`,
        );
        const held = rows.map((row) => ({ block: Number(row.block), seq: Number(row.seq), lo: Number(row.lo), hi: Number(row.hi), rows: Number(row.n) }));
        const groups = await keys.rowGroupKeys(rowGroups, held);
        if (typeof groups === "string") return groups;
        const keyCounts = groups.map((group) => group.firsts.length);
        if (!skipIndexFits(keyCounts)) return "its keys as listed (with those of neighbouring rows) would pass SKIP_INDEX_BYTES_MAX";
        const index = SkipIndex.forBlocks(rowGroups, keyCounts);
        // A row group at a time, turning the event loop over between them: a seal-sized memtable's keys took 15-30 ms in one go.
        for (const [block, group] of groups.entries()) {
          index.addAllHashed(block, group.firsts, group.seconds);
          if (block < groups.length - 1) await nextTurn();
        }
        const persisted = await this.persist(fileName, index, { syncDirectory: false });
        this.built.fromRowKeys++;
        return persisted;
      });
      if (typeof built !== "string") return built;
      problem = built;
    } catch (error) {
      this.options.log(`building the skip index of segment ${fileName} from its rows' keys failed; every query reads it until the index is rebuilt: ${describe(error)}`);
      return undefined;
    }
    this.options.log(`segment ${fileName}: ${problem}; listing its skip keys from the file instead`);
    return this.buildForSegment(connection, parquetPath, fileName);
  }

  /**
   * The index of a compaction's output (the Parquet file at `parquetPath`, becoming
   * segment `fileName`) made of its inputs' indexes, when every input has one: the
   * output holds the inputs' rows in order (DuckDB preserves insertion order), so its
   * row groups' keys are theirs and need not be listed again. The order is checked
   * first (rows, sequences and times of each input's place in the output); an input
   * without an index, an output out of order or one past the index bounds gets its keys
   * listed as a seal's does.
   */
  async buildForCompaction(connection: DuckDBConnection, parquetPath: string, fileName: string, inputs: readonly SegmentMeta[]): Promise<SkipIndex | undefined> {
    const joined = this.joinedIndexOf(inputs);
    if (!joined) return this.buildForSegment(connection, parquetPath, fileName);
    try {
      const misplaced = await this.timed(() => this.misplacedInput(connection, parquetPath, inputs));
      if (misplaced === undefined) return await this.timed(() => this.persist(fileName, joined, { syncDirectory: false }));
      this.options.log(`compaction output ${fileName} does not hold input ${misplaced} where its inputs' order puts it; listing its skip keys instead`);
    } catch (error) {
      this.options.log(`joining the skip indexes of compaction output ${fileName} failed; every query reads it until the index is rebuilt: ${describe(error)}`);
      return undefined;
    }
    return this.buildForSegment(connection, parquetPath, fileName);
  }

  /**
   * The inputs' indexes one after another; undefined when an input has none (or one of
   * other rows), the join passes the index bounds, or blocks share a seed (inputs read
   * from version 4 files: joined, they would place keys alike; see blockSeed).
   */
  private joinedIndexOf(inputs: readonly SegmentMeta[]): SkipIndex | undefined {
    const parts: SkipIndex[] = [];
    for (const segment of inputs) {
      const part = this.filters.get(segment.file);
      if (part === undefined || part.rowCount !== segment.rows) return undefined;
      parts.push(part);
    }
    const joined = SkipIndex.concat(parts);
    return joined && new Set(joined.blocks.map((block) => block.seed)).size === joined.blocks.length ? joined : undefined;
  }

  /** The first input (file name) whose rows are not exactly at its place in the output, in `inputs` order; undefined when all are. */
  private async misplacedInput(connection: DuckDBConnection, parquetPath: string, inputs: readonly SegmentMeta[]): Promise<string | undefined> {
    const place = rowRunSql(inputs.map((segment) => segment.rows));
    const rows = await queryRows(
      connection,
      `SELECT ${place} AS place, count(*) AS rows, min(seq) AS min_seq, max(seq) AS max_seq, min(ts) AS min_ts, max(ts) AS max_ts FROM read_parquet(${sqlPathLiteral(this.options.paths, parquetPath)}, file_row_number = true) GROUP BY place ORDER BY place`,
    );
    const found: (OutputPlace | undefined)[] = new Array(inputs.length).fill(undefined);
    for (const row of rows) found[Number(row.place)] = { rows: Number(row.rows), minSeq: Number(row.min_seq), maxSeq: Number(row.max_seq), minTs: Number(row.min_ts), maxTs: Number(row.max_ts) };
    return firstMisplacedInput(inputs, found);
  }

  /**
   * Keeps a just-published segment's index in memory; without one, or with an
   * under-sized one (a compaction's join of older indexes), queues a background build
   * (unless it can have none).
   */
  adopt(fileName: string, skipIndex: SkipIndex | undefined): void {
    if (skipIndex) this.filters.set(fileName, skipIndex);
    if ((!skipIndex || skipIndex.underSized) && !this.unindexable.has(fileName)) this.scheduleBuilds([fileName]);
  }

  /** Drops the filters of segments leaving the manifest (their files go with the segments). */
  retire(fileNames: readonly string[]): void {
    for (const fileName of fileNames) this.filters.delete(fileName);
  }

  /** Queues segments for a skip index build and starts the builder if it is idle. */
  scheduleBuilds(fileNames: readonly string[]): void {
    this.backlog.push(...fileNames);
    if (this.builderRunning || this.backlog.length === 0 || this.closed) return;
    this.builderRunning = true;
    this.builder = this.buildBacklog();
  }

  /**
   * What to read of each segment whose skip index may hold what `tree` requires: the
   * row groups that may (all of a segment without an index); segments none of whose
   * row groups may are left out. Each key is hashed once, not once per row group.
   */
  filter(segments: readonly SegmentMeta[], tree: SkipTree, hashesOf: (key: string) => KeyHashes = keyHashMemo()): SegmentRead[] {
    if (tree === true) return segments.map((segment) => ({ segment, ranges: null }));
    const reads: SegmentRead[] = [];
    for (const segment of segments) {
      const index = this.filters.get(segment.file);
      // An index of other rows than the segment's (never written so) would skip wrongly: read it all.
      if (index === undefined || index.rowCount !== segment.rows) {
        reads.push({ segment, ranges: null });
        continue;
      }
      const ranges = index.rowRanges((block) => mayMatch(tree, (key) => index.blockHas(block, hashesOf(key))));
      if (ranges === null || ranges.length > 0) reads.push({ segment, ranges });
    }
    return reads;
  }

  stats(segments: readonly SegmentMeta[]): SkipIndexStats {
    return {
      skipIndexBytes: [...this.filters.values()].reduce((sum, index) => sum + index.byteLength, 0),
      segmentsUnindexed: segments.filter((segment) => !this.filters.has(segment.file)).length,
      skipIndexesUnderSized: segments.filter((segment) => this.filters.get(segment.file)?.underSized === true).length,
      skipIndexMs: Math.round(this.buildMs),
      skipIndexesFromRowKeys: this.built.fromRowKeys,
      skipIndexesListed: this.built.listed,
    };
  }

  /** Stops background builds; resolves once the one running (if any) is done. Never rejects. */
  close(): Promise<void> {
    this.closed = true;
    return this.builder;
  }

  /**
   * Builds missing skip indexes one at a time as compaction-priority work, so they
   * wait while the node is busy. Never rejects: a failed build is logged and the
   * segment stays unindexed (read by every query).
   */
  private async buildBacklog(): Promise<void> {
    try {
      while (!this.closed && this.backlog.length > 0) {
        const file = this.backlog.shift()!;
        // A retired segment is no longer published: segment names are never reused. An under-sized index is rebuilt; a full one is kept.
        if (this.filters.get(file)?.underSized === false || this.unindexable.has(file) || !this.options.isPublished(file)) continue;
        const release = this.options.holdSegment(file);
        try {
          await this.options.runBackground(() => this.indexPublishedSegment(file));
        } catch (error) {
          if (!this.closed) this.options.log(`building the skip index of segment ${file} failed; every query reads it: ${describe(error)}`);
        } finally {
          release();
        }
      }
    } finally {
      // Set in the same step as the last backlog check: a build queued after it starts a new loop.
      this.builderRunning = false;
    }
  }

  private async indexPublishedSegment(file: string): Promise<void> {
    const index = await this.writeIndex(this.options.connection, segmentPath(this.options.paths, this.options.shard, file), file, { syncDirectory: true });
    // A compaction may have retired the segment meanwhile; its index file goes with it.
    if (index && this.options.isPublished(file)) this.filters.set(file, index);
  }

  /**
   * Lists the skip keys of the Parquet file at `parquetPath` and writes the index of
   * segment `fileName` (then fsyncs the directory when asked); undefined when the keys
   * do not fit SKIP_INDEX_BYTES_MAX, which is logged and not tried again. Timed into
   * skipIndexMs, failures included.
   */
  private writeIndex(connection: DuckDBConnection, parquetPath: string, fileName: string, options: { syncDirectory: boolean }): Promise<SkipIndex | undefined> {
    return this.timed(async () => {
      const built = await buildSkipIndex(connection, sqlPathLiteral(this.options.paths, parquetPath));
      if (!built) {
        this.unindexable.add(fileName);
        this.options.log(`segment ${fileName} has more distinct keys than a skip index of SKIP_INDEX_BYTES_MAX holds; every query reads it`);
        return undefined;
      }
      const persisted = await this.persist(fileName, built, options);
      this.built.listed++;
      return persisted;
    });
  }

  /** Writes segment `fileName`'s index file (then fsyncs the directory when asked); returns it mapped from the file, not the heap copy. */
  private async persist(fileName: string, index: SkipIndex, options: { syncDirectory: boolean }): Promise<SkipIndex> {
    const { paths, shard } = this.options;
    const path = skipIndexPath(paths, shard, fileName);
    await writeSkipIndex(path, skipIndexTempPath(paths, shard, fileName), index);
    if (options.syncDirectory) await fsyncPath(segmentsDir(paths, shard));
    return index.mappedFrom(path);
  }

  /** Runs `work`, counting its wall time (failures included) into skipIndexMs. */
  private async timed<T>(work: () => Promise<T>): Promise<T> {
    const startedAt = performance.now();
    try {
      return await work();
    } finally {
      this.buildMs += performance.now() - startedAt;
    }
  }
}

/** What an input's place in a compaction output holds: its rows, sequences and times. */
export type OutputPlace = Pick<SegmentMeta, "rows" | "minSeq" | "maxSeq" | "minTs" | "maxTs">;

/**
 * The first input (file name) that `places` (the output's rows cut at the inputs'
 * sizes, in order) does not match exactly; undefined when every one does. Pure.
 */
export function firstMisplacedInput(inputs: readonly SegmentMeta[], places: readonly (OutputPlace | undefined)[]): string | undefined {
  const fields = ["rows", "minSeq", "maxSeq", "minTs", "maxTs"] as const;
  const wrong = inputs.find((segment, at) => {
    const place = places[at];
    return place === undefined || fields.some((field) => place[field] !== segment[field]);
  });
  return wrong?.file ?? (places.length > inputs.length ? inputs[inputs.length - 1]?.file : undefined);
}
