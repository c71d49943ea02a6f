// Skip keys (query/skip-keys.ts) listed as rows are written, so a seal builds its
// segment's skip index from them instead of listing them again in DuckDB. Listing them
// at the seal cost ~5 µs a row (the regex word split, DISTINCTs over every message),
// the largest part of a seal and of the node's CPU at full ingest; hashing the same
// keys here from the row's bytes costs well under 1 µs.
//
// RowSkipKeys rides along a RowBuffer: each row's keys are hashed (the hash the index
// stores: skip-index.ts) and deduplicated into chunks of up to SKIP_KEY_CHUNK_ROWS
// consecutive rows. A flush that stores every row of a buffer hands its chunks, with
// each row's (seq, idx), to the memtable's MemtableSkipKeys; the seal then gives each
// Parquet row group the union of the chunks its rows fall in (a chunk astride two
// groups counts in both: a filter may hold extra keys, never miss one), after checking
// that each row group holds the rows the chunks say (sums of seq and idx).
//
// The keys are exactly those skipKeysSql lists: for an ASCII message its words
// ([A-Za-z0-9_] runs, lower-cased) straight from the bytes; for a message with other
// characters the words of both DuckDB's per-character lower() and JavaScript's full
// one (a superset when the two differ, as for U+0130). Queries only ever require ASCII
// words (words.ts), so the rare word a Unicode table version splits differently is
// harmless.

import { LEVELS, type NormalizedEvent } from "../protocol/event.ts";
import { EVENTS_PER_MESSAGE_MAX } from "./schema.ts";
import { SKIP_KEY_PREFIX } from "../query/skip-keys.ts";
import { hashKey, hashPrefix, hashPrefixedBytes, SAME_BYTE, streamedKey, type HashPrefix } from "./skip-index.ts";

/** Rows a chunk holds at most: its keys are a set, so a row group of 16,384 rows takes ~16 chunks' keys. */
export const SKIP_KEY_CHUNK_ROWS = 1024;
/** Distinct keys one chunk may hold; past it the buffer's keys are given up (the seal lists them in DuckDB). */
export const SKIP_KEY_CHUNK_KEYS_MAX = 1 << 18;
/** Slots a chunk's set starts with (grown by doubling at half full; a set is reused for the next chunk). */
const CHUNK_SLOTS_INITIAL = 16_384;
/** A set grown past this many slots is given back rather than reused. */
const CHUNK_SLOTS_KEPT_MAX = 65_536;

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const PREFIXES = {
  word: hashPrefix(encoder.encode(SKIP_KEY_PREFIX.word)),
  trace: hashPrefix(encoder.encode(SKIP_KEY_PREFIX.trace)),
  service: hashPrefix(encoder.encode(SKIP_KEY_PREFIX.service)),
  host: hashPrefix(encoder.encode(SKIP_KEY_PREFIX.host)),
};
/** `v:<level index>:` for each level index (one digit each). */
const SERVICE_LEVEL_PREFIXES = LEVELS.map((_, level) => hashPrefix(encoder.encode(`${SKIP_KEY_PREFIX.serviceLevel}${level}:`)));
/** The lower-cased byte of an ASCII word character ([A-Za-z0-9_]); 0 for any other byte (below 0x80 a separator). */
const WORD_BYTE = new Uint8Array(256);
for (let byte = 0; byte < 128; byte++) {
  const char = String.fromCharCode(byte);
  if (/[A-Za-z0-9_]/.test(char)) WORD_BYTE[byte] = char.toLowerCase().charCodeAt(0);
}
const WORD_SPLIT = /[^\p{L}\p{N}_]+/u;

/** The distinct key hashes of a run of consecutive rows. */
export interface SkipKeyChunk {
  rows: number;
  firsts: Uint32Array;
  seconds: Uint32Array;
}

/** An open-addressing set of (first, second) hash pairs: the keys of the chunk being written. */
class KeySet {
  private firsts = new Uint32Array(CHUNK_SLOTS_INITIAL);
  private seconds = new Uint32Array(CHUNK_SLOTS_INITIAL);
  private used = new Uint8Array(CHUNK_SLOTS_INITIAL);
  size = 0;

  add(first: number, second: number): void {
    const mask = this.used.length - 1;
    for (let slot = first & mask; ; slot = (slot + 1) & mask) {
      if (this.used[slot] === 0) {
        this.used[slot] = 1;
        this.firsts[slot] = first;
        this.seconds[slot] = second;
        if (++this.size * 2 > this.used.length) this.grow();
        return;
      }
      if (this.firsts[slot] === first && this.seconds[slot] === second) return;
    }
  }

  /** Empties the set for the next chunk (one grown past CHUNK_SLOTS_KEPT_MAX starts small again). */
  clear(): void {
    if (this.used.length > CHUNK_SLOTS_KEPT_MAX) {
      this.firsts = new Uint32Array(CHUNK_SLOTS_INITIAL);
      this.seconds = new Uint32Array(CHUNK_SLOTS_INITIAL);
      this.used = new Uint8Array(CHUNK_SLOTS_INITIAL);
    } else if (this.size > 0) this.used.fill(0);
    this.size = 0;
  }

  /** The keys, packed, in slot order. */
  toChunk(rows: number): SkipKeyChunk {
    const firsts = new Uint32Array(this.size);
    const seconds = new Uint32Array(this.size);
    let out = 0;
    for (let slot = 0; slot < this.used.length; slot++) {
      if (this.used[slot] === 0) continue;
      firsts[out] = this.firsts[slot];
      seconds[out++] = this.seconds[slot];
    }
    return { rows, firsts, seconds };
  }

  private grow(): void {
    const { firsts, seconds, used } = this;
    this.firsts = new Uint32Array(used.length * 2);
    this.seconds = new Uint32Array(used.length * 2);
    this.used = new Uint8Array(used.length * 2);
    this.size = 0;
    for (let slot = 0; slot < used.length; slot++) if (used[slot] === 1) this.add(firsts[slot], seconds[slot]);
  }
}

/** One buffer's keys as a flush hands them over. */
export interface TakenSkipKeys {
  chunks: SkipKeyChunk[];
  seqs: Float64Array;
  idxs: Uint32Array;
}

/** Where RowSkipKeys stood at a RowBuffer mark. */
export interface RowSkipKeysMark {
  closed: number;
  openRows: number;
  rows: number;
}

/** The keys of one RowBuffer's rows, chunked, with each row's (seq, idx). */
export class RowSkipKeys {
  /** Full chunks, in row order. */
  private closed: SkipKeyChunk[] = [];
  private open = new KeySet();
  private openRows = 0;
  private seqs = new Float64Array(1024);
  private idxs = new Uint32Array(1024);
  rows = 0;
  /** A chunk passed SKIP_KEY_CHUNK_KEYS_MAX: these rows' keys are not kept. */
  overflowed = false;

  /** Adds the keys of a row written from a FlatBuffers event's byte ranges (strings as EventRanges.strings). */
  addRanges(batch: Uint8Array, strings: Int32Array, level: number, seq: number, idx: number): void {
    this.beginRow(seq, idx);
    if (this.overflowed) return;
    this.addMessage(batch, strings[8], strings[8] + strings[9]);
    if (strings[5] > 0) this.addPrefixed(PREFIXES.trace, batch, strings[4], strings[4] + strings[5]);
    this.addPrefixed(PREFIXES.service, batch, strings[0], strings[0] + strings[1]);
    this.addPrefixed(PREFIXES.host, batch, strings[2], strings[2] + strings[3]);
    this.addServiceLevel(level, batch, strings[0], strings[0] + strings[1]);
    this.endRow();
  }

  /** Adds the keys of a row written from a decoded event. */
  addEvent(event: NormalizedEvent, level: number, seq: number, idx: number): void {
    this.beginRow(seq, idx);
    if (this.overflowed) return;
    const message = encoder.encode(event.message);
    this.addMessage(message, 0, message.length);
    if (event.traceId !== "") this.addKey(hashKey(SKIP_KEY_PREFIX.trace + event.traceId));
    this.addKey(hashKey(SKIP_KEY_PREFIX.service + event.service));
    this.addKey(hashKey(SKIP_KEY_PREFIX.host + event.hostname));
    this.addKey(hashKey(`${SKIP_KEY_PREFIX.serviceLevel}${level}:${event.service}`));
    this.endRow();
  }

  mark(): RowSkipKeysMark {
    return { closed: this.closed.length, openRows: this.openRows, rows: this.rows };
  }

  /**
   * Back to `mark`: rows after it are gone, though their keys may stay in the chunk
   * that was open at the mark (extra keys in a filter are harmless; a missing one is not).
   */
  rollback(mark: RowSkipKeysMark): void {
    this.rows = mark.rows;
    if (this.closed.length === mark.closed) {
      this.openRows = mark.openRows;
      return;
    }
    // The chunk open at the mark was closed since: it ends at the mark, and a new one starts.
    this.closed.length = mark.closed + 1;
    this.closed[mark.closed].rows = mark.openRows;
    if (mark.openRows === 0) this.closed.pop();
    this.open.clear();
    this.openRows = 0;
  }

  /** Hands over the chunks and each row's (seq, idx) (undefined when overflowed), and starts empty. */
  take(): TakenSkipKeys | undefined {
    const taken = this.overflowed ? undefined : { chunks: this.closeOpen(), seqs: this.seqs.slice(0, this.rows), idxs: this.idxs.slice(0, this.rows) };
    this.clear();
    return taken;
  }

  /** Starts empty. */
  clear(): void {
    this.closed = [];
    this.open.clear();
    this.openRows = 0;
    this.rows = 0;
    this.overflowed = false;
  }

  private closeOpen(): SkipKeyChunk[] {
    if (this.openRows > 0) this.closed.push(this.open.toChunk(this.openRows));
    return this.closed;
  }

  private beginRow(seq: number, idx: number): void {
    if (this.rows === this.seqs.length) {
      const seqs = new Float64Array(this.rows * 2);
      seqs.set(this.seqs);
      this.seqs = seqs;
      const idxs = new Uint32Array(this.rows * 2);
      idxs.set(this.idxs);
      this.idxs = idxs;
    }
    this.seqs[this.rows] = seq;
    this.idxs[this.rows++] = idx;
  }

  private endRow(): void {
    if (this.open.size > SKIP_KEY_CHUNK_KEYS_MAX) {
      this.overflowed = true;
      this.open.clear();
      this.closed = [];
      return;
    }
    if (++this.openRows === SKIP_KEY_CHUNK_ROWS) {
      this.closed.push(this.open.toChunk(this.openRows));
      this.open.clear();
      this.openRows = 0;
    }
  }

  private addKey(hashes: { first: number; second: number }): void {
    this.open.add(hashes.first, hashes.second);
  }

  /** The words of the message in bytes [start, end): from the bytes when ASCII, else through strings. */
  private addMessage(bytes: Uint8Array, start: number, end: number): void {
    let wordStart = -1;
    for (let at = start; at < end; at++) {
      const byte = bytes[at];
      if (WORD_BYTE[byte] !== 0) {
        if (wordStart < 0) wordStart = at;
      } else if (byte >= 0x80) {
        // Not ASCII: the words so far stood between ASCII separators, so they are words
        // of the message too; the Unicode path lists all of them (again).
        return this.addUnicodeMessage(decoder.decode(bytes.subarray(start, end)));
      } else if (wordStart >= 0) {
        hashPrefixedBytes(PREFIXES.word, bytes, wordStart, at, WORD_BYTE);
        this.open.add(streamedKey.first, streamedKey.second);
        wordStart = -1;
      }
    }
    if (wordStart >= 0) {
      hashPrefixedBytes(PREFIXES.word, bytes, wordStart, end, WORD_BYTE);
      this.open.add(streamedKey.first, streamedKey.second);
    }
  }

  private addUnicodeMessage(message: string): void {
    const words = new Set<string>();
    for (const lower of [lowerByCodePoint(message), message.toLowerCase()]) for (const word of lower.split(WORD_SPLIT)) if (word !== "") words.add(word);
    for (const word of words) this.addKey(hashKey(SKIP_KEY_PREFIX.word + word));
  }

  /** The key `prefix` + bytes [start, end), hashed as they are. */
  private addPrefixed(prefix: HashPrefix, bytes: Uint8Array, start: number, end: number): void {
    hashPrefixedBytes(prefix, bytes, start, end, SAME_BYTE);
    this.open.add(streamedKey.first, streamedKey.second);
  }

  /** `v:<level>:<service>`. */
  private addServiceLevel(level: number, bytes: Uint8Array, start: number, end: number): void {
    hashPrefixedBytes(SERVICE_LEVEL_PREFIXES[level], bytes, start, end, SAME_BYTE);
    this.open.add(streamedKey.first, streamedKey.second);
  }
}

/**
 * Lower-cases as DuckDB's lower() does: each code point on its own (Unicode's simple
 * mapping), so U+0130 becomes "i", not JavaScript's "i̇", and a final Σ becomes σ.
 */
function lowerByCodePoint(text: string): string {
  let out = "";
  for (const char of text) out += char === "\u0130" ? "i" : char.toLowerCase().length === char.length ? char.toLowerCase() : char;
  return out;
}

/** What one row group of a segment holds, to check against what the chunks say it holds. */
export interface RowGroupSums {
  rows: number;
  seqSum: number;
  idxSum: number;
}

/** A row's place in a seal's order as one number, seq x ORDER_IDX_SPAN + idx: exact while seq < 2^53 / ORDER_IDX_SPAN. */
const ORDER_IDX_SPAN = EVENTS_PER_MESSAGE_MAX + 1;
const ORDER_SEQ_MAX = Math.floor(Number.MAX_SAFE_INTEGER / ORDER_IDX_SPAN);

/** How a seal orders its rows (SEAL_ORDER_SQL), so row groups can be matched to the rows' keys. */
export const SEAL_ORDER_SQL = "seq, idx";

/**
 * The keys of one memtable's rows, flush after flush, for its seal. A seal writes its
 * rows ordered by (seq, idx) (SEAL_ORDER_SQL): DuckDB does not keep the order of the
 * memtable's parts in a COPY of their UNION ALL (seen: a later flush's rows written
 * amid an earlier one's), and (seq, idx) names a row of a memtable uniquely. Invalid
 * (the seal lists keys in DuckDB) once a flush stored fewer rows than its buffer held
 * (DuckDB refused some), its keys were given up, or it failed.
 */
export class MemtableSkipKeys {
  private chunks: SkipKeyChunk[] = [];
  private seqParts: Float64Array[] = [];
  private idxParts: Uint32Array[] = [];
  private rows = 0;
  valid = true;

  /** Adds a flush's keys (`taken`, for `bufferRows` rows) of which `stored` rows went into the memtable. */
  append(taken: TakenSkipKeys | undefined, bufferRows: number, stored: number): void {
    if (!this.valid) return;
    if (!taken || stored !== bufferRows || taken.seqs.length !== bufferRows) return this.invalidate();
    for (const chunk of taken.chunks) this.chunks.push(chunk);
    this.seqParts.push(taken.seqs);
    this.idxParts.push(taken.idxs);
    this.rows += bufferRows;
  }

  invalidate(): void {
    this.valid = false;
    this.chunks = [];
    this.seqParts = [];
    this.idxParts = [];
  }

  /** Rows the keys cover. */
  get rowCount(): number {
    return this.rows;
  }

  /**
   * Each row group's keys and what it must hold, for row groups of `rowGroups` rows of
   * the rows in seal order: the union of the chunks its rows were listed in. Undefined
   * when the groups do not cover exactly the rows the keys cover, or a row cannot be placed.
   */
  rowGroups(rowGroups: readonly number[]): { keys: SkipKeyChunk[]; sums: RowGroupSums[] } | undefined {
    if (rowGroups.reduce((sum, rows) => sum + rows, 0) !== this.rows) return undefined;
    const places = new Float64Array(this.rows);
    const chunkOfRow = new Uint32Array(this.rows);
    let row = 0;
    for (let part = 0; part < this.seqParts.length; part++) {
      const seqs = this.seqParts[part];
      const idxs = this.idxParts[part];
      for (let at = 0; at < seqs.length; at++) {
        if (seqs[at] > ORDER_SEQ_MAX || idxs[at] >= ORDER_IDX_SPAN) return undefined;
        places[row++] = seqs[at] * ORDER_IDX_SPAN + idxs[at];
      }
    }
    for (let chunk = 0, start = 0; chunk < this.chunks.length; start += this.chunks[chunk++].rows) chunkOfRow.fill(chunk, start, start + this.chunks[chunk].rows);
    const order = sealOrder(places);
    const keys: SkipKeyChunk[] = [];
    const sums: RowGroupSums[] = [];
    const lastGroupOfChunk = new Int32Array(this.chunks.length).fill(-1);
    let position = 0;
    rowGroups.forEach((groupRows, group) => {
      const set = new KeySet();
      const sum: RowGroupSums = { rows: groupRows, seqSum: 0, idxSum: 0 };
      for (const end = position + groupRows; position < end; position++) {
        const at = order === null ? position : order[position];
        const seq = Math.floor(places[at] / ORDER_IDX_SPAN);
        sum.seqSum += seq;
        sum.idxSum += places[at] - seq * ORDER_IDX_SPAN;
        const chunk = chunkOfRow[at];
        if (lastGroupOfChunk[chunk] === group) continue;
        lastGroupOfChunk[chunk] = group;
        const { firsts, seconds } = this.chunks[chunk];
        for (let key = 0; key < firsts.length; key++) set.add(firsts[key], seconds[key]);
      }
      keys.push(set.toChunk(groupRows));
      sums.push(sum);
    });
    return { keys, sums };
  }
}

/** Row indexes in ascending `places` order; null when they already are (rows arrive in WAL order but for redeliveries). */
function sealOrder(places: Float64Array): Uint32Array | null {
  let sorted = true;
  for (let row = 1; row < places.length && sorted; row++) sorted = places[row - 1] < places[row];
  if (sorted) return null;
  return Uint32Array.from(Array.from({ length: places.length }, (_, row) => row).sort((a, b) => places[a] - places[b]));
}
