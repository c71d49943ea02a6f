// One JSON record to a NormalizedEvent: known fields checked and lifted out, everything
// else kept in metadata (DESIGN.md, "The event": any other field lands there, never dropped).
//
// Rules, in the order a reader meets them:
//
// - Known fields and their aliases: timestamp (ts, time, @timestamp), level (severity,
//   lvl), service, hostname (host), trace_id, span_id, message (msg), metadata. When a
//   record holds more than one spelling of a field, the one earliest in that list wins
//   and the others are kept in metadata like any unknown field.
// - null means absent for every optional field (many loggers emit explicit nulls); a
//   null message is still an error, since an event without text is no event.
// - tenant, id and ingest_ts are assigned by Sluice (from the credential and the WAL),
//   never taken from the payload. Sent anyway, they are kept in metadata as
//   `_payload_tenant`, `_payload_id` and `_payload_ingest_ts`, so nothing is dropped but
//   nothing can impersonate another tenant or forge an id.
// - Collisions: metadata's own keys win. A top-level field whose name metadata already
//   uses is stored as `_top.<name>` (and `_top._top.<name>` should that be taken too).
// - Depth: the metadata object itself is level 1; anything nested deeper than
//   INGEST_METADATA_DEPTH_MAX levels, counting top-level fields as the level-2 values
//   they become, is rejected.

import { DEFAULT_LEVEL, type Level, type NormalizedEvent } from "../protocol/event.ts";
import { normalizeLevel } from "./level.ts";
import { INGEST_LABEL_CHARS_MAX, INGEST_METADATA_DEPTH_MAX } from "./limits.ts";
import { parseTimestamp } from "./timestamp.ts";
import { utf8LengthOver } from "./utf8.ts";
import { WAL_STRING_BYTES_MAX } from "../protocol/limits.ts";

/** Outcome of normalizing one record: the event, or a message naming the field at fault. */
export type NormalizeResult = { ok: true; event: NormalizedEvent } | { ok: false; error: string };

/** Longest slice of an offending value echoed back in an error message, characters. */
const ERROR_VALUE_ECHO_CHARS_MAX = 64;

/** Prefix of the metadata key that keeps a payload's untrusted tenant / id / ingest_ts. */
const UNTRUSTED_FIELD_PREFIX = "_payload_";
/** Prefix of the metadata key that keeps a top-level field whose name metadata already uses. */
const COLLISION_PREFIX = "_top.";

const enum Slot {
  Timestamp,
  Level,
  Service,
  Hostname,
  TraceId,
  SpanId,
  Message,
  Metadata,
}
const SLOT_COUNT = 8;

/** Each known key: the slot it fills and its precedence (lower wins) among that slot's spellings. */
const KNOWN_FIELDS: ReadonlyMap<string, { slot: Slot; rank: number }> = new Map([
  ["timestamp", { slot: Slot.Timestamp, rank: 0 }],
  ["ts", { slot: Slot.Timestamp, rank: 1 }],
  ["time", { slot: Slot.Timestamp, rank: 2 }],
  ["@timestamp", { slot: Slot.Timestamp, rank: 3 }],
  ["level", { slot: Slot.Level, rank: 0 }],
  ["severity", { slot: Slot.Level, rank: 1 }],
  ["lvl", { slot: Slot.Level, rank: 2 }],
  ["service", { slot: Slot.Service, rank: 0 }],
  ["hostname", { slot: Slot.Hostname, rank: 0 }],
  ["host", { slot: Slot.Hostname, rank: 1 }],
  ["trace_id", { slot: Slot.TraceId, rank: 0 }],
  ["span_id", { slot: Slot.SpanId, rank: 0 }],
  ["message", { slot: Slot.Message, rank: 0 }],
  ["msg", { slot: Slot.Message, rank: 1 }],
  ["metadata", { slot: Slot.Metadata, rank: 0 }],
]);

/** Fields Sluice assigns itself; a payload's values are only kept, renamed, in metadata. */
const UNTRUSTED_FIELDS: ReadonlySet<string> = new Set(["tenant", "id", "ingest_ts"]);

/** What one pass over a record's keys found. Reused across calls: normalizeRecord is not re-entrant. */
const found = {
  keys: new Array<string>(SLOT_COUNT).fill(""),
  values: new Array<unknown>(SLOT_COUNT).fill(undefined),
  ranks: new Array<number>(SLOT_COUNT).fill(0),
  /** Top-level fields bound for metadata, as [metadata key, value] pairs; null when none. */
  extras: null as [string, unknown][] | null,
};

/** Validates and normalizes one parsed JSON value (see the rules at the top of this file). */
export function normalizeRecord(value: unknown): NormalizeResult {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return failure(`expected a JSON object, got ${jsonTypeName(value)}`);
  }
  collectFields(value as Record<string, unknown>);
  const message = found.values[Slot.Message];
  if (message === undefined) return failure(`missing field "message"`);
  if (typeof message !== "string") return failure(wrongType(found.keys[Slot.Message], "a string", message));
  // The WAL carries each string field up to WAL_STRING_BYTES_MAX; refuse this record, not the whole batch later.
  const messageOver = utf8LengthOver(message, WAL_STRING_BYTES_MAX);
  if (messageOver > 0) return failure(`field "${found.keys[Slot.Message]}" is ${messageOver} bytes, over the limit of ${WAL_STRING_BYTES_MAX} bytes`);

  const service = labelField(Slot.Service);
  if (service === null) return failure(fieldError);
  const hostname = labelField(Slot.Hostname);
  if (hostname === null) return failure(fieldError);
  const traceId = labelField(Slot.TraceId);
  if (traceId === null) return failure(fieldError);
  const spanId = labelField(Slot.SpanId);
  if (spanId === null) return failure(fieldError);

  const level = levelField();
  if (level === null) return failure(fieldError);
  const timestampUs = timestampField();
  if (timestampUs === null) return failure(fieldError);
  const metadata = metadataField();
  if (metadata === null) return failure(fieldError);
  // Numbers re-serialized (1e5 -> 100000) can make metadata longer than the line it came from.
  const metadataOver = utf8LengthOver(metadata, WAL_STRING_BYTES_MAX);
  if (metadataOver > 0) return failure(`metadata is ${metadataOver} bytes as JSON, over the limit of ${WAL_STRING_BYTES_MAX} bytes`);

  return { ok: true, event: { timestampUs, level, service, hostname, traceId, spanId, message, metadata } };
}

function collectFields(record: Record<string, unknown>): void {
  const { keys, values, ranks } = found;
  values.fill(undefined);
  found.extras = null;
  for (const key in record) {
    const value = record[key];
    const known = KNOWN_FIELDS.get(key);
    if (known === undefined) {
      addExtra(UNTRUSTED_FIELDS.has(key) ? UNTRUSTED_FIELD_PREFIX + key : key, value);
      continue;
    }
    const slot = known.slot;
    // An explicit null is an absent field, but it still claims its slot (null !==
    // undefined), so the precedence of spellings does not depend on which one is null.
    if (values[slot] === undefined) {
      keys[slot] = key;
      values[slot] = value;
      ranks[slot] = known.rank;
    } else if (known.rank < ranks[slot]) {
      addExtra(keys[slot], values[slot]);
      keys[slot] = key;
      values[slot] = value;
      ranks[slot] = known.rank;
    } else {
      addExtra(key, value);
    }
  }
}

function addExtra(key: string, value: unknown): void {
  (found.extras ??= []).push([key, value]);
}

// The field-level checks below return null on failure and leave the message here; one
// string slot instead of a result object per field keeps the success path allocation-free.
let fieldError = "";

function labelField(slot: Slot): string | null {
  const value = found.values[slot];
  if (value === undefined || value === null) return "";
  const key = found.keys[slot];
  if (typeof value !== "string") {
    fieldError = wrongType(key, "a string", value);
    return null;
  }
  if (value.length > INGEST_LABEL_CHARS_MAX) {
    fieldError = `field "${key}" is ${value.length} characters, over the limit of ${INGEST_LABEL_CHARS_MAX}`;
    return null;
  }
  return value;
}

function levelField(): Level | null {
  const value = found.values[Slot.Level];
  if (value === undefined || value === null) return DEFAULT_LEVEL;
  const level = normalizeLevel(value);
  if (level !== null) return level;
  const key = found.keys[Slot.Level];
  fieldError =
    typeof value === "string" || typeof value === "number"
      ? `field "${key}" has unknown level ${echo(value)}`
      : wrongType(key, "a string or number", value);
  return null;
}

function timestampField(): number | null {
  const value = found.values[Slot.Timestamp];
  if (value === undefined || value === null) return 0;
  const us = parseTimestamp(value);
  if (us !== null) return us;
  const key = found.keys[Slot.Timestamp];
  fieldError =
    typeof value === "string" || typeof value === "number"
      ? `field "${key}" has unparseable timestamp ${echo(value)} (expected RFC 3339 or epoch s/ms/µs/ns between 1970 and 2200)`
      : wrongType(key, "a string or number", value);
  return null;
}

function metadataField(): string | null {
  const metadata = found.values[Slot.Metadata];
  const extras = found.extras;
  let object: Record<string, unknown> | null = null;
  if (metadata !== undefined && metadata !== null) {
    if (typeof metadata !== "object" || Array.isArray(metadata)) {
      fieldError = wrongType(found.keys[Slot.Metadata], "an object", metadata);
      return null;
    }
    object = metadata as Record<string, unknown>;
    if (nestsDeeperThan(object, INGEST_METADATA_DEPTH_MAX)) {
      fieldError = `field "${found.keys[Slot.Metadata]}" nests deeper than ${INGEST_METADATA_DEPTH_MAX} levels`;
      return null;
    }
  }
  if (extras === null) return object === null ? "{}" : JSON.stringify(object);
  for (const [key, value] of extras) {
    if (nestsDeeperThan(value, INGEST_METADATA_DEPTH_MAX - 1)) {
      fieldError = `field "${key}" nests deeper than ${INGEST_METADATA_DEPTH_MAX} levels once kept in metadata`;
      return null;
    }
  }
  return JSON.stringify(mergeExtras(object, extras));
}

/** Metadata plus the top-level extras; metadata's own keys win (see the collision rule above). */
function mergeExtras(metadata: Record<string, unknown> | null, extras: [string, unknown][]): Record<string, unknown> {
  // A prototype-less object, so a "__proto__" key from the payload stays a plain key.
  const merged: Record<string, unknown> = Object.create(null);
  if (metadata !== null) for (const key in metadata) merged[key] = metadata[key];
  for (const [name, value] of extras) {
    let key = name;
    while (key in merged) key = COLLISION_PREFIX + key;
    merged[key] = value;
  }
  return merged;
}

/** True when `value` holds objects or arrays nested more than `levels` deep (a scalar is 0 deep). */
function nestsDeeperThan(value: unknown, levels: number): boolean {
  if (typeof value !== "object" || value === null) return false;
  if (levels <= 0) return true;
  if (Array.isArray(value)) {
    for (const item of value) if (nestsDeeperThan(item, levels - 1)) return true;
    return false;
  }
  const record = value as Record<string, unknown>;
  for (const key in record) if (nestsDeeperThan(record[key], levels - 1)) return true;
  return false;
}

function failure(error: string): NormalizeResult {
  return { ok: false, error };
}

function wrongType(key: string, expected: string, value: unknown): string {
  return `field "${key}" must be ${expected}, got ${jsonTypeName(value)}`;
}

/** The JSON name of a value's type, as used in error messages. */
export function jsonTypeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}

/** A value as echoed in an error: JSON-quoted when a string, cut at ERROR_VALUE_ECHO_CHARS_MAX characters. */
function echo(value: string | number): string {
  if (typeof value === "number") return String(value);
  if (value.length <= ERROR_VALUE_ECHO_CHARS_MAX) return JSON.stringify(value);
  return `${JSON.stringify(value.slice(0, ERROR_VALUE_ECHO_CHARS_MAX))}… (${value.length} characters)`;
}
