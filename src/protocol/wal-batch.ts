// WAL batch codec: NormalizedEvents <-> the FlatBuffers message in wal-batch.fbs.
//
// The encoder lays the batch out by hand (see Encoding). The decoder does not
// use the generated accessors: they trust every offset, and a WAL message is input
// from the network. It walks the buffer itself, checks each offset and length against
// the buffer and against limits.ts before following it, and verifies the CRC of the
// payload before reading any event, so it returns a typed failure, never throws, on
// arbitrary bytes. The encoder runs in producer services under plain Node.js too, so
// nothing here needs Bun; Bun's native CRC-32 is used when present.

import { LEVELS, type NormalizedEvent } from "./event.ts";
import { WAL_BATCH_BYTES_MAX, WAL_BATCH_EVENTS_MAX, WAL_STRING_BYTES_MAX } from "./limits.ts";

/** Version this codec writes and the only one it reads (see the rule in wal-batch.fbs). */
export const WAL_BATCH_VERSION = 1;
/** FlatBuffers file identifier of a WAL batch, at bytes 4..8 of every batch. */
export const WAL_BATCH_FILE_IDENTIFIER = "SLB1";

/** Why a byte string is not an acceptable WAL batch. */
export type WalBatchErrorCode =
  | "not_a_batch"
  | "bad_version"
  | "checksum_mismatch"
  | "truncated"
  | "over_limit"
  | "malformed";

/** Outcome of decodeBatch: the events, or why the bytes were rejected. */
export type WalBatchDecodeResult =
  | { ok: true; events: NormalizedEvent[] }
  | { ok: false; code: WalBatchErrorCode; error: string };

/** Thrown by encodeBatch for input it will not encode; `code` says which rule it broke. */
export class WalBatchEncodeError extends Error {
  override readonly name = "WalBatchEncodeError";
  constructor(
    readonly code: "over_limit" | "invalid_event",
    message: string,
  ) {
    super(message);
  }
}

// ---------------------------------------------------------------------------------
// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320: the zlib / gzip / PNG one).

/** Eight 256-entry tables for slicing-by-8, built once on first use. */
let crc32Tables: Uint32Array | undefined;

function buildCrc32Tables(): Uint32Array {
  const tables = new Uint32Array(8 * 256);
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
    tables[byte] = crc;
  }
  for (let byte = 0; byte < 256; byte++) {
    for (let slice = 1; slice < 8; slice++) {
      const previous = tables[(slice - 1) * 256 + byte]!;
      tables[slice * 256 + byte] = (previous >>> 8) ^ tables[previous & 0xff]!;
    }
  }
  return tables;
}

/** CRC-32 of `bytes` in plain JavaScript (slicing-by-8); the fallback outside Bun. */
export function crc32Portable(bytes: Uint8Array): number {
  const t = (crc32Tables ??= buildCrc32Tables());
  let crc = 0xffffffff;
  let index = 0;
  const length = bytes.length;
  const sliced = length - (length % 8);
  for (; index < sliced; index += 8) {
    const low = crc ^ (bytes[index]! | (bytes[index + 1]! << 8) | (bytes[index + 2]! << 16) | (bytes[index + 3]! << 24));
    crc =
      t[7 * 256 + (low & 0xff)]! ^
      t[6 * 256 + ((low >>> 8) & 0xff)]! ^
      t[5 * 256 + ((low >>> 16) & 0xff)]! ^
      t[4 * 256 + (low >>> 24)]! ^
      t[3 * 256 + bytes[index + 4]!]! ^
      t[2 * 256 + bytes[index + 5]!]! ^
      t[256 + bytes[index + 6]!]! ^
      t[bytes[index + 7]!]!;
  }
  for (; index < length; index++) crc = (crc >>> 8) ^ t[(crc ^ bytes[index]!) & 0xff]!;
  return (crc ^ 0xffffffff) >>> 0;
}

const bunHash = (globalThis as { Bun?: { hash: { crc32(data: Uint8Array): number } } }).Bun?.hash;

/** CRC-32 of `bytes`, unsigned: Bun's native implementation when running in Bun. */
export const crc32: (bytes: Uint8Array) => number = bunHash ? (bytes) => bunHash.crc32(bytes) >>> 0 : crc32Portable;

// ---------------------------------------------------------------------------------
// Encoding.
//
// The batch is laid out by hand, front to back, rather than through the flatbuffers
// Builder: with the Builder, encoding cost ~2.5 µs an event (a call per field, bytes
// copied one at a time, a vtable search per table), which a producer pays on its own
// thread and the HTTP intake on the node's. Every event table has the same shape (all
// fields written, defaults included), so one vtable serves them all, and the strings
// follow every table, so each table's offsets point forward as FlatBuffers requires.
// The codec tests read batches back through the generated classes and flatc.
//
//   envelope  0: root offset -> Batch table at 20     4: "SLB1"
//             8: Batch vtable (12 bytes)              20: Batch table (20 bytes)
//            44: payload length                       48: payload (8-aligned)
//   payload   0: root offset -> EventList table at 12
//             4: EventList vtable (6 bytes, 2 padding)   12: EventList table (8 bytes)
//            20: Event vtable (20 bytes)                 40: events vector (count, offsets)
//             then the Event tables (40 bytes each, 8-aligned), then the strings.

const LEVEL_ORDINALS: ReadonlyMap<string, number> = new Map(LEVELS.map((level, ordinal) => [level, ordinal]));
const textEncoder = new TextEncoder();

/** Batch table: soffset, count, crc32, payload offset, version (+2 padding). */
const BATCH_VTABLE = [12, 20, /* version */ 16, /* count */ 4, /* crc32 */ 8, /* payload */ 12] as const;
const BATCH_VTABLE_AT = 8;
const BATCH_TABLE_AT = 20;
const PAYLOAD_LENGTH_AT = 44;
const PAYLOAD_AT = 48;
/** EventList table: soffset, events offset. */
const EVENT_LIST_VTABLE = [6, 8, /* events */ 4] as const;
const EVENT_LIST_VTABLE_AT = 4;
const EVENT_LIST_TABLE_AT = 12;
/** Event table: soffset, six string offsets (service..metadata), level (+3 padding), timestamp_us. */
const EVENT_VTABLE = [20, 40, /* timestamp_us */ 32, /* level */ 28, /* service */ 4, 8, 12, 16, 20, /* metadata */ 24] as const;
const EVENT_VTABLE_AT = 20;
const EVENTS_VECTOR_AT = 40;
const EVENT_TABLE_BYTES = 40;
/** Where string field `field` (0 = service .. 5 = metadata) sits in an Event table. */
const STRING_SLOT_AT = 4;

// One scratch buffer, reused across calls: encodeBatch is synchronous, calls nothing
// that could re-enter it, and copies its result out. It keeps its largest size (under
// WAL_BATCH_BYTES_MAX plus one event's worst case) for the process's life.
let out = new Uint8Array(256 * 1024);
let outView = new DataView(out.buffer);

function reserve(bytes: number): void {
  if (bytes <= out.length) return;
  let capacity = out.length * 2;
  while (capacity < bytes) capacity *= 2;
  const next = new Uint8Array(capacity);
  next.set(out);
  out = next;
  outView = new DataView(out.buffer);
}

/**
 * Encodes events as one WAL batch (a finished FlatBuffer with identifier "SLB1").
 * The result is a fresh array the caller owns. Throws WalBatchEncodeError when the
 * batch would exceed a limit in limits.ts (split it) or an event is invalid.
 * Strings are written as UTF-8, so a lone surrogate in a string reads back as U+FFFD.
 */
export function encodeBatch(events: readonly NormalizedEvent[]): Uint8Array {
  const count = events.length;
  if (count > WAL_BATCH_EVENTS_MAX) {
    throw new WalBatchEncodeError("over_limit", `batch has ${count} events; the limit is ${WAL_BATCH_EVENTS_MAX}`);
  }
  const tablesAt = align(EVENTS_VECTOR_AT + 4 + 4 * count, 8);
  let end = PAYLOAD_AT + tablesAt + EVENT_TABLE_BYTES * count;
  reserve(end);
  // Always through `outView`, never a local copy of it: a string written below may grow the buffer.
  const p = PAYLOAD_AT;
  outView.setUint32(p, EVENT_LIST_TABLE_AT, true);
  outView.setUint32(p + EVENT_LIST_VTABLE_AT + 4, 0, true); // the vtable's last entry and 2 bytes of padding
  writeVtable(outView, p + EVENT_LIST_VTABLE_AT, EVENT_LIST_VTABLE);
  outView.setInt32(p + EVENT_LIST_TABLE_AT, EVENT_LIST_TABLE_AT - EVENT_LIST_VTABLE_AT, true);
  outView.setUint32(p + EVENT_LIST_TABLE_AT + 4, EVENTS_VECTOR_AT - (EVENT_LIST_TABLE_AT + 4), true);
  writeVtable(outView, p + EVENT_VTABLE_AT, EVENT_VTABLE);
  outView.setUint32(p + EVENTS_VECTOR_AT, count, true);
  outView.setUint32(p + tablesAt - 4, 0, true); // padding before the tables, when the vector leaves any

  // Consecutive events of a batch usually repeat service, hostname and often trace_id
  // and metadata: such a string is written once and pointed at again (a FlatBuffers
  // shared string), which makes the batch smaller and lets readers decode it once.
  const lastValue: (string | undefined)[] = [undefined, undefined, undefined, undefined, undefined, undefined];
  const lastAt = [0, 0, 0, 0, 0, 0];
  for (let index = 0; index < count; index++) {
    const event = events[index]!;
    const level = LEVEL_ORDINALS.get(event.level);
    if (level === undefined) {
      throw new WalBatchEncodeError("invalid_event", `event ${index} has level ${JSON.stringify(event.level)}; expected one of ${LEVELS.join(", ")}`);
    }
    const timestampUs = event.timestampUs;
    if (!Number.isSafeInteger(timestampUs)) {
      throw new WalBatchEncodeError("invalid_event", `event ${index} has timestampUs ${timestampUs}; expected a safe integer`);
    }
    const table = tablesAt + EVENT_TABLE_BYTES * index;
    const slot = p + EVENTS_VECTOR_AT + 4 + 4 * index;
    outView.setUint32(slot, p + table - slot, true);
    const at = p + table;
    outView.setInt32(at, table - EVENT_VTABLE_AT, true);
    for (let field = 0; field < 6; field++) {
      const value = stringField(event, field);
      if (typeof value !== "string") {
        throw new WalBatchEncodeError("invalid_event", `event ${index} has ${STRING_FIELD_NAMES[field]} of type ${typeof value}; expected a string`);
      }
      let stringAt = lastAt[field]!;
      if (value !== lastValue[field]) {
        // Padding to 4: the tables end 8-aligned, and writeString reserved room for it after each string.
        stringAt = align(end, 4);
        while (end < stringAt) out[end++] = 0;
        end = writeString(value, stringAt, field, index);
        lastValue[field] = value;
        lastAt[field] = stringAt;
      }
      const slotAt = at + STRING_SLOT_AT + 4 * field;
      outView.setUint32(slotAt, stringAt - slotAt, true);
    }
    // Stop as soon as the batch is certainly too big, instead of writing all of what was passed in.
    if (end > WAL_BATCH_BYTES_MAX) {
      throw new WalBatchEncodeError("over_limit", `batch exceeds ${WAL_BATCH_BYTES_MAX} bytes at event ${index} of ${count}; split it`);
    }
    outView.setUint32(at + 28, level, true); // the level and its 3 bytes of padding
    // Two 32-bit halves: no BigInt per event.
    const high = Math.floor(timestampUs / 0x1_0000_0000);
    outView.setUint32(at + 32, timestampUs - high * 0x1_0000_0000, true);
    outView.setInt32(at + 36, high, true);
  }

  const payloadLength = end - PAYLOAD_AT;
  outView.setUint32(0, BATCH_TABLE_AT, true);
  out.set(IDENTIFIER_BYTES, 4);
  writeVtable(outView, BATCH_VTABLE_AT, BATCH_VTABLE);
  outView.setInt32(BATCH_TABLE_AT, BATCH_TABLE_AT - BATCH_VTABLE_AT, true);
  outView.setUint32(BATCH_TABLE_AT + 4, count, true);
  outView.setUint32(BATCH_TABLE_AT + 8, crc32(out.subarray(PAYLOAD_AT, end)), true);
  outView.setUint32(BATCH_TABLE_AT + 12, PAYLOAD_LENGTH_AT - (BATCH_TABLE_AT + 12), true);
  outView.setUint16(BATCH_TABLE_AT + 16, WAL_BATCH_VERSION, true);
  outView.setUint16(BATCH_TABLE_AT + 18, 0, true);
  outView.setUint32(PAYLOAD_LENGTH_AT - 4, 0, true);
  outView.setUint32(PAYLOAD_LENGTH_AT, payloadLength, true);
  // The payload ends the batch, as the Builder lays it out: a batch cut short fails its length check.
  return out.slice(0, end);
}

const STRING_FIELD_NAMES = ["service", "hostname", "traceId", "spanId", "message", "metadata"] as const;

function stringField(event: NormalizedEvent, field: number): string {
  switch (field) {
    case 0:
      return event.service;
    case 1:
      return event.hostname;
    case 2:
      return event.traceId;
    case 3:
      return event.spanId;
    case 4:
      return event.message;
    default:
      return event.metadata;
  }
}

function align(value: number, to: number): number {
  return (value + to - 1) & ~(to - 1);
}

function writeVtable(view: DataView, at: number, entries: readonly number[]): void {
  for (let entry = 0; entry < entries.length; entry++) view.setUint16(at + 2 * entry, entries[entry]!, true);
}

/**
 * Writes a FlatBuffers string (length, UTF-8 bytes, NUL) at `at`, 4-aligned, and
 * returns where it ends. ASCII is copied by a plain loop, which for the
 * short strings of a log event beat TextEncoder's call; the rest goes to encodeInto.
 */
function writeString(value: string, at: number, field: number, index: number): number {
  const length = value.length;
  // UTF-8 never takes fewer bytes than UTF-16 units, so this is over the limit for sure.
  if (length > WAL_STRING_BYTES_MAX) throw stringOverLimit(value, field, index);
  reserve(at + 4 + 3 * length + 4);
  const bytes = out;
  const first = at + 4;
  let written = 0;
  for (; written < length; written++) {
    const code = value.charCodeAt(written);
    if (code >= 0x80) break;
    bytes[first + written] = code;
  }
  if (written < length) written += textEncoder.encodeInto(value.substring(written), bytes.subarray(first + written)).written;
  if (written > WAL_STRING_BYTES_MAX) throw stringOverLimit(value, field, index);
  outView.setUint32(at, written, true);
  bytes[first + written] = 0;
  return first + written + 1;
}

function stringOverLimit(value: string, field: number, index: number): WalBatchEncodeError {
  return new WalBatchEncodeError("over_limit", `event ${index} has a ${textEncoder.encode(value).length}-byte ${STRING_FIELD_NAMES[field]}; the limit is ${WAL_STRING_BYTES_MAX}`);
}

// ---------------------------------------------------------------------------------
// Sniffing.

const IDENTIFIER_BYTES = [0x53, 0x4c, 0x42, 0x31]; // "SLB1"

/** Whether `bytes` carries the WAL batch file identifier (bytes 4..8 == "SLB1"). Does not validate. */
export function isWalBatch(bytes: Uint8Array): boolean {
  return (
    bytes.length >= 8 &&
    bytes[4] === IDENTIFIER_BYTES[0] &&
    bytes[5] === IDENTIFIER_BYTES[1] &&
    bytes[6] === IDENTIFIER_BYTES[2] &&
    bytes[7] === IDENTIFIER_BYTES[3]
  );
}

// ---------------------------------------------------------------------------------
// Decoding. Positions are byte indexes into the batch; a region [start, end) bounds
// every read. Relative offsets are followed only after the target is checked to lie
// inside the region, so no read ever leaves the input.

/** Internal: carries a rejection from deep in the walk up to decodeBatch. */
class WalBatchRejection extends Error {
  constructor(
    readonly code: WalBatchErrorCode,
    message: string,
  ) {
    super(message);
  }
}

function reject(code: WalBatchErrorCode, message: string): never {
  throw new WalBatchRejection(code, message);
}

/**
 * Decodes a WAL batch into events (visitBatch, with each string range decoded). Never
 * throws on any input: bytes that are not a valid batch of this version within
 * limits.ts give `ok: false` with a code and a message.
 */
export function decodeBatch(bytes: Uint8Array): WalBatchDecodeResult {
  const events: NormalizedEvent[] = [];
  // Buffer's toString decodes a range faster than TextDecoder, where Buffer exists.
  const buffer = typeof globalThis.Buffer === "function" ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) : undefined;
  // A string the encoder shared between consecutive events comes back at the same
  // start and is decoded once: StringReader's budget does not charge shared strings,
  // so decoding each copy would let a small batch expand into far larger text. An
  // absent field is (0, 0), and no string starts at byte 0.
  const lastStart = [-1, -1, -1, -1, -1, -1];
  const lastValue = ["", "", "", "", "", ""];
  const text = (ranges: Int32Array, field: number): string => {
    const start = ranges[2 * field]!;
    if (start === lastStart[field]) return lastValue[field]!;
    const end = start + ranges[2 * field + 1]!;
    const value = buffer ? buffer.toString("utf8", start, end) : textDecoder.decode(bytes.subarray(start, end));
    lastStart[field] = start;
    lastValue[field] = value;
    return value;
  };
  const visited = visitBatch(bytes, (event) => {
    const ranges = event.strings;
    events.push({
      timestampUs: event.timestampUs,
      level: LEVELS[event.levelOrdinal]!,
      service: text(ranges, 0),
      hostname: text(ranges, 1),
      traceId: text(ranges, 2),
      spanId: text(ranges, 3),
      message: text(ranges, 4),
      metadata: text(ranges, 5),
    });
  });
  return visited.ok ? { ok: true, events } : visited;
}

/** Sizes in bytes of Batch's fields, in schema order: version, count, crc32, payload. */
const BATCH_FIELD_BYTES = [2, 4, 4, 4] as const;
/** Sizes of Event's fields: timestamp_us, level, then six string offsets. */
const EVENT_FIELD_BYTES = [8, 1, 4, 4, 4, 4, 4, 4] as const;
/** Sizes of EventList's fields: events. */
const EVENT_LIST_FIELD_BYTES = [4] as const;

function readBatch(bytes: Uint8Array): { view: DataView; start: number; end: number; count: number } {
  const length = bytes.length;
  if (length > WAL_BATCH_BYTES_MAX) reject("over_limit", `batch is ${length} bytes; the limit is ${WAL_BATCH_BYTES_MAX}`);
  if (!isWalBatch(bytes)) reject("not_a_batch", `no "${WAL_BATCH_FILE_IDENTIFIER}" file identifier at bytes 4..8`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, length);

  // Beyond the end of the envelope means bytes went missing: "truncated".
  const root = view.getUint32(0, true);
  const fields = new Int32Array(BATCH_FIELD_BYTES.length);
  readTable(view, 0, length, root, BATCH_FIELD_BYTES, fields, "truncated", "batch");
  const version = fields[0] ? view.getUint16(root + fields[0], true) : 0;
  if (version !== WAL_BATCH_VERSION) reject("bad_version", `batch version is ${version}; this reader knows version ${WAL_BATCH_VERSION}`);
  const count = fields[1] ? view.getUint32(root + fields[1], true) : 0;
  if (count > WAL_BATCH_EVENTS_MAX) reject("over_limit", `batch count is ${count}; the limit is ${WAL_BATCH_EVENTS_MAX}`);
  const checksum = fields[2] ? view.getUint32(root + fields[2], true) : 0;
  if (!fields[3]) reject("malformed", "batch has no payload");
  const payloadAt = followOffset(view, 0, length, root + fields[3], 4, "truncated", "payload");
  const payloadLength = view.getUint32(payloadAt, true);
  const payloadStart = payloadAt + 4;
  if (payloadLength > length - payloadStart) {
    reject("truncated", `payload of ${payloadLength} bytes at ${payloadStart} overruns the ${length}-byte batch`);
  }
  const payload = bytes.subarray(payloadStart, payloadStart + payloadLength);
  const actual = crc32(payload);
  if (actual !== checksum) reject("checksum_mismatch", `payload CRC-32 is ${hex(actual)}; the batch says ${hex(checksum)}`);
  return { view, start: payloadStart, end: payloadStart + payloadLength, count };
}

/** One event's fields as a visitor of visitBatch sees them: numbers and byte ranges in the batch. */
export interface EventRanges {
  index: number;
  timestampUs: number;
  /** Index into LEVELS. */
  levelOrdinal: number;
  /** [first byte, length] pairs in the batch for service, hostname, trace_id, span_id, message, metadata. */
  strings: Int32Array;
}

/**
 * Validates a batch and hands each event's string fields to `visit` as byte ranges of
 * `bytes` instead of decoded strings: the consumer copies them straight into its rows
 * without a UTF-8 round trip. Never throws on bad input;
 * `visit` sees events in order, and none at all when the batch is rejected before
 * its events (header, version, checksum); a malformed event stops the visit there.
 */
export function visitBatch(bytes: Uint8Array, visit: (event: EventRanges) => void): { ok: true; count: number } | { ok: false; code: WalBatchErrorCode; error: string } {
  try {
    const { view, start, end, count } = readBatch(bytes);
    visitEventList(bytes, view, start, end, count, visit);
    return { ok: true, count };
  } catch (error) {
    if (error instanceof WalBatchRejection) return { ok: false, code: error.code, error: error.message };
    throw error;
  }
}

/**
 * Reads the nested EventList in [start, end), handing `visit` each event as it is
 * validated: where its fields are, not copies of them (one EventRanges, reused). Its
 * checksum matched, so a bad offset here was written that way: every failure is
 * "malformed" (or "over_limit").
 */
function visitEventList(bytes: Uint8Array, view: DataView, start: number, end: number, count: number, visit: (event: EventRanges) => void): void {
  if (end - start < 4) reject("malformed", `payload is ${end - start} bytes, too short for a root offset`);
  const root = followOffset(view, start, end, start, 4, "malformed", "payload root");
  const listFields = new Int32Array(EVENT_LIST_FIELD_BYTES.length);
  readTable(view, start, end, root, EVENT_LIST_FIELD_BYTES, listFields, "malformed", "event list");
  let vector = 0;
  let eventCount = 0;
  if (listFields[0]) {
    vector = followOffset(view, start, end, root + listFields[0], 4, "malformed", "events vector");
    eventCount = view.getUint32(vector, true);
    if (eventCount > WAL_BATCH_EVENTS_MAX) reject("over_limit", `events vector holds ${eventCount} events; the limit is ${WAL_BATCH_EVENTS_MAX}`);
    if (eventCount > (end - vector - 4) / 4) reject("malformed", `events vector of ${eventCount} overruns the payload`);
  }
  if (eventCount !== count) reject("malformed", `batch count is ${count} but the payload holds ${eventCount} events`);

  const strings = new StringReader(bytes, view, start, end);
  const eventFields = new Int32Array(EVENT_FIELD_BYTES.length);
  const ranges = new Int32Array(12);
  const event: EventRanges = { index: 0, timestampUs: 0, levelOrdinal: 0, strings: ranges };
  let layoutVtable = Number.NaN; // no vtable checked yet
  let tableBytes = 0;
  for (let index = 0; index < eventCount; index++) {
    const table = followOffset(view, start, end, vector + 4 + 4 * index, 4, "malformed", "event");
    const vtable = table - view.getInt32(table, true);
    // Events with the same fields present share one vtable (the builder dedupes them),
    // so a vtable is checked again only when the next event's differs.
    if (vtable !== layoutVtable) {
      tableBytes = readTable(view, start, end, table, EVENT_FIELD_BYTES, eventFields, "malformed", "event");
      layoutVtable = vtable;
    } else if (tableBytes > end - table) {
      reject("malformed", `event ${index} of ${tableBytes} bytes at ${table} overruns the payload`);
    }
    event.index = index;
    event.timestampUs = eventFields[0] ? readTimestamp(view, table + eventFields[0], index) : 0;
    event.levelOrdinal = eventFields[1] ? readLevelOrdinal(view, table + eventFields[1], index) : 0;
    for (let field = 0; field < 6; field++) strings.range(field, table, eventFields[field + 2]!, ranges);
    visit(event);
  }
}

/**
 * Checks the table at `table` and its vtable lie in [start, end), and writes each
 * field's offset within the table (0 when absent) to `fieldOffsets`, after checking
 * the field fits in the table. Returns the table's size in bytes.
 */
function readTable(
  view: DataView,
  start: number,
  end: number,
  table: number,
  fieldBytes: readonly number[],
  fieldOffsets: Int32Array,
  beyondEnd: WalBatchErrorCode,
  what: string,
): number {
  if (table > end - 4) reject(beyondEnd, `${what} table at ${table} overruns ${end} bytes`);
  const vtable = table - view.getInt32(table, true);
  if (vtable < start) reject("malformed", `${what} vtable at ${vtable} lies before ${start}`);
  if (vtable > end - 4) reject(beyondEnd, `${what} vtable at ${vtable} overruns ${end} bytes`);
  const vtableBytes = view.getUint16(vtable, true);
  const tableBytes = view.getUint16(vtable + 2, true);
  if (vtableBytes < 4 || vtableBytes % 2 !== 0 || tableBytes < 4) {
    reject("malformed", `${what} vtable at ${vtable} has sizes ${vtableBytes} and ${tableBytes}`);
  }
  if (vtableBytes > end - vtable) reject(beyondEnd, `${what} vtable of ${vtableBytes} bytes at ${vtable} overruns ${end} bytes`);
  if (tableBytes > end - table) reject(beyondEnd, `${what} table of ${tableBytes} bytes at ${table} overruns ${end} bytes`);
  for (let field = 0; field < fieldBytes.length; field++) {
    const entry = 4 + 2 * field;
    const offset = entry < vtableBytes ? view.getUint16(vtable + entry, true) : 0;
    if (offset !== 0 && (offset < 4 || offset + fieldBytes[field]! > tableBytes)) {
      reject("malformed", `${what} field ${field} at offset ${offset} lies outside its ${tableBytes}-byte table`);
    }
    fieldOffsets[field] = offset;
  }
  return tableBytes;
}

/** Follows the uoffset stored at `at` and checks `bytes` bytes fit at its target. */
function followOffset(
  view: DataView,
  start: number,
  end: number,
  at: number,
  bytes: number,
  beyondEnd: WalBatchErrorCode,
  what: string,
): number {
  const target = at + view.getUint32(at, true);
  if (target < start || target > end - bytes) reject(beyondEnd, `${what} at ${target} overruns ${end} bytes`);
  return target;
}

function readTimestamp(view: DataView, at: number, index: number): number {
  // Two 32-bit halves instead of getBigInt64: no BigInt per event.
  const value = view.getInt32(at + 4, true) * 0x1_0000_0000 + view.getUint32(at, true);
  if (!Number.isSafeInteger(value)) reject("malformed", `event ${index} timestamp_us does not fit a safe integer`);
  return value;
}

function readLevelOrdinal(view: DataView, at: number, index: number): number {
  const ordinal = view.getUint8(at);
  if (ordinal >= LEVELS.length) reject("malformed", `event ${index} has level ${ordinal}; the largest is ${LEVELS.length - 1}`);
  return ordinal;
}

const textDecoder = new TextDecoder();

/**
 * Locates the string fields of a batch's events. It remembers the last string seen per
 * field, so a string the encoder shared between consecutive events (service,
 * hostname, usually metadata) is checked once. Every string located counts against a
 * budget of the payload's size: strings of a valid payload occupy distinct bytes, so
 * exceeding it means strings overlap or are shared in a pattern that would make a
 * small batch expand into far larger text.
 */
class StringReader {
  private readonly positions = [-1, -1, -1, -1, -1, -1];
  private budgetBytes: number;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly view: DataView,
    private readonly start: number,
    private readonly end: number,
  ) {
    this.budgetBytes = end - start;
  }

  /**
   * Where the string field lies in the batch, without decoding it: sets
   * `ranges[2*field]` to its first byte and `ranges[2*field+1]` to its length (0,0 when absent).
   */
  range(field: number, table: number, fieldOffset: number, ranges: Int32Array): void {
    if (fieldOffset === 0) {
      ranges[2 * field] = 0;
      ranges[2 * field + 1] = 0;
      return;
    }
    const at = followOffset(this.view, this.start, this.end, table + fieldOffset, 4, "malformed", "string");
    ranges[2 * field] = at === this.positions[field] ? at + 4 : this.locate(field, at);
    ranges[2 * field + 1] = this.view.getUint32(at, true);
    this.positions[field] = at;
  }

  /** Checks the string at `at` (length, terminator, budget) and returns its first byte. */
  private locate(field: number, at: number): number {
    const length = this.view.getUint32(at, true);
    if (length > WAL_STRING_BYTES_MAX) {
      reject("over_limit", `string of ${length} bytes in field ${STRING_FIELD_NAMES[field]}; the limit is ${WAL_STRING_BYTES_MAX}`);
    }
    const first = at + 4;
    // The string and its NUL terminator must lie in the payload.
    if (length >= this.end - first || this.bytes[first + length] !== 0) {
      reject("malformed", `string of ${length} bytes at ${at} overruns the payload or lacks its terminator`);
    }
    this.budgetBytes -= length;
    if (this.budgetBytes < 0) reject("over_limit", "strings decode to more bytes than the payload holds");
    return first;
  }
}

function hex(value: number): string {
  return `0x${value.toString(16).padStart(8, "0")}`;
}
