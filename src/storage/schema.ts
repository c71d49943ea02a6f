// The stored row layout shared by memtables and segments, and the one place that
// turns an event into the NDJSON line DuckDB bulk-loads (DESIGN.md: let DuckDB
// parse in bulk; JSON.stringify per row measured ~1M rows/s here, the Appender ~0.3M).

import { LEVELS, type Level, type NormalizedEvent, type StoredEvent } from "../protocol/event.ts";

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

/** The `columns=` argument of read_ndjson, so DuckDB never guesses types. */
export const NDJSON_COLUMNS_SPEC = `{${COLUMNS.map(([name, type]) => `${name}: '${type}'`).join(", ")}}`;

const LEVEL_INDEX: Record<Level, number> = Object.fromEntries(LEVELS.map((level, index) => [level, index])) as Record<Level, number>;

export function levelIndex(level: Level): number {
  return LEVEL_INDEX[level];
}

/**
 * The event id: fixed-width hex of (stored time µs, stream sequence, index in the
 * message). It sorts by ingest order, is unique in the stream, and a replay of the
 * same WAL message produces the same id.
 */
export function eventId(ingestUs: number, seq: number, index: number): string {
  return ingestUs.toString(16).padStart(13, "0") + seq.toString(16).padStart(12, "0") + index.toString(16).padStart(5, "0");
}

/** Most events one WAL message may carry: the id reserves five hex digits for the index. */
export const EVENTS_PER_MESSAGE_MAX = 0xfffff;

export function encodeRow(event: NormalizedEvent, tenant: string, ingestUs: number, seq: number, index: number): string {
  return JSON.stringify({
    id: eventId(ingestUs, seq, index),
    ts: event.timestampUs > 0 ? event.timestampUs : ingestUs,
    ingest_ts: ingestUs,
    seq,
    tenant,
    level: LEVEL_INDEX[event.level],
    service: event.service,
    hostname: event.hostname,
    trace_id: event.traceId,
    span_id: event.spanId,
    message: event.message,
    metadata: event.metadata,
  });
}

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
