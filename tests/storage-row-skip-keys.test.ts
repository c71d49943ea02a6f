// Goal: the skip keys hashed as rows are written (storage/row-skip-keys.ts) are the keys
// DuckDB lists from the stored rows (skipKeysSql), so a seal's index built from them
// never misses a key; the byte-fed hash is hashKey; chunks, a rolled-back message and
// row groups that cut chunks in two keep every row's keys with its row group.
// Method: rows written through a real RowBuffer (both the FlatBuffers path and the
// decoded-event path), loaded into a real DuckDB from the buffer's own Parquet part, and
// their keys listed by skipKeysSql; pure checks of the chunk and row-group arithmetic.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { NormalizedEvent } from "../src/protocol/event.ts";
import { encodeBatch, visitBatch } from "../src/protocol/wal-batch.ts";
import { skipKeysSql, type SkipTree } from "../src/query/skip-keys.ts";
import { Duck, queryRows } from "../src/storage/duckdb.ts";
import { dataPaths, sqlPathLiteral } from "../src/storage/paths.ts";
import { RowBuffer } from "../src/storage/row-buffer.ts";
import { SKIP_KEY_CHUNK_KEYS_MAX, SKIP_KEY_CHUNK_ROWS } from "../src/storage/limits.ts";
import { chunkHas, chunksMayMatch, MemtableSkipKeys, type RowGroupMessage, type SkipKeyChunk } from "../src/storage/row-skip-keys.ts";
import { hashAsciiWords, hashKey, hashPrefix, hashPrefixedBytes, keyHashMemo, type KeyHashSink } from "../src/storage/skip-index.ts";
import { tempDir } from "./helpers/processes.ts";

const root = tempDir("row-skip-keys");
let duck: Duck;
beforeAll(async () => {
  duck = await Duck.open({ dataDir: root.path, memoryLimit: "512MB", threads: 2 });
});
afterAll(() => {
  duck?.close();
  root.remove();
});

/** Messages that stress the word split: punctuation, digits, case, controls, quotes, and non-ASCII text. */
const MESSAGES = [
  "Connection TIMEOUT after 30s (retrying)",
  'quote " and back\\slash and tab\there',
  "line one\nline two\r\nline three",
  "snake_case_word, CamelCase; kebab-case/path.to.file:42",
  "blk_-1608999687919862906 Receiving block src: /10.250.19.102:54106",
  "",
  "   leading and trailing   ",
  "nul\u0000byte and bell\u0007",
  "Straße Überweisung fehlgeschlagen für Konto 12",
  "ошибка соединения: timeout 5s",
  "日本語のログ error=42 完了",
  "emoji 🚀 launch ok",
  "ΟΔΟΣ final sigma ΣΑΣ",
  "İstanbul dotted capital I",
  "Kelvin \u212a sign and \u212b angstrom",
  "x".repeat(3000),
  // U+2EBF0 (Unicode 15.1): a letter in JavaScript's Unicode tables, not in the RE2 DuckDB ships.
  "timeout\u{2ebf0}x and more",
];

function events(count: number, seed = 0): NormalizedEvent[] {
  return Array.from({ length: count }, (_, index) => ({
    timestampUs: 1_700_000_000_000_000 + index,
    level: (["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"] as const)[(index + seed) % 6],
    service: index % 5 === 0 ? "pay-ment" : `svc-${(index + seed) % 3}`,
    hostname: index % 4 === 0 ? "" : `Host-${index % 7}`,
    traceId: index % 3 === 0 ? "" : `trace-${seed}-${index}`,
    spanId: "",
    message: `${MESSAGES[(index + seed) % MESSAGES.length]} #${index}`,
    metadata: "{}",
  }));
}

/** Writes `messages` (lists of events) through a RowBuffer, alternating the FlatBuffers and decoded paths. */
function writeRows(messages: readonly NormalizedEvent[][]): RowBuffer {
  const buffer = new RowBuffer();
  messages.forEach((list, message) => {
    buffer.beginMessage(1_700_000_000_000_000, 100 + message, "default");
    if (message % 2 === 0) {
      const batch = encodeBatch(list);
      expect(visitBatch(batch, (event) => buffer.appendRanges(batch, event, event.timestampUs)).ok).toBe(true);
    } else list.forEach((event, index) => buffer.appendEvent(event, index, event.timestampUs));
  });
  return buffer;
}

/** The keys DuckDB lists from the buffer's rows (its Parquet part), per run of rows (`runs`: rows in each, in written order, or in seal order). */
async function duckKeys(buffer: RowBuffer, runs: readonly number[], order = ""): Promise<string[][]> {
  const path = join(root.path, `rows-${crypto.randomUUID()}.parquet`);
  writeFileSync(path, Buffer.concat(buffer.parquetParts()));
  const paths = dataPaths(root.path);
  const connection = await duck.connect();
  try {
    let end = 0;
    const cases = runs.map((rows, index) => `WHEN n < ${(end += rows)} THEN ${index}`).join(" ");
    const source = `(SELECT CASE ${cases} END AS block, * FROM (SELECT row_number() OVER (${order === "" ? "" : `ORDER BY ${order}`}) - 1 AS n, * FROM read_parquet(${sqlPathLiteral(paths, path)})))`;
    const lists: string[][] = runs.map(() => []);
    for (const row of await queryRows(connection, skipKeysSql(source, true))) lists[Number(row.block)].push(String(row.key));
    return lists;
  } finally {
    connection.closeSync();
  }
}

/** What each run of rows (in `order`) holds of each message, as the seal asks the written file. */
async function heldByBlock(buffer: RowBuffer, runs: readonly number[], order: string): Promise<RowGroupMessage[]> {
  const path = join(root.path, `rows-${crypto.randomUUID()}.parquet`);
  writeFileSync(path, Buffer.concat(buffer.parquetParts()));
  const connection = await duck.connect();
  try {
    let end = 0;
    const cases = runs.map((rows, index) => `WHEN n < ${(end += rows)} THEN ${index}`).join(" ");
    const rows = await queryRows(
      connection,
      `SELECT block, seq, min(idx) AS lo, max(idx) AS hi, count(*) AS n FROM (SELECT CASE ${cases} END AS block, seq, idx FROM (SELECT row_number() OVER (ORDER BY ${order}) - 1 AS n, * FROM read_parquet(${sqlPathLiteral(dataPaths(root.path), path)}))) GROUP BY block, seq`,
    );
    return rows.map((row) => ({ block: Number(row.block), seq: Number(row.seq), lo: Number(row.lo), hi: Number(row.hi), rows: Number(row.n) }));
  } finally {
    connection.closeSync();
  }
}

const pairText = (first: number, second: number) => `${first}/${second}`;
const chunkSet = (chunk: SkipKeyChunk) => new Set(Array.from(chunk.firsts, (first, index) => pairText(first, chunk.seconds[index])));
const keySet = (keys: readonly string[]) => new Set(keys.map((key) => hashKey(key)).map((hashes) => pairText(hashes.first, hashes.second)));

describe("hashPrefixedBytes", () => {
  const encode = (text: string) => new TextEncoder().encode(text);
  /** What one call gives its sink. */
  const hashed = (call: (sink: KeyHashSink) => void) => {
    const got: { first: number; second: number }[] = [];
    call({ add: (first, second) => got.push({ first, second }) });
    return got;
  };
  test.each(["", "a", "ab", "abc", "abcd", "abcde", "timeout", "Host-1", "ünïcødé", "🚀🚀"])("a prefix and the bytes of %p hash as hashKey of both", (rest) => {
    for (const prefix of ["", "w:", "v:4:", "prefix5"]) {
      const bytes = encode(`..${rest}..`);
      const [streamedKey] = hashed((sink) => hashPrefixedBytes(hashPrefix(encode(prefix)), bytes, 2, bytes.length - 2, sink));
      expect({ prefix, rest, ...streamedKey }).toEqual({ prefix, rest, ...hashKey(prefix + rest) });
    }
  });

  test("a map is applied to every byte after the prefix (the word table of hashAsciiWords)", () => {
    const lower = Uint8Array.from({ length: 256 }, (_, byte) => (byte >= 0x41 && byte <= 0x5a ? byte + 32 : byte));
    const bytes = encode("TimeOut_42");
    const [streamedKey] = hashed((sink) => hashAsciiWords(hashPrefix(encode("W:")), bytes, 0, bytes.length, lower, sink));
    expect({ ...streamedKey }).toEqual(hashKey("W:timeout_42"));
  });
});

describe("hashAsciiWords", () => {
  const lower = Uint8Array.from({ length: 256 }, (_, byte) => (/[A-Za-z0-9_]/.test(String.fromCharCode(byte)) ? String.fromCharCode(byte).toLowerCase().charCodeAt(0) : 0));
  test.each(["", "a", "Connection TIMEOUT after 30s", "  a bb ccc dddd eeeee  ", "x_1-Y_2.z", "blk_-1608999687919862906 src: /10.250.19.102:54106", "tail"])("the words of %p hash as hashKey of the prefixed lower-cased word", (text) => {
    const got: string[] = [];
    // Word characters around the range: the words must stop at its ends.
    const bytes = new TextEncoder().encode(`x${text}x`);
    expect(hashAsciiWords(hashPrefix(new TextEncoder().encode("w:")), bytes, 1, bytes.length - 1, lower, { add: (first, second) => got.push(`${first}/${second}`) })).toBe(true);
    const words = text.toLowerCase().match(/[a-z0-9_]+/g) ?? [];
    expect(got).toEqual(words.map((word) => hashKey(`w:${word}`)).map((hashes) => `${hashes.first}/${hashes.second}`));
  });

  test("stops at the first byte past ASCII, having given the words before it", () => {
    const got: number[] = [];
    const bytes = new TextEncoder().encode("one two ünd three");
    expect(hashAsciiWords(hashPrefix(new TextEncoder().encode("w:")), bytes, 0, bytes.length, lower, { add: (first) => got.push(first) })).toBe(false);
    expect(got).toEqual([hashKey("w:one").first, hashKey("w:two").first]);
  });
});

describe("RowSkipKeys", () => {
  test("every row's keys are those DuckDB lists from the stored row (a superset only where the two lower-casings or Unicode tables differ)", async () => {
    const messages = [events(MESSAGES.length * 3, 0), events(MESSAGES.length * 2, 1), events(7, 2)];
    const buffer = writeRows(messages);
    const rows = buffer.rows;
    expect(rows).toBeLessThan(SKIP_KEY_CHUNK_ROWS);
    const taken = buffer.keys.take()!;
    expect(taken.chunks.map((chunk) => chunk.rows)).toEqual([rows]);
    let row = 0;
    expect(taken.runs).toEqual(messages.map((list, message) => ({ seq: 100 + message, idx: 0, row: (row += list.length) - list.length, rows: list.length })));
    const [listed] = await duckKeys(buffer, [rows]);
    const ours = chunkSet(taken.chunks[0]);
    const theirs = keySet(listed);
    expect([...theirs].filter((key) => !ours.has(key))).toEqual([]);
    // Extra words come only from JavaScript's full lower-casing (final sigma, U+0130's "i̇") and its newer Unicode tables.
    const extra = [...ours].filter((key) => !theirs.has(key));
    const lowered = MESSAGES.map((message) => message.toLowerCase());
    const explained = keySet([...lowered.flatMap((text) => text.split(/[^\p{L}\p{N}_]+/u)), ...lowered.flatMap((text) => text.match(/[a-z0-9_]+/g) ?? [])].filter((word) => word !== "").map((word) => `w:${word}`));
    expect(extra.length).toBeGreaterThan(0);
    expect(extra.filter((key) => !explained.has(key))).toEqual([]);
    expect(listed).toEqual(expect.arrayContaining(["w:timeout", "w:snake_case_word", "w:straße", "w:ошибка", "w:σασ", "w:istanbul", "w:k", "s:pay-ment", "h:", "t:trace-0-1", "v:2:svc-2"]));
    // Whichever way a Unicode table splits "timeout\u{2ebf0}x", the ASCII word is a key.
    expect(ours.has([...keySet(["w:timeout"])][0])).toBe(true);
  });

  test("a rolled-back message leaves its rows out, across a chunk boundary and from exactly a chunk's end, and later rows stay aligned", async () => {
    for (const [before, rolledBack] of [
      [SKIP_KEY_CHUNK_ROWS - 10, 30],
      [SKIP_KEY_CHUNK_ROWS, 30],
      // A mark at a chunk's end and more than a chunk rolled back: the chunk closed after the mark goes.
      [SKIP_KEY_CHUNK_ROWS, SKIP_KEY_CHUNK_ROWS + 100],
    ]) {
      const buffer = new RowBuffer();
      const list = events(before, 3);
      buffer.beginMessage(1, 1, "default");
      list.forEach((event, index) => buffer.appendEvent(event, index, event.timestampUs));
      const mark = buffer.mark();
      buffer.beginMessage(1, 2, "default");
      // Past the chunk's end, then rolled back.
      events(rolledBack, 4).forEach((event, index) => buffer.appendEvent({ ...event, message: `rolledback ${index}` }, index, event.timestampUs));
      buffer.rollback(mark);
      buffer.beginMessage(1, 3, "default");
      const after = events(25, 5);
      after.forEach((event, index) => buffer.appendEvent(event, index, event.timestampUs));
      const taken = buffer.keys.take()!;
      expect({ before, rolledBack, rows: taken.rows, chunks: taken.chunks.map((chunk) => chunk.rows) }).toEqual({ before, rolledBack, rows: before + 25, chunks: before === SKIP_KEY_CHUNK_ROWS ? [SKIP_KEY_CHUNK_ROWS, 25] : [SKIP_KEY_CHUNK_ROWS - 10, 25] });
      expect(taken.runs).toEqual([
        { seq: 1, idx: 0, row: 0, rows: before },
        { seq: 3, idx: 0, row: before, rows: 25 },
      ]);
      const listed = await duckKeys(buffer, taken.chunks.map((chunk) => chunk.rows));
      taken.chunks.forEach((chunk, index) => {
        const ours = chunkSet(chunk);
        expect({ before, index, missing: [...keySet(listed[index])].filter((key) => !ours.has(key)).length }).toEqual({ before, index, missing: 0 });
      });
    }
  });

  test("a chunk past SKIP_KEY_CHUNK_KEYS_MAX gives the buffer's keys up, and a rollback after it does not fail", () => {
    const buffer = new RowBuffer();
    buffer.beginMessage(1, 1, "default");
    buffer.appendEvent(events(1)[0], 0, 1);
    const mark = buffer.mark();
    buffer.beginMessage(1, 2, "default");
    // ~300 distinct words a row: the chunk passes 2^18 keys within 1,024 rows.
    const wordsPerRow = Math.ceil(SKIP_KEY_CHUNK_KEYS_MAX / 900);
    for (let index = 0; index < 1000; index++) {
      const message = Array.from({ length: wordsPerRow }, (_, word) => `w${index}x${word}`).join(" ");
      buffer.appendEvent({ ...events(1)[0], message }, index, 1);
    }
    expect(buffer.keys.overflowed).toBe(true);
    buffer.rollback(mark);
    expect(buffer.rows).toBe(1);
    expect(buffer.keys.take()).toBeUndefined();
  });

  test("row groups get the keys of every chunk their messages' rows were listed in, whatever order the file holds them in", async () => {
    // Three flushes of odd sizes (chunks of 1024 and the remainders); the file holds the
    // rows newest message first, as DuckDB may write a memtable's parts.
    const flushes: [number, number, number][] = [
      [6, 1500, 20],
      [7, 700, 10],
      [8, 2100, 30],
    ];
    const keys = new MemtableSkipKeys();
    const all = new RowBuffer();
    for (const [seed, count, seq] of flushes) {
      const buffer = new RowBuffer();
      for (const target of [buffer, all]) {
        target.beginMessage(1_700_000_000_000_000, seq, "default");
        events(count, seed).forEach((event, index) => target.appendEvent(event, index, event.timestampUs));
      }
      keys.append(buffer.keys.take(), buffer.rows);
    }
    const total = 1500 + 700 + 2100;
    expect(keys.rowCount).toBe(total);
    const rowGroups = [1000, 2048, total - 3048];
    const fileOrder = "seq DESC, idx";
    const listed = await duckKeys(all, rowGroups, fileOrder);
    const held = await heldByBlock(all, rowGroups, fileOrder);
    const groups = await keys.rowGroupKeys(rowGroups, held);
    if (typeof groups === "string") throw new Error(groups);
    expect(groups.map((group) => group.rows)).toEqual(rowGroups);
    groups.forEach((group, index) => {
      const ours = chunkSet(group);
      expect({ index, missing: [...keySet(listed[index])].filter((key) => !ours.has(key)).length }).toEqual({ index, missing: 0 });
    });
    // Group 0 holds seq 30's first 1,000 rows: their chunk (seq 30's first 1,024 rows) and nothing of seq 10 or 20.
    expect(chunkSet(groups[0]).has([...keySet(["t:trace-8-1"])][0])).toBe(true);
    expect(chunkSet(groups[0]).has([...keySet(["t:trace-7-1"])][0])).toBe(false);

    // A file that holds what the keys were not listed for is named, not trusted.
    expect(await keys.rowGroupKeys([1000, 2048], held)).toContain("the file holds 3048 rows");
    expect(await keys.rowGroupKeys(rowGroups, [...held, { block: 2, seq: 99, lo: 0, hi: 0, rows: 1 }])).toContain("seq 99");
    expect(await keys.rowGroupKeys(rowGroups, held.map((entry) => (entry.seq === 10 ? { ...entry, hi: entry.hi + 5, rows: entry.rows + 5 } : entry)))).toContain("its keys were listed for");
    expect(await keys.rowGroupKeys(rowGroups, held.filter((entry) => entry.block !== 1))).toContain("row group 1 holds 2048 rows, 0 of them");
  });

  test("a row group gets exactly the chunks holding its rows, at a chunk's first and last row too", async () => {
    // One message of 2,500 rows (chunks of rows 0-1023, 1024-2047, 2048-2499), each row with its own trace id.
    const buffer = new RowBuffer();
    buffer.beginMessage(1, 7, "default");
    const list = events(2500, 9).map((event, index) => ({ ...event, traceId: `row-${index}` }));
    list.forEach((event, index) => buffer.appendEvent(event, index, event.timestampUs));
    const keys = new MemtableSkipKeys();
    keys.append(buffer.keys.take(), 2500);
    const traceKey = (row: number) => [...keySet([`t:row-${row}`])][0];
    const cases: [number, number, number[]][] = [
      [1023, 1023, [0]],
      [1024, 1024, [1]],
      [1023, 1024, [0, 1]],
      [2047, 2048, [1, 2]],
      [0, 0, [0]],
      [2499, 2499, [2]],
    ];
    for (const [lo, hi, chunks] of cases) {
      // Block 0 holds rows [lo, hi] of the message; block 1 the rest (not asked about).
      const rows = hi - lo + 1;
      const groups = await keys.rowGroupKeys([rows, 2500 - rows], [
        { block: 0, seq: 7, lo, hi, rows },
        { block: 1, seq: 7, lo: 0, hi: 2499, rows: 2500 - rows },
      ]);
      if (typeof groups === "string") throw new Error(groups);
      const held = chunkSet(groups[0]);
      const chunkOf = (row: number) => Math.floor(row / SKIP_KEY_CHUNK_ROWS);
      // Each chunk's first and last rows' trace ids are in block 0 exactly when that chunk is.
      for (const chunk of [0, 1, 2]) {
        for (const row of [chunk * SKIP_KEY_CHUNK_ROWS, Math.min(2499, (chunk + 1) * SKIP_KEY_CHUNK_ROWS - 1)]) {
          expect({ lo, hi, row, held: held.has(traceKey(row)) }).toEqual({ lo, hi, row, held: chunks.includes(chunkOf(row)) });
        }
      }
    }
  });

  test("a flush that stored fewer rows than its buffer held, or lost its keys, leaves the memtable without keys", () => {
    const buffer = writeRows([events(10)]);
    const keys = new MemtableSkipKeys();
    keys.append(buffer.keys.take(), 9);
    expect(keys.valid).toBe(false);
    const other = new MemtableSkipKeys();
    other.append(undefined, 10);
    expect(other.valid).toBe(false);
  });
});

describe("chunkHas and chunksMayMatch (how a snapshot skips memtable parts)", () => {
  test("a chunk has every key DuckDB lists from its rows, and not keys of other chunks' rows; a tree must hold within one chunk", async () => {
    // Two chunks: the first's rows of seed 0, the second's of seed 5, with trace ids of their own.
    const buffer = new RowBuffer();
    buffer.beginMessage(1_700_000_000_000_000, 1, "default");
    const list = [...events(SKIP_KEY_CHUNK_ROWS, 0), ...events(200, 5).map((event) => ({ ...event, traceId: event.traceId && `late-${event.traceId}` }))];
    list.forEach((event, index) => buffer.appendEvent(event, index, event.timestampUs));
    const [firstKeys, secondKeys] = await duckKeys(buffer, [SKIP_KEY_CHUNK_ROWS, 200]);
    const taken = buffer.keys.take()!;
    expect(taken.chunks.map((chunk) => chunk.rows)).toEqual([SKIP_KEY_CHUNK_ROWS, 200]);
    const [first, second] = taken.chunks;
    expect(firstKeys.filter((key) => !chunkHas(first, hashKey(key)))).toEqual([]);
    expect(secondKeys.filter((key) => !chunkHas(second, hashKey(key)))).toEqual([]);
    const onlyFirst = firstKeys.filter((key) => key.startsWith("t:"));
    const onlySecond = secondKeys.filter((key) => key.startsWith("t:late-"));
    expect(onlyFirst.length).toBeGreaterThan(100);
    expect(onlySecond.length).toBeGreaterThan(10);
    expect(onlyFirst.filter((key) => chunkHas(second, hashKey(key)))).toEqual([]);
    expect(onlySecond.filter((key) => chunkHas(first, hashKey(key)))).toEqual([]);
    expect(chunkHas(first, hashKey("w:neverwritten"))).toBe(false);

    const hashesOf = keyHashMemo();
    const mayMatch = (tree: SkipTree) => chunksMayMatch(taken.chunks, tree, hashesOf);
    expect(mayMatch({ key: onlyFirst[0] })).toBe(true);
    expect(mayMatch({ key: onlySecond[0] })).toBe(true);
    expect(mayMatch({ any: [{ key: "w:neverwritten" }, { key: onlySecond[0] }] })).toBe(true);
    // Each key is in some chunk, but no chunk holds both.
    expect(mayMatch({ all: [{ key: onlyFirst[0] }, { key: onlySecond[0] }] })).toBe(false);
    expect(mayMatch({ all: [{ key: onlySecond[0] }, { key: "s:pay-ment" }] })).toBe(true);
    expect(mayMatch({ key: "w:neverwritten" })).toBe(false);
    expect(chunksMayMatch([], { key: "s:pay-ment" }, hashesOf)).toBe(false);
  });
});
