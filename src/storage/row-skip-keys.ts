// Skip keys (query/skip-keys.ts) listed as rows are written, so a seal builds its
// segment's skip index from them instead of listing them again in DuckDB. Listing them
// at the seal cost ~5 µs a row (the regex word split, DISTINCTs over every message),
// the largest part of a seal and of the node's CPU at full ingest; hashing the same
// keys here from the row's bytes costs about a microsecond.
//
// RowSkipKeys rides along a RowBuffer: each row's keys are hashed (the hash the index
// stores: skip-index.ts) and deduplicated into chunks of up to SKIP_KEY_CHUNK_ROWS
// consecutive rows, and each WAL message's rows are remembered as a run (seq, first
// idx, first row, rows). A flush that stores every row of a buffer hands both to the
// memtable's MemtableSkipKeys. DuckDB writes a seal's rows in an order of its own (it
// does not keep the order of a memtable's parts in a COPY of their UNION ALL), so the
// seal asks the written file which (seq, idx range) each row group holds, and gives
// the row group the union of the chunks those rows were listed in: a filter may hold
// extra keys (a chunk astride two groups, a rolled-back row), never miss one.
//
// The keys are those skipKeysSql lists: for an ASCII message its words ([A-Za-z0-9_]
// runs, lower-cased) straight from the bytes; for a message with other characters the
// words of both DuckDB's per-character lower() and JavaScript's full one, plus every
// ASCII run of them. Queries only ever require ASCII words (words.ts), and every ASCII
// word DuckDB can split out is such a run whatever its Unicode tables say (RE2's are
// older than JavaScript's: a letter it lacks splits "timeout<letter>x" where
// JavaScript sees one word).

import { nextTurn } from "../actors/supervisor.ts";
import { LEVELS, type NormalizedEvent } from "../protocol/event.ts";
import { mayMatch, SKIP_KEY_PREFIX, type SkipTree } from "../query/skip-keys.ts";
import { MEMTABLE_SKIP_KEYS_BYTES_MAX, SKIP_KEY_CHUNK_KEYS_MAX, SKIP_KEY_CHUNK_ROWS } from "./limits.ts";
import { hashAsciiWords, hashKey, hashPrefix, hashPrefixedBytes, type KeyHashes, type KeyHashSink } from "./skip-index.ts";

/** Slots a chunk's set starts with (grown by doubling at half full; a set is reused for the next chunk). */
const CHUNK_SLOTS_INITIAL = 16_384;
/** A set grown past this many slots is given back rather than reused. */
const CHUNK_SLOTS_KEPT_MAX = 65_536;
/** Bytes a message is encoded into for the decoded-event path (a longer one gets its own buffer). */
const SCRATCH_BYTES = 64 * 1024;

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
const ASCII_WORDS = /[a-z0-9_]+/g;
/** The only characters whose full lower case (JavaScript's) differs from the simple one (DuckDB's). */
const FULL_LOWER_DIFFERS = /[\u0130\u03a3]/;
const scratch = new Uint8Array(SCRATCH_BYTES);

/** The distinct key hashes of a run of consecutive rows. */
export interface SkipKeyChunk {
  rows: number;
  firsts: Uint32Array;
  seconds: Uint32Array;
}

/** Whether `chunk` holds the key hashed to `hashes`: a scan of its first hashes (a few thousand; native indexOf), no index built at ingest. */
export function chunkHas(chunk: SkipKeyChunk, hashes: KeyHashes): boolean {
  const { firsts, seconds } = chunk;
  for (let at = firsts.indexOf(hashes.first); at >= 0; at = firsts.indexOf(hashes.first, at + 1)) if (seconds[at] === hashes.second) return true;
  return false;
}

/**
 * Whether rows whose keys were listed in `chunks` may match `tree`: some one chunk
 * holds what the tree needs. Exact sets, so a chunk never misses a key its rows have;
 * a rolled-back row's keys may make it say yes wrongly, never no.
 */
export function chunksMayMatch(chunks: readonly SkipKeyChunk[], tree: SkipTree, hashesOf: (key: string) => KeyHashes): boolean {
  return chunks.some((chunk) => mayMatch(tree, (key) => chunkHas(chunk, hashesOf(key))));
}

/** An open-addressing set of (first, second) hash pairs: the keys of the chunk being written. */
class KeySet implements KeyHashSink {
  private firsts: Uint32Array;
  private seconds: Uint32Array;
  private used: Uint8Array;
  size = 0;

  /** `expected`: keys it will likely hold (sized for them at half load, so it need not grow). */
  constructor(expected = 0) {
    let slots = CHUNK_SLOTS_INITIAL;
    while (slots < expected * 2) slots *= 2;
    this.firsts = new Uint32Array(slots);
    this.seconds = new Uint32Array(slots);
    this.used = new Uint8Array(slots);
  }

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

/** The rows of one WAL message in a buffer or memtable: (seq, idx) for idx in [idx, idx + rows) at rows [row, row + rows). */
export interface MessageRun {
  seq: number;
  idx: number;
  row: number;
  rows: number;
}

/** One buffer's keys as a flush hands them over. */
export interface TakenSkipKeys {
  chunks: SkipKeyChunk[];
  runs: MessageRun[];
  rows: number;
}

/** Where RowSkipKeys stood at a RowBuffer mark. */
export interface RowSkipKeysMark {
  closed: number;
  openRows: number;
  rows: number;
  runs: number;
}

/** The keys of one RowBuffer's rows, chunked, with its messages' runs. */
export class RowSkipKeys {
  /** Full chunks, in row order. */
  private closed: SkipKeyChunk[] = [];
  private open = new KeySet();
  private openRows = 0;
  private runs: MessageRun[] = [];
  /** A chunk passed SKIP_KEY_CHUNK_KEYS_MAX: these rows' keys are not kept. */
  overflowed = false;

  /** Adds the keys of a row written from a FlatBuffers event's byte ranges (strings as EventRanges.strings). */
  addRanges(batch: Uint8Array, strings: Int32Array, level: number, seq: number, idx: number): void {
    this.beginRow(seq, idx);
    if (this.overflowed) return;
    this.addMessage(batch, strings[8], strings[8] + strings[9]);
    if (strings[5] > 0) hashPrefixedBytes(PREFIXES.trace, batch, strings[4], strings[4] + strings[5], this.open);
    hashPrefixedBytes(PREFIXES.service, batch, strings[0], strings[0] + strings[1], this.open);
    hashPrefixedBytes(PREFIXES.host, batch, strings[2], strings[2] + strings[3], this.open);
    hashPrefixedBytes(SERVICE_LEVEL_PREFIXES[level], batch, strings[0], strings[0] + strings[1], this.open);
    this.endRow();
  }

  /** Adds the keys of a row written from a decoded event. */
  addEvent(event: NormalizedEvent, level: number, seq: number, idx: number): void {
    this.beginRow(seq, idx);
    if (this.overflowed) return;
    // Encoded into the scratch buffer when it fits (UTF-8 takes at most 3 bytes a UTF-16 unit).
    if (event.message.length * 3 <= SCRATCH_BYTES) this.addMessage(scratch, 0, encoder.encodeInto(event.message, scratch).written);
    else {
      const message = encoder.encode(event.message);
      this.addMessage(message, 0, message.length);
    }
    if (event.traceId !== "") this.addKey(hashKey(SKIP_KEY_PREFIX.trace + event.traceId));
    this.addKey(hashKey(SKIP_KEY_PREFIX.service + event.service));
    this.addKey(hashKey(SKIP_KEY_PREFIX.host + event.hostname));
    this.addKey(hashKey(`${SKIP_KEY_PREFIX.serviceLevel}${level}:${event.service}`));
    this.endRow();
  }

  /** Rows added: where the last message's run ends. */
  get rows(): number {
    const last = this.runs[this.runs.length - 1];
    return last ? last.row + last.rows : 0;
  }

  mark(): RowSkipKeysMark {
    return { closed: this.closed.length, openRows: this.openRows, rows: this.rows, runs: this.runs.length };
  }

  /**
   * Back to `mark`: rows after it are gone, though their keys may stay in the chunk
   * that was open at the mark (extra keys in a filter are harmless; a missing one is not).
   */
  rollback(mark: RowSkipKeysMark): void {
    this.runs.length = mark.runs;
    const last = this.runs[this.runs.length - 1];
    if (last && last.row + last.rows > mark.rows) last.rows = mark.rows - last.row;
    // Overflowed: the chunks are gone already, and these rows' keys are given up anyway.
    if (this.overflowed) return;
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

  /** Hands over the chunks and runs (undefined when overflowed), and starts empty. */
  take(): TakenSkipKeys | undefined {
    if (this.openRows > 0) this.closed.push(this.open.toChunk(this.openRows));
    const taken = this.overflowed ? undefined : { chunks: this.closed, runs: this.runs, rows: this.rows };
    this.clear();
    return taken;
  }

  /** Starts empty. */
  clear(): void {
    this.closed = [];
    this.open.clear();
    this.openRows = 0;
    this.runs = [];
    this.overflowed = false;
  }

  /** A row extends the last message's run when it is that message's next idx, else starts a run. */
  private beginRow(seq: number, idx: number): void {
    const last = this.runs[this.runs.length - 1];
    if (last && last.seq === seq && last.idx + last.rows === idx) last.rows++;
    else this.runs.push({ seq, idx, row: this.rows, rows: 1 });
  }

  private endRow(): void {
    if (this.open.size > SKIP_KEY_CHUNK_KEYS_MAX) {
      this.overflowed = true;
      this.open.clear();
      this.openRows = 0;
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
    // At a byte past ASCII the words so far stood between ASCII separators, so they are
    // words of the message too; the Unicode path lists all of them (again).
    if (!hashAsciiWords(PREFIXES.word, bytes, start, end, WORD_BYTE, this.open)) this.addUnicodeMessage(decoder.decode(bytes.subarray(start, end)));
  }

  private addUnicodeMessage(message: string): void {
    const words = new Set<string>();
    const full = message.toLowerCase();
    for (const lower of FULL_LOWER_DIFFERS.test(message) ? [full, lowerByCodePoint(message)] : [full]) {
      for (const word of lower.split(WORD_SPLIT)) if (word !== "") words.add(word);
      for (const [word] of lower.matchAll(ASCII_WORDS)) words.add(word);
    }
    for (const word of words) this.addKey(hashKey(SKIP_KEY_PREFIX.word + word));
  }
}

/**
 * Lower-cases as DuckDB's lower() does: each code point on its own (Unicode's simple
 * mapping), so U+0130 becomes "i", not JavaScript's "i̇", and a final Σ becomes σ.
 */
function lowerByCodePoint(text: string): string {
  let out = "";
  for (const char of text) out += char === "\u0130" ? "i" : char.toLowerCase();
  return out;
}

/** What a written file's row group holds of one message: rows of `seq` with idx in [lo, hi], `rows` of them. */
export interface RowGroupMessage {
  block: number;
  seq: number;
  lo: number;
  hi: number;
  rows: number;
}


/**
 * The keys of one memtable's rows, flush after flush, for its seal. Invalid (the seal
 * lists keys in DuckDB) once a flush stored fewer rows than its buffer held (DuckDB
 * refused some), its keys were given up, they pass MEMTABLE_SKIP_KEYS_BYTES_MAX, or a
 * flush failed.
 */
export class MemtableSkipKeys {
  private chunks: SkipKeyChunk[] = [];
  private runs: MessageRun[] = [];
  private rows = 0;
  private bytes = 0;
  valid = true;

  /** Adds a flush's keys; `stored`: how many of the buffer's rows went into the memtable. */
  append(taken: TakenSkipKeys | undefined, stored: number): void {
    if (!this.valid) return;
    if (!taken || stored !== taken.rows) return this.invalidate();
    for (const chunk of taken.chunks) {
      this.chunks.push(chunk);
      this.bytes += chunk.firsts.byteLength + chunk.seconds.byteLength;
    }
    if (this.bytes > MEMTABLE_SKIP_KEYS_BYTES_MAX) return this.invalidate();
    for (const run of taken.runs) this.runs.push({ ...run, row: run.row + this.rows });
    this.rows += taken.rows;
  }

  /** Gives the keys up (or frees them once used). */
  invalidate(): void {
    this.valid = false;
    this.chunks = [];
    this.runs = [];
  }

  /** Rows the keys cover. */
  get rowCount(): number {
    return this.rows;
  }

  /**
   * Each row group's keys (row groups of `rowGroups` rows, in file order), given what
   * the written file says each holds of each message (`held`): the union of the chunks
   * of every row of those messages' idx ranges. A string saying what does not match
   * when the file holds a row these keys were not listed for, or not as many rows.
   */
  async rowGroupKeys(rowGroups: readonly number[], held: readonly RowGroupMessage[]): Promise<SkipKeyChunk[] | string> {
    const fileRows = rowGroups.reduce((sum, rows) => sum + rows, 0);
    if (fileRows !== this.rows) return `the file holds ${fileRows} rows, its keys were listed for ${this.rows}`;
    const runsOfSeq = new Map<number, MessageRun[]>();
    for (const run of this.runs) {
      const list = runsOfSeq.get(run.seq);
      if (list) list.push(run);
      else runsOfSeq.set(run.seq, [run]);
    }
    const chunkStarts: number[] = [];
    for (let chunk = 0, start = 0; chunk < this.chunks.length; start += this.chunks[chunk++].rows) chunkStarts.push(start);
    const chunksOfBlock = rowGroups.map(() => new Set<number>());
    const rowsOfBlock = rowGroups.map(() => 0);
    for (const { block, seq, lo, hi, rows } of held) {
      if (!(block >= 0 && block < rowGroups.length)) return `the file has no row group ${block}`;
      let listed = 0;
      for (const run of runsOfSeq.get(seq) ?? []) {
        const from = Math.max(lo, run.idx);
        const to = Math.min(hi, run.idx + run.rows - 1);
        if (from > to) continue;
        listed += to - from + 1;
        // The chunks holding rows [row of `from`, row of `to`].
        const firstRow = run.row + from - run.idx;
        const lastRow = run.row + to - run.idx;
        for (let chunk = chunkIndexOfRow(chunkStarts, firstRow); chunk < chunkStarts.length && chunkStarts[chunk] <= lastRow; chunk++) chunksOfBlock[block].add(chunk);
      }
      if (listed < rows) return `row group ${block} holds ${rows} rows of seq ${seq} with idx ${lo}-${hi}, its keys were listed for ${listed}`;
      rowsOfBlock[block] += rows;
    }
    const short = rowsOfBlock.findIndex((rows, block) => rows !== rowGroups[block]);
    if (short >= 0) return `row group ${short} holds ${rowGroups[short]} rows, ${rowsOfBlock[short]} of them reported by message`;
    const keys: SkipKeyChunk[] = [];
    for (const [block, chunks] of chunksOfBlock.entries()) {
      // Sized for the largest chunk's keys times a few (chunks share most keys: services,
      // hosts, common words), at most all of them.
      const sizes = [...chunks].map((chunk) => this.chunks[chunk].firsts.length);
      const set = new KeySet(Math.min(sizes.reduce((sum, size) => sum + size, 0), 4 * Math.max(0, ...sizes)));
      for (const chunk of chunks) {
        const { firsts, seconds } = this.chunks[chunk];
        for (let key = 0; key < firsts.length; key++) set.add(firsts[key], seconds[key]);
      }
      keys.push(set.toChunk(rowGroups[block]));
      // Turns the event loop over between row groups of a large seal's key union.
      if (block < rowGroups.length - 1) await nextTurn();
    }
    return keys;
  }
}

/** The chunk holding `row`: the last whose start is at or before it. */
function chunkIndexOfRow(chunkStarts: readonly number[], row: number): number {
  let low = 0;
  let high = chunkStarts.length - 1;
  while (low < high) {
    const middle = (low + high + 1) >>> 1;
    if (chunkStarts[middle] <= row) low = middle;
    else high = middle - 1;
  }
  return low;
}
