// Builds the NDJSON rows DuckDB bulk-loads, as UTF-8 bytes. The hot path copies a
// FlatBuffers batch's string bytes straight into JSON strings (escaping only quote,
// backslash and control bytes), so an event is never decoded into JS strings and
// re-encoded. A profile at 250k events/s put Buffer#toString, JSON.stringify, join
// and the UTF-8 write at ~60% of the node's main thread before this.

import type { NormalizedEvent } from "../protocol/event.ts";
import type { EventRanges } from "../protocol/wal-batch.ts";
import { RowSkipKeys, type RowSkipKeysMark } from "./row-skip-keys.ts";
import { levelIndex } from "./schema.ts";

const encoder = new TextEncoder();
const HEX = encoder.encode("0123456789abcdef");
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const NEWLINE = 0x0a;
/** Initial capacity; buffers double as needed. */
const INITIAL_BYTES = 1 << 20;
/** A buffer past this size that a flush used under a quarter of is given back (a burst's growth is not kept forever). */
const SHRINK_ABOVE_BYTES = 16 << 20;

/** JSON keys of the string fields, in the order of EventRanges.strings. */
const STRING_KEYS = ["service", "hostname", "trace_id", "span_id", "message", "metadata"].map((key) => encoder.encode(`,"${key}":`));
const KEY_TS = encoder.encode('{"ts":');
const KEY_IDX = encoder.encode(',"idx":');
const KEY_LEVEL = encoder.encode(',"level":');

/** Where a RowBuffer stood (its bytes, rows and their skip keys), to roll a bad message back to. */
export interface RowBufferMark {
  length: number;
  rows: number;
  keys: RowSkipKeysMark;
}

export class RowBuffer {
  private bytes = new Uint8Array(INITIAL_BYTES);
  length = 0;
  rows = 0;
  /** Bytes of `,"ingest_ts":…,"seq":…,"tenant":"…"` for the message being written. */
  private messagePart = new Uint8Array(0);
  private messagePartText = "";
  /** WAL sequence of the message being written. */
  private seq = 0;
  /** The skip keys of the rows, for the seal (row-skip-keys.ts). */
  readonly keys = new RowSkipKeys();

  /** Starts the rows of one WAL message: the fields every row of it shares. */
  beginMessage(ingestUs: number, seq: number, tenant: string): void {
    this.messagePartText = `,"ingest_ts":${ingestUs},"seq":${seq},"tenant":${JSON.stringify(tenant)}`;
    this.messagePart = encoder.encode(this.messagePartText);
    this.seq = seq;
  }

  /** Appends one row from a FlatBuffers event, copying its string bytes from `batch`. */
  appendRanges(batch: Uint8Array, event: EventRanges, ts: number): void {
    const strings = event.strings;
    let needed = 96 + this.messagePart.length;
    for (let field = 0; field < 6; field++) needed += 16 + strings[2 * field + 1] * 6;
    this.reserve(needed);
    this.putBytes(KEY_TS);
    this.putInteger(ts);
    this.putBytes(KEY_IDX);
    this.putInteger(event.index);
    this.putBytes(KEY_LEVEL);
    this.bytes[this.length++] = 0x30 + event.levelOrdinal;
    this.putBytes(this.messagePart);
    for (let field = 0; field < 6; field++) {
      this.putBytes(STRING_KEYS[field]);
      this.putJsonString(batch, strings[2 * field], strings[2 * field + 1]);
    }
    this.bytes[this.length++] = 0x7d; // }
    this.bytes[this.length++] = NEWLINE;
    this.rows++;
    this.keys.addRanges(batch, strings, event.levelOrdinal, this.seq, event.index);
  }

  /** Appends one row from a decoded event (the NDJSON, JSON and text paths). */
  appendEvent(event: NormalizedEvent, index: number, ts: number): void {
    const text =
      `{"ts":${ts},"idx":${index},"level":${levelIndex(event.level)}${this.messagePartText}` +
      `,"service":${JSON.stringify(event.service)},"hostname":${JSON.stringify(event.hostname)},"trace_id":${JSON.stringify(event.traceId)}` +
      `,"span_id":${JSON.stringify(event.spanId)},"message":${JSON.stringify(event.message)},"metadata":${JSON.stringify(event.metadata)}}\n`;
    this.reserve(text.length * 3 + 8);
    this.length += encoder.encodeInto(text, this.bytes.subarray(this.length)).written;
    this.rows++;
    this.keys.addEvent(event, levelIndex(event.level), this.seq, index);
  }

  /** The rows written so far, without a copy; valid until the next write or reset. */
  view(): Uint8Array {
    return this.bytes.subarray(0, this.length);
  }

  /** Empties the buffer; one grown by a burst to over SHRINK_ABOVE_BYTES goes back to the initial size. */
  reset(): void {
    if (this.bytes.length > SHRINK_ABOVE_BYTES && this.length < this.bytes.length / 4) this.bytes = new Uint8Array(INITIAL_BYTES);
    this.length = 0;
    this.rows = 0;
    this.keys.clear();
  }

  /** A point to roll back to, when a message turns out bad halfway through. */
  mark(): RowBufferMark {
    return { length: this.length, rows: this.rows, keys: this.keys.mark() };
  }

  rollback(mark: RowBufferMark): void {
    this.length = mark.length;
    this.rows = mark.rows;
    this.keys.rollback(mark.keys);
  }

  private reserve(extra: number): void {
    if (this.length + extra <= this.bytes.length) return;
    let capacity = this.bytes.length * 2;
    while (capacity < this.length + extra) capacity *= 2;
    const next = new Uint8Array(capacity);
    next.set(this.bytes.subarray(0, this.length));
    this.bytes = next;
  }

  // Plain byte loops below: for the short runs of a log row they beat
  // subarray + set, whose per-call object costs dominated a profile.
  private putBytes(part: Uint8Array): void {
    const bytes = this.bytes;
    let out = this.length;
    for (let index = 0; index < part.length; index++) bytes[out++] = part[index];
    this.length = out;
  }

  /**
   * Non-negative safe integers only (times, sequences, indexes). Split into two
   * halves below 1e8 so the digit loop runs on small integers: number-to-string of
   * 16-digit microsecond times was 13% of the main thread in a profile.
   */
  private putInteger(value: number): void {
    const bytes = this.bytes;
    const high = Math.floor(value / 100_000_000);
    let low = value - high * 100_000_000;
    if (high > 0) {
      this.putSmall(high);
      let out = this.length + 7;
      for (let digit = 0; digit < 8; digit++) {
        bytes[out--] = 0x30 + (low % 10);
        low = (low / 10) | 0;
      }
      this.length += 8;
      return;
    }
    this.putSmall(low);
  }

  /** 0 <= value < 2^31. */
  private putSmall(value: number): void {
    const bytes = this.bytes;
    let digits = 1;
    for (let rest = value; rest >= 10; rest = (rest / 10) | 0) digits++;
    let out = this.length + digits - 1;
    let rest = value;
    do {
      bytes[out--] = 0x30 + (rest % 10);
      rest = (rest / 10) | 0;
    } while (rest > 0);
    this.length += digits;
  }

  /** Writes `"…"` with JSON escapes for `"`, `\` and bytes below 0x20; other bytes (UTF-8) as they are. */
  private putJsonString(source: Uint8Array, first: number, length: number): void {
    const bytes = this.bytes;
    let out = this.length;
    bytes[out++] = QUOTE;
    const end = first + length;
    for (let at = first; at < end; at++) {
      const byte = source[at];
      if (byte >= 0x20 && byte !== QUOTE && byte !== BACKSLASH) {
        bytes[out++] = byte;
        continue;
      }
      bytes[out++] = BACKSLASH;
      if (byte === QUOTE || byte === BACKSLASH) bytes[out++] = byte;
      else if (byte === NEWLINE) bytes[out++] = 0x6e; // n
      else if (byte === 0x09) bytes[out++] = 0x74; // t
      else if (byte === 0x0d) bytes[out++] = 0x72; // r
      else {
        bytes[out++] = 0x75; // u00XX
        bytes[out++] = 0x30;
        bytes[out++] = 0x30;
        bytes[out++] = HEX[byte >> 4];
        bytes[out++] = HEX[byte & 15];
      }
    }
    bytes[out++] = QUOTE;
    this.length = out;
  }
}
