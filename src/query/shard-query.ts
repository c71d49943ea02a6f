// Runs one shard's part of a search or aggregate against a store snapshot.

import type { DuckDBConnection } from "@duckdb/node-api";
import type { ShardAggregateRequest, ShardQueryReply, ShardQueryRequest } from "../protocol/query-messages.ts";
import { queryRows } from "../storage/duckdb.ts";
import { sqlPathLiteral, type DataPaths } from "../storage/paths.ts";
import { rowToEvent } from "../storage/schema.ts";
import type { StoreSnapshot } from "../storage/shard-store.ts";
import { aggregateRowOf, type AggregateRow } from "./aggregate.ts";
import { AGGREGATE_GROUPS_MAX, SHARD_REPLY_BYTES_MAX } from "./limits.ts";
import { aggregateSql, searchSql, sourceSql, whereSql } from "./sql.ts";
import { addCountRows } from "./counter-aggregate.ts";

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

export async function runShardQuery(connection: DuckDBConnection, paths: DataPaths, shard: number, snapshot: StoreSnapshot, request: ShardQueryRequest): Promise<ShardQueryReply> {
  const started = performance.now();
  const stats = { shard, segmentsTotal: snapshot.segmentsTotal, segmentsSkipped: snapshot.segmentsSkipped, rowsScanned: snapshot.rowsRead ?? 0 };
  const source = sourceSql(
    snapshot.tables,
    snapshot.segments.map((read) => ({ literal: sqlPathLiteral(paths, read.path), ranges: read.ranges })),
  );
  if (request.kind === "search") {
    if (!source) return { ok: true, kind: "search", rows: [], truncated: false, tookMs: 0, ...stats };
    const order = request.order ?? "newest";
    const query = searchSql(source, whereSql(request.tenant, request.filter, request.cursor, order), request.limit, order, request.columns);
    const rows = (await queryRows(connection, query.sql, query.params)).map(rowToEvent);
    // Keep the reply under the NATS payload budget; the gateway handles the cut.
    let bytes = REPLY_ENVELOPE_BYTES;
    let kept = 0;
    for (const row of rows) {
      bytes += row.message.length + row.metadata.length + row.service.length + row.hostname.length + row.traceId.length + 200;
      if (bytes > SHARD_REPLY_BYTES_MAX && kept > 0) break;
      kept++;
    }
    return { ok: true, kind: "search", rows: rows.slice(0, kept), truncated: kept < rows.length, tookMs: performance.now() - started, ...stats };
  }
  if (!source) return { ok: true, kind: "aggregate", rows: [], overflow: false, tookMs: 0, ...stats };
  const query = aggregateSql(source, whereSql(request.tenant, request.filter), request.spec);
  const found = await queryRows(connection, query.sql, query.params);
  const rows = found.slice(0, AGGREGATE_GROUPS_MAX).map((row) => aggregateRowOf(request.spec, row));
  let bytes = REPLY_ENVELOPE_BYTES;
  for (const row of rows) bytes += aggregateRowBytes(row);
  if (bytes > SHARD_REPLY_BYTES_MAX) {
    throw new ReplyTooLargeError(`the aggregate has ${rows.length} groups and too much per group for one reply; ask for fewer group_by fields, a wider interval or a narrower time range`);
  }
  return { ok: true, kind: "aggregate", rows, overflow: found.length > AGGREGATE_GROUPS_MAX, tookMs: performance.now() - started, ...stats };
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
  for (const edge of edges) {
    const reply = await runShardQuery(connection, paths, shard, snapshot, { ...request, filter: { ...request.filter, ...edge } });
    if (!reply.ok || reply.kind !== "aggregate") return reply;
    scanned.push(reply.rows);
    rowsScanned += reply.rowsScanned;
  }
  const rows = addCountRows(counted, ...scanned);
  return {
    ok: true,
    kind: "aggregate",
    rows: rows.slice(0, AGGREGATE_GROUPS_MAX),
    overflow: rows.length > AGGREGATE_GROUPS_MAX,
    fromCounters: true,
    shard,
    tookMs: performance.now() - started,
    segmentsTotal: snapshot.segmentsTotal,
    segmentsSkipped: snapshot.segmentsSkipped,
    rowsScanned,
  };
}
