// The stored row layout shared by memtables and segments. Rows reach DuckDB as NDJSON
// bulk-loaded by read_ndjson (DESIGN.md: let DuckDB parse in bulk; the Appender ran
// ~0.3M rows/s from JS here); RowBuffer writes that NDJSON.

import { LEVELS, type Level, type StoredEvent } from "../protocol/event.ts";

/** Column order of every memtable and segment. level is the index into LEVELS. */
export const COLUMNS = [
  ["id", "VARCHAR"],
  ["ts", "BIGINT"],
  ["ingest_ts", "BIGINT"],
  ["seq", "BIGINT"],
  ["tenant", "VARCHAR"],
  ["level", "UTINYINT"],
  ["service", "VARCHAR"],
  ["hostname", "VARCHAR"],
  ["trace_id", "VARCHAR"],
  ["span_id", "VARCHAR"],
  ["message", "VARCHAR"],
  ["metadata", "VARCHAR"],
] as const;

export const COLUMN_NAMES = COLUMNS.map(([name]) => name).join(", ");

export function createTableSql(table: string): string {
  return `CREATE TABLE ${table} (${COLUMNS.map(([name, type]) => `${name} ${type}`).join(", ")})`;
}

/**
 * Columns of the NDJSON rows RowBuffer writes: the stored columns less `id`, plus the
 * event's index in its WAL message. DuckDB derives the id while loading (below), so
 * no id string is built per event in JS.
 */
export const NDJSON_COLUMNS_SPEC = `{${[...COLUMNS.filter(([name]) => name !== "id"), ["idx", "UINTEGER"]].map(([name, type]) => `${name}: '${type}'`).join(", ")}}`;

/** The SELECT list that turns loaded NDJSON rows into stored columns (same order as COLUMNS). */
export const NDJSON_SELECT_LIST = COLUMNS.map(([name]) => (name === "id" ? `printf('%013x%012x%05x', ingest_ts, seq, idx) AS id` : name)).join(", ");

const LEVEL_INDEX: Record<Level, number> = Object.fromEntries(LEVELS.map((level, index) => [level, index])) as Record<Level, number>;

export function levelIndex(level: Level): number {
  return LEVEL_INDEX[level];
}

/**
 * The event id (computed by DuckDB as rows load, see NDJSON_SELECT_LIST; this is the
 * same function for tests and tools): fixed-width hex of (stored time µs, stream sequence, index in the
 * message). It sorts by ingest order, is unique in the stream, and a replay of the
 * same WAL message produces the same id.
 */
export function eventId(ingestUs: number, seq: number, index: number): string {
  return ingestUs.toString(16).padStart(13, "0") + seq.toString(16).padStart(12, "0") + index.toString(16).padStart(5, "0");
}

/** Most events one WAL message may carry: the id reserves five hex digits for the index. */
export const EVENTS_PER_MESSAGE_MAX = 0xfffff;

function toNumber(value: unknown): number {
  return typeof value === "bigint" ? Number(value) : (value as number);
}

/** A DuckDB result row back into a StoredEvent. */
export function rowToEvent(row: Record<string, unknown>): StoredEvent {
  return {
    id: row.id as string,
    timestampUs: toNumber(row.ts),
    ingestTs: toNumber(row.ingest_ts),
    tenant: row.tenant as string,
    level: LEVELS[toNumber(row.level)] ?? "INFO",
    service: row.service as string,
    hostname: row.hostname as string,
    traceId: row.trace_id as string,
    spanId: row.span_id as string,
    message: row.message as string,
    metadata: row.metadata as string,
    seq: toNumber(row.seq),
  };
}
