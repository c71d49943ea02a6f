// A segment's skip index: a bloom filter of its skip keys (query/skip-keys.ts: words,
// trace ids, services, hosts), kept in a sidecar file beside the segment, the way
// VictoriaLogs keeps a bloom filter per column block. A query whose required keys the
// filter lacks cannot match any row of the segment, which is then not read. A filter
// only ever answers "no" wrongly never: a missing, torn or unknown file means the
// segment is read. The hash is written here, not taken from Bun or DuckDB, because the
// bits are on disk: it must give the same answer in every version to come.
//
// File layout (little-endian): magic "SKIX", version, hash count, bit count, key
// count, a reserved zero word, the bits as 32-bit words, then the CRC-32 of everything
// before it, so a torn or corrupted file is rejected rather than trusted.

import type { DuckDBConnection } from "@duckdb/node-api";
import { assert } from "../actors/actor.ts";
import { skipKeysSql } from "../query/skip-keys.ts";
import { SKIP_INDEX_BITS_MIN, SKIP_INDEX_BYTES_MAX } from "./limits.ts";
import { replaceFileSynced } from "./manifest.ts";

/** Format version written; a file of any other version is treated as missing. */
const SKIP_INDEX_VERSION = 1;
/** Bits per distinct key: with SKIP_INDEX_HASHES probes, about 0.8% false positives. */
export const SKIP_INDEX_BITS_PER_KEY = 10;
/** Probes per key (k); stored in each file, so a reader follows the writer's choice. */
const SKIP_INDEX_HASHES = 7;

const MAGIC = 0x58494b53; // "SKIX" read as a little-endian word
const HEADER_BYTES = 24;
const TRAILER_BYTES = 4;
const HASH_COUNT_MAX = 32;
const SEED_FIRST = 0;
const SEED_SECOND = 0x9747b28c;

// The bits go to disk as the platform's 32-bit words; every machine Bun runs on is little-endian.
assert(new Uint8Array(new Uint32Array([1]).buffer)[0] === 1, "skip index: this platform is not little-endian");

export class SkipIndexError extends Error {
  constructor(
    readonly code: "skip_index_corrupt" | "skip_index_version",
    message: string,
  ) {
    super(message);
  }
}

// ---- hashing: MurmurHash3 (x86, 32-bit) of a key's UTF-8 bytes, two seeds in one pass ----

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

function mixKey(block: number): number {
  block = Math.imul(block, C1);
  block = (block << 15) | (block >>> 17);
  return Math.imul(block, C2);
}

function mixState(state: number, mixedBlock: number): number {
  state ^= mixedBlock;
  state = (state << 13) | (state >>> 19);
  return (Math.imul(state, 5) + 0xe6546b64) | 0;
}

function finish(state: number, length: number, tail: number, tailBytes: number): number {
  if (tailBytes > 0) state ^= mixKey(tail);
  state ^= length;
  state ^= state >>> 16;
  state = Math.imul(state, 0x85ebca6b);
  state ^= state >>> 13;
  state = Math.imul(state, 0xc2b2ae35);
  state ^= state >>> 16;
  return state >>> 0;
}

/** Two independent 32-bit hashes of one key (unsigned): the start and step of its probes. */
export interface KeyHashes {
  first: number;
  second: number;
}

/**
 * MurmurHash3_x86_32 of the UTF-8 bytes of `key` with the two seeds, encoding UTF-16
 * to UTF-8 on the fly: keys arrive as strings, and encoding each into a buffer first
 * cost more than the hash. Runs of four ASCII characters are mixed as one block (the
 * common case, ~3x faster than byte by byte). A lone surrogate is hashed as U+FFFD,
 * as TextEncoder writes it.
 */
export function hashKey(key: string): KeyHashes {
  let first = SEED_FIRST;
  let second = SEED_SECOND;
  let block = 0;
  let filled = 0; // bytes in `block`
  let length = 0;
  let index = 0;
  const end = key.length;
  while (index < end) {
    if (filled === 0 && index + 4 <= end) {
      const c0 = key.charCodeAt(index);
      const c1 = key.charCodeAt(index + 1);
      const c2 = key.charCodeAt(index + 2);
      const c3 = key.charCodeAt(index + 3);
      if ((c0 | c1 | c2 | c3) < 0x80) {
        const mixed = mixKey(c0 | (c1 << 8) | (c2 << 16) | (c3 << 24));
        first = mixState(first, mixed);
        second = mixState(second, mixed);
        index += 4;
        length += 4;
        continue;
      }
    }
    let code = key.charCodeAt(index++);
    // The UTF-8 bytes of one code point, packed low byte first, and how many.
    let bytes: number;
    let count: number;
    if (code < 0x80) {
      bytes = code;
      count = 1;
    } else if (code < 0x800) {
      bytes = (0xc0 | (code >> 6)) | ((0x80 | (code & 0x3f)) << 8);
      count = 2;
    } else {
      if (code >= 0xd800 && code <= 0xdfff) {
        const next = index < end ? key.charCodeAt(index) : 0;
        if (code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
          code = 0x10000 + ((code - 0xd800) << 10) + (next - 0xdc00);
          index++;
        } else {
          code = 0xfffd;
        }
      }
      if (code < 0x10000) {
        bytes = (0xe0 | (code >> 12)) | ((0x80 | ((code >> 6) & 0x3f)) << 8) | ((0x80 | (code & 0x3f)) << 16);
        count = 3;
      } else {
        bytes = (0xf0 | (code >> 18)) | ((0x80 | ((code >> 12) & 0x3f)) << 8) | ((0x80 | ((code >> 6) & 0x3f)) << 16) | ((0x80 | (code & 0x3f)) << 24);
        count = 4;
      }
    }
    length += count;
    for (; count > 0; count--, bytes >>>= 8) {
      block |= (bytes & 0xff) << (filled << 3);
      if (++filled === 4) {
        const mixed = mixKey(block);
        first = mixState(first, mixed);
        second = mixState(second, mixed);
        block = 0;
        filled = 0;
      }
    }
  }
  return { first: finish(first, length, block, filled), second: finish(second, length, block, filled) };
}

// ---- the filter ----

/** Bits for `keyCount` distinct keys: SKIP_INDEX_BITS_PER_KEY each, at least SKIP_INDEX_BITS_MIN, whole 32-bit words. */
export function skipIndexBits(keyCount: number): number {
  return Math.max(SKIP_INDEX_BITS_MIN, Math.ceil((keyCount * SKIP_INDEX_BITS_PER_KEY) / 32) * 32);
}

/** Whether a filter for `keyCount` keys stays within SKIP_INDEX_BYTES_MAX (beyond it the segment goes without one). */
export function skipIndexFits(keyCount: number): boolean {
  return skipIndexBits(keyCount) / 8 <= SKIP_INDEX_BYTES_MAX;
}

export class BloomFilter {
  private constructor(
    private readonly words: Uint32Array,
    readonly hashCount: number,
    private keys: number,
  ) {}

  /** An empty filter sized for `keyCount` distinct keys; the caller checks skipIndexFits first. */
  static forKeys(keyCount: number): BloomFilter {
    assert(skipIndexFits(keyCount), `skip index: ${keyCount} keys need more than ${SKIP_INDEX_BYTES_MAX} bytes`);
    return new BloomFilter(new Uint32Array(skipIndexBits(keyCount) / 32), SKIP_INDEX_HASHES, 0);
  }

  get bitCount(): number {
    return this.words.length * 32;
  }

  /** Keys added (as counted by the writer; a repeated key counts again). */
  get keyCount(): number {
    return this.keys;
  }

  /** Memory the bits take. */
  get byteLength(): number {
    return this.words.byteLength;
  }

  add(key: string): void {
    this.addHashes(hashKey(key));
  }

  has(key: string): boolean {
    return this.hasHashes(hashKey(key));
  }

  /**
   * Double hashing (Kirsch and Mitzenmacher): probe i is first + i x second, modulo the
   * bit count. A key's hashes do not depend on the filter, so a query hashes each key
   * once and asks every segment's filter.
   */
  private addHashes(hashes: KeyHashes): void {
    const bits = this.bitCount;
    let bit = hashes.first % bits;
    const step = hashes.second % bits || 1;
    for (let probe = 0; probe < this.hashCount; probe++) {
      this.words[bit >>> 5] |= 1 << (bit & 31);
      bit += step;
      if (bit >= bits) bit -= bits;
    }
    this.keys++;
  }

  hasHashes(hashes: KeyHashes): boolean {
    const bits = this.bitCount;
    let bit = hashes.first % bits;
    const step = hashes.second % bits || 1;
    for (let probe = 0; probe < this.hashCount; probe++) {
      if ((this.words[bit >>> 5] & (1 << (bit & 31))) === 0) return false;
      bit += step;
      if (bit >= bits) bit -= bits;
    }
    return true;
  }

  /** The file's bytes: header, bits, CRC-32. */
  encode(): Uint8Array {
    const bytes = new Uint8Array(HEADER_BYTES + this.words.byteLength + TRAILER_BYTES);
    const view = new DataView(bytes.buffer);
    view.setUint32(0, MAGIC, true);
    view.setUint32(4, SKIP_INDEX_VERSION, true);
    view.setUint32(8, this.hashCount, true);
    view.setUint32(12, this.bitCount, true);
    view.setUint32(16, this.keys, true);
    view.setUint32(20, 0, true);
    bytes.set(new Uint8Array(this.words.buffer, this.words.byteOffset, this.words.byteLength), HEADER_BYTES);
    view.setUint32(bytes.length - TRAILER_BYTES, Bun.hash.crc32(bytes.subarray(0, bytes.length - TRAILER_BYTES)), true);
    return bytes;
  }

  /** Reads a file's bytes back, checking every field and the checksum; throws SkipIndexError. */
  static decode(bytes: Uint8Array): BloomFilter {
    const corrupt = (what: string): never => {
      throw new SkipIndexError("skip_index_corrupt", `skip index ${what}`);
    };
    if (bytes.length < HEADER_BYTES + TRAILER_BYTES) corrupt(`is ${bytes.length} bytes, shorter than its header`);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (view.getUint32(0, true) !== MAGIC) corrupt("has no SKIX magic");
    const version = view.getUint32(4, true);
    if (version !== SKIP_INDEX_VERSION) throw new SkipIndexError("skip_index_version", `skip index version ${version} is not the supported ${SKIP_INDEX_VERSION}`);
    const stored = view.getUint32(bytes.length - TRAILER_BYTES, true);
    const actual = Bun.hash.crc32(bytes.subarray(0, bytes.length - TRAILER_BYTES));
    if (stored !== actual) corrupt(`checksum ${stored.toString(16)} does not match its bytes (${actual.toString(16)})`);
    const hashCount = view.getUint32(8, true);
    const bitCount = view.getUint32(12, true);
    const keyCount = view.getUint32(16, true);
    if (hashCount < 1 || hashCount > HASH_COUNT_MAX) corrupt(`hash count ${hashCount} is outside [1, ${HASH_COUNT_MAX}]`);
    if (bitCount % 32 !== 0 || bitCount < SKIP_INDEX_BITS_MIN || bitCount / 8 > SKIP_INDEX_BYTES_MAX) corrupt(`bit count ${bitCount} is not a whole number of words in [${SKIP_INDEX_BITS_MIN}, ${SKIP_INDEX_BYTES_MAX * 8}]`);
    if (bytes.length !== HEADER_BYTES + bitCount / 8 + TRAILER_BYTES) corrupt(`is ${bytes.length} bytes, ${HEADER_BYTES + bitCount / 8 + TRAILER_BYTES} expected for ${bitCount} bits`);
    // Copied: the file's bytes need not sit on a 4-byte boundary.
    const words = new Uint32Array(bitCount / 32);
    new Uint8Array(words.buffer).set(bytes.subarray(HEADER_BYTES, HEADER_BYTES + bitCount / 8));
    return new BloomFilter(words, hashCount, keyCount);
  }
}

/**
 * Writes a skip index atomically: a temp file, fsync, rename over `path`. The caller
 * fsyncs the directory (a seal does it once for the segment and its index); a rename
 * a crash loses leaves the segment without an index, which is read until rebuilt.
 */
export async function writeSkipIndex(path: string, tmpPath: string, bloom: BloomFilter): Promise<void> {
  await replaceFileSynced(path, tmpPath, bloom.encode());
}

// ---- building one from a segment ----

/**
 * The rows skipKeysSql reads to list a Parquet segment's keys: fewer than the
 * segment's, yielding exactly the same keys. Splitting words with RE2 costs ~100 ns a
 * word (2-4 µs a row, more than writing the segment), so the regex runs once per
 * distinct space-separated token of the distinct messages; trace ids, services and
 * hosts come, each deduplicated, from rows whose message is NULL (which yields no
 * word), and a NULL field yields no key. The keys agree because a space always
 * separates words, so a message's words are the union of its tokens' words, and
 * lower() never makes or removes a space; a test checks this on awkward text. On 80k
 * bench rows (repeated messages) it took ~35 ms of CPU against 100-450 ms for the
 * segment read as is; on 80k rows of unique messages ~170 ms against ~350 ms.
 */
export function segmentSkipKeysSource(parquetSql: string): string {
  const tokens = `SELECT unnest(string_split(message, ' ')) AS token FROM (SELECT DISTINCT message FROM ${parquetSql})`;
  const none = "NULL::VARCHAR";
  return (
    `(SELECT DISTINCT token AS message, ${none} AS trace_id, ${none} AS service, ${none} AS hostname FROM (${tokens})` +
    ` UNION ALL SELECT ${none}, trace_id, ${none}, ${none} FROM (SELECT DISTINCT trace_id FROM ${parquetSql})` +
    ` UNION ALL SELECT ${none}, ${none}, service, ${none} FROM (SELECT DISTINCT service FROM ${parquetSql})` +
    ` UNION ALL SELECT ${none}, ${none}, ${none}, hostname FROM (SELECT DISTINCT hostname FROM ${parquetSql}))`
  );
}

/**
 * Lists the skip keys of a Parquet segment (`parquetSql` is a read_parquet call) and
 * builds its filter; undefined when it would pass SKIP_INDEX_BYTES_MAX. The result is
 * materialized, not streamed: a streamed result dies silently when the connection
 * runs another statement.
 */
export async function buildSkipIndex(connection: DuckDBConnection, parquetSql: string): Promise<BloomFilter | undefined> {
  const result = await connection.run(skipKeysSql(segmentSkipKeysSource(parquetSql)));
  if (!skipIndexFits(result.rowCount)) return undefined;
  const bloom = BloomFilter.forKeys(result.rowCount);
  for (let chunkIndex = 0; chunkIndex < result.chunkCount; chunkIndex++) {
    const chunk = result.getChunk(chunkIndex);
    const keys = chunk.getColumnVector(0);
    for (let row = 0; row < chunk.rowCount; row++) bloom.add(keys.getItem(row) as string);
  }
  return bloom;
}
