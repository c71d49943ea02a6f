// Goal: the rows a RowBuffer holds reach DuckDB exactly as written, through the
// Parquet file it makes (parquet-writer.ts), and a row DuckDB could not hold is
// refused at append without disturbing its neighbours.
// Method: rows written through both append paths (FlatBuffers byte ranges and decoded
// events) with awkward values in every column, the file read back by a real DuckDB and
// compared column by column; refusals checked against the rows around them; the UTF-8
// check compared with TextDecoder's fatal mode over seeded random byte strings.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { DuckDBConnection } from "@duckdb/node-api";
import { LEVELS, type NormalizedEvent } from "../src/protocol/event.ts";
import { encodeBatch, visitBatch, type EventRanges } from "../src/protocol/wal-batch.ts";
import { Duck, queryRows } from "../src/storage/duckdb.ts";
import { dataPaths, sqlPathLiteral } from "../src/storage/paths.ts";
import { joinedParquetFileParts, pageCuts, ParquetType, singlePageValueRanges, type PlainFile } from "../src/storage/parquet-writer.ts";
import { isUtf8, MEMTABLE_PARQUET_COLUMNS, RowBuffer } from "../src/storage/row-buffer.ts";
import { COLUMN_NAMES } from "../src/storage/schema.ts";
import { MinuteCounts, minuteCountsSql, MINUTE_US } from "../src/storage/minute-counts.ts";
import { addMinuteCountsResult } from "./helpers/minute-counts.ts";
import { sumSeries } from "./helpers/minute-counts.ts";
import { seeded } from "./helpers/random.ts";
import { tempDir } from "./helpers/processes.ts";

const root = tempDir("row-buffer");
let duck: Duck;
let connection: DuckDBConnection;

beforeAll(async () => {
  duck = await Duck.open({ dataDir: root.path, memoryLimit: "512MB", threads: 1 });
  connection = await duck.connect();
});

afterAll(() => {
  connection.closeSync();
  duck.close();
  root.remove();
});

/** The buffer's rows as DuckDB reads them from its Parquet part, in order (`pageBytesMax` cuts its columns into pages). */
async function readBack(buffer: RowBuffer, pageBytesMax?: number): Promise<Record<string, unknown>[]> {
  const path = join(root.path, `part-${crypto.randomUUID()}.parquet`);
  writeFileSync(path, Buffer.concat(buffer.parquetParts(pageBytesMax)));
  const rows = await queryRows(connection, `SELECT ${COLUMN_NAMES} FROM read_parquet(${sqlPathLiteral(dataPaths(root.path), path)})`);
  return rows.map((row) => Object.fromEntries(Object.entries(row).map(([key, value]) => [key, typeof value === "bigint" ? Number(value) : value])));
}

function event(overrides: Partial<NormalizedEvent>): NormalizedEvent {
  return { timestampUs: 1_700_000_000_000_000, level: "INFO", service: "api", hostname: "host-1", traceId: "", spanId: "", message: "hello", metadata: "{}", ...overrides };
}

/** What DuckDB must read back for `event` written as row `idx` of message `seq` stored at `ingestUs` for `tenant`. */
function expectedRow(event: NormalizedEvent, idx: number, seq: number, ingestUs: number, tenant: string): Record<string, unknown> {
  return {
    ts: event.timestampUs,
    ingest_ts: ingestUs,
    seq,
    idx,
    tenant,
    level: LEVELS.indexOf(event.level),
    service: event.service,
    hostname: event.hostname,
    trace_id: event.traceId,
    span_id: event.spanId,
    message: event.message,
    metadata: event.metadata,
  };
}

const AWKWARD: NormalizedEvent[] = [
  event({ message: 'quotes " and \\ backslashes, tab\tnewline\ncarriage\r' }),
  event({ message: "NUL \u0000 and controls \u0001\u001f", level: "TRACE" }),
  event({ message: "Σίσυφος İstanbul K (Kelvin) 日本語 🚀 emoji", level: "FATAL", service: "sérvice-ü" }),
  event({ message: "", service: "", hostname: "", metadata: "", timestampUs: 0 }),
  event({ message: "x".repeat(70_000), traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: "00f067aa0ba902b7", metadata: '{"k":"v","n":[1,2,3]}' }),
  event({ timestampUs: -1_000_000, level: "ERROR" }),
  event({ timestampUs: Number.MAX_SAFE_INTEGER, level: "WARN" }),
  event({ timestampUs: 2 ** 32 - 1 }),
  event({ timestampUs: 2 ** 32 }),
];

describe("RowBuffer's Parquet part", () => {
  test("every column of every row reads back exactly, through both append paths and across messages", async () => {
    const buffer = new RowBuffer();
    const expected: Record<string, unknown>[] = [];
    // Message 1 through FlatBuffers byte ranges, message 2 decoded; sequences and stored times past 32 bits.
    const first = { ingestUs: 1_790_000_000_123_456, seq: 2 ** 40 + 7, tenant: "tenant-ä" };
    buffer.beginMessage(first.ingestUs, first.seq, first.tenant);
    const batch = encodeBatch(AWKWARD);
    expect(visitBatch(batch, (ranges) => expect(buffer.appendRanges(batch, ranges, ranges.timestampUs)).toBeUndefined()).ok).toBe(true);
    AWKWARD.forEach((row, index) => expected.push(expectedRow(row, index, first.seq, first.ingestUs, first.tenant)));
    const second = { ingestUs: 5, seq: 3, tenant: "" };
    buffer.beginMessage(second.ingestUs, second.seq, second.tenant);
    AWKWARD.forEach((row, index) => {
      expect(buffer.appendEvent(row, 1000 + index, row.timestampUs)).toBeUndefined();
      expected.push(expectedRow(row, 1000 + index, second.seq, second.ingestUs, second.tenant));
    });
    expect(buffer.rows).toBe(2 * AWKWARD.length);
    expect(await readBack(buffer)).toEqual(expected);
  });

  test("recentRows holds each row's time, id, level and stream through both append paths: times past 32 bits and negative, a leading U+FEFF kept", () => {
    const buffer = new RowBuffer();
    const rows = [...AWKWARD, event({ service: "\ufeffapi" }), event({ service: "api" })];
    buffer.beginMessage(1_790_000_000_123_456, 2 ** 40 + 7, "tenant-ä");
    const batch = encodeBatch(rows);
    expect(visitBatch(batch, (ranges) => expect(buffer.appendRanges(batch, ranges, ranges.timestampUs)).toBeUndefined()).ok).toBe(true);
    buffer.beginMessage(5, 3, "t");
    rows.forEach((row, index) => expect(buffer.appendEvent(row, 1000 + index, row.timestampUs)).toBeUndefined());
    const recent = buffer.recentRows();
    const expected = [
      ...rows.map((row, index) => ({ ts: row.timestampUs, ingestTs: 1_790_000_000_123_456, seq: 2 ** 40 + 7, idx: index, level: LEVELS.indexOf(row.level), tenant: "tenant-ä", service: row.service })),
      ...rows.map((row, index) => ({ ts: row.timestampUs, ingestTs: 5, seq: 3, idx: 1000 + index, level: LEVELS.indexOf(row.level), tenant: "t", service: row.service })),
    ];
    const held = Array.from({ length: recent.rows }, (_, row) => ({ ts: recent.ts[row], ingestTs: recent.ingestTs[row], seq: recent.seq[row], idx: recent.idx[row], level: recent.level[row], ...recent.streams[recent.stream[row]] }));
    expect(held).toEqual(expected);
  });

  test("columns cut into many pages read back as one page does: fixed-width ones, and strings with a value longer than a page", async () => {
    const buffer = new RowBuffer();
    buffer.beginMessage(7, 9, "t");
    for (let index = 0; index < 500; index++) buffer.appendEvent(event({ message: index === 250 ? "L".repeat(5_000) : `row ${index} ${"x".repeat(index % 40)}`, timestampUs: index * 1_000_003 }), index, index * 1_000_003);
    const whole = await readBack(buffer);
    expect(whole.length).toBe(500);
    // 1 KB pages: the 8-byte columns take 4 pages, the messages ~25 and the long one a page of its own.
    expect(pageCuts(ParquetType.INT64, new Uint8Array(4_000), 500, 1_024).map(([, count]) => count)).toEqual([128, 128, 128, 116]);
    expect(await readBack(buffer, 1_024)).toEqual(whole);
    expect(await readBack(buffer, 1)).toEqual(whole);
  });

  test("parts joined (joinedParquetFileParts) read back as their rows one after another, every column exact; a part cut into pages is not joined", async () => {
    const files: PlainFile[] = [];
    const expected: Record<string, unknown>[] = [];
    for (let part = 0; part < 5; part++) {
      const buffer = new RowBuffer();
      // Parts of different sizes (one empty of rows), tenants and awkward values.
      buffer.beginMessage(100 + part, 10 + part, `tenant-${part % 2}`);
      const rows = part === 3 ? [] : AWKWARD.slice(part);
      rows.forEach((row, index) => {
        expect(buffer.appendEvent(row, index, row.timestampUs)).toBeUndefined();
        expected.push(expectedRow(row, index, 10 + part, 100 + part, `tenant-${part % 2}`));
      });
      const parts = buffer.parquetParts();
      const ranges = singlePageValueRanges(parts, MEMTABLE_PARQUET_COLUMNS.length);
      expect(ranges).toBeDefined();
      files.push({ bytes: new Uint8Array(Buffer.concat(parts)), rows: buffer.rows, ranges: ranges! });
    }
    const path = join(root.path, `joined-${crypto.randomUUID()}.parquet`);
    writeFileSync(path, Buffer.concat(joinedParquetFileParts(MEMTABLE_PARQUET_COLUMNS, files)));
    const literal = sqlPathLiteral(dataPaths(root.path), path);
    const rows = await queryRows(connection, `SELECT ${COLUMN_NAMES} FROM read_parquet(${literal}, file_row_number = true) ORDER BY file_row_number`);
    expect(rows.map((row) => Object.fromEntries(Object.entries(row).map(([key, value]) => [key, typeof value === "bigint" ? Number(value) : value])))).toEqual(expected);
    // One row group, one page a column: what makes it cheaper to read than the parts.
    const meta = await queryRows(connection, `SELECT count(DISTINCT row_group_id) AS groups, max(num_values) AS values FROM parquet_metadata(${literal})`);
    expect(meta.map((row) => ({ groups: Number(row.groups), values: Number(row.values) }))).toEqual([{ groups: 1, values: expected.length }]);

    const paged = new RowBuffer();
    paged.beginMessage(1, 1, "t");
    for (let index = 0; index < 100; index++) paged.appendEvent(event({ message: `row ${index}` }), index, index);
    expect(singlePageValueRanges(paged.parquetParts(64), MEMTABLE_PARQUET_COLUMNS.length)).toBeUndefined();
    expect(() => joinedParquetFileParts(MEMTABLE_PARQUET_COLUMNS.slice(1), files)).toThrow("a file of 12 columns joined as 11");
  });

  test("pageCuts cuts between string values, never inside one", () => {
    const values = Buffer.concat(["aa", "bbbb", "", "c", "dddddd"].map((text) => Buffer.concat([Buffer.from(new Uint32Array([text.length]).buffer), Buffer.from(text)])));
    expect(pageCuts(ParquetType.BYTE_ARRAY, values, 5, 1_000)).toEqual([[values.length, 5]]);
    // Values take 6, 8, 4, 5 and 10 bytes with their lengths: at most 10 a page.
    expect(pageCuts(ParquetType.BYTE_ARRAY, values, 5, 10)).toEqual([
      [6, 1],
      [14, 1],
      [23, 2],
      [33, 1],
    ]);
    expect(pageCuts(ParquetType.BYTE_ARRAY, values, 5, 1).map(([, count]) => count)).toEqual([1, 1, 1, 1, 1]);
  });

  test("rows past the initial capacity, a reset, and a rollback read back as the rows kept", async () => {
    const buffer = new RowBuffer();
    buffer.beginMessage(1, 1, "t");
    for (let index = 0; index < 10_000; index++) buffer.appendEvent(event({ message: `discarded ${index}` }), index, index);
    buffer.reset();
    buffer.beginMessage(2, 2, "t");
    for (let index = 0; index < 9_000; index++) buffer.appendEvent(event({ message: `kept ${index}` }), index, index);
    const mark = buffer.mark();
    buffer.beginMessage(3, 3, "t");
    for (let index = 0; index < 500; index++) buffer.appendEvent(event({ message: `rolled back ${index}` }), index, index);
    buffer.rollback(mark);
    buffer.beginMessage(4, 4, "u");
    buffer.appendEvent(event({ message: "after the rollback" }), 0, 42);
    const rows = await readBack(buffer);
    expect(rows.length).toBe(9_001);
    expect(rows.slice(0, 9_000).every((row, index) => row.message === `kept ${index}` && row.ts === index && row.seq === 2)).toBe(true);
    expect(rows[9_000]).toMatchObject({ message: "after the rollback", seq: 4, tenant: "u", ts: 42, idx: 0 });
  });

  test("a string that is not UTF-8 or a time no BIGINT holds refuses that row only", async () => {
    const buffer = new RowBuffer();
    buffer.beginMessage(10, 1, "t");
    const text = new TextEncoder().encode("good-serviceBAD\xff\xfeMESSAGE");
    // Byte ranges as visitBatch would give them: service, hostname, trace_id, span_id, message, metadata.
    const ranges = (message: [number, number]): EventRanges => ({ index: 7, timestampUs: 1, levelOrdinal: 2, strings: Int32Array.of(0, 12, 0, 4, 0, 0, 0, 0, ...message, 0, 0) });
    expect(buffer.appendRanges(text, ranges([0, 4]), 100)).toBeUndefined();
    const invalid = new Uint8Array([...text.subarray(0, 12), 0x42, 0xc3, 0x28, 0x43]); // 0xC3 0x28: a lead byte without its continuation
    expect(buffer.appendRanges(invalid, ranges([12, 4]), 101)).toBe("event 7: message is not valid UTF-8");
    expect(buffer.appendEvent(event({ message: "bad time" }), 8, 1e30)).toContain("event 8");
    expect(buffer.appendEvent(event({ message: "fractional time" }), 9, 1.5)).toContain("event 9");
    expect(buffer.appendRanges(text, ranges([4, 4]), 102)).toBeUndefined();
    const rows = await readBack(buffer);
    expect(rows.map((row) => [row.service, row.hostname, row.message, row.ts])).toEqual([
      ["good-service", "good", "good", 100],
      ["good-service", "good", "-ser", 102],
    ]);
    // The refused rows left no keys behind either.
    expect(buffer.keys.rows).toBe(2);
  });

  test("its minute counts are what minuteCountsSql counts of its part: minute edges, times before 1970 and far off, tenants, shared and fresh service bytes", async () => {
    const buffer = new RowBuffer();
    const times = [0, -1, MINUTE_US - 1, MINUTE_US, -MINUTE_US, -MINUTE_US - 1, 1_790_000_000_000_000, 1_790_000_059_999_999, 2 ** 53 - 1, -(2 ** 53) + 1];
    const random = seeded(5);
    for (let message = 0; message < 6; message++) {
      buffer.beginMessage(1_000 + message, message + 1, message % 3 === 0 ? "default" : `tenant-${message % 3}`);
      const events = Array.from({ length: 300 }, (_, index) =>
        event({ timestampUs: times[Math.floor(random() * times.length)]!, level: LEVELS[Math.floor(random() * LEVELS.length)]!, service: index % 7 < 4 ? "api" : `svc-${Math.floor(random() * 40)}` }),
      );
      if (message % 2 === 0) {
        const batch = encodeBatch(events);
        visitBatch(batch, (ranges) => buffer.appendRanges(batch, ranges, ranges.timestampUs));
      } else events.forEach((row, index) => buffer.appendEvent(row, index, row.timestampUs));
    }
    const fromJs = new MinuteCounts();
    buffer.addMinuteCounts(fromJs);
    const path = join(root.path, `part-${crypto.randomUUID()}.parquet`);
    writeFileSync(path, Buffer.concat(buffer.parquetParts()));
    const fromDuck = new MinuteCounts();
    addMinuteCountsResult(fromDuck, await connection.run(minuteCountsSql(`read_parquet(${sqlPathLiteral(dataPaths(root.path), path)})`)));
    expect(fromJs.entries).toBe(fromDuck.entries);
    const all = (counts: MinuteCounts, tenant: string) => {
      const seen: string[] = [];
      sumSeries(counts, tenant, -(2 ** 40), 2 ** 40, 1, (service, level, bucket, count) => seen.push(`${service}/${level}/${bucket}/${count}`));
      return seen.sort();
    };
    for (const tenant of ["default", "tenant-1", "tenant-2"]) {
      const expected = all(fromDuck, tenant);
      expect(expected.length).toBeGreaterThan(10);
      expect(all(fromJs, tenant)).toEqual(expected);
    }
  });

  test("isUtf8 agrees with TextDecoder's fatal mode", () => {
    const fatal = new TextDecoder("utf-8", { fatal: true });
    const strict = (bytes: Uint8Array) => {
      try {
        fatal.decode(bytes);
        return true;
      } catch {
        return false;
      }
    };
    const cases = [[0xed, 0xa0, 0x80], [0xed, 0x9f, 0xbf], [0xe0, 0x80, 0x80], [0xe0, 0xa0, 0x80], [0xf0, 0x8f, 0xbf, 0xbf], [0xf0, 0x90, 0x80, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xf4, 0x8f, 0xbf, 0xbf], [0xc0, 0x80], [0xc2, 0x80], [0xe2, 0x82], [0xf5, 0x80, 0x80, 0x80], [0x80]];
    for (const bytes of cases) expect({ bytes, valid: isUtf8(Uint8Array.from(bytes), 0, bytes.length) }).toEqual({ bytes, valid: strict(Uint8Array.from(bytes)) });
    const random = seeded(11);
    const alphabet = [0x41, 0x7f, 0x80, 0xbf, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff, 0xa0, 0x9f, 0x8f, 0x90];
    for (let round = 0; round < 20_000; round++) {
      const bytes = Uint8Array.from({ length: 1 + Math.floor(random() * 6) }, () => alphabet[Math.floor(random() * alphabet.length)]);
      if (isUtf8(bytes, 0, bytes.length) !== strict(bytes)) throw new Error(`isUtf8 disagrees with TextDecoder on ${Array.from(bytes, (byte) => byte.toString(16))}`);
    }
    // Bounds are respected: a valid sequence cut by `end` is not.
    expect(isUtf8(Uint8Array.from([0x41, 0xe2, 0x82, 0xac]), 0, 3)).toBe(false);
    expect(isUtf8(Uint8Array.from([0xff, 0xe2, 0x82, 0xac]), 1, 4)).toBe(true);
  });
});
