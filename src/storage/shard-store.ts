// The storage engine of one shard: rows wait in JS, are flushed into the memtable (a
// Parquet file per flush, every few joined into one, queryable at once), are sealed
// into an immutable Parquet segment (fsynced, verified, then published in the
// manifest) and small segments are compacted. Memtable work and segment work each run in order on their own chain,
// through the node-wide storage work queue; queries take a snapshot and never block them.
// Each segment gets a skip index (a bloom filter of its words, trace ids, services and
// hosts; segment-skip-indexes.ts) before it is published, so a query skips segments
// that cannot match; and every flushed row is counted per minute (MinuteCounts) as it
// becomes visible. A flush's files are in memtable-parts.ts; writing, holding
// and deleting segment files in segment-files.ts.

import type { DuckDBConnection } from "@duckdb/node-api";
import { mkdirSync } from "node:fs";
import { assert } from "../actors/actor.ts";
import { describe } from "../actors/supervisor.ts";
import type { SkipTree } from "../query/skip-keys.ts";
import { sourceSql } from "../query/sql.ts";
import { Duck, queryRows } from "./duckdb.ts";
import { FLUSH_BYTES_TRIGGER, MEMTABLE_JOIN_BYTES_MAX, MEMTABLE_JOIN_PARTS, RECENT_ROWS_MAX, SEAL_AGE_JITTER_FRACTION } from "./limits.ts";
import { emptyManifest, withCompaction, withSealedSegment, type SegmentMeta, type ShardManifest } from "./manifest.ts";
import { LocalManifestStore, type ManifestChange, type ManifestStore } from "./manifest-store.ts";
import { planCompaction, planIdleCompaction, type CompactionPlanOptions, DEFAULT_COMPACTION_PLAN } from "./compaction-plan.ts";
import { partLayout, type PartLayout } from "./memtable-part-rows.ts";
import { readMemtablePart, removeMemtableParts, removeOrphanMemtableParts, writeMemtablePart } from "./memtable-parts.ts";
import { joinedParquetFileParts } from "./parquet-writer.ts";
import { addSeriesCountsResult, MinuteCounts, minuteCountsBySeriesSql, minuteCountsSql, minuteSeriesSql } from "./minute-counts.ts";
import { segmentFileName, segmentsDir, sqlPathLiteral, type DataPaths } from "./paths.ts";
import { keyHashMemo, type SkipIndex } from "./skip-index.ts";
import { SegmentFiles } from "./segment-files.ts";
import { SegmentSkipIndexes, type SegmentRead } from "./segment-skip-indexes.ts";
import { chunksMayMatch, MemtableSkipKeys, type SkipKeyChunk } from "./row-skip-keys.ts";
import { MEMTABLE_PARQUET_COLUMNS, RowBuffer } from "./row-buffer.ts";
import { RecentRows } from "./recent-rows.ts";
import type { StorageWorkKind, StorageWorkScheduler } from "./work-scheduler.ts";
import { COLUMN_NAMES } from "./schema.ts";

export interface ShardStoreOptions {
  shard: number;
  paths: DataPaths;
  duck: Duck;
  /** Seal the memtable once it holds this many rows. */
  sealRowsMax: number;
  /** Seal once the oldest unsealed row is this old. */
  sealAgeMs: number;
  /** Seal once the memtable's serialized rows reach this many bytes. */
  sealBytesMax: number;
  /** Flush pending rows into the memtable at least this often. */
  flushIntervalMs: number;
  compaction?: CompactionPlanOptions;
  /** The node-wide queue storage work waits in; without one, work runs as soon as the shard's previous work is done. */
  scheduler?: StorageWorkScheduler;
  now?: () => number;
  /** In [0, 1): spreads seal times (see SEAL_AGE_JITTER_FRACTION). */
  random?: () => number;
  /** Operational notes (a skip index missing or unreadable, a background build failing); console.error when absent. */
  log?: (line: string) => void;
  /** Where the manifest is published; a local file when absent. */
  manifestStore?: ManifestStore;
  /** The WAL floor once the messages `sealing` are in a segment (see ShardManifest.walFloor); undefined keeps the manifest's. */
  walFloorAfter?: (sealing: readonly number[]) => number | undefined;
}

/** What one WAL message added to the pending rows (its bytes are in `pendingRowBuffer`). */
export interface PendingRows {
  rows: number;
  seq: number;
  /** When JetStream stored the message (ms): how long its rows have waited to become searchable. */
  storedMs: number;
}

/**
 * Rows not yet in a segment: one Parquet file per flush (its parts, memtable-parts.ts),
 * every MEMTABLE_JOIN_PARTS of them joined into one, read together. Before them,
 * DuckDB tables: appending to one long-lived table per shard cost ~4 µs a row with 16
 * shards taking turns, a CREATE TABLE AS per flush ~1 µs plus the parse of its NDJSON
 * (~2 µs).
 */
interface MemTable {
  /** The files holding this memtable's rows, one per flush or per MEMTABLE_JOIN_PARTS flushes joined. */
  parts: MemtablePart[];
  /** Files of parts a join replaced: a snapshot taken before the join may still read them, so they go with the table. */
  replacedPaths: string[];
  rows: number;
  bytes: number;
  /** WAL sequences of every message whose rows (or lack of rows) this table holds. */
  seqs: number[];
  firstRowAtMs: number;
  /** This table seals once its oldest row is this old: sealAgeMs less a random part, so shards do not seal in step. */
  sealAgeMs: number;
  readers: number;
  /** Its rows are in a published segment: no new snapshot includes it. */
  published: boolean;
  /** Its rows' skip keys, listed as they were written: its seal's skip index. */
  skipKeys: MemtableSkipKeys;
}

/** One flush's rows: its file, and what a snapshot rules it out by (as a segment's meta). */
interface MemtablePart {
  path: string;
  /** The path as an SQL literal (sqlPathLiteral), made once: every query and the seal read it. */
  literal: string;
  rows: number;
  /** Bytes of its file. */
  bytes: number;
  tenants: readonly string[];
  minTs: number;
  maxTs: number;
  /**
   * Its rows' skip keys by chunk (shared with its table's MemtableSkipKeys), or
   * undefined when they were given up: a trace id or a rare word then skips the part
   * as a skip index skips a segment. Under live ingest a shard holds tens of parts, and
   * DuckDB decodes every column of a part it reads whatever the filter passes.
   */
  keys: readonly SkipKeyChunk[] | undefined;
  /**
   * Where its values lie in its file, written one page a column (a one-flush part or a
   * join of them): a join takes them, and a search reads its page's rows from there
   * (memtable-part-rows.ts). Undefined for a part of several pages a column, and for
   * the parts of a join that failed.
   */
  layout: PartLayout | undefined;
  /** Whether a join may take it: a one-flush part, not in a join that failed. */
  joinable: boolean;
  /** Its rows' ordering and stream columns in memory (recent-rows.ts), or undefined past RECENT_ROWS_MAX. */
  recent: RecentRows | undefined;
}

/** A memtable part as a search may read it without DuckDB. */
export interface MemtableFileRead {
  path: string;
  rows: number;
  recent?: RecentRows;
  layout?: PartLayout;
}

/** What a query reads: memtable parts and segment files as of one moment. */
export interface StoreSnapshot {
  /** The memtables' part files, as SQL string literals (sqlPathLiteral). */
  memtableParts: string[];
  /** Each part's file, rows, recent rows and column layout, where it has them (same order as memtableParts). */
  memtableFiles?: MemtableFileRead[];
  /** Segments to read, newest last (manifest order), with their files, the row ranges to read of each, and recent rows where it has them. */
  segments: (SegmentRead & { path: string; recent?: RecentRows })[];
  /** Segments in the manifest. */
  segmentsTotal: number;
  /** Segments not read, for any reason (tenant, time range, skip index). */
  segmentsSkipped: number;
  /** Of segmentsSkipped, those only the skip index ruled out. */
  segmentsSkippedByIndex: number;
  /** Rows in the mem tables to read (a segment read's rows: segmentReadRows). */
  tableRows: number;
  /** The newest event time of the tenant's rows in any part or segment as of the snapshot, whatever the filter; -Infinity when it has none. Asked only by counted aggregates. */
  newestTs(): number;
  release(): void;
}

export interface SnapshotFilter {
  tenant: string;
  fromUs?: number;
  toUs?: number;
  /** Keys a segment must hold to be read (query/skip-keys.ts); segments without an index are always read. */
  skip?: SkipTree;
}

export interface StoreStats {
  shard: number;
  pendingRows: number;
  memtableRows: number;
  memtableBytes: number;
  segments: number;
  segmentRows: number;
  segmentBytes: number;
  lastSeq: number;
  seals: number;
  compactions: number;
  /** Wall milliseconds spent in DuckDB work of each kind since start: where storage time goes. */
  flushMs: number;
  sealMs: number;
  compactMs: number;
  /** Flush work items run (a seal's memtable swap counts as one), and joins of memtable parts. */
  flushes: number;
  partJoins: number;
  /** Bytes of skip index filters held in memory, segments that have none (read by every query), and segments whose index an older version wrote with fewer bits a key (used until rebuilt in the background). */
  skipIndexBytes: number;
  segmentsUnindexed: number;
  skipIndexesUnderSized: number;
  /** Wall milliseconds spent listing keys and building skip indexes (part of sealMs and compactMs, plus background builds). */
  skipIndexMs: number;
  /** Skip indexes built since start from keys listed as rows were written (seals), and by listing keys from a file in DuckDB (fallbacks, compactions of unjoinable inputs, background builds). */
  skipIndexesFromRowKeys: number;
  skipIndexesListed: number;
  /** Rows whose ordering and stream columns are held in memory for searches (recent-rows.ts; RECENT_ROWS_MAX bounds them). */
  recentRows: number;
  /** Entries of the per-minute counts (MINUTE_COUNT_ENTRIES_MAX bounds them), and whether they overflowed. */
  countEntries: number;
  countsOverflowed: boolean;
}

export class ShardStore {
  private manifest: ShardManifest;
  /** WAL sequences of the messages whose rows are pending (each has at least one). */
  private pendingSeqs: number[] = [];
  /**
   * Pending rows (its row count is the rows waiting for the next flush); the actor
   * writes here. A flush writes and empties it in one synchronous step, so no row
   * arrives in the middle of one.
   */
  private readonly rowBuffer = new RowBuffer();
  private pendingSinceMs = 0;
  /** Stored time of the oldest message whose rows are pending. */
  private pendingOldestStoredMs = Infinity;
  /** WAL messages that carried no storable event, waiting to ride along with the next flush. */
  private pendingEmptySeqs: number[] = [];
  private memTables: MemTable[] = [];
  private current!: MemTable;
  /**
   * Work that must run one at a time in order: "memtable" (flushes, the swap that
   * starts a seal) and "segment" (seal writes, compaction swaps, recovery reads; each
   * changes or reads the manifest).
   */
  private chains: Record<"memtable" | "segment", Promise<unknown>> = { memtable: Promise.resolve(), segment: Promise.resolve() };
  /** The compaction writing now, if any (it runs outside the chains; close waits for it). */
  private compaction: Promise<unknown> = Promise.resolve();
  private compacting = false;
  private lastFlushAtMs: number;
  private seals = 0;
  private compactions = 0;
  private nextSegmentNumber = 0;
  private workMs = { flush: 0, seal: 0, compact: 0 };
  private flushes = 0;
  private partJoins = 0;
  private closed = false;
  private readonly now: () => number;
  private readonly minuteCounts = new MinuteCounts();
  private readonly segmentFiles: SegmentFiles;
  private readonly skipIndexes: SegmentSkipIndexes;
  private readonly manifestStore: ManifestStore;
  /** Recent rows of sealed segments, by file, oldest seal first: evicted in that order past RECENT_ROWS_MAX. */
  private readonly recentSegments = new Map<string, RecentRows>();

  /**
   * One DuckDB connection per kind of work, because a connection runs one statement at
   * a time: seals (and recovery reads) on one, compactions and background index builds
   * on the other, so a seal never waits behind a compaction's rewrite. Flushes run no
   * statement (memtable-parts.ts).
   */
  private constructor(
    private readonly options: ShardStoreOptions,
    private readonly segmentConnection: DuckDBConnection,
    private readonly backgroundConnection: DuckDBConnection,
  ) {
    this.now = options.now ?? Date.now;
    this.manifestStore = options.manifestStore ?? new LocalManifestStore(options.paths, options.shard);
    // Loaded in open(), before anything reads it.
    this.manifest = emptyManifest(options.shard);
    this.lastFlushAtMs = this.now();
    this.segmentFiles = new SegmentFiles(options.paths, options.shard, this.now);
    this.skipIndexes = new SegmentSkipIndexes({
      paths: options.paths,
      shard: options.shard,
      connection: backgroundConnection,
      isPublished: (file) => this.manifest.segments.some((segment) => segment.file === file),
      holdSegment: (file) => {
        this.segmentFiles.acquire(file);
        return () => this.segmentFiles.release(file);
      },
      runBackground: (work) => this.runWork(work, "compact"),
      log: (line) => this.log(line),
    });
  }

  static async open(options: ShardStoreOptions): Promise<ShardStore> {
    mkdirSync(segmentsDir(options.paths, options.shard), { recursive: true });
    mkdirSync(options.paths.tmp, { recursive: true });
    removeOrphanMemtableParts(options.paths, options.shard);
    const connections = [await options.duck.connect(), await options.duck.connect()] as const;
    try {
      const store = new ShardStore(options, ...connections);
      store.manifest = await store.manifestStore.load();
      store.segmentFiles.removeOrphans(store.manifest.segments);
      await store.countSegments();
      const unindexed = await store.skipIndexes.load(store.manifest.segments);
      store.current = store.newMemTable();
      // Built at the lowest priority, not here: a reopened shard answers at once, reading those segments meanwhile.
      store.skipIndexes.scheduleBuilds(unindexed);
      return store;
    } catch (error) {
      for (const connection of connections) connection.closeSync();
      throw error;
    }
  }

  /**
   * Exact row counts by (tenant, service, level, minute) of every row a snapshot can
   * see: the manifest's segments (counted at open) and every flushed memtable part.
   * A part's rows are added in the same synchronous step that makes the part visible
   * to snapshot(), and seals and compactions only move rows, so a snapshot() and a
   * counts.sumGroups() taken in the same tick (no await between them) see exactly the same
   * rows. Rows replayed from the WAL after a restart come through flushes; the
   * partition actor drops messages segments already hold (durableSeqsFrom), so none
   * is counted twice.
   */
  get counts(): MinuteCounts {
    return this.minuteCounts;
  }

  /** See ShardManifest.walFloor. */
  get walFloor(): number {
    return this.manifest.walFloor ?? 0;
  }

  get pendingRowCount(): number {
    return this.rowBuffer.rows;
  }

  /** Bytes of the rows waiting for the next flush. */
  get pendingBytes(): number {
    return this.rowBuffer.length;
  }

  /** Stored time (ms) of the oldest message whose rows are not searchable yet; Infinity when none wait. */
  get oldestUnsearchableStoredMs(): number {
    return this.pendingOldestStoredMs;
  }

  /** Rows not yet in a published segment: pending, in the current memtable, and in one being sealed. */
  get unsealedRowCount(): number {
    return this.rowBuffer.rows + this.memTables.reduce((sum, table) => sum + (table.published ? 0 : table.rows), 0);
  }

  /** Where the actor serializes the next message's rows before calling append. */
  get pendingRowBuffer(): RowBuffer {
    return this.rowBuffer;
  }

  /**
   * Takes the rows of one WAL message. Messages may come in any order (a message lost
   * in flight is redelivered later); the actor drops ones it already holds or sealed.
   */
  append(rows: PendingRows): void {
    // The message's rows are in rowBuffer already: none were pending before them.
    if (this.rowBuffer.rows === rows.rows) this.pendingSinceMs = this.now();
    if (rows.storedMs < this.pendingOldestStoredMs) this.pendingOldestStoredMs = rows.storedMs;
    this.pendingSeqs.push(rows.seq);
  }

  /** Records a WAL message that carried no storable event, so the next seal acks it too. */
  skip(seq: number): void {
    this.pendingEmptySeqs.push(seq);
  }

  needsFlush(flushRowsTrigger: number): boolean {
    const pendingRows = this.rowBuffer.rows;
    if (pendingRows === 0) return this.pendingEmptySeqs.length > 0;
    return pendingRows >= flushRowsTrigger || this.rowBuffer.length >= FLUSH_BYTES_TRIGGER || this.now() - this.lastFlushAtMs >= this.options.flushIntervalMs;
  }

  needsSeal(): boolean {
    const rows = this.current.rows + this.rowBuffer.rows;
    if (rows === 0) return (this.current.seqs.length > 0 || this.pendingEmptySeqs.length > 0) && this.now() - this.lastFlushAtMs >= this.options.sealAgeMs;
    const oldest = this.current.rows > 0 ? this.current.firstRowAtMs : this.pendingSinceMs;
    return rows >= this.options.sealRowsMax || this.current.bytes >= this.options.sealBytesMax || this.now() - oldest >= this.current.sealAgeMs;
  }

  /** Moves pending rows into the memtable. */
  flush(): Promise<void> {
    return this.enqueue("memtable", async () => this.flushNow(), "flush");
  }

  /**
   * Seals everything appended so far into a segment and publishes it. Resolves with
   * the WAL sequences now durable: the caller acks exactly those. Only the memtable
   * swap waits in line with flushes; the segment is written beside later flushes, so
   * rows keep becoming searchable while a seal waits for its turn or runs.
   */
  async seal(): Promise<number[]> {
    const frozen = await this.enqueue("memtable", async () => {
      this.flushNow();
      const table = this.current;
      if (table.rows === 0) {
        // Only empty messages: nothing to write, but they may be acked now.
        const seqs = table.seqs;
        table.seqs = [];
        return seqs;
      }
      this.current = this.newMemTable();
      return table;
    }, "flush");
    if (Array.isArray(frozen)) return frozen;
    return this.enqueue("segment", async () => {
      const table = frozen;
      const fileName = this.reserveSegmentFileName();
      let written: Awaited<ReturnType<ShardStore["writeSegment"]>>;
      try {
        written = await this.writeSegment(this.segmentConnection, sourceSql(table.parts.map((part) => part.literal), [])!, fileName, 0, { keys: table.skipKeys });
      } finally {
        table.skipKeys.invalidate(); // used (or the seal failed): freed
      }
      const { meta, skipIndex } = written;
      assert(meta.rows === table.rows, `shard ${this.options.shard}: segment ${fileName} holds ${meta.rows} rows, memtable ${table.rows}`);
      // The seal copied the parts' rows in order: the segment's rows are theirs one after another.
      const recent = table.parts.every((part) => part.recent !== undefined) ? RecentRows.concat(table.parts.map((part) => part.recent!)) : undefined;
      // The memtable leaves snapshots in the same step the segment enters them: never both, never neither.
      await this.publishManifest(withSealedSegment(this.manifest, meta, Math.max(this.manifest.lastSeq, meta.maxSeq), this.options.walFloorAfter?.(table.seqs)), { added: [fileName], removed: [] }, () => {
        table.published = true;
        this.skipIndexes.adopt(fileName, skipIndex);
        if (recent) this.keepRecentSegment(fileName, recent);
      });
      this.seals++;
      this.dropIfUnused(table);
      return table.seqs;
    }, "seal");
  }

  /**
   * Publishes a higher WAL floor with no new segment: for messages made durable without
   * a seal (replays a segment already held, empty messages), so a shard that goes quiet
   * after them does not hold the WAL's trimming back. Chained behind seals.
   */
  publishWalFloor(walFloor: number): Promise<void> {
    return this.enqueue("segment", async () => {
      if (walFloor <= (this.manifest.walFloor ?? 0)) return;
      await this.publishManifest({ ...this.manifest, walFloor }, { added: [], removed: [] });
    });
  }

  /**
   * WAL sequences at or above `minSeq` that segments already hold: after a restart,
   * JetStream redelivers every unacked message from the lowest one on, and those that
   * were sealed before the crash must be acked, not stored twice.
   */
  durableSeqsFrom(minSeq: number): Promise<Set<number>> {
    return this.enqueue("segment", async () => {
      const segments = this.manifest.segments.filter((segment) => segment.maxSeq >= minSeq);
      if (segments.length === 0) return new Set<number>();
      const rows = await queryRows(this.segmentConnection, `SELECT DISTINCT seq FROM ${this.segmentFiles.readSql(segments)} WHERE seq >= $1`, [minSeq]);
      return new Set(rows.map((row) => Number(row.seq)));
    });
  }

  /**
   * Merges small segments when there are enough; resolves whether it merged any. The
   * merged file is written outside the segment chain (it waits in the scheduler, which
   * defers compaction under load), so seals never wait behind a compaction; only the
   * manifest swap is chained. One compaction runs at a time per shard (a call while one
   * runs resolves false), and only compaction removes segments, so the inputs are still
   * listed at the swap.
   */
  compact(options: { idle?: boolean } = {}): Promise<boolean> {
    // One at a time: a second would plan the same inputs.
    if (this.compacting) return Promise.resolve(false);
    this.compacting = true;
    const running = this.compactNow(options.idle === true).finally(() => (this.compacting = false));
    this.compaction = running.catch(() => false);
    return running;
  }

  private async compactNow(idle: boolean): Promise<boolean> {
    if (this.closed) return false;
    const plan = this.options.compaction ?? DEFAULT_COMPACTION_PLAN;
    // Idle (nothing sealed for COMPACTION_IDLE_AFTER_MS): two small segments are worth merging.
    const inputs = (idle ? planIdleCompaction : planCompaction)(this.manifest.segments, plan, this.segmentFiles.retired);
    if (!inputs) return false;
    const fileName = this.reserveSegmentFileName();
    // A plain concatenation in the inputs' order: sorting here doubled compaction's cost
    // in the ingest benchmark, and the order lets the output's skip index be the inputs'
    // indexes one after another instead of listing every key again (~5x the write).
    const level = Math.max(...inputs.map((segment) => segment.level)) + 1;
    const { meta, skipIndex } = await this.runWork(() => this.writeSegment(this.backgroundConnection, `SELECT ${COLUMN_NAMES} FROM ${this.segmentFiles.readSql(inputs)}`, fileName, level, { inputs }), "compact");
    const expectedRows = inputs.reduce((sum, segment) => sum + segment.rows, 0);
    assert(meta.rows === expectedRows, `shard ${this.options.shard}: compaction wrote ${meta.rows} rows of ${expectedRows}`);
    await this.enqueue("segment", async () => {
      await this.publishManifest(withCompaction(this.manifest, inputs.map((segment) => segment.file), meta), { added: [fileName], removed: inputs.map((segment) => segment.file) }, () => {
        this.skipIndexes.retire(inputs.map((segment) => segment.file));
        this.skipIndexes.adopt(fileName, skipIndex);
        for (const segment of inputs) this.recentSegments.delete(segment.file);
      });
      for (const segment of inputs) this.segmentFiles.retire(segment.file);
      this.compactions++;
    });
    return true;
  }

  /**
   * Takes a consistent read view; call release() when the query is done. A memtable
   * part or a segment is read when it holds the tenant and overlaps the time range (a
   * probe of one tenant among a busy one's parts read ~1 in 16 of them); a segment
   * also when its skip index (if it has one) may hold filter.skip.
   */
  snapshot(filter: SnapshotFilter): StoreSnapshot {
    const tables = this.memTables.filter((table) => !table.published);
    for (const table of tables) table.readers++;
    const holds = (file: { tenants: readonly string[]; minTs: number; maxTs: number }) =>
      file.tenants.includes(filter.tenant) && (filter.fromUs === undefined || file.maxTs >= filter.fromUs) && (filter.toUs === undefined || file.minTs < filter.toUs);
    const tree = filter.skip ?? true;
    const hashesOf = keyHashMemo();
    const mayMatchPart = (part: MemtablePart) => tree === true || part.keys === undefined || chunksMayMatch(part.keys, tree, hashesOf);
    const parts = tables.flatMap((table) => table.parts.filter((part) => holds(part) && mayMatchPart(part)));
    const inRange = this.manifest.segments.filter(holds);
    const reads = this.skipIndexes.filter(inRange, tree, hashesOf);
    const segments = reads.map((read) => read.segment);
    for (const segment of segments) this.segmentFiles.acquire(segment.file);
    const manifestSegments = this.manifest.segments;
    const newestTs = () => {
      let newest = -Infinity;
      const consider = (file: { tenants: readonly string[]; maxTs: number }) => {
        if (file.maxTs > newest && file.tenants.includes(filter.tenant)) newest = file.maxTs;
      };
      for (const table of tables) table.parts.forEach(consider);
      manifestSegments.forEach(consider);
      return newest;
    };
    let released = false;
    return {
      newestTs,
      memtableParts: parts.map((part) => part.literal),
      memtableFiles: parts,
      segments: reads.map((read) => ({ ...read, path: this.segmentFiles.path(read.segment.file), recent: this.recentSegments.get(read.segment.file) })),
      segmentsTotal: this.manifest.segments.length,
      segmentsSkipped: this.manifest.segments.length - segments.length,
      segmentsSkippedByIndex: inRange.length - segments.length,
      tableRows: parts.reduce((sum, part) => sum + part.rows, 0),
      release: () => {
        if (released) return;
        released = true;
        for (const table of tables) {
          table.readers--;
          try {
            this.dropIfUnused(table);
          } catch (error) {
            this.log(`removing memtable parts ${table.parts.map((part) => part.path).join(", ")} failed: ${describe(error)}`);
          }
        }
        for (const segment of segments) this.segmentFiles.release(segment.file);
      },
    };
  }

  stats(): StoreStats {
    const unpublished = this.memTables.filter((table) => !table.published);
    const memtableRows = unpublished.reduce((sum, table) => sum + table.rows, 0);
    const memtableBytes = unpublished.reduce((sum, table) => sum + table.bytes, 0);
    return {
      shard: this.options.shard,
      pendingRows: this.rowBuffer.rows,
      memtableRows,
      memtableBytes,
      segments: this.manifest.segments.length,
      segmentRows: this.manifest.segments.reduce((sum, segment) => sum + segment.rows, 0),
      segmentBytes: this.manifest.segments.reduce((sum, segment) => sum + segment.bytes, 0),
      lastSeq: this.manifest.lastSeq,
      seals: this.seals,
      compactions: this.compactions,
      flushMs: Math.round(this.workMs.flush),
      sealMs: Math.round(this.workMs.seal),
      compactMs: Math.round(this.workMs.compact),
      flushes: this.flushes,
      partJoins: this.partJoins,
      ...this.skipIndexes.stats(this.manifest.segments),
      recentRows: this.recentRowsHeld(),
      // Zero once overflowed: the overflow drops every entry.
      countEntries: this.minuteCounts.entries,
      countsOverflowed: this.minuteCounts.overflowed,
    };
  }

  /** Waits for queued storage work, then drops memtables. Unsealed rows are lost here by design: the WAL still has them. */
  async close(): Promise<void> {
    this.closed = true;
    const indexBuilds = this.skipIndexes.close();
    await Promise.all([this.chains.memtable, this.chains.segment, this.compaction, indexBuilds]);
    for (const table of this.memTables) this.dropParts(table);
    this.memTables = [];
    for (const connection of [this.segmentConnection, this.backgroundConnection]) connection.closeSync();
  }

  private enqueue<T>(chain: keyof ShardStore["chains"], work: () => Promise<T>, kind?: StorageWorkKind): Promise<T> {
    const next = this.chains[chain].then(() => this.runWork(work, kind));
    // The chain continues after a failure; the caller sees the error.
    this.chains[chain] = next.catch(() => undefined);
    return next;
  }

  /** Runs one item of storage work through the node-wide scheduler, timing it by kind. */
  private runWork<T>(work: () => Promise<T>, kind?: StorageWorkKind): Promise<T> {
    const timed = async () => {
      if (this.closed) throw new Error(`shard ${this.options.shard} store is closed`);
      const startedAt = performance.now();
      try {
        return await work();
      } finally {
        if (kind) this.workMs[kind] += performance.now() - startedAt;
        if (kind === "flush") this.flushes++;
      }
    };
    const scheduler = this.options.scheduler;
    return scheduler && kind ? scheduler.run(kind, timed) : timed();
  }

  /** A segment file name no other work of this shard uses (seals and compactions reserve theirs when they start). */
  private reserveSegmentFileName(): string {
    this.nextSegmentNumber = Math.max(this.nextSegmentNumber, this.manifest.nextSegmentNumber);
    return segmentFileName(this.nextSegmentNumber++);
  }

  private newMemTable(): MemTable {
    const sealAgeMs = this.options.sealAgeMs * (1 - SEAL_AGE_JITTER_FRACTION * (this.options.random ?? Math.random)());
    const table: MemTable = { parts: [], replacedPaths: [], rows: 0, bytes: 0, seqs: [], firstRowAtMs: 0, sealAgeMs, readers: 0, published: false, skipKeys: new MemtableSkipKeys() };
    this.memTables.push(table);
    return table;
  }

  /**
   * Writes the pending rows as a new part of the current memtable (memtable-parts.ts)
   * and counts them, in one synchronous step: the part joins the table with its counts
   * (see the counts getter). No DuckDB work: a flush is a file write.
   */
  private flushNow(): void {
    this.lastFlushAtMs = this.now();
    const table = this.current;
    for (const seq of this.pendingEmptySeqs) table.seqs.push(seq);
    this.pendingEmptySeqs = [];
    const buffer = this.rowBuffer;
    const seqs = this.pendingSeqs;
    this.pendingSeqs = [];
    this.pendingOldestStoredMs = Infinity;
    if (seqs.length === 0) {
      buffer.reset();
      return;
    }
    const keys = buffer.keys.take();
    try {
      const fileParts = buffer.parquetParts();
      const part = writeMemtablePart(this.options.paths, this.options.shard, fileParts);
      table.skipKeys.append(keys, buffer.rows);
      // Parts share their table's keys: once the table gave them up (past its byte bound), its parts do too.
      const partKeys = table.skipKeys.valid && keys ? keys.chunks : undefined;
      if (!table.skipKeys.valid) for (const earlier of table.parts) earlier.keys = undefined;
      const layout = partLayout(fileParts, buffer.rows);
      const recent = this.roomForRecentRows(buffer.rows) ? buffer.recentRows() : undefined;
      table.parts.push({ path: part.path, literal: sqlPathLiteral(this.options.paths, part.path), rows: buffer.rows, bytes: part.bytes, ...buffer.summary(), keys: partKeys, layout, joinable: layout !== undefined, recent });
      buffer.addMinuteCounts(this.minuteCounts);
      if (table.rows === 0) table.firstRowAtMs = this.pendingSinceMs || this.now();
      table.rows += buffer.rows;
      table.bytes += part.bytes;
      for (const seq of seqs) table.seqs.push(seq);
    } catch (error) {
      table.skipKeys.invalidate();
      throw error;
    } finally {
      // Written or failed, the rows leave the buffer (a failed flush fails the partition, which replays the WAL).
      buffer.reset();
    }
    // After the flush has committed its rows: a join only saves reads, and never fails the flush.
    this.joinLastParts(table);
  }

  /**
   * Writes a segment and its skip index: for a seal, from the keys listed as its rows
   * were written (`keys`); for a compaction's output, joined from its inputs' indexes
   * (`inputs`); else, or when those do not fit, listed from the file on `connection`.
   */
  private writeSegment(connection: DuckDBConnection, selectSql: string, fileName: string, level: number, from: { keys?: MemtableSkipKeys; inputs?: readonly SegmentMeta[] } = {}): Promise<{ meta: SegmentMeta; skipIndex: SkipIndex | undefined }> {
    const buildSkipIndex = (parquetPath: string) =>
      from.inputs
        ? this.skipIndexes.buildForCompaction(connection, parquetPath, fileName, from.inputs)
        : from.keys?.valid
          ? this.skipIndexes.buildFromRowKeys(connection, parquetPath, fileName, from.keys)
          : this.skipIndexes.buildForSegment(connection, parquetPath, fileName);
    return this.segmentFiles.write(connection, { selectSql, fileName, level, buildSkipIndex });
  }

  /**
   * Counts the rows of every segment in the manifest into `counts`: one GROUP BY over
   * them all, read back as numbers by series id (minuteCountsBySeriesSql) with the few
   * series names apart.
   */
  private async countSegments(): Promise<void> {
    if (this.manifest.segments.length === 0) return;
    const connection = this.backgroundConnection;
    // Temp tables are the connection's own, and a store counts its segments once, at open.
    await connection.run(`CREATE OR REPLACE TEMP TABLE open_minute_counts AS ${minuteCountsSql(this.segmentFiles.readSql(this.manifest.segments))}`);
    try {
      await connection.run(`CREATE OR REPLACE TEMP TABLE open_minute_series AS ${minuteSeriesSql("open_minute_counts")}`);
      const series = (await queryRows(connection, "SELECT tenant, service, level FROM open_minute_series ORDER BY sid")).map((row) => ({ tenant: String(row.tenant), service: String(row.service), level: Number(row.level) }));
      addSeriesCountsResult(this.minuteCounts, series, await connection.run(minuteCountsBySeriesSql("open_minute_counts", "open_minute_series")));
    } finally {
      await connection.run("DROP TABLE IF EXISTS open_minute_counts");
      await connection.run("DROP TABLE IF EXISTS open_minute_series");
    }
  }

  private log(line: string): void {
    (this.options.log ?? console.error)(`shard ${this.options.shard}: ${line}`);
  }

  /** Rows of recent rows held: the unsealed memtables' parts' and the sealed segments'. */
  private recentRowsHeld(): number {
    let rows = 0;
    for (const table of this.memTables) if (!table.published) for (const part of table.parts) rows += part.recent?.rows ?? 0;
    for (const recent of this.recentSegments.values()) rows += recent.rows;
    return rows;
  }

  /** Whether `rows` more recent rows fit under RECENT_ROWS_MAX, once sealed segments' are let go, oldest first, as needed. */
  private roomForRecentRows(rows: number): boolean {
    let held = this.recentRowsHeld();
    for (const [file, recent] of this.recentSegments) {
      if (held + rows <= RECENT_ROWS_MAX) break;
      this.recentSegments.delete(file);
      held -= recent.rows;
    }
    return held + rows <= RECENT_ROWS_MAX;
  }

  /** Holds a sealed segment's recent rows (newest), letting older ones go to stay under RECENT_ROWS_MAX. */
  private keepRecentSegment(file: string, recent: RecentRows): void {
    // The memtable's parts held these rows until now: their room is the segment's.
    this.recentSegments.set(file, recent);
    this.roomForRecentRows(0);
  }

  /** Writes the manifest durably, then switches to it; `alongside` runs in the same synchronous step. */
  private async publishManifest(next: ShardManifest, change: ManifestChange, alongside?: () => void): Promise<void> {
    await this.manifestStore.publish(next, change);
    this.manifest = next;
    alongside?.();
  }

  /**
   * Joins the table's last MEMTABLE_JOIN_PARTS parts into one file once each is a
   * one-flush part a join may take (joinable): their columns' values end to end (joinedParquetFileParts), no DuckDB work.
   * Synchronous like a flush (a copy of a few MB in the page cache), so the parts
   * change in one step. The replaced files go at once when no snapshot holds the
   * table, else with it. A failed join leaves them apart: it only saves reads.
   */
  private joinLastParts(table: MemTable): void {
    const last = table.parts.slice(-MEMTABLE_JOIN_PARTS);
    if (last.length < MEMTABLE_JOIN_PARTS || last.some((part) => !part.joinable || part.layout === undefined)) return;
    if (last.reduce((sum, part) => sum + part.bytes, 0) > MEMTABLE_JOIN_BYTES_MAX) return;
    let written: { path: string; bytes: number } | undefined;
    let joined: MemtablePart;
    try {
      const files = last.map((part) => ({ bytes: readMemtablePart(part.path), rows: part.rows, ranges: part.layout!.ranges }));
      for (const [index, file] of files.entries()) {
        // The file read back must be as long as the one written: a short or long one would join into a page that disagrees with its rows.
        if (file.bytes.length !== last[index].bytes) throw new Error(`part ${last[index].path} is ${file.bytes.length} bytes, ${last[index].bytes} written`);
      }
      const joinedParts = joinedParquetFileParts(MEMTABLE_PARQUET_COLUMNS, files);
      written = writeMemtablePart(this.options.paths, this.options.shard, joinedParts);
      const rows = last.reduce((sum, part) => sum + part.rows, 0);
      joined = {
        path: written.path,
        literal: sqlPathLiteral(this.options.paths, written.path),
        rows,
        bytes: written.bytes,
        tenants: [...new Set(last.flatMap((part) => part.tenants))],
        minTs: Math.min(...last.map((part) => part.minTs)),
        maxTs: Math.max(...last.map((part) => part.maxTs)),
        keys: last.every((part) => part.keys !== undefined) ? last.flatMap((part) => part.keys!) : undefined,
        layout: partLayout(joinedParts, rows),
        joinable: false,
        recent: last.every((part) => part.recent !== undefined) ? RecentRows.concat(last.map((part) => part.recent!)) : undefined,
      };
    } catch (error) {
      // Left to DuckDB as well: a part whose file did not read back as written is not read byte by byte.
      for (const part of last) {
        part.joinable = false;
        part.layout = undefined;
      }
      if (written) this.removePartsOrKeep(table, [written.path]);
      this.log(`joining ${last.length} memtable parts failed; they stay apart: ${describe(error)}`);
      return;
    }
    table.parts.splice(-last.length, last.length, joined);
    const replaced = last.map((part) => part.path);
    if (table.readers === 0) this.removePartsOrKeep(table, replaced);
    else table.replacedPaths.push(...replaced);
    this.partJoins++;
  }

  /** Removes part files now; those that cannot be removed go with the table (a failed removal must not fail the flush that joined them). */
  private removePartsOrKeep(table: MemTable, paths: readonly string[]): void {
    try {
      removeMemtableParts(paths);
    } catch (error) {
      table.replacedPaths.push(...paths);
      this.log(`removing memtable parts ${paths.join(", ")} failed; they go with the memtable: ${describe(error)}`);
    }
  }

  private dropParts(table: MemTable): void {
    removeMemtableParts([...table.parts.map((part) => part.path), ...table.replacedPaths]);
  }

  private dropIfUnused(table: MemTable): void {
    if (!table.published || table.readers > 0 || !this.memTables.includes(table)) return;
    this.memTables = this.memTables.filter((candidate) => candidate !== table);
    // Also once closed: close() removes only the tables still listed, and a seal that publishes after it began would leave its parts behind.
    this.dropParts(table);
  }
}
