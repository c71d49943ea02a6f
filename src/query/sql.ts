// Search and aggregate SQL for one shard's snapshot. Pure: user values travel only
// as bound parameters; identifiers come from fixed lists or validated names.

import type { SqlParam } from "../storage/duckdb.ts";
import { COLUMN_NAMES, COLUMNS, levelIndex, NEWEST_FIRST_SQL, OLDEST_FIRST_SQL, parseEventId } from "../storage/schema.ts";
import { aggregateSelectSql, type AggregateSpec } from "./aggregate.ts";
import { QueryError, type Cursor, type SearchFilter, type SearchOrder } from "./filter.ts";
import { AGGREGATE_GROUPS_MAX } from "./limits.ts";
import { planPredicate } from "./planner.ts";

/** A memtable part's file as an SQL literal (sqlPathLiteral's form). */
const PART_LITERAL = /^'\/[^'"\\\u0000-\u001f]+\.parquet'$/;
/** Columns a search always reads: its order and the event id. */
export const ORDER_COLUMNS: readonly string[] = ["ts", "ingest_ts", "seq", "idx"];
const STORED_COLUMNS: ReadonlySet<string> = new Set(COLUMNS.map(([name]) => name));

export interface Sql {
  sql: string;
  params: SqlParam[];
}

/** A segment file to read (a quoted path literal), all of it or only some row ranges [start, end). */
export interface SegmentSource {
  literal: string;
  ranges: readonly { start: number; end: number }[] | null;
}

/**
 * The rows of memtable parts (`parts`, Parquet files as SQL literals) and segments as
 * one relation (UNION ALL; null when there is nothing to read). Parts, and segments
 * read whole, share a read_parquet each; a segment narrowed by its skip index is read range by range, each a
 * file_row_number interval, which DuckDB turns into row groups left unread (an OR of
 * intervals in one scan was not pruned so).
 */
export function sourceSql(memtableParts: readonly string[], segments: readonly SegmentSource[]): string | null {
  const parts: string[] = [];
  for (const part of memtableParts) if (!PART_LITERAL.test(part)) throw new Error(`invalid memtable part ${JSON.stringify(part)}`);
  if (memtableParts.length > 0) parts.push(`SELECT ${COLUMN_NAMES} FROM read_parquet([${memtableParts.join(", ")}])`);
  const whole = segments.filter((segment) => segment.ranges === null).map((segment) => segment.literal);
  if (whole.length > 0) parts.push(`SELECT ${COLUMN_NAMES} FROM read_parquet([${whole.join(", ")}])`);
  for (const segment of segments) {
    for (const range of segment.ranges ?? []) {
      if (!Number.isSafeInteger(range.start) || !Number.isSafeInteger(range.end)) throw new Error(`invalid row range ${JSON.stringify(range)}`);
      parts.push(`SELECT ${COLUMN_NAMES} FROM read_parquet(${segment.literal}, file_row_number = true) WHERE file_row_number >= ${range.start} AND file_row_number < ${range.end}`);
    }
  }
  return parts.length === 0 ? null : parts.join(" UNION ALL ");
}

export function whereSql(tenant: string, filter: SearchFilter, cursor?: Cursor, order: SearchOrder = "newest"): Sql {
  const clauses: string[] = [];
  const params: SqlParam[] = [];
  const bind = (value: SqlParam): string => {
    params.push(value);
    return `$${params.length}`;
  };
  const oneOf = (column: string, values: readonly SqlParam[]): void => {
    if (values.length === 0) return;
    clauses.push(values.length === 1 ? `${column} = ${bind(values[0])}` : `${column} IN (${values.map(bind).join(", ")})`);
  };
  clauses.push(`tenant = ${bind(tenant)}`);
  if (filter.fromUs !== undefined) clauses.push(`ts >= ${bind(filter.fromUs)}`);
  if (filter.toUs !== undefined) clauses.push(`ts < ${bind(filter.toUs)}`);
  oneOf("service", filter.services);
  oneOf("level", filter.levels.map(levelIndex));
  oneOf("hostname", filter.hostnames);
  oneOf("trace_id", filter.traceIds);
  if (filter.eventIds && filter.eventIds.length > 0) {
    const matches = filter.eventIds.map((id) => {
      const at = parseEventId(id);
      if (!at) throw new QueryError("bad_parameter", `${JSON.stringify(id.slice(0, 64))} is not an event id`);
      return `(ingest_ts = ${bind(at.ingestUs)} AND seq = ${bind(at.seq)} AND idx = ${bind(at.index)})`;
    });
    clauses.push(`(${matches.join(" OR ")})`);
  }
  if (filter.query) clauses.push(planPredicate(filter.query, bind));
  if (cursor) {
    // Rows after the cursor in the search's order: the id is (ingest_ts, seq, idx).
    const after = order === "newest" ? "<" : ">";
    const at = parseEventId(cursor.id);
    if (!at) throw new QueryError("bad_cursor", "cursor is not one this server issued");
    const ts = bind(cursor.ts);
    const ingest = bind(at.ingestUs);
    const seq = bind(at.seq);
    clauses.push(`(ts ${after} ${ts} OR (ts = ${ts} AND (ingest_ts ${after} ${ingest} OR (ingest_ts = ${ingest} AND (seq ${after} ${seq} OR (seq = ${seq} AND idx ${after} ${bind(at.index)}))))))`);
  }
  return { sql: clauses.join(" AND "), params };
}

/** Throws for a column no row has (a projection comes from the wire). */
export function checkColumns(columns: readonly string[]): void {
  for (const column of columns) if (!STORED_COLUMNS.has(column)) throw new QueryError("bad_parameter", `unknown column ${JSON.stringify(column)}`);
}

/** In the search's order (newest first by default); ties broken by id so pages never skip or repeat. */
export function searchSql(source: string, where: Sql, limit: number, order: SearchOrder = "newest", columns?: readonly string[]): Sql {
  let list = COLUMN_NAMES;
  if (columns) {
    checkColumns(columns);
    list = [...new Set([...ORDER_COLUMNS, ...columns])].join(", ");
  }
  return {
    sql: `SELECT ${list} FROM (${source}) WHERE ${where.sql} ORDER BY ${order === "newest" ? NEWEST_FIRST_SQL : OLDEST_FIRST_SQL} LIMIT ${Math.trunc(limit)}`,
    params: where.params,
  };
}

/** A shard's groups, largest first, one past the bound so the merge knows of overflow. */
export function aggregateSql(source: string, where: Sql, spec: AggregateSpec): Sql {
  const params = [...where.params];
  const select = aggregateSelectSql(spec, (value) => {
    params.push(value);
    return `$${params.length}`;
  });
  return {
    sql: `SELECT ${select} FROM (${source}) WHERE ${where.sql} GROUP BY ALL ORDER BY n DESC LIMIT ${AGGREGATE_GROUPS_MAX + 1}`,
    params,
  };
}
