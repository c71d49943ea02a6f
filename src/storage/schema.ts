// The stored row layout shared by memtables and segments. Rows reach DuckDB as Parquet
// columns RowBuffer writes (no parse: read_ndjson cost ~2 µs a row, the Appender from
// JS ~3). Rows carry no id: it is derived from (ingest_ts, seq, idx) when rows are read
// (rowToEvent), which keeps a 30-byte unique string per event out of every part and segment.

import { LEVELS, type Level, type StoredEvent } from "../protocol/event.ts";

/** Column order of every memtable and segment. level is the index into LEVELS. */
export const COLUMNS = [
  ["ts", "BIGINT"],
  ["ingest_ts", "BIGINT"],
  ["seq", "BIGINT"],
  ["idx", "UINTEGER"],
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


/** Newest first; ties in time broken by (ingest_ts, seq, idx), which is id order. */
export const NEWEST_FIRST_SQL = "ts DESC, ingest_ts DESC, seq DESC, idx DESC";
/** Oldest first, the exact reverse. */
export const OLDEST_FIRST_SQL = "ts, ingest_ts, seq, idx";

const LEVEL_INDEX: Record<Level, number> = Object.fromEntries(LEVELS.map((level, index) => [level, index])) as Record<Level, number>;

export function levelIndex(level: Level): number {
  return LEVEL_INDEX[level];
}

/** The level a stored index stands for (an index no level has reads as INFO, the default). */
export function levelName(index: number): Level {
  return LEVELS[index] ?? "INFO";
}

/**
 * The event id: fixed-width hex of (stored time µs, stream sequence, index in the
 * message). It sorts by ingest order, is unique in the stream, and a replay of the
 * same WAL message produces the same id.
 */
export function eventId(ingestUs: number, seq: number, index: number): string {
  return ingestUs.toString(16).padStart(13, "0") + seq.toString(16).padStart(12, "0") + index.toString(16).padStart(5, "0");
}

/** The parts of an id (inverse of eventId); null when it is not one. */
export function parseEventId(id: string): { ingestUs: number; seq: number; index: number } | null {
  if (!/^[0-9a-f]{30}$/.test(id)) return null;
  return { ingestUs: parseInt(id.slice(0, 13), 16), seq: parseInt(id.slice(13, 25), 16), index: parseInt(id.slice(25), 16) };
}

/** The time an event is stored under: its own, or the WAL's stored time when it has none (0). */
export function storedTimestampUs(eventUs: number, ingestUs: number): number {
  return eventUs > 0 ? eventUs : ingestUs;
}

/** Most events one WAL message may carry: the id reserves five hex digits for the index. */
export const EVENTS_PER_MESSAGE_MAX = 0xfffff;

function toNumber(value: unknown): number {
  return typeof value === "bigint" ? Number(value) : (value as number);
}

/** A DuckDB result row back into a StoredEvent. */
export function rowToEvent(row: Record<string, unknown>): StoredEvent {
  return {
    id: eventId(toNumber(row.ingest_ts), toNumber(row.seq), toNumber(row.idx)),
    timestampUs: toNumber(row.ts),
    ingestTs: toNumber(row.ingest_ts),
    // A search that projects fields reads only their columns: the rest are empty.
    tenant: (row.tenant as string | undefined) ?? "",
    level: levelName(toNumber(row.level)),
    service: (row.service as string | undefined) ?? "",
    hostname: (row.hostname as string | undefined) ?? "",
    traceId: (row.trace_id as string | undefined) ?? "",
    spanId: (row.span_id as string | undefined) ?? "",
    message: (row.message as string | undefined) ?? "",
    metadata: (row.metadata as string | undefined) ?? "",
    seq: toNumber(row.seq),
  };
}
