// The events every system of the ingest comparison gets: a pool of seed-shaped events
// (scripts/gen-dataset.ts: Loghub-template messages, Zipf-like services, traces) made
// by each load-generator thread before the timed phases, encoded the way each system
// takes them (SDK records, NDJSON bodies, JSONEachRow INSERTs, COPY text), and cycled
// in the same order for every system for as long as a phase runs.
//
// The pool is made of gen-dataset's chunks, each from its own random stream: thread k
// of K makes chunks k, k + K, ..., so the events are the same whatever K is.
//
// Timestamps are live: event i of the pool, sent in pass p of a phase that started at
// T, carries T + p * poolEvents + i microseconds, so event time runs at about the wall
// clock at 1M events/s and never repeats. Encoded units keep a fixed-width placeholder
// where each timestamp goes and the offset of each, and are stamped just before they
// are sent (16 digits of epoch microseconds, or COPY's text form): no identical rows
// for a compressor to find from one pass to the next, and no formatting on the hot path.

import type { NormalizedEvent } from "../../src/protocol/event.ts";
import { ndjsonLine } from "../../src/sdk/batch-encoder.ts";
import { CHUNK_EVENTS, Dataset } from "../gen-dataset.ts";
import { copyText } from "../postgres/wire.ts";

/** End of gen-dataset's window for the pool (any fixed time: timestamps are stamped at send time). */
const DATASET_END_US = Date.UTC(2026, 0, 1) * 1000;
/** Digits of an epoch-microsecond timestamp from 2001 to 2286. */
const EPOCH_US_DIGITS = 16;
/** "2026-01-01 00:00:00.000000+00": COPY's text form of a timestamptz. */
const COPY_TIMESTAMP_CHARS = 29;

/** This thread's share of the pool, in pool order, and each event's index in the whole pool. */
export interface PoolSlice {
  events: NormalizedEvent[];
  indices: Float64Array;
}

/** Chunks of a pool of `poolEvents` that thread `worker` of `workers` makes. */
function poolChunks(poolEvents: number, worker: number, workers: number): number[] {
  const chunks = Math.ceil(poolEvents / CHUNK_EVENTS);
  return Array.from({ length: chunks }, (_, chunk) => chunk).filter((chunk) => chunk % workers === worker);
}

export function makePoolSlice(options: { poolEvents: number; seed: number; worker: number; workers: number }): PoolSlice {
  const dataset = new Dataset({ events: options.poolEvents, seed: options.seed, endUs: DATASET_END_US });
  const events: NormalizedEvent[] = [];
  const indices: number[] = [];
  for (const chunk of poolChunks(options.poolEvents, options.worker, options.workers)) {
    let index = chunk * CHUNK_EVENTS;
    for (const batch of dataset.chunkBatches(chunk)) {
      for (const event of batch) {
        event.timestampUs = 0;
        indices.push(index++);
      }
      events.push(...batch);
    }
  }
  return { events, indices: Float64Array.from(indices) };
}

/** An event as a service hands it to the SDK logger: the fields HTTP ingest takes, metadata as an object; `timestamp` is set at each log call. */
export function sdkRecord(event: NormalizedEvent): Record<string, unknown> {
  return { timestamp: 0, level: event.level, service: event.service, hostname: event.hostname, trace_id: event.traceId, span_id: event.spanId, message: event.message, metadata: JSON.parse(event.metadata) };
}

const PLACEHOLDER_US = "0".repeat(EPOCH_US_DIGITS);
const PLACEHOLDER_COPY = "0".repeat(COPY_TIMESTAMP_CHARS);

/** A line of a unit: its text before the timestamp, the timestamp's placeholder, and the rest. */
interface LineParts {
  head: string;
  tail: string;
}

/** The SDK's NDJSON fields of an event after its timestamp, without the braces: `"level":…` (no timestamp: it is stamped at send time). */
const ndjsonFields = (event: NormalizedEvent) => ndjsonLine({ ...event, timestampUs: 0 }).slice(1, -1);

/** NDJSON as HTTP ingest takes it (the SDK's ndjsonLine): epoch-µs timestamp first, metadata as an object. */
export function httpLine(event: NormalizedEvent): LineParts {
  return { head: `{"timestamp":`, tail: `,${ndjsonFields(event)}}\n` };
}

/**
 * One JSONEachRow line of ingest-schema.sql's table: the same fields under the column
 * names, but metadata as a JSON string (18.16 reads no nested object into a String; an
 * empty "{}" is left out of ndjsonLine, and written here).
 */
export function clickhouseLine(event: NormalizedEvent): LineParts {
  return { head: `{"timestamp_us":`, tail: `,${ndjsonFields({ ...event, metadata: "{}" })},"metadata":${JSON.stringify(event.metadata)}}\n` };
}

/** Columns of a COPY row, in order (the seed table's, less its bigserial id). */
export const POSTGRES_COPY_COLUMNS = ["timestamp", "level", "service", "hostname", "trace_id", "span_id", "message", "metadata"] as const;

/** One line of COPY's text format for POSTGRES_COPY_COLUMNS. */
export function postgresLine(event: NormalizedEvent): LineParts {
  return { head: "", tail: `\t${event.level}\t${copyText(event.service)}\t${copyText(event.hostname)}\t${copyText(event.traceId)}\t${copyText(event.spanId)}\t${copyText(event.message)}\t${copyText(event.metadata)}\n` };
}

export type TimestampForm = "epoch-us" | "copy-text";

/** A pre-encoded piece of load (one HTTP body, one INSERT, one COPY), stamped before each send. */
export interface Unit {
  bytes: Uint8Array<ArrayBuffer>;
  events: number;
  form: TimestampForm;
  /** Byte offset of each event's timestamp placeholder. */
  timestampAt: Uint32Array;
  /** Each event's index in the whole pool (its offset in µs from the pass's start). */
  poolIndex: Float64Array;
}

const encoder = new TextEncoder();

/** Cuts a slice into units of at most `eventsPerUnit` events, each the concatenation of its lines. */
export function encodeUnits(slice: PoolSlice, eventsPerUnit: number, line: (event: NormalizedEvent) => LineParts, form: TimestampForm): Unit[] {
  const placeholder = form === "epoch-us" ? PLACEHOLDER_US : PLACEHOLDER_COPY;
  const units: Unit[] = [];
  for (let first = 0; first < slice.events.length; first += eventsPerUnit) {
    const count = Math.min(eventsPerUnit, slice.events.length - first);
    const timestampAt = new Uint32Array(count);
    let text = "";
    let bytes = 0;
    for (let offset = 0; offset < count; offset++) {
      const parts = line(slice.events[first + offset]);
      const headBytes = Buffer.byteLength(parts.head);
      timestampAt[offset] = bytes + headBytes;
      text += parts.head + placeholder + parts.tail;
      bytes += headBytes + placeholder.length + Buffer.byteLength(parts.tail);
    }
    const joined = encoder.encode(text);
    if (joined.length !== bytes) throw new Error(`encodeUnits: ${joined.length} bytes encoded, ${bytes} counted`);
    units.push({ bytes: joined, events: count, form, timestampAt, poolIndex: slice.indices.slice(first, first + count) });
  }
  return units;
}

/** Writes `value` as exactly `width` decimal digits at `at`. */
function writeDigits(bytes: Uint8Array, at: number, value: number, width: number): void {
  for (let index = width - 1; index >= 0; index--) {
    bytes[at + index] = 48 + (value % 10);
    value = Math.floor(value / 10);
  }
}

/** "YYYY-MM-DD HH:MM:SS" of the last second formatted, kept because consecutive events share it. */
const copySecond = { second: -1, bytes: new Uint8Array(19) };

/** Writes COPY's text form of a timestamptz (UTC, microseconds) at `at`. */
function writeCopyTimestamp(bytes: Uint8Array, at: number, timestampUs: number): void {
  const second = Math.floor(timestampUs / 1_000_000);
  if (second !== copySecond.second) {
    copySecond.second = second;
    copySecond.bytes = encoder.encode(new Date(second * 1000).toISOString().slice(0, 19).replace("T", " "));
  }
  bytes.set(copySecond.bytes, at);
  bytes[at + 19] = 46; // "."
  writeDigits(bytes, at + 20, timestampUs - second * 1_000_000, 6);
  bytes[at + 26] = 43; // "+"
  bytes[at + 27] = 48;
  bytes[at + 28] = 48;
}

/** Stamps every event of a unit with `passStartUs` + its pool index (µs). */
export function stampUnit(unit: Unit, passStartUs: number): void {
  const { bytes, timestampAt, poolIndex } = unit;
  if (unit.form === "epoch-us") {
    for (let index = 0; index < unit.events; index++) writeDigits(bytes, timestampAt[index], passStartUs + poolIndex[index], EPOCH_US_DIGITS);
  } else {
    for (let index = 0; index < unit.events; index++) writeCopyTimestamp(bytes, timestampAt[index], passStartUs + poolIndex[index]);
  }
}
