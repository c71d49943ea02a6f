// Runs one shard's part of a search or aggregate against a store snapshot.

import type { DuckDBConnection } from "@duckdb/node-api";
import type { ShardAggregateRequest, ShardQueryReply, ShardQueryRequest } from "../protocol/query-messages.ts";
import { queryRows } from "../storage/duckdb.ts";
import { sqlPathLiteral, type DataPaths } from "../storage/paths.ts";
import { rowToEvent } from "../storage/schema.ts";
import type { StoreSnapshot } from "../storage/shard-store.ts";
import { segmentReadRows } from "../storage/segment-skip-indexes.ts";
import { aggregateRowOf, type AggregateRow } from "./aggregate.ts";
import { AGGREGATE_GROUPS_MAX, SHARD_REPLY_BYTES_MAX, WHOLE_ROWS_ASKED_MAX } from "./limits.ts";
import { aggregateSql, checkColumns, searchSql, sourceSql, whereSql } from "./sql.ts";
import { QueryError } from "./filter.ts";
import { addCountRows } from "./counter-aggregate.ts";
import { compareInOrder } from "./merge.ts";
import { pageSettled, planSearchWaves, type WaveSegment } from "./search-waves.ts";
import type { StoredEvent } from "../protocol/event.ts";
import { searchRecentRows } from "./shard-recent.ts";

/** Bytes of reply envelope reserved beside the rows. */
const REPLY_ENVELOPE_BYTES = 1024;

export class ReplyTooLargeError extends Error {
  readonly code = "bad_request";
}

/** Rough JSON size of an aggregate row, to keep a reply under the NATS payload budget. */
function aggregateRowBytes(row: AggregateRow): number {
  let bytes = 64;
  for (const key of row.key) bytes += typeof key === "string" ? key.length + 4 : 16;
  for (const state of row.f) bytes += Array.isArray(state) ? state.length * 24 + 8 : 24;
  for (const values of row.values ?? []) if (values) for (const value of values) bytes += value.length + 4;
  return bytes;
}

/** Thrown between two waves of a search that its server stopped (timeout or cancel) while no statement ran to interrupt. */
class QueryStoppedError extends Error {}

export interface ShardQueryOptions {
  /** Asked between a search's waves, so a stop that came while no statement ran still ends it (a DuckDB interrupt only ends a running one). */
  stopped?: () => boolean;
  /** Rows a search wave reads (SEARCH_WAVE_ROWS); tests lower it. */
  waveRows?: number;
}

export async function runShardQuery(connection: DuckDBConnection, paths: DataPaths, shard: number, snapshot: StoreSnapshot, request: ShardQueryRequest, options: ShardQueryOptions = {}): Promise<ShardQueryReply> {
  const started = performance.now();
  const stats = { shard, segmentsTotal: snapshot.segmentsTotal, segmentsSkipped: snapshot.segmentsSkipped };
  const segmentSource = (read: StoreSnapshot["segments"][number]) => ({ literal: sqlPathLiteral(paths, read.path), ranges: read.ranges });
  if (request.kind === "search") {
    const order = request.order ?? "newest";
    if (request.wholeFirst !== undefined && (!Number.isSafeInteger(request.wholeFirst) || request.wholeFirst < 0)) throw new QueryError("bad_parameter", "wholeFirst must be a whole number of rows");
    if (request.wholeColumns !== undefined) {
      if (!Array.isArray(request.wholeColumns)) throw new QueryError("bad_parameter", "wholeColumns must be a list of columns");
      checkColumns(request.wholeColumns);
    }
    const where = whereSql(request.tenant, request.filter, request.cursor, order);
    const compare = compareInOrder(order);
    const recent = searchRecentRows(snapshot, request, order);
    const segmentReads = recent?.segments ?? snapshot.segments;
    const memtableParts = recent?.memtableParts ?? snapshot.memtableParts;
    const segments: WaveSegment[] = segmentReads.map((read) => ({ minTs: read.segment.minTs, maxTs: read.segment.maxTs, rows: segmentReadRows(read) }));
    const waves = planSearchWaves(segments, order, options.waveRows);
    let rows: StoredEvent[] = recent?.rows ?? [];
    let rowsScanned = recent ? recent.scanned : snapshot.tableRows;
    // The mem tables (any time range) go with the first wave; later waves, and a first one with no part to read, only while they could still place a row.
    for (let wave = 0; wave < Math.max(1, waves.length); wave++) {
      if (wave > 0 && options.stopped?.()) throw new QueryStoppedError("stopped between waves");
      if ((wave > 0 || memtableParts.length === 0) && rows.length >= request.limit && pageSettled(segments, waves, wave, rows[request.limit - 1].timestampUs, order)) break;
      const reads = (waves[wave] ?? []).map((index) => segmentReads[index]);
      const source = sourceSql(wave === 0 ? memtableParts : [], reads.map(segmentSource));
      if (!source) continue;
      const query = searchSql(source, where, request.limit, order, request.columns);
      const found = (await queryRows(connection, query.sql, query.params)).map(rowToEvent);
      rows = rows.length === 0 ? found : [...rows, ...found].sort(compare).slice(0, request.limit);
      rowsScanned += (waves[wave] ?? []).reduce((sum, index) => sum + segments[index].rows, 0);
    }
    // A broad search's window may have its first rows whole, so its page needs no second read (keys-first.ts).
    let wholeRows = 0;
    if (request.wholeFirst && recent?.whole && rows.length > 0) {
      // At most WHOLE_ROWS_ASKED_MAX, whatever was asked: they are read on the event loop.
      const whole = recent.whole(rows.slice(0, Math.min(request.wholeFirst, WHOLE_ROWS_ASKED_MAX)), request.wholeColumns);
      rows = [...whole, ...rows.slice(whole.length)];
      wholeRows = whole.length;
    }
    // Keep the reply under the NATS payload budget; the gateway handles the cut.
    let bytes = REPLY_ENVELOPE_BYTES;
    let kept = 0;
    for (const row of rows) {
      bytes += row.message.length + row.metadata.length + row.service.length + row.hostname.length + row.traceId.length + 200;
      if (bytes > SHARD_REPLY_BYTES_MAX && kept > 0) break;
      kept++;
    }
    return { ok: true, kind: "search", rows: rows.slice(0, kept), truncated: kept < rows.length, ...(wholeRows > 0 ? { wholeRows: Math.min(wholeRows, kept) } : {}), tookMs: performance.now() - started, ...stats, rowsScanned };
  }
  // An aggregate reads every row of the snapshot; a search (above) counts only the waves it ran.
  const rowsScanned = snapshot.tableRows + snapshot.segments.reduce((sum, read) => sum + segmentReadRows(read), 0);
  const source = sourceSql(snapshot.memtableParts, snapshot.segments.map(segmentSource));
  if (!source) return { ok: true, kind: "aggregate", rows: [], overflow: false, tookMs: 0, ...stats, rowsScanned };
  const query = aggregateSql(source, whereSql(request.tenant, request.filter), request.spec);
  const found = await queryRows(connection, query.sql, query.params);
  const rows = found.slice(0, AGGREGATE_GROUPS_MAX).map((row) => aggregateRowOf(request.spec, row));
  let bytes = REPLY_ENVELOPE_BYTES;
  for (const row of rows) bytes += aggregateRowBytes(row);
  if (bytes > SHARD_REPLY_BYTES_MAX) {
    throw new ReplyTooLargeError(`the aggregate has ${rows.length} groups and too much per group for one reply; ask for fewer group_by fields, a wider interval or a narrower time range`);
  }
  return { ok: true, kind: "aggregate", rows, overflow: found.length > AGGREGATE_GROUPS_MAX, tookMs: performance.now() - started, ...stats, rowsScanned };
}

/**
 * An aggregate the per-minute counters answered for whole minutes (`counted`, read in
 * the snapshot's tick): scans only the partial minutes at the edges and adds them.
 */
export async function runCountedAggregate(
  connection: DuckDBConnection,
  paths: DataPaths,
  shard: number,
  snapshot: StoreSnapshot,
  request: ShardAggregateRequest,
  counted: readonly AggregateRow[],
  edges: readonly { fromUs: number; toUs: number }[],
): Promise<ShardQueryReply> {
  const started = performance.now();
  const scanned: AggregateRow[][] = [];
  let rowsScanned = 0;
  let edgeOverflow = false;
  for (const edge of edges) {
    // Only the segments the partial minute can be in: the edge's ts filter would discard the rest after opening them.
    const segments = snapshot.segments.filter((read) => read.segment.maxTs >= edge.fromUs && read.segment.minTs < edge.toUs);
    const reply = await runShardQuery(connection, paths, shard, { ...snapshot, segments }, { ...request, filter: { ...request.filter, ...edge } });
    if (!reply.ok || reply.kind !== "aggregate") return reply;
    scanned.push(reply.rows);
    rowsScanned += reply.rowsScanned;
    edgeOverflow ||= reply.overflow;
  }
  // counterRows gives each key once: with no edges there is nothing to add up or order.
  const rows = scanned.length === 0 && counted.length <= AGGREGATE_GROUPS_MAX ? counted : addCountRows(counted, ...scanned);
  return {
    ok: true,
    kind: "aggregate",
    rows: rows.slice(0, AGGREGATE_GROUPS_MAX),
    // An edge that kept only its largest groups may have left out some the counters do not hold.
    overflow: edgeOverflow || rows.length > AGGREGATE_GROUPS_MAX,
    fromCounters: true,
    shard,
    tookMs: performance.now() - started,
    segmentsTotal: snapshot.segmentsTotal,
    segmentsSkipped: snapshot.segmentsSkipped,
    rowsScanned,
  };
}
