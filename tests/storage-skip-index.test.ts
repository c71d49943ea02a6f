// Goal: a segment's skip index never says "absent" for a key that was added, says
// "present" for other keys about as rarely as designed (~1%), survives a write and a
// read byte for byte, and a torn, corrupted or other-version file is rejected, never
// trusted; its hash of a key's UTF-8 bytes is MurmurHash3 (published vectors) for
// every kind of string; and the cheaper rows a segment's keys are listed from give
// exactly the keys skipKeysSql lists from the segment itself.
// Method: pure tests of hashKey and BloomFilter, with a byte-by-byte reference hash
// over TextEncoder output; the file round trip through a temporary directory; the key
// listing against a real DuckDB over a Parquet file of awkward messages.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { skipKeysSql } from "../src/query/skip-keys.ts";
import { Duck, execute, queryRows } from "../src/storage/duckdb.ts";
import { SKIP_INDEX_BITS_MIN, SKIP_INDEX_BYTES_MAX } from "../src/storage/limits.ts";
import { dataPaths, sqlPathLiteral } from "../src/storage/paths.ts";
import { BloomFilter, buildSkipIndex, hashKey, segmentSkipKeysSource, SkipIndexError, skipIndexBits, skipIndexFits, SKIP_INDEX_BITS_PER_KEY, writeSkipIndex } from "../src/storage/skip-index.ts";
import { tempDir } from "./helpers/processes.ts";

/** MurmurHash3_x86_32 of bytes, written plainly from the reference: what hashKey must match. */
function referenceMurmur(bytes: Uint8Array, seed: number): number {
  const mix = (block: number) => Math.imul((Math.imul(block, 0xcc9e2d51) << 15) | (Math.imul(block, 0xcc9e2d51) >>> 17), 0x1b873593);
  let state = seed | 0;
  let index = 0;
  for (; index + 4 <= bytes.length; index += 4) {
    state ^= mix(bytes[index] | (bytes[index + 1] << 8) | (bytes[index + 2] << 16) | (bytes[index + 3] << 24));
    state = (state << 13) | (state >>> 19);
    state = (Math.imul(state, 5) + 0xe6546b64) | 0;
  }
  let tail = 0;
  for (let byte = bytes.length - 1; byte >= index; byte--) tail = (tail << 8) | bytes[byte];
  if (bytes.length > index) state ^= mix(tail);
  state ^= bytes.length;
  state ^= state >>> 16;
  state = Math.imul(state, 0x85ebca6b);
  state ^= state >>> 13;
  state = Math.imul(state, 0xc2b2ae35);
  state ^= state >>> 16;
  return state >>> 0;
}

describe("hashKey", () => {
  test.each<[string, number]>([
    ["", 0],
    ["hello", 0x248bfa47],
    ["Hello, world!", 0xc0363e43],
    ["The quick brown fox jumps over the lazy dog", 0x2e4ff723],
  ])("its first hash of %p is the published MurmurHash3_x86_32 value", (key, expected) => {
    expect(hashKey(key).first).toBe(expected);
  });

  test.each([
    "a",
    "ab",
    "abc",
    "abcd",
    "abcde",
    "w:timeout",
    "t:4bf92f3577b34da6a3ce929d0e0e4736",
    "é",
    "aé",
    "aaé",
    "aaaé",
    "w:straße",
    "日本語",
    "x日本語y",
    "😀",
    "a😀b",
    "abcdefgh😀ij",
    "\ud800", // a lone high surrogate: hashed as U+FFFD, as TextEncoder writes it
    "a\udc00b", // a lone low surrogate
    "\ud83d", // a high surrogate at the very end
  ])("both hashes of %p are MurmurHash3 of its UTF-8 bytes (seeds 0 and 0x9747b28c)", (key) => {
    const bytes = new TextEncoder().encode(key);
    expect(hashKey(key)).toEqual({ first: referenceMurmur(bytes, 0), second: referenceMurmur(bytes, 0x9747b28c) });
  });
});

describe("BloomFilter", () => {
  test("sizing: ten bits a key in whole words, a floor for tiny segments, a ceiling past which there is none", () => {
    expect(SKIP_INDEX_BITS_PER_KEY).toBe(10);
    expect([0, 1, 25, 26, 1_000].map(skipIndexBits)).toEqual([SKIP_INDEX_BITS_MIN, SKIP_INDEX_BITS_MIN, SKIP_INDEX_BITS_MIN, 288, 10_016]);
    const keysAtMax = Math.floor((SKIP_INDEX_BYTES_MAX * 8) / SKIP_INDEX_BITS_PER_KEY);
    expect([skipIndexFits(keysAtMax), skipIndexFits(keysAtMax + 4)]).toEqual([true, false]);
  });

  test("every added key is present; absent keys read as present about 1% of the time", () => {
    const keys = Array.from({ length: 20_000 }, (_, index) => (index % 2 ? `w:word${index}` : `t:${(index * 2654435761) >>> 0}`));
    const bloom = BloomFilter.forKeys(keys.length);
    for (const key of keys) bloom.add(key);
    expect({ missing: keys.filter((key) => !bloom.has(key)), keyCount: bloom.keyCount, bitCount: bloom.bitCount }).toEqual({ missing: [], keyCount: 20_000, bitCount: 200_000 });
    let falsePositives = 0;
    for (let index = 0; index < 100_000; index++) if (bloom.has(`w:absent${index}`)) falsePositives++;
    const rate = falsePositives / 100_000;
    expect(rate).toBeLessThan(0.015);
    expect(rate).toBeGreaterThan(0.003);
  });

  test("an empty filter holds nothing; hashing a key once serves any filter", () => {
    const empty = BloomFilter.forKeys(0);
    expect([empty.has("w:anything"), empty.has("")]).toEqual([false, false]);
    const small = BloomFilter.forKeys(10);
    const large = BloomFilter.forKeys(100_000);
    small.add("s:api");
    large.add("s:api");
    const hashes = hashKey("s:api");
    expect([small.hasHashes(hashes), large.hasHashes(hashes)]).toEqual([true, true]);
  });
});

describe("the skip index file", () => {
  const directory = tempDir("skip-index-file");
  afterAll(() => directory.remove());

  function sample(): { bloom: BloomFilter; keys: string[] } {
    const keys = Array.from({ length: 500 }, (_, index) => `w:key${index}`);
    const bloom = BloomFilter.forKeys(keys.length);
    for (const key of keys) bloom.add(key);
    return { bloom, keys };
  }

  test("written atomically and read back, it answers exactly as before", async () => {
    const { bloom, keys } = sample();
    const path = join(directory.path, "seg-0000000001.parquet.skip");
    await writeSkipIndex(path, `${path}.tmp`, bloom);
    const bytes = readFileSync(path);
    expect(bytes.length).toBe(24 + bloom.byteLength + 4);
    const read = BloomFilter.decode(bytes);
    expect({ hashCount: read.hashCount, bitCount: read.bitCount, keyCount: read.keyCount }).toEqual({ hashCount: 7, bitCount: bloom.bitCount, keyCount: 500 });
    const probes = [...keys, ...Array.from({ length: 2_000 }, (_, index) => `w:other${index}`)];
    expect(probes.map((key) => read.has(key))).toEqual(probes.map((key) => bloom.has(key)));
    expect(Buffer.from(read.encode())).toEqual(bytes);
    // A file whose bytes start off a word boundary (a slice of a larger buffer) reads the same.
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    expect(BloomFilter.decode(shifted.subarray(1)).has(keys[7])).toBe(true);
  });

  const encoded = sample().bloom.encode();
  const flip = (offset: number) => {
    const bytes = encoded.slice();
    bytes[offset] ^= 0x10;
    return bytes;
  };
  test.each<[string, Uint8Array, SkipIndexError["code"]]>([
    ["empty", new Uint8Array(0), "skip_index_corrupt"],
    ["cut inside its header", encoded.slice(0, 20), "skip_index_corrupt"],
    ["cut inside its bits", encoded.slice(0, 100), "skip_index_corrupt"],
    ["without its checksum", encoded.slice(0, encoded.length - 4), "skip_index_corrupt"],
    ["with a byte of its magic changed", flip(1), "skip_index_corrupt"],
    ["with its hash count changed", flip(8), "skip_index_corrupt"],
    ["with its bit count changed", flip(13), "skip_index_corrupt"],
    ["with a bit flipped", flip(200), "skip_index_corrupt"],
    ["with its checksum changed", flip(encoded.length - 2), "skip_index_corrupt"],
    ["of another version", flip(4), "skip_index_version"],
    ["zeroed (a rename that outlived its data)", new Uint8Array(encoded.length), "skip_index_corrupt"],
  ])("a file %s is rejected", (_what, bytes, code) => {
    let caught: unknown;
    try {
      BloomFilter.decode(bytes);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(SkipIndexError);
    expect((caught as SkipIndexError).code).toBe(code);
  });
});

describe("listing a segment's keys", () => {
  const root = tempDir("skip-index-keys");
  let duck: Duck;
  beforeAll(async () => {
    duck = await Duck.open({ dataDir: root.path, memoryLimit: "256MB", threads: 2 });
  });
  afterAll(() => {
    duck?.close();
    root.remove();
  });

  /** Messages whose words are easy to get wrong: punctuation runs, tabs, newlines, doubled spaces, non-ASCII letters and separators, case. */
  const MESSAGES = [
    "GET /api/items/42 200 in 5ms",
    "Read TIMEOUT after 5s; retrying (attempt 2/3)",
    "Straße naïve—foo «bar» İstanbul ΣΊΣΥΦΟΣ",
    "tab\tseparated\tvalues and a\nnewline",
    "  leading,  doubled  and trailing spaces  ",
    "under_score snake_case_word x-y-z a.b.c",
    "emoji 😀 between🙂words",
    "",
    "!!!",
    "user=alice@example.com ip=10.0.0.1:8080 path=C:\\temp\\x",
    "GET /api/items/42 200 in 5ms",
  ];

  test("the deduplicated rows give exactly the keys of the segment itself, and its filter holds them all", async () => {
    const paths = dataPaths(root.path);
    const parquet = join(root.path, "awkward.parquet");
    const connection = await duck.connect();
    try {
      const rows = MESSAGES.map((message, index) => {
        const literal = (text: string | null) => (text === null ? "NULL" : `'${text.replaceAll("'", "''")}'`);
        return `(${literal(message)}, ${literal(index % 3 === 0 ? "" : index % 5 === 0 ? null : `trace-${index % 4}`)}, ${literal(index % 7 === 0 ? null : `svc-${index % 2}`)}, ${literal(`Host-${index % 3}`)})`;
      });
      await execute(connection, `COPY (SELECT * FROM (VALUES ${rows.join(", ")}) AS t(message, trace_id, service, hostname)) TO ${sqlPathLiteral(paths, parquet)} (FORMAT parquet)`);
      const source = `read_parquet(${sqlPathLiteral(paths, parquet)})`;
      const keysOf = async (sql: string) => (await queryRows(connection, `${sql} ORDER BY key`)).map((row) => String(row.key));
      const direct = await keysOf(skipKeysSql(source));
      expect(await keysOf(skipKeysSql(segmentSkipKeysSource(source)))).toEqual(direct);
      // Spot checks that the fixture covers what it means to.
      expect(direct).toEqual(expect.arrayContaining(["w:timeout", "w:straße", "w:foo", "w:bar", "w:separated", "w:newline", "w:snake_case_word", "w:between", "w:words", "t:trace-1", "s:svc-0", "h:Host-2"]));
      expect(direct).not.toContain("w:");
      expect(direct).not.toContain("t:");

      const bloom = await buildSkipIndex(connection, source);
      expect(bloom).toBeDefined();
      expect({ keyCount: bloom!.keyCount, missing: direct.filter((key) => !bloom!.has(key)) }).toEqual({ keyCount: direct.length, missing: [] });
    } finally {
      connection.closeSync();
    }
  });
});
