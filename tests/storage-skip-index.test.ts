// Goal: a segment's skip index (a filter per row group) never says "absent" for a key
// that was added to a row group, says "present" for other keys about as rarely as
// designed (~0.1%), names the rows of the row groups it lets through, survives a write
// and a read byte for byte (also mapped from its file), and a torn, corrupted or
// other-version file is rejected, never trusted; its hash of a key's UTF-8 bytes is
// MurmurHash3 (published vectors) for every kind of string; the cheaper rows a
// segment's keys are listed from give exactly the keys skipKeysSql lists from each row
// group itself; and reading a row group's range through sourceSql reads exactly its rows.
// Method: pure tests of hashKey and SkipIndex, with a byte-by-byte reference hash over
// TextEncoder output; the file round trip through a temporary directory; the key
// listing and range reads against a real DuckDB over Parquet files of awkward messages
// and of many small row groups.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { skipKeysSql } from "../src/query/skip-keys.ts";
import { Duck, execute, queryRows } from "../src/storage/duckdb.ts";
import { SKIP_INDEX_BITS_MIN, SKIP_INDEX_BYTES_MAX } from "../src/storage/limits.ts";
import { dataPaths, sqlPathLiteral } from "../src/storage/paths.ts";
import { hashKey, openSkipIndex, SkipIndex, SkipIndexError, skipIndexBits, skipIndexFits, SKIP_INDEX_BITS_PER_KEY, writeSkipIndex } from "../src/storage/skip-index.ts";
import { blockRowsSql, buildSkipIndex, parquetRowGroups, segmentSkipKeysSource } from "../src/storage/skip-index-build.ts";
import { sourceSql } from "../src/query/sql.ts";
import { tempDir } from "./helpers/processes.ts";
import { encodeVersion4 } from "./helpers/skip-index-v4.ts";

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

describe("SkipIndex", () => {
  test("sizing: twenty-four bits a key in whole 256-bit buckets, a floor for tiny row groups, a ceiling past which there is none", () => {
    expect(SKIP_INDEX_BITS_PER_KEY).toBe(24);
    expect([0, 1, 10, 11, 1_000].map(skipIndexBits)).toEqual([SKIP_INDEX_BITS_MIN, SKIP_INDEX_BITS_MIN, 256, 512, 24_064]);
    const keysAtMax = Math.floor((SKIP_INDEX_BYTES_MAX * 8) / SKIP_INDEX_BITS_PER_KEY);
    expect([skipIndexFits([keysAtMax]), skipIndexFits([keysAtMax + 16]), skipIndexFits([keysAtMax / 2, keysAtMax / 2 + 16])]).toEqual([true, false, false]);
  });

  test("every key added to a row group is present there; absent keys read as present about 0.02% of the time", () => {
    const keys = Array.from({ length: 20_000 }, (_, index) => (index % 2 ? `w:word${index}` : `t:${(index * 2654435761) >>> 0}`));
    const index = SkipIndex.forBlocks([1_000], [keys.length]);
    for (const key of keys) index.add(0, key);
    expect({ missing: keys.filter((key) => !index.has(key)), keyCount: index.keyCount, byteLength: index.byteLength }).toEqual({ missing: [], keyCount: 20_000, byteLength: 60_000 });
    let falsePositives = 0;
    for (let probe = 0; probe < 1_000_000; probe++) if (index.has(`w:absent${probe}`)) falsePositives++;
    const rate = falsePositives / 1_000_000;
    expect(rate).toBeLessThan(0.0004);
    expect(rate).toBeGreaterThan(0.00003);
  });

  test("row groups are separate filters: a key is found in the row groups it was added to, and their rows are named as ranges", () => {
    const index = SkipIndex.forBlocks([100, 50, 25, 10], [10, 10, 10, 10]);
    index.add(0, "w:a");
    index.add(1, "w:a");
    index.add(3, "w:a");
    index.add(2, "w:b");
    for (let block = 0; block < 4; block++) index.add(block, "s:api");
    const rangesOf = (key: string) => {
      const hashes = hashKey(key);
      return index.rowRanges((block) => index.blockHas(block, hashes));
    };
    // Neighbouring row groups join into one range; every row group accepted means "read it all".
    expect(rangesOf("w:a")).toEqual([
      { start: 0, end: 150 },
      { start: 175, end: 185 },
    ]);
    expect(rangesOf("w:b")).toEqual([{ start: 150, end: 175 }]);
    expect(rangesOf("s:api")).toBeNull();
    expect(rangesOf("w:absent")).toEqual([]);
    expect({ rowCount: index.rowCount, keyCount: index.keyCount }).toEqual({ rowCount: 185, keyCount: 8 });
  });

  test("row groups sharing most keys still answer independently: no absent key passes many of them", () => {
    // 64 row groups of the same size holding the same 2,000 common keys and 200 of their own.
    const blocks = 64;
    const index = SkipIndex.forBlocks(new Array(blocks).fill(100), new Array(blocks).fill(2_200));
    for (let block = 0; block < blocks; block++) {
      for (let key = 0; key < 2_000; key++) index.add(block, `w:common${key}`);
      for (let key = 0; key < 200; key++) index.add(block, `w:own${block}x${key}`);
    }
    let worst = 0;
    for (let probe = 0; probe < 5_000; probe++) {
      const hashes = hashKey(`w:absent${probe}`);
      let passed = 0;
      for (let block = 0; block < blocks; block++) if (index.blockHas(block, hashes)) passed++;
      worst = Math.max(worst, passed);
    }
    // Independent row groups at ~0.1% each: 5 of 64 is already far in the tail. Had
    // every row group placed a key alike, an unlucky absent key would pass all 64.
    expect(worst).toBeLessThan(5);
  });

  test("adding hashed keys in bulk sets exactly the bits adding them one by one does", () => {
    const keys = Array.from({ length: 3_000 }, (_, index) => `w:key${index}`);
    const firsts = Uint32Array.from(keys, (key) => hashKey(key).first);
    const seconds = Uint32Array.from(keys, (key) => hashKey(key).second);
    const one = SkipIndex.forBlocks([100, 200], [3_000, 3_000], 42);
    const bulk = SkipIndex.forBlocks([100, 200], [3_000, 3_000], 42);
    for (const key of keys) one.add(1, key);
    bulk.addAllHashed(1, firsts, seconds);
    expect(Buffer.from(bulk.encode()).equals(Buffer.from(one.encode()))).toBe(true);
    expect(bulk.blocks[1].keyCount).toBe(3_000);
  });

  test("an empty filter holds nothing; hashing a key once serves any filter", () => {
    const empty = SkipIndex.forBlocks([5], [0]);
    expect([empty.has("w:anything"), empty.has("")]).toEqual([false, false]);
    const index = SkipIndex.forBlocks([5, 5], [10, 100_000]);
    index.add(0, "s:api");
    index.add(1, "s:api");
    const hashes = hashKey("s:api");
    expect([index.blockHas(0, hashes), index.blockHas(1, hashes)]).toEqual([true, true]);
  });
});

describe("SkipIndex.concat (a compaction's index from its inputs')", () => {
  test("the parts' blocks follow one another with their rows renumbered, and each answers as it did in its part", () => {
    const first = SkipIndex.forBlocks([100, 30], [50, 50]);
    const second = SkipIndex.forBlocks([70], [50]);
    for (let key = 0; key < 40; key++) {
      first.add(0, `w:a${key}`);
      first.add(1, `w:b${key}`);
      second.add(0, `w:c${key}`);
    }
    const joined = SkipIndex.concat([first, second])!;
    expect(joined.blocks.map((block) => [block.rowStart, block.rowCount, block.keyCount])).toEqual([
      [0, 100, 40],
      [100, 30, 40],
      [130, 70, 40],
    ]);
    expect({ rowCount: joined.rowCount, keyCount: joined.keyCount, byteLength: joined.byteLength }).toEqual({ rowCount: 200, keyCount: 120, byteLength: first.byteLength + second.byteLength });
    const rangesOf = (key: string) => {
      const hashes = hashKey(key);
      return joined.rowRanges((block) => joined.blockHas(block, hashes));
    };
    expect([rangesOf("w:a7"), rangesOf("w:b7"), rangesOf("w:c7"), rangesOf("w:absent")]).toEqual([[{ start: 0, end: 100 }], [{ start: 100, end: 130 }], [{ start: 130, end: 200 }], []]);
    // Every part's keys still pass exactly where they were added, after an encode and decode too.
    const decoded = SkipIndex.decode(joined.encode());
    const missing = Array.from({ length: 40 }, (_, key) => [
      [0, `w:a${key}`],
      [1, `w:b${key}`],
      [2, `w:c${key}`],
    ])
      .flat()
      .filter(([block, key]) => !decoded.blockHas(block as number, hashKey(key as string)));
    expect(missing).toEqual([]);
  });

  test("two segments' blocks place a key differently (their own seeds), so a key absent from both does not pass them alike", () => {
    const parts = Array.from({ length: 32 }, () => SkipIndex.forBlocks([100], [2_200]));
    for (const part of parts) for (let key = 0; key < 2_200; key++) part.add(0, `w:common${key}`);
    const joined = SkipIndex.concat(parts)!;
    let worst = 0;
    for (let probe = 0; probe < 5_000; probe++) {
      const hashes = hashKey(`w:absent${probe}`);
      let passed = 0;
      for (let block = 0; block < parts.length; block++) if (joined.blockHas(block, hashes)) passed++;
      worst = Math.max(worst, passed);
    }
    expect(worst).toBeLessThan(5);
  });

  test("an index with fewer bits a key than this version gives (an older version's, or a join with one) is under-sized; a full one is not", () => {
    const keys = Array.from({ length: 1_000 }, (_, index) => `w:word${index}`);
    const full = SkipIndex.forBlocks([100], [keys.length]);
    // Sized at 16 bits a key, as version 5 files before this one were.
    const older = SkipIndex.forBlocks([100], [Math.ceil((keys.length * 16) / SKIP_INDEX_BITS_PER_KEY)]);
    for (const key of keys) {
      full.add(0, key);
      older.add(0, key);
    }
    expect([full.underSized, older.underSized, SkipIndex.concat([full, older])!.underSized, SkipIndex.concat([full, full])!.underSized]).toEqual([false, true, true, false]);
    // A tiny row group's floor of one bucket is not under-sized: it was never smaller.
    const tiny = SkipIndex.forBlocks([1], [1]);
    tiny.add(0, "w:one");
    expect(tiny.underSized).toBe(false);
    // Under-sized still holds every key it was given.
    expect(keys.filter((key) => !older.has(key))).toEqual([]);
  });

  test("a join past the index's byte bound is refused (the compaction lists its keys instead)", () => {
    const half = SkipIndex.forBlocks([10], [Math.floor((SKIP_INDEX_BYTES_MAX * 8) / SKIP_INDEX_BITS_PER_KEY / 2)]);
    expect(SkipIndex.concat([half])).toBeDefined();
    expect(SkipIndex.concat([half, half, half])).toBeUndefined();
  });
});

describe("the skip index file", () => {
  const directory = tempDir("skip-index-file");
  afterAll(() => directory.remove());

  function sample(): { index: SkipIndex; keys: string[] } {
    const keys = Array.from({ length: 500 }, (_, index) => `w:key${index}`);
    const index = SkipIndex.forBlocks([300, 200, 7], [300, 200, 0]);
    keys.forEach((key, at) => index.add(at < 300 ? 0 : 1, key));
    return { index, keys };
  }

  test("written atomically and read back (copied or mapped), it answers exactly as before", async () => {
    const { index, keys } = sample();
    const path = join(directory.path, "seg-0000000001.parquet.skip");
    await writeSkipIndex(path, `${path}.tmp`, index);
    const bytes = readFileSync(path);
    expect(bytes.length).toBe(24 + 3 * 20 + index.byteLength + 4);
    const probes = [...keys, ...Array.from({ length: 2_000 }, (_, at) => `w:other${at}`)];
    const answers = (read: SkipIndex) => probes.map((key) => [0, 1, 2].map((block) => read.blockHas(block, hashKey(key))));
    for (const read of [SkipIndex.decode(bytes), await openSkipIndex(path)]) {
      expect({ blocks: read.blocks, keyCount: read.keyCount, rowCount: read.rowCount }).toEqual({ blocks: index.blocks, keyCount: 500, rowCount: 507 });
      expect(answers(read)).toEqual(answers(index));
      expect(Buffer.from(read.encode())).toEqual(bytes);
    }
    // A file whose bytes start off a word boundary (a slice of a larger buffer) reads the same.
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    expect(SkipIndex.decode(shifted.subarray(1)).has(keys[7])).toBe(true);
  });

  test("a version 4 file (no stored seeds: block i used seed base 0) is still read, from bytes and mapped, and answers as written", async () => {
    const keys = Array.from({ length: 500 }, (_, index) => `w:key${index}`);
    const index = SkipIndex.forBlocks([300, 200, 7], [300, 200, 0], 0);
    keys.forEach((key, at) => index.add(at < 300 ? 0 : 1, key));
    const v4 = encodeVersion4(index);
    const path = join(directory.path, "seg-0000000004.parquet.skip");
    await Bun.write(path, v4);
    const probes = [...keys, ...Array.from({ length: 2_000 }, (_, at) => `w:other${at}`)];
    const answers = (read: SkipIndex) => probes.map((key) => [0, 1, 2].map((block) => read.blockHas(block, hashKey(key))));
    for (const read of [SkipIndex.decode(v4), await openSkipIndex(path)]) {
      expect({ rowCount: read.rowCount, keyCount: read.keyCount, seeds: read.blocks.map((block) => block.seed) }).toEqual({ rowCount: 507, keyCount: 500, seeds: index.blocks.map((block) => block.seed) });
      expect(answers(read)).toEqual(answers(index));
    }
  });

  const encoded = sample().index.encode();
  const flip = (offset: number) => {
    const bytes = encoded.slice();
    bytes[offset] ^= 0x10;
    return bytes;
  };
  test.each<[string, Uint8Array, SkipIndexError["code"]]>([
    ["empty", new Uint8Array(0), "skip_index_corrupt"],
    ["cut inside its header", encoded.slice(0, 20), "skip_index_corrupt"],
    ["cut inside its block table", encoded.slice(0, 40), "skip_index_corrupt"],
    ["cut inside its filters", encoded.slice(0, 200), "skip_index_corrupt"],
    ["without its checksum", encoded.slice(0, encoded.length - 4), "skip_index_corrupt"],
    ["with a byte of its magic changed", flip(1), "skip_index_corrupt"],
    ["with its block count changed", flip(8), "skip_index_corrupt"],
    ["with a row count changed", flip(24 + 4), "skip_index_corrupt"],
    ["with a bucket count changed", flip(24 + 20 + 8), "skip_index_corrupt"],
    ["with a bit flipped", flip(200), "skip_index_corrupt"],
    ["with its checksum changed", flip(encoded.length - 2), "skip_index_corrupt"],
    ["of another version", flip(4), "skip_index_version"],
    ["zeroed (a rename that outlived its data)", new Uint8Array(encoded.length), "skip_index_corrupt"],
  ])("a file %s is rejected", (_what, bytes, code) => {
    let caught: unknown;
    try {
      SkipIndex.decode(bytes);
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

  test("the deduplicated rows give exactly the keys of each row group itself, and its filter holds them all", async () => {
    const paths = dataPaths(root.path);
    const parquet = join(root.path, "awkward.parquet");
    const connection = await duck.connect();
    try {
      const quote = (text: string | null) => (text === null ? "NULL" : `'${text.replaceAll("'", "''")}'`);
      const rows = MESSAGES.map((message, index) => `(${index}, ${quote(message)}, ${quote(index % 3 === 0 ? "" : index % 5 === 0 ? null : `trace-${index % 4}`)}, ${quote(index % 7 === 0 ? null : `svc-${index % 2}`)}, ${quote(`Host-${index % 3}`)})`);
      // 5,000 rows, each fixture row 1 in 11, and a rare one in the last row group alone.
      // DuckDB cuts row groups at whole vectors of 2,048 rows, so ROW_GROUP_SIZE 2048 makes three.
      const fixture = `(VALUES ${rows.join(", ")}) AS t(i, message, trace_id, service, hostname)`;
      await execute(
        connection,
        `COPY (SELECT CASE WHEN n = 4999 THEN 'only at the end' ELSE message END AS message, trace_id, service, hostname, (n % 6)::UTINYINT AS level FROM range(5000) r(n) JOIN ${fixture} ON t.i = n % 11 ORDER BY n) TO ${sqlPathLiteral(paths, parquet)} (FORMAT parquet, ROW_GROUP_SIZE 2048)`,
      );
      const literal = sqlPathLiteral(paths, parquet);
      const groups = await parquetRowGroups(connection, literal);
      expect(groups).toEqual([2048, 2048, 904]);
      const blockRows = blockRowsSql(literal, groups);
      const keysOf = async (sql: string) => (await queryRows(connection, `${sql} ORDER BY block, key`)).map((row) => `${row.block} ${row.key}`);
      const direct = await keysOf(skipKeysSql(blockRows, true));
      expect(await keysOf(skipKeysSql(segmentSkipKeysSource(blockRows), true))).toEqual(direct);
      // Spot checks that the fixture covers what it means to.
      expect(direct).toEqual(expect.arrayContaining(["0 w:timeout", "1 w:straße", "2 w:foo", "0 w:bar", "1 w:separated", "2 w:newline", "0 w:snake_case_word", "1 w:between", "2 w:words", "2 w:alice", "1 t:trace-1", "0 s:svc-0", "2 h:Host-2", "2 w:only", "0 v:4:svc-0", "2 v:5:svc-1"]));
      expect(direct.filter((entry) => entry.endsWith(" w:only"))).toEqual(["2 w:only"]);
      expect(direct.filter((entry) => entry.endsWith(" w:") || entry.endsWith(" t:"))).toEqual([]);

      const index = await buildSkipIndex(connection, literal);
      expect(index).toBeDefined();
      expect(index!.blocks.map((block) => [block.rowStart, block.rowCount])).toEqual([
        [0, 2048],
        [2048, 2048],
        [4096, 904],
      ]);
      const missing = direct.filter((entry) => {
        const [block, key] = [Number(entry.slice(0, entry.indexOf(" "))), entry.slice(entry.indexOf(" ") + 1)];
        return !index!.blockHas(block, hashKey(key));
      });
      expect({ keyCount: index!.keyCount, missing }).toEqual({ keyCount: direct.length, missing: [] });
    } finally {
      connection.closeSync();
    }
  });

  test("a row group's range read through sourceSql gives exactly its rows, on a file of many uneven row groups", async () => {
    const paths = dataPaths(root.path);
    const parquet = join(root.path, "groups.parquet");
    const connection = await duck.connect();
    try {
      // Rows 5, 13006, 26007 and 39008 hold the needle: four row groups of twenty.
      const message = "'event ' || i || CASE WHEN i % 13001 = 5 THEN ' needle' ELSE '' END";
      await execute(
        connection,
        `COPY (SELECT i * 1000 AS ts, i AS ingest_ts, i AS seq, 0::UINTEGER AS idx, 'default' AS tenant, 2::UTINYINT AS level, 'svc' AS service, 'h' AS hostname, '' AS trace_id, '' AS span_id, ${message} AS message, '{}' AS metadata FROM range(40000) t(i) ORDER BY i) TO ${sqlPathLiteral(paths, parquet)} (FORMAT parquet, ROW_GROUP_SIZE 2048)`,
      );
      const literal = sqlPathLiteral(paths, parquet);
      const index = (await buildSkipIndex(connection, literal))!;
      expect(index.blocks.length).toBe(20);
      expect(index.rowCount).toBe(40_000);
      const hashes = hashKey("w:needle");
      const ranges = index.rowRanges((block) => index.blockHas(block, hashes))!;
      const read = await queryRows(connection, `SELECT seq, message FROM (${sourceSql([], [{ literal, ranges }])}) ORDER BY seq`);
      const expectedRows = ranges.flatMap((range) => Array.from({ length: range.end - range.start }, (_, at) => range.start + at));
      expect(read.map((row) => Number(row.seq))).toEqual(expectedRows);
      // Every needle row is in a range read, and the ranges are far fewer rows than the file.
      expect([5, 13006, 26007, 39008].filter((row) => !ranges.some((range) => range.start <= row && row < range.end))).toEqual([]);
      expect(read.filter((row) => String(row.message).endsWith("needle")).map((row) => Number(row.seq))).toEqual([5, 13006, 26007, 39008]);
      expect(expectedRows.length).toBeLessThan(40_000 / 4);
    } finally {
      connection.closeSync();
    }
  });
});
