// Goal: the skip keys hashed as rows are written (storage/row-skip-keys.ts) are the keys
// DuckDB lists from the stored rows (skipKeysSql), so a seal's index built from them
// never misses a key; the byte-fed hash is hashKey; chunks, a rolled-back message and
// row groups that cut chunks in two keep every row's keys with its row group.
// Method: rows written through a real RowBuffer (both the FlatBuffers path and the
// decoded-event path), loaded into a real DuckDB from the buffer's own NDJSON, and
// their keys listed by skipKeysSql; pure checks of the chunk and row-group arithmetic.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { NormalizedEvent } from "../src/protocol/event.ts";
import { encodeBatch, visitBatch } from "../src/protocol/wal-batch.ts";
import { skipKeysSql } from "../src/query/skip-keys.ts";
import { Duck, queryRows } from "../src/storage/duckdb.ts";
import { dataPaths, sqlPathLiteral } from "../src/storage/paths.ts";
import { RowBuffer } from "../src/storage/row-buffer.ts";
import { MemtableSkipKeys, SEAL_ORDER_SQL, SKIP_KEY_CHUNK_ROWS, type SkipKeyChunk } from "../src/storage/row-skip-keys.ts";
import { NDJSON_COLUMNS_SPEC } from "../src/storage/schema.ts";
import { hashKey, hashPrefix, hashPrefixedBytes, SAME_BYTE, streamedKey } from "../src/storage/skip-index.ts";
import { firstMismatchedRowGroup } from "../src/storage/segment-skip-indexes.ts";
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

/** The keys DuckDB lists from the buffer's NDJSON, per run of rows (`runs`: rows in each, in written order, or in seal order). */
async function duckKeys(buffer: RowBuffer, runs: readonly number[], order = ""): Promise<string[][]> {
  const path = join(root.path, `rows-${crypto.randomUUID()}.ndjson`);
  writeFileSync(path, buffer.view());
  const paths = dataPaths(root.path);
  const connection = await duck.connect();
  try {
    let end = 0;
    const cases = runs.map((rows, index) => `WHEN n < ${(end += rows)} THEN ${index}`).join(" ");
    const source = `(SELECT CASE ${cases} END AS block, * FROM (SELECT row_number() OVER (${order === "" ? "" : `ORDER BY ${order}`}) - 1 AS n, * FROM read_ndjson(${sqlPathLiteral(paths, path)}, columns=${NDJSON_COLUMNS_SPEC}, format='newline_delimited')))`;
    const lists: string[][] = runs.map(() => []);
    for (const row of await queryRows(connection, skipKeysSql(source, true))) lists[Number(row.block)].push(String(row.key));
    return lists;
  } finally {
    connection.closeSync();
  }
}

const pairText = (first: number, second: number) => `${first}/${second}`;
const chunkSet = (chunk: SkipKeyChunk) => new Set(Array.from(chunk.firsts, (first, index) => pairText(first, chunk.seconds[index])));
const keySet = (keys: readonly string[]) => new Set(keys.map((key) => hashKey(key)).map((hashes) => pairText(hashes.first, hashes.second)));

describe("hashPrefixedBytes", () => {
  const encode = (text: string) => new TextEncoder().encode(text);
  test.each(["", "a", "ab", "abc", "abcd", "abcde", "timeout", "Host-1", "ünïcødé", "🚀🚀"])("a prefix and the bytes of %p hash as hashKey of both", (rest) => {
    for (const prefix of ["", "w:", "v:4:", "prefix5"]) {
      const bytes = encode(`..${rest}..`);
      hashPrefixedBytes(hashPrefix(encode(prefix)), bytes, 2, bytes.length - 2, SAME_BYTE);
      expect({ prefix, rest, ...streamedKey }).toEqual({ prefix, rest, ...hashKey(prefix + rest) });
    }
  });

  test("a map is applied to every byte after the prefix", () => {
    const lower = Uint8Array.from({ length: 256 }, (_, byte) => (byte >= 0x41 && byte <= 0x5a ? byte + 32 : byte));
    const bytes = encode("TimeOut_42");
    hashPrefixedBytes(hashPrefix(encode("W:")), bytes, 0, bytes.length, lower);
    expect({ ...streamedKey }).toEqual(hashKey("W:timeout_42"));
  });
});

describe("RowSkipKeys", () => {
  test("every row's keys are those DuckDB lists from the stored row (a superset only where the two lower-casings differ)", async () => {
    const messages = [events(MESSAGES.length * 3, 0), events(MESSAGES.length * 2, 1), events(7, 2)];
    const buffer = writeRows(messages);
    const rows = buffer.rows;
    expect(rows).toBeLessThan(SKIP_KEY_CHUNK_ROWS);
    const taken = buffer.keys.take()!;
    expect(taken.chunks.map((chunk) => chunk.rows)).toEqual([rows]);
    expect(Array.from(taken.seqs)).toEqual(messages.flatMap((list, message) => list.map(() => 100 + message)));
    const [listed] = await duckKeys(buffer, [rows]);
    const ours = chunkSet(taken.chunks[0]);
    const theirs = keySet(listed);
    expect([...theirs].filter((key) => !ours.has(key))).toEqual([]);
    // Extra words come only from JavaScript's full lower-casing where DuckDB's differs (final sigma, U+0130's "i̇").
    const extra = [...ours].filter((key) => !theirs.has(key));
    const fullLowerWords = keySet(MESSAGES.flatMap((message) => message.toLowerCase().split(/[^\p{L}\p{N}_]+/u)).filter((word) => word !== "").map((word) => `w:${word}`));
    expect(extra.length).toBeGreaterThan(0);
    expect(extra.filter((key) => !fullLowerWords.has(key))).toEqual([]);
    expect(listed).toEqual(expect.arrayContaining(["w:timeout", "w:snake_case_word", "w:straße", "w:ошибка", "w:σασ", "w:istanbul", "w:k", "s:pay-ment", "h:", "t:trace-0-1", "v:2:svc-2"]));
  });

  test("a rolled-back message leaves its rows out, across a chunk boundary too, and later rows stay aligned", async () => {
    const buffer = new RowBuffer();
    const list = events(SKIP_KEY_CHUNK_ROWS - 10, 3);
    buffer.beginMessage(1, 1, "default");
    list.forEach((event, index) => buffer.appendEvent(event, index, event.timestampUs));
    const mark = buffer.mark();
    buffer.beginMessage(1, 2, "default");
    // 30 rows: past the chunk's end, then rolled back.
    events(30, 4).forEach((event, index) => buffer.appendEvent({ ...event, message: `rolledback ${index}` }, index, event.timestampUs));
    buffer.rollback(mark);
    buffer.beginMessage(1, 3, "default");
    const after = events(25, 5);
    after.forEach((event, index) => buffer.appendEvent(event, index, event.timestampUs));
    const taken = buffer.keys.take()!;
    expect(taken.chunks.reduce((sum, chunk) => sum + chunk.rows, 0)).toBe(buffer.rows);
    expect(Array.from(taken.seqs).filter((seq) => seq === 2)).toEqual([]);
    expect(taken.seqs.length).toBe(list.length + after.length);
    const runs = taken.chunks.map((chunk) => chunk.rows);
    const listed = await duckKeys(buffer, runs);
    taken.chunks.forEach((chunk, index) => {
      const ours = chunkSet(chunk);
      expect({ index, missing: [...keySet(listed[index])].filter((key) => !ours.has(key)).length }).toEqual({ index, missing: 0 });
    });
  });

  test("row groups of rows in seal order get every key of the chunks their rows fall in, and a check of their sums finds a row out of place", async () => {
    // Three flushes of odd sizes (chunks of 1024 and the remainders), the second's message
    // older than the first's (a redelivery): in seal order, (seq, idx), it comes first.
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
      keys.append(buffer.keys.take(), buffer.rows, buffer.rows);
    }
    const total = 1500 + 700 + 2100;
    expect(keys.rowCount).toBe(total);
    const rowGroups = [1000, 2048, total - 3048];
    const groups = keys.rowGroups(rowGroups)!;
    expect(groups.keys.map((group) => group.rows)).toEqual(rowGroups);
    // Each row group's keys, listed by DuckDB from its own rows in seal order.
    const listed = await duckKeys(all, rowGroups, SEAL_ORDER_SQL);
    groups.keys.forEach((group, index) => {
      const ours = chunkSet(group);
      expect({ index, missing: [...keySet(listed[index])].filter((key) => !ours.has(key)).length }).toEqual({ index, missing: 0 });
    });
    // The first 700 rows in seal order are seq 10's: its whole chunk and nothing else.
    expect(groups.sums[0]).toEqual({ rows: 1000, seqSum: 700 * 10 + 300 * 20, idxSum: (699 * 700) / 2 + (299 * 300) / 2 });
    expect(keys.rowGroups([1000, 2048])).toBeUndefined();

    const sums = groups.sums;
    expect(firstMismatchedRowGroup(sums, sums.map((sum) => ({ ...sum })))).toBeUndefined();
    // One row moved across a boundary: the rows no longer match, nor (had counts been equal) the sums.
    expect(firstMismatchedRowGroup(sums, [{ ...sums[0], rows: sums[0].rows - 1, idxSum: sums[0].idxSum - 999 }, { ...sums[1], rows: sums[1].rows + 1, idxSum: sums[1].idxSum + 999 }, sums[2]])).toBe(0);
    expect(firstMismatchedRowGroup(sums, [sums[0], { ...sums[1], seqSum: sums[1].seqSum + 10 }, sums[2]])).toBe(1);
    expect(firstMismatchedRowGroup(sums, sums.slice(0, 2))).toBe(2);
  });

  test("a flush that stored fewer rows than its buffer held, or lost its keys, leaves the memtable without keys", () => {
    const buffer = writeRows([events(10)]);
    const keys = new MemtableSkipKeys();
    keys.append(buffer.keys.take(), 10, 9);
    expect(keys.valid).toBe(false);
    const other = new MemtableSkipKeys();
    other.append(undefined, 10, 10);
    expect(other.valid).toBe(false);
  });
});
