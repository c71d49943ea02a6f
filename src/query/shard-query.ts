// Runs one shard's part of a search or aggregate against a store snapshot.

import type { DuckDBConnection } from "@duckdb/node-api";
import { LEVELS } from "../protocol/event.ts";
import type { ShardQueryReply, ShardQueryRequest } from "../protocol/query-messages.ts";
import { queryRows } from "../storage/duckdb.ts";
import { sqlPathLiteral, type DataPaths } from "../storage/paths.ts";
import { rowToEvent } from "../storage/schema.ts";
import type { StoreSnapshot } from "../storage/shard-store.ts";
import { AGGREGATE_GROUPS_MAX, SHARD_REPLY_BYTES_MAX } from "./limits.ts";
import { aggregateSql, searchSql, sourceSql, whereSql } from "./sql.ts";

/** Bytes of reply envelope reserved beside the rows. */
const REPLY_ENVELOPE_BYTES = 1024;

export async function runShardQuery(connection: DuckDBConnection, paths: DataPaths, shard: number, snapshot: StoreSnapshot, request: ShardQueryRequest): Promise<ShardQueryReply> {
  const started = performance.now();
  const stats = { shard, segmentsTotal: snapshot.segmentsTotal, segmentsSkipped: snapshot.segmentsSkipped };
  const source = sourceSql(
    snapshot.tables,
    snapshot.segmentPaths.map((path) => sqlPathLiteral(paths, path)),
  );
  if (request.kind === "search") {
    if (!source) return { ok: true, kind: "search", rows: [], truncated: false, tookMs: 0, ...stats };
    const order = request.order ?? "newest";
    const query = searchSql(source, whereSql(request.tenant, request.filter, request.cursor, order), request.limit, order);
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
  if (!source) return { ok: true, kind: "aggregate", groups: [], overflow: false, tookMs: 0, ...stats };
  const query = aggregateSql(source, whereSql(request.tenant, request.filter), request.groupBy);
  const rows = await queryRows(connection, query.sql, query.params);
  const groups: [string, number][] = rows.slice(0, AGGREGATE_GROUPS_MAX).map((row) => [request.groupBy === "level" ? (LEVELS[Number(row.key)] ?? "INFO") : String(row.key), Number(row.count)]);
  return { ok: true, kind: "aggregate", groups, overflow: rows.length > AGGREGATE_GROUPS_MAX, tookMs: performance.now() - started, ...stats };
}
