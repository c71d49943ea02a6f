// Search and aggregate SQL for one shard's snapshot. Pure: user values travel only
// as bound parameters; identifiers come from fixed lists or validated names.

import type { SqlParam } from "../storage/duckdb.ts";
import { COLUMN_NAMES, levelIndex, NEWEST_FIRST_SQL, OLDEST_FIRST_SQL, parseEventId } from "../storage/schema.ts";
import { QueryError, type Cursor, type GroupByField, type SearchFilter, type SearchOrder } from "./filter.ts";
import { AGGREGATE_GROUPS_MAX } from "./limits.ts";
import { planPredicate } from "./planner.ts";

const TABLE_NAME = /^mem_s\d+_\d+$/;
const GROUP_COLUMNS: Record<GroupByField, string> = { service: "service", level: "level", hostname: "hostname" };

export interface Sql {
  sql: string;
  params: SqlParam[];
}

/** UNION ALL of the snapshot's memtables and segments; null when there is nothing to read. */
export function sourceSql(tables: readonly string[], segmentLiterals: readonly string[]): string | null {
  const parts = tables.map((table) => {
    if (!TABLE_NAME.test(table)) throw new Error(`invalid memtable name ${JSON.stringify(table)}`);
    return `SELECT ${COLUMN_NAMES} FROM ${table}`;
  });
  if (segmentLiterals.length > 0) parts.push(`SELECT ${COLUMN_NAMES} FROM read_parquet([${segmentLiterals.join(", ")}])`);
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

/** In the search's order (newest first by default); ties broken by id so pages never skip or repeat. */
export function searchSql(source: string, where: Sql, limit: number, order: SearchOrder = "newest"): Sql {
  return {
    sql: `SELECT ${COLUMN_NAMES} FROM (${source}) WHERE ${where.sql} ORDER BY ${order === "newest" ? NEWEST_FIRST_SQL : OLDEST_FIRST_SQL} LIMIT ${Math.trunc(limit)}`,
    params: where.params,
  };
}

export function aggregateSql(source: string, where: Sql, groupBy: GroupByField): Sql {
  const column = GROUP_COLUMNS[groupBy];
  return {
    sql: `SELECT ${column} AS key, count(*) AS count FROM (${source}) WHERE ${where.sql} GROUP BY 1 ORDER BY 2 DESC LIMIT ${AGGREGATE_GROUPS_MAX + 1}`,
    params: where.params,
  };
}
