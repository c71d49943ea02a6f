// A segment's skip index: a bloom filter of the skip keys (query/skip-keys.ts: words,
// trace ids, services, hosts, (level, service) pairs) of each of its Parquet row
// groups, kept in a sidecar file beside the segment, the way VictoriaLogs keeps a
// bloom filter per column block. A query whose required keys a row group's filter
// lacks cannot match any of its rows: the row group is not read, and a segment none of
// whose row groups can match is not opened at all. A filter never answers "no"
// wrongly: a missing, torn or unknown file means the whole segment is read. The hash
// is written here, not taken from Bun or DuckDB, because the bits are on disk: it must
// give the same answer in every version to come.
//
// Each row group's filter is split-block (as Parquet's own bloom filters): a key
// picks one 32-byte bucket and sets one bit in each of its eight 32-bit words, so a
// lookup touches one bucket. That keeps the filters cheap to read from a mapped file:
// they stay on disk (the page cache holds the hot ones), not on the heap.
//
// File layout (little-endian): magic "SKIX", version, block count, bits per key, two
// reserved zero words; then per block (row group) its first row, row count, bucket
// count, key count and seed; then every block's buckets in order; then the CRC-32 of
// everything before it, so a torn or corrupted file is rejected rather than trusted.
//
// Each block carries its own seed so that a compaction, which concatenates its inputs'
// rows in order, concatenates their filters too instead of listing every key again
// (listing keys cost ~5x the compaction's own write on bench rows).

import { assert } from "../actors/actor.ts";
import { SKIP_INDEX_BITS_MIN, SKIP_INDEX_BYTES_MAX } from "./limits.ts";
import { replaceFileSynced } from "./manifest.ts";
import { readFile } from "node:fs/promises";

/**
 * Format version written; a file of a version not read is treated as missing (and
 * rebuilt). Version 1 held one filter for the whole segment; version 2 placed a key
 * alike in every row group (see blockSeed); version 3 lacked (level, service) keys;
 * version 4 is version 5 without stored seeds (block i's seed was blockSeed(0, i)),
 * and is still read.
 */
const SKIP_INDEX_VERSION = 5;
const SKIP_INDEX_VERSION_UNSEEDED = 4;
/**
 * Bits per distinct key of a block: about 0.017% false positives for a split-block
 * filter (0.135% at 16 bits, 0.004% at 32, measured). A query asks every row group of
 * every segment in range (~10,000 per 170M events), and each false positive costs a
 * whole row group read (10-20 ms of CPU): at 16 bits a trace id read ~5 such row
 * groups beside its ~2 real ones, at 24 about one. An index written with fewer bits
 * (an older version) is still read, and rebuilt in the background (underSized).
 */
export const SKIP_INDEX_BITS_PER_KEY = 24;

const MAGIC = 0x58494b53; // "SKIX" read as a little-endian word
const HEADER_BYTES = 24;
const BLOCK_ENTRY_BYTES = 20;
const BLOCK_ENTRY_BYTES_UNSEEDED = 16;
const TRAILER_BYTES = 4;
/** A bucket: eight 32-bit words, one bit set in each per key. */
const BUCKET_WORDS = 8;
const BUCKET_BITS = BUCKET_WORDS * 32;
/** Parquet's split-block salts: word i of a bucket takes bit (hash x SALT[i]) >>> 27. */
const SALTS = new Uint32Array([0x47b6137b, 0x44974d91, 0x8824ad5b, 0xa2b7289d, 0x705495c7, 0x2df1424b, 0x9efc4947, 0x5c6bfb31]);
/** Row groups one index holds: far past a compacted segment's (~125 of SEGMENT_ROW_GROUP_ROWS). */
const BLOCKS_MAX = 65_536;
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
  return fmix32(state ^ length);
}

/** Two independent 32-bit hashes of one key (unsigned): the first picks its bucket in a block, the second the bits it sets there. */
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

/** hashKey with each key hashed once: a query's skip tree is asked of many segments and parts. */
export function keyHashMemo(): (key: string) => KeyHashes {
  const hashes = new Map<string, KeyHashes>();
  return (key) => {
    let found = hashes.get(key);
    if (!found) hashes.set(key, (found = hashKey(key)));
    return found;
  };
}

/** The hash state after a key's first bytes (row-skip-keys.ts's key prefixes): what hashPrefixedBytes starts from. */
export interface HashPrefix {
  first: number;
  second: number;
  block: number;
  filled: number;
  length: number;
}

/** The state after hashing `bytes`, for hashPrefixedBytes. */
export function hashPrefix(bytes: Uint8Array): HashPrefix {
  const state: HashPrefix = { first: SEED_FIRST, second: SEED_SECOND, block: 0, filled: 0, length: bytes.length };
  for (const byte of bytes) {
    state.block |= byte << (state.filled << 3);
    if (++state.filled === 4) {
      const mixed = mixKey(state.block);
      state.first = mixState(state.first, mixed);
      state.second = mixState(state.second, mixed);
      state.block = 0;
      state.filled = 0;
    }
  }
  return state;
}

/** Takes hashed keys (a set of them). */
export interface KeyHashSink {
  add(first: number, second: number): void;
}

/**
 * Gives `sink` what hashKey() gives for the key: the prefix's bytes, then bytes
 * [start, end) of `bytes` (UTF-8). Keys are listed from row bytes as rows are written
 * (row-skip-keys.ts), so this runs for every row: one loop over locals.
 */
export function hashPrefixedBytes(prefix: HashPrefix, bytes: Uint8Array, start: number, end: number, sink: KeyHashSink): void {
  let first = prefix.first;
  let second = prefix.second;
  let block = prefix.block;
  let filled = prefix.filled;
  let at = start;
  // Complete the prefix's partial block, then whole blocks of four bytes, then the tail.
  for (; filled !== 0 && at < end; at++) {
    block |= bytes[at] << (filled << 3);
    if (++filled === 4) {
      const mixed = mixKey(block);
      first = mixState(first, mixed);
      second = mixState(second, mixed);
      block = 0;
      filled = 0;
    }
  }
  for (; at + 4 <= end; at += 4) {
    const mixed = mixKey(bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24));
    first = mixState(first, mixed);
    second = mixState(second, mixed);
  }
  for (; at < end; at++) block |= bytes[at] << (filled++ << 3);
  const length = prefix.length + end - start;
  sink.add(finish(first, length, block, filled), finish(second, length, block, filled));
}

/**
 * Hashes each word of ASCII text, as hashKey() would the key prefix + word, into
 * `sink`: a word is a run of bytes of [start, end) that `wordByte` (256 entries) maps
 * to non-zero, hashed as the mapped bytes (a table that lower-cases, say). Scans and
 * hashes in one pass over locals: this runs for every byte of every message as rows
 * are written. Stops at the first byte of 0x80 or above and answers false (the caller
 * lists that text's words another way; the words given so far are words of it too).
 */
export function hashAsciiWords(prefix: HashPrefix, bytes: Uint8Array, start: number, end: number, wordByte: Uint8Array, sink: KeyHashSink): boolean {
  let inWord = false;
  let first = 0;
  let second = 0;
  let block = 0;
  let filled = 0;
  let length = 0;
  for (let at = start; at < end; at++) {
    const byte = bytes[at];
    if (byte >= 0x80) return false;
    const mapped = wordByte[byte];
    if (mapped !== 0) {
      if (!inWord) {
        first = prefix.first;
        second = prefix.second;
        block = prefix.block;
        filled = prefix.filled;
        length = prefix.length;
        inWord = true;
      }
      block |= mapped << (filled << 3);
      length++;
      if (++filled === 4) {
        const mixed = mixKey(block);
        first = mixState(first, mixed);
        second = mixState(second, mixed);
        block = 0;
        filled = 0;
      }
    } else if (inWord) {
      sink.add(finish(first, length, block, filled), finish(second, length, block, filled));
      inWord = false;
    }
  }
  if (inWord) sink.add(finish(first, length, block, filled), finish(second, length, block, filled));
  return true;
}

// ---- the filters ----

/** Bits for a block of `keyCount` distinct keys: SKIP_INDEX_BITS_PER_KEY each, at least SKIP_INDEX_BITS_MIN, whole buckets. */
export function skipIndexBits(keyCount: number): number {
  return Math.max(SKIP_INDEX_BITS_MIN, Math.ceil((keyCount * SKIP_INDEX_BITS_PER_KEY) / BUCKET_BITS) * BUCKET_BITS);
}

/** Whether an index of blocks with these key counts stays within SKIP_INDEX_BYTES_MAX (beyond it the segment goes without one). */
export function skipIndexFits(blockKeyCounts: readonly number[]): boolean {
  return blockKeyCounts.reduce((bytes, keys) => bytes + skipIndexBits(keys) / 8, 0) <= SKIP_INDEX_BYTES_MAX;
}

/** One row group of a segment: rows [rowStart, rowStart + rowCount) and its filter's place. */
export interface SkipBlock {
  rowStart: number;
  rowCount: number;
  keyCount: number;
  /** First word of its buckets in the index's words, and how many buckets. */
  wordOffset: number;
  bucketCount: number;
  /** Mixed into every key's hashes in this block (see blockSeed). */
  seed: number;
}

/** A half-open range of a segment's rows, [start, end). */
export interface RowRange {
  start: number;
  end: number;
}

export class SkipIndex {
  private constructor(
    readonly blocks: readonly SkipBlock[],
    private readonly words: Uint32Array,
    /** Where the buckets start in the file this was decoded from, when not where encode() puts them (a version 4 file). */
    private readonly fileWordsAt?: number,
  ) {}

  /**
   * Empty filters for row groups of `rows` rows holding `keyCounts` distinct keys; the
   * caller checks skipIndexFits first. `seedBase` (random unless a test fixes it) sets
   * the blocks' seeds, so the blocks of two segments concatenated by a compaction
   * place a key differently, as the blocks of one segment do.
   */
  static forBlocks(rows: readonly number[], keyCounts: readonly number[], seedBase: number = randomSeedBase()): SkipIndex {
    assert(rows.length === keyCounts.length && rows.length <= BLOCKS_MAX, `skip index: ${rows.length} blocks with ${keyCounts.length} key counts`);
    assert(skipIndexFits(keyCounts), `skip index: ${keyCounts.length} blocks need more than ${SKIP_INDEX_BYTES_MAX} bytes`);
    const blocks: SkipBlock[] = [];
    let rowStart = 0;
    let wordOffset = 0;
    for (let index = 0; index < rows.length; index++) {
      const bucketCount = skipIndexBits(keyCounts[index]) / BUCKET_BITS;
      blocks.push({ rowStart, rowCount: rows[index], keyCount: 0, wordOffset, bucketCount, seed: blockSeed(seedBase, index) });
      rowStart += rows[index];
      wordOffset += bucketCount * BUCKET_WORDS;
    }
    return new SkipIndex(blocks, new Uint32Array(wordOffset));
  }

  /**
   * The index of `parts`' rows one after another (a compaction's output, written in
   * its inputs' order): their blocks in turn, rows renumbered, filters and seeds
   * copied. Undefined when the result would pass BLOCKS_MAX or SKIP_INDEX_BYTES_MAX.
   */
  static concat(parts: readonly SkipIndex[]): SkipIndex | undefined {
    const blockCount = parts.reduce((sum, part) => sum + part.blocks.length, 0);
    const wordCount = parts.reduce((sum, part) => sum + part.words.length, 0);
    if (blockCount > BLOCKS_MAX || wordCount * 4 > SKIP_INDEX_BYTES_MAX) return undefined;
    const blocks: SkipBlock[] = [];
    const words = new Uint32Array(wordCount);
    let rowStart = 0;
    let wordOffset = 0;
    for (const part of parts) {
      for (const block of part.blocks) blocks.push({ ...block, rowStart: rowStart + block.rowStart, wordOffset: wordOffset + block.wordOffset });
      words.set(part.words, wordOffset);
      rowStart += part.rowCount;
      wordOffset += part.words.length;
    }
    return new SkipIndex(blocks, words);
  }

  /** Bytes the filters take. */
  get byteLength(): number {
    return this.words.byteLength;
  }

  /** Keys added over all blocks (a key in two blocks counts twice). */
  get keyCount(): number {
    return this.blocks.reduce((sum, block) => sum + block.keyCount, 0);
  }

  /**
   * Whether a block's filter has fewer bits for its keys than SKIP_INDEX_BITS_PER_KEY
   * gives now: written by a version that gave fewer (or joined from such indexes by a
   * compaction). It still answers rightly, only with more false positives.
   */
  get underSized(): boolean {
    return this.blocks.some((block) => block.bucketCount * BUCKET_BITS < skipIndexBits(block.keyCount));
  }

  /** Rows of the segment the index covers. */
  get rowCount(): number {
    const last = this.blocks[this.blocks.length - 1];
    return last ? last.rowStart + last.rowCount : 0;
  }

  add(block: number, key: string): void {
    const hashes = hashKey(key);
    this.addHashed(block, hashes.first, hashes.second);
  }

  /** Adds the keys whose hashKey()s are (firsts[i], seconds[i]). */
  addAllHashed(block: number, firsts: Uint32Array, seconds: Uint32Array): void {
    const target = this.blocks[block];
    for (let key = 0; key < firsts.length; key++) this.setBits(target, firsts[key], seconds[key]);
    target.keyCount += firsts.length;
  }

  /** Adds the key whose hashKey() is (first, second). */
  addHashed(block: number, first: number, second: number): void {
    const target = this.blocks[block];
    this.setBits(target, first, second);
    target.keyCount++;
  }

  /** Sets a key's bit in each word of its bucket in `target`'s filter. */
  private setBits(target: SkipBlock, first: number, second: number): void {
    const base = target.wordOffset + bucketOf(first ^ target.seed, target.bucketCount) * BUCKET_WORDS;
    const bits = fmix32(second ^ target.seed);
    for (let word = 0; word < BUCKET_WORDS; word++) this.words[base + word] |= 1 << (Math.imul(bits, SALTS[word]) >>> 27);
  }

  /** Whether block `block` may hold the key hashed to `hashes` (a key is hashed once for every block and segment). */
  blockHas(block: number, hashes: KeyHashes): boolean {
    const target = this.blocks[block];
    const seed = target.seed;
    const base = target.wordOffset + bucketOf(hashes.first ^ seed, target.bucketCount) * BUCKET_WORDS;
    const bits = fmix32(hashes.second ^ seed);
    for (let word = 0; word < BUCKET_WORDS; word++) {
      if ((this.words[base + word] & (1 << (Math.imul(bits, SALTS[word]) >>> 27))) === 0) return false;
    }
    return true;
  }

  /** Whether any block may hold `key`. */
  has(key: string): boolean {
    const hashes = hashKey(key);
    return this.blocks.some((_, block) => this.blockHas(block, hashes));
  }

  /**
   * The rows of the blocks `mayMatch` accepts, as ascending ranges with neighbours
   * joined; [] when none, and null when every block is accepted (read it all).
   */
  rowRanges(mayMatch: (block: number) => boolean): RowRange[] | null {
    const ranges: RowRange[] = [];
    let all = true;
    for (let index = 0; index < this.blocks.length; index++) {
      if (!mayMatch(index)) {
        all = false;
        continue;
      }
      const { rowStart, rowCount } = this.blocks[index];
      const last = ranges[ranges.length - 1];
      if (last && last.end === rowStart) last.end = rowStart + rowCount;
      else ranges.push({ start: rowStart, end: rowStart + rowCount });
    }
    return all ? null : ranges;
  }

  /** Where the buckets start in the file. */
  private get wordsAt(): number {
    return HEADER_BYTES + this.blocks.length * BLOCK_ENTRY_BYTES;
  }

  /**
   * The same index with its buckets read from `path`, a file holding it encoded (just
   * written, or just read and checked): mapped, so they live in the page cache rather
   * than on the heap, and the file is not read or checked again.
   */
  mappedFrom(path: string): SkipIndex {
    const map = Bun.mmap(path, { shared: false });
    const wordsAt = this.fileWordsAt ?? this.wordsAt;
    const expected = wordsAt + this.words.byteLength + TRAILER_BYTES;
    if (map.length !== expected) throw new SkipIndexError("skip_index_corrupt", `skip index ${path} is ${map.length} bytes, ${expected} expected`);
    return new SkipIndex(this.blocks, new Uint32Array(map.buffer, map.byteOffset + wordsAt, this.words.length));
  }

  /** The file's bytes: header, block table, buckets, CRC-32. */
  encode(): Uint8Array {
    const bytes = new Uint8Array(this.wordsAt + this.words.byteLength + TRAILER_BYTES);
    const view = new DataView(bytes.buffer);
    view.setUint32(0, MAGIC, true);
    view.setUint32(4, SKIP_INDEX_VERSION, true);
    view.setUint32(8, this.blocks.length, true);
    view.setUint32(12, SKIP_INDEX_BITS_PER_KEY, true);
    this.blocks.forEach((block, index) => {
      const at = HEADER_BYTES + index * BLOCK_ENTRY_BYTES;
      view.setUint32(at, block.rowStart, true);
      view.setUint32(at + 4, block.rowCount, true);
      view.setUint32(at + 8, block.bucketCount, true);
      view.setUint32(at + 12, block.keyCount, true);
      view.setUint32(at + 16, block.seed, true);
    });
    bytes.set(new Uint8Array(this.words.buffer, this.words.byteOffset, this.words.byteLength), this.wordsAt);
    view.setUint32(bytes.length - TRAILER_BYTES, Bun.hash.crc32(bytes.subarray(0, bytes.length - TRAILER_BYTES)), true);
    return bytes;
  }

  /**
   * Reads a file's bytes back, checking every field and the checksum; throws
   * SkipIndexError. The filters are a view of `bytes` when they sit on a 4-byte
   * boundary, else a copy.
   */
  static decode(bytes: Uint8Array): SkipIndex {
    const corrupt = (what: string): never => {
      throw new SkipIndexError("skip_index_corrupt", `skip index ${what}`);
    };
    if (bytes.length < HEADER_BYTES + TRAILER_BYTES) corrupt(`is ${bytes.length} bytes, shorter than its header`);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (view.getUint32(0, true) !== MAGIC) corrupt("has no SKIX magic");
    const version = view.getUint32(4, true);
    if (version !== SKIP_INDEX_VERSION && version !== SKIP_INDEX_VERSION_UNSEEDED) {
      throw new SkipIndexError("skip_index_version", `skip index version ${version} is not one of the supported ${SKIP_INDEX_VERSION_UNSEEDED} and ${SKIP_INDEX_VERSION}`);
    }
    const seeded = version === SKIP_INDEX_VERSION;
    const entryBytes = seeded ? BLOCK_ENTRY_BYTES : BLOCK_ENTRY_BYTES_UNSEEDED;
    const stored = view.getUint32(bytes.length - TRAILER_BYTES, true);
    const actual = Bun.hash.crc32(bytes.subarray(0, bytes.length - TRAILER_BYTES));
    if (stored !== actual) corrupt(`checksum ${stored.toString(16)} does not match its bytes (${actual.toString(16)})`);
    const blockCount = view.getUint32(8, true);
    if (blockCount > BLOCKS_MAX) corrupt(`has ${blockCount} blocks, more than ${BLOCKS_MAX}`);
    const wordsAt = HEADER_BYTES + blockCount * entryBytes;
    if (bytes.length < wordsAt + TRAILER_BYTES) corrupt(`is ${bytes.length} bytes, too short for ${blockCount} blocks`);
    const blocks: SkipBlock[] = [];
    let rowStart = 0;
    let wordOffset = 0;
    for (let index = 0; index < blockCount; index++) {
      const at = HEADER_BYTES + index * entryBytes;
      const seed = seeded ? view.getUint32(at + 16, true) : blockSeed(0, index);
      const block = { rowStart: view.getUint32(at, true), rowCount: view.getUint32(at + 4, true), bucketCount: view.getUint32(at + 8, true), keyCount: view.getUint32(at + 12, true), wordOffset, seed };
      if (block.rowStart !== rowStart) corrupt(`block ${index} starts at row ${block.rowStart}, not ${rowStart}`);
      if (block.bucketCount < SKIP_INDEX_BITS_MIN / BUCKET_BITS) corrupt(`block ${index} has ${block.bucketCount} buckets`);
      blocks.push(block);
      rowStart += block.rowCount;
      wordOffset += block.bucketCount * BUCKET_WORDS;
    }
    if (wordOffset * 4 > SKIP_INDEX_BYTES_MAX) corrupt(`holds ${wordOffset * 4} bytes of filters, more than ${SKIP_INDEX_BYTES_MAX}`);
    if (bytes.length !== wordsAt + wordOffset * 4 + TRAILER_BYTES) corrupt(`is ${bytes.length} bytes, ${wordsAt + wordOffset * 4 + TRAILER_BYTES} expected for its blocks`);
    const start = bytes.byteOffset + wordsAt;
    let words: Uint32Array;
    if (start % 4 === 0) words = new Uint32Array(bytes.buffer, start, wordOffset);
    else {
      words = new Uint32Array(wordOffset);
      new Uint8Array(words.buffer).set(bytes.subarray(wordsAt, wordsAt + wordOffset * 4));
    }
    return new SkipIndex(blocks, words, seeded ? undefined : wordsAt);
  }
}

/** MurmurHash3's finalizer: every input bit flips about half the output bits. */
function fmix32(value: number): number {
  value ^= value >>> 16;
  value = Math.imul(value, 0x85ebca6b);
  value ^= value >>> 13;
  value = Math.imul(value, 0xc2b2ae35);
  value ^= value >>> 16;
  return value >>> 0;
}

/**
 * Mixed into a key's hashes per row group. Row groups of a segment share most of
 * their keys and have about as many buckets, so without it a key lands in the same
 * bucket with the same bits in every row group: one absent key that the common keys
 * happen to cover then passed ~7% of all row groups (measured on the 100M-event
 * bench), where the average absent key passes 0.13%. The base differs per index, so
 * the blocks a compaction concatenates from several segments differ too.
 */
function blockSeed(seedBase: number, block: number): number {
  return fmix32(Math.imul((seedBase + block + 1) | 0, 0x9e3779b9));
}

function randomSeedBase(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0];
}

/** Bucket of a hash among `bucketCount`: the high half of hash x count, so every bucket is as likely. */
function bucketOf(hash: number, bucketCount: number): number {
  return Math.floor(((hash >>> 0) / 0x1_0000_0000) * bucketCount);
}

/**
 * Writes a skip index atomically: a temp file, fsync, rename over `path`. The caller
 * fsyncs the directory (a seal does it once for the segment and its index); a rename
 * a crash loses leaves the segment without an index, which is read until rebuilt.
 */
export async function writeSkipIndex(path: string, tmpPath: string, index: SkipIndex): Promise<void> {
  await replaceFileSynced(path, tmpPath, index.encode());
}

/**
 * Opens a skip index file for queries: read and checked in full once (read, not
 * mapped, so the check leaves no page resident), then its buckets mapped. Throws
 * SkipIndexError or the read's error.
 */
export async function openSkipIndex(path: string): Promise<SkipIndex> {
  return SkipIndex.decode(await readFile(path)).mappedFrom(path);
}
