// The rows waiting for a flush, held as columns: each column's values PLAIN-encoded
// as Parquet stores them, so a flush writes them out as a Parquet file (one memtable
// part, parquet-writer.ts) that DuckDB reads without parsing. The hot path copies a
// FlatBuffers batch's string bytes straight into the string columns, so an event is
// never decoded into JS strings and re-encoded.
//
// This replaced NDJSON rows bulk-loaded by read_ndjson: on Loghub-like events DuckDB
// spent ~2 µs a row parsing them into a table, the largest single cost of ingest. A
// row DuckDB would have refused is refused here instead, before anything is written:
// a stored time outside the safe integers, or a string that is not valid UTF-8.

import { isUtf8 as isWellFormedUtf8 } from "node:buffer";
import { LEVELS, type NormalizedEvent } from "../protocol/event.ts";
import type { EventRanges } from "../protocol/wal-batch.ts";
import { minuteOf, type MinuteCounts } from "./minute-counts.ts";
import { ConvertedType, GrowableBytes, parquetFileParts, ParquetType, type ParquetColumn, type ParquetColumnType } from "./parquet-writer.ts";
import { RecentRows } from "./recent-rows.ts";
import { RowSkipKeys, type RowSkipKeysMark } from "./row-skip-keys.ts";
import { COLUMNS, levelIndex } from "./schema.ts";

const encoder = new TextEncoder();
/** A leading U+FEFF is part of a value (DuckDB keeps it), not a byte-order mark to drop. */
const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
/** Bytes of a row's fixed-width values: ts, ingest_ts and seq (INT64), idx and level (INT32). */
const FIXED_BYTES_PER_ROW = 3 * 8 + 2 * 4;
/** Initial rows of capacity (fixed-width columns) and bytes (each string column); both double as needed. */
const INITIAL_ROWS = 4096;
const INITIAL_STRING_BYTES = 64 * 1024;
/** A column past this size that a flush used under a quarter of is given back (a burst's growth is not kept forever). */
const SHRINK_ABOVE_BYTES = 16 << 20;

/** Names of the string fields, in the order of EventRanges.strings, as a refusal names them. */
const STRING_FIELDS = ["service", "hostname", "trace_id", "span_id", "message", "metadata"] as const;

/** Where a RowBuffer stood (its rows, columns and their skip keys), to roll a bad message back to. */
export interface RowBufferMark {
  rows: number;
  strings: number[];
  keys: RowSkipKeysMark;
}

/** PLAIN BYTE_ARRAY values: each a 4-byte little-endian length, then the bytes. */
class StringColumn extends GrowableBytes {
  constructor() {
    super(INITIAL_STRING_BYTES);
  }

  /**
   * Appends bytes [first, first + length) of `source` as one value (the caller reserved
   * length + 4). Answers whether they are valid UTF-8: checked only when a byte of 0x80
   * or above was copied, which a plain byte loop notes for free; for the short strings
   * of a log row the loop also beat subarray + set, whose per-call objects dominated a profile.
   */
  putBytes(source: Uint8Array, first: number, length: number): boolean {
    const bytes = this.bytes;
    this.putLength(this.length, length);
    let out = this.length + 4;
    let seen = 0;
    for (let at = first, end = first + length; at < end; at++) {
      const byte = source[at];
      seen |= byte;
      bytes[out++] = byte;
    }
    this.length = out;
    return seen < 0x80 || isUtf8(source, first, first + length);
  }

  /** Appends a JS string as UTF-8 (TextEncoder writes a lone surrogate as U+FFFD: always valid). */
  putString(value: string): void {
    this.reserve(4 + value.length * 3);
    const at = this.length;
    const written = encoder.encodeInto(value, this.bytes.subarray(at + 4)).written;
    this.putLength(at, written);
    this.length = at + 4 + written;
  }

  /** A value's 4-byte little-endian length at `at`. */
  private putLength(at: number, length: number): void {
    const bytes = this.bytes;
    bytes[at] = length & 0xff;
    bytes[at + 1] = (length >>> 8) & 0xff;
    bytes[at + 2] = (length >>> 16) & 0xff;
    bytes[at + 3] = length >>> 24;
  }

  reset(): void {
    if (this.bytes.length > SHRINK_ABOVE_BYTES && this.length < this.bytes.length / 4) this.bytes = new Uint8Array(INITIAL_STRING_BYTES);
    this.length = 0;
  }
}

export class RowBuffer {
  rows = 0;
  /** ts, ingest_ts and seq as INT64 (two 32-bit words each, low first), idx and level as INT32. */
  private ts = new Uint32Array(2 * INITIAL_ROWS);
  private ingestTs = new Uint32Array(2 * INITIAL_ROWS);
  private seqs = new Uint32Array(2 * INITIAL_ROWS);
  private idx = new Uint32Array(INITIAL_ROWS);
  private levels = new Uint32Array(INITIAL_ROWS);
  /** Each row's (tenant, service) number in `seriesNames`, for the minute counts (not stored). */
  private series = new Uint32Array(INITIAL_ROWS);
  /** The (tenant, service) pairs the rows hold, numbered as they appear: key tenant + NUL + service. */
  private seriesIds = new Map<string, number>();
  private seriesNames: { tenant: string; service: string }[] = [];
  /** The message's tenant, and the series of its last row written from batch bytes (consecutive events usually share a service's bytes). */
  private tenantName = "";
  private lastServiceBatch: Uint8Array | undefined;
  private lastServiceStart = -1;
  private lastServiceLength = -1;
  private lastSeries = 0;
  /** Services seen under `byBytesTenant`, by a hash of their UTF-8 bytes (seriesOfBytes). */
  private byBytes = new Map<number, { bytes: Uint8Array; series: number }[]>();
  private byBytesTenant: string | undefined;
  private readonly tenants = new StringColumn();
  /** service, hostname, trace_id, span_id, message, metadata. */
  private readonly strings = [new StringColumn(), new StringColumn(), new StringColumn(), new StringColumn(), new StringColumn(), new StringColumn()];
  /** The message being written: its stored time and sequence (as INT64 words) and tenant (UTF-8). */
  private ingestLow = 0;
  private ingestHigh = 0;
  private seq = 0;
  private seqHigh = 0;
  private tenant = new Uint8Array(0);
  /** Least and greatest stored time of the rows (a rolled-back row may have widened them: a range, not exact). */
  private minTs = Infinity;
  private maxTs = -Infinity;
  /** Where each string column stood before the row being written (to undo a refused row). */
  private readonly rowStart = [0, 0, 0, 0, 0, 0];
  /** The skip keys of the rows, for the seal (row-skip-keys.ts). */
  readonly keys = new RowSkipKeys();

  /** Starts the rows of one WAL message: the fields every row of it shares. */
  beginMessage(ingestUs: number, seq: number, tenant: string): void {
    this.ingestHigh = Math.floor(ingestUs / 0x1_0000_0000);
    this.ingestLow = ingestUs >>> 0;
    this.seq = seq;
    this.seqHigh = Math.floor(seq / 0x1_0000_0000);
    this.tenant = encoder.encode(tenant);
    this.tenantName = tenant;
    this.lastServiceBatch = undefined;
  }

  /**
   * Appends one row from a FlatBuffers event, copying its string bytes from `batch`.
   * Answers undefined, or why the row was refused (and not written).
   */
  appendRanges(batch: Uint8Array, event: EventRanges, ts: number): string | undefined {
    if (!Number.isSafeInteger(ts)) return timeRefusal(event.index, ts);
    const ranges = event.strings;
    const strings = this.strings;
    for (let field = 0; field < 6; field++) {
      const length = ranges[2 * field + 1];
      const column = strings[field];
      const before = column.length;
      column.reserve(4 + length);
      if (!column.putBytes(batch, ranges[2 * field], length)) {
        column.length = before;
        for (let written = 0; written < field; written++) strings[written].length = this.rowStart[written];
        return `event ${event.index}: ${STRING_FIELDS[field]} is not valid UTF-8`;
      }
      this.rowStart[field] = before;
    }
    const start = ranges[0];
    const length = ranges[1];
    if (batch !== this.lastServiceBatch || start !== this.lastServiceStart || length !== this.lastServiceLength) {
      this.lastSeries = this.seriesOfBytes(batch, start, length);
      this.lastServiceBatch = batch;
      this.lastServiceStart = start;
      this.lastServiceLength = length;
    }
    this.endRow(ts, event.index, event.levelOrdinal, this.lastSeries);
    this.keys.addRanges(batch, ranges, event.levelOrdinal, this.seq, event.index);
    return undefined;
  }

  /** Appends one row from a decoded event (the NDJSON, JSON and text paths); answers undefined, or why it was refused. */
  appendEvent(event: NormalizedEvent, index: number, ts: number): string | undefined {
    if (!Number.isSafeInteger(ts)) return timeRefusal(index, ts);
    const strings = this.strings;
    strings[0].putString(event.service);
    strings[1].putString(event.hostname);
    strings[2].putString(event.traceId);
    strings[3].putString(event.spanId);
    strings[4].putString(event.message);
    strings[5].putString(event.metadata);
    const level = levelIndex(event.level);
    this.endRow(ts, index, level, this.seriesOf(event.service));
    this.keys.addEvent(event, level, this.seq, index);
    return undefined;
  }

  /**
   * seriesOf for a service given as UTF-8 bytes, without decoding them: services seen
   * under this tenant are found by a hash of their bytes and compared byte by byte.
   * Decoding and keying every row's service cost ~9% of the node's main thread.
   */
  private seriesOfBytes(source: Uint8Array, start: number, length: number): number {
    if (this.byBytesTenant !== this.tenantName) {
      this.byBytes.clear();
      this.byBytesTenant = this.tenantName;
    }
    let hash = 0x811c9dc5 ^ length;
    for (let at = start, end = start + length; at < end; at++) hash = Math.imul(hash ^ source[at], 0x01000193);
    const candidates = this.byBytes.get(hash);
    if (candidates) {
      search: for (const candidate of candidates) {
        const known = candidate.bytes;
        if (known.length !== length) continue;
        for (let index = 0; index < length; index++) if (known[index] !== source[start + index]) continue search;
        return candidate.series;
      }
    }
    const bytes = source.slice(start, start + length);
    const series = this.seriesOf(decoder.decode(bytes));
    if (candidates) candidates.push({ bytes, series });
    else this.byBytes.set(hash, [{ bytes, series }]);
    return series;
  }

  /** The number of (this message's tenant, `service`) among the buffer's series. */
  private seriesOf(service: string): number {
    const key = `${this.tenantName}\u0000${service}`;
    let id = this.seriesIds.get(key);
    if (id === undefined) {
      id = this.seriesNames.length;
      this.seriesIds.set(key, id);
      this.seriesNames.push({ tenant: this.tenantName, service });
    }
    return id;
  }

  /** Writes the row's fixed-width values and the message's shared ones; its strings are written. */
  private endRow(ts: number, index: number, level: number, series: number): void {
    const row = this.rows;
    if (row === this.idx.length) this.grow();
    if (ts < this.minTs) this.minTs = ts;
    if (ts > this.maxTs) this.maxTs = ts;
    const high = Math.floor(ts / 0x1_0000_0000);
    this.ts[2 * row] = ts >>> 0;
    this.ts[2 * row + 1] = high;
    this.ingestTs[2 * row] = this.ingestLow;
    this.ingestTs[2 * row + 1] = this.ingestHigh;
    this.seqs[2 * row] = this.seq >>> 0;
    this.seqs[2 * row + 1] = this.seqHigh;
    this.idx[row] = index;
    this.levels[row] = level;
    this.series[row] = series;
    const tenant = this.tenant;
    this.tenants.reserve(4 + tenant.length);
    this.tenants.putBytes(tenant, 0, tenant.length);
    this.rows = row + 1;
  }

  private grow(): void {
    const widen = (column: Uint32Array) => {
      const next = new Uint32Array(column.length * 2);
      next.set(column);
      return next;
    };
    this.ts = widen(this.ts);
    this.ingestTs = widen(this.ingestTs);
    this.seqs = widen(this.seqs);
    this.idx = widen(this.idx);
    this.levels = widen(this.levels);
    this.series = widen(this.series);
  }

  /**
   * Adds the rows to `counts` by (minute, tenant, service, level): what minuteCountsSql
   * gives for the same rows, without asking DuckDB (which cost ~0.4 µs a row).
   */
  addMinuteCounts(counts: MinuteCounts): void {
    /** Rows by minute, per (series, level) at index series * LEVELS + level. */
    const bySeriesLevel: Map<number, number>[] = [];
    const ts = new Int32Array(this.ts.buffer);
    for (let row = 0; row < this.rows; row++) {
      const minute = minuteOf(ts[2 * row + 1] * 0x1_0000_0000 + this.ts[2 * row]);
      const minutes = (bySeriesLevel[this.series[row] * LEVELS.length + this.levels[row]] ??= new Map());
      minutes.set(minute, (minutes.get(minute) ?? 0) + 1);
    }
    bySeriesLevel.forEach((minutes, slot) => {
      const { tenant, service } = this.seriesNames[Math.floor(slot / LEVELS.length)];
      for (const [minute, count] of minutes) counts.add(minute, tenant, service, slot % LEVELS.length, count);
    });
  }

  /**
   * The rows' ordering and stream columns, copied out (recent-rows.ts). Every level
   * index names a level: appendEvent takes a Level, appendRanges a batch whose levels
   * were checked (wal-batch.ts), so a search in memory matches levels as SQL does.
   */
  recentRows(): RecentRows {
    const rows = this.rows;
    const int64 = (words: Uint32Array) => {
      const signed = new Int32Array(words.buffer, 0, 2 * rows);
      const values = new Float64Array(rows);
      for (let row = 0; row < rows; row++) values[row] = signed[2 * row + 1] * 0x1_0000_0000 + words[2 * row];
      return values;
    };
    return new RecentRows(int64(this.ts), int64(this.ingestTs), int64(this.seqs), this.idx.slice(0, rows), Uint8Array.from(this.levels.subarray(0, rows)), this.series.slice(0, rows), this.seriesNames.slice());
  }

  /** What a query may rule the rows out by: their tenants and the range their times lie in. */
  summary(): { tenants: string[]; minTs: number; maxTs: number } {
    return { tenants: [...new Set(this.seriesNames.map((series) => series.tenant))], minTs: this.minTs, maxTs: this.maxTs };
  }

  /** Bytes the rows take as PLAIN values (what their memtable part holds, less its headers). */
  get length(): number {
    return this.rows * FIXED_BYTES_PER_ROW + this.tenants.length + this.strings.reduce((sum, column) => sum + column.length, 0);
  }

  /** The rows as a Parquet file, in parts to write one after another; valid until the next write or reset. */
  parquetParts(pageBytesMax?: number): Uint8Array[] {
    const rows = this.rows;
    const fixed = (words: Uint32Array, perRow: number) => new Uint8Array(words.buffer, 0, rows * perRow * 4);
    const values: Record<string, Uint8Array> = {
      ts: fixed(this.ts, 2),
      ingest_ts: fixed(this.ingestTs, 2),
      seq: fixed(this.seqs, 2),
      idx: fixed(this.idx, 1),
      tenant: this.tenants.view(),
      level: fixed(this.levels, 1),
    };
    STRING_FIELDS.forEach((name, field) => (values[name] = this.strings[field].view()));
    const columns: ParquetColumn[] = MEMTABLE_PARQUET_COLUMNS.map((column) => ({ ...column, values: values[column.name] }));
    return parquetFileParts(columns, rows, pageBytesMax);
  }

  /** Empties the buffer; a column grown by a burst to over SHRINK_ABOVE_BYTES goes back to the initial size. */
  reset(): void {
    if (this.idx.length * 8 > SHRINK_ABOVE_BYTES && this.rows < this.idx.length / 4) {
      this.ts = new Uint32Array(2 * INITIAL_ROWS);
      this.ingestTs = new Uint32Array(2 * INITIAL_ROWS);
      this.seqs = new Uint32Array(2 * INITIAL_ROWS);
      this.idx = new Uint32Array(INITIAL_ROWS);
      this.levels = new Uint32Array(INITIAL_ROWS);
      this.series = new Uint32Array(INITIAL_ROWS);
    }
    this.seriesIds = new Map();
    this.seriesNames = [];
    this.byBytes.clear();
    this.lastServiceBatch = undefined;
    this.minTs = Infinity;
    this.maxTs = -Infinity;
    this.tenants.reset();
    for (const column of this.strings) column.reset();
    this.rows = 0;
    this.keys.clear();
  }

  /** A point to roll back to, when a message turns out bad halfway through. */
  mark(): RowBufferMark {
    return { rows: this.rows, strings: [this.tenants.length, ...this.strings.map((column) => column.length)], keys: this.keys.mark() };
  }

  rollback(mark: RowBufferMark): void {
    this.rows = mark.rows;
    this.tenants.length = mark.strings[0];
    this.strings.forEach((column, field) => (column.length = mark.strings[field + 1]));
    this.keys.rollback(mark.keys);
  }
}

function timeRefusal(index: number, ts: number): string {
  return `event ${index}: stored time ${ts} is not a whole number of microseconds a BIGINT holds`;
}

/** How each stored column type is written (schema.ts COLUMNS). */
const PARQUET_TYPES: Record<(typeof COLUMNS)[number][1], Pick<ParquetColumn, "type" | "converted">> = {
  BIGINT: { type: ParquetType.INT64 },
  UINTEGER: { type: ParquetType.INT32, converted: ConvertedType.UINT_32 },
  UTINYINT: { type: ParquetType.INT32, converted: ConvertedType.UINT_8 },
  VARCHAR: { type: ParquetType.BYTE_ARRAY, converted: ConvertedType.UTF8 },
};

/** The columns of a memtable part file, in order (parquetParts writes them; a join of parts needs their types). */
export const MEMTABLE_PARQUET_COLUMNS: readonly ParquetColumnType[] = COLUMNS.map(([name, type]) => ({ name, ...PARQUET_TYPES[type] }));

/**
 * Whether bytes [start, end) are well-formed UTF-8 (no overlong forms, no surrogates,
 * nothing past U+10FFFF), as DuckDB requires of a VARCHAR: the platform's check.
 */
export function isUtf8(bytes: Uint8Array, start: number, end: number): boolean {
  return isWellFormedUtf8(bytes.subarray(start, end));
}
